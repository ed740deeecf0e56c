//! The console's stylesheet and script, embedded in the binary
//! (`include_str!`): nothing is fetched from elsewhere at run time, and a
//! binary's console always matches its API. Their URLs carry the crate
//! version so that a browser never runs an old script against a new page.

use axum::extract::Path;
use axum::http::header::{CACHE_CONTROL, CONTENT_TYPE};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};

const CSS: &str = include_str!("assets/console.css");
const JS: &str = include_str!("assets/console.js");

/// Where pages link the stylesheet.
pub(super) const CSS_PATH: &str = concat!(
    "/console/assets/console-",
    env!("CARGO_PKG_VERSION"),
    ".css"
);
/// Where pages load the script from.
pub(super) const JS_PATH: &str =
    concat!("/console/assets/console-", env!("CARGO_PKG_VERSION"), ".js");

/// `GET /console/assets/{name}`: public (a login page needs its style),
/// cacheable, and nothing but the two embedded files.
pub(super) async fn serve(Path(name): Path<String>) -> Response {
    let path = format!("/console/assets/{name}");
    let (body, kind) = if path == CSS_PATH {
        (CSS, "text/css; charset=utf-8")
    } else if path == JS_PATH {
        (JS, "text/javascript; charset=utf-8")
    } else {
        return (StatusCode::NOT_FOUND, "no such console asset").into_response();
    };
    (
        [
            (CONTENT_TYPE, kind),
            (CACHE_CONTROL, "public, max-age=86400, immutable"),
        ],
        body,
    )
        .into_response()
}
