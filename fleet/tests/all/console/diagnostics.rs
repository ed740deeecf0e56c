//! A device's page shows its last diagnostics: the snapshot in the newest
//! bundle a diagnostics job uploaded through its `${jobhost:upload-url:…}`
//! URL (here a simulated device PUTs a tar.gz built from the protocol's
//! `Snapshot`, as the agent's plugin does), or why it cannot.

use super::browser::Browser;
use super::device::Outcome;
use super::fleet::Fleet;
use flate2::write::GzEncoder;
use flate2::Compression;
use jobhost_protocol::diagnostics::{PluginInfo, Snapshot};

fn tar_gz(entries: &[(&str, &[u8])]) -> Vec<u8> {
    let mut tar = tar::Builder::new(GzEncoder::new(Vec::new(), Compression::default()));
    for (name, data) in entries {
        let mut header = tar::Header::new_gnu();
        header.set_size(data.len() as u64);
        header.set_mode(0o644);
        header.set_cksum();
        tar.append_data(&mut header, name, *data).unwrap();
    }
    tar.into_inner().unwrap().finish().unwrap()
}

fn plugin(name: &str, version: &str, key_id: &str) -> PluginInfo {
    PluginInfo {
        name: name.into(),
        version: version.into(),
        digest: "0f".repeat(32),
        key_id: key_id.into(),
        operations: vec![name.into()],
    }
}

fn snapshot() -> Snapshot {
    Snapshot {
        agent_version: "9.8.7".into(),
        thing_name: "dev-diag".into(),
        agent_uptime_secs: 42,
        system_uptime_secs: Some(1000),
        memory_total_bytes: None,
        memory_available_bytes: None,
        disk_total_bytes: None,
        disk_free_bytes: None,
        plugins: vec![
            plugin("diagnostics", "0.1.0", "ops-2025"),
            // A device's text is shown as text, never run as HTML.
            plugin("<img src=x onerror=alert(1)>", "", ""),
        ],
        broker_endpoint: "127.0.0.1:8883".into(),
        broker_connected: true,
        broker_reconnects: 1,
        recent_log: vec!["agent started".into()],
    }
}

/// Runs a diagnostics job on the device, which uploads `bundle` to the
/// URL its document received.
async fn diagnostics_job(
    fleet: &Fleet,
    device: &super::device::Device,
    job: &str,
    bundle: Vec<u8>,
) {
    let r = fleet
        .api(
            reqwest::Method::PUT,
            &format!("/jobs/{job}"),
            serde_json::json!({
                "targets": ["dev-diag"],
                "document": {"operation": "diagnostics", "uploadUrl": "${jobhost:upload-url:bundle.tar.gz}"},
            }),
        )
        .await;
    assert!(
        r.status().is_success(),
        "CreateJob: {}",
        r.text().await.unwrap_or_default()
    );
    let document = device.document(job).await;
    let url = document["uploadUrl"].as_str().expect("a presigned URL");
    let put = crate::support::http()
        .put(url)
        .body(bundle)
        .send()
        .await
        .unwrap();
    assert!(put.status().is_success(), "the upload: {}", put.status());
    device.release();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_devices_page_shows_the_plugins_of_its_last_diagnostics_bundle() {
    let fleet = Fleet::start().await;
    let device = fleet.device("dev-diag", Outcome::Succeed, true).await;
    let b = Browser::start(1280, 900).await;
    fleet.login(&b).await;

    // A bundle that is no tar.gz: the page says so, and links to it.
    diagnostics_job(&fleet, &device, "diag-bad", b"<b>not a bundle</b>".to_vec()).await;
    b.goto(&format!("{}/console/things/dev-diag", fleet.base))
        .await;
    let alert = b.text("[role=alert]").await;
    assert!(alert.contains("not a readable tar.gz"), "{alert}");

    let json = serde_json::to_vec_pretty(&snapshot()).unwrap();
    let bundle = tar_gz(&[("snapshot.json", &json), ("agent.log", b"agent started\n")]);
    diagnostics_job(&fleet, &device, "diag-good", bundle.clone()).await;
    b.goto(&format!("{}/console/things/dev-diag", fleet.base))
        .await;
    let row = b.text("#plugins tr[data-plugin=diagnostics]").await;
    assert!(row.contains("0.1.0") && row.contains("ops-2025"), "{row}");
    let hostile = b.text("#plugins tbody tr:nth-child(2)").await;
    assert!(
        hostile.contains("<img src=x onerror=alert(1)>"),
        "shown as text: {hostile}"
    );
    assert!(hostile.contains("unsigned"), "{hostile}");
    let main = b.text("main").await;
    assert!(
        main.contains("9.8.7") && main.contains("From job diag-good"),
        "{main}"
    );
    b.assert_accessible("device with diagnostics").await;
    b.screenshot("device-diagnostics").await;

    // The link downloads the bundle as uploaded (through the console).
    let href = b
        .wait_for("a[download][href$='/diag-good/bundle.tar.gz']")
        .await
        .attr("href")
        .await
        .unwrap()
        .expect("a link");
    let fetched = b
        .client
        .execute_async(
            "const done = arguments[arguments.length - 1];
             fetch(arguments[0]).then(r => r.arrayBuffer()).then(a => done(a.byteLength), e => done(String(e)));",
            vec![serde_json::json!(href)],
        )
        .await
        .unwrap();
    assert_eq!(fetched, serde_json::json!(bundle.len()));
}
