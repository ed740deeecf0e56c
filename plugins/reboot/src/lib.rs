//! `reboot`: reboots the device, and succeeds only once it is back.
//!
//! First run: asks the agent for a reboot and saves the checkpoint
//! `rebooting` (the request only takes effect when `run` returns `Ok`). The agent keeps the execution IN_PROGRESS, records the boot id,
//! reboots, and after the restart runs this plugin again with the
//! checkpoint — but only if the boot id changed (otherwise it reports
//! FAILED itself). Second run: reports SUCCEEDED.
//!
//! Document: `{"operation": "reboot", "reason": "kernel update", "delay": 5}`
//! (`reason` optional; it appears in the agent's log and statusDetails).
//! `delay` is aws-iot-device-sdk-js jobs-agent.js's: minutes to wait
//! before rebooting (its `shutdown -r +<delay>`), a number or a string of
//! digits, at most a day; its documents run unchanged, and the statusDetails
//! on success carry its `operation` and `step: rebooted` too.

use jobhost_sdk::{device, host, log, Failure, Job, Operation, Outcome};
use serde::Deserialize;
use serde_json::Value;
use std::time::{Duration, Instant};

/// The checkpoint that marks "the reboot was requested".
const REBOOTING: &str = "rebooting";

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Document {
    #[allow(dead_code)]
    operation: String,
    reason: Option<String>,
    delay: Option<Value>,
}

/// The longest `delay` accepted, in minutes: a day.
const MAX_DELAY_MINUTES: u64 = 24 * 60;

/// `delay` as jobs-agent.js takes it (`delay.toString()` in a shell
/// command): minutes, as a number or a string of digits.
fn delay(value: Option<&Value>) -> Result<Duration, Failure> {
    let minutes = match value {
        None => Some(0),
        Some(Value::Number(n)) => n.as_u64(),
        Some(Value::String(s)) if !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()) => {
            s.parse().ok()
        }
        Some(_) => None,
    };
    let Some(minutes) = minutes.filter(|m| *m <= MAX_DELAY_MINUTES) else {
        return Err(Failure::permanent(format!(
            "`delay` must be a whole number of minutes from 0 to {MAX_DELAY_MINUTES}"
        )));
    };
    Ok(Duration::from_secs(minutes * 60))
}

/// Waits `delay`, stopping early (with a failure) when the job is cancelled.
fn wait(delay: Duration) -> Result<(), Failure> {
    let start = Instant::now();
    while start.elapsed() < delay {
        if host::cancelled() {
            return Err(Failure::retryable("cancelled while waiting to reboot"));
        }
        std::thread::sleep((delay - start.elapsed()).min(Duration::from_secs(1)));
    }
    Ok(())
}

struct Reboot;

impl Operation for Reboot {
    fn run(job: Job) -> Result<Outcome, Failure> {
        let doc: Document = job.document()?;
        if job.checkpoint_text() == Some(REBOOTING) {
            log::info("the device is back after the reboot");
            return Ok(Outcome::new()
                .detail("result", "rebooted")
                .detail("operation", "reboot")
                .detail("step", "rebooted"));
        }
        let delay = delay(doc.delay.as_ref())?;
        let reason = doc.reason.unwrap_or_else(|| format!("job {}", job.job_id));
        if !delay.is_zero() {
            let minutes = (delay.as_secs() / 60).to_string();
            host::progress(&[("step", "waiting"), ("delayMinutes", &minutes)])
                .map_err(|e| Failure::retryable(host::describe(&e)))?;
            log::info(&format!("rebooting in {} minutes", delay.as_secs() / 60));
            wait(delay)?;
        }
        // Ask first: the request only takes effect if this run returns Ok,
        // so a refused request leaves no "rebooting" checkpoint behind.
        device::request_reboot(&reason)
            .map_err(|e| Failure::permanent(format!("reboot refused: {}", host::describe(&e))))?;
        host::checkpoint(REBOOTING).map_err(|e| {
            Failure::retryable(format!(
                "cannot save the checkpoint: {}",
                host::describe(&e)
            ))
        })?;
        log::info(&format!("reboot requested: {reason}"));
        Ok(Outcome::new().detail("result", "reboot requested"))
    }
}

jobhost_sdk::export!(Reboot);

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn delay_is_minutes_as_jobs_agent_js_writes_them() {
        let minutes = |v: Value| delay(Some(&v)).map(|d| d.as_secs() / 60).ok();
        assert_eq!(delay(None).ok(), Some(Duration::ZERO));
        assert_eq!(minutes(json!(0)), Some(0));
        assert_eq!(minutes(json!(5)), Some(5));
        assert_eq!(minutes(json!("15")), Some(15));
        assert_eq!(minutes(json!(1440)), Some(1440));
        for bad in [
            json!(1441),
            json!(-1),
            json!(1.5),
            json!("+5"),
            json!(""),
            json!("now"),
            json!(null),
        ] {
            assert_eq!(minutes(bad.clone()), None, "{bad}");
        }
    }
}
