//! A job's page says how far its staged rollout has gone, what its abort
//! rules are, and that an abort rule (not an operator) canceled it: in
//! words, not the configuration's JSON.

use super::browser::Browser;
use super::device::Outcome;
use super::fleet::Fleet;
use serde_json::json;

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
