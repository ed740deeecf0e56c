//! The job execution handed to [`crate::Operation::run`].

use crate::bindings::jobhost::plugin::types as wit;
use crate::Failure;
use serde::de::DeserializeOwned;

/// One attempt at one job execution.
#[derive(Debug, Clone)]
pub struct Job {
    /// The AWS IoT job id.
    pub job_id: String,
    /// Grows with each retry of the job on this device; unchanged when an
    /// interrupted attempt resumes.
    pub execution_number: u64,
    /// The document's `operation`, which routed the job to this plugin.
    pub operation: String,
    document: String,
    checkpoint: Option<String>,
}

impl Job {
    pub(crate) fn from_wit(job: wit::Job) -> Self {
        Self {
            job_id: job.job_id,
            execution_number: job.execution_number,
            operation: job.operation,
            document: job.document,
            checkpoint: job.checkpoint,
        }
    }

    /// Builds a job by hand, for unit tests of a plugin's logic outside wasm.
    pub fn new(job_id: &str, execution_number: u64, operation: &str, document: &str) -> Self {
        Self {
            job_id: job_id.to_owned(),
            execution_number,
            operation: operation.to_owned(),
            document: document.to_owned(),
            checkpoint: None,
        }
    }

    /// The same job as resumed from `checkpoint`, for unit tests.
    pub fn with_checkpoint(mut self, checkpoint: &str) -> Self {
        self.checkpoint = Some(checkpoint.to_owned());
        self
    }

    /// Parses the job document into `T`.
    ///
    /// A document that does not match `T` can never succeed, so the error is
    /// a permanent [`Failure`] (REJECTED) naming the field serde choked on;
    /// use `?` to return it.
    pub fn document<T: DeserializeOwned>(&self) -> Result<T, Failure> {
        serde_json::from_str(&self.document)
            .map_err(|e| Failure::permanent(format!("invalid job document: {e}")))
    }

    /// The job document as JSON text.
    pub fn document_text(&self) -> &str {
        &self.document
    }

    /// The checkpoint text an earlier, interrupted attempt saved, if any.
    pub fn checkpoint_text(&self) -> Option<&str> {
        self.checkpoint.as_deref()
    }

    /// The checkpoint parsed as JSON into `T` (see
    /// [`crate::host::checkpoint_json`]). `Ok(None)` on a first attempt.
    ///
    /// A checkpoint that no longer parses (the plugin's format changed
    /// between versions) is a permanent failure: guessing where to resume is
    /// worse than stopping.
    pub fn checkpoint<T: DeserializeOwned>(&self) -> Result<Option<T>, Failure> {
        self.checkpoint
            .as_deref()
            .map(serde_json::from_str)
            .transpose()
            .map_err(|e| Failure::permanent(format!("unreadable checkpoint: {e}")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde::Deserialize;

    #[derive(Deserialize, Debug)]
    struct Doc {
        #[allow(dead_code)]
        url: String,
    }

    #[test]
    fn bad_document_is_a_permanent_failure_naming_the_field() {
        let job = Job::new("j1", 1, "op", r#"{"operation":"op"}"#);
        let err = job.document::<Doc>().unwrap_err();
        assert!(!err.is_retryable());
        assert!(
            err.reason().contains("missing field `url`"),
            "{}",
            err.reason()
        );
    }

    #[test]
    fn checkpoint_round_trips_as_json() {
        let job = Job::new("j1", 1, "op", "{}");
        assert_eq!(job.checkpoint::<u32>().unwrap(), None);
        let job = job.with_checkpoint("7");
        assert_eq!(job.checkpoint::<u32>().unwrap(), Some(7));
        assert!(job.with_checkpoint("x").checkpoint::<u32>().is_err());
    }
}
