//! The device certificate authority: signs the CSRs devices send during a
//! certificate rotation (the `rotate-certificate` plugin).
//!
//! An operator writes `${jobhost:csr-url}` into a job document whose
//! operation is [`ROTATION_OPERATION`]; at every delivery
//! (`crate::placeholders::Delivery`) it becomes a presigned, expiring URL bound to the thing, the job and the execution,
//! `<base>/certificates/<thing>/<jobId>/<executionNumber>?expires=…&signature=…`
//! (HMAC-SHA256 over `POST|thing|job|executionNumber|expires`). A device
//! POSTs its CSR there (`crate::api`), and gets a certificate for the CSR's
//! public key with CN = the thing the URL names — never what the CSR asks
//! for — valid for [`DEFAULT_VALIDITY`] (`--cert-validity-days`), for
//! client authentication only, signed by the CA given to
//! `jobhost-fleet serve --ca-cert/--ca-key`. In mTLS mode that is normally
//! the CA the broker trusts for client certificates (`--tls-client-ca`).
//!
//! A CSR URL is a credential that mints a device identity, so it is kept
//! as narrow as the rotation needs:
//!
//! - it signs one certificate, only while its execution is IN_PROGRESS
//!   (`Store::claim_csr`): a URL copied from the wire or a log after the
//!   device used it, or after the job ended, mints nothing;
//! - it is resolved only in documents of the rotation operation, so a job
//!   of another operation (say `echo`, which reports its document back)
//!   cannot reflect a live URL into statusDetails, where anyone with read
//!   access to the API would find it. Elsewhere the placeholder is left as
//!   written (and logged), and the device's plugin sees it unresolved.

use crate::presign::{KeyError, Signer};
use jobhost_protocol::topics::{is_valid_job_id, is_valid_thing_name};
use rcgen::{
    CertificateSigningRequestParams, DistinguishedName, DnType, ExtendedKeyUsagePurpose, IsCa,
    Issuer, KeyPair, KeyUsagePurpose, SerialNumber,
};
use std::path::{Path, PathBuf};
use std::time::Duration;

/// What an operator writes into a job document for the CSR endpoint.
pub const PLACEHOLDER: &str = "${jobhost:csr-url}";

/// The job operation whose documents get CSR URLs: the first-party
/// `rotate-certificate` plugin's.
pub const ROTATION_OPERATION: &str = "rotate-certificate";

/// How long an issued certificate is valid by default: 90 days. Nothing
/// revokes a certificate at the broker, so validity is the bound on how
/// long a leaked one works; a device offline for longer than this cannot
/// reconnect with it (its next rotation must come before), which is why it
/// is not shorter. `jobhost-fleet serve --cert-validity-days` changes it.
pub const DEFAULT_VALIDITY: Duration = Duration::from_secs(90 * 86_400);

/// Largest CSR accepted (PEM): a P-256 or RSA-4096 CSR is 0.5–2 KiB.
pub const MAX_CSR_BYTES: usize = 16 << 10;

/// The file holding the URL-signing key, in the data directory.
pub const KEY_FILE: &str = ".csr-url-signing-key";

/// Why the authority could not be set up.
#[derive(Debug, thiserror::Error)]
pub enum CaError {
    /// A file could not be read.
    #[error("cannot read {path}: {source}")]
    Read {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// The CA certificate or key is not usable.
    #[error("{what}: {source}")]
    Invalid {
        /// Which and why.
        what: String,
        /// The parser's reason.
        source: rcgen::Error,
    },
    /// The URL-signing key.
    #[error("the CSR URL signing key: {0}")]
    Key(#[source] KeyError),
}

/// Why a CSR was not signed (a 400 to the device).
#[derive(Debug, thiserror::Error)]
pub enum CsrError {
    /// Not a PEM CSR, or its signature does not verify.
    #[error("not a valid certificate signing request (PEM PKCS#10 with a valid signature): {0}")]
    Malformed(String),
    /// Signing failed.
    #[error("cannot sign the certificate: {0}")]
    Signing(String),
}

/// A certificate signing request whose self-signature verified: what
/// [`CertificateAuthority::issue`] signs.
pub struct Csr(CertificateSigningRequestParams);

impl Csr {
    /// Parses a PEM PKCS#10 request and checks its signature.
    pub fn parse(pem: &str) -> Result<Self, CsrError> {
        CertificateSigningRequestParams::from_pem(pem)
            .map(Self)
            .map_err(|e| CsrError::Malformed(e.to_string()))
    }
}

/// The CA, its URL signer, and what its certificates look like.
pub struct CertificateAuthority {
    issuer: Issuer<'static, KeyPair>,
    base: String,
    validity: Duration,
    signer: Signer,
}

/// Hand-written so that no key reaches a log.
impl std::fmt::Debug for CertificateAuthority {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CertificateAuthority")
            .field("base", &self.base)
            .field("validity", &self.validity)
            .finish_non_exhaustive()
    }
}

impl CertificateAuthority {
    /// Loads the CA from `cert` and `key` (PEM); URLs point at
    /// `public_base_url` and expire after `ttl`; the URL-signing key lives
    /// in `data_dir` ([`KEY_FILE`]).
    pub fn load(
        cert: &Path,
        key: &Path,
        data_dir: &Path,
        public_base_url: &str,
        ttl: Duration,
    ) -> Result<Self, CaError> {
        let read = |path: &Path| {
            std::fs::read_to_string(path).map_err(|source| CaError::Read {
                path: path.to_owned(),
                source,
            })
        };
        let signing_key = KeyPair::from_pem(&read(key)?).map_err(|source| CaError::Invalid {
            what: format!("the CA key {}", key.display()),
            source,
        })?;
        let issuer = Issuer::from_ca_cert_pem(&read(cert)?, signing_key).map_err(|source| {
            CaError::Invalid {
                what: format!("the CA certificate {}", cert.display()),
                source,
            }
        })?;
        let signer = Signer::open(&data_dir.join(KEY_FILE), ttl).map_err(CaError::Key)?;
        Ok(Self {
            issuer,
            base: public_base_url.trim_end_matches('/').to_owned(),
            validity: DEFAULT_VALIDITY,
            signer,
        })
    }

    /// Issues certificates valid for `validity` instead.
    pub fn with_validity(mut self, validity: Duration) -> Self {
        self.validity = validity;
        self
    }

    /// How long the certificates it issues are valid.
    pub fn validity(&self) -> Duration {
        self.validity
    }

    /// The unsigned URL for execution `execution` of (thing, job).
    pub fn url_of(&self, thing: &str, job_id: &str, execution: u64) -> String {
        format!("{}/certificates/{thing}/{job_id}/{execution}", self.base)
    }

    /// A URL that lets `thing` have one CSR signed during execution
    /// `execution` of `job_id`, until `now` + the TTL; None for an invalid
    /// thing or job.
    pub fn presign(&self, thing: &str, job_id: &str, execution: u64, now: i64) -> Option<String> {
        if !is_valid_thing_name(thing) || !is_valid_job_id(job_id) {
            return None;
        }
        let url = self.url_of(thing, job_id, execution);
        let execution = execution.to_string();
        self.signer
            .sign_url(&url, &parts(thing, job_id, &execution), now)
    }

    /// Whether `signature` is ours for execution `execution` of (thing,
    /// job) until `expires` and `now` is not past it. Constant-time
    /// comparison. Whether the URL was used already is the store's to say
    /// (`Store::claim_csr`).
    pub fn verify(
        &self,
        thing: &str,
        job_id: &str,
        execution: u64,
        expires: i64,
        signature: &str,
        now: i64,
    ) -> bool {
        let execution = execution.to_string();
        is_valid_thing_name(thing)
            && is_valid_job_id(job_id)
            && self
                .signer
                .verify(&parts(thing, job_id, &execution), expires, signature, now)
    }

    /// Issues a client certificate for `csr`'s public key, with subject
    /// CN = `thing` whatever the CSR asked for, valid from a few minutes
    /// before `now` (clock skew) for the configured validity. Returns the
    /// certificate PEM.
    pub fn issue(&self, thing: &str, csr: Csr, now: i64) -> Result<String, CsrError> {
        let request = csr.0;
        let mut params = request.params;
        params.distinguished_name = DistinguishedName::new();
        params.distinguished_name.push(DnType::CommonName, thing);
        // Nothing the device asked for beyond its key is honoured.
        params.subject_alt_names = Vec::new();
        params.custom_extensions = Vec::new();
        params.is_ca = IsCa::ExplicitNoCa;
        params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
        params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ClientAuth];
        params.use_authority_key_identifier_extension = true;
        let mut serial = [0u8; 16];
        getrandom::getrandom(&mut serial).map_err(|e| CsrError::Signing(e.to_string()))?;
        serial[0] &= 0x7f; // positive
        params.serial_number = Some(SerialNumber::from_slice(&serial));
        let at = |secs: i64| {
            time::OffsetDateTime::from_unix_timestamp(secs)
                .map_err(|e| CsrError::Signing(format!("validity: {e}")))
        };
        let validity = i64::try_from(self.validity.as_secs()).unwrap_or(i64::MAX);
        params.not_before = at(now.saturating_sub(300))?;
        params.not_after = at(now.saturating_add(validity))?;
        let request = CertificateSigningRequestParams {
            params,
            public_key: request.public_key,
        };
        request
            .signed_by(&self.issuer)
            .map(|c| c.pem())
            .map_err(|e| CsrError::Signing(e.to_string()))
    }
}

/// What a CSR URL's signature allows: a `POST` for one execution of
/// (thing, job). The method in front keeps it from ever matching an upload
/// signature (`PUT|thing|job|name`, where a name can be all digits too: the
/// method differs); the signed message is `POST|thing|job|execution|expires`
/// (`crate::presign`). The execution is part of it so that a URL is good
/// for one execution only, whose single use the store records
/// (`Store::claim_csr`).
fn parts<'a>(thing: &'a str, job_id: &'a str, execution: &'a str) -> [&'a str; 4] {
    ["POST", thing, job_id, execution]
}

#[cfg(test)]
mod tests;
