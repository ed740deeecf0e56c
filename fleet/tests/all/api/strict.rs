//! No setting is silently dropped: every member of AWS's request shapes
//! that is not implemented is refused with 400 InvalidRequestException
//! naming it, and so is anything that is not a member at all; and nothing
//! was created or changed by the refused request.

use super::*;

/// The error's message, after checking that it is a 400
/// InvalidRequestException.
fn refused(got: (StatusCode, Option<String>, Value)) -> String {
    let message = got.2["message"].as_str().unwrap_or_default().to_owned();
    assert_error(got, StatusCode::BAD_REQUEST, "InvalidRequestException");
    message
}

#[tokio::test]
async fn create_job_refuses_each_unimplemented_field_by_name() {
    let mut s = Server::start(None).await;
    // (rollout, abort, scheduling and retry are implemented: `rollouts::`.)
    let unimplemented = [
        ("namespaceId", json!("ns")),
        ("tags", json!([{"Key": "k", "Value": "v"}])),
        (
            "destinationPackageVersions",
            json!(["arn:aws:iot:us-east-1:1:package/p/version/1"]),
        ),
        ("documentSource", json!("https://s3.amazonaws.com/b/k")),
    ];
    for (field, value) in unimplemented {
        let mut body = json!({"targets": ["t1"], "document": "{}"});
        body[field] = value;
        let message = refused(s.call(s.req(Method::PUT, "/jobs/j1").json(&body)).await);
        assert!(
            message.contains(&format!("`{field}` is not supported yet")),
            "{field}: {message}"
        );
    }
    // Two at once: both named.
    let body = json!({"targets": ["t1"], "document": "{}", "tags": [], "namespaceId": "n"});
    let message = refused(s.call(s.req(Method::PUT, "/jobs/j1").json(&body)).await);
    assert!(
        message.contains("`tags`") && message.contains("`namespaceId`"),
        "{message}"
    );
    // Not a CreateJob field at all, at the top or nested.
    let not_fields = [
        json!({"targets": ["t1"], "document": "{}", "documnet": "{}"}),
        json!({"targets": ["t1"], "document": "{}", "jobId": "j1"}),
        json!({"targets": ["t1"], "document": "{}",
               "timeoutConfig": {"inProgressTimeoutInMinutes": 5, "stepTimeout": 1}}),
        json!({"targets": ["t1"], "document": "{}",
               "presignedUrlConfig": {"expiresInSec": 60, "ttl": 5}}),
    ];
    for (body, name) in not_fields
        .iter()
        .zip(["documnet", "jobId", "stepTimeout", "ttl"])
    {
        let message = refused(s.call(s.req(Method::PUT, "/jobs/j1").json(body)).await);
        assert!(message.contains(name), "{name}: {message}");
    }
    let (status, _, _) = s.call(s.req(Method::GET, "/jobs/j1")).await;
    assert_eq!(
        status,
        StatusCode::NOT_FOUND,
        "no refused request made a job"
    );
    s.no_changes();
}

#[tokio::test]
async fn update_cancel_and_cancel_execution_bodies_are_strict_too() {
    let mut s = Server::start(None).await;
    s.create("j1", &["t1"]).await;
    s.changed();
    // (jobExecutionsRetryConfig is implemented, down to 0: `rollouts::`.)
    for field in ["jobExecutionsRolloutConfig", "abortConfig"] {
        let body = json!({ "description": "new", field: {} });
        let message = refused(s.call(s.req(Method::PATCH, "/jobs/j1").json(&body)).await);
        assert!(
            message.contains(&format!("UpdateJob: `{field}` is not supported yet")),
            // Fixed at creation: CreateJob takes them, UpdateJob not yet.
            "{message}"
        );
    }
    // schedulingConfig is not an UpdateJob field in AWS's model.
    let message = refused(
        s.call(
            s.req(Method::PATCH, "/jobs/j1")
                .json(&json!({"schedulingConfig": {}})),
        )
        .await,
    );
    assert!(
        message.contains("`schedulingConfig` is not a field"),
        "{message}"
    );
    let message = refused(
        s.call(
            s.req(Method::PATCH, "/jobs/j1?namespaceId=ns")
                .json(&json!({"description": "new"})),
        )
        .await,
    );
    assert!(message.contains("`namespaceId`"), "{message}");
    let (_, _, job) = s.call(s.req(Method::GET, "/jobs/j1")).await;
    assert!(
        job["job"].get("description").is_none(),
        "a refused UpdateJob changed nothing: {job}"
    );

    let message = refused(
        s.call(
            s.req(Method::PUT, "/jobs/j1/cancel")
                .json(&json!({"reason": "x"})),
        )
        .await,
    );
    assert!(message.contains("`reason`"), "{message}");
    let message = refused(
        s.call(
            s.req(Method::PUT, "/things/t1/jobs/j1/cancel")
                .json(&json!({"statusDetails": {"k": "v"}})),
        )
        .await,
    );
    assert!(
        message.contains("`statusDetails` is not supported yet"),
        "{message}"
    );
    let (_, _, job) = s.call(s.req(Method::GET, "/jobs/j1")).await;
    assert_eq!(job["job"]["status"], "IN_PROGRESS");
    s.no_changes();
}

#[tokio::test]
async fn query_parameters_are_refused_by_name_when_not_implemented() {
    let s = Server::start(None).await;
    s.create("j1", &["t1"]).await;
    for (path, name) in [
        ("/jobs?namespaceId=ns", "namespaceId"),
        ("/jobs?colour=red", "colour"),
        ("/things/t1/jobs?namespaceId=ns", "namespaceId"),
        ("/things/t1/jobs?limit=3", "limit"),
        ("/jobs/j1/things?jobId=j1", "jobId"),
        ("/jobs/j1?verbose=true", "verbose"),
        ("/jobs/j1/job-document?raw=1", "raw"),
        ("/managed-job-templates?environment=LINUX", "environment"),
    ] {
        let message = refused(s.call(s.req(Method::GET, path)).await);
        assert!(message.contains(name), "{path}: {message}");
    }
    for (method, path) in [
        (Method::DELETE, "/jobs/j1?namespaceId=ns"),
        (
            Method::DELETE,
            "/things/t1/jobs/j1/executionNumber/1?namespaceId=ns",
        ),
        (Method::PUT, "/jobs/j1/cancel?reasonCode=X"),
    ] {
        let message = refused(s.call(s.req(method.clone(), path)).await);
        assert!(
            message.contains("namespaceId") || message.contains("reasonCode"),
            "{method} {path}: {message}"
        );
    }
    // Thing groups are implemented: ListJobs' group filters are accepted
    // (no job targets a group g).
    for path in ["/jobs?thingGroupName=g", "/jobs?thingGroupId=g-1"] {
        let (status, _, list) = s.call(s.req(Method::GET, path)).await;
        assert_eq!(status, StatusCode::OK, "{path}: {list}");
        assert_eq!(list["jobs"], json!([]), "{path}");
    }
    let (_, _, job) = s.call(s.req(Method::GET, "/jobs/j1")).await;
    assert_eq!(job["job"]["status"], "IN_PROGRESS");
}
