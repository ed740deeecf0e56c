//! Custom job templates through the HTTP API: CreateJobTemplate,
//! DescribeJobTemplate, ListJobTemplates (paged) and DeleteJobTemplate at
//! AWS's paths; CreateJob from a template (its document and settings,
//! CreateJob's own fields over them, `documentParameters`); a job that
//! outlives its template; and the refusals, each naming its field.

use super::*;

/// A document as an operator writes one: spacing and key order kept.
const DOCUMENT: &str = "{ \"operation\": \"install\",\n  \"version\": \"2.0\" }";

const WINDOW: &str = "cron(0 2 ? * SUN *)";

/// Every setting a template takes, as AWS shapes them.
fn full_template() -> Value {
    json!({
        "description": "firmware 2.0 for the fleet",
        "document": DOCUMENT,
        "timeoutConfig": {"inProgressTimeoutInMinutes": 30},
        "presignedUrlConfig": {"expiresInSec": 120,
                               "roleArn": "arn:aws:iam::123456789012:role/download"},
        "jobExecutionsRolloutConfig": {"maximumPerMinute": 10},
        "abortConfig": {"criteriaList": [{"failureType": "FAILED", "action": "CANCEL",
                                          "thresholdPercentage": 50.0,
                                          "minNumberOfExecutedThings": 4}]},
        "jobExecutionsRetryConfig": {"criteriaList": [{"failureType": "FAILED",
                                                       "numberOfRetries": 2}]},
        "maintenanceWindows": [{"startTime": WINDOW, "durationInMinutes": 120}],
    })
}

impl Server {
    async fn put_template(&self, id: &str, body: &Value) -> (StatusCode, Option<String>, Value) {
        self.call(
            self.req(Method::PUT, &format!("/job-templates/{id}"))
                .json(body),
        )
        .await
    }

    async fn template(&self, id: &str, body: Value) -> String {
        let (status, _, reply) = self.put_template(id, &body).await;
        assert_eq!(status, StatusCode::OK, "{reply}");
        reply["jobTemplateArn"].as_str().unwrap().to_owned()
    }

    async fn job_from(&self, id: &str, body: Value) -> Value {
        let (status, _, reply) = self
            .call(self.req(Method::PUT, &format!("/jobs/{id}")).json(&body))
            .await;
        assert_eq!(status, StatusCode::OK, "{reply}");
        let (_, _, described) = self
            .call(self.req(Method::GET, &format!("/jobs/{id}")))
            .await;
        described["job"].clone()
    }
}

#[tokio::test]
async fn templates_are_created_described_listed_and_deleted() {
    let s = Server::start(Some(TOKEN)).await;
    let (status, _, created) = s.put_template("fw-2_0", &full_template()).await;
    assert_eq!(status, StatusCode::OK, "{created}");
    let arn = "arn:aws:iot:local:000000000000:jobtemplate/fw-2_0";
    assert_eq!(
        created,
        json!({"jobTemplateArn": arn, "jobTemplateId": "fw-2_0"})
    );

    let (status, _, described) = s.call(s.req(Method::GET, "/job-templates/fw-2_0")).await;
    assert_eq!(status, StatusCode::OK, "{described}");
    let mut expected = full_template();
    expected["jobTemplateArn"] = json!(arn);
    expected["jobTemplateId"] = json!("fw-2_0");
    expected["createdAt"] = json!(T0);
    // The document is the string as sent, byte for byte; every setting as
    // given.
    assert_eq!(described, expected);

    let (_, _, listed) = s.call(s.req(Method::GET, "/job-templates")).await;
    assert_eq!(
        listed,
        json!({"jobTemplates": [{"jobTemplateArn": arn, "jobTemplateId": "fw-2_0",
                                 "description": "firmware 2.0 for the fleet", "createdAt": T0}]})
    );
    // The managed templates keep their own list.
    let (_, _, managed) = s.call(s.req(Method::GET, "/managed-job-templates")).await;
    assert_eq!(managed["managedJobTemplates"].as_array().unwrap().len(), 8);

    // The id is taken: AWS's model has ConflictException for it.
    let again = json!({"description": "other", "document": "{}"});
    assert_error(
        s.put_template("fw-2_0", &again).await,
        StatusCode::CONFLICT,
        "ConflictException",
    );

    let (status, _, body) = s.call(s.req(Method::DELETE, "/job-templates/fw-2_0")).await;
    assert_eq!((status, body), (StatusCode::OK, Value::Null));
    for method in [Method::GET, Method::DELETE] {
        assert_error(
            s.call(s.req(method, "/job-templates/fw-2_0")).await,
            StatusCode::NOT_FOUND,
            "ResourceNotFoundException",
        );
    }
    let (_, _, listed) = s.call(s.req(Method::GET, "/job-templates")).await;
    assert_eq!(listed, json!({"jobTemplates": []}));
    // The id is free again.
    s.template("fw-2_0", again).await;
}

#[tokio::test]
async fn list_job_templates_pages_in_creation_order() {
    let s = Server::start(None).await;
    for i in 0..5 {
        s.template(
            &format!("t{i}"),
            json!({"description": "d", "document": "{}"}),
        )
        .await;
    }
    let mut seen = Vec::new();
    let mut token: Option<String> = None;
    let mut pages = 0;
    loop {
        let mut path = "/job-templates?maxResults=2".to_owned();
        if let Some(t) = &token {
            path.push_str(&format!("&nextToken={t}"));
        }
        let (status, _, page) = s.call(s.req(Method::GET, &path)).await;
        assert_eq!(status, StatusCode::OK, "{page}");
        pages += 1;
        for t in page["jobTemplates"].as_array().unwrap() {
            seen.push(t["jobTemplateId"].as_str().unwrap().to_owned());
        }
        if pages == 1 {
            // Deleted between two pages: the walk goes on after it.
            s.call(s.req(Method::DELETE, "/job-templates/t1")).await;
        }
        match page.get("nextToken") {
            Some(t) => token = Some(t.as_str().unwrap().to_owned()),
            None => break,
        }
    }
    assert_eq!(seen, ["t0", "t1", "t2", "t3", "t4"]);
    assert_eq!(pages, 3);

    // A job list's token is not a template list's; nor is garbage.
    s.create("j1", &["a"]).await;
    s.create("j2", &["a"]).await;
    let (_, _, jobs) = s.call(s.req(Method::GET, "/jobs?maxResults=1")).await;
    let foreign = jobs["nextToken"].as_str().unwrap();
    for path in [
        format!("/job-templates?nextToken={foreign}"),
        "/job-templates?nextToken=zz".to_owned(),
        "/job-templates?maxResults=0".to_owned(),
        "/job-templates?maxResults=251".to_owned(),
        "/job-templates?templateName=t0".to_owned(),
    ] {
        assert_error(
            s.call(s.req(Method::GET, &path)).await,
            StatusCode::BAD_REQUEST,
            "InvalidRequestException",
        );
    }
}

#[tokio::test]
async fn a_job_from_a_template_takes_its_document_and_settings() {
    let mut s = Server::start(None).await;
    let arn = s.template("fw", full_template()).await;
    let job = s
        .job_from(
            "fw-a",
            json!({"targets": ["dev-1", "dev-2"], "jobTemplateArn": arn}),
        )
        .await;
    assert_eq!(job["jobTemplateArn"], json!(arn));
    assert_eq!(job["description"], "firmware 2.0 for the fleet");
    assert_eq!(
        job["document"],
        json!({"operation": "install", "version": "2.0"})
    );
    let template = full_template();
    for field in [
        "timeoutConfig",
        "presignedUrlConfig",
        "jobExecutionsRolloutConfig",
        "abortConfig",
        "jobExecutionsRetryConfig",
    ] {
        assert_eq!(job[field], template[field], "{field}");
    }
    assert_eq!(
        job["schedulingConfig"],
        json!({"maintenanceWindows": template["maintenanceWindows"]})
    );
    // GetJobDocument: the template's text as it was sent.
    let (_, _, document) = s.call(s.req(Method::GET, "/jobs/fw-a/job-document")).await;
    assert_eq!(document["document"], DOCUMENT);
    // Outside its maintenance window (T0 is a Tuesday), nobody is told yet.
    assert_eq!(job["status"], "SCHEDULED");
    s.no_changes();

    // The bare id works too (a jobhost extension, as for managed names).
    let job = s
        .job_from(
            "fw-b",
            json!({"targets": ["dev-1"], "jobTemplateArn": "fw"}),
        )
        .await;
    assert_eq!(job["jobTemplateArn"], json!(arn));
    // And any region or account in the ARN, as with thing ARNs.
    let job = s
        .job_from(
            "fw-c",
            json!({"targets": ["dev-1"],
                   "jobTemplateArn": "arn:aws:iot:eu-west-1:123456789012:jobtemplate/fw"}),
        )
        .await;
    assert_eq!(job["jobTemplateArn"], json!(arn));
}

#[tokio::test]
async fn create_job_fields_override_the_templates() {
    let mut s = Server::start(None).await;
    let arn = s.template("fw", full_template()).await;
    let job = s
        .job_from(
            "fw-own",
            json!({
                "targets": ["dev-1"],
                "jobTemplateArn": arn,
                "description": "just dev-1",
                // A timeoutConfig without a timeout: this job has none.
                "timeoutConfig": {},
                "presignedUrlConfig": {"expiresInSec": 600},
                "abortConfig": {"criteriaList": [{"failureType": "ALL", "action": "CANCEL",
                                                  "thresholdPercentage": 10.0,
                                                  "minNumberOfExecutedThings": 1}]},
                "jobExecutionsRetryConfig": {"criteriaList": [{"failureType": "TIMED_OUT",
                                                               "numberOfRetries": 1}]},
                // Its own windows replace the template's.
                "schedulingConfig": {"maintenanceWindows": [
                    {"startTime": "cron(0 * * * ? *)", "durationInMinutes": 59}]},
            }),
        )
        .await;
    assert_eq!(job["description"], "just dev-1");
    assert!(job.get("timeoutConfig").is_none(), "{job}");
    assert_eq!(job["presignedUrlConfig"], json!({"expiresInSec": 600}));
    assert_eq!(job["abortConfig"]["criteriaList"][0]["failureType"], "ALL");
    assert_eq!(
        job["jobExecutionsRetryConfig"]["criteriaList"][0]["failureType"],
        "TIMED_OUT"
    );
    assert_eq!(
        job["schedulingConfig"]["maintenanceWindows"],
        json!([{"startTime": "cron(0 * * * ? *)", "durationInMinutes": 59}])
    );
    // Not given: the template's.
    assert_eq!(
        job["jobExecutionsRolloutConfig"],
        json!({"maximumPerMinute": 10})
    );
    // An hourly window is open now: the target was released.
    assert_eq!(job["status"], "IN_PROGRESS");
    assert_eq!(s.changed(), ["dev-1"]);

    // A schedulingConfig with only an end time keeps the template's windows.
    let job = s
        .job_from(
            "fw-end",
            json!({"targets": ["dev-1"], "jobTemplateArn": arn,
                   "schedulingConfig": {"endTime": "2023-11-30T00:00"}}),
        )
        .await;
    assert_eq!(
        job["schedulingConfig"],
        json!({"endTime": "2023-11-30T00:00",
               "maintenanceWindows": [{"startTime": WINDOW, "durationInMinutes": 120}]})
    );

    // An override is checked as any CreateJob field is.
    let bad = json!({"targets": ["dev-1"], "jobTemplateArn": arn,
                     "jobExecutionsRolloutConfig": {"maximumPerMinute": 0}});
    let got = s.call(s.req(Method::PUT, "/jobs/bad").json(&bad)).await;
    assert!(
        got.2["message"]
            .as_str()
            .unwrap()
            .contains("jobExecutionsRolloutConfig.maximumPerMinute"),
        "{}",
        got.2
    );
    assert_error(got, StatusCode::BAD_REQUEST, "InvalidRequestException");
    // The document is the template's only.
    let both = json!({"targets": ["dev-1"], "jobTemplateArn": arn, "document": "{}"});
    assert_error(
        s.call(s.req(Method::PUT, "/jobs/both").json(&both)).await,
        StatusCode::BAD_REQUEST,
        "InvalidRequestException",
    );
    let (status, _, _) = s.call(s.req(Method::GET, "/jobs/bad")).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn document_parameters_fill_a_custom_templates_placeholders() {
    let s = Server::start(None).await;
    let text = r#"{"operation":"install","url":"${aws:iot:parameter:url}","note":"v${aws:iot:parameter:version}"}"#;
    let arn = s
        .template(
            "install",
            json!({"description": "install", "document": text}),
        )
        .await;
    let job = s
        .job_from(
            "i1",
            json!({"targets": ["dev-1"], "jobTemplateArn": arn,
                   "documentParameters": {"url": "http://x/\"}, \"evil\": {\"", "version": "2"}}),
        )
        .await;
    // A value is a string's content: it cannot add structure.
    assert_eq!(
        job["document"],
        json!({"operation": "install", "url": "http://x/\"}, \"evil\": {\"", "note": "v2"})
    );
    assert_eq!(
        job["documentParameters"],
        json!({"url": "http://x/\"}, \"evil\": {\"", "version": "2"})
    );
    let (_, _, before) = s
        .call(s.req(Method::GET, "/jobs/i1/job-document?beforeSubstitution=true"))
        .await;
    assert_eq!(before["document"], text);

    for (parameters, expected) in [
        (json!({"url": "u"}), "needs \"version\""),
        (json!(null), "needs \"url\""),
        (
            json!({"url": "u", "version": "2", "extra": "x"}),
            "has no parameter \"extra\"",
        ),
        (
            json!({"url": "u", "version": ""}),
            "\"version\" is 0 characters",
        ),
        (json!({"url": "a\nb", "version": "2"}), "control character"),
    ] {
        let mut body = json!({"targets": ["dev-1"], "jobTemplateArn": arn});
        if !parameters.is_null() {
            body["documentParameters"] = parameters;
        }
        let got = s.call(s.req(Method::PUT, "/jobs/i2").json(&body)).await;
        let message = got.2["message"].as_str().unwrap_or_default().to_owned();
        assert_error(got, StatusCode::BAD_REQUEST, "InvalidRequestException");
        assert!(
            message.starts_with("documentParameters: ") && message.contains(expected),
            "{expected}: {message}"
        );
    }
}

#[tokio::test]
async fn a_job_runs_on_after_its_template_is_deleted() {
    let mut s = Server::start(None).await;
    let arn = s
        .template(
            "once",
            json!({"description": "d", "document": DOCUMENT,
                                 "timeoutConfig": {"inProgressTimeoutInMinutes": 5}}),
        )
        .await;
    s.job_from("kept", json!({"targets": ["dev-1"], "jobTemplateArn": arn}))
        .await;
    assert_eq!(s.changed(), ["dev-1"]);
    let (status, _, _) = s.call(s.req(Method::DELETE, "/job-templates/once")).await;
    assert_eq!(status, StatusCode::OK);

    s.device_update("dev-1", "kept", JobExecutionStatus::InProgress, &[]);
    s.device_update("dev-1", "kept", JobExecutionStatus::Succeeded, &[]);
    let (_, _, described) = s.call(s.req(Method::GET, "/jobs/kept")).await;
    let job = &described["job"];
    assert_eq!(job["status"], "COMPLETED");
    assert_eq!(job["jobTemplateArn"], json!(arn));
    assert_eq!(job["timeoutConfig"]["inProgressTimeoutInMinutes"], 5);
    let (_, _, document) = s.call(s.req(Method::GET, "/jobs/kept/job-document")).await;
    assert_eq!(document["document"], DOCUMENT);

    // A new job from it cannot be made: 404, by ARN or by id.
    for reference in [arn.as_str(), "once"] {
        let body = json!({"targets": ["dev-1"], "jobTemplateArn": reference});
        let got = s.call(s.req(Method::PUT, "/jobs/later").json(&body)).await;
        let message = got.2["message"].as_str().unwrap_or_default().to_owned();
        assert_error(got, StatusCode::NOT_FOUND, "ResourceNotFoundException");
        assert!(
            message.contains("\"once\"") && message.contains("no custom job template has this id"),
            "{message}"
        );
    }
}

#[tokio::test]
async fn a_template_copies_a_job_named_by_its_arn() {
    let s = Server::start(None).await;
    let body = json!({
        "targets": ["dev-1"],
        "document": DOCUMENT,
        "timeoutConfig": {"inProgressTimeoutInMinutes": 15},
        "presignedUrlConfig": {"expiresInSec": 300},
        "jobExecutionsRetryConfig": {"criteriaList": [{"failureType": "ALL",
                                                       "numberOfRetries": 3}]},
        "schedulingConfig": {"endTime": "2023-11-30T00:00",
                             "maintenanceWindows": [{"startTime": WINDOW,
                                                     "durationInMinutes": 60}]},
    });
    let (status, _, _) = s.call(s.req(Method::PUT, "/jobs/src").json(&body)).await;
    assert_eq!(status, StatusCode::OK);
    s.template(
        "copy",
        json!({"description": "from src",
               "jobArn": "arn:aws:iot:local:000000000000:job/src",
               "timeoutConfig": {"inProgressTimeoutInMinutes": 60}}),
    )
    .await;
    let (_, _, t) = s.call(s.req(Method::GET, "/job-templates/copy")).await;
    assert_eq!(t["document"], DOCUMENT);
    assert_eq!(t["description"], "from src");
    // Given here: replaces the job's.
    assert_eq!(
        t["timeoutConfig"],
        json!({"inProgressTimeoutInMinutes": 60})
    );
    // Copied; the job's end time is the job's own, not a template's.
    assert_eq!(t["presignedUrlConfig"], body["presignedUrlConfig"]);
    assert_eq!(
        t["jobExecutionsRetryConfig"],
        body["jobExecutionsRetryConfig"]
    );
    assert_eq!(
        t["maintenanceWindows"],
        body["schedulingConfig"]["maintenanceWindows"]
    );
    assert!(t.get("schedulingConfig").is_none(), "{t}");

    let unknown = json!({"description": "d",
                         "jobArn": "arn:aws:iot:local:000000000000:job/nope"});
    assert_error(
        s.put_template("t2", &unknown).await,
        StatusCode::NOT_FOUND,
        "ResourceNotFoundException",
    );
    for bad in [
        json!({"description": "d", "jobArn": "src"}),
        json!({"description": "d", "jobArn": "arn:aws:iot:local:0:thing/src"}),
        json!({"description": "d", "document": "{}",
               "jobArn": "arn:aws:iot:local:000000000000:job/src"}),
        json!({"description": "d"}),
    ] {
        assert_error(
            s.put_template("t2", &bad).await,
            StatusCode::BAD_REQUEST,
            "InvalidRequestException",
        );
    }
    let (status, _, _) = s.call(s.req(Method::GET, "/job-templates/t2")).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn create_job_template_refuses_what_it_does_not_take_by_name() {
    let s = Server::start(None).await;
    let base = || json!({"description": "d", "document": "{}"});
    let cases: Vec<(Value, &str)> = vec![
        (
            json!({"tags": [{"Key": "k", "Value": "v"}]}),
            "CreateJobTemplate: `tags` is not supported yet",
        ),
        (
            json!({"documentSource": "https://s3.amazonaws.com/b/k"}),
            "CreateJobTemplate: `documentSource` is not supported yet",
        ),
        (
            json!({"destinationPackageVersions": ["arn:aws:iot:us-east-1:1:package/p/version/1"]}),
            "CreateJobTemplate: `destinationPackageVersions` is not supported yet",
        ),
        (
            json!({"documentParameters": {"a": "b"}}),
            "CreateJobTemplate: `documentParameters` is not a field of its request",
        ),
        (
            json!({"targets": ["dev-1"]}),
            "CreateJobTemplate: `targets` is not a field of its request",
        ),
        (
            json!({"timeoutConfig": {"inProgressTimeoutInMinutes": 0}}),
            "inProgressTimeoutInMinutes 0 is outside 1-10080",
        ),
        (
            json!({"presignedUrlConfig": {"expiresInSec": 5}}),
            "presignedUrlConfig.expiresInSec 5 is outside 60-3600",
        ),
        (
            json!({"maintenanceWindows": [{"startTime": WINDOW, "durationInMinutes": 0}]}),
            "maintenanceWindows[0].durationInMinutes must be an integer from 1 to 1430",
        ),
        (
            json!({"abortConfig": {"criteriaList": []}}),
            "abortConfig.criteriaList needs at least one criterion",
        ),
        (
            json!({"jobExecutionsRetryConfig": {"criteriaList": [
                {"failureType": "FAILED", "numberOfRetries": 11}]}}),
            "jobExecutionsRetryConfig.criteriaList",
        ),
        (
            json!({"description": "two\nlines"}),
            "the description contains a control character",
        ),
        (
            json!({"document": "[1]"}),
            "the job document must be a JSON object",
        ),
    ];
    for (extra, expected) in cases {
        let mut body = base();
        for (k, v) in extra.as_object().unwrap() {
            body[k] = v.clone();
        }
        let got = s.put_template("t1", &body).await;
        let message = got.2["message"].as_str().unwrap_or_default().to_owned();
        assert_error(got, StatusCode::BAD_REQUEST, "InvalidRequestException");
        assert!(message.contains(expected), "{expected}: {message}");
    }
    // AWS's model requires a description.
    let got = s.put_template("t1", &json!({"document": "{}"})).await;
    assert!(
        got.2["message"].as_str().unwrap().contains("description"),
        "{}",
        got.2
    );
    assert_error(got, StatusCode::BAD_REQUEST, "InvalidRequestException");
    // The id's pattern and length.
    for id in ["bad.id", &"x".repeat(65)] {
        let got = s.put_template(id, &base()).await;
        let message = got.2["message"].as_str().unwrap_or_default().to_owned();
        assert_error(got, StatusCode::BAD_REQUEST, "InvalidRequestException");
        assert!(message.contains("must be 1-64 characters"), "{message}");
    }
    // Nothing was created by the refused requests.
    let (_, _, listed) = s.call(s.req(Method::GET, "/job-templates")).await;
    assert_eq!(listed, json!({"jobTemplates": []}));
}
