//! The list calls (ListJobs, ListJobExecutionsForJob,
//! ListJobExecutionsForThing), with their filters and keyset pagination: a
//! page ends with the position of its last item, and the next page starts
//! strictly after it. A position is a key of the ordering itself (a job's
//! creation time and row id, an execution's id), never an offset, so jobs
//! or executions created between two pages neither shift the walk nor
//! appear twice: they sort after every existing one and show up on a later
//! page.

use super::rows::{job_status, job_status_col, query_execs, selection_col};
use super::types::{ExecutionRecord, JobStatus, JobSummary, TargetSelection};
use super::{Store, StoreError};
use jobhost_protocol::JobExecutionStatus;
use rusqlite::params;

/// Where ListJobs resumes: the (created_at, rowid) of the last job listed.
/// Jobs are listed oldest first; the row id orders jobs created in the same
/// second by creation (SQLite gives a new row a higher id than any row
/// present, and this store never runs VACUUM, which could renumber them).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct JobCursor {
    /// Its `createdAt`.
    pub created_at: i64,
    /// Its row id.
    pub rowid: i64,
}

/// Where an execution list resumes: the id of the last execution listed.
/// Execution ids grow with creation, so lists are in creation order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ExecutionCursor(pub i64);

/// One page of a list, and where the next one starts (None on the last).
#[derive(Debug, Clone, PartialEq)]
pub struct Page<T, C> {
    /// The items, in list order.
    pub items: Vec<T>,
    /// The position of the last item, when more may follow.
    pub next: Option<C>,
}

impl<T, C> Page<T, C> {
    /// The same page with each item turned into another.
    pub fn map<U>(self, f: impl FnMut(T) -> U) -> Page<U, C> {
        Page {
            items: self.items.into_iter().map(f).collect(),
            next: self.next,
        }
    }
}

/// How much of a list to return: up to `limit` items (all when None)
/// after `after` (from the start when None).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PageRequest<C> {
    /// Resume after this position.
    pub after: Option<C>,
    /// At most this many items.
    pub limit: Option<usize>,
}

impl<C> Default for PageRequest<C> {
    fn default() -> Self {
        Self {
            after: None,
            limit: None,
        }
    }
}

impl<C> PageRequest<C> {
    /// The SQL LIMIT: one more than asked for, to learn whether a next
    /// page exists without a second query.
    pub(crate) fn sql_limit(&self) -> i64 {
        self.limit
            .and_then(|n| i64::try_from(n).ok())
            .map_or(-1, |n| n.saturating_add(1))
    }

    /// Cuts the one extra row off and, if there was one, names the
    /// position of the last item kept.
    pub(crate) fn page<T>(&self, mut items: Vec<T>, position: impl Fn(&T) -> C) -> Page<T, C> {
        let next = match self.limit {
            Some(n) if items.len() > n => {
                items.truncate(n);
                items.last().map(position)
            }
            _ => None,
        };
        Page { items, next }
    }
}

/// ListJobs' filters (`status`, `targetSelection`, `thingGroupName`,
/// `thingGroupId`); all absent lists every job.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct JobFilter {
    /// Only jobs with this status.
    pub status: Option<JobStatus>,
    /// Only snapshot or only continuous jobs.
    pub target_selection: Option<TargetSelection>,
    /// Only jobs that target this group (by name).
    pub thing_group_name: Option<String>,
    /// Only jobs that target this group (by the id it had when targeted).
    pub thing_group_id: Option<String>,
}

/// The order ListJobs walks the jobs in.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum JobOrder {
    /// By creation, oldest first: AWS's order.
    #[default]
    OldestFirst,
    /// Newest first: jobhost's `sortOrder=DESCENDING`, for "the latest
    /// jobs" without reading the whole list.
    NewestFirst,
}

/// ListJobExecutionsForThing's filters.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ThingExecutionFilter {
    /// Only executions with this status.
    pub status: Option<JobExecutionStatus>,
    /// Only executions of this job.
    pub job_id: Option<String>,
}

impl Store {
    /// ListJobs, oldest first, optionally only those with `status`.
    pub fn list_jobs(&self, status: Option<JobStatus>) -> Result<Vec<JobSummary>, StoreError> {
        let filter = JobFilter {
            status,
            ..JobFilter::default()
        };
        Ok(self.list_jobs_page(&filter, PageRequest::default())?.items)
    }

    /// One page of ListJobs, oldest first, with `filter`.
    pub fn list_jobs_page(
        &self,
        filter: &JobFilter,
        page: PageRequest<JobCursor>,
    ) -> Result<Page<JobSummary, JobCursor>, StoreError> {
        self.list_jobs_in(filter, page, JobOrder::OldestFirst)
    }

    /// One page of ListJobs in `order`, with `filter`. A cursor resumes
    /// the walk in the order it was issued in.
    pub fn list_jobs_in(
        &self,
        filter: &JobFilter,
        page: PageRequest<JobCursor>,
        order: JobOrder,
    ) -> Result<Page<JobSummary, JobCursor>, StoreError> {
        let (after_created, after_rowid) = page
            .after
            .map_or((None, None), |c| (Some(c.created_at), Some(c.rowid)));
        // The direction is part of the SQL text (a comparison operator and
        // an ORDER BY cannot be bound parameters): one cached statement
        // per order.
        let (resume, order_by) = match order {
            JobOrder::OldestFirst => (">", "j.created_at, j.rowid"),
            JobOrder::NewestFirst => ("<", "j.created_at DESC, j.rowid DESC"),
        };
        let mut stmt = self.conn.prepare_cached(&format!(
            "SELECT j.job_id, j.status, j.created_at, j.last_updated_at, j.completed_at, \
                 j.target_selection, j.rowid FROM jobs j \
             WHERE (?1 IS NULL OR j.status = ?1) AND (?2 IS NULL OR j.target_selection = ?2) \
             AND (?3 IS NULL OR EXISTS (SELECT 1 FROM job_targets t WHERE t.job_id = j.job_id \
                 AND t.kind = 'group' AND t.name = ?3)) \
             AND (?4 IS NULL OR EXISTS (SELECT 1 FROM job_targets t WHERE t.job_id = j.job_id \
                 AND t.kind = 'group' AND t.group_id = ?4)) \
             AND (?5 IS NULL OR (j.created_at, j.rowid) {resume} (?5, ?6)) \
             ORDER BY {order_by} LIMIT ?7"
        ))?;
        let rows = stmt.query_map(
            params![
                filter.status.map(JobStatus::as_str),
                filter.target_selection.map(TargetSelection::as_str),
                filter.thing_group_name,
                filter.thing_group_id,
                after_created,
                after_rowid,
                page.sql_limit()
            ],
            |r| {
                let summary = JobSummary {
                    job_id: r.get(0)?,
                    status: job_status_col(r, 1)?,
                    created_at: r.get(2)?,
                    last_updated_at: r.get(3)?,
                    completed_at: r.get(4)?,
                    target_selection: selection_col(r, 5)?,
                };
                let cursor = JobCursor {
                    created_at: summary.created_at,
                    rowid: r.get(6)?,
                };
                Ok((summary, cursor))
            },
        )?;
        let rows = rows.collect::<Result<Vec<_>, _>>()?;
        Ok(page.page(rows, |(_, cursor)| *cursor).map(|(s, _)| s))
    }

    /// ListJobExecutionsForJob, in target order. An unknown job is
    /// NotFound (unlike an unknown thing, which simply has no executions).
    pub fn list_executions_for_job(
        &self,
        job_id: &str,
    ) -> Result<Vec<ExecutionRecord>, StoreError> {
        Ok(self
            .list_executions_for_job_page(job_id, None, PageRequest::default())?
            .items)
    }

    /// One page of ListJobExecutionsForJob, optionally only executions
    /// with `status`.
    pub fn list_executions_for_job_page(
        &self,
        job_id: &str,
        status: Option<JobExecutionStatus>,
        page: PageRequest<ExecutionCursor>,
    ) -> Result<Page<ExecutionRecord, ExecutionCursor>, StoreError> {
        let tx = self.read_tx()?;
        if job_status(&tx, job_id)?.is_none() {
            return Err(StoreError::NotFound(format!("job {job_id}")));
        }
        let rows = query_execs(
            &tx,
            "WHERE e.job_id = ?1 AND (?2 IS NULL OR e.status = ?2) AND (?3 IS NULL OR e.id > ?3) \
             ORDER BY e.id LIMIT ?4",
            params![
                job_id,
                status.map(JobExecutionStatus::as_str),
                page.after.map(|c| c.0),
                page.sql_limit()
            ],
        )?;
        Ok(page
            .page(rows, |r| ExecutionCursor(r.id))
            .map(|r| r.record()))
    }

    /// ListJobExecutionsForThing, oldest first. Things are not registered
    /// anywhere, so an unknown thing has an empty list, not an error.
    pub fn list_executions_for_thing(
        &self,
        thing: &str,
    ) -> Result<Vec<ExecutionRecord>, StoreError> {
        let filter = ThingExecutionFilter::default();
        Ok(self
            .list_executions_for_thing_page(thing, &filter, PageRequest::default())?
            .items)
    }

    /// One page of ListJobExecutionsForThing, optionally only executions
    /// with `filter.status`, of `filter.job_id`.
    pub fn list_executions_for_thing_page(
        &self,
        thing: &str,
        filter: &ThingExecutionFilter,
        page: PageRequest<ExecutionCursor>,
    ) -> Result<Page<ExecutionRecord, ExecutionCursor>, StoreError> {
        let rows = query_execs(
            &self.conn,
            "WHERE e.thing_name = ?1 AND (?2 IS NULL OR e.status = ?2) \
             AND (?3 IS NULL OR e.job_id = ?3) AND (?4 IS NULL OR e.id > ?4) \
             ORDER BY e.id LIMIT ?5",
            params![
                thing,
                filter.status.map(JobExecutionStatus::as_str),
                filter.job_id,
                page.after.map(|c| c.0),
                page.sql_limit()
            ],
        )?;
        Ok(page
            .page(rows, |r| ExecutionCursor(r.id))
            .map(|r| r.record()))
    }
}
