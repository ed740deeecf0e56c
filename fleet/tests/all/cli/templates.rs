//! `template create|list|describe|delete` and `job create --template` with
//! a custom template and `--param`s, through the binary; errors on one
//! line with exit 1.

use super::*;

#[tokio::test]
async fn templates_are_created_listed_described_used_and_deleted() {
    let s = Server::start(None).await;
    let doc = s.dir.path().join("fw.json");
    std::fs::write(
        &doc,
        r#"{"operation": "install", "version": "${aws:iot:parameter:version}"}"#,
    )
    .unwrap();
    let out = s
        .ok(&[
            "template",
            "create",
            "fw-update",
            "--description",
            "firmware update",
            "--document",
            doc.to_str().unwrap(),
            "--timeout-minutes",
            "30",
            "--job-executions-retry-config",
            r#"{"criteriaList":[{"failureType":"FAILED","numberOfRetries":2}]}"#,
            "--maintenance-windows",
            r#"[{"startTime":"cron(0 * * * ? *)","durationInMinutes":59}]"#,
        ])
        .await;
    assert_eq!(
        out,
        "arn:aws:iot:local:000000000000:jobtemplate/fw-update\n"
    );

    let out = s.ok(&["template", "list"]).await;
    let lines: Vec<Vec<&str>> = out
        .lines()
        .map(|l| l.split_whitespace().collect())
        .collect();
    assert_eq!(lines[0], ["TEMPLATE", "CREATED", "DESCRIPTION"]);
    assert_eq!(lines[1][0], "fw-update");
    assert_eq!(lines[1][2..], ["firmware", "update"]);
    assert_eq!(lines.len(), 2, "{out}");

    let out = s.ok(&["template", "describe", "fw-update"]).await;
    let described: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(
        described["document"]["version"],
        "${aws:iot:parameter:version}"
    );
    assert_eq!(described["timeoutConfig"]["inProgressTimeoutInMinutes"], 30);
    assert_eq!(
        described["jobExecutionsRetryConfig"]["criteriaList"][0]["numberOfRetries"],
        2
    );
    assert_eq!(described["maintenanceWindows"][0]["durationInMinutes"], 59);

    let out = s
        .ok(&[
            "job",
            "create",
            "--job-id",
            "fw-7",
            "--target",
            "dev-a",
            "--template",
            "fw-update",
            "--param",
            "version=7",
            "--timeout-minutes",
            "10",
        ])
        .await;
    assert_eq!(out, "fw-7\n");
    {
        let store = s.store.lock().unwrap();
        let job = store.describe_job("fw-7").unwrap();
        assert_eq!(
            job.document,
            serde_json::json!({"operation": "install", "version": "7"})
        );
        assert_eq!(job.description.as_deref(), Some("firmware update"));
        // --timeout-minutes replaced the template's 30.
        assert_eq!(job.in_progress_timeout_minutes, Some(10));
        assert!(job.plan.job_executions_retry_config.is_some());
        assert_eq!(
            job.job_template_arn.as_deref(),
            Some("arn:aws:iot:local:000000000000:jobtemplate/fw-update")
        );
    }
    // A template from that job: its document (filled in) and settings.
    s.ok(&[
        "template",
        "create",
        "fw-7-again",
        "--description",
        "as fw-7 ran",
        "--from-job",
        "fw-7",
    ])
    .await;
    let out = s.ok(&["template", "describe", "fw-7-again"]).await;
    let described: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(described["document"]["version"], "7");
    assert_eq!(described["timeoutConfig"]["inProgressTimeoutInMinutes"], 10);

    // Errors: the API's message on one line, exit 1.
    let out = s
        .run(&[
            "job",
            "create",
            "--job-id",
            "fw-8",
            "--target",
            "dev-a",
            "--template",
            "fw-update",
        ])
        .await;
    assert_one_line_error(
        &out,
        "documentParameters: job template fw-update needs \"version\"",
    );
    let out = s
        .run(&[
            "template",
            "create",
            "fw-update",
            "--description",
            "again",
            "--document-json",
            "{}",
        ])
        .await;
    assert_one_line_error(&out, "a job template fw-update exists already");
    let out = s
        .run(&[
            "template",
            "create",
            "t2",
            "--description",
            "d",
            "--document-json",
            "{}",
            "--abort-config",
            "{nope",
        ])
        .await;
    assert_one_line_error(&out, "--abort-config is not valid JSON: ");
    let out = s
        .run(&[
            "template",
            "create",
            "t2",
            "--description",
            "d",
            "--document-json",
            "{}",
            "--maintenance-windows",
            r#"[{"startTime":"cron(0 * * * ? *)","durationInMinutes":0}]"#,
        ])
        .await;
    assert_one_line_error(&out, "maintenanceWindows[0].durationInMinutes must be");
    // No source, or two: a usage error, exit 1.
    let out = s
        .run(&["template", "create", "t3", "--description", "d"])
        .await;
    assert_eq!(out.status.code(), Some(1));
    let out = s
        .run(&[
            "template",
            "create",
            "t3",
            "--description",
            "d",
            "--document-json",
            "{}",
            "--from-job",
            "fw-7",
        ])
        .await;
    assert_eq!(out.status.code(), Some(1));

    let out = s.ok(&["template", "delete", "fw-update"]).await;
    assert_eq!(out, "template fw-update deleted\n");
    let out = s.run(&["template", "describe", "fw-update"]).await;
    assert_one_line_error(&out, "not found: job template fw-update");
    // The job made from it is untouched.
    let out = s.ok(&["job", "describe", "fw-7"]).await;
    let job: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(job["document"]["version"], "7");

    let out = s.ok(&["template", "--help"]).await;
    assert!(out.contains("create") && out.contains("delete"), "{out}");
}
