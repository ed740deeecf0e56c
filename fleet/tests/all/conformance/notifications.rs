//! `notify` and `notify-next`
//! (<https://docs.aws.amazon.com/iot/latest/developerguide/jobs-comm-notifications.html>),
//! and presigned URLs in the documents they and the describe replies
//! deliver (the `${aws:iot:s3-presigned-url:…}` placeholder,
//! <https://docs.aws.amazon.com/iot/latest/developerguide/create-manage-jobs.html>).

use super::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn notify_next_is_sent_only_when_the_head_changes() {
    let fleet = Fleet::start().await;
    let mut t1 = fleet.device("t1").await;

    // A job for an idle thing: a new head.
    fleet.create("j1", &["t1"], &doc("one"));
    let [notify, next] = two(t1.expect_all(&["notify", "notify-next"]).await);
    assert_eq!(
        next,
        json!({ "timestamp": T0, "execution": queued_execution("t1", "j1", &doc("one"), T0) })
    );
    assert_eq!(
        notify,
        json!({ "timestamp": T0, "jobs": { "QUEUED": [summary("j1", T0, None, T0, 1)] } })
    );

    // Queued behind it: notify only.
    fleet.at(10);
    fleet.create("j2", &["t1"], &doc("two"));
    let notify = t1.expect("notify").await;
    assert_eq!(
        notify["jobs"],
        json!({ "QUEUED": [summary("j1", T0, None, T0, 1), summary("j2", T0 + 10, None, T0 + 10, 1)] })
    );
    t1.probe("after-j2").await;

    // The head starting stays the head: notify only.
    fleet.at(20);
    let replies = t1
        .accepted_notifying("j1/update", json!({ "status": "IN_PROGRESS" }), &["notify"])
        .await;
    assert_eq!(
        replies[0]["jobs"],
        json!({
            "IN_PROGRESS": [summary("j1", T0, Some(T0 + 20), T0 + 20, 2)],
            "QUEUED": [summary("j2", T0 + 10, None, T0 + 10, 1)],
        })
    );
    t1.probe("after-start").await;

    // The head ending: the next one is announced, with its document.
    fleet.at(30);
    let replies = t1
        .accepted_notifying(
            "j1/update",
            json!({ "status": "SUCCEEDED" }),
            &["notify", "notify-next"],
        )
        .await;
    assert_eq!(
        replies[0],
        json!({ "timestamp": T0 + 30, "jobs": { "QUEUED": [summary("j2", T0 + 10, None, T0 + 10, 1)] } })
    );
    assert_eq!(
        replies[1],
        json!({ "timestamp": T0 + 30, "execution": queued_execution("t1", "j2", &doc("two"), T0 + 10) })
    );

    // The last one ending: notify-next without an execution.
    fleet.at(40);
    t1.accepted_notifying("j2/update", json!({ "status": "IN_PROGRESS" }), &["notify"])
        .await;
    t1.probe("after-j2-start").await;
    let replies = t1
        .accepted_notifying(
            "j2/update",
            json!({ "status": "FAILED" }),
            &["notify", "notify-next"],
        )
        .await;
    assert_eq!(replies[0], json!({ "timestamp": T0 + 40, "jobs": {} }));
    assert_eq!(replies[1], json!({ "timestamp": T0 + 40 }));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn starting_a_job_queued_behind_the_head_makes_it_the_head() {
    let fleet = Fleet::start().await;
    let mut t1 = fleet.device("t1").await;
    fleet.create("j1", &["t1"], &doc("one"));
    t1.expect_all(&["notify", "notify-next"]).await;
    fleet.at(10);
    fleet.create("j2", &["t1"], &doc("two"));
    t1.expect("notify").await;

    // IN_PROGRESS comes first: j2 is the new head.
    fleet.at(20);
    let replies = t1
        .accepted_notifying(
            "j2/update",
            json!({ "status": "IN_PROGRESS", "statusDetails": { "step": "1" } }),
            &["notify", "notify-next"],
        )
        .await;
    assert_eq!(
        replies[1]["execution"],
        json!({
            "jobId": "j2",
            "thingName": "t1",
            "jobDocument": doc("two"),
            "status": "IN_PROGRESS",
            "statusDetails": { "step": "1" },
            "queuedAt": T0 + 10,
            "startedAt": T0 + 20,
            "lastUpdatedAt": T0 + 20,
            "versionNumber": 2,
            "executionNumber": 1,
        })
    );
    assert_eq!(
        replies[0]["jobs"],
        json!({
            "IN_PROGRESS": [summary("j2", T0 + 10, Some(T0 + 20), T0 + 20, 2)],
            "QUEUED": [summary("j1", T0, None, T0, 1)],
        })
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn notify_follows_status_changes_but_not_progress_updates() {
    let fleet = Fleet::start().await;
    let mut t1 = fleet.device("t1").await;
    // Through the HTTP API this time (AWS sends the document as a string).
    let created = fleet
        .http
        .put(fleet.url("/jobs/j1"))
        .json(&json!({ "targets": ["t1"], "document": doc("one").to_string() }))
        .send()
        .await
        .unwrap();
    assert_eq!(created.status(), reqwest::StatusCode::OK);
    let [notify, _] = two(t1.expect_all(&["notify", "notify-next"]).await);
    assert_eq!(
        notify,
        json!({ "timestamp": T0, "jobs": { "QUEUED": [summary("j1", T0, None, T0, 1)] } })
    );

    fleet.at(10);
    let replies = t1
        .accepted_notifying(
            "j1/update",
            json!({ "status": "IN_PROGRESS", "statusDetails": { "progress": "0" } }),
            &["notify"],
        )
        .await;
    assert_eq!(
        replies[0],
        json!({
            "timestamp": T0 + 10,
            "jobs": { "IN_PROGRESS": [summary("j1", T0, Some(T0 + 10), T0 + 10, 2)] },
        })
    );

    // Progress (IN_PROGRESS → IN_PROGRESS), and start-next resuming it:
    // the pending list is the same, so no notify.
    fleet.at(20);
    t1.accepted(
        "j1/update",
        json!({ "status": "IN_PROGRESS", "statusDetails": { "progress": "50" } }),
    )
    .await;
    t1.accepted("start-next", json!({})).await;
    t1.probe("after-progress").await;

    // Ending it empties the queue: `"jobs": {}`.
    fleet.at(30);
    let replies = t1
        .accepted_notifying(
            "j1/update",
            json!({ "status": "SUCCEEDED" }),
            &["notify", "notify-next"],
        )
        .await;
    assert_eq!(replies[0], json!({ "timestamp": T0 + 30, "jobs": {} }));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn presigned_placeholders_are_signed_at_every_delivery() {
    let fleet = Fleet::start().await;
    let mut t1 = fleet.device("t1").await;
    let bytes: Vec<u8> = (0..=255u8).cycle().take(10_000).collect();
    let info = fleet.server.artifacts.put("firmware.bin", &bytes).unwrap();
    let placeholder = format!("${{aws:iot:s3-presigned-url:{}}}", info.url);
    let document = json!({ "operation": "download", "url": placeholder, "sha256": info.sha256 });
    fleet.create("fw", &["t1"], &document);

    let [_, next] = two(t1.expect_all(&["notify", "notify-next"]).await);
    let first = signed_url(&next["execution"]["jobDocument"], &document, &info.url, T0);

    fleet.at(100);
    let reply = t1.accepted("$next/get", json!({})).await;
    let second = signed_url(
        &reply["execution"]["jobDocument"],
        &document,
        &info.url,
        T0 + 100,
    );
    assert_ne!(first.signature, second.signature);

    for url in [&first.url, &second.url] {
        let response = fleet.http.get(url).send().await.unwrap();
        assert_eq!(response.status(), reqwest::StatusCode::OK, "{url}");
        assert_eq!(response.bytes().await.unwrap(), bytes, "{url}");
    }
    let raw = fleet.http.get(&info.url).send().await.unwrap();
    assert_eq!(raw.status(), reqwest::StatusCode::FORBIDDEN);
    // Past its expiry the first URL is refused.
    fleet.at(URL_TTL + 1);
    let expired = fleet.http.get(&first.url).send().await.unwrap();
    assert_eq!(expired.status(), reqwest::StatusCode::FORBIDDEN);

    // GetJobDocument over HTTP keeps the placeholder: AWS IoT replaces it
    // only when it delivers the document to a device over MQTT
    // (https://docs.aws.amazon.com/iot/latest/developerguide/create-manage-jobs.html).
    let stored: Value = fleet
        .http
        .get(fleet.url("/jobs/fw/job-document"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let stored: Value = serde_json::from_str(stored["document"].as_str().unwrap()).unwrap();
    assert_eq!(stored, document);
}

struct SignedUrl {
    url: String,
    signature: String,
}

/// Checks that `delivered` is `original` with the placeholder replaced by
/// a URL to `raw` signed at `now`.
fn signed_url(delivered: &Value, original: &Value, raw: &str, now: i64) -> SignedUrl {
    let url = delivered["url"].as_str().unwrap().to_owned();
    let mut rest = delivered.clone();
    rest["url"] = original["url"].clone();
    assert_eq!(&rest, original, "only the placeholder changes");
    let query = url
        .strip_prefix(raw)
        .and_then(|q| q.strip_prefix('?'))
        .unwrap_or_else(|| panic!("{url} is not a signed {raw}"));
    let param = |name: &str| {
        query
            .split('&')
            .find_map(|p| p.strip_prefix(&format!("{name}=")))
            .unwrap_or_else(|| panic!("{url} has no {name}="))
            .to_owned()
    };
    assert_eq!(param("expires"), (now + URL_TTL).to_string(), "{url}");
    let signature = param("signature");
    assert!(!signature.is_empty(), "{url}");
    SignedUrl { url, signature }
}
