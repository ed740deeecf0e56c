//! Artifacts: the list (name, size, sha256, signing key) with each one's
//! presigned-URL placeholder to paste into a job document, and an upload
//! form whose file the page script PUTs with a progress bar, through the
//! API's own `PUT /artifacts/{name}` ([`upload`]).

use super::super::csrf;
use super::super::dispatch::{self, encode};
use super::super::html::{self, Section};
use super::super::session::Operator;
use axum::body::Body;
use axum::extract::{Path, Request};
use axum::http::header::{CONTENT_LENGTH, CONTENT_TYPE};
use axum::http::{Method, StatusCode};
use axum::response::{Html, IntoResponse, Response};
use maud::html;
use serde_json::Value;

/// `PUT /console/artifacts/{name}`: the API's `PUT /artifacts/{name}`, the
/// file streamed through (never whole in memory), its JSON reply (sha256,
/// URL) or refusal passed back. The session's CSRF token comes in the
/// [`csrf::HEADER`] header: the body is the file, not a form.
pub(in super::super) async fn upload(
    op: Operator,
    Path(name): Path<String>,
    request: Request,
) -> Response {
    if !csrf::in_header(&op, request.headers()) {
        return csrf::refused();
    }
    let (parts, body) = request.into_parts();
    let mut forward = axum::http::Request::builder()
        .method(Method::PUT)
        .uri(format!("/artifacts/{}", encode(&name)));
    for header in [CONTENT_LENGTH, CONTENT_TYPE] {
        if let Some(v) = parts.headers.get(&header) {
            forward = forward.header(header, v);
        }
    }
    match forward.body(Body::new(body)) {
        Ok(r) => dispatch::raw(&op.api, r).await,
        Err(e) => (StatusCode::BAD_REQUEST, e.to_string()).into_response(),
    }
}

/// `GET /console/artifacts`.
pub(in super::super) async fn list(op: Operator) -> Html<String> {
    let reply = dispatch::get(&op.api, "/artifacts").await;
    let body = html! {
        p { "A job document names an artifact by its placeholder, which the service turns into a fresh presigned URL at every delivery. Upload here, or with " code { "jobhost-fleet artifact put" } " (which also takes a signature) or " code { "PUT /artifacts/{name}" } "." }
        h2 { "Upload" }
        // Hidden until the page script runs: it sends the file itself.
        form #artifact-upload .stack hidden {
            (html::csrf_field(&op.session))
            div {
                label for="artifact-file" { "File" }
                input #artifact-file type="file" name="file" required;
            }
            div {
                label for="artifact-name" { "Name" span.hint { " — optional, the file's name by default; replaces an artifact of the same name" } }
                input #artifact-name type="text" name="name";
            }
            div { button type="submit" { "Upload" } }
            p.progress {
                progress #upload-progress value="0" max="1" aria-label="Upload progress" {}
                span #upload-state role="status" {}
            }
            div #upload-result {}
        }
        h2 { "Stored artifacts" }
        @match &reply {
            Err(e) => (html::failure(e)),
            Ok(r) => {
                @let rows = r.get("artifacts").and_then(Value::as_array).cloned().unwrap_or_default();
                @if rows.is_empty() { p { "No artifacts yet." } } @else {
                    div.scroll { table {
                        thead { tr { th scope="col" { "Name" } th scope="col" { "Size (bytes)" } th scope="col" { "sha256" } th scope="col" { "Placeholder" } } }
                        tbody {
                            @for a in &rows {
                                @let s = |k: &str| a.get(k).and_then(Value::as_str).unwrap_or("").to_owned();
                                @let placeholder = format!("${{aws:iot:s3-presigned-url:{}}}", s("url"));
                                tr {
                                    td { (s("name")) @if a.get("codesign").is_some_and(|c| !c.is_null()) { " " span.badge.ok { "signed" } } }
                                    td { (a.get("size").and_then(Value::as_u64).unwrap_or(0)) }
                                    td { code { (s("sha256")) } }
                                    td {
                                        code { (placeholder) }
                                        " "
                                        button.secondary type="button" data-copy=(placeholder) hidden aria-label={"Copy the placeholder of " (s("name"))} { "Copy" }
                                    }
                                }
                            }
                        }
                    } }
                }
            }
        }
    };
    html::page("Artifacts", Section::Artifacts, &op.session, body)
}
