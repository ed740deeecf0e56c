//! What a hostile plugin, a hostile broker or a hostile download host can
//! make the agent send, write or wait for: checkpoint floods are coalesced,
//! invalid job ids never reach a topic, a plugin cannot forge the keys the
//! agent writes, and a trickling install ends at its deadline. Each case
//! ends with the agent running the next job normally.

use std::time::Instant;

use serde_json::{json, Value};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use super::device::Device;
use super::scripted::{execution, Request, WAIT};
use super::{probe, Rig};

/// The device's `progress_interval_secs`.
const INTERVAL_SECS: u64 = 1;

/// Offers `job` (a probe that does nothing) in answer to the agent's next
/// `$next/get` and runs it to SUCCEEDED: the agent still serves.
async fn runs_the_next_job(rig: &mut Rig, job: &str) {
    let claim = rig.service.offer(job, probe(json!({}))).await;
    rig.service.accept(&claim, json!({})).await;
    let report = rig.service.skip_progress(job).await;
    assert_eq!(report.status(), "SUCCEEDED", "{report:?}");
    rig.service.accept(&report, json!({})).await;
    rig.service.expect_next_get().await;
}

fn details(request: &Request) -> &Value {
    &request.body["statusDetails"]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_checkpoint_flood_is_coalesced_and_the_newest_checkpoint_is_the_one_resumed() {
    const CHECKPOINTS: usize = 2000;
    let last = format!("c{CHECKPOINTS}");
    let mut rig = Rig::start("t-checkpoint-flood").await;
    let document = probe(json!({
        "started": "/data/runs", "checkpoints": CHECKPOINTS, "wait_for": "/data/release"
    }));
    let claim = rig.service.offer("job-1", document.clone()).await;
    rig.service.accept(&claim, json!({})).await;
    let started = Instant::now();
    let deadline = started + WAIT;
    let mut updates = 0u64;
    loop {
        let update = rig.service.next_request_before(deadline).await;
        assert!(
            update.is_update("job-1") && update.status() == "IN_PROGRESS",
            "{update:?}"
        );
        rig.service.accept(&update, json!({})).await;
        updates += 1;
        if details(&update)["checkpoint"] == last.as_str() {
            break;
        }
    }
    // At most one update a second, the first at once.
    let most = started.elapsed().as_secs() / INTERVAL_SECS + 2;
    assert!(
        updates <= most,
        "{updates} updates for {CHECKPOINTS} checkpoints in {:?}; at most {most} at one a second",
        started.elapsed()
    );
    // The newest is durable while the plugin still runs, not only at its end.
    rig.device
        .journal_until("the newest checkpoint", |j| {
            j.running
                .as_ref()
                .is_some_and(|r| r.checkpoint.as_deref() == Some(last.as_str()))
        })
        .await;
    rig.device.kill();
    let runs = super::crash::resume_killed(&mut rig, document, "c1").await;
    assert_eq!(
        runs,
        ["checkpoint=-".to_owned(), format!("checkpoint={last}")],
        "the resumed run gets the newest checkpoint"
    );
    runs_the_next_job(&mut rig, "job-2").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn invalid_job_ids_from_the_broker_are_ignored_and_the_agent_keeps_serving() {
    let mut rig = Rig::start("t-bad-ids").await;
    let get = rig.service.expect_next_get().await;
    let offer = |id: &str| execution(id, 1, 1, "QUEUED", probe(json!({})));
    rig.service
        .accept(&get, json!({ "execution": offer("a/b") }))
        .await;
    for id in ["a/+", "a/+", "#", "job\nforged", &"j".repeat(65), ""] {
        rig.service.notify_next(Some(offer(id))).await;
    }
    rig.service
        .notify(json!({"QUEUED": [{"jobId": "a/#", "executionNumber": 1, "versionNumber": 1}]}))
        .await;
    // Delivered in order after all of the above: the first thing the
    // agent publishes since is the claim of this one.
    rig.service.notify_next(Some(offer("job-ok"))).await;
    let claim = rig.service.expect_update("job-ok").await;
    rig.service.accept(&claim, json!({})).await;
    let report = rig.service.skip_progress("job-ok").await;
    assert_eq!(report.status(), "SUCCEEDED", "{report:?}");
    rig.service.accept(&report, json!({})).await;
    rig.service.expect_next_get().await;
    assert_eq!(rig.service.stray_topics(), Vec::<String>::new());

    let log = rig.device.log();
    let logged = |shown: &str| {
        log.lines()
            .filter(|l| l.contains(&format!("invalid jobId {shown}")))
            .count()
    };
    assert_eq!(logged(r#""a/+""#), 1, "logged once:\n{log}");
    assert_eq!(logged(r#""job\nforged""#), 1, "escaped:\n{log}");
    assert_eq!(logged(r#""a/b""#), 1, "{log}");
    runs_the_next_job(&mut rig, "job-2").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_plugin_cannot_forge_the_keys_the_agent_writes() {
    let mut rig = Rig::start("t-forge").await;
    let forged = json!({
        "step": "rebooting", "bootId": "forged-boot", "rebootReason": "forged",
        "checkpoint": "forged", "reason": "forged", "downloadProgress": "99%",
        "lastError": "forged", "mine": "kept"
    });
    let assert_clean = |request: &Request| {
        let d = details(request);
        for key in [
            "bootId",
            "rebootReason",
            "checkpoint",
            "downloadProgress",
            "lastError",
        ] {
            assert!(d.get(key).is_none(), "{key} forged: {request:?}");
        }
        assert_ne!(d["step"], "rebooting", "{request:?}");
        assert_ne!(d["reason"], "forged", "{request:?}");
    };

    let document = probe(json!({"forge": forged, "wait_for": "/data/release"}));
    let claim = rig.service.offer("job-1", document).await;
    rig.service.accept(&claim, json!({})).await;
    let progress = rig.service.expect_update("job-1").await;
    assert_eq!(details(&progress)["mine"], "kept", "{progress:?}");
    assert_clean(&progress);
    rig.service.accept(&progress, json!({})).await;
    rig.device.release("release");
    let report = rig.service.skip_progress("job-1").await;
    assert_eq!(report.status(), "SUCCEEDED", "{report:?}");
    assert_eq!(details(&report)["mine"], "kept", "{report:?}");
    assert_clean(&report);
    rig.service.accept(&report, json!({})).await;
    rig.service.expect_next_get().await;

    // A failure's map cannot override the reason either.
    let document = probe(json!({"forge": forged, "forge_fails": true}));
    let claim = rig.service.offer("job-2", document).await;
    rig.service.accept(&claim, json!({})).await;
    let report = rig.service.skip_progress("job-2").await;
    assert_eq!(report.status(), "FAILED", "{report:?}");
    assert_eq!(details(&report)["reason"], "the probe failed as asked");
    assert_clean(&report);
    rig.service.accept(&report, json!({})).await;
    rig.service.expect_next_get().await;
    runs_the_next_job(&mut rig, "job-3").await;
}

/// A download host that answers with headers announcing 1 MB, then sends
/// one byte a second: each byte resets the download's stall timer.
async fn slow_drip_server() -> (std::net::SocketAddr, tokio::task::JoinHandle<()>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let task = tokio::spawn(async move {
        while let Ok((mut socket, _)) = listener.accept().await {
            tokio::spawn(async move {
                let mut head = [0u8; 4096];
                let _ = socket.read(&mut head).await;
                let headers = "HTTP/1.1 200 OK\r\nContent-Length: 1000000\r\n\r\n";
                if socket.write_all(headers.as_bytes()).await.is_err() {
                    return;
                }
                // The drip itself, not a wait for anything.
                while socket.write_all(b"x").await.is_ok() {
                    tokio::time::sleep(std::time::Duration::from_secs(1)).await;
                }
            });
        }
    });
    (addr, task)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_trickling_install_ends_failed_at_its_deadline() {
    const TIMEOUT_SECS: u64 = 3;
    let (drip, _server) = slow_drip_server().await;
    let mut rig = Rig::prepare("t-slow-install", |broker| {
        Device::with_settings(
            "t-slow-install",
            broker,
            &format!("install_hosts = [\"{drip}\"]\ninstall_allow_http = true"),
            &format!("timeout_secs = {TIMEOUT_SECS}"),
        )
    })
    .await;
    rig.device.start();
    let document = json!({
        "operation": "install-plugin",
        "url": format!("http://{drip}/plugin.wasm"),
        "sha256": "ab".repeat(32),
    });
    let claim = rig.service.offer("job-1", document).await;
    rig.service.accept(&claim, json!({})).await;
    let started = Instant::now();
    let report = rig.service.skip_progress("job-1").await;
    assert_eq!(report.status(), "FAILED", "{report:?}");
    assert_eq!(
        details(&report)["reason"],
        format!("timed out after {TIMEOUT_SECS} s").as_str(),
        "{report:?}"
    );
    // Generous: the point is that it ends, not when to the millisecond.
    assert!(
        started.elapsed() < WAIT / 2,
        "ended only after {:?}",
        started.elapsed()
    );
    rig.service.accept(&report, json!({})).await;
    rig.service.expect_next_get().await;
    runs_the_next_job(&mut rig, "job-2").await;
}
