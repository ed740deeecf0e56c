//! The query of a presigned URL (`?expires=…&signature=…`, `crate::presign`)
//! on the public routes: artifact downloads, device uploads, CSRs. Each
//! route checks the signature against its own store; what they share is
//! reading the two parameters and refusing a URL that lacks them or has
//! expired, with the same 403s, before any signature work.

use super::ApiError;

/// `expires` and `signature` from a query string (percent-decoding is not
/// needed: we only ever produce digits and hex).
pub(super) fn signed_query(query: &str) -> (Option<String>, Option<String>) {
    let (mut expires, mut signature) = (None, None);
    for pair in query.split('&') {
        match pair.split_once('=') {
            Some(("expires", v)) => expires = Some(v.to_owned()),
            Some(("signature", v)) => signature = Some(v.to_owned()),
            _ => {}
        }
    }
    (expires, signature)
}

/// The expiry and signature of a presigned URL's `query`, refused (403)
/// when either is missing, the expiry is not a number or is before `now`.
/// `what` names the requests that need such a URL ("uploads"), for the
/// message to a client that sent none.
pub(super) fn unexpired(query: &str, what: &str, now: i64) -> Result<(i64, String), ApiError> {
    let (Some(expires), Some(signature)) = signed_query(query) else {
        return Err(ApiError::Forbidden(format!(
            "{what} need a presigned URL (expires and signature)"
        )));
    };
    let Ok(expires) = expires.parse::<i64>() else {
        return Err(ApiError::Forbidden(
            "the URL's expiry is not a number".into(),
        ));
    };
    if now > expires {
        return Err(ApiError::Forbidden(format!(
            "this URL expired at {expires} (now {now}); fetch the job document again for a fresh one"
        )));
    }
    Ok((expires, signature))
}
