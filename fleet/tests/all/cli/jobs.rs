//! `job create|list|describe|executions|cancel|delete` and `artifact put`.

use super::*;

#[tokio::test]
async fn jobs_are_created_listed_described_cancelled_and_deleted() {
    let s = Server::start(None).await;
    let doc = s.dir.path().join("doc.json");
    std::fs::write(&doc, r#"{"operation": "install", "version": "1.2"}"#).unwrap();
    let doc = doc.to_str().unwrap();

    let out = s
        .ok(&[
            "job",
            "create",
            "--job-id",
            "fw-1",
            "--target",
            "dev-a",
            "--target",
            "dev-b",
            "--document",
            doc,
            "--description",
            "firmware 1.2",
            "--timeout-minutes",
            "30",
        ])
        .await;
    assert_eq!(out, "fw-1\n");
    let out = s
        .ok(&[
            "job",
            "create",
            "--job-id",
            "ping",
            "--target",
            "dev-c",
            "dev-d",
            "--document-json",
            r#"{"operation":"echo"}"#,
        ])
        .await;
    assert_eq!(out, "ping\n");

    let out = s.ok(&["job", "list"]).await;
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines.len(), 3, "{out}");
    assert!(lines[0].starts_with("JOB   STATUS       CREATED"), "{out}");
    assert!(lines[1].starts_with("fw-1  IN_PROGRESS  "), "{out}");
    assert!(lines[2].starts_with("ping  IN_PROGRESS  "), "{out}");
    let out = s.ok(&["job", "list", "--status", "completed"]).await;
    assert_eq!(out.lines().count(), 1, "{out}");

    let out = s.ok(&["job", "describe", "fw-1"]).await;
    let job: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(job["jobId"], "fw-1");
    assert_eq!(job["description"], "firmware 1.2");
    assert_eq!(job["document"]["version"], "1.2");
    assert_eq!(job["timeoutConfig"]["inProgressTimeoutInMinutes"], 30);
    assert!(out.contains("\n  \"jobId\""), "pretty-printed: {out}");

    s.device_update("dev-b", "fw-1", JobExecutionStatus::InProgress, &[]);
    let out = s.ok(&["job", "executions", "fw-1"]).await;
    let lines: Vec<Vec<&str>> = out
        .lines()
        .map(|l| l.split_whitespace().collect())
        .collect();
    assert_eq!(lines[0], ["THING", "STATUS", "EXECUTION", "UPDATED"]);
    assert_eq!(lines[1][..3], ["dev-a", "QUEUED", "1"]);
    assert_eq!(lines[2][..3], ["dev-b", "IN_PROGRESS", "1"]);
    assert_eq!(lines[2][3], "2023-11-14T22:15:00Z");

    let out = s
        .ok(&["job", "cancel", "fw-1", "--comment", "bad build"])
        .await;
    assert_eq!(out, "job fw-1 canceled\n");
    let out = s.ok(&["job", "executions", "fw-1"]).await;
    assert!(out.contains("dev-a  CANCELED"), "{out}");
    assert!(out.contains("dev-b  IN_PROGRESS"), "{out}");
    let out = s.run(&["job", "delete", "fw-1"]).await;
    assert_one_line_error(
        &out,
        "job fw-1 has IN_PROGRESS executions: delete it with force",
    );
    s.ok(&["job", "cancel", "fw-1", "--force"]).await;
    let out = s.ok(&["job", "delete", "fw-1", "--force"]).await;
    assert_eq!(out, "job fw-1 deleted\n");
    let out = s.ok(&["job", "list"]).await;
    assert!(!out.contains("fw-1"), "{out}");
}

#[tokio::test]
async fn artifact_put_prints_what_a_document_needs() {
    let s = Server::start(Some(TOKEN)).await;
    let file = s.dir.path().join("firmware-1.2.bin");
    let bytes: Vec<u8> = (0..50_000u32).map(|i| (i % 251) as u8).collect();
    std::fs::write(&file, &bytes).unwrap();
    let out = s
        .ok(&["--token", TOKEN, "artifact", "put", file.to_str().unwrap()])
        .await;
    let url = format!("{}/artifacts/firmware-1.2.bin", s.base);
    let sha = hex::encode(Sha256::digest(&bytes));
    assert_eq!(
        out,
        format!(
            "url:         {url}\nsha256:      {sha}\nsize:        50000\n\
             placeholder: ${{aws:iot:s3-presigned-url:{url}}}\nsigned by:   (unsigned)\n"
        )
    );
    let stored = s.artifacts.path_of("firmware-1.2.bin").unwrap();
    assert_eq!(std::fs::read(stored).unwrap(), bytes);

    let out = s
        .ok(&[
            "--token",
            TOKEN,
            "artifact",
            "put",
            file.to_str().unwrap(),
            "--name",
            "fw.bin",
        ])
        .await;
    assert!(
        out.starts_with(&format!("url:         {}/artifacts/fw.bin\n", s.base)),
        "{out}"
    );

    let out = s
        .run(&[
            "--token",
            TOKEN,
            "artifact",
            "put",
            file.to_str().unwrap(),
            "--name",
            ".x",
        ])
        .await;
    assert_one_line_error(&out, "invalid artifact name \".x\"");
    let missing = s.dir.path().join("nope.bin");
    let out = s
        .run(&[
            "--token",
            TOKEN,
            "artifact",
            "put",
            missing.to_str().unwrap(),
        ])
        .await;
    assert_one_line_error(&out, "cannot open ");
}

/// `job create`'s rollout, abort, retry, schedule and URL flags reach the
/// service as AWS's fields (DescribeJob returns them), and a value out of
/// AWS's range is the service's one-line error naming the field.
#[tokio::test]
async fn job_create_sends_rollout_abort_retry_and_schedule_settings() {
    let s = Server::start(None).await;
    // The API reads the wall clock: an end a day ahead.
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64;
    let end = jobhost_fleet::rollout::datetime::format_utc(now + 86_400);
    s.ok(&[
        "job",
        "create",
        "--job-id",
        "canary",
        "--target",
        "a",
        "b",
        "--document-json",
        "{}",
        "--rollout-max-per-minute",
        "1",
        "--abort",
        "FAILED>10%@20",
        "--retry",
        "FAILED=2",
        "--end-time",
        &end,
        "--end-behavior",
        "cancel",
        "--url-expiry",
        "600",
    ])
    .await;
    let job: Value = serde_json::from_str(&s.ok(&["job", "describe", "canary"]).await).unwrap();
    assert_eq!(
        job["jobExecutionsRolloutConfig"],
        serde_json::json!({ "maximumPerMinute": 1 })
    );
    assert_eq!(
        job["abortConfig"]["criteriaList"][0],
        serde_json::json!({ "failureType": "FAILED", "action": "CANCEL",
                            "thresholdPercentage": 10.0, "minNumberOfExecutedThings": 20 })
    );
    assert_eq!(
        job["jobExecutionsRetryConfig"]["criteriaList"][0],
        serde_json::json!({ "failureType": "FAILED", "numberOfRetries": 2 })
    );
    assert_eq!(job["schedulingConfig"]["endBehavior"], "CANCEL");
    assert_eq!(job["presignedUrlConfig"]["expiresInSec"], 600);
    // One a minute: only one of the two things got an execution so far.
    assert_eq!(job["jobhost"]["rollout"]["unreleasedThings"], 1, "{job}");

    let out = s
        .run(&[
            "job",
            "create",
            "--job-id",
            "too-fast",
            "--target",
            "a",
            "--document-json",
            "{}",
            "--rollout-max-per-minute",
            "5000",
        ])
        .await;
    assert_eq!(out.status.code(), Some(1));
    let err = text(&out.stderr);
    assert!(err.contains("maximumPerMinute"), "{err}");
    assert_eq!(err.lines().count(), 1, "{err}");
}
