//! The console's API client: it sends the JSON API's own requests to the
//! API's own router, in-process, marked as coming from a checked console
//! session ([`ConsoleSession`]). So a page sees exactly what `curl` would,
//! and a form is validated, refused and logged exactly as the same CreateJob
//! or CancelJob from a script: there is no second path into the store.

use super::super::auth::ConsoleSession;
use super::super::{ApiState, ERROR_TYPE_HEADER};
use axum::body::Body;
use axum::http::header::CONTENT_TYPE;
use axum::http::{Method, Request, StatusCode};
use axum::response::Response;
use serde_json::Value;
use tower::ServiceExt;

/// The largest JSON reply a page reads (a job document is ≤ 32 KiB; a
/// whole list of a large fleet is a few MiB).
const MAX_REPLY_BYTES: usize = 64 * 1024 * 1024;

/// An API refusal, as the JSON API reports it: shown in the page.
#[derive(Debug, Clone)]
pub(super) struct ApiFailure {
    pub status: StatusCode,
    /// AWS's exception name (`x-amzn-ErrorType`), e.g. `InvalidRequestException`.
    pub kind: String,
    pub message: String,
}

impl std::fmt::Display for ApiFailure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} ({}): {}",
            self.kind,
            self.status.as_u16(),
            self.message
        )
    }
}

/// `GET path` on the API; the JSON reply.
pub(super) async fn get(state: &ApiState, path: &str) -> Result<Value, ApiFailure> {
    send(state, Method::GET, path, None).await
}

/// `method path` with a JSON body on the API; the JSON reply (Null for an
/// empty one).
pub(super) async fn send(
    state: &ApiState,
    method: Method,
    path: &str,
    body: Option<&Value>,
) -> Result<Value, ApiFailure> {
    let body = match body {
        Some(v) => Body::from(v.to_string()),
        None => Body::empty(),
    };
    let request = Request::builder()
        .method(method)
        .uri(path)
        .header(CONTENT_TYPE, "application/json")
        .body(body)
        .map_err(|e| failure(StatusCode::BAD_REQUEST, format!("bad request path: {e}")))?;
    let response = raw(state, request).await;
    let status = response.status();
    let kind = response
        .headers()
        .get(ERROR_TYPE_HEADER)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    let bytes = axum::body::to_bytes(response.into_body(), MAX_REPLY_BYTES)
        .await
        .map_err(|e| failure(StatusCode::BAD_GATEWAY, format!("reading the reply: {e}")))?;
    let json: Value = if bytes.is_empty() {
        Value::Null
    } else {
        serde_json::from_slice(&bytes)
            .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(&bytes).into_owned()))
    };
    if status.is_success() {
        return Ok(json);
    }
    let message = json
        .get("message")
        .and_then(Value::as_str)
        .map(str::to_owned)
        .unwrap_or_else(|| json.to_string());
    Err(ApiFailure {
        status,
        kind: kind.unwrap_or_else(|| status.canonical_reason().unwrap_or("Error").to_owned()),
        message,
    })
}

/// Any request on the API, answered as the API answers it (a stream stays
/// a stream: `GET /events`, artifact bodies).
pub(super) async fn raw(state: &ApiState, mut request: Request<Body>) -> Response {
    request.extensions_mut().insert(ConsoleSession);
    // The router is cheap to build (a route table of Arcs); building it
    // per request keeps the console free of a reference cycle to itself.
    match super::super::router(state.clone()).oneshot(request).await {
        Ok(response) => response,
        Err(never) => match never {},
    }
}

fn failure(status: StatusCode, message: String) -> ApiFailure {
    ApiFailure {
        status,
        kind: "ConsoleError".into(),
        message,
    }
}

/// Percent-encodes `s` for a path segment or a query value: everything
/// but RFC 3986's unreserved characters.
pub(super) fn encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// The inverse of [`encode`]: `%XX` escapes back to bytes; None when an
/// escape is malformed or the result is not UTF-8.
pub(super) fn decode(s: &str) -> Option<String> {
    let mut out = Vec::with_capacity(s.len());
    let mut bytes = s.bytes();
    while let Some(b) = bytes.next() {
        if b == b'%' {
            let hi = bytes.next()?;
            let lo = bytes.next()?;
            let pair = [hi, lo];
            let text = std::str::from_utf8(&pair).ok()?;
            out.push(u8::from_str_radix(text, 16).ok()?);
        } else {
            out.push(b);
        }
    }
    String::from_utf8(out).ok()
}
