//! `job watch`: following an execution that the test drives, as a device
//! would, through the store.

use super::*;

/// Reads the watcher's next line.
async fn next_line(lines: &mut Lines<BufReader<ChildStdout>>) -> String {
    tokio::time::timeout(PATIENCE, lines.next_line())
        .await
        .expect("a line from job watch")
        .unwrap()
        .expect("job watch is still running")
}

#[tokio::test]
async fn job_watch_follows_an_execution_to_success() {
    let s = Server::start(None).await;
    s.ok(&[
        "job",
        "create",
        "--job-id",
        "w",
        "--target",
        "dev-a",
        "--document-json",
        "{}",
    ])
    .await;
    let mut child = s
        .cli(&["job", "watch", "w", "--thing", "dev-a", "--timeout", "120"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();

    let line = next_line(&mut lines).await;
    assert!(line.ends_with(" dev-a QUEUED {}"), "{line}");
    // Each change is seen once the previous one has been printed.
    s.device_update(
        "dev-a",
        "w",
        JobExecutionStatus::InProgress,
        &[("step", "download")],
    );
    let line = next_line(&mut lines).await;
    assert_eq!(
        line,
        r#"2023-11-14T22:15:00Z dev-a IN_PROGRESS {"step":"download"}"#
    );
    s.device_update(
        "dev-a",
        "w",
        JobExecutionStatus::InProgress,
        &[("step", "install")],
    );
    let line = next_line(&mut lines).await;
    assert!(
        line.ends_with(r#" dev-a IN_PROGRESS {"step":"install"}"#),
        "{line}"
    );
    s.device_update(
        "dev-a",
        "w",
        JobExecutionStatus::Succeeded,
        &[("step", "done")],
    );
    let line = next_line(&mut lines).await;
    assert!(
        line.ends_with(r#" dev-a SUCCEEDED {"step":"done"}"#),
        "{line}"
    );

    let status = tokio::time::timeout(PATIENCE, child.wait())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(status.code(), Some(0));
    assert_eq!(lines.next_line().await.unwrap(), None);
}

#[tokio::test]
async fn job_watch_exits_2_when_the_execution_ends_otherwise_and_1_on_timeout() {
    let s = Server::start(None).await;
    s.ok(&[
        "job",
        "create",
        "--job-id",
        "w",
        "--target",
        "a",
        "b",
        "--document-json",
        "{}",
    ])
    .await;
    s.store
        .lock()
        .unwrap()
        .cancel_execution("w", "a", false, None, 1_700_000_100)
        .unwrap();
    let out = s.run(&["job", "watch", "w", "--thing", "a"]).await;
    assert_eq!(out.status.code(), Some(2), "{}", text(&out.stderr));
    assert!(text(&out.stdout).ends_with(" a CANCELED {}\n"));

    s.device_update("b", "w", JobExecutionStatus::InProgress, &[]);
    s.device_update(
        "b",
        "w",
        JobExecutionStatus::Failed,
        &[("reason", "disk full")],
    );
    let out = s.run(&["job", "watch", "w", "--thing", "b"]).await;
    assert_eq!(out.status.code(), Some(2));
    assert!(text(&out.stdout).ends_with(" b FAILED {\"reason\":\"disk full\"}\n"));

    s.ok(&[
        "job",
        "create",
        "--job-id",
        "stuck",
        "--target",
        "c",
        "--document-json",
        "{}",
    ])
    .await;
    let out = s
        .run(&["job", "watch", "stuck", "--thing", "c", "--timeout", "1"])
        .await;
    assert_one_line_error(
        &out,
        "gave up after 1 s: the execution of stuck on c is still QUEUED",
    );

    let out = s.run(&["job", "watch", "w", "--thing", "nobody"]).await;
    assert_one_line_error(&out, "not found: no execution of job w on thing nobody");
}

/// Without `--thing`, `job watch` follows the whole job: one line per
/// change of the counts (stdout is a pipe here, not a terminal), until the
/// job is COMPLETED; exit 2 because one thing failed.
#[tokio::test]
async fn job_watch_without_a_thing_shows_the_jobs_progress_until_it_ends() {
    let s = Server::start(None).await;
    s.ok(&[
        "job",
        "create",
        "--job-id",
        "fleet",
        "--target",
        "a",
        "b",
        "c",
        "--document-json",
        "{}",
    ])
    .await;
    let mut child = s
        .cli(&["job", "watch", "fleet", "--timeout", "120"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let bar = |filled: usize| format!("[{}{}]", "#".repeat(filled), "-".repeat(30 - filled));

    assert_eq!(
        next_line(&mut lines).await,
        format!("fleet IN_PROGRESS {} 0/3 ended: 3 queued", bar(0))
    );
    s.device_update("a", "fleet", JobExecutionStatus::InProgress, &[]);
    assert_eq!(
        next_line(&mut lines).await,
        format!(
            "fleet IN_PROGRESS {} 0/3 ended: 1 in progress, 2 queued",
            bar(0)
        )
    );
    s.device_update("a", "fleet", JobExecutionStatus::Succeeded, &[]);
    assert_eq!(
        next_line(&mut lines).await,
        format!(
            "fleet IN_PROGRESS {} 1/3 ended: 1 succeeded, 2 queued",
            bar(10)
        )
    );
    s.device_update("b", "fleet", JobExecutionStatus::InProgress, &[]);
    s.device_update("b", "fleet", JobExecutionStatus::Failed, &[]);
    let line = next_line(&mut lines).await;
    // The watcher may or may not have seen b IN_PROGRESS in between.
    let line = if line.contains("in progress") {
        next_line(&mut lines).await
    } else {
        line
    };
    assert_eq!(
        line,
        format!(
            "fleet IN_PROGRESS {} 2/3 ended: 1 succeeded, 1 failed, 1 queued",
            bar(20)
        )
    );
    s.device_update("c", "fleet", JobExecutionStatus::InProgress, &[]);
    s.device_update("c", "fleet", JobExecutionStatus::Succeeded, &[]);
    let mut last = next_line(&mut lines).await;
    while !last.starts_with("fleet COMPLETED") {
        last = next_line(&mut lines).await;
    }
    assert_eq!(
        last,
        format!(
            "fleet COMPLETED {} 3/3 ended: 2 succeeded, 1 failed",
            bar(30)
        )
    );
    let status = tokio::time::timeout(PATIENCE, child.wait())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(status.code(), Some(2));
    assert_eq!(lines.next_line().await.unwrap(), None);

    s.ok(&[
        "job",
        "create",
        "--job-id",
        "stuck",
        "--target",
        "d",
        "--document-json",
        "{}",
    ])
    .await;
    let out = s.run(&["job", "watch", "stuck", "--timeout", "1"]).await;
    assert_one_line_error(
        &out,
        "gave up after 1 s: job stuck is still IN_PROGRESS (0 of 1 things ended)",
    );
}
