//! What fleet indexing's aggregations ask of the registry
//! (<https://docs.aws.amazon.com/iot/latest/developerguide/index-aggregate.html>):
//! how many of the things a query matches are connected and how many are
//! not, counted in the store in one pass, so that a caller that wants
//! fleet-wide numbers (the console's overview) need not page through
//! every thing and ask about each.

use super::registry::{thing_from_row, THING_COLUMNS};
use super::{Store, StoreError};
use crate::query::Query;

/// The things a query matches, by `connectivity.connected`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ConnectivityCounts {
    /// Matching things the broker sees connected.
    pub connected: u64,
    /// Matching things it does not.
    pub disconnected: u64,
}

impl ConnectivityCounts {
    /// All the matching things.
    pub fn total(&self) -> u64 {
        self.connected + self.disconnected
    }
}

impl Store {
    /// Counts the things `query` matches, connected and not. Every thing is
    /// looked at once, row by row (nothing is collected): the query
    /// language can test attributes, which SQL does not see.
    pub fn count_connectivity(&self, query: &Query) -> Result<ConnectivityCounts, StoreError> {
        let mut stmt = self
            .conn
            .prepare_cached(&format!("SELECT {THING_COLUMNS} FROM things t"))?;
        let mut rows = stmt.query([])?;
        let mut counts = ConnectivityCounts::default();
        while let Some(row) = rows.next()? {
            let thing = thing_from_row(row)?;
            if !query.matches(&thing.facts()) {
                continue;
            }
            if thing.connectivity.connected {
                counts.connected += 1;
            } else {
                counts.disconnected += 1;
            }
        }
        Ok(counts)
    }
}
