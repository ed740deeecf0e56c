//! Cross-site request forgery: every change the console makes is a POST
//! whose form carries the session's CSRF token in [`FIELD`]. The session
//! cookie is SameSite=Strict as well; the token is the check that does not
//! depend on the browser.
//!
//! The login form comes before any session, so it is protected by a
//! pre-session token instead (the "double-submit cookie" scheme): the login
//! page sets a random token in the short-lived, SameSite=Strict, HttpOnly
//! cookie [`LOGIN_COOKIE`] and puts the same in the form's [`FIELD`]; a login
//! whose field and cookie differ is refused. Another site can neither read
//! the cookie nor have the browser send it, so it cannot log a browser in
//! to a session of its choosing (login CSRF).

use super::super::auth::same_secret;
use super::super::ApiState;
use super::session::Operator;
use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Form;

/// The form field that carries the token.
pub(super) const FIELD: &str = "_csrf";

/// The cookie that carries the login form's pre-session token.
pub(super) const LOGIN_COOKIE: &str = "jobhost_console_login";

/// How long a login form stays usable (seconds): the pre-session cookie's
/// lifetime.
pub(super) const LOGIN_FORM_SECS: i64 = 10 * 60;

/// `Set-Cookie` for the login form's `token`, sent back only to the login
/// form's own path.
pub(super) fn login_cookie(token: &str, secure: bool) -> axum::http::HeaderValue {
    let secure = if secure { "; Secure" } else { "" };
    axum::http::HeaderValue::from_str(&format!(
        "{LOGIN_COOKIE}={token}; Path=/console/login; HttpOnly; SameSite=Strict; \
         Max-Age={LOGIN_FORM_SECS}{secure}"
    ))
    .unwrap_or_else(|_| axum::http::HeaderValue::from_static(""))
}

/// Whether a login form's `field` is the token of its pre-session cookie.
pub(super) fn login_valid(headers: &axum::http::HeaderMap, field: &str) -> bool {
    super::session::cookie_named(headers, LOGIN_COOKIE)
        .is_some_and(|expected| valid(&expected, field))
}

/// The header that carries the token on a change the page script sends
/// without a form (an artifact upload: the body is the file).
pub(super) const HEADER: &str = "x-csrf-token";

/// A form's fields, in order (a checkbox list repeats its name).
#[derive(Debug, Default, Clone)]
pub(super) struct Fields(pub Vec<(String, String)>);

impl Fields {
    /// The first value of `name`, trimmed; "" when absent.
    pub(super) fn get(&self, name: &str) -> &str {
        self.0
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.trim())
            .unwrap_or("")
    }

    /// Every non-empty value of `name`.
    pub(super) fn all(&self, name: &str) -> Vec<String> {
        self.0
            .iter()
            .filter(|(k, v)| k == name && !v.trim().is_empty())
            .map(|(_, v)| v.trim().to_owned())
            .collect()
    }

    /// Whether a checkbox `name` was ticked.
    pub(super) fn checked(&self, name: &str) -> bool {
        self.0.iter().any(|(k, _)| k == name)
    }
}

/// A POST from a logged-in operator whose form carries the session's CSRF
/// token: every change handler takes this, so none can forget the check.
pub(super) struct Change {
    pub operator: Operator,
    pub fields: Fields,
}

impl FromRequest<ApiState> for Change {
    type Rejection = Response;

    async fn from_request(request: Request, state: &ApiState) -> Result<Self, Response> {
        let (mut parts, body) = request.into_parts();
        let operator = Operator::from_request_parts(&mut parts, state).await?;
        let request = Request::from_parts(parts, body);
        let Form(fields) = Form::<Vec<(String, String)>>::from_request(request, state)
            .await
            .map_err(IntoResponse::into_response)?;
        let fields = Fields(fields);
        if !valid(&operator.session.csrf, fields.get(FIELD)) {
            return Err(refused());
        }
        Ok(Change { operator, fields })
    }
}

/// Whether `given` is the session's token.
pub(super) fn valid(expected: &str, given: &str) -> bool {
    !given.is_empty() && same_secret(given, expected)
}

/// Whether `headers` carry `operator`'s token in [`HEADER`].
pub(super) fn in_header(operator: &Operator, headers: &axum::http::HeaderMap) -> bool {
    let given = headers
        .get(HEADER)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    valid(&operator.session.csrf, given)
}

/// The 403 for a change without the session's token.
pub(super) fn refused() -> Response {
    tracing::info!("console change refused: no valid CSRF token");
    (
        StatusCode::FORBIDDEN,
        // Plain, without the layout: the layout puts this module's token
        // field in its forms, and modules do not import each other.
        axum::response::Html(
            "<!DOCTYPE html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>Request refused\
             </title></head><body><main><h1>Request refused</h1><p>This change was refused: it did \
             not carry this session's security token (CSRF). Reload the page and submit the form \
             again.</p></main></body></html>",
        ),
    )
        .into_response()
}
