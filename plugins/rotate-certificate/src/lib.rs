//! `rotate-certificate`: gives the device a new MQTT client certificate.
//!
//! 1. `create-csr`: the host makes a new ECDSA P-256 key pair and keeps the
//!    private key next to the agent's current one; the plugin gets the CSR.
//! 2. `submit-csr`: the host POSTs the CSR to `csrUrl` (the operator's CA,
//!    e.g. jobhost-fleet's `${jobhost:csr-url}`), checks that the returned
//!    certificate is for the new key, and stages it.
//! 3. `install`: once this run returns `Ok`, the agent swaps the files and
//!    reconnects with the new certificate; it reports SUCCEEDED only if the
//!    broker accepts it, otherwise it restores the previous pair and reports
//!    FAILED.
//!
//! Document: `{"operation": "rotate-certificate", "csrUrl": "https://…"}`.

use jobhost_sdk::{certificates, host, log, Failure, HostError, Job, Operation, Outcome};
use serde::Deserialize;

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct Document {
    #[allow(dead_code)]
    operation: String,
    csr_url: String,
}

/// Refusals (not granted, bad URL) will not change on a retry: REJECTED.
/// Everything else (the network, the endpoint) may: FAILED.
fn failure(step: &str, error: &HostError) -> Failure {
    let reason = format!("{step}: {}", host::describe(error));
    match error {
        HostError::NotPermitted(_) | HostError::InvalidArgument(_) => Failure::permanent(reason),
        _ => Failure::retryable(reason),
    }
}

fn step(name: &str) {
    // Progress is informative; a refused update must not stop the rotation.
    let _ = host::progress(&[("step", name)]);
}

struct RotateCertificate;

impl Operation for RotateCertificate {
    fn run(job: Job) -> Result<Outcome, Failure> {
        let doc: Document = job.document()?;
        if doc.csr_url.contains("${") {
            return Err(Failure::permanent(
                "csrUrl still holds a placeholder: this jobs service does not sign certificates \
                 (jobhost-fleet needs --ca-cert and --ca-key)",
            ));
        }
        step("create-csr");
        certificates::create_csr().map_err(|e| failure("create-csr", &e))?;
        step("submit-csr");
        let info = certificates::submit_csr(&doc.csr_url).map_err(|e| failure("submit-csr", &e))?;
        log::info(&format!(
            "new certificate {} serial {} valid until {}",
            info.subject, info.serial, info.not_after
        ));
        step("install");
        certificates::install().map_err(|e| failure("install", &e))?;
        Ok(Outcome::new()
            .detail("subject", &info.subject)
            .detail("serial", &info.serial)
            .detail("notAfter", &info.not_after)
            .detail("fingerprint", &info.sha256_fingerprint))
    }
}

jobhost_sdk::export!(RotateCertificate);
