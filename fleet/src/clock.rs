//! The service's notion of now. A leaf of its own so that the device API,
//! the HTTP API and the composition root share one clock type without
//! importing each other; the store never reads a clock (it takes `now`).

use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

/// Seconds since the Unix epoch. Injectable so that tests can move time
/// (expire a presigned URL) without sleeping.
pub type Clock = Arc<dyn Fn() -> i64 + Send + Sync>;

/// The wall clock.
pub fn system_clock() -> Clock {
    Arc::new(|| {
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
    })
}
