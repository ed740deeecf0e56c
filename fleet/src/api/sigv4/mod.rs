//! AWS Signature Version 4 on the management API, so that AWS's own
//! clients (boto3, the AWS CLI, any AWS SDK) work against jobhost-fleet with
//! only an endpoint URL changed: they sign every request with an access key
//! id and its secret, and this module checks the signature as AWS IoT does
//! for its control plane (signing name `iot`).
//!
//! What a request must carry, and what it gets otherwise (the exception
//! names AWS's JSON services return, all 403):
//!
//! - `Authorization: AWS4-HMAC-SHA256 Credential=<key id>/<date>/<region>/iot/aws4_request,
//!   SignedHeaders=..., Signature=...`, well formed
//!   (`IncompleteSignatureException`), with the configured key id
//!   (`UnrecognizedClientException`).
//! - `X-Amz-Date`, signed, with the credential's date, within
//!   [`MAX_SKEW_SECS`] of the service's clock (`InvalidSignatureException`).
//! - `host` among the signed headers; no `X-Amz-Security-Token` (there are
//!   no session credentials here).
//! - A signature over the canonical request ([`canonical`]) whose payload
//!   hash is that of the body received: `X-Amz-Content-Sha256` when sent
//!   (then the body must hash to it), else the body's own hash
//!   (`InvalidSignatureException`; compared in constant time).
//!
//! Any region is accepted: the service has no regions, so a client keeps
//! the region it has configured. The region still enters the signing key,
//! so a signature is bound to the region it was made for.
//!
//! `request` reads the body for the check; `canonical` builds the strings
//! that are signed.

mod canonical;
mod request;

use canonical::RequestParts;
pub(super) use request::authenticate;

use hmac::{Hmac, Mac};
use sha2::Sha256;

/// The signing name of the AWS IoT control plane (`signingName` in
/// botocore's `iot` model).
pub const SERVICE: &str = "iot";

/// The only algorithm SigV4 defines.
const ALGORITHM: &str = "AWS4-HMAC-SHA256";

/// How far `X-Amz-Date` may be from the service's clock: 15 minutes, as AWS
/// allows, so a replayed request expires and a client's clock may drift.
pub const MAX_SKEW_SECS: i64 = 15 * 60;

/// The longest access key id AWS issues (IAM's `AccessKeyId`: 16-128).
const MAX_KEY_ID_LEN: usize = 128;

/// The access key id and secret access key that clients sign with
/// (`jobhost-fleet serve --aws-access-key-id`). `Debug` shows the id, never
/// the secret.
#[derive(Clone)]
pub struct AwsCredentials {
    access_key_id: String,
    secret_access_key: String,
}

/// Why an access key pair cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum CredentialsError {
    /// Not 1-128 letters, digits or `_`: a `/` would break the credential
    /// scope apart.
    #[error(
        "the AWS access key id must be 1-{MAX_KEY_ID_LEN} letters, digits or underscores \
         (like AKIAIOSFODNN7EXAMPLE)"
    )]
    BadKeyId,
    /// An empty secret would make every signature guessable.
    #[error("the AWS secret access key is empty")]
    EmptySecret,
}

impl AwsCredentials {
    /// Checks the id's form and that the secret is not empty.
    pub fn new(
        access_key_id: impl Into<String>,
        secret_access_key: impl Into<String>,
    ) -> Result<Self, CredentialsError> {
        let access_key_id = access_key_id.into();
        let secret_access_key = secret_access_key.into();
        let id_ok = (1..=MAX_KEY_ID_LEN).contains(&access_key_id.len())
            && access_key_id
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'_');
        if !id_ok {
            return Err(CredentialsError::BadKeyId);
        }
        if secret_access_key.is_empty() {
            return Err(CredentialsError::EmptySecret);
        }
        Ok(Self {
            access_key_id,
            secret_access_key,
        })
    }

    /// The access key id.
    pub fn access_key_id(&self) -> &str {
        &self.access_key_id
    }

    /// The secret, for the web console only: it checks an operator's login
    /// against it and derives its one-time login links' key from it.
    pub(in crate::api) fn secret_access_key(&self) -> &str {
        &self.secret_access_key
    }
}

impl std::fmt::Debug for AwsCredentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AwsCredentials")
            .field("access_key_id", &self.access_key_id)
            .field("secret_access_key", &"<redacted>")
            .finish()
    }
}

/// Why a SigV4 request was refused. The messages say what is wrong and
/// never hold the secret (nor anything derived from it).
#[derive(Debug, thiserror::Error)]
pub enum SignatureError {
    /// No credentials at all, on a service that takes SigV4 only.
    #[error(
        "Missing Authentication Token: sign the request with AWS SigV4 (an AWS SDK or the AWS CLI \
         with this service's access key)"
    )]
    Missing,
    /// The `Authorization` header is not a SigV4 one that can be read.
    #[error("the Authorization header is not a valid AWS4-HMAC-SHA256 authorization: {0}")]
    Malformed(String),
    /// No `X-Amz-Date`, or not in its format.
    #[error("the request needs an X-Amz-Date header like 20150830T123600Z (UTC){0}")]
    BadDate(String),
    /// A header that must be signed is not among the signed headers.
    #[error("SignedHeaders must include {0}")]
    UnsignedHeader(&'static str),
    /// The signed headers name one the request does not carry.
    #[error("SignedHeaders names {0}, which the request does not carry")]
    AbsentHeader(String),
    /// `X-Amz-Content-Sha256` is not a SHA-256 (`UNSIGNED-PAYLOAD`, the
    /// streaming forms): the body must be covered by the signature.
    #[error(
        "X-Amz-Content-Sha256 must be the hex SHA-256 of the body: jobhost-fleet does not accept \
         unsigned or streaming payloads"
    )]
    UnsignedPayload,
    /// Not the configured access key id.
    #[error("The security token included in the request is invalid: {0}")]
    UnknownKey(String),
    /// A session token, which only AWS's STS can issue.
    #[error(
        "The security token included in the request is invalid: jobhost-fleet has no session \
         credentials; sign with its access key and no X-Amz-Security-Token"
    )]
    SessionToken,
    /// The credential scope names another service.
    #[error("Credential should be scoped to correct service: '{SERVICE}', not '{0}'")]
    WrongService(String),
    /// The credential scope does not end in `aws4_request`.
    #[error("Credential should be scoped with a valid terminator: 'aws4_request', not '{0}'")]
    WrongTerminator(String),
    /// The credential's date is not `X-Amz-Date`'s.
    #[error(
        "Date in Credential scope does not match YYYYMMDD from X-Amz-Date: '{scope}' != \
         '{date}', from '{amz_date}'"
    )]
    ScopeDate {
        /// The credential's date.
        scope: String,
        /// X-Amz-Date's date.
        date: String,
        /// X-Amz-Date.
        amz_date: String,
    },
    /// Signed more than [`MAX_SKEW_SECS`] ago.
    #[error("Signature expired: {signed} is now earlier than {limit} ({now} - 15 min.)")]
    Expired {
        /// X-Amz-Date.
        signed: String,
        /// The earliest date accepted.
        limit: String,
        /// The service's clock.
        now: String,
    },
    /// Signed more than [`MAX_SKEW_SECS`] ahead of the service's clock.
    #[error("Signature not yet current: {signed} is still later than {limit} ({now} + 15 min.)")]
    NotYetCurrent {
        /// X-Amz-Date.
        signed: String,
        /// The latest date accepted.
        limit: String,
        /// The service's clock.
        now: String,
    },
    /// The signature is not the one the secret gives. The canonical request
    /// and string to sign hold nothing secret, and are what a client author
    /// needs to find the difference.
    #[error(
        "The request signature we calculated does not match the signature you provided. Check \
         your AWS Secret Access Key and signing method.\n\nThe Canonical String for this request \
         should have been\n'{canonical}'\n\nThe String-to-Sign should have been\n'{string_to_sign}'"
    )]
    Mismatch {
        /// The canonical request.
        canonical: String,
        /// The string to sign.
        string_to_sign: String,
    },
    /// The body is not the one `X-Amz-Content-Sha256` declared (and the
    /// signature covered).
    #[error(
        "the SHA-256 of the request body is {actual}, not the {declared} that \
         X-Amz-Content-Sha256 declares"
    )]
    BodyMismatch {
        /// The body's hash.
        actual: String,
        /// The declared hash.
        declared: String,
    },
}

impl SignatureError {
    /// The exception name AWS's JSON services answer with (all HTTP 403).
    pub fn exception(&self) -> &'static str {
        match self {
            Self::Missing => "MissingAuthenticationTokenException",
            Self::Malformed(_)
            | Self::BadDate(_)
            | Self::UnsignedHeader(_)
            | Self::AbsentHeader(_)
            | Self::UnsignedPayload => "IncompleteSignatureException",
            Self::UnknownKey(_) | Self::SessionToken => "UnrecognizedClientException",
            Self::WrongService(_)
            | Self::WrongTerminator(_)
            | Self::ScopeDate { .. }
            | Self::Expired { .. }
            | Self::NotYetCurrent { .. }
            | Self::Mismatch { .. }
            | Self::BodyMismatch { .. } => "InvalidSignatureException",
        }
    }
}

/// A request's `Authorization`, checked against the key, the clock and the
/// scope: everything but the signature itself, which needs the payload hash
/// (and so, without `X-Amz-Content-Sha256`, the whole body).
#[derive(Debug)]
struct Claim {
    amz_date: String,
    scope: String,
    date: String,
    region: String,
    service: String,
    signed_headers: Vec<String>,
    signed_headers_line: String,
    signature: Vec<u8>,
}

impl Claim {
    /// Reads `authorization` (the header's value) and checks it against
    /// `credentials`, `service` and `now` (seconds since the epoch).
    fn check(
        authorization: &str,
        request: &RequestParts<'_>,
        credentials: &AwsCredentials,
        service: &str,
        now: i64,
    ) -> Result<Self, SignatureError> {
        let parsed = Parsed::read(authorization)?;
        let [key_id, date, region, scope_service, terminator] = parsed.credential;
        if key_id != credentials.access_key_id {
            return Err(SignatureError::UnknownKey(format!(
                "no access key {key_id} here"
            )));
        }
        if request.headers.contains_key("x-amz-security-token") {
            return Err(SignatureError::SessionToken);
        }
        let amz_date = match request.headers.get("x-amz-date").map(|v| v.to_str()) {
            Some(Ok(v)) => v.to_owned(),
            Some(Err(_)) => return Err(SignatureError::BadDate(" (it is not text)".into())),
            None => return Err(SignatureError::BadDate(String::new())),
        };
        let signed_at = canonical::parse_amz_date(&amz_date)
            .ok_or_else(|| SignatureError::BadDate(format!(", not {amz_date:?}")))?;
        if amz_date[..8] != *date {
            return Err(SignatureError::ScopeDate {
                scope: date.to_owned(),
                date: amz_date[..8].to_owned(),
                amz_date,
            });
        }
        check_skew(&amz_date, signed_at, now)?;
        if scope_service != service {
            return Err(SignatureError::WrongService(scope_service.to_owned()));
        }
        if terminator != "aws4_request" {
            return Err(SignatureError::WrongTerminator(terminator.to_owned()));
        }
        for required in ["host", "x-amz-date"] {
            if !parsed.signed_headers.iter().any(|h| h == required) {
                return Err(SignatureError::UnsignedHeader(required));
            }
        }
        Ok(Self {
            scope: format!("{date}/{region}/{scope_service}/{terminator}"),
            date: date.to_owned(),
            region: region.to_owned(),
            service: scope_service.to_owned(),
            amz_date,
            signed_headers: parsed.signed_headers,
            signed_headers_line: parsed.signed_headers_line.to_owned(),
            signature: parsed.signature,
        })
    }

    /// Checks the signature over `request` with `payload_hash` (hex), in
    /// constant time.
    fn verify(
        &self,
        request: &RequestParts<'_>,
        credentials: &AwsCredentials,
        payload_hash: &str,
    ) -> Result<(), SignatureError> {
        let canonical = canonical::canonical_request(
            request,
            &self.signed_headers,
            &self.signed_headers_line,
            payload_hash,
        )?;
        let string_to_sign = canonical::string_to_sign(&self.amz_date, &self.scope, &canonical);
        let key = signing_key(
            &credentials.secret_access_key,
            &self.date,
            &self.region,
            &self.service,
        );
        let mut mac = hmac_for(&key);
        mac.update(string_to_sign.as_bytes());
        // `verify_slice` compares in constant time (subtle), so the time
        // taken says nothing about how much of a forged signature was right.
        mac.verify_slice(&self.signature)
            .map_err(|_| SignatureError::Mismatch {
                canonical: String::from_utf8_lossy(&canonical).into_owned(),
                string_to_sign,
            })
    }
}

fn check_skew(amz_date: &str, signed_at: i64, now: i64) -> Result<(), SignatureError> {
    if signed_at < now - MAX_SKEW_SECS {
        return Err(SignatureError::Expired {
            signed: amz_date.to_owned(),
            limit: canonical::format_amz_date(now - MAX_SKEW_SECS),
            now: canonical::format_amz_date(now),
        });
    }
    if signed_at > now + MAX_SKEW_SECS {
        return Err(SignatureError::NotYetCurrent {
            signed: amz_date.to_owned(),
            limit: canonical::format_amz_date(now + MAX_SKEW_SECS),
            now: canonical::format_amz_date(now),
        });
    }
    Ok(())
}

/// The parts of `AWS4-HMAC-SHA256 Credential=..., SignedHeaders=..., Signature=...`.
struct Parsed<'a> {
    credential: [&'a str; 5],
    signed_headers: Vec<String>,
    signed_headers_line: &'a str,
    signature: Vec<u8>,
}

impl<'a> Parsed<'a> {
    fn read(value: &'a str) -> Result<Self, SignatureError> {
        let malformed = |m: &str| SignatureError::Malformed(m.to_owned());
        let rest = value
            .strip_prefix(ALGORITHM)
            .and_then(|r| r.strip_prefix(' '))
            .ok_or_else(|| malformed("it must start with `AWS4-HMAC-SHA256 `"))?;
        let (mut credential, mut signed, mut signature) = (None, None, None);
        for component in rest.split(',') {
            let (name, v) = component
                .trim()
                .split_once('=')
                .ok_or_else(|| malformed("components are Name=value, separated by commas"))?;
            let slot = match name {
                "Credential" => &mut credential,
                "SignedHeaders" => &mut signed,
                "Signature" => &mut signature,
                other => {
                    return Err(SignatureError::Malformed(format!(
                        "unknown component {other:?}"
                    )))
                }
            };
            if slot.replace(v).is_some() {
                return Err(SignatureError::Malformed(format!("{name} appears twice")));
            }
        }
        let credential = credential.ok_or_else(|| malformed("it has no Credential"))?;
        let signed_headers_line = signed.ok_or_else(|| malformed("it has no SignedHeaders"))?;
        let signature = signature.ok_or_else(|| malformed("it has no Signature"))?;

        let parts: Vec<&str> = credential.split('/').collect();
        let credential: [&str; 5] = parts
            .try_into()
            .ok()
            .filter(|p: &[&str; 5]| p.iter().all(|s| !s.is_empty()))
            .ok_or_else(|| {
                malformed("Credential must be <access key id>/<YYYYMMDD>/<region>/iot/aws4_request")
            })?;
        let signed_headers: Vec<String> = signed_headers_line
            .split(';')
            .map(str::to_ascii_lowercase)
            .collect();
        if signed_headers.iter().any(String::is_empty) {
            return Err(malformed(
                "SignedHeaders must be header names separated by `;`",
            ));
        }
        let signature = (signature.len() == 64)
            .then(|| hex::decode(signature).ok())
            .flatten()
            .ok_or_else(|| malformed("Signature must be 64 hex digits"))?;
        Ok(Self {
            credential,
            signed_headers,
            signed_headers_line,
            signature,
        })
    }
}

type HmacSha256 = Hmac<Sha256>;

fn hmac_for(key: &[u8]) -> HmacSha256 {
    // HMAC takes keys of any length: this cannot fail.
    <HmacSha256 as Mac>::new_from_slice(key)
        .unwrap_or_else(|_| unreachable!("HMAC accepts keys of any length"))
}

fn hmac(key: &[u8], message: &str) -> Vec<u8> {
    let mut mac = hmac_for(key);
    mac.update(message.as_bytes());
    mac.finalize().into_bytes().to_vec()
}

/// `kSigning`: the secret chained through the date, region and service.
fn signing_key(secret: &str, date: &str, region: &str, service: &str) -> Vec<u8> {
    let k_date = hmac(format!("AWS4{secret}").as_bytes(), date);
    let k_region = hmac(&k_date, region);
    let k_service = hmac(&k_region, service);
    hmac(&k_service, "aws4_request")
}

#[cfg(test)]
mod tests;
