//! A large fleet's overview, jobs and job page. The overview: fleet-wide
//! online and offline counts (one GetBucketsAggregation), its things in
//! pages of 50, at most 20 jobs in progress. The job page: its executions
//! in pages of 50 read with one ListJobExecutionsForJob request each
//! (statusDetails included through jobhost's `includeStatusDetails`),
//! "1–50 of N", instead of every execution and a DescribeJobExecution per
//! row. Every paged table links to the next and the previous page. No
//! devices: the things and the jobs are made through the API, as a script
//! would, and every execution stays QUEUED.

use super::browser::Browser;
use super::fleet::Fleet;
use reqwest::Method;
use serde_json::{json, Value};

const THINGS: usize = 300;

/// Jobs in progress besides big-1: more than the overview lists.
const RUNNING: usize = 21;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_fleet_of_hundreds_of_things_is_shown_in_pages() {
    let fleet = Fleet::start().await;
    let r = fleet
        .api(Method::POST, "/thing-groups/many", json!({}))
        .await;
    assert!(r.status().is_success(), "CreateThingGroup");
    let group: Value = r.json().await.unwrap();
    for i in 0..THINGS {
        let name = format!("t{i:04}");
        fleet.thing(&name).await;
        let r = fleet
            .api(
                Method::PUT,
                "/thing-groups/addThingToThingGroup",
                json!({"thingGroupName": "many", "thingName": name}),
            )
            .await;
        assert!(r.status().is_success(), "AddThingToThingGroup {name}");
    }
    let r = fleet
        .api(
            Method::PUT,
            "/jobs/big-1",
            json!({
                "targets": [group["thingGroupArn"]],
                "document": "{\"operation\":\"echo\"}",
            }),
        )
        .await;
    assert!(
        r.status().is_success(),
        "CreateJob: {}",
        r.text().await.unwrap_or_default()
    );

    // jobhost's extension: asked for, each entry carries its statusDetails;
    // a request shaped as AWS's gets AWS's shape.
    let with: Value = fleet
        .api(
            Method::GET,
            "/jobs/big-1/things?maxResults=2&includeStatusDetails=true",
            json!(null),
        )
        .await
        .json()
        .await
        .unwrap();
    let entries = with["executionSummaries"].as_array().unwrap();
    assert_eq!(entries.len(), 2);
    assert_eq!(entries[0]["statusDetails"], json!({"detailsMap": {}}));
    assert!(with["nextToken"].is_string());
    let without: Value = fleet
        .api(Method::GET, "/jobs/big-1/things?maxResults=2", json!(null))
        .await
        .json()
        .await
        .unwrap();
    assert!(without["executionSummaries"][0]
        .get("statusDetails")
        .is_none());

    // More jobs in progress than the overview lists (big-1 is one).
    for i in 0..RUNNING {
        let r = fleet
            .api(
                Method::PUT,
                &format!("/jobs/small-{i:02}"),
                json!({"targets": ["t0000"], "document": "{\"operation\":\"echo\"}"}),
            )
            .await;
        assert!(r.status().is_success(), "CreateJob small-{i:02}");
    }

    let b = Browser::start(1280, 900).await;
    fleet.login(&b).await;
    // Fleet-wide counts, though one page of things is listed.
    assert_eq!(text(&b, "#offline dd").await, THINGS.to_string());
    assert_eq!(text(&b, "#online dd").await, "0");
    assert_eq!(
        text(&b, "#things-range").await,
        format!("Things 1–50 of {THINGS}")
    );
    assert_eq!(count(&b, "#things li").await, 50);
    // In progress: one bounded ListJobs, which says there are more.
    assert_eq!(text(&b, "#running dd").await, "20 or more");
    b.wait_for("a[href='/console/jobs?status=IN_PROGRESS']")
        .await;
    b.goto(&link(&b, "next").await).await;
    assert_eq!(
        text(&b, "#things-range").await,
        format!("Things 51–100 of {THINGS}")
    );
    b.goto(&link(&b, "next").await).await;
    assert_eq!(
        text(&b, "#things-range").await,
        format!("Things 101–150 of {THINGS}")
    );
    b.goto(&link(&b, "prev").await).await;
    assert_eq!(
        text(&b, "#things-range").await,
        format!("Things 51–100 of {THINGS}")
    );
    b.goto(&link(&b, "prev").await).await;
    assert_eq!(
        text(&b, "#things-range").await,
        format!("Things 1–50 of {THINGS}")
    );
    assert_eq!(
        count(&b, "nav.pager a[rel=prev]").await,
        0,
        "the first page has no previous"
    );

    // The jobs list: 20 a page, back and forth.
    b.goto(&format!("{}/console/jobs", fleet.base)).await;
    let first_jobs = text(&b, "tbody").await;
    b.goto(&link(&b, "next").await).await;
    assert_ne!(text(&b, "tbody").await, first_jobs);
    b.goto(&link(&b, "prev").await).await;
    assert_eq!(text(&b, "tbody").await, first_jobs);

    b.goto(&format!("{}/console/jobs/big-1", fleet.base)).await;
    b.wait_for("#live[data-connected=true]").await;
    assert_eq!(
        text(&b, "#executions-range").await,
        format!("1–50 of {THINGS}")
    );
    let rows = b
        .client
        .execute(
            "return document.querySelectorAll('#executions tbody tr').length;",
            vec![],
        )
        .await
        .unwrap();
    assert_eq!(rows, json!(50), "one page of executions, not all {THINGS}");
    b.wait_for("#executions tr[data-thing=t0000][data-status=QUEUED]")
        .await;

    // The next pages and back, by their links (read at once: the live
    // region may be re-rendered under a held element).
    b.goto(&link(&b, "next").await).await;
    b.wait_for("#live[data-connected=true]").await;
    assert_eq!(
        text(&b, "#executions-range").await,
        format!("51–100 of {THINGS}")
    );
    b.wait_for("#executions tr[data-thing=t0050]").await;
    assert!(
        text(&b, "nav.pager").await.contains("First page"),
        "a later page links back to the first"
    );
    b.goto(&link(&b, "next").await).await;
    b.wait_for("#live[data-connected=true]").await;
    assert_eq!(
        text(&b, "#executions-range").await,
        format!("101–150 of {THINGS}")
    );
    b.goto(&link(&b, "prev").await).await;
    b.wait_for("#live[data-connected=true]").await;
    assert_eq!(
        text(&b, "#executions-range").await,
        format!("51–100 of {THINGS}")
    );
    b.wait_for("#executions tr[data-thing=t0050]").await;
    b.assert_accessible("job-large").await;
}

/// The text of `css`, read in one script call (the live region may be
/// replaced between finding an element and reading it).
async fn text(b: &Browser, css: &str) -> String {
    let v = b
        .client
        .execute(
            "return document.querySelector(arguments[0]).textContent;",
            vec![json!(css)],
        )
        .await
        .unwrap();
    v.as_str().unwrap_or_default().trim().to_owned()
}

/// The pager's link to the `rel` page (`next`, `prev`), read in one
/// script call.
async fn link(b: &Browser, rel: &str) -> String {
    let href = b
        .client
        .execute(
            "const a = document.querySelector('nav.pager a[rel=' + arguments[0] + ']'); return a && a.href;",
            vec![json!(rel)],
        )
        .await
        .unwrap();
    href.as_str()
        .unwrap_or_else(|| panic!("no {rel} link"))
        .to_owned()
}

/// How many elements match `css`.
async fn count(b: &Browser, css: &str) -> u64 {
    let n = b
        .client
        .execute(
            "return document.querySelectorAll(arguments[0]).length;",
            vec![json!(css)],
        )
        .await
        .unwrap();
    n.as_u64().unwrap_or_default()
}
