//! `download-file`: fetch one file into a granted directory.
//!
//! Document:
//! ```json
//! {"operation": "download-file",
//!  "url": "${aws:iot:s3-presigned-url:https://…/firmware.bin}",
//!  "destination": "/downloads/firmware.bin",
//!  "sha256": "<64 hex>"}
//! ```
//! `sha256` is required unless `"allowUnverified": true`: an unverified
//! download is how devices get bricked. The host enforces the grants
//! (download allow-list, writable directory); this plugin only decides.

use jobhost_sdk::{download, host, log, Failure, Job, Operation, Outcome};
use serde::Deserialize;

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Doc {
    url: String,
    destination: String,
    sha256: Option<String>,
    #[serde(default)]
    allow_unverified: bool,
    max_bytes: Option<u64>,
}

struct DownloadFile;

impl Operation for DownloadFile {
    fn run(job: Job) -> Result<Outcome, Failure> {
        let doc: Doc = job.document()?;
        if doc.sha256.is_none() && !doc.allow_unverified {
            return Err(Failure::permanent(
                "`sha256` is required (or set \"allowUnverified\": true)",
            ));
        }
        host::progress(&[("step", "downloading"), ("destination", &doc.destination)])?;
        log::info(&format!("downloading to {}", doc.destination));
        let done = download::fetch(
            &doc.url,
            &doc.destination,
            doc.sha256.as_deref(),
            doc.max_bytes,
        )?;
        log::info(&format!(
            "downloaded {} bytes, sha256 {}",
            done.bytes, done.sha256
        ));
        Ok(Outcome::new()
            .detail("destination", &doc.destination)
            .detail("bytes", done.bytes)
            .detail("sha256", &done.sha256))
    }
}

jobhost_sdk::export!(DownloadFile);
