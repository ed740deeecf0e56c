//! The console's routes under `/console`, and the headers every console
//! response carries.

use super::super::ApiState;
use super::assets;
use super::pages::{artifacts, create, device, groups, job, jobs, login, overview};
use super::session::Sessions;
use axum::extract::Request;
use axum::http::header::{
    CACHE_CONTROL, CONTENT_SECURITY_POLICY, REFERRER_POLICY, X_CONTENT_TYPE_OPTIONS,
    X_FRAME_OPTIONS,
};
use axum::http::HeaderValue;
use axum::middleware::Next;
use axum::response::Response;
use axum::routing::{get, post};
use axum::{Extension, Router};
use std::sync::Arc;

/// What the browser may load: this service's own stylesheet, script and
/// connections only; no inline script, no framing, forms post here only.
pub(super) const CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self'; \
     img-src 'self' data:; connect-src 'self'; form-action 'self'; frame-ancestors 'none'; \
     base-uri 'none'";

/// The console's routes, for [`super::super::router`] to merge. Each call
/// has its own sessions: the service's router is built once, by `serve`.
pub(in crate::api) fn router() -> Router<ApiState> {
    let sessions = Arc::new(Sessions::default());
    Router::new()
        .route("/console", get(|| async { login::redirect("/console/") }))
        .route("/console/", get(overview::page))
        .route("/console/login", get(login::form).post(login::submit))
        .route("/console/login/link", get(login::link))
        .route("/console/logout", post(login::logout))
        .route("/console/assets/{name}", get(assets::serve))
        .route("/console/jobs", get(jobs::list))
        .route("/console/jobs/new", get(create::form).post(create::submit))
        .route("/console/jobs/{id}", get(job::page))
        .route("/console/jobs/{id}/live", get(job::live))
        .route("/console/jobs/{id}/summary", get(job::summary))
        .route("/console/jobs/{id}/changes", get(job::changes))
        .route("/console/jobs/{id}/cancel", post(job::cancel))
        .route("/console/things/{name}", get(device::page))
        .route("/console/uploads/{thing}/{job}/{name}", get(device::upload))
        .route("/console/groups", get(groups::list).post(groups::create))
        .route("/console/groups/{name}", get(groups::page))
        .route("/console/groups/{name}/members", post(groups::members))
        .route("/console/artifacts", get(artifacts::list))
        .route(
            "/console/artifacts/{name}",
            axum::routing::put(artifacts::upload),
        )
        .layer(axum::middleware::from_fn(headers))
        .layer(Extension(sessions))
}

/// Security headers on every console response.
async fn headers(request: Request, next: Next) -> Response {
    let asset = request.uri().path().starts_with("/console/assets/");
    let mut response = next.run(request).await;
    let h = response.headers_mut();
    h.insert(CONTENT_SECURITY_POLICY, HeaderValue::from_static(CSP));
    h.insert(X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    h.insert(X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    h.insert(REFERRER_POLICY, HeaderValue::from_static("no-referrer"));
    if !asset {
        // Pages hold operators' data: never kept by a shared cache or the
        // back button after logout.
        h.insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
    }
    response
}
