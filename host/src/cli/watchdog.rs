//! `jobhost run`'s watchdog, the last line behind the executor (which ends
//! a run at its deadline whatever the plugin is doing): a run that has still
//! not returned [`WATCHDOG_GRACE`] past its deadline is reported FAILED, as
//! the agent would, and the harness exits, ending the stuck thread with the
//! process.

use super::EXIT_JOB_FAILED;
use crate::executor::{abandoned_reason, Report, WATCHDOG_GRACE};
use jobhost_protocol::{StatusDetails, TerminalStatus};
use std::io::Write;
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// An armed watchdog; [`Watchdog::disarm`] it when the run returns.
pub(super) struct Watchdog {
    /// Set when the run returned: the watchdog then stands down. The
    /// watchdog holds the lock while it reports and exits, so a run that
    /// returns at that moment waits for the exit instead of reporting too.
    returned: Arc<Mutex<bool>>,
}

impl Watchdog {
    /// Fires `deadline` + [`WATCHDOG_GRACE`] from now.
    pub(super) fn arm(deadline: Duration) -> Watchdog {
        let returned = Arc::new(Mutex::new(false));
        let seen = Arc::clone(&returned);
        std::thread::spawn(move || {
            std::thread::sleep(deadline + WATCHDOG_GRACE);
            let Ok(returned) = seen.lock() else {
                return;
            };
            if *returned {
                return;
            }
            let reason = abandoned_reason(deadline);
            let report = Report::failure(TerminalStatus::Failed, &reason, StatusDetails::new());
            if let Ok(json) = serde_json::to_string(&report) {
                let mut stdout = std::io::stdout().lock();
                let _ = writeln!(stdout, "{json}");
                let _ = stdout.flush();
            }
            tracing::error!(target: "run", "{reason}");
            std::process::exit(i32::from(EXIT_JOB_FAILED));
        });
        Watchdog { returned }
    }

    /// The run returned in time.
    pub(super) fn disarm(self) {
        if let Ok(mut returned) = self.returned.lock() {
            *returned = true;
        }
    }
}
