//! CreateJob, DescribeJob, ListJobs, GetJobDocument and their errors.

use super::*;

#[tokio::test]
async fn jobs_are_created_described_listed_and_their_document_returned_raw() {
    let mut s = Server::start(None).await;
    let url = format!("{}/artifacts/fw.bin", s.base);
    let doc = json!({"operation": "install", "url": placeholder(&url)}).to_string();
    let body = json!({
        "targets": ["dev-a", "arn:aws:iot:eu-west-1:123:thing/dev-b"],
        "document": doc,
        "description": "roll out fw",
        "timeoutConfig": {"inProgressTimeoutInMinutes": 30},
    });
    let (status, _, created) = s.call(s.req(Method::PUT, "/jobs/job-1").json(&body)).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        created,
        json!({"jobArn": "arn:aws:iot:local:000000000000:job/job-1", "jobId": "job-1", "description": "roll out fw"})
    );
    assert_eq!(s.changed(), ["dev-a", "dev-b"]);

    // A document given as an object is accepted too.
    let obj = json!({"targets": ["dev-c"], "document": {"operation": "echo"}});
    let (status, _, _) = s.call(s.req(Method::PUT, "/jobs/job-2").json(&obj)).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(s.changed(), ["dev-c"]);

    let (status, _, described) = s.call(s.req(Method::GET, "/jobs/job-1")).await;
    assert_eq!(status, StatusCode::OK);
    let job = &described["job"];
    assert_eq!(job["jobArn"], "arn:aws:iot:local:000000000000:job/job-1");
    assert_eq!(job["status"], "IN_PROGRESS");
    // Targets come back as ARNs, of this service's region and account.
    assert_eq!(
        job["targets"],
        json!([
            "arn:aws:iot:local:000000000000:thing/dev-a",
            "arn:aws:iot:local:000000000000:thing/dev-b"
        ])
    );
    assert_eq!(job["targetSelection"], "SNAPSHOT");
    assert_eq!(job["createdAt"], T0);
    assert_eq!(job["timeoutConfig"]["inProgressTimeoutInMinutes"], 30);
    assert_eq!(job["jobProcessDetails"]["numberOfQueuedThings"], 2);

    let (_, _, listed) = s.call(s.req(Method::GET, "/jobs")).await;
    let ids: Vec<&str> = listed["jobs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|j| j["jobId"].as_str().unwrap())
        .collect();
    assert_eq!(ids, ["job-1", "job-2"]);
    assert_eq!(
        listed["jobs"][0]["jobArn"],
        "arn:aws:iot:local:000000000000:job/job-1"
    );
    let (_, _, listed) = s.call(s.req(Method::GET, "/jobs?status=COMPLETED")).await;
    assert_eq!(listed["jobs"], json!([]));

    // GetJobDocument: a string, placeholder untouched.
    let (status, _, got) = s.call(s.req(Method::GET, "/jobs/job-1/job-document")).await;
    assert_eq!(status, StatusCode::OK);
    let text = got["document"].as_str().unwrap();
    let parsed: Value = serde_json::from_str(text).unwrap();
    assert_eq!(parsed["url"], placeholder(&url).as_str());
    s.no_changes();
}

#[tokio::test]
async fn job_errors_have_aws_statuses_and_names() {
    let mut s = Server::start(None).await;
    s.create("dup", &["t"]).await;
    s.changed();
    let put = |id: &str, body: Value| s.req(Method::PUT, &format!("/jobs/{id}")).json(&body);
    let ok_body = json!({"targets": ["t"], "document": "{}"});
    use StatusCode as S;
    assert_error(
        s.call(put("dup", ok_body.clone())).await,
        S::CONFLICT,
        "ResourceAlreadyExistsException",
    );
    assert_error(
        s.call(put("bad.id", ok_body.clone())).await,
        S::BAD_REQUEST,
        "InvalidRequestException",
    );
    assert_error(
        s.call(put("j", json!({"targets": ["t"], "document": "{nope"})))
            .await,
        S::BAD_REQUEST,
        "InvalidRequestException",
    );
    assert_error(
        s.call(put("j", json!({"targets": ["t"], "document": "[1]"})))
            .await,
        S::BAD_REQUEST,
        "InvalidRequestException",
    );
    assert_error(
        s.call(put("j", json!({"targets": ["t"]}))).await,
        S::BAD_REQUEST,
        "InvalidRequestException",
    );
    assert_error(
        s.call(put("j", json!({"targets": [], "document": "{}"})))
            .await,
        S::BAD_REQUEST,
        "InvalidRequestException",
    );
    assert_error(
        s.call(put("j", json!({"targets": ["t"], "document": "{}", "timeoutConfig": {"inProgressTimeoutInMinutes": 0}}))).await,
        S::BAD_REQUEST,
        "InvalidRequestException",
    );
    assert_error(
        s.call(put(
            "j",
            json!({"targets": ["t"], "documentSource": "https://s3.amazonaws.com/b/k"}),
        ))
        .await,
        S::BAD_REQUEST,
        "InvalidRequestException",
    );
    assert_error(
        s.call(s.req(Method::PUT, "/jobs/j").body("not json")).await,
        S::BAD_REQUEST,
        "InvalidRequestException",
    );
    assert_error(
        s.call(s.req(Method::GET, "/jobs?status=BOGUS")).await,
        S::BAD_REQUEST,
        "InvalidRequestException",
    );
    assert_error(
        s.call(s.req(Method::GET, "/jobs/missing")).await,
        S::NOT_FOUND,
        "ResourceNotFoundException",
    );
    assert_error(
        s.call(s.req(Method::GET, "/jobs/missing/job-document"))
            .await,
        S::NOT_FOUND,
        "ResourceNotFoundException",
    );
    assert_error(
        s.call(s.req(Method::PUT, "/jobs/missing/cancel")).await,
        S::NOT_FOUND,
        "ResourceNotFoundException",
    );
    assert_error(
        s.call(s.req(Method::DELETE, "/jobs/missing")).await,
        S::NOT_FOUND,
        "ResourceNotFoundException",
    );
    assert_error(
        s.call(s.req(Method::PUT, "/jobs/dup/cancel?force=maybe"))
            .await,
        S::BAD_REQUEST,
        "InvalidRequestException",
    );
    assert_error(
        s.call(s.req(Method::GET, "/nowhere")).await,
        S::NOT_FOUND,
        "ResourceNotFoundException",
    );
    assert_error(
        s.call(s.req(Method::POST, "/jobs/dup")).await,
        S::METHOD_NOT_ALLOWED,
        "MethodNotAllowedException",
    );
    s.no_changes();
}
