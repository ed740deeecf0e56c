//! The job lifecycle without a broker (thin-edge's `restart_manager/tests.rs`
//! shape): each test spawns an [`Actor`] on a real journal in a temporary
//! directory, with real plugins built from this repository
//! (`target/plugins`, signed here as an operator would), plays the MQTT
//! connection through [`crate::mqtt::channel`] (the broker's side:
//! `Connected`, messages, `Disconnected`) and asserts on the `(topic,
//! payload)` pairs the actor publishes.
//!
//! The wire itself, against a real broker and the real binary, is pinned by
//! `host/tests/agent/*` and the fleet's end-to-end tests.
#![allow(clippy::unwrap_used)] // test code: a panic is the failure report

use super::actor::Actor;
use super::journal::{Journal, RunningEntry};
use super::state::Event;
use crate::config::Config;
use crate::executor::Conclusion;
use crate::mqtt::{channel, MqttEvent, MqttRequest, MqttRequests};
use crate::plugins::Plugins;
use crate::runtime::{EngineConfig, Runtime};
use crate::trust::{sign, Manifest, SecretKey};
use jobhost_protocol::{StatusDetails, TerminalStatus};
use serde_json::{json, Value};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;
use tokio::sync::{mpsc, watch};

const THING: &str = "t";

/// How long a test waits for something the actor should do at once (a
/// plugin run included): a bound for a failure, never a sleep. Longer
/// than the actor's own timeouts, which paused-clock tests wait out.
const WAIT: Duration = Duration::from_secs(60);

/// The plugins the tests' devices have.
const PLUGINS: [&str; 2] = ["test-probe", "reboot"];

/// `target/plugins/<name>.wasm` (or under `$CARGO_TARGET_DIR`), built from
/// source by `scripts/build-plugins`.
fn built_path(name: &str) -> PathBuf {
    std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../target"))
        .join("plugins")
        .join(format!("{name}.wasm"))
}

/// A built plugin and its manifest.
fn built(name: &str) -> (Vec<u8>, Manifest) {
    let wasm = built_path(name);
    assert!(
        wasm.is_file(),
        "{} is missing: run scripts/build-plugins first",
        wasm.display()
    );
    let manifest = std::fs::read_to_string(wasm.with_extension("toml")).unwrap();
    (
        std::fs::read(&wasm).unwrap(),
        Manifest::from_toml(&manifest).unwrap(),
    )
}

/// One runtime for all the tests, with a compiled cache that the first
/// test to get here fills, so that each plugin is compiled once per test
/// binary, not once per test, all at the same time.
fn runtime() -> Arc<Runtime> {
    static RUNTIME: OnceLock<(Arc<Runtime>, tempfile::TempDir)> = OnceLock::new();
    RUNTIME
        .get_or_init(|| {
            let dir = tempfile::tempdir().unwrap();
            let runtime = Runtime::new(&EngineConfig {
                cache_dir: Some(dir.path().to_path_buf()),
                ..EngineConfig::default()
            })
            .unwrap();
            for name in PLUGINS {
                crate::runtime::Plugin::load_unverified_file(&runtime, &built_path(name)).unwrap();
            }
            (runtime, dir)
        })
        .0
        .clone()
}

/// [`PLUGINS`] signed by an operator key, once per test binary (hashing
/// them is slow in a debug build), and that key's public key file.
fn signed_plugins() -> &'static (Vec<u8>, Vec<Vec<u8>>) {
    static SIGNED: OnceLock<(Vec<u8>, Vec<Vec<u8>>)> = OnceLock::new();
    SIGNED.get_or_init(|| {
        let dir = tempfile::tempdir().unwrap();
        let key = SecretKey::generate().unwrap();
        let public = key.write_files(&dir.path().join("operator.key")).unwrap();
        let signed = PLUGINS
            .iter()
            .map(|name| {
                let (wasm, manifest) = built(name);
                sign(&wasm, &manifest, &key).unwrap()
            })
            .collect();
        (std::fs::read(public).unwrap(), signed)
    })
}

/// A device's directory: config, operator key, signed plugins, state.
struct Device {
    dir: tempfile::TempDir,
}

impl Device {
    /// `test-probe` (with `data/` as its `/data`) and `reboot`, signed;
    /// `extra` is appended to the config.
    fn new(extra: &str) -> Device {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        let (public_key, signed) = signed_plugins();
        std::fs::write(root.join("operator.key.pub"), public_key).unwrap();
        std::fs::create_dir_all(root.join("plugins")).unwrap();
        std::fs::create_dir_all(root.join("data")).unwrap();
        for (name, signed) in PLUGINS.iter().zip(signed) {
            std::fs::write(root.join(format!("plugins/{name}.wasm")), signed).unwrap();
        }
        let config = format!(
            r#"thing_name = "{THING}"
state_dir = "state"
plugin_dir = "plugins"
[broker]
host = "127.0.0.1"
port = 1883
[trust]
keys = ["operator.key.pub"]
[limits]
progress_interval_secs = 1
[plugins.test-probe]
dirs = ["data:/data"]
{extra}"#
        );
        std::fs::write(root.join("jobhost.toml"), config).unwrap();
        std::fs::create_dir_all(root.join("state")).unwrap();
        Device { dir }
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    fn config(&self) -> Config {
        Config::load(&self.path("jobhost.toml")).unwrap()
    }

    fn journal(&self) -> Journal {
        Journal::open(&self.path("state")).unwrap()
    }

    /// Writes to the journal, as an earlier agent on this device did.
    fn journaled(&self, change: impl FnOnce(&mut super::journal::JournalState)) {
        self.journal().update(change).unwrap();
    }

    /// Starts an agent on this device, as `jobhost agent` does (without
    /// the connection task: the test is the broker).
    fn start(&self) -> Agent {
        let mut config = self.config();
        let journal = self.journal();
        super::rotate::recover(&mut config, &journal);
        let runtime = runtime();
        let plugins = Arc::new(Plugins::open(&config, &runtime).unwrap());
        let (mqtt, requests) = channel();
        let (broker, mqtt_events) = mpsc::channel(64);
        let (events, events_rx) = mpsc::unbounded_channel();
        let (stop, shutdown) = watch::channel(false);
        let diagnostics = crate::diagnostics::AgentDiagnostics::new(
            THING,
            "test",
            config.state_dir.clone(),
            std::time::Instant::now(),
            Box::new(Vec::new),
        );
        let actor = Actor::new(
            Arc::new(config),
            runtime,
            plugins,
            Arc::new(Mutex::new(journal)),
            mqtt,
            events.clone(),
            diagnostics,
        );
        let task = tokio::spawn(actor.run(mqtt_events, events_rx, shutdown));
        Agent {
            broker,
            requests,
            events,
            stop,
            task,
        }
    }
}

/// A running actor and the test's ends of its channels.
struct Agent {
    /// What the broker says.
    broker: mpsc::Sender<MqttEvent>,
    /// What the actor asks of the connection.
    requests: MqttRequests,
    /// The actor's own event channel (what a run would send).
    events: mpsc::UnboundedSender<Event>,
    stop: watch::Sender<bool>,
    task: tokio::task::JoinHandle<()>,
}

/// A publish the actor made.
#[derive(Debug, Clone)]
struct Published {
    topic: String,
    body: Value,
}

impl Published {
    fn token(&self) -> &str {
        self.body["clientToken"].as_str().unwrap_or_default()
    }

    fn status(&self) -> &str {
        self.body["status"].as_str().unwrap_or_default()
    }

    fn detail(&self, key: &str) -> Option<&str> {
        self.body["statusDetails"][key].as_str()
    }
}

fn update_topic(job: &str) -> String {
    format!("$aws/things/{THING}/jobs/{job}/update")
}

const NEXT_GET: &str = "$aws/things/t/jobs/$next/get";

/// An execution as the service sends it.
fn execution(job: &str, status: &str, document: Value, details: Value) -> Value {
    json!({
        "jobId": job,
        "status": status,
        "queuedAt": 1_700_000_000,
        "lastUpdatedAt": 1_700_000_000,
        "versionNumber": 1,
        "executionNumber": 1,
        "jobDocument": document,
        "statusDetails": details,
    })
}

impl Agent {
    async fn connected(&self) {
        self.broker.send(MqttEvent::Connected).await.unwrap();
    }

    async fn disconnected(&self, why: &str) {
        let event = MqttEvent::Disconnected {
            why: why.into(),
            busy: false,
        };
        self.broker.send(event).await.unwrap();
    }

    async fn message(&self, topic: String, body: Value) {
        let payload = body.to_string().into_bytes();
        let event = MqttEvent::Message { topic, payload };
        self.broker.send(event).await.unwrap();
    }

    /// The next request the actor makes of the connection.
    async fn request(&mut self) -> MqttRequest {
        tokio::time::timeout(WAIT, self.requests.recv())
            .await
            .expect("the actor asks something of the connection")
            .expect("the actor is running")
    }

    /// The next publish (a reconnect here fails the test).
    async fn published(&mut self) -> Published {
        match self.request().await {
            MqttRequest::Publish { topic, payload } => Published {
                topic,
                body: serde_json::from_slice(&payload).unwrap(),
            },
            other => panic!("expected a publish, got {other:?}"),
        }
    }

    /// The next publish, which must be an update of `job`.
    async fn update(&mut self, job: &str) -> Published {
        let update = self.published().await;
        assert_eq!(update.topic, update_topic(job), "{update:?}");
        update
    }

    /// The next update of `job`, which must come on the reconnect just
    /// made, not from the resend after [`super::outbox::REPLY_TIMEOUT`].
    async fn resent(&mut self, job: &str) -> Published {
        let asked = tokio::time::Instant::now();
        let update = self.update(job).await;
        assert!(
            asked.elapsed() < super::outbox::REPLY_TIMEOUT,
            "resent on the reconnect, not after the reply timeout"
        );
        update
    }

    /// The next update of `job` that is not a progress report.
    async fn update_skipping_progress(&mut self, job: &str) -> Published {
        loop {
            let update = self.update(job).await;
            if update.status() != "IN_PROGRESS" || update.detail("step").is_some() {
                return update;
            }
        }
    }

    async fn accept(&self, request: &Published, fields: Value) {
        let mut body = json!({"timestamp": 1_700_000_000, "clientToken": request.token()});
        if let (Some(body), Value::Object(fields)) = (body.as_object_mut(), fields) {
            body.extend(fields);
        }
        self.message(format!("{}/accepted", request.topic), body)
            .await;
    }

    async fn reject(&self, request: &Published, code: &str, state: Option<Value>) {
        let mut body = json!({
            "code": code,
            "message": format!("scripted {code}"),
            "timestamp": 1_700_000_000,
            "clientToken": request.token(),
        });
        if let Some(state) = state {
            body["executionState"] = state;
        }
        self.message(format!("{}/rejected", request.topic), body)
            .await;
    }

    /// Connects, answers the first `$next/get` with `execution`, and returns
    /// the claim.
    async fn offered(&mut self, execution: Value) -> Published {
        self.connected().await;
        let get = self.published().await;
        assert_eq!(get.topic, NEXT_GET, "{get:?}");
        let job = execution["jobId"].as_str().unwrap().to_owned();
        self.accept(&get, json!({ "execution": execution })).await;
        let claim = self.update(&job).await;
        assert_eq!(claim.status(), "IN_PROGRESS", "{claim:?}");
        claim
    }

    /// [`Self::offered`], and the claim accepted.
    async fn claimed(&mut self, execution: Value) -> Published {
        let claim = self.offered(execution).await;
        self.accept(&claim, json!({})).await;
        claim
    }

    /// Offers `job-1` for an operation no plugin handles, accepts the claim,
    /// and returns the report (REJECTED): a report without a plugin run.
    async fn rejected_report(&mut self) -> Published {
        let document = json!({"operation": "format-disk"});
        self.claimed(execution("job-1", "QUEUED", document, json!({})))
            .await;
        self.update("job-1").await
    }

    /// The actor asks for the next job, as it does once one is over.
    async fn asks_for_the_next_job(&mut self) {
        let get = self.published().await;
        assert_eq!(get.topic, NEXT_GET, "{get:?}");
    }

    /// Stops the actor as SIGTERM would, and waits for it.
    async fn stop(self) {
        self.stop.send(true).unwrap();
        tokio::time::timeout(WAIT, self.task)
            .await
            .expect("the actor stops")
            .unwrap();
    }
}

fn probe(document: Value) -> Value {
    let mut document = document;
    document["operation"] = json!("test-probe");
    document
}

/// notify-next / `$next/get` → IN_PROGRESS (expectedVersion) → accepted →
/// the plugin runs → SUCCEEDED with the plugin's statusDetails →
/// accepted → the next job is asked for.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_offered_job_is_claimed_run_and_reported_succeeded() {
    let device = Device::new("");
    let mut agent = device.start();
    let claim = agent
        .offered(execution(
            "job-1",
            "QUEUED",
            probe(json!({"compute": 3})),
            json!({}),
        ))
        .await;
    assert_eq!(claim.body["expectedVersion"], 1, "{claim:?}");
    assert_eq!(claim.body["executionNumber"], 1, "{claim:?}");
    agent.accept(&claim, json!({})).await;

    let report = agent.update_skipping_progress("job-1").await;
    assert_eq!(report.status(), "SUCCEEDED", "{report:?}");
    assert!(report.detail("computed").is_some(), "{report:?}");
    assert_ne!(report.token(), claim.token());
    // Journaled before it was published.
    let pending = device.journal().state().pending_report.clone().unwrap();
    assert_eq!(
        (pending.job_id.as_str(), pending.status),
        ("job-1", TerminalStatus::Succeeded)
    );

    agent.accept(&report, json!({})).await;
    agent.asks_for_the_next_job().await;
    assert!(device.journal().state().pending_report.is_none());
    agent.stop().await;
}

/// The same offer again after the job is done (every reconnect brings
/// one) is not run twice.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_finished_execution_offered_again_is_not_claimed() {
    let device = Device::new("");
    let mut agent = device.start();
    let offer = execution("job-1", "QUEUED", probe(json!({})), json!({}));
    agent.claimed(offer.clone()).await;
    let report = agent.update_skipping_progress("job-1").await;
    agent.accept(&report, json!({})).await;
    agent.asks_for_the_next_job().await;

    let notify = format!("$aws/things/{THING}/jobs/notify-next");
    agent
        .message(notify, json!({"timestamp": 1, "execution": offer}))
        .await;
    // Handled in order: had the offer been claimed, the claim would come
    // before the `$next/get` of this reconnect.
    agent.connected().await;
    agent.asks_for_the_next_job().await;
    agent.stop().await;
}

/// The terminal report, unanswered, goes out again with the same
/// clientToken on reconnect; a transient rejection keeps it; a
/// permanent one ends it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_report_is_resent_on_reconnect_until_answered() {
    let device = Device::new("");
    let mut agent = device.start();
    let report = agent.rejected_report().await;
    assert_eq!(report.status(), "REJECTED", "{report:?}");
    assert!(
        report
            .detail("reason")
            .is_some_and(|r| r.contains("unknown operation `format-disk`")),
        "{report:?}"
    );

    agent.disconnected("link down").await;
    agent.connected().await;
    let again = agent.resent("job-1").await;
    assert_eq!(again.body, report.body, "the same request, same token");

    // Transient: kept, and the next thing published is its resend.
    agent.reject(&again, "InternalError", None).await;
    agent.connected().await;
    let third = agent.resent("job-1").await;
    assert_eq!(third.body, report.body);

    agent.reject(&third, "TerminalStateReached", None).await;
    agent.asks_for_the_next_job().await;
    assert!(device.journal().state().pending_report.is_none());
    agent.stop().await;
}

/// A report without any reply is re-sent after [`super::outbox::REPLY_TIMEOUT`],
/// on tokio's paused clock.
#[tokio::test(flavor = "current_thread", start_paused = true)]
async fn a_report_without_reply_is_resent_after_the_reply_timeout() {
    let device = Device::new("");
    let mut agent = device.start();
    let report = agent.rejected_report().await;
    let started = tokio::time::Instant::now();
    let again = agent.update("job-1").await;
    assert_eq!(again.body, report.body);
    assert!(started.elapsed() >= super::outbox::REPLY_TIMEOUT);
    agent.stop().await;
}

/// A claim refused with VersionMismatch is claimed again against the
/// version the service has.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_claim_refused_for_its_version_is_claimed_again_with_the_new_one() {
    let device = Device::new("");
    let mut agent = device.start();
    let claim = agent
        .offered(execution("job-1", "QUEUED", probe(json!({})), json!({})))
        .await;
    let state = json!({"status": "QUEUED", "statusDetails": {}, "versionNumber": 4});
    agent.reject(&claim, "VersionMismatch", Some(state)).await;
    let again = agent.update("job-1").await;
    assert_eq!(again.status(), "IN_PROGRESS");
    assert_eq!(again.body["expectedVersion"], 4, "{again:?}");
    assert_ne!(again.token(), claim.token());
    agent.stop().await;
}

/// The job is cancelled mid-run (notify-next moves on, describe says
/// CANCELED): the run's CancelToken fires, the plugin stops, nothing more
/// is reported for it, and the agent asks for the next job.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_job_cancelled_mid_run_is_interrupted_and_not_reported() {
    let device = Device::new("");
    let mut agent = device.start();
    let document = probe(json!({"wait_for": "/data/never", "heartbeat": true}));
    agent
        .claimed(execution("job-1", "QUEUED", document, json!({})))
        .await;
    // The heartbeat: the plugin is running.
    let progress = agent.update("job-1").await;
    assert_eq!(progress.status(), "IN_PROGRESS");

    let notify = format!("$aws/things/{THING}/jobs/notify-next");
    agent.message(notify, json!({"timestamp": 1})).await;
    let describe = loop {
        let p = agent.published().await;
        if p.topic != update_topic("job-1") {
            break p;
        }
    };
    assert_eq!(
        describe.topic,
        format!("$aws/things/{THING}/jobs/job-1/get")
    );
    agent
        .accept(
            &describe,
            json!({"execution": execution("job-1", "CANCELED", json!({}), json!({}))}),
        )
        .await;
    // Only its heartbeats until it stopped (one a second at most: a
    // plugin not interrupted would send them for an hour), then the next
    // job; no report.
    let stopped = tokio::time::timeout(Duration::from_secs(10), async {
        loop {
            let p = agent.published().await;
            if p.topic == NEXT_GET {
                break;
            }
            assert_eq!(p.status(), "IN_PROGRESS", "nothing terminal: {p:?}");
            assert!(p.body["statusDetails"]["waited"].is_string(), "{p:?}");
        }
    });
    stopped.await.expect("the plugin stopped");
    assert!(device.journal().state().running.is_none());
    assert!(device.journal().state().pending_report.is_none());
    agent.stop().await;
}

/// The journal holds a running execution and its checkpoint (the agent
/// was killed mid-run): a new actor, offered the same execution, claims it
/// again and hands the plugin that checkpoint.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_execution_running_at_a_restart_resumes_from_its_checkpoint() {
    let device = Device::new("");
    device.journaled(|s| {
        s.running = Some(RunningEntry {
            job_id: "job-1".into(),
            execution_number: 1,
            checkpoint: Some("c7".into()),
            reboot: None,
            rotation: None,
            restarts: 0,
        })
    });
    let mut agent = device.start();
    let document = probe(json!({"started": "/data/started"}));
    agent
        .claimed(execution("job-1", "IN_PROGRESS", document, json!({})))
        .await;
    let report = agent.update_skipping_progress("job-1").await;
    assert_eq!(report.status(), "SUCCEEDED", "{report:?}");
    assert_eq!(
        std::fs::read_to_string(device.path("data/started")).unwrap(),
        "checkpoint=c7\n"
    );
    agent.stop().await;
}

/// A terminal status journaled before a restart is the first thing the new
/// actor sends, before asking for work.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_status_journaled_before_a_restart_is_sent_first() {
    let device = Device::new("");
    device.journaled(|s| {
        s.pending_report = Some(super::journal::PendingReport {
            job_id: "job-1".into(),
            execution_number: 1,
            status: TerminalStatus::Failed,
            status_details: StatusDetails::new(),
        })
    });
    let mut agent = device.start();
    agent.connected().await;
    let report = agent.update("job-1").await;
    assert_eq!(report.status(), "FAILED", "{report:?}");
    agent.accept(&report, json!({})).await;
    agent.asks_for_the_next_job().await;
    agent.stop().await;
}

/// The `reboot` plugin asks for a reboot: the reboot is journaled and
/// announced (IN_PROGRESS, step=rebooting, the boot id), and once accepted
/// the reboot command runs. FAKED at the edge: the command is a shell
/// script that writes a new boot id into the file the agent reads instead
/// of the kernel's, and does not reboot anything. A new actor on the same
/// state ("after the restart") runs the plugin again, which reports
/// SUCCEEDED.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reboot_is_journaled_announced_run_and_succeeds_after_the_restart() {
    let device = reboot_device("echo boot-2 > \"$1/boot_id\"");
    let mut agent = device.start();
    let document = json!({"operation": "reboot", "reason": "kernel update"});
    let offer = execution("job-r", "QUEUED", document.clone(), json!({}));
    agent.claimed(offer).await;

    let announce = agent.update_skipping_progress("job-r").await;
    assert_eq!(announce.status(), "IN_PROGRESS", "{announce:?}");
    assert_eq!(announce.detail("step"), Some("rebooting"));
    assert_eq!(announce.detail("bootId"), Some("boot-1"));
    assert_eq!(announce.detail("rebootReason"), Some("kernel update"));
    let journaled = device.journal().state().running.clone().unwrap();
    assert_eq!(journaled.reboot.unwrap().boot_id, "boot-1");
    assert_eq!(
        std::fs::read_to_string(device.path("boot_id")).unwrap(),
        "boot-1\n",
        "no reboot before the cloud knows"
    );

    agent.accept(&announce, json!({})).await;
    wait_for_file(&device.path("rebooted")).await;
    agent.stop().await;

    // "After the restart": the service offers the execution, IN_PROGRESS,
    // with the statusDetails of the announcement.
    let mut agent = device.start();
    let details = announce.body["statusDetails"].clone();
    let claim = agent
        .offered(execution("job-r", "IN_PROGRESS", document, details))
        .await;
    assert_eq!(claim.detail("step"), None, "the reboot keys are dropped");
    agent.accept(&claim, json!({})).await;
    let report = agent.update_skipping_progress("job-r").await;
    assert_eq!(report.status(), "SUCCEEDED", "{report:?}");
    assert_eq!(report.detail("result"), Some("rebooted"), "{report:?}");
    agent.stop().await;
}

/// The reboot command "succeeds" but the boot id stays: after the restart
/// the execution is FAILED without running the plugin again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reboot_that_did_not_happen_is_reported_failed_after_the_restart() {
    let device = reboot_device("true");
    let mut agent = device.start();
    let document = json!({"operation": "reboot"});
    agent
        .claimed(execution("job-r", "QUEUED", document.clone(), json!({})))
        .await;
    let announce = agent.update_skipping_progress("job-r").await;
    agent.accept(&announce, json!({})).await;
    wait_for_file(&device.path("rebooted")).await;
    agent.stop().await;

    let mut agent = device.start();
    let details = announce.body["statusDetails"].clone();
    agent
        .claimed(execution("job-r", "IN_PROGRESS", document, details))
        .await;
    let report = agent.update("job-r").await;
    assert_eq!(report.status(), "FAILED", "{report:?}");
    assert!(
        report
            .detail("reason")
            .is_some_and(|r| r.contains("did not reboot")),
        "{report:?}"
    );
    agent.stop().await;
}

/// The boot id file holds `boot-1`; the reboot command runs `body` (with
/// the device directory as `$1`) and leaves the marker `rebooted`.
fn reboot_device(body: &str) -> Device {
    let device = Device::new(
        r#"[plugins.reboot]
reboot = true
"#,
    );
    let dir = device.dir.path();
    std::fs::write(dir.join("boot_id"), "boot-1\n").unwrap();
    let script = dir.join("fake-reboot.sh");
    std::fs::write(
        &script,
        format!("#!/bin/sh\n{body}\ntouch \"$1/rebooted\"\n"),
    )
    .unwrap();
    let config = std::fs::read_to_string(dir.join("jobhost.toml")).unwrap();
    // `[device]` goes before the plugin tables.
    let device_table = format!(
        "[device]\nreboot_command = [\"/bin/sh\", \"{}\", \"{}\"]\nboot_id_file = \"boot_id\"\n",
        script.display(),
        dir.display()
    );
    let config = config.replacen("[limits]", &format!("{device_table}[limits]"), 1);
    std::fs::write(dir.join("jobhost.toml"), config).unwrap();
    device
}

/// Waits for `path` to exist (a side effect of a process the actor ran).
async fn wait_for_file(path: &Path) {
    tokio::time::timeout(WAIT, async {
        while !path.exists() {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    })
    .await
    .unwrap_or_else(|_| panic!("{} never appeared", path.display()));
}

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

/// A broker that never answers: after [`super::rotate::ROTATION_TIMEOUT`]
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
    assert!(paused.elapsed() >= super::rotate::ROTATION_TIMEOUT);
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
