//! A job's `presignedUrlConfig.expiresInSec` sets how long the URLs in its
//! delivered document stay valid, instead of the server's `--url-ttl`
//! ([`URL_TTL`] here), from CreateJob on and after an UpdateJob, on every
//! delivery path (`notify-next`, `$next/get`, `start-next`, `update` with
//! the document).

use super::*;

/// The `expires` of the one presigned URL in a delivered document.
fn expires(document: &Value) -> i64 {
    let url = document["url"].as_str().unwrap();
    url.split(['?', '&'])
        .find_map(|p| p.strip_prefix("expires="))
        .unwrap_or_else(|| panic!("{url} is not presigned"))
        .parse()
        .unwrap()
}

async fn http(fleet: &Fleet, method: reqwest::Method, path: &str, body: Value) {
    let response = fleet
        .http
        .request(method, fleet.url(path))
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), reqwest::StatusCode::OK, "{path}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_jobs_expires_in_sec_sets_its_urls_lifetime() {
    let fleet = Fleet::start().await;
    let mut t1 = fleet.device("t1").await;
    let info = fleet.server.artifacts.put("fw.bin", b"firmware").unwrap();
    let document = json!({ "operation": "download", "url": format!("${{aws:iot:s3-presigned-url:{}}}", info.url) });
    let body = json!({
        "targets": ["t1"],
        "document": document.to_string(),
        "presignedUrlConfig": {"roleArn": "arn:aws:iam::123456789012:role/unused", "expiresInSec": 120},
    });
    http(&fleet, reqwest::Method::PUT, "/jobs/fw", body).await;
    let [_, next] = two(t1.expect_all(&["notify", "notify-next"]).await);
    let delivered = &next["execution"]["jobDocument"];
    assert_eq!(expires(delivered), T0 + 120, "{delivered}");
    // The URL works until then, and not after.
    let url = delivered["url"].as_str().unwrap().to_owned();
    fleet.at(120);
    let ok = fleet.http.get(&url).send().await.unwrap();
    assert_eq!(ok.status(), reqwest::StatusCode::OK);
    fleet.at(121);
    let late = fleet.http.get(&url).send().await.unwrap();
    assert_eq!(late.status(), reqwest::StatusCode::FORBIDDEN);

    fleet.at(200);
    let reply = t1.accepted("$next/get", json!({})).await;
    assert_eq!(expires(&reply["execution"]["jobDocument"]), T0 + 200 + 120);

    // UpdateJob: the next delivery uses the new lifetime.
    let patch = json!({"presignedUrlConfig": {"expiresInSec": 3600}});
    http(&fleet, reqwest::Method::PATCH, "/jobs/fw", patch).await;
    fleet.at(300);
    let started = t1
        .accepted_notifying("start-next", json!({}), &["notify"])
        .await;
    drop(started);
    let reply = t1
        .accepted(
            "fw/update",
            json!({"status": "IN_PROGRESS", "includeJobDocument": true}),
        )
        .await;
    assert_eq!(expires(&reply["jobDocument"]), T0 + 300 + 3600);

    // A job without the setting gets the server's lifetime.
    let body = json!({"targets": ["t2"], "document": document.to_string()});
    http(&fleet, reqwest::Method::PUT, "/jobs/plain", body).await;
    let mut t2 = fleet.replies_only("t2").await;
    let reply = t2.accepted("$next/get", json!({})).await;
    assert_eq!(
        expires(&reply["execution"]["jobDocument"]),
        T0 + 300 + URL_TTL
    );
}
