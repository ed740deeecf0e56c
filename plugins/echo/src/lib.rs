//! `echo`: reports its job document back as statusDetails.
//!
//! The smallest useful plugin, and the one the tests and the benchmark drive.
//! Every top-level field of the document except the control fields below is
//! reported under its own key (strings as they are, anything else as compact
//! JSON). Control fields:
//!
//! - `"checkpoint": "text"` saves `text` as this execution's checkpoint;
//! - `"progress": "text"` sends one progress update `{"progress": text}`;
//! - `"fail": {"reason": "…", "retryable": true|false}` ends the run with
//!   that failure (FAILED when retryable, REJECTED otherwise) after the
//!   checkpoint and progress were sent.
//!
//! A resumed attempt also reports `resumedFrom` with the checkpoint it was
//! handed.

use jobhost_sdk::{host, log, Failure, Job, Operation, Outcome};
use serde::Deserialize;
use serde_json::{Map, Value};

#[derive(Deserialize)]
struct FailRequest {
    reason: String,
    #[serde(default)]
    retryable: bool,
}

const CONTROL_FIELDS: [&str; 4] = ["operation", "checkpoint", "progress", "fail"];

struct Echo;

impl Operation for Echo {
    fn run(job: Job) -> Result<Outcome, Failure> {
        let doc: Map<String, Value> = job.document()?;
        log::info(&format!(
            "echoing {} field(s) of job {}",
            doc.len(),
            job.job_id
        ));

        if let Some(state) = doc.get("checkpoint") {
            host::checkpoint(&text_of(state))?;
        }
        if let Some(progress) = doc.get("progress") {
            host::progress(&[("progress", &text_of(progress))])?;
        }
        if let Some(fail) = doc.get("fail") {
            let fail: FailRequest = serde_json::from_value(fail.clone())
                .map_err(|e| Failure::permanent(format!("invalid `fail` field: {e}")))?;
            let failure = if fail.retryable {
                Failure::retryable(fail.reason)
            } else {
                Failure::permanent(fail.reason)
            };
            return Err(failure.detail("operation", &job.operation));
        }

        let mut outcome = Outcome::new()
            .detail("operation", &job.operation)
            .detail("executionNumber", job.execution_number);
        if let Some(from) = job.checkpoint_text() {
            outcome = outcome.detail("resumedFrom", from);
        }
        for (key, value) in doc
            .iter()
            .filter(|(k, _)| !CONTROL_FIELDS.contains(&k.as_str()))
        {
            outcome = outcome.detail(key.as_str(), text_of(value));
        }
        Ok(outcome)
    }
}

fn text_of(value: &Value) -> String {
    match value {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

jobhost_sdk::export!(Echo);
