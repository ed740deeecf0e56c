//! The job document as submitted: kept byte for byte, parsed where a
//! parsed document is needed, and a template job's document before
//! substitution.

use super::*;
use std::collections::BTreeMap;

/// Keys out of order, odd spacing, a unicode escape and a trailing newline:
/// everything a re-serialisation would change.
const SUBMITTED: &str = "{\n  \"zeta\": 1,\n  \"alpha\" :[ true,false ],\t\"u\": \"\\u00e9\"\n}\n";

#[test]
fn the_document_text_is_kept_byte_for_byte() {
    let mut s = store();
    let req = CreateJob {
        document: JobDocument::Text(SUBMITTED.into()),
        ..job("j1", &["t1"])
    };
    let created = s.create_job(&req, T0).unwrap();
    assert_eq!(s.job_document_text("j1", false).unwrap(), SUBMITTED);
    // Without a template there is only the one text.
    assert_eq!(s.job_document_text("j1", true).unwrap(), SUBMITTED);
    // DescribeJob and devices get it parsed.
    let parsed = json!({"zeta": 1, "alpha": [true, false], "u": "é"});
    assert_eq!(created.document, parsed);
    assert_eq!(s.describe_job("j1").unwrap().document, parsed);
    let (e, _) = s
        .start_next(
            "t1",
            &jobhost_protocol::requests::StartNextRequest::default(),
            T0,
        )
        .unwrap();
    assert_eq!(e.unwrap().job_document, Some(parsed));
    assert!(matches!(
        s.job_document_text("nope", false),
        Err(StoreError::NotFound(_))
    ));
}

#[test]
fn an_object_document_is_kept_as_its_compact_serialisation() {
    let mut s = store();
    s.create_job(&job("j1", &["t1"]), T0).unwrap();
    assert_eq!(
        s.job_document_text("j1", false).unwrap(),
        r#"{"job":"j1","operation":"test"}"#
    );
}

#[test]
fn a_template_job_keeps_its_document_before_substitution() {
    let mut s = store();
    let before = r#"{"steps":[{"cmd":"${aws:iot:parameter:command}"}]}"#;
    let after = r#"{"steps":[{"cmd":"ls"}]}"#;
    let parameters: BTreeMap<String, String> = [("command".to_owned(), "ls".to_owned())].into();
    let req = CreateJob {
        document: JobDocument::Text(after.into()),
        template: Some(FromTemplate {
            arn: "arn:aws:iot:local::jobtemplate/AWS-Run-Command:1.0".into(),
            parameters: parameters.clone(),
            document: before.into(),
        }),
        ..job("j1", &["t1"])
    };
    s.create_job(&req, T0).unwrap();
    assert_eq!(s.job_document_text("j1", false).unwrap(), after);
    assert_eq!(s.job_document_text("j1", true).unwrap(), before);
    let j = s.describe_job("j1").unwrap();
    assert_eq!(
        j.job_template_arn.as_deref(),
        Some("arn:aws:iot:local::jobtemplate/AWS-Run-Command:1.0")
    );
    assert_eq!(j.document_parameters, Some(parameters));
    let v = serde_json::to_value(&j).unwrap();
    assert_eq!(v["documentParameters"]["command"], "ls");
    assert_eq!(
        v["jobTemplateArn"],
        "arn:aws:iot:local::jobtemplate/AWS-Run-Command:1.0"
    );
}

#[test]
fn a_create_job_body_takes_the_document_as_a_string_or_an_object() {
    let text: CreateJob =
        serde_json::from_value(json!({"targets": ["t1"], "document": SUBMITTED})).unwrap();
    assert_eq!(text.document, JobDocument::Text(SUBMITTED.into()));
    let object: CreateJob =
        serde_json::from_value(json!({"targets": ["t1"], "document": {"a": 1}})).unwrap();
    assert_eq!(object.document, JobDocument::Json(json!({"a": 1})));
}

#[test]
fn a_database_from_before_the_verbatim_documents_still_reads() {
    // Schema version 2 stored the compact serialisation, and had none of
    // the columns CreateJob and CancelJob fill in now.
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("fleet.db");
    {
        let mut conn = rusqlite::Connection::open(&path).unwrap();
        schema::migrate_to(&mut conn, 2).unwrap();
        conn.execute_batch(&format!(
            "INSERT INTO jobs (job_id, status, targets, document, description, created_at, \
             last_updated_at) VALUES ('old', 'IN_PROGRESS', '[\"t1\"]', '{{\"a\":1}}', 'd', {T0}, {T0}); \
             INSERT INTO executions (job_id, thing_name, execution_number, status, queued_at, \
             last_updated_at, version_number) VALUES ('old', 't1', 1, 'QUEUED', {T0}, {T0}, 1);"
        ))
        .unwrap();
    }
    let mut s = Store::open(&path).unwrap();
    assert_eq!(s.schema_version().unwrap(), schema::CURRENT_VERSION);
    let j = s.describe_job("old").unwrap();
    assert_eq!(j.document, json!({"a": 1}));
    assert_eq!((j.reason_code, j.presigned_url_config), (None, None));
    assert_eq!(s.job_document_text("old", true).unwrap(), r#"{"a":1}"#);
    assert_eq!(s.presigned_url_ttl("old").unwrap(), None);
    s.cancel_job("old", false, Some("OLD_BUILD"), None, T0 + 1)
        .unwrap();
    assert_eq!(
        s.describe_job("old").unwrap().reason_code.as_deref(),
        Some("OLD_BUILD")
    );
}
