//! A job's settings that an operator may change after creating it
//! (UpdateJob: description, `presignedUrlConfig`, `timeoutConfig`, and
//! `jobExecutionsRetryConfig` down to 0), and the one the device API reads
//! at every delivery: how long the job's presigned URLs stay valid.

use super::control::{check_text, check_timeout, load_job};
use super::rollout::load_rules;
use super::rows::job_status;
use super::types::{Job, PresignedUrlConfig};
use super::{Store, StoreError};
use crate::rollout::RetryConfig;
use rusqlite::{params, Connection, OptionalExtension};
use std::time::Duration;

/// An UpdateJob: each field that is Some replaces the job's value, each
/// None keeps it (AWS's "updates supported fields of the specified job").
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct UpdateJob {
    /// The new description.
    pub description: Option<String>,
    /// The new `presignedUrlConfig`, replacing the old one whole.
    pub presigned_url_config: Option<PresignedUrlConfig>,
    /// The new `timeoutConfig.inProgressTimeoutInMinutes`; `Some(None)` (a
    /// `timeoutConfig` without it) removes the timeout. Executions already
    /// IN_PROGRESS keep the deadline fixed when they started; executions
    /// that start later get the new one.
    pub in_progress_timeout_minutes: Option<Option<u32>>,
    /// A `jobExecutionsRetryConfig` whose criteria all say 0 (read by
    /// [`RetryConfig::from_update_json`]): the failure types it names get
    /// no more retries ([`RetryConfig::stop`]). A retry already queued or
    /// running stays; no new one follows it.
    pub stop_retries: Option<RetryConfig>,
}

impl Store {
    /// UpdateJob. Changes no execution and no pending list, so devices are
    /// not notified; the new URL lifetime applies from the next delivery.
    pub fn update_job(
        &mut self,
        job_id: &str,
        req: &UpdateJob,
        now: i64,
    ) -> Result<Job, StoreError> {
        if let Some(d) = &req.description {
            check_text("description", d)?;
        }
        if let Some(c) = &req.presigned_url_config {
            c.check()?;
        }
        if let Some(Some(m)) = req.in_progress_timeout_minutes {
            check_timeout(m)?;
        }
        let raises_retries = req
            .stop_retries
            .iter()
            .flat_map(|r| &r.criteria_list)
            .any(|c| c.number_of_retries != 0);
        if raises_retries {
            return Err(StoreError::InvalidRequest(
                "jobExecutionsRetryConfig: after a job is created its number of retries can \
                 only be set to 0"
                    .into(),
            ));
        }
        let tx = self.write_tx()?;
        if job_status(&tx, job_id)?.is_none() {
            return Err(StoreError::NotFound(format!("job {job_id}")));
        }
        if let Some(d) = &req.description {
            tx.execute(
                "UPDATE jobs SET description = ?2 WHERE job_id = ?1",
                params![job_id, d],
            )?;
        }
        if let Some(c) = &req.presigned_url_config {
            tx.execute(
                "UPDATE jobs SET presigned_url_role_arn = ?2, presigned_url_expires_in_sec = ?3 \
                 WHERE job_id = ?1",
                params![job_id, c.role_arn, c.expires_in_sec],
            )?;
        }
        if let Some(m) = req.in_progress_timeout_minutes {
            tx.execute(
                "UPDATE jobs SET in_progress_timeout_minutes = ?2 WHERE job_id = ?1",
                params![job_id, m],
            )?;
        }
        if let Some(update) = &req.stop_retries {
            let current = load_rules(&tx, job_id)?.and_then(|r| r.configs.retry);
            let stopped = RetryConfig::stop(current.as_ref(), update);
            tx.execute(
                "UPDATE jobs SET retry_config = ?2 WHERE job_id = ?1",
                params![job_id, serde_json::to_string(&stopped)?],
            )?;
        }
        tx.execute(
            "UPDATE jobs SET last_updated_at = ?2 WHERE job_id = ?1",
            params![job_id, now],
        )?;
        let job = load_job(&tx, job_id)?;
        tx.commit()?;
        Ok(job)
    }

    /// How long URLs presigned for `job_id`'s document stay valid: its
    /// `presignedUrlConfig.expiresInSec`, or None for the server-wide
    /// default (also for a job deleted meanwhile: its delivery is moot).
    pub fn presigned_url_ttl(&self, job_id: &str) -> Result<Option<Duration>, StoreError> {
        url_ttl(&self.conn, job_id)
    }
}

/// [`Store::presigned_url_ttl`], within a transaction.
pub(crate) fn url_ttl(conn: &Connection, job_id: &str) -> Result<Option<Duration>, StoreError> {
    let secs: Option<Option<i64>> = conn
        .prepare_cached("SELECT presigned_url_expires_in_sec FROM jobs WHERE job_id = ?1")?
        .query_row([job_id], |r| r.get(0))
        .optional()?;
    Ok(secs
        .flatten()
        .and_then(|s| u64::try_from(s).ok())
        .map(Duration::from_secs))
}
