//! The document as submitted: GetJobDocument returns the very string
//! CreateJob was given, the size limit counts its characters, and
//! `beforeSubstitution` shows a template job's document before its
//! parameters were filled in.

use super::*;

/// Keys out of order, spacing, an escaped character, a trailing newline.
const SUBMITTED: &str = "{ \"version\":\"1.0\",\n  \"steps\" : [ {\"b\": 2, \"a\": 1} ],\n  \"note\": \"caf\\u00e9\" }\n";

#[tokio::test]
async fn get_job_document_returns_the_submitted_text_byte_for_byte() {
    let s = Server::start(None).await;
    let body = json!({"targets": ["t1"], "document": SUBMITTED});
    let (status, _, _) = s.call(s.req(Method::PUT, "/jobs/j1").json(&body)).await;
    assert_eq!(status, StatusCode::OK);
    for query in ["", "?beforeSubstitution=false", "?beforeSubstitution=true"] {
        let (status, _, got) = s
            .call(s.req(Method::GET, &format!("/jobs/j1/job-document{query}")))
            .await;
        assert_eq!(status, StatusCode::OK, "{got}");
        assert_eq!(got["document"].as_str(), Some(SUBMITTED), "{query}");
    }
    // DescribeJob still parses it.
    let (_, _, described) = s.call(s.req(Method::GET, "/jobs/j1")).await;
    assert_eq!(described["job"]["document"]["note"], "café");
    assert_eq!(described["job"]["document"]["steps"][0]["a"], 1);

    // A JSON object body is accepted too, and kept as its serialisation.
    let body = json!({"targets": ["t1"], "document": {"operation": "echo"}});
    let (status, _, _) = s.call(s.req(Method::PUT, "/jobs/j2").json(&body)).await;
    assert_eq!(status, StatusCode::OK);
    let (_, _, got) = s.call(s.req(Method::GET, "/jobs/j2/job-document")).await;
    assert_eq!(got["document"], r#"{"operation":"echo"}"#);
}

#[tokio::test]
async fn the_size_limit_counts_the_characters_submitted() {
    let s = Server::start(None).await;
    // 32768 characters of which most take two bytes: AWS counts characters.
    let doc = |chars: usize| format!("{{\"p\":\"{}\"}}", "é".repeat(chars - 8));
    let ok = json!({"targets": ["t1"], "document": doc(32_768)});
    let (status, _, body) = s.call(s.req(Method::PUT, "/jobs/at-limit").json(&ok)).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let over = json!({"targets": ["t1"], "document": doc(32_769)});
    let got = s.call(s.req(Method::PUT, "/jobs/over").json(&over)).await;
    let message = got.2["message"].as_str().unwrap().to_owned();
    assert_error(got, StatusCode::BAD_REQUEST, "InvalidRequestException");
    assert!(message.contains("32769 characters"), "{message}");
    // Whitespace counts: the same document padded over the limit is refused.
    let padded = format!("{}{}", " ".repeat(32_760), r#"{"p":"x"}"#);
    assert_eq!(padded.chars().count(), 32_769);
    let padded = json!({"targets": ["t1"], "document": padded});
    assert_error(
        s.call(s.req(Method::PUT, "/jobs/padded").json(&padded))
            .await,
        StatusCode::BAD_REQUEST,
        "InvalidRequestException",
    );
}

#[tokio::test]
async fn before_substitution_returns_the_template_document() {
    let s = Server::start(None).await;
    let body = json!({
        "targets": ["t1"],
        "jobTemplateArn": "arn:aws:iot:us-east-1::jobtemplate/AWS-Run-Command:1.0",
        "documentParameters": {"command": "uptime"},
    });
    let (status, _, _) = s.call(s.req(Method::PUT, "/jobs/j1").json(&body)).await;
    assert_eq!(status, StatusCode::OK);
    let text = |v: &Value| v["document"].as_str().unwrap().to_owned();

    let (_, _, after) = s.call(s.req(Method::GET, "/jobs/j1/job-document")).await;
    assert!(text(&after).contains("\"uptime\""), "{after}");
    assert!(!text(&after).contains("${aws:iot:parameter:"), "{after}");
    let (_, _, before) = s
        .call(s.req(Method::GET, "/jobs/j1/job-document?beforeSubstitution=true"))
        .await;
    assert!(
        text(&before).contains("${aws:iot:parameter:command}"),
        "{before}"
    );
    // The same text DescribeManagedJobTemplate shows.
    let (_, _, template) = s
        .call(s.req(Method::GET, "/managed-job-templates/AWS-Run-Command"))
        .await;
    assert_eq!(text(&before), text(&template));

    let (_, _, described) = s.call(s.req(Method::GET, "/jobs/j1")).await;
    let job = &described["job"];
    assert_eq!(
        job["document"]["steps"][0]["action"]["input"]["command"],
        "uptime"
    );
    assert_eq!(
        job["jobTemplateArn"],
        "arn:aws:iot:local::jobtemplate/AWS-Run-Command:1.0"
    );
    assert_eq!(job["documentParameters"], json!({"command": "uptime"}));
    let (_, _, described) = s
        .call(s.req(Method::GET, "/jobs/j1?beforeSubstitution=true"))
        .await;
    assert_eq!(
        described["job"]["document"]["steps"][0]["action"]["input"]["command"],
        "${aws:iot:parameter:command}"
    );
    assert_error(
        s.call(s.req(Method::GET, "/jobs/j1?beforeSubstitution=maybe"))
            .await,
        StatusCode::BAD_REQUEST,
        "InvalidRequestException",
    );
}
