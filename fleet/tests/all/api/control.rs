//! UpdateJob, `presignedUrlConfig`, CancelJob's `reasonCode`, and
//! DeleteJobExecution, through the HTTP API.

use super::*;

#[tokio::test]
async fn presigned_url_config_and_reason_code_round_trip() {
    let mut s = Server::start(None).await;
    let role = "arn:aws:iam::123456789012:role/JobsPresign";
    let body = json!({
        "targets": ["t1"],
        "document": "{}",
        "presignedUrlConfig": {"roleArn": role, "expiresInSec": 120},
    });
    let (status, _, _) = s.call(s.req(Method::PUT, "/jobs/j1").json(&body)).await;
    assert_eq!(status, StatusCode::OK);
    s.changed();
    let (_, _, got) = s.call(s.req(Method::GET, "/jobs/j1")).await;
    assert_eq!(
        got["job"]["presignedUrlConfig"],
        json!({"roleArn": role, "expiresInSec": 120})
    );
    for bad in [
        json!({"expiresInSec": 59}),
        json!({"expiresInSec": 3601}),
        json!({"roleArn": "short"}),
    ] {
        let body = json!({"targets": ["t1"], "document": "{}", "presignedUrlConfig": bad});
        assert_error(
            s.call(s.req(Method::PUT, "/jobs/j2").json(&body)).await,
            StatusCode::BAD_REQUEST,
            "InvalidRequestException",
        );
    }

    assert_error(
        s.call(
            s.req(Method::PUT, "/jobs/j1/cancel")
                .json(&json!({"reasonCode": "not-upper"})),
        )
        .await,
        StatusCode::BAD_REQUEST,
        "InvalidRequestException",
    );
    s.no_changes();
    let (status, _, reply) = s
        .call(
            s.req(Method::PUT, "/jobs/j1/cancel")
                .json(&json!({"reasonCode": "BAD_BUILD_42", "comment": "regressed boot"})),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{reply}");
    assert_eq!(reply["jobArn"], "arn:aws:iot:local:000000000000:job/j1");
    assert_eq!(s.changed(), ["t1"]);
    let (_, _, got) = s.call(s.req(Method::GET, "/jobs/j1")).await;
    assert_eq!(got["job"]["status"], "CANCELED");
    assert_eq!(got["job"]["reasonCode"], "BAD_BUILD_42");
    assert_eq!(got["job"]["comment"], "regressed boot");
}

#[tokio::test]
async fn update_job_changes_what_it_is_given() {
    let mut s = Server::start(None).await;
    let body = json!({
        "targets": ["t1"],
        "document": "{}",
        "description": "first",
        "timeoutConfig": {"inProgressTimeoutInMinutes": 30},
    });
    let (status, _, _) = s.call(s.req(Method::PUT, "/jobs/j1").json(&body)).await;
    assert_eq!(status, StatusCode::OK);
    s.changed();
    s.clock.store(T0 + 60, Ordering::SeqCst);
    let patch = json!({
        "description": "second",
        "presignedUrlConfig": {"expiresInSec": 900},
    });
    let (status, _, reply) = s.call(s.req(Method::PATCH, "/jobs/j1").json(&patch)).await;
    assert_eq!((status, reply), (StatusCode::OK, Value::Null));
    let (_, _, got) = s.call(s.req(Method::GET, "/jobs/j1")).await;
    let job = &got["job"];
    assert_eq!(job["description"], "second");
    assert_eq!(job["presignedUrlConfig"], json!({"expiresInSec": 900}));
    assert_eq!(job["timeoutConfig"]["inProgressTimeoutInMinutes"], 30);
    assert_eq!(job["lastUpdatedAt"], T0 + 60);

    let patch = json!({"timeoutConfig": {"inProgressTimeoutInMinutes": 5}});
    let (status, _, _) = s.call(s.req(Method::PATCH, "/jobs/j1").json(&patch)).await;
    assert_eq!(status, StatusCode::OK);
    let (_, _, got) = s.call(s.req(Method::GET, "/jobs/j1")).await;
    assert_eq!(got["job"]["timeoutConfig"]["inProgressTimeoutInMinutes"], 5);
    assert_eq!(got["job"]["description"], "second");

    assert_error(
        s.call(
            s.req(Method::PATCH, "/jobs/j1")
                .json(&json!({"timeoutConfig": {"inProgressTimeoutInMinutes": 0}})),
        )
        .await,
        StatusCode::BAD_REQUEST,
        "InvalidRequestException",
    );
    assert_error(
        s.call(
            s.req(Method::PATCH, "/jobs/nope")
                .json(&json!({"description": "x"})),
        )
        .await,
        StatusCode::NOT_FOUND,
        "ResourceNotFoundException",
    );
    assert_error(
        s.call(s.req(Method::PATCH, "/jobs/j1")).await,
        StatusCode::BAD_REQUEST,
        "InvalidRequestException",
    );
    // Updating a job changes no device's pending list.
    s.no_changes();
}

#[tokio::test]
async fn delete_job_execution_follows_aws_rules() {
    let mut s = Server::start(None).await;
    s.create("j1", &["a", "b", "c"]).await;
    s.changed();
    s.device_update("a", "j1", JobExecutionStatus::Succeeded, &[]);
    s.device_update("b", "j1", JobExecutionStatus::InProgress, &[]);
    // QUEUED: never; IN_PROGRESS: only with force.
    for (thing, query) in [("c", ""), ("c", "?force=true"), ("b", "")] {
        assert_error(
            s.call(delete(&s, thing, query)).await,
            StatusCode::CONFLICT,
            "InvalidStateTransitionException",
        );
    }
    s.no_changes();
    // Terminal: deleted, nobody's pending list changed.
    let (status, _, body) = s.call(delete(&s, "a", "")).await;
    assert_eq!((status, body), (StatusCode::OK, Value::Null));
    s.no_changes();
    assert_error(
        s.call(s.req(Method::GET, "/things/a/jobs/j1")).await,
        StatusCode::NOT_FOUND,
        "ResourceNotFoundException",
    );
    assert_error(
        s.call(delete(&s, "a", "")).await,
        StatusCode::NOT_FOUND,
        "ResourceNotFoundException",
    );
    // Forced IN_PROGRESS: the device is told, its pending list changed.
    let (status, _, _) = s.call(delete(&s, "b", "?force=true")).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(s.changed(), ["b"]);
    let (_, _, list) = s.call(s.req(Method::GET, "/jobs/j1/things")).await;
    let things: Vec<&str> = list["executionSummaries"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["thingArn"].as_str().unwrap())
        .collect();
    assert_eq!(things, ["arn:aws:iot:local:000000000000:thing/c"]);
    assert_error(
        s.call(s.req(Method::DELETE, "/things/c/jobs/j1/executionNumber/x"))
            .await,
        StatusCode::BAD_REQUEST,
        "InvalidRequestException",
    );
}

/// DeleteJobExecution of execution 1 of j1 on `thing`.
fn delete(s: &Server, thing: &str, query: &str) -> reqwest::RequestBuilder {
    s.req(
        Method::DELETE,
        &format!("/things/{thing}/jobs/j1/executionNumber/1{query}"),
    )
}
