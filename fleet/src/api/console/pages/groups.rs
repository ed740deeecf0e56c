//! Thing groups: the list (ListThingGroups), creating a static group
//! (CreateThingGroup), a group's members (ListThingsInThingGroup), adding
//! and removing one (AddThingToThingGroup, RemoveThingFromThingGroup).

use super::super::csrf::{Change, Fields};
use super::super::dispatch::{self, encode, ApiFailure};
use super::super::html::{self, Section};
use super::super::session::Operator;
use super::login::redirect;
use axum::extract::Path;
use axum::http::{Method, StatusCode};
use axum::response::{IntoResponse, Response};
use maud::html;
use serde_json::{json, Value};

/// `GET /console/groups`.
pub(in super::super) async fn list(op: Operator) -> Response {
    render_list(&op, &Fields::default(), None).await
}

/// `POST /console/groups`: CreateThingGroup.
pub(in super::super) async fn create(change: Change) -> Response {
    let Change { operator, fields } = change;
    let name = fields.get("name");
    let body = json!({});
    match dispatch::send(
        &operator.api,
        Method::POST,
        &format!("/thing-groups/{}", encode(name)),
        Some(&body),
    )
    .await
    {
        Ok(_) => redirect(&format!("/console/groups/{}", encode(name))),
        Err(e) => render_list(&operator, &fields, Some(e)).await,
    }
}

async fn render_list(op: &Operator, f: &Fields, error: Option<ApiFailure>) -> Response {
    let groups = dispatch::get(&op.api, "/thing-groups").await;
    let code = error.as_ref().map(|e| e.status).unwrap_or(StatusCode::OK);
    let body = html! {
        @if let Some(e) = &error { (html::failure(e)) }
        @match &groups {
            Err(e) => (html::failure(e)),
            Ok(g) => {
                @let names: Vec<&str> = g.get("thingGroups").and_then(Value::as_array).map(|a| a.iter().filter_map(|x| x.get("groupName").and_then(Value::as_str)).collect()).unwrap_or_default();
                @if names.is_empty() { p { "No groups yet." } }
                ul { @for n in &names { li { a href={"/console/groups/" (encode(n))} { (n) } } } }
            }
        }
        h2 { "Create a static group" }
        form.inline method="post" action="/console/groups" {
            (html::csrf_field(&op.session))
            div {
                label for="name" { "Group name" }
                input #name type="text" name="name" required value=(f.get("name"));
            }
            div { button type="submit" { "Create group" } }
        }
    };
    (
        code,
        html::page("Groups", Section::Groups, &op.session, body),
    )
        .into_response()
}

/// `GET /console/groups/{name}`.
pub(in super::super) async fn page(op: Operator, Path(name): Path<String>) -> Response {
    render_group(&op, &name, &Fields::default(), None).await
}

/// `POST /console/groups/{name}/members`: add (`action=add`) or remove
/// (`action=remove`) the thing in `thing`.
pub(in super::super) async fn members(Path(name): Path<String>, change: Change) -> Response {
    let Change { operator, fields } = change;
    let path = if fields.get("action") == "remove" {
        "/thing-groups/removeThingFromThingGroup"
    } else {
        "/thing-groups/addThingToThingGroup"
    };
    let body = json!({ "thingGroupName": name, "thingName": fields.get("thing") });
    match dispatch::send(&operator.api, Method::PUT, path, Some(&body)).await {
        Ok(_) => redirect(&format!("/console/groups/{}", encode(&name))),
        Err(e) => render_group(&operator, &name, &fields, Some(e)).await,
    }
}

async fn render_group(
    op: &Operator,
    name: &str,
    f: &Fields,
    error: Option<ApiFailure>,
) -> Response {
    let group = match dispatch::get(&op.api, &format!("/thing-groups/{}", encode(name))).await {
        Ok(g) => g,
        Err(e) => {
            let code = e.status;
            return (
                code,
                html::page("Group", Section::Groups, &op.session, html::failure(&e)),
            )
                .into_response();
        }
    };
    let members = dispatch::get(&op.api, &format!("/thing-groups/{}/things", encode(name))).await;
    let code = error.as_ref().map(|e| e.status).unwrap_or(StatusCode::OK);
    let dynamic = group.get("queryString").and_then(Value::as_str);
    let body = html! {
        @if let Some(e) = &error { (html::failure(e)) }
        @if let Some(q) = dynamic { p { "Dynamic group, query " code { (q) } } }
        h2 { "Members" }
        @match &members {
            Err(e) => (html::failure(e)),
            Ok(m) => {
                @let names: Vec<&str> = m.get("things").and_then(Value::as_array).map(|a| a.iter().filter_map(Value::as_str).collect()).unwrap_or_default();
                @if names.is_empty() { p { "No members." } }
                ul {
                    @for n in &names {
                        li {
                            a href={"/console/things/" (encode(n))} { (n) }
                            @if dynamic.is_none() {
                                form.inline method="post" action={"/console/groups/" (encode(name)) "/members"} {
                                    (html::csrf_field(&op.session))
                                    input type="hidden" name="thing" value=(n);
                                    button.secondary type="submit" name="action" value="remove" aria-label={"Remove " (n)} { "Remove" }
                                }
                            }
                        }
                    }
                }
            }
        }
        @if dynamic.is_none() {
            h2 { "Add a thing" }
            form.inline method="post" action={"/console/groups/" (encode(name)) "/members"} {
                (html::csrf_field(&op.session))
                div {
                    label for="thing" { "Thing name" }
                    input #thing type="text" name="thing" required value=(f.get("thing"));
                }
                div { button type="submit" name="action" value="add" { "Add" } }
            }
        }
    };
    (
        code,
        html::page(&format!("Group {name}"), Section::Groups, &op.session, body),
    )
        .into_response()
}
