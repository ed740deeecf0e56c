//! A plugin's certificate rotation: accepted, refused, timed out.

use super::*;

/// A device that connects with a client certificate, with a new pair
/// staged beside it (as `certificates.install` leaves it).
fn rotating_device() -> (Device, crate::certstore::tests::Staged) {
    let device = Device::new("");
    // Apart from `data/`: the config refuses a grant near the key.
    std::fs::create_dir_all(device.path("private")).unwrap();
    let staged = crate::certstore::tests::staged(&device.path("private"));
    std::fs::write(device.path("ca.pem"), &staged.old.0).unwrap();
    let config = std::fs::read_to_string(device.path("jobhost.toml")).unwrap();
    let tls = "[broker.tls]\nca = \"ca.pem\"\ncert = \"private/device.pem\"\n\
               key = \"private/device.key\"\n";
    let config = config.replacen("[trust]", &format!("{tls}[trust]"), 1);
    std::fs::write(device.path("jobhost.toml"), config).unwrap();
    (device, staged)
}

/// Claims `job-c` and holds its run (the probe waits for `/data/go`), then
/// ends the run the way the executor does for a plugin that returned `ok`
/// after `certificates.install`. The rotate-certificate plugin itself needs
/// a CSR signing endpoint; its run is the end-to-end tests' (fleet
/// `rotate`). Returns the reconnect the actor then asks for.
async fn rotation_requested(device: &Device, agent: &mut Agent) -> rumqttc::MqttOptions {
    let document = probe(json!({
        "wait_for": "/data/go",
        "heartbeat": true,
        "write": [{"path": "/data/done", "content": ""}],
    }));
    agent
        .claimed(execution("job-c", "QUEUED", document, json!({})))
        .await;
    // Its first heartbeat: the run is under way.
    let progress = agent.update("job-c").await;
    assert_eq!(progress.status(), "IN_PROGRESS", "{progress:?}");
    let mut details = StatusDetails::new();
    details.insert("csr", "signed");
    agent
        .events
        .send(Event::Finished {
            job_id: "job-c".into(),
            execution_number: 1,
            conclusion: Conclusion::RotateCertificate {
                status_details: details,
            },
        })
        .unwrap();
    // The held run ends now; what it returns comes too late to count.
    std::fs::write(device.path("data/go"), "").unwrap();
    match agent.request().await {
        MqttRequest::Reconnect(options) => *options,
        other => panic!("expected a reconnect, got {other:?}"),
    }
}

fn client_cert(options: &rumqttc::MqttOptions) -> Vec<u8> {
    match options.transport() {
        rumqttc::Transport::Tls(rumqttc::TlsConfiguration::Simple { client_auth, .. }) => {
            client_auth.unwrap().0
        }
        _ => panic!("not TLS"),
    }
}

/// Connected with the new certificate → SUCCEEDED (with the new
/// certificate's details), over that connection.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rotation_the_broker_accepts_is_reported_succeeded() {
    let (device, staged) = rotating_device();
    let mut agent = device.start();
    let options = rotation_requested(&device, &mut agent).await;
    assert_eq!(client_cert(&options), staged.new.0.as_bytes());

    agent.connected().await;
    let report = agent.update_skipping_progress("job-c").await;
    assert_eq!(report.status(), "SUCCEEDED", "{report:?}");
    assert_eq!(report.detail("subject"), Some("CN=new"), "{report:?}");
    assert_eq!(report.detail("csr"), Some("signed"), "{report:?}");
    agent.stop().await;
}

/// The broker refuses the new certificate → the previous pair is put
/// back, the actor reconnects with it, and reports FAILED once connected.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rotation_the_broker_refuses_is_rolled_back_and_reported_failed() {
    let (device, staged) = rotating_device();
    let mut agent = device.start();
    rotation_requested(&device, &mut agent).await;

    agent.disconnected("TLS alert: bad certificate").await;
    let back = match agent.request().await {
        MqttRequest::Reconnect(options) => *options,
        other => panic!("expected the rollback's reconnect, got {other:?}"),
    };
    assert_eq!(client_cert(&back), staged.old.0.as_bytes());
    assert_eq!(
        std::fs::read_to_string(&staged.files.cert).unwrap(),
        staged.old.0
    );
    agent.connected().await;
    let report = agent.update_skipping_progress("job-c").await;
    assert_eq!(report.status(), "FAILED", "{report:?}");
    let reason = report.detail("reason").unwrap();
    assert!(
        reason.contains("the broker refused the new certificate: TLS alert")
            && reason.contains("the previous certificate is back in use"),
        "{reason}"
    );
    agent.stop().await;
}

/// A broker that never answers: after [`crate::agent::rotate::ROTATION_TIMEOUT`]
/// on tokio's paused clock, the rotation is rolled back.
#[tokio::test(flavor = "current_thread")]
async fn a_rotation_without_an_answer_is_rolled_back_at_the_timeout() {
    let (device, staged) = rotating_device();
    let mut agent = device.start();
    rotation_requested(&device, &mut agent).await;
    // tokio does not move a paused clock on while a blocking task runs
    // (the held plugin, released above): let it end first.
    wait_for_file(&device.path("data/done")).await;
    tokio::time::pause();
    let paused = tokio::time::Instant::now();
    let back = match agent.request().await {
        MqttRequest::Reconnect(options) => *options,
        other => panic!("expected the rollback's reconnect, got {other:?}"),
    };
    assert!(paused.elapsed() >= crate::agent::rotate::ROTATION_TIMEOUT);
    assert_eq!(client_cert(&back), staged.old.0.as_bytes());
    agent.connected().await;
    let report = agent.update_skipping_progress("job-c").await;
    assert_eq!(report.status(), "FAILED", "{report:?}");
    assert!(
        report
            .detail("reason")
            .is_some_and(|r| r.contains("did not accept the new certificate within 30 s")),
        "{report:?}"
    );
    agent.stop().await;
}
