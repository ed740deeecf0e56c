//! What an operator does in the console, in the browser.

use super::browser::Browser;
use super::device::Outcome;
use super::fleet::{Fleet, TOKEN};
use std::sync::atomic::Ordering;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_operator_creates_a_job_from_a_template_and_watches_it_succeed_live() {
    let fleet = Fleet::start().await;
    fleet.template().await;
    let dev1 = fleet.device("dev1", Outcome::Succeed, true).await;
    let dev2 = fleet.device("dev2", Outcome::Succeed, true).await;
    let b = Browser::start(1280, 900).await;
    fleet.login(&b).await;

    // The form generated from the template asks for its parameter; the
    // preview shows the request without sending it.
    b.goto(&format!(
        "{}/console/jobs/new?kind=custom&template=greet",
        fleet.base
    ))
    .await;
    b.fill("#job_id", "hello-1").await;
    b.fill("#param-message", "hello from the console").await;
    b.click("input[name=thing][value='dev1']").await;
    b.click("button[value=preview]").await;
    let preview = b.text("#preview-request").await;
    assert!(
        preview.contains("\"message\": \"hello from the console\""),
        "{preview}"
    );
    assert!(preview.contains("\"dev1\""), "{preview}");
    b.assert_accessible("new job").await;
    b.screenshot("new-job").await;
    let r = fleet
        .api(
            reqwest::Method::GET,
            "/jobs/hello-1",
            serde_json::json!(null),
        )
        .await;
    assert_eq!(r.status(), 404, "a preview creates nothing");

    fleet.create_job(&b, "hello-1", &["dev1", "dev2"]).await;
    // Both devices hold their executions IN_PROGRESS until released.
    crate::support::service::wait_until(&fleet.server, "dev1", "hello-1", "IN_PROGRESS", |e| {
        e.status == jobhost_protocol::JobExecutionStatus::InProgress
    })
    .await;
    crate::support::service::wait_until(&fleet.server, "dev2", "hello-1", "IN_PROGRESS", |e| {
        e.status == jobhost_protocol::JobExecutionStatus::InProgress
    })
    .await;
    // The page is connected to the event stream; mark it, so that a reload
    // (which would lose the mark) cannot pass for a live update.
    b.wait_for("#live[data-connected=true]").await;
    b.mark_page().await;
    b.wait_for("#executions tr[data-thing=dev1][data-status=IN_PROGRESS]")
        .await;
    b.wait_for("#executions tr[data-thing=dev2][data-status=IN_PROGRESS]")
        .await;
    // A step reported while IN_PROGRESS (no AWS event reports it) shows
    // in the page as it happens.
    dev1.progress("hello-1", "progress", "60% downloaded");
    b.wait_for_xpath("//table[@id='executions']//tr[@data-thing='dev1']//dd[.='60% downloaded']")
        .await;

    dev1.release();
    dev2.release();
    b.wait_for("#executions tr[data-thing=dev1][data-status=SUCCEEDED]")
        .await;
    b.wait_for("#executions tr[data-thing=dev2][data-status=SUCCEEDED]")
        .await;
    b.assert_not_reloaded("the table changed").await;
    let progress = b.text("#live .progress").await;
    assert!(
        progress.contains("2 of 2 done: 2 succeeded, 0 failed"),
        "{progress}"
    );
    b.wait_for("#plot").await;
    b.assert_accessible("job").await;
    b.screenshot("job").await;

    b.goto(&format!("{}/console/jobs", fleet.base)).await;
    let row = b.text("tbody tr").await;
    assert!(
        row.contains("hello-1") && row.contains("2 of 2 done"),
        "{row}"
    );
    b.assert_accessible("jobs").await;
    b.screenshot("jobs").await;

    b.goto(&format!("{}/console/", fleet.base)).await;
    let cards = b.text("dl.cards").await;
    assert!(cards.contains("Things online\n2"), "{cards}");
    b.assert_accessible("overview").await;
    b.screenshot("overview").await;

    b.goto(&format!("{}/console/things/dev1", fleet.base)).await;
    assert!(b.text("main").await.contains("hello-1"));
    b.assert_accessible("device").await;
    b.screenshot("device").await;

    // A tablet's width: the same pages, no horizontal scroll of the page.
    b.client.set_window_size(768, 1024).await.unwrap();
    b.goto(&format!("{}/console/jobs/hello-1", fleet.base))
        .await;
    b.wait_for("#executions").await;
    let overflow = b
        .client
        .execute(
            "return document.documentElement.scrollWidth <= window.innerWidth;",
            vec![],
        )
        .await
        .unwrap();
    assert_eq!(
        overflow,
        serde_json::json!(true),
        "the job page fits a tablet's width"
    );
    b.screenshot("job-tablet").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_execution_shows_its_reason_and_a_job_is_canceled_with_one() {
    let fleet = Fleet::start().await;
    fleet.template().await;
    let _bad = fleet
        .device("dev-bad", Outcome::Fail("disk full"), false)
        .await;
    fleet.thing("dev-away").await; // never connects: its execution stays QUEUED
    let b = Browser::start(1280, 900).await;
    fleet.login(&b).await;

    fleet.create_job(&b, "fails-1", &["dev-bad"]).await;
    b.wait_for("#executions tr[data-thing=dev-bad][data-status=FAILED]")
        .await;
    // Read in one script call: the live region may be re-rendered (the
    // job's end re-reads it) between finding the row and reading it.
    let row = b
        .client
        .execute(
            "return document.querySelector('#executions tr[data-thing=dev-bad]').textContent;",
            vec![],
        )
        .await
        .unwrap();
    let row = row.as_str().unwrap_or_default().to_owned();
    assert!(
        row.contains("disk full"),
        "the device's reason is shown: {row}"
    );
    b.goto(&format!("{}/console/", fleet.base)).await;
    assert!(
        b.text("main").await.contains("disk full"),
        "the overview lists the failure"
    );

    fleet.create_job(&b, "stuck-1", &["dev-away"]).await;
    b.fill("#reason_code", "OPERATOR_STOP").await;
    b.fill("#comment", "wrong device").await;
    b.click("button.danger").await;
    b.wait_for("div.notice").await;
    let facts = b.text("dl.facts").await;
    assert!(facts.contains("CANCELED"), "{facts}");
    assert!(facts.contains("OPERATOR_STOP — wrong device"), "{facts}");
    b.wait_for("#executions tr[data-thing=dev-away][data-status=CANCELED]")
        .await;
    let r = fleet
        .api(
            reqwest::Method::GET,
            "/jobs/stuck-1",
            serde_json::json!(null),
        )
        .await;
    let job: serde_json::Value = r.json().await.unwrap();
    assert_eq!(
        job["job"]["reasonCode"], "OPERATOR_STOP",
        "canceled through the API: {job}"
    );

    // An invalid reason: the API's message is shown, the comment kept.
    fleet.create_job(&b, "stuck-2", &["dev-away"]).await;
    b.fill("#reason_code", "not valid!").await;
    b.fill("#comment", "keep this text").await;
    b.click("button.danger").await;
    let alert = b.text("[role=alert]").await;
    assert!(alert.contains("InvalidRequestException"), "{alert}");
    let kept = b.wait_for("#comment").await.prop("value").await.unwrap();
    assert_eq!(kept.as_deref(), Some("keep this text"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_expired_session_goes_to_login_and_a_change_without_csrf_is_refused() {
    let fleet = Fleet::start().await;
    let b = Browser::start(1024, 768).await;
    fleet.login(&b).await;

    // The page's own origin and cookie, but no CSRF token: refused.
    let status = b
        .fetch_status("POST", "/console/groups", true, "name=no-csrf")
        .await;
    assert_eq!(status, 403);
    let r = fleet
        .api(
            reqwest::Method::GET,
            "/thing-groups/no-csrf",
            serde_json::json!(null),
        )
        .await;
    assert_eq!(r.status(), 404, "no group was created");
    // The same change through the form (which carries the token) works.
    b.goto(&format!("{}/console/groups", fleet.base)).await;
    b.fill("#name", "with-csrf").await;
    b.click("main form button[type=submit]").await;
    b.wait_for("h1").await;
    assert_eq!(b.path().await, "/console/groups/with-csrf");
    b.assert_accessible("group").await;

    // Two hours idle: the next page is the login page, which brings the
    // operator back where they were going.
    fleet.clock.fetch_add(2 * 60 * 60, Ordering::SeqCst);
    b.goto(&format!("{}/console/jobs", fleet.base)).await;
    b.wait_for("#token").await;
    assert_eq!(b.path().await, "/console/login");
    b.assert_accessible("login").await;
    b.screenshot("login").await;
    b.fill("#token", TOKEN).await;
    b.click("form button[type=submit]").await;
    b.wait_for("main h1").await;
    assert_eq!(b.path().await, "/console/jobs");
}
