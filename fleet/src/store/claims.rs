//! Single use of presigned URLs. A URL's signature says what it allows
//! until it expires; these records make sure it is allowed once:
//!
//! - a CSR URL (`crate::certificates`) signs one certificate for one
//!   execution, and only while that execution is IN_PROGRESS, so a URL
//!   seen on the wire, in a log or reflected into statusDetails mints
//!   nothing once the device has used it or the job has ended;
//! - an upload URL (`crate::uploads`) stores one file.
//!
//! The records live in the database, so a restart does not make a used URL
//! usable again.

use super::rows::{find_execution, sql_u64};
use super::{Store, StoreError};
use jobhost_protocol::JobExecutionStatus;
use rusqlite::{params, OptionalExtension};

impl Store {
    /// Records that the CSR URL of execution `execution_number` of `job_id`
    /// on `thing` has been used, if it may be: the execution exists, is
    /// IN_PROGRESS, and its URL was not used before. Refusals are
    /// [`StoreError::NotFound`] and [`StoreError::Conflict`], saying why.
    pub fn claim_csr(
        &mut self,
        thing: &str,
        job_id: &str,
        execution_number: u64,
        now: i64,
    ) -> Result<(), StoreError> {
        let tx = self.write_tx()?;
        let row = find_execution(&tx, job_id, thing, Some(execution_number))?.ok_or_else(|| {
            StoreError::NotFound(format!(
                "execution {execution_number} of job {job_id} on {thing}"
            ))
        })?;
        if row.status != JobExecutionStatus::InProgress {
            return Err(StoreError::Conflict(format!(
                "the execution of job {job_id} on {thing} is {}; a certificate request is \
                 accepted only while it is IN_PROGRESS",
                row.status
            )));
        }
        let inserted = tx.execute(
            "INSERT INTO csr_claims (job_id, thing_name, execution_number, claimed_at) \
             VALUES (?1, ?2, ?3, ?4) ON CONFLICT DO NOTHING",
            params![job_id, thing, sql_u64(execution_number), now],
        )?;
        commit_first(tx, inserted, || {
            format!(
                "this URL has already been used: execution {execution_number} of job {job_id} \
                 on {thing} had a certificate signed; a CSR URL signs one certificate"
            )
        })
    }

    /// Whether the upload URL for (thing, job, name) expiring at `expires`
    /// has already stored a file.
    pub fn upload_claimed(
        &self,
        thing: &str,
        job_id: &str,
        name: &str,
        expires: i64,
    ) -> Result<bool, StoreError> {
        Ok(self
            .conn
            .query_row(
                "SELECT 1 FROM upload_claims \
                 WHERE thing_name = ?1 AND job_id = ?2 AND name = ?3 AND expires = ?4",
                params![thing, job_id, name, expires],
                |_| Ok(()),
            )
            .optional()?
            .is_some())
    }

    /// Records that the upload URL for (thing, job, name) expiring at
    /// `expires` stored its file; [`StoreError::Conflict`] if it already
    /// had. Forgets URLs that expired before `now` (they are refused
    /// before this is asked).
    pub fn claim_upload(
        &mut self,
        thing: &str,
        job_id: &str,
        name: &str,
        expires: i64,
        now: i64,
    ) -> Result<(), StoreError> {
        let tx = self.write_tx()?;
        tx.execute("DELETE FROM upload_claims WHERE expires < ?1", [now])?;
        let inserted = tx.execute(
            "INSERT INTO upload_claims (thing_name, job_id, name, expires) \
             VALUES (?1, ?2, ?3, ?4) ON CONFLICT DO NOTHING",
            params![thing, job_id, name, expires],
        )?;
        commit_first(tx, inserted, || {
            format!(
                "this URL has already been used: {thing} uploaded {name} for job {job_id} \
                 with it; an upload URL accepts one PUT (the next delivery of the job \
                 document carries a fresh one)"
            )
        })
    }
}

/// Commits a claim whose `INSERT … ON CONFLICT DO NOTHING` added `inserted`
/// rows: one for the first use of a URL; none when it had been used, which
/// is a [`StoreError::Conflict`] saying `used()` (and nothing is written).
fn commit_first(
    tx: super::commit::WriteTx<'_>,
    inserted: usize,
    used: impl FnOnce() -> String,
) -> Result<(), StoreError> {
    if inserted == 0 {
        return Err(StoreError::Conflict(used()));
    }
    tx.commit()?;
    Ok(())
}
