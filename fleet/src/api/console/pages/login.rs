//! Login and logout. The login page takes what the JSON API takes: the
//! bearer token, or the AWS access key id and secret; a service with
//! neither is open on loopback, and its login is one button.

use super::super::super::auth::same_secret;
use super::super::super::ApiState;
use super::super::csrf::{self, Change};
use super::super::html;
use super::super::link::{self, LinkRefusal};
use super::super::session::{self, Sessions};
use axum::extract::{Query, State};
use axum::http::header::{LOCATION, SET_COOKIE};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::{Extension, Form};
use maud::html;
use serde::Deserialize;
use std::sync::Arc;

/// `?next=`: where to go after logging in.
#[derive(Debug, Default, Deserialize)]
pub(in super::super) struct Next {
    #[serde(default)]
    next: Option<String>,
}

/// The login form's fields.
#[derive(Debug, Default, Deserialize)]
pub(in super::super) struct LoginForm {
    #[serde(default)]
    token: String,
    #[serde(default)]
    access_key_id: String,
    #[serde(default)]
    secret_access_key: String,
    #[serde(default)]
    next: String,
    /// The pre-session CSRF token ([`csrf::login_valid`]).
    #[serde(default, rename = "_csrf")]
    csrf: String,
}

/// `GET /console/login`.
pub(in super::super) async fn form(
    State(state): State<ApiState>,
    headers: HeaderMap,
    Query(q): Query<Next>,
) -> Response {
    login_page(
        &state,
        &headers,
        q.next.as_deref().unwrap_or(""),
        None,
        StatusCode::OK,
    )
}

/// `POST /console/login`: opens a session when the credentials are the
/// API's, else shows the form again with the reason.
pub(in super::super) async fn submit(
    State(state): State<ApiState>,
    Extension(sessions): Extension<Arc<Sessions>>,
    headers: HeaderMap,
    Form(f): Form<LoginForm>,
) -> Response {
    if !csrf::login_valid(&headers, &f.csrf) {
        tracing::info!("console login refused: no valid login CSRF token");
        let why = "This login form has expired or did not come from this service: log in again.";
        return login_page(&state, &headers, &f.next, Some(why), StatusCode::FORBIDDEN);
    }
    if let Err(why) = check(&state, &f) {
        tracing::info!("console login refused");
        return login_page(
            &state,
            &headers,
            &f.next,
            Some(why),
            StatusCode::UNAUTHORIZED,
        );
    }
    start_session(&state, &sessions, &headers, &f.next)
}

/// `GET /console/login/link?n=&e=&s=`: a one-time login link.
pub(in super::super) async fn link(
    State(state): State<ApiState>,
    Extension(sessions): Extension<Arc<Sessions>>,
    headers: HeaderMap,
    Query(q): Query<LinkQuery>,
) -> Response {
    let refusal = match link::verify(&state, &q.n, q.e, &q.s) {
        Ok(()) if sessions.use_link(&q.n, q.e) => None,
        Ok(()) => Some("This login link was already used: each link opens one session."),
        Err(LinkRefusal::Expired) => Some("This login link has expired."),
        Err(LinkRefusal::BadSignature) => Some("This login link is not valid for this service."),
        Err(LinkRefusal::NoCredential) => {
            Some("This service takes no credentials: log in with the button below.")
        }
    };
    match refusal {
        None => start_session(&state, &sessions, &headers, "/console/"),
        Some(why) => login_page(&state, &headers, "", Some(why), StatusCode::UNAUTHORIZED),
    }
}

/// The link's query.
#[derive(Debug, Deserialize)]
pub(in super::super) struct LinkQuery {
    n: String,
    e: i64,
    s: String,
}

/// `POST /console/logout`.
pub(in super::super) async fn logout(
    Extension(sessions): Extension<Arc<Sessions>>,
    headers: HeaderMap,
    _change: Change,
) -> Response {
    if let Some(id) = session::cookie(&headers) {
        sessions.close(&id);
    }
    let mut response = redirect("/console/login");
    response
        .headers_mut()
        .insert(SET_COOKIE, session::clear_cookie());
    response
}

/// Whether the form's credentials are the API's.
fn check(state: &ApiState, f: &LoginForm) -> Result<(), &'static str> {
    if state.token.is_none() && state.aws_credentials.is_none() {
        return Ok(());
    }
    if let (Some(expected), false) = (&state.token, f.token.is_empty()) {
        return if same_secret(&f.token, expected) {
            Ok(())
        } else {
            Err("That is not this service's token.")
        };
    }
    if let (Some(keys), false) = (&state.aws_credentials, f.access_key_id.is_empty()) {
        let id_ok = same_secret(&f.access_key_id, keys.access_key_id());
        let secret_ok = same_secret(&f.secret_access_key, keys.secret_access_key());
        return if id_ok && secret_ok {
            Ok(())
        } else {
            Err("That access key id and secret are not this service's.")
        };
    }
    Err("Enter the service's token, or its access key id and secret.")
}

fn start_session(
    state: &ApiState,
    sessions: &Sessions,
    headers: &HeaderMap,
    next: &str,
) -> Response {
    let id = match sessions.open(state.now()) {
        Ok(id) => id,
        Err(e) => {
            return (
                StatusCode::INTERNAL_SERVER_ERROR,
                html::bare_page("Login failed", &format!("no random numbers: {e}")),
            )
                .into_response()
        }
    };
    tracing::info!("console session opened");
    let mut response = redirect(safe_next(next));
    response.headers_mut().insert(
        SET_COOKIE,
        session::set_cookie(&id, session::over_https(headers)),
    );
    response
}

/// Only a path inside the console: never another site (an open
/// redirect would make the login page a phishing tool).
pub(in super::super) fn safe_next(next: &str) -> &str {
    let inside = next.starts_with("/console/") || next == "/console";
    let odd = next.contains("//") || next.contains('\\') || next.chars().any(char::is_control);
    if inside && !odd {
        next
    } else {
        "/console/"
    }
}

pub(in super::super) fn redirect(to: &str) -> Response {
    let mut response = StatusCode::SEE_OTHER.into_response();
    if let Ok(value) = HeaderValue::from_str(to) {
        response.headers_mut().insert(LOCATION, value);
    }
    response
}

/// The login form, with a fresh pre-session CSRF token in its field and
/// in the cookie [`csrf::LOGIN_COOKIE`].
fn login_page(
    state: &ApiState,
    headers: &HeaderMap,
    next: &str,
    error: Option<&str>,
    code: StatusCode,
) -> Response {
    let token = match session::random_hex() {
        Ok(t) => t,
        Err(e) => {
            let page = html::bare_page("Login unavailable", &format!("no random numbers: {e}"));
            return (StatusCode::INTERNAL_SERVER_ERROR, page).into_response();
        }
    };
    let open = state.token.is_none() && state.aws_credentials.is_none();
    let body = html! {
        @if let Some(e) = error {
            div.error role="alert" { (e) }
        }
        form.stack method="post" action="/console/login" {
            input type="hidden" name="next" value=(next);
            input type="hidden" name=(csrf::FIELD) value=(token);
            @if open {
                p { "This service takes no credentials (its API is open on loopback)." }
            }
            @if state.token.is_some() {
                div {
                    label for="token" { "Token" span.hint { " — the service's bearer token (serve --token)" } }
                    input #token type="password" name="token" autocomplete="current-password";
                }
            }
            @if state.aws_credentials.is_some() {
                @if state.token.is_some() { p.hint { "or" } }
                div {
                    label for="access_key_id" { "Access key id" }
                    input #access_key_id type="text" name="access_key_id" autocomplete="username";
                }
                div {
                    label for="secret_access_key" { "Secret access key" }
                    input #secret_access_key type="password" name="secret_access_key" autocomplete="current-password";
                }
            }
            div { button type="submit" { "Log in" } }
        }
    };
    let mut response = (code, html::bare("Log in to jobhost-fleet", body)).into_response();
    response.headers_mut().insert(
        SET_COOKIE,
        csrf::login_cookie(&token, session::over_https(headers)),
    );
    response
}
