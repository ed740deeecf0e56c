//! Sending a file by HTTP PUT through the host (needs the `upload`
//! capability for the URL's host: `upload = true` in the manifest and the
//! host in the device's `upload_hosts`). The host streams the file from a
//! granted directory, so it never has to fit in the plugin's memory.

use crate::bindings::jobhost::plugin::upload as wit;
use crate::HostError;

/// A completed upload.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Uploaded {
    /// Bytes sent.
    pub bytes: u64,
    /// sha256 of what was sent, lowercase hex.
    pub sha256: String,
    /// The server's (2xx) HTTP status.
    pub status: u16,
}

/// PUTs the file at `source` (a path inside a granted directory, as the
/// plugin sees it) to `url`, e.g. a presigned URL from the job document.
/// `content_type` defaults to `application/octet-stream`. A non-2xx
/// answer is `Err(Failed("HTTP …"))`.
pub fn put(url: &str, source: &str, content_type: Option<&str>) -> Result<Uploaded, HostError> {
    let response = wit::put(&wit::Request {
        url: url.to_owned(),
        source: source.to_owned(),
        content_type: content_type.map(str::to_owned),
    })?;
    Ok(Uploaded {
        bytes: response.bytes,
        sha256: response.sha256,
        status: response.status,
    })
}
