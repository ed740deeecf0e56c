//! Pagination as AWS's list calls have it: `maxResults` (1-250,
//! `LaserMaxResults` in botocore's `iot` model) and an opaque `nextToken`
//! that the reply carries while more items follow. Without `maxResults`
//! the whole rest of the list comes back in one page.
//!
//! A token is a position in the list's own order (`crate::store`'s
//! cursors), tagged with the list it belongs to and hex-encoded, so it
//! stays right when items are added between pages. A token that does not
//! decode, or that another list issued, is a 400.

use super::ApiError;
use crate::store::{ExecutionCursor, JobCursor, PageRequest, TemplateCursor};
use serde_json::{json, Value};
use std::ops::RangeInclusive;

/// `maxResults`' range in every list call here.
pub(super) const MAX_RESULTS: RangeInclusive<u32> = 1..=250;

/// The lists that issue tokens; each tags its tokens with its name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum List {
    Jobs,
    /// ListJobs with jobhost's `sortOrder=DESCENDING`: its tokens walk
    /// the other way, so they are not ListJobs' own.
    JobsNewestFirst,
    ExecutionsForJob,
    ExecutionsForThing,
    ManagedJobTemplates,
    JobTemplates,
}

impl List {
    fn tag(self) -> &'static str {
        match self {
            Self::Jobs => "ListJobs",
            Self::JobsNewestFirst => "ListJobs(DESCENDING)",
            Self::ExecutionsForJob => "ListJobExecutionsForJob",
            Self::ExecutionsForThing => "ListJobExecutionsForThing",
            Self::ManagedJobTemplates => "ListManagedJobTemplates",
            Self::JobTemplates => "ListJobTemplates",
        }
    }

    /// The page size for `maxResults`: None (the rest of the list) when
    /// absent, a 400 outside 1-250.
    pub fn limit(self, max_results: Option<u32>) -> Result<Option<usize>, ApiError> {
        match max_results {
            None => Ok(None),
            Some(n) if MAX_RESULTS.contains(&n) => Ok(usize::try_from(n).ok()),
            Some(n) => Err(ApiError::InvalidRequest(format!(
                "{}: maxResults {n} is outside {}-{}",
                self.tag(),
                MAX_RESULTS.start(),
                MAX_RESULTS.end()
            ))),
        }
    }

    /// A token for the position `parts`.
    fn encode(self, parts: &[i64]) -> String {
        let mut text = self.tag().to_owned();
        for p in parts {
            text.push(':');
            text.push_str(&p.to_string());
        }
        hex::encode(text)
    }

    /// The `N` numbers of a token this list issued.
    fn decode<const N: usize>(self, token: &str) -> Result<[i64; N], ApiError> {
        let bad = || {
            ApiError::InvalidRequest(format!(
                "{}: nextToken {token:?} is not a token this list issued \
                 (pass the previous page's nextToken as it was)",
                self.tag()
            ))
        };
        let text = hex::decode(token)
            .ok()
            .and_then(|b| String::from_utf8(b).ok())
            .ok_or_else(bad)?;
        let mut parts = text.split(':');
        if parts.next() != Some(self.tag()) {
            return Err(bad());
        }
        let numbers: Vec<i64> = parts
            .map(|p| p.parse::<i64>())
            .collect::<Result<_, _>>()
            .map_err(|_| bad())?;
        numbers.try_into().map_err(|_| bad())
    }

    /// The page a ListJobs request asks for.
    pub fn job_page(
        self,
        next_token: Option<&str>,
        max_results: Option<u32>,
    ) -> Result<PageRequest<JobCursor>, ApiError> {
        Ok(PageRequest {
            after: next_token.map(|t| self.job_cursor(t)).transpose()?,
            limit: self.limit(max_results)?,
        })
    }

    /// The page an execution list request asks for.
    pub fn execution_page(
        self,
        next_token: Option<&str>,
        max_results: Option<u32>,
    ) -> Result<PageRequest<ExecutionCursor>, ApiError> {
        Ok(PageRequest {
            after: next_token.map(|t| self.execution_cursor(t)).transpose()?,
            limit: self.limit(max_results)?,
        })
    }

    /// The token for a job position (ListJobs).
    pub fn job_token(self, c: JobCursor) -> String {
        self.encode(&[c.created_at, c.rowid])
    }

    /// The job position in a ListJobs token.
    pub fn job_cursor(self, token: &str) -> Result<JobCursor, ApiError> {
        let [created_at, rowid] = self.decode(token)?;
        Ok(JobCursor { created_at, rowid })
    }

    /// The token for an execution position.
    pub fn execution_token(self, c: ExecutionCursor) -> String {
        self.encode(&[c.0])
    }

    /// The execution position in a token.
    pub fn execution_cursor(self, token: &str) -> Result<ExecutionCursor, ApiError> {
        let [id] = self.decode(token)?;
        Ok(ExecutionCursor(id))
    }

    /// The page a ListJobTemplates request asks for.
    pub fn template_page(
        self,
        next_token: Option<&str>,
        max_results: Option<u32>,
    ) -> Result<PageRequest<TemplateCursor>, ApiError> {
        let after = next_token
            .map(|t| self.decode(t).map(|[id]| TemplateCursor(id)))
            .transpose()?;
        Ok(PageRequest {
            after,
            limit: self.limit(max_results)?,
        })
    }

    /// The token for a template position (ListJobTemplates).
    pub fn template_token(self, c: TemplateCursor) -> String {
        self.encode(&[c.0])
    }

    /// The token for "after the item at `index`" of a fixed list.
    pub fn index_token(self, index: usize) -> String {
        self.encode(&[i64::try_from(index).unwrap_or(i64::MAX)])
    }

    /// The index in an [`List::index_token`].
    pub fn index(self, token: &str) -> Result<usize, ApiError> {
        let [i] = self.decode(token)?;
        usize::try_from(i).map_err(|_| {
            ApiError::InvalidRequest(format!("{}: nextToken {token:?} is invalid", self.tag()))
        })
    }
}

/// A list reply: `{<key>: items}`, with `nextToken` when more follow.
pub(super) fn reply(key: &str, items: impl serde::Serialize, next_token: Option<String>) -> Value {
    let mut reply = json!({ key: items });
    if let Some(token) = next_token {
        reply["nextToken"] = token.into();
    }
    reply
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)] // test code: a panic is the failure report

    use super::*;

    #[test]
    fn tokens_round_trip_and_belong_to_their_list() {
        let c = JobCursor {
            created_at: 1_700_000_000,
            rowid: 7,
        };
        let token = List::Jobs.job_token(c);
        assert_eq!(List::Jobs.job_cursor(&token).unwrap(), c);
        assert!(List::ExecutionsForJob.execution_cursor(&token).is_err());
        let e = List::ExecutionsForThing.execution_token(ExecutionCursor(42));
        assert_eq!(
            List::ExecutionsForThing.execution_cursor(&e).unwrap(),
            ExecutionCursor(42)
        );
        assert!(List::ExecutionsForJob.execution_cursor(&e).is_err());
        for bad in [
            "",
            "zz",
            "nonsense",
            &hex::encode("ListJobs:1"),
            &hex::encode("ListJobs:a:b"),
        ] {
            assert!(List::Jobs.job_cursor(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn max_results_is_1_to_250() {
        assert_eq!(List::Jobs.limit(None).unwrap(), None);
        assert_eq!(List::Jobs.limit(Some(1)).unwrap(), Some(1));
        assert_eq!(List::Jobs.limit(Some(250)).unwrap(), Some(250));
        assert!(List::Jobs.limit(Some(0)).is_err());
        assert!(List::Jobs.limit(Some(251)).is_err());
    }
}
