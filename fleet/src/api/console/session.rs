//! Console sessions: who is logged in, until when, and the CSRF token each
//! session's forms carry.
//!
//! A session is a random 256-bit id (64 hex digits) in the cookie
//! [`COOKIE`], kept in memory: a restart logs everyone out, which for a
//! self-hosted service with one operator team is the safe default (nothing
//! to leak from disk). It ends [`IDLE_SECS`] after its last request, or
//! [`MAX_AGE_SECS`] after login, whichever comes first; time is the API's
//! injectable clock, so tests move it instead of waiting.

use super::super::ApiState;
use axum::extract::FromRequestParts;
use axum::http::header::{COOKIE as COOKIE_HEADER, LOCATION};
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};

/// The session cookie's name.
pub(super) const COOKIE: &str = "jobhost_console";

/// A session ends this long after its last request (seconds).
pub(super) const IDLE_SECS: i64 = 60 * 60;

/// A session ends this long after login, however busy (seconds).
pub(super) const MAX_AGE_SECS: i64 = 12 * 60 * 60;

/// The open sessions, and the one-time login links already used.
#[derive(Default)]
pub(super) struct Sessions {
    inner: Mutex<Inner>,
}

#[derive(Default)]
struct Inner {
    sessions: HashMap<String, Session>,
    /// Nonces of used login links, until the link would have expired.
    used_links: HashMap<String, i64>,
}

/// One logged-in browser.
#[derive(Debug, Clone)]
pub(super) struct Session {
    /// The token every form and every change request of this session
    /// must carry ([`super::csrf`]).
    pub csrf: String,
    created: i64,
    last_seen: i64,
}

impl Session {
    fn expired(&self, now: i64) -> bool {
        now >= self.last_seen + IDLE_SECS || now >= self.created + MAX_AGE_SECS
    }
}

impl Sessions {
    /// Opens a session; returns its id (the cookie's value).
    pub(super) fn open(&self, now: i64) -> Result<String, getrandom::Error> {
        let id = random_hex()?;
        let csrf = random_hex()?;
        let mut inner = self.lock();
        // Expired sessions go when a new one comes: the map stays as
        // large as the number of live sessions, without a sweeper task.
        inner.sessions.retain(|_, s| !s.expired(now));
        inner.used_links.retain(|_, expires| *expires > now);
        inner.sessions.insert(
            id.clone(),
            Session {
                csrf,
                created: now,
                last_seen: now,
            },
        );
        Ok(id)
    }

    /// The live session `id` names, its idle expiry pushed back; None
    /// for an unknown or expired one (which is then forgotten).
    pub(super) fn touch(&self, id: &str, now: i64) -> Option<Session> {
        let mut inner = self.lock();
        let session = inner.sessions.get_mut(id)?;
        if session.expired(now) {
            inner.sessions.remove(id);
            return None;
        }
        session.last_seen = now;
        Some(session.clone())
    }

    /// Ends session `id` (logout).
    pub(super) fn close(&self, id: &str) {
        self.lock().sessions.remove(id);
    }

    /// Records a login link's nonce as used; false when it already was.
    pub(super) fn use_link(&self, nonce: &str, expires: i64) -> bool {
        self.lock()
            .used_links
            .insert(nonce.to_owned(), expires)
            .is_none()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        // Every critical section leaves the maps consistent.
        self.inner.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// 256 random bits as 64 hex digits, from the operating system.
pub(super) fn random_hex() -> Result<String, getrandom::Error> {
    let mut bytes = [0u8; 32];
    getrandom::getrandom(&mut bytes)?;
    Ok(hex::encode(bytes))
}

/// The session id the request's cookie holds, if any.
pub(super) fn cookie(headers: &HeaderMap) -> Option<String> {
    cookie_named(headers, COOKIE)
}

/// The value of the request's cookie `name`, if any.
pub(super) fn cookie_named(headers: &HeaderMap, name: &str) -> Option<String> {
    headers
        .get_all(COOKIE_HEADER)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(n, _)| *n == name)
        .map(|(_, value)| value.to_owned())
}

/// Whether the browser reached the service over HTTPS: through a
/// terminating proxy that says so (`X-Forwarded-Proto: https`); the
/// service itself speaks plain HTTP. The cookie is then `Secure`.
pub(super) fn over_https(headers: &HeaderMap) -> bool {
    headers
        .get("x-forwarded-proto")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.eq_ignore_ascii_case("https"))
}

/// `Set-Cookie` for session `id`: HttpOnly (no script reads it),
/// SameSite=Strict (no other site's page sends it), scoped to the console.
pub(super) fn set_cookie(id: &str, secure: bool) -> HeaderValue {
    let secure = if secure { "; Secure" } else { "" };
    HeaderValue::from_str(&format!(
        "{COOKIE}={id}; Path=/console; HttpOnly; SameSite=Strict; Max-Age={MAX_AGE_SECS}{secure}"
    ))
    .unwrap_or_else(|_| HeaderValue::from_static(""))
}

/// `Set-Cookie` that removes the session cookie.
pub(super) fn clear_cookie() -> HeaderValue {
    HeaderValue::from_static(
        "jobhost_console=; Path=/console; HttpOnly; SameSite=Strict; Max-Age=0",
    )
}

/// The sessions every console route shares (a request extension).
fn sessions(parts: &Parts) -> Option<Arc<Sessions>> {
    parts.extensions.get::<Arc<Sessions>>().cloned()
}

/// A request from a logged-in operator: pages take this, so a page
/// cannot forget to check the session. Without a live session the
/// browser is sent to the login page, which brings it back afterwards.
pub(super) struct Operator {
    pub session: Session,
    pub api: ApiState,
}

impl FromRequestParts<ApiState> for Operator {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, state: &ApiState) -> Result<Self, Response> {
        let Some(sessions) = sessions(parts) else {
            let missing = (
                StatusCode::INTERNAL_SERVER_ERROR,
                "the console's sessions are missing",
            );
            return Err(missing.into_response());
        };
        let session = cookie(&parts.headers).and_then(|id| sessions.touch(&id, state.now()));
        match session {
            Some(session) => Ok(Operator {
                session,
                api: state.clone(),
            }),
            None => Err(to_login(parts)),
        }
    }
}

/// A redirect to the login page that returns to this page (GET) or to
/// the console's front page (anything else: a form cannot be replayed).
fn to_login(parts: &Parts) -> Response {
    let back = if parts.method == axum::http::Method::GET {
        parts
            .uri
            .path_and_query()
            .map(|p| p.as_str())
            .unwrap_or("/console/")
    } else {
        "/console/"
    };
    let location = format!("/console/login?next={}", super::dispatch::encode(back));
    let mut response = StatusCode::SEE_OTHER.into_response();
    if let Ok(value) = HeaderValue::from_str(&location) {
        response.headers_mut().insert(LOCATION, value);
    }
    // Tells the page script that the session is gone (a fetch follows
    // redirects and would otherwise get the login page as a fragment).
    response
        .headers_mut()
        .insert("x-console-login", HeaderValue::from_static("1"));
    response
}
