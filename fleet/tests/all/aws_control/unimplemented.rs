//! AWS IoT operations jobhost-fleet does not implement: boto3 gets a typed
//! InvalidRequestException naming the operation (`unimplemented.py`), after
//! authentication; over plain HTTP, a path outside the model keeps its 404
//! and a method outside it its 405.

use super::{AwsControl, TOKEN};
use jobhost_fleet::api::ERROR_TYPE_HEADER;
use reqwest::{Method, StatusCode};
use serde_json::Value;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unimplemented_aws_operations_are_named_not_404() {
    let aws = AwsControl::start().await;
    aws.run(
        "unimplemented",
        &[
            "unimplemented_operations_are_named",
            "unimplemented_operations_need_credentials_first",
        ],
    )
    .await;

    let http = crate::support::http();
    let call = |method: Method, path: &str| {
        http.request(method, format!("{}{path}", aws.endpoint))
            .bearer_auth(TOKEN)
            .send()
    };
    let call_json = |method: Method, path: &str, body: &'static str| {
        http.request(method, format!("{}{path}", aws.endpoint))
            .bearer_auth(TOKEN)
            .header("content-type", "application/json")
            .body(body)
            .send()
    };
    let answer = |response: reqwest::Response| async move {
        let status = response.status();
        let kind = response.headers()[ERROR_TYPE_HEADER]
            .to_str()
            .unwrap()
            .to_owned();
        let body: Value = response.json().await.unwrap();
        (status, kind, body["message"].as_str().unwrap().to_owned())
    };

    // A greedy label: the ARN's slashes are part of the path.
    let (status, kind, message) = answer(
        call(
            Method::GET,
            "/destinations/arn:aws:iot:us-east-1:123456789012:ruledestination/http/abc",
        )
        .await
        .unwrap(),
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(kind, "InvalidRequestException");
    assert_eq!(
        message,
        "jobhost-fleet does not implement the AWS IoT operation GetTopicRuleDestination \
         (GET /destinations/{arn+})"
    );
    // An operation whose model allows only ValidationException gets it.
    let (status, kind, message) = answer(call(Method::GET, "/packages/p1").await.unwrap()).await;
    assert_eq!(
        (status, kind.as_str()),
        (StatusCode::BAD_REQUEST, "ValidationException")
    );
    assert!(message.contains("GetPackage "), "{message}");
    // An implemented operation is served by its handler, not named by the
    // fallback: UpdateJob on a job that does not exist is the handler's 404.
    // (Every model method of the paths served here is implemented now, so
    // the method-not-allowed fallback names none today.)
    let (status, kind, message) = answer(
        call_json(Method::PATCH, "/jobs/j1", r#"{"description":"d"}"#)
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(
        (status, kind.as_str()),
        (StatusCode::NOT_FOUND, "ResourceNotFoundException"),
        "{message}"
    );
    assert!(!message.contains("does not implement"), "{message}");

    // Outside the model: as before.
    let (status, kind, message) = answer(call(Method::GET, "/no/such/path").await.unwrap()).await;
    assert_eq!(
        (status, kind.as_str()),
        (StatusCode::NOT_FOUND, "ResourceNotFoundException")
    );
    assert_eq!(message, "no such route: GET /no/such/path");
    let (status, kind, _) = answer(call(Method::POST, "/jobs/j1").await.unwrap()).await;
    assert_eq!(
        (status, kind.as_str()),
        (StatusCode::METHOD_NOT_ALLOWED, "MethodNotAllowedException")
    );
    aws.stop().await;
}
