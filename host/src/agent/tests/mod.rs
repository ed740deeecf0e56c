//! The job lifecycle without a broker (thin-edge's `restart_manager/tests.rs`
//! shape): each test spawns an [`Actor`] on a real journal in a temporary
//! directory, with real plugins built from this repository
//! (`target/plugins`, signed here as an operator would), plays the MQTT
//! connection through [`crate::mqtt::channel`] (the broker's side:
//! `Connected`, messages, `Disconnected`) and asserts on the `(topic,
//! payload)` pairs the actor publishes.
//!
//! The wire itself, against a real broker and the real binary, is pinned by
//! `host/tests/all/agent/*` and the fleet's end-to-end tests.
//!
//! - `lifecycle`: claim, run, report, dedupe, resend, version conflicts,
//!   cancellation, resuming after a restart.
//! - `reboot`: a plugin's reboot across the restart.
//! - `rotate`: a plugin's certificate rotation: accepted, refused, timed out.
//! - `shutdown`: the built-in shutdown, run only once its status is accepted.
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
                crate::runtime::CompiledPlugin::load_unverified_file(&runtime, &built_path(name))
                    .unwrap();
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

/// Waits for `path` to exist (a side effect of a process the actor ran).
pub(super) async fn wait_for_file(path: &Path) {
    tokio::time::timeout(WAIT, async {
        while !path.exists() {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    })
    .await
    .unwrap_or_else(|_| panic!("{} never appeared", path.display()));
}

mod lifecycle;
mod reboot;
mod rotate;
mod shutdown;
