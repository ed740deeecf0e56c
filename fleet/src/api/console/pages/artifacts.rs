//! Artifacts: the list (name, size, sha256, signing key) with each one's
//! presigned-URL placeholder to paste into a job document.

use super::super::dispatch;
use super::super::html::{self, Section};
use super::super::session::Operator;
use axum::response::Html;
use maud::html;
use serde_json::Value;

/// `GET /console/artifacts`.
pub(in super::super) async fn list(op: Operator) -> Html<String> {
    let reply = dispatch::get(&op.api, "/artifacts").await;
    let body = html! {
        p { "Upload artifacts with " code { "jobhost-fleet artifact upload" } " or " code { "PUT /artifacts/{name}" } ". A job document names one by its placeholder, which the service turns into a fresh presigned URL at every delivery." }
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
