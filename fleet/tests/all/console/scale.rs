//! A large fleet's overview and job page. The overview: its things in
//! pages of 50. The job page: its executions in pages of 50 read with one
//! ListJobExecutionsForJob request each (statusDetails included through
//! jobhost's `includeStatusDetails`), "1–50 of N" and a next-page link,
//! instead of every execution and a DescribeJobExecution per row. No
//! devices: the things and the job are made through the API, as a script
//! would, and every execution stays QUEUED.

use super::browser::Browser;
use super::fleet::Fleet;
use reqwest::Method;
use serde_json::{json, Value};

const THINGS: usize = 300;

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

    let b = Browser::start(1280, 900).await;
    fleet.login(&b).await;
    // The overview asks about one page of things, not all of them.
    assert_eq!(
        text(&b, "#things-range").await,
        "Online and offline count things 1–50, 50 per page."
    );
    assert_eq!(text(&b, "dl.cards div:nth-child(2) dd").await, "50");
    let next = next_link(&b).await;
    b.goto(next.as_str().expect("a next-things link")).await;
    assert_eq!(
        text(&b, "#things-range").await,
        "Online and offline count things 51–100, 50 per page."
    );
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

    // The next page, by its link (read at once: the live region may be
    // re-rendered under a held element).
    let next = next_link(&b).await;
    b.goto(next.as_str().expect("a next-page link")).await;
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

/// The pager's last link (next page), read in one script call.
async fn next_link(b: &Browser) -> serde_json::Value {
    b.client
        .execute(
            "return document.querySelector('nav.pager a:last-child').href;",
            vec![],
        )
        .await
        .unwrap()
}
