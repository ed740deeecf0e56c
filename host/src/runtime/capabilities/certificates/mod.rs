//! `jobhost:plugin/certificates`: rotating the device's MQTT client
//! certificate without the private key ever entering the sandbox.
//!
//! The host makes the key pair and keeps it in a pending file next to the
//! agent's current key (`<key>.next`, mode 0600); the plugin only ever sees
//! the CSR and the certificate that comes back. The certificate is checked
//! against the pending key and staged as `<cert>.next`; `install` asks the
//! agent to swap the files once the run returns `ok` (`crate::agent`'s
//! `rotate` module does the swap, the reconnect and the rollback). The
//! file rules both sides follow are in `crate::certstore`.
//!
//! The CSR endpoint is reached under the plugin's `download` grant (host
//! allow-list, https unless allowed otherwise, no redirects, never a name
//! that resolves to the device itself), and its query, where a presigned
//! URL's signature lives, is never logged.

//!
//! The capability takes `certificates = "rw"` on both sides (the
//! manifest's request and the `[plugins.<name>]` grant), which also
//! offers `[device] certificate_dir` to the plugin as [`CERTIFICATES_GUEST`]
//! (`"ro"`: that directory only, no rotation).

use super::download::DownloadGrant;
use super::files::DirGrant;
use super::http::{client, redact, without_url};
use super::{
    Admission, BadGrant, Cap, CapView, Capability, CapabilityHost, GrantEnv, JobView, Reach,
    Sandbox, StopSignal,
};
use crate::certstore::{
    pair_matches, with_suffix, CertInfo, CERT_MODE, KEY_MODE, MAX_PEM_BYTES, NEXT,
};
use crate::durable::write_atomically;
use crate::requests::files::Access;
use crate::runtime::bindings::certificates::{self as wit, CertificateInfo, Host};
use crate::runtime::bindings::types::HostError;
use crate::runtime::ExecutionLimits;
use reqwest::header::CONTENT_TYPE;
use reqwest::Url;
use serde::Deserialize;
use std::fs;
use std::io;
use std::path::PathBuf;
use std::time::{Duration, Instant};
use wasmtime::component::Linker;
use zeroize::Zeroizing;

/// Where a plugin granted `certificates` finds the certificate store.
pub const CERTIFICATES_GUEST: &str = "/certificates";

/// The agent's own MQTT client certificate and key, and the thing name a
/// new certificate is requested for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CertificateTarget {
    /// The thing name (the CSR's common name).
    pub thing_name: String,
    /// `[broker.tls] cert`.
    pub cert: PathBuf,
    /// `[broker.tls] key`.
    pub key: PathBuf,
}

/// The `certificates` capability.
pub struct Certificates;

/// `[plugins.<name>]` keys of the `certificates` capability.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct CertificatesConfig {
    /// Grant access to `[device] certificate_dir` as `/certificates`:
    /// `"ro"` or `"rw"` (rotation). Default: none.
    pub certificates: Option<Access>,
}

impl Capability for Certificates {
    type Request = Option<Access>;
    type Config = CertificatesConfig;
    /// The device's `certificate_dir` as [`CERTIFICATES_GUEST`], read-only
    /// unless granted `"rw"`.
    type Grant = Option<DirGrant>;
    /// Whether the plugin may rotate the device certificate; the
    /// directory itself joins the sandbox's `dirs`.
    type Granted = bool;

    fn grant_from_config(
        config: &CertificatesConfig,
        env: &GrantEnv<'_>,
    ) -> Result<Option<DirGrant>, BadGrant> {
        match (config.certificates, env.certificate_dir) {
            (None, _) => Ok(None),
            (Some(_), None) => Err(BadGrant {
                key: "certificates",
                why: " needs [device] certificate_dir (where the device's certificates are)".into(),
            }),
            (Some(access), Some(dir)) => Ok(Some(DirGrant {
                host: dir.to_path_buf(),
                guest: CERTIFICATES_GUEST.into(),
                read_only: access == Access::Ro,
            })),
        }
    }

    fn reaches(grant: &Option<DirGrant>) -> Vec<Reach<'_>> {
        grant
            .iter()
            .map(|c| Reach {
                what: "certificates ([device] certificate_dir)".into(),
                host: &c.host,
            })
            .collect()
    }

    /// What the manifest's `certificates` request and the grant allow
    /// together: the certificate directory (read-only unless both say
    /// `rw`), and whether the plugin may rotate the device certificate
    /// (both `rw`). A request not granted, or granted read-only where it
    /// asks for `rw`, is refused.
    fn intersect(
        requested: &Option<Access>,
        granted: &Option<DirGrant>,
        admission: &mut Admission<'_>,
    ) -> bool {
        match (*requested, granted) {
            (None, _) => {}
            (Some(access), Some(grant)) => {
                if access == Access::Rw && grant.read_only {
                    admission.deny("certificates (read-write): granted read-only".into());
                }
                admission.preopen(DirGrant {
                    read_only: grant.read_only || access == Access::Ro,
                    ..grant.clone()
                });
            }
            (Some(access), None) => {
                let why = format!(
                    "certificates ({}): not granted (certificates in [plugins.{}])",
                    if access == Access::Rw {
                        "read-write"
                    } else {
                        "read-only"
                    },
                    admission.plugin(),
                );
                admission.deny(why);
            }
        }
        // Rotating the device certificate needs read-write on both sides.
        *requested == Some(Access::Rw) && granted.as_ref().is_some_and(|g| !g.read_only)
    }
}

impl CapabilityHost for Certificates {
    type Ctx = CertificatesCtx;

    /// The CSR endpoint is reached under the `download` grant.
    fn ctx(sandbox: &Sandbox, _: &ExecutionLimits) -> CertificatesCtx {
        CertificatesCtx {
            granted: sandbox.certificates,
            target: sandbox.certificate_target.clone(),
            download: sandbox.download.clone(),
            install: false,
        }
    }

    fn add_to_linker<T: JobView>(linker: &mut Linker<T>) -> wasmtime::Result<()> {
        wit::add_to_linker::<T, Cap<CertificatesCtx>>(linker, super::view!(certificates))
    }
}

/// A run's certificate rotation.
pub(crate) struct CertificatesCtx {
    /// Whether the plugin may rotate (`certificates = "rw"` requested and
    /// granted).
    pub granted: bool,
    /// The files rotation acts on; `None` without a client certificate.
    pub target: Option<CertificateTarget>,
    /// The CSR endpoint is reached under the plugin's `download` grant.
    pub download: Option<DownloadGrant>,
    /// Set by `certificates.install`: switch to the staged certificate
    /// once the run returns `ok`.
    pub install: bool,
}

/// Largest answer accepted from the CSR endpoint.
pub const MAX_CERTIFICATE_RESPONSE_BYTES: usize = MAX_PEM_BYTES;

/// How long the host waits on the server before checking cancellation and
/// the deadline again (the host call is where epoch interruption cannot
/// reach).
const POLL: Duration = Duration::from_millis(100);

/// A server that accepts the request and never answers is given up on
/// after this long (the run's own time limit bounds it too).
const STALL_TIMEOUT: Duration = Duration::from_secs(60);

impl From<CertInfo> for CertificateInfo {
    fn from(info: CertInfo) -> Self {
        Self {
            subject: info.subject,
            serial: info.serial,
            not_after: info.not_after,
            sha256_fingerprint: info.sha256_fingerprint,
        }
    }
}

impl CapView<'_, CertificatesCtx> {
    /// The files to act on, once the capability and the agent's mTLS
    /// configuration are both there.
    fn certificate_target(&self) -> Result<CertificateTarget, HostError> {
        if !self.ctx.granted {
            return Err(self.job.not_granted("certificates (read-write)"));
        }
        if self.job.should_stop() {
            return Err(HostError::Cancelled);
        }
        self.ctx.target.clone().ok_or_else(|| {
            HostError::Failed(
                "this agent does not connect with a client certificate \
                 ([broker.tls] cert and key): there is no certificate to rotate"
                    .into(),
            )
        })
    }

    fn log_info(&self, message: &str) {
        let tag = &self.job.tag;
        tracing::info!(target: "plugin", plugin = %tag.plugin, job_id = %tag.job_id, "{message}");
    }
}

/// A CSR for `key` with subject CN = `thing`.
fn csr_for(key: &rcgen::KeyPair, thing: &str) -> Result<String, HostError> {
    let failed = |e: rcgen::Error| HostError::Failed(format!("cannot make the CSR: {e}"));
    let mut params = rcgen::CertificateParams::new(Vec::<String>::new()).map_err(failed)?;
    params.distinguished_name = rcgen::DistinguishedName::new();
    params
        .distinguished_name
        .push(rcgen::DnType::CommonName, thing);
    params
        .serialize_request(key)
        .map_err(failed)?
        .pem()
        .map_err(failed)
}

impl Host for CapView<'_, CertificatesCtx> {
    async fn create_csr(&mut self) -> Result<String, HostError> {
        let target = self.certificate_target()?;
        let key = rcgen::KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256)
            .map_err(|e| HostError::Failed(format!("cannot make a key pair: {e}")))?;
        let csr = csr_for(&key, &target.thing_name)?;
        // A certificate staged for an earlier key is of no use any more.
        let staged = with_suffix(&target.cert, NEXT);
        match fs::remove_file(&staged) {
            Err(e) if e.kind() != io::ErrorKind::NotFound => {
                return Err(HostError::Failed(format!(
                    "cannot remove {}: {e}",
                    staged.display()
                )))
            }
            _ => {}
        }
        let pending = with_suffix(&target.key, NEXT);
        let secret = Zeroizing::new(key.serialize_pem());
        write_atomically(&pending, secret.as_bytes(), Some(KEY_MODE)).map_err(|e| {
            HostError::Failed(format!(
                "cannot write the new key {}: {e}",
                pending.display()
            ))
        })?;
        self.log_info(&format!(
            "new key pair made for {}; the private key stays in {}",
            target.thing_name,
            pending.display()
        ));
        Ok(csr)
    }

    async fn submit_csr(&mut self, url: String) -> Result<CertificateInfo, HostError> {
        let target = self.certificate_target()?;
        let Some(grant) = self.ctx.download.clone() else {
            return Err(self.job.not_granted("download"));
        };
        let url = Url::parse(&url)
            .map_err(|e| HostError::InvalidArgument(format!("invalid url: {e}")))?;
        if let Err(why) = grant.check(&url) {
            tracing::warn!(target: "plugin", plugin = %self.job.tag.plugin, job_id = %self.job.tag.job_id,
                "CSR submission to {} refused: {why}", redact(&url));
            return Err(HostError::NotPermitted(why));
        }
        let pending = with_suffix(&target.key, NEXT);
        // Never through a symlink, never a FIFO: only the file create-csr
        // wrote (see `crate::durable::read_regular_file`).
        let key_pem = match crate::durable::read_regular_file(
            &pending,
            MAX_CERTIFICATE_RESPONSE_BYTES as u64,
        )
        .map(Zeroizing::new)
        .and_then(|bytes| {
            String::from_utf8(bytes.to_vec())
                .map(Zeroizing::new)
                .map_err(|_| io::Error::new(io::ErrorKind::InvalidData, "not a PEM key"))
        }) {
            Ok(pem) => pem,
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                return Err(HostError::InvalidArgument(
                    "no pending key: call create-csr first".into(),
                ))
            }
            Err(e) => {
                return Err(HostError::Failed(format!(
                    "cannot read {}: {e}",
                    pending.display()
                )))
            }
        };
        let key = rcgen::KeyPair::from_pem(&key_pem)
            .map_err(|e| HostError::Failed(format!("the pending key does not parse: {e}")))?;
        let csr = csr_for(&key, &target.thing_name)?;
        self.log_info(&format!("sending the CSR to {}", redact(&url)));
        let body = post(&url, csr, &self.job.stop_signal()).await?;
        let parsed = pair_matches(&body, &key_pem).map_err(|why| {
            HostError::Failed(format!("the CSR endpoint's answer was refused: {why}"))
        })?;
        let staged = with_suffix(&target.cert, NEXT);
        write_atomically(&staged, &body, Some(CERT_MODE))
            .map_err(|e| HostError::Failed(format!("cannot stage {}: {e}", staged.display())))?;
        self.log_info(&format!(
            "new certificate staged: {} serial {} until {}",
            parsed.info.subject, parsed.info.serial, parsed.info.not_after
        ));
        Ok(parsed.info.into())
    }

    async fn install(&mut self) -> Result<(), HostError> {
        let target = self.certificate_target()?;
        for staged in [
            with_suffix(&target.cert, NEXT),
            with_suffix(&target.key, NEXT),
        ] {
            // The staged files as they are, not what a symlink points to.
            if !fs::symlink_metadata(&staged).is_ok_and(|m| m.is_file()) {
                return Err(HostError::InvalidArgument(format!(
                    "nothing staged ({} is missing): call create-csr and submit-csr first",
                    staged.display()
                )));
            }
        }
        self.log_info("certificate installation requested");
        self.ctx.install = true;
        Ok(())
    }
}

/// POSTs `csr` to `url` and returns the body of a 200 answer (at most
/// [`MAX_CERTIFICATE_RESPONSE_BYTES`]), checking `stop` while waiting.
async fn post(url: &Url, csr: String, stop: &StopSignal) -> Result<Vec<u8>, HostError> {
    let request = client()
        .post(url.clone())
        .header(CONTENT_TYPE, "application/pkcs10")
        .body(csr)
        .send();
    let started = Instant::now();
    tokio::pin!(request);
    let mut response = loop {
        if stop.is_set() {
            return Err(HostError::Cancelled);
        }
        match tokio::time::timeout(POLL, &mut request).await {
            Ok(Ok(response)) => break response,
            Ok(Err(e)) => {
                return Err(HostError::Failed(format!(
                    "the CSR request failed: {}",
                    without_url(&e)
                )))
            }
            Err(_) if started.elapsed() >= STALL_TIMEOUT => {
                return Err(HostError::Failed(format!(
                    "the CSR endpoint did not answer within {} s",
                    STALL_TIMEOUT.as_secs()
                )))
            }
            Err(_) => {}
        }
    };
    let status = response.status();
    let mut body = Vec::new();
    loop {
        if stop.is_set() {
            return Err(HostError::Cancelled);
        }
        let chunk = match tokio::time::timeout(POLL, response.chunk()).await {
            Err(_) if started.elapsed() >= STALL_TIMEOUT => {
                return Err(HostError::Failed(
                    "the CSR endpoint's answer stalled".into(),
                ))
            }
            Err(_) => continue,
            Ok(Err(e)) => {
                return Err(HostError::Failed(format!(
                    "reading the CSR endpoint's answer: {}",
                    without_url(&e)
                )))
            }
            Ok(Ok(None)) => break,
            Ok(Ok(Some(chunk))) => chunk,
        };
        if body.len() + chunk.len() > MAX_CERTIFICATE_RESPONSE_BYTES {
            return Err(HostError::LimitExceeded(format!(
                "the CSR endpoint's answer is over {MAX_CERTIFICATE_RESPONSE_BYTES} bytes"
            )));
        }
        body.extend_from_slice(&chunk);
    }
    if status != reqwest::StatusCode::OK {
        let text = String::from_utf8_lossy(&body);
        let message = crate::runtime::one_line(text.trim());
        let message: String = message.chars().take(200).collect();
        return Err(HostError::Failed(format!(
            "the CSR endpoint answered HTTP {}: {message}",
            status.as_u16()
        )));
    }
    Ok(body)
}

#[cfg(test)]
mod tests;
