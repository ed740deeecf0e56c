//! Artifacts: the list (name, size, signing key: what ListArtifacts
//! returns; hashing every file for a list would read them all) with each one's
//! presigned-URL placeholder to paste into a job document, and an upload
//! form whose file the page script PUTs with a progress bar, through the
//! API's own `PUT /artifacts/{name}` ([`upload`]), with the operator's
//! signature when one is chosen; after an upload the
//! script re-reads the list alone (`?part=list`) and puts it in place.

use super::super::csrf;
use super::super::dispatch::{self, encode};
use super::super::html::{self, Section};
use super::super::session::Operator;
use crate::artifacts::CODESIGN_HEADER;
use axum::body::Body;
use axum::extract::{Path, Query, Request};
use axum::http::header::{CONTENT_LENGTH, CONTENT_TYPE};
use axum::http::{HeaderName, Method, StatusCode};
use axum::response::{Html, IntoResponse, Response};
use maud::{html, Markup};
use serde::Deserialize;
use serde_json::Value;

/// `PUT /console/artifacts/{name}`: the API's `PUT /artifacts/{name}`, the
/// file streamed through (never whole in memory), its JSON reply (sha256,
/// URL) or refusal passed back. The session's CSRF token comes in the
/// [`csrf::HEADER`] header: the body is the file, not a form. A signature
/// (the `.sig` file `jobhost artifact sign` writes, base64) comes in
/// [`CODESIGN_HEADER`], passed on as the API takes it.
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
    for header in [
        CONTENT_LENGTH,
        CONTENT_TYPE,
        HeaderName::from_static(CODESIGN_HEADER),
    ] {
        if let Some(v) = parts.headers.get(&header) {
            forward = forward.header(header, v);
        }
    }
    match forward.body(Body::new(body)) {
        Ok(r) => dispatch::raw(&op.api, r).await,
        Err(e) => (StatusCode::BAD_REQUEST, e.to_string()).into_response(),
    }
}

/// `?part=list`: the list alone, for the script.
#[derive(Debug, Default, Deserialize)]
pub(in super::super) struct Part {
    #[serde(default)]
    part: Option<String>,
}

/// `GET /console/artifacts[?part=list]`: the page, or its list alone.
pub(in super::super) async fn list(op: Operator, Query(part): Query<Part>) -> Response {
    let stored = stored(&op).await;
    if part.part.as_deref() == Some("list") {
        return Html(stored.into_string()).into_response();
    }
    let body = html! {
        p { "A job document names an artifact by its placeholder, which the service turns into a fresh presigned URL at every delivery. Upload here (with its signature, if it is signed), or with " code { "jobhost-fleet artifact put" } " or " code { "PUT /artifacts/{name}" } "." }
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
            div {
                label for="artifact-signature" { "Signature" span.hint { " — optional, the file's " code { ".sig" } " from " code { "jobhost artifact sign" } "; checked against the file before it is stored" } }
                input #artifact-signature type="file" name="signature" accept=".sig";
            }
            div { button type="submit" { "Upload" } }
            p.progress {
                progress #upload-progress value="0" max="1" aria-label="Upload progress" {}
                span #upload-state role="status" {}
            }
            div #upload-result {}
        }
        h2 #stored-heading { "Stored artifacts" }
        section #artifact-list aria-labelledby="stored-heading" data-list-url="/console/artifacts?part=list" {
            (stored)
        }
    };
    html::page("Artifacts", Section::Artifacts, &op.session, body).into_response()
}

/// The stored artifacts (one `GET /artifacts`): name, size, the signing
/// key if signed, the placeholder with a copy button.
async fn stored(op: &Operator) -> Markup {
    let reply = dispatch::get(&op.api, "/artifacts").await;
    html! {
        @match &reply {
            Err(e) => (html::failure(e)),
            Ok(r) => {
                @let rows = r.get("artifacts").and_then(Value::as_array).cloned().unwrap_or_default();
                @if rows.is_empty() { p { "No artifacts yet." } } @else {
                    div.scroll { table {
                        thead { tr { th scope="col" { "Name" } th scope="col" { "Size (bytes)" } th scope="col" { "Signed by" } th scope="col" { "Placeholder" } } }
                        tbody {
                            @for a in &rows {
                                @let s = |k: &str| a.get(k).and_then(Value::as_str).unwrap_or("").to_owned();
                                @let placeholder = format!("${{aws:iot:s3-presigned-url:{}}}", s("url"));
                                tr data-artifact=(s("name")) {
                                    td { (s("name")) }
                                    td { (a.get("size").and_then(Value::as_u64).unwrap_or(0)) }
                                    td {
                                        @if a.get("signed").and_then(Value::as_bool) == Some(true) {
                                            span.badge.ok { "signed" } " " code { (s("keyId")) }
                                        } @else { "unsigned" }
                                    }
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
    }
}
