//! `download-file`: fetch one file into a granted directory.
//!
//! Document:
//! ```json
//! {"operation": "download-file",
//!  "url": "${aws:iot:s3-presigned-url:https://…/firmware.bin}",
//!  "destination": "/downloads/firmware.bin",
//!  "sha256": "<64 hex>"}
//! ```
//! `sha256` is required unless `"allowUnverified": true` or a `codesign`
//! (the operator's signature of the file, `jobhost artifact sign`) is
//! beside `url`, whose sha256 then pins it: an unverified download is how
//! devices get bricked. The host enforces the grants (download allow-list,
//! writable directory) and verifies the codesign; this plugin only decides.

use jobhost_sdk::{download, host, log, Failure, Job, Operation, Outcome};
use serde::Deserialize;

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Doc {
    url: String,
    destination: String,
    sha256: Option<String>,
    codesign: Option<serde_json::Value>,
    #[serde(default)]
    allow_unverified: bool,
    max_bytes: Option<u64>,
}

struct DownloadFile;

impl Operation for DownloadFile {
    fn run(job: Job) -> Result<Outcome, Failure> {
        let doc: Doc = job.document()?;
        let sha256 = download::pinned_sha256(doc.sha256.as_deref(), doc.codesign.as_ref())?;
        if sha256.is_none() && !doc.allow_unverified {
            return Err(Failure::permanent(
                "`sha256` is required (or a `codesign`, or set \"allowUnverified\": true)",
            ));
        }
        host::progress(&[("step", "downloading"), ("destination", &doc.destination)])?;
        log::info(&format!("downloading to {}", doc.destination));
        let done = download::fetch(&doc.url, &doc.destination, sha256, doc.max_bytes)?;
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
