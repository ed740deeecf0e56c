//! Authentication on management routes: a bearer token (jobhost-fleet's own
//! CLI, curl), AWS SigV4 with an access key (AWS's SDKs and CLI,
//! [`super::sigv4`]), or both.
//!
//! One shared credential of each kind is enough for a self-hosted service
//! with one operator team; anything finer belongs in a reverse proxy in
//! front of it.
//!
//! The `Authorization` scheme picks the check. With neither credential
//! configured every request passes. Otherwise a request without
//! credentials is refused: 401 UnauthorizedException when a token is
//! configured (what jobhost-fleet's CLI and curl users expect, with
//! `WWW-Authenticate: Bearer`), else 403
//! MissingAuthenticationTokenException, as AWS answers an unsigned request.
//! Bearer failures are 401 UnauthorizedException; SigV4 failures are 403
//! with the exception AWS names ([`super::sigv4::SignatureError`]).

use super::sigv4::{self, SignatureError};
use super::{ApiError, ApiState};
use axum::extract::{Request, State};
use axum::http::header::AUTHORIZATION;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use sha2::{Digest, Sha256};

/// Middleware: passes the request on when [`authenticate`] accepts it.
pub(super) async fn require_auth(
    State(state): State<ApiState>,
    request: Request,
    next: Next,
) -> Response {
    match authenticate(&state, request).await {
        Ok(request) => next.run(request).await,
        Err(e) => e.into_response(),
    }
}

/// Marks a request that the web console ([`super::console`]) sends to the
/// API in-process, on behalf of an operator whose session it has checked
/// (the session was opened with this service's token or access key). A
/// request extension: only code in this process can set one, never a
/// client over the network.
#[derive(Debug, Clone, Copy)]
pub(super) struct ConsoleSession;

/// Checks `request`'s credentials against those `state` has, and returns it
/// for the handler (a SigV4 check reads the body; the request carries it on).
pub(super) async fn authenticate(state: &ApiState, request: Request) -> Result<Request, ApiError> {
    if state.token.is_none() && state.aws_credentials.is_none() {
        return Ok(request);
    }
    if request.extensions().get::<ConsoleSession>().is_some() {
        return Ok(request);
    }
    let scheme = request
        .headers()
        .get(AUTHORIZATION)
        .map(|v| v.to_str().map(Scheme::of).unwrap_or(Scheme::Other));
    match scheme {
        Some(Scheme::SigV4) => match &state.aws_credentials {
            Some(credentials) => sigv4::authenticate(credentials, request, state.now()).await,
            None => Err(SignatureError::UnknownKey(
                "this service has no AWS access keys (serve --aws-access-key-id); use its bearer \
                 token"
                    .into(),
            )
            .into()),
        },
        Some(Scheme::Bearer(given)) => match &state.token {
            Some(expected) if same_secret(&given, expected) => Ok(request),
            Some(_) => Err(ApiError::Unauthorized("wrong bearer token".into())),
            None => Err(ApiError::Unauthorized(
                "this service takes no bearer token: sign requests with AWS SigV4".into(),
            )),
        },
        Some(Scheme::Other) | None => match &state.token {
            Some(_) => Err(ApiError::Unauthorized(format!(
                "missing bearer token: send `Authorization: Bearer <token>` (jobhost-fleet's CLI: \
                 --token or JOBHOST_FLEET_TOKEN){}",
                if state.aws_credentials.is_some() {
                    ", or sign the request with AWS SigV4"
                } else {
                    ""
                }
            ))),
            None => Err(SignatureError::Missing.into()),
        },
    }
}

/// Which check an `Authorization` value asks for.
enum Scheme {
    /// `AWS4-HMAC-SHA256 Credential=...` (case-sensitive, as AWS reads it).
    SigV4,
    /// `Bearer <token>` (the scheme case-insensitive, RFC 9110 §11.1).
    Bearer(String),
    /// Anything else, which no check accepts.
    Other,
}

impl Scheme {
    fn of(value: &str) -> Self {
        if value.starts_with("AWS4-HMAC-SHA256 ") {
            return Self::SigV4;
        }
        match value.split_once(' ') {
            Some((scheme, token)) if scheme.eq_ignore_ascii_case("bearer") => {
                Self::Bearer(token.trim().to_owned())
            }
            _ => Self::Other,
        }
    }
}

/// Compares digests of both, byte by byte without an early exit, so that
/// neither the token's length nor its prefix leaks through timing.
pub(super) fn same_secret(given: &str, expected: &str) -> bool {
    let a = Sha256::digest(given.as_bytes());
    let b = Sha256::digest(expected.as_bytes());
    a.iter()
        .zip(b.iter())
        .fold(0u8, |acc, (x, y)| acc | (x ^ y))
        == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bearer(value: &str) -> Option<String> {
        match Scheme::of(value) {
            Scheme::Bearer(t) => Some(t),
            _ => None,
        }
    }

    #[test]
    fn bearer_tokens_are_parsed_and_compared() {
        assert_eq!(bearer("Bearer abc").as_deref(), Some("abc"));
        assert_eq!(bearer("bearer  abc ").as_deref(), Some("abc"));
        assert_eq!(bearer("Basic abc"), None);
        assert_eq!(bearer("Bearer"), None);
        assert!(same_secret("abc", "abc"));
        assert!(!same_secret("abc", "abd"));
        assert!(!same_secret("", "abc"));
    }

    #[test]
    fn sigv4_is_told_from_bearer_by_its_algorithm() {
        assert!(matches!(
            Scheme::of("AWS4-HMAC-SHA256 Credential=a/b/c/iot/aws4_request"),
            Scheme::SigV4
        ));
        assert!(matches!(Scheme::of("aws4-hmac-sha256 x"), Scheme::Other));
        assert!(matches!(Scheme::of("AWS4-HMAC-SHA256"), Scheme::Other));
    }
}
