//! A job's page says how far its staged rollout has gone, what its abort
//! rules are, and that an abort rule (not an operator) canceled it: in
//! words, not the configuration's JSON. An execution queued later (the
//! rollout's next release, a continuous job's new member) gets its row
//! live.

use super::browser::Browser;
use super::device::Outcome;
use super::fleet::Fleet;
use serde_json::json;
use std::sync::atomic::Ordering;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_jobs_page_shows_its_rollout_progress_and_why_an_abort_rule_canceled_it() {
    let fleet = Fleet::start().await;
    for t in ["r1", "r2", "r3", "dev-away"] {
        fleet.thing(t).await;
    }
    let _bad = fleet
        .device("dev-bad", Outcome::Fail("disk full"), false)
        .await;
    let b = Browser::start(1280, 900).await;
    fleet.login(&b).await;

    // One target a minute, and the service's clock stands still: the
    // first is released, the other two wait.
    let r = fleet
        .api(
            reqwest::Method::PUT,
            "/jobs/staged",
            json!({
                "targets": ["r1", "r2", "r3"],
                "document": {"operation": "echo"},
                "jobExecutionsRolloutConfig": {"maximumPerMinute": 1},
                "jobExecutionsRetryConfig": {"criteriaList": [{"failureType": "FAILED", "numberOfRetries": 2}]},
            }),
        )
        .await;
    assert!(r.status().is_success(), "{}", r.text().await.unwrap());
    b.goto(&format!("{}/console/jobs/staged", fleet.base)).await;
    b.wait_for_xpath(
        "//p[@id='rollout-progress'][contains(., '1 of 3 targets released, 2 still to release')]",
    )
    .await;
    let facts = b.text("dl.facts").await;
    assert!(facts.contains("at most 1 targets per minute"), "{facts}");
    assert!(
        facts.contains("an execution that ends FAILED runs again, up to 2 times"),
        "{facts}"
    );
    assert!(!facts.contains('{'), "no JSON: {facts}");
    b.assert_accessible("job with a rollout").await;
    b.screenshot("job-rollout").await;

    // A minute later the next target is released: its row appears in the
    // page, pushed, without a reload.
    b.wait_for("#live[data-connected=true]").await;
    b.wait_for("#executions tr[data-thing=r1]").await;
    b.mark_page().await;
    assert!(
        b.client
            .find(fantoccini::Locator::Css("#executions tr[data-thing=r2]"))
            .await
            .is_err(),
        "r2 is not released yet"
    );
    fleet.clock.fetch_add(60, Ordering::SeqCst);
    fleet.server.advance_rollouts().expect("a rollout tick");
    b.wait_for("#executions tr[data-thing=r2][data-status=QUEUED]")
        .await;
    b.assert_not_reloaded("the new row came").await;

    let r = fleet
        .api(
            reqwest::Method::PUT,
            "/jobs/guarded",
            json!({
                "targets": ["dev-bad", "dev-away"],
                "document": {"operation": "echo"},
                "abortConfig": {"criteriaList": [{"failureType": "ALL", "action": "CANCEL",
                    "thresholdPercentage": 50, "minNumberOfExecutedThings": 1}]},
            }),
        )
        .await;
    assert!(r.status().is_success(), "{}", r.text().await.unwrap());
    b.goto(&format!("{}/console/jobs/guarded", fleet.base))
        .await;
    let rules = b.text("#abort-rules").await;
    assert_eq!(
        rules,
        "Cancel the job once at least 1 things have completed and 50 % or more of them ended \
         FAILED, REJECTED or TIMED_OUT"
    );
    // dev-bad fails: the rule cancels the job, live.
    b.wait_for_xpath("//section[@id='live']/div[@id='summary']/p/span[.='CANCELED']")
        .await;
    b.goto(&format!("{}/console/jobs/guarded", fleet.base))
        .await;
    let why = b.text("#cancellation").await;
    assert!(
        why.starts_with("Aborted by an abort rule (ALL): abortConfig.criteriaList[0]: 1 of 1"),
        "{why}"
    );
    b.assert_accessible("aborted job").await;
    b.screenshot("job-aborted").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_continuous_jobs_new_member_gets_its_row_live() {
    let fleet = Fleet::start().await;
    for t in ["c1", "c2"] {
        fleet.thing(t).await;
    }
    let r = fleet
        .api(reqwest::Method::POST, "/thing-groups/lab", json!({}))
        .await;
    assert!(r.status().is_success(), "CreateThingGroup");
    let group: serde_json::Value = r.json().await.unwrap();
    add_to_group(&fleet, "c1", "lab").await;
    let r = fleet
        .api(
            reqwest::Method::PUT,
            "/jobs/follow-lab",
            json!({
                "targets": [group["thingGroupArn"]],
                "document": {"operation": "echo"},
                "targetSelection": "CONTINUOUS",
            }),
        )
        .await;
    assert!(r.status().is_success(), "{}", r.text().await.unwrap());
    let b = Browser::start(1280, 900).await;
    fleet.login(&b).await;
    b.goto(&format!("{}/console/jobs/follow-lab", fleet.base))
        .await;
    b.wait_for("#live[data-connected=true]").await;
    b.wait_for("#executions tr[data-thing=c1]").await;
    b.mark_page().await;

    add_to_group(&fleet, "c2", "lab").await;
    b.wait_for("#executions tr[data-thing=c2][data-status=QUEUED]")
        .await;
    assert_eq!(
        b.text("#executions-range").await,
        "1–2 of 2",
        "the page's range follows"
    );
    b.assert_not_reloaded("the new row came").await;
}

async fn add_to_group(fleet: &Fleet, thing: &str, group: &str) {
    let r = fleet
        .api(
            reqwest::Method::PUT,
            "/thing-groups/addThingToThingGroup",
            json!({"thingGroupName": group, "thingName": thing}),
        )
        .await;
    assert!(r.status().is_success(), "{}", r.text().await.unwrap());
}
