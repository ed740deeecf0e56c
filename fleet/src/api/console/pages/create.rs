//! Creating a job from a template: pick an AWS managed template
//! (ListManagedJobTemplates) or a custom one (ListJobTemplates), then a
//! form generated from its parameters (DescribeManagedJobTemplate's
//! `documentParameters`; a custom document's `${aws:iot:parameter:…}`
//! placeholders), targets picked from things and groups, timeout, rollout
//! rate and an abort rule. "Preview" shows the CreateJob request and the
//! template's document without sending; "Create job" sends it, and a
//! refusal shows the API's message above the form, every value kept.

use super::super::csrf::{Change, Fields};
use super::super::dispatch::{self, encode, ApiFailure};
use super::super::html::{self, Section};
use super::super::session::Operator;
use super::login::redirect;
use axum::extract::Query;
use axum::http::{Method, StatusCode};
use axum::response::{IntoResponse, Response};
use maud::{html, Markup};
use serde::Deserialize;
use serde_json::{json, Map, Value};

/// `?template=&kind=managed|custom`.
#[derive(Debug, Default, Deserialize)]
pub(in super::super) struct Pick {
    #[serde(default)]
    template: String,
    #[serde(default)]
    kind: String,
}

/// A template's parameters, as the form asks for them.
#[derive(Debug, Clone)]
struct Param {
    key: String,
    description: String,
    example: String,
    optional: bool,
}

/// The template the form is for.
struct Template {
    kind: String,
    name: String,
    /// What CreateJob's `jobTemplateArn` takes.
    arn: String,
    description: String,
    document: String,
    params: Vec<Param>,
}

/// `GET /console/jobs/new[?template=&kind=]`.
pub(in super::super) async fn form(op: Operator, Query(pick): Query<Pick>) -> Response {
    if pick.template.is_empty() {
        return chooser(&op).await;
    }
    let mut fields = Fields::default();
    fields.0.push(("template".into(), pick.template.clone()));
    fields.0.push(("kind".into(), pick.kind.clone()));
    render(&op, &fields, None, None).await
}

/// `POST /console/jobs/new`: preview or create.
pub(in super::super) async fn submit(change: Change) -> Response {
    let Change { operator, fields } = change;
    let template = match template(&operator, &fields).await {
        Ok(t) => t,
        Err(e) => return render(&operator, &fields, Some(e), None).await,
    };
    let request = request(&template, &fields);
    if fields.get("action") == "preview" {
        return render(&operator, &fields, None, Some(&request)).await;
    }
    let job_id = fields.get("job_id");
    if job_id.is_empty() {
        let e = ApiFailure {
            status: StatusCode::BAD_REQUEST,
            kind: "InvalidRequestException".into(),
            message: "jobId: enter an id for the job (1-64 of a-z, A-Z, 0-9, _ and -)".into(),
        };
        return render(&operator, &fields, Some(e), None).await;
    }
    let path = format!("/jobs/{}", encode(job_id));
    match dispatch::send(&operator.api, Method::PUT, &path, Some(&request)).await {
        Ok(_) => redirect(&format!("/console/jobs/{}", encode(job_id))),
        Err(e) => render(&operator, &fields, Some(e), None).await,
    }
}

/// The CreateJob body the form describes.
fn request(template: &Template, f: &Fields) -> Value {
    let mut body = Map::new();
    let mut targets = f.all("thing");
    // A bare name in `targets` is a thing; a group is named by its ARN.
    targets.extend(
        f.all("group")
            .iter()
            .map(|g| crate::arn::thing_group_arn(g)),
    );
    body.insert("targets".into(), json!(targets));
    body.insert("jobTemplateArn".into(), json!(template.arn));
    let params: Map<String, Value> = template
        .params
        .iter()
        .filter_map(|p| {
            let v = f.get(&format!("param.{}", p.key));
            (!v.is_empty()).then(|| (p.key.clone(), json!(v)))
        })
        .collect();
    if !params.is_empty() {
        body.insert("documentParameters".into(), Value::Object(params));
    }
    if !f.get("description").is_empty() {
        body.insert("description".into(), json!(f.get("description")));
    }
    if let Some(m) = number(f.get("timeout")) {
        body.insert(
            "timeoutConfig".into(),
            json!({ "inProgressTimeoutInMinutes": m }),
        );
    }
    if let Some(rate) = number(f.get("max_per_minute")) {
        body.insert(
            "jobExecutionsRolloutConfig".into(),
            json!({ "maximumPerMinute": rate }),
        );
    }
    if let Some(threshold) = number(f.get("abort_threshold")) {
        body.insert(
            "abortConfig".into(),
            json!({ "criteriaList": [{
                "action": "CANCEL",
                "failureType": if f.get("abort_failure").is_empty() { "FAILED" } else { f.get("abort_failure") },
                "thresholdPercentage": threshold,
                "minNumberOfExecutedThings": number(f.get("abort_min")).unwrap_or(json!(1)),
            }] }),
        );
    }
    Value::Object(body)
}

/// A number as typed; text that is not one is passed on as a string,
/// for the API to refuse by name.
fn number(s: &str) -> Option<Value> {
    if s.is_empty() {
        return None;
    }
    Some(match s.parse::<f64>() {
        Ok(n) if n.fract() == 0.0 && n.abs() < 1e15 => json!(n as i64),
        Ok(n) => json!(n),
        Err(_) => json!(s),
    })
}

/// The template the form names, described through the API.
async fn template(op: &Operator, f: &Fields) -> Result<Template, ApiFailure> {
    let name = f.get("template").to_owned();
    if f.get("kind") == "custom" {
        let t = dispatch::get(&op.api, &format!("/job-templates/{}", encode(&name))).await?;
        let document = t
            .get("document")
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_owned();
        let params = placeholders(&document)
            .into_iter()
            .map(|key| Param {
                key,
                description: String::new(),
                example: String::new(),
                optional: false,
            })
            .collect();
        return Ok(Template {
            kind: "custom".into(),
            arn: t
                .get("jobTemplateArn")
                .and_then(Value::as_str)
                .unwrap_or(&name)
                .to_owned(),
            description: t
                .get("description")
                .and_then(Value::as_str)
                .unwrap_or("")
                .to_owned(),
            name,
            document,
            params,
        });
    }
    let t = dispatch::get(
        &op.api,
        &format!("/managed-job-templates/{}", encode(&name)),
    )
    .await?;
    let params = t
        .get("documentParameters")
        .and_then(Value::as_array)
        .map(|ps| {
            ps.iter()
                .map(|p| {
                    let s = |k: &str| p.get(k).and_then(Value::as_str).unwrap_or("").to_owned();
                    Param {
                        key: s("key"),
                        description: s("description"),
                        example: s("example"),
                        optional: p.get("optional").and_then(Value::as_bool).unwrap_or(false),
                    }
                })
                .collect()
        })
        .unwrap_or_default();
    Ok(Template {
        kind: "managed".into(),
        arn: name.clone(),
        description: t
            .get("description")
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_owned(),
        document: t
            .get("document")
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_owned(),
        name,
        params,
    })
}

/// The keys of `${aws:iot:parameter:KEY}` in a document, in order, once each.
pub(in super::super) fn placeholders(document: &str) -> Vec<String> {
    const OPEN: &str = "${aws:iot:parameter:";
    let mut keys: Vec<String> = Vec::new();
    let mut rest = document;
    while let Some(start) = rest.find(OPEN) {
        rest = &rest[start + OPEN.len()..];
        let Some(end) = rest.find('}') else { break };
        let key = &rest[..end];
        if !key.is_empty() && !keys.iter().any(|k| k == key) {
            keys.push(key.to_owned());
        }
        rest = &rest[end..];
    }
    keys
}

/// Step one: the templates to choose from.
async fn chooser(op: &Operator) -> Response {
    let managed = dispatch::get(&op.api, "/managed-job-templates").await;
    let custom = dispatch::get(&op.api, "/job-templates").await;
    let list = |reply: &Result<Value, ApiFailure>, key: &str, name: &str, kind: &str| -> Markup {
        match reply {
            Err(e) => html::failure(e),
            Ok(v) => {
                let items = v
                    .get(key)
                    .and_then(Value::as_array)
                    .cloned()
                    .unwrap_or_default();
                html! {
                    @if items.is_empty() { p { "None yet." } }
                    ul {
                        @for t in &items {
                            @let n = t.get(name).and_then(Value::as_str).unwrap_or("");
                            li {
                                a href={"/console/jobs/new?kind=" (kind) "&template=" (encode(n))} { (n) }
                                " — " (t.get("description").and_then(Value::as_str).unwrap_or(""))
                            }
                        }
                    }
                }
            }
        }
    };
    let body = html! {
        p { "Choose the template the job starts from." }
        h2 { "Custom templates" }
        (list(&custom, "jobTemplates", "jobTemplateId", "custom"))
        h2 { "AWS managed templates" }
        (list(&managed, "managedJobTemplates", "templateName", "managed"))
    };
    html::page("New job", Section::NewJob, &op.session, body).into_response()
}

/// Step two: the form for one template, with the values already given,
/// an error above it, or a preview below it.
async fn render(
    op: &Operator,
    f: &Fields,
    error: Option<ApiFailure>,
    preview: Option<&Value>,
) -> Response {
    let template = match template(op, f).await {
        Ok(t) => t,
        Err(e) => {
            let code = e.status;
            let body = html! { (html::failure(&e)) p { a href="/console/jobs/new" { "Choose another template" } } };
            return (
                code,
                html::page("New job", Section::NewJob, &op.session, body),
            )
                .into_response();
        }
    };
    let things = names(op, "/things", "things", "thingName").await;
    let groups = names(op, "/thing-groups", "thingGroups", "groupName").await;
    let picked_things = f.all("thing");
    let picked_groups = f.all("group");
    let code = error.as_ref().map(|e| e.status).unwrap_or(StatusCode::OK);
    let body = html! {
        @if let Some(e) = &error { (html::failure(e)) }
        p { "Template " strong { (template.name) } " (" (template.kind) ")" @if !template.description.is_empty() { ": " (template.description) } }
        form.stack method="post" action="/console/jobs/new" {
            (html::csrf_field(&op.session))
            input type="hidden" name="template" value=(template.name);
            input type="hidden" name="kind" value=(template.kind);
            div {
                label for="job_id" { "Job id" span.hint { " — 1–64 of a–z, A–Z, 0–9, _ and -" } }
                input #job_id type="text" name="job_id" required value=(f.get("job_id"));
            }
            div {
                label for="description" { "Description" span.hint { " — optional; the template's when empty" } }
                input #description type="text" name="description" value=(f.get("description"));
            }
            @if !template.params.is_empty() {
                fieldset {
                    legend { "Parameters" }
                    @for p in &template.params {
                        @let id = format!("param-{}", p.key);
                        div {
                            label for=(id) { (p.key) @if p.optional { span.hint { " (optional)" } } }
                            @if !p.description.is_empty() { p.hint #{(id) "-hint"} { (p.description) @if !p.example.is_empty() { " Example: " code { (p.example) } } } }
                            input id=(id) type="text" name={"param." (p.key)} required[!p.optional]
                                value=(f.get(&format!("param.{}", p.key))) aria-describedby=[(!p.description.is_empty()).then(|| format!("{id}-hint"))];
                        }
                    }
                }
            }
            fieldset.checks {
                legend { "Target things" }
                @match &things {
                    Err(e) => (html::failure(e)),
                    Ok(names) if names.is_empty() => p { "No things registered." },
                    Ok(names) => @for n in names {
                        label { input type="checkbox" name="thing" value=(n) checked[picked_things.contains(n)]; (n) }
                    },
                }
            }
            fieldset.checks {
                legend { "Target groups" }
                @match &groups {
                    Err(e) => (html::failure(e)),
                    Ok(names) if names.is_empty() => p { "No groups." },
                    Ok(names) => @for n in names {
                        label { input type="checkbox" name="group" value=(n) checked[picked_groups.contains(n)]; (n) }
                    },
                }
            }
            fieldset {
                legend { "Settings" }
                div {
                    label for="timeout" { "In-progress timeout (minutes)" span.hint { " — optional, 1–10080" } }
                    input #timeout type="number" name="timeout" min="1" max="10080" value=(f.get("timeout"));
                }
                div {
                    label for="max_per_minute" { "Rollout: devices per minute" span.hint { " — optional, 1–1000" } }
                    input #max_per_minute type="number" name="max_per_minute" min="1" max="1000" value=(f.get("max_per_minute"));
                }
                div {
                    label for="abort_failure" { "Abort when this fails…" }
                    select #abort_failure name="abort_failure" {
                        @for t in ["FAILED", "REJECTED", "TIMED_OUT", "ALL"] {
                            option value=(t) selected[f.get("abort_failure") == t] { (t) }
                        }
                    }
                }
                div {
                    label for="abort_threshold" { "…on this percentage of devices" span.hint { " — optional; empty means no abort rule" } }
                    input #abort_threshold type="number" name="abort_threshold" min="0" max="100" step="any" value=(f.get("abort_threshold"));
                }
                div {
                    label for="abort_min" { "…after at least this many finished" }
                    input #abort_min type="number" name="abort_min" min="1" value=(f.get("abort_min"));
                }
            }
            div {
                button.secondary type="submit" name="action" value="preview" { "Preview" }
                " "
                button type="submit" name="action" value="create" { "Create job" }
            }
        }
        @if let Some(request) = preview {
            section aria-labelledby="preview-heading" {
                h2 #preview-heading { "Preview" }
                p { "The CreateJob request the console will send (PUT /jobs/" (f.get("job_id")) "):" }
                pre #preview-request { (serde_json::to_string_pretty(request).unwrap_or_default()) }
                p { "The template's document, whose parameter placeholders the service fills in:" }
                pre { (pretty(&template.document)) }
            }
        }
    };
    (
        code,
        html::page("New job", Section::NewJob, &op.session, body),
    )
        .into_response()
}

fn pretty(document: &str) -> String {
    serde_json::from_str::<Value>(document)
        .ok()
        .and_then(|v| serde_json::to_string_pretty(&v).ok())
        .unwrap_or_else(|| document.to_owned())
}

/// The names in a registry list (one page of up to 250).
async fn names(
    op: &Operator,
    path: &str,
    key: &str,
    field: &str,
) -> Result<Vec<String>, ApiFailure> {
    let reply = dispatch::get(&op.api, path).await?;
    Ok(reply
        .get(key)
        .and_then(Value::as_array)
        .map(|items| {
            items
                .iter()
                .filter_map(|i| i.get(field).and_then(Value::as_str).map(str::to_owned))
                .collect()
        })
        .unwrap_or_default())
}
