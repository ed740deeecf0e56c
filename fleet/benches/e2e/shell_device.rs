//! A Device-Client-style device: what the AWS IoT Device Client does with a
//! job, minus its C++: on `notify-next`, StartNextPendingJobExecution; run
//! the document's `runHandler` step by fork/exec'ing the named handler from
//! its handler directory with the step's arguments (the Device Client's
//! `handler_directory`, `download-file.sh`); UpdateJobExecution SUCCEEDED
//! when the handler exits 0, FAILED otherwise.
//!
//! It runs as its own process (this benchmark binary started with
//! [`FLAG`]), a rumqttc session with the agent's TCP options, so that the
//! comparison with the agent is the way a job runs (a shell handler vs a
//! WebAssembly plugin), not the MQTT client. It prints `ready` once
//! subscribed and stops when its stdin closes.

use crate::support::{fatal, no_nagle, pump};
use rumqttc::{AsyncClient, MqttOptions, QoS};
use serde_json::{json, Value};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::time::Duration;
use tokio::io::AsyncReadExt;
use tokio::sync::{mpsc, oneshot};

/// The first argument that makes this binary the shell device.
pub const FLAG: &str = "--shell-device";

/// The handler's file name, as the job document names it.
pub const HANDLER: &str = "download-file.sh";

/// The Device Client's sample download handler (curl), plus the sha256
/// check and the fsync the other devices do.
const HANDLER_SCRIPT: &str = r#"#!/bin/sh
# download-file.sh URL PATH SHA256
set -e
curl -sSf -o "$2.part" "$1"
echo "$3  $2.part" | sha256sum -c --status
sync "$2.part"
mv "$2.part" "$2"
"#;

/// Writes the handler, executable, into `dir`.
pub fn install_handler(dir: &Path) {
    std::fs::create_dir_all(dir).expect("a handler directory");
    let path = dir.join(HANDLER);
    std::fs::write(&path, HANDLER_SCRIPT).expect("write the handler");
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755))
        .expect("make the handler executable");
}

/// `--host H --port P --thing T --handlers DIR`.
pub fn main(args: &[String]) {
    let value = |flag: &str| {
        args.iter()
            .position(|a| a == flag)
            .and_then(|i| args.get(i + 1))
            .cloned()
            .unwrap_or_else(|| fatal(&format!("the shell device needs {flag}")))
    };
    let host = value("--host");
    let port: u16 = value("--port").parse().expect("a port");
    let thing = value("--thing");
    let handlers = PathBuf::from(value("--handlers"));
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("tokio runtime");
    runtime.block_on(run(host, port, thing, handlers));
}

async fn run(host: String, port: u16, thing: String, handlers: PathBuf) {
    let mut options = MqttOptions::new(thing.clone(), host, port);
    options.set_keep_alive(Duration::from_secs(30));
    options.set_max_packet_size(128 * 1024, 128 * 1024);
    let (client, mut eventloop) = AsyncClient::new(options, 64);
    no_nagle(&mut eventloop);
    let base = format!("$aws/things/{thing}/jobs");
    let filters = vec![
        format!("{base}/notify-next"),
        format!("{base}/start-next/accepted"),
        format!("{base}/start-next/rejected"),
        format!("{base}/+/update/rejected"),
    ];
    let (ready, subscribed) = oneshot::channel();
    let (tx, mut messages) = mpsc::unbounded_channel();
    let _pump = pump(eventloop, client.clone(), filters, ready, tx);
    if subscribed.await.is_err() {
        fatal("the shell device could not subscribe");
    }
    println!("ready");
    let device = ShellDevice {
        client,
        base,
        handlers,
    };
    device.start_next().await;
    let mut stdin = tokio::io::stdin();
    let mut sink = [0u8; 64];
    loop {
        tokio::select! {
            read = stdin.read(&mut sink) => if matches!(read, Ok(0) | Err(_)) { return },
            message = messages.recv() => match message {
                Some((_, topic, payload)) => device.handle(&topic, &payload).await,
                None => return,
            },
        }
    }
}

struct ShellDevice {
    client: AsyncClient,
    base: String,
    handlers: PathBuf,
}

impl ShellDevice {
    async fn handle(&self, topic: &str, payload: &[u8]) {
        let Ok(message) = serde_json::from_slice::<Value>(payload) else {
            return;
        };
        let execution = message.get("execution").filter(|e| !e.is_null());
        if topic.ends_with("/notify-next") {
            if execution.is_some() {
                self.start_next().await;
            }
        } else if topic.ends_with("/start-next/accepted") {
            if let Some(execution) = execution {
                self.run(execution).await;
            }
        } else {
            eprintln!("rejected: {topic} {message}");
        }
    }

    async fn start_next(&self) {
        self.publish(format!("{}/start-next", self.base), json!({}))
            .await;
    }

    /// Runs the execution's one `runHandler` step; reports how it ended.
    async fn run(&self, execution: &Value) {
        let job_id = execution["jobId"].as_str().unwrap_or_default().to_owned();
        let input = &execution["jobDocument"]["steps"][0]["action"]["input"];
        let handler = input["handler"].as_str().unwrap_or_default();
        let args: Vec<&str> = input["args"]
            .as_array()
            .map(|a| a.iter().filter_map(Value::as_str).collect())
            .unwrap_or_default();
        let outcome = tokio::process::Command::new(self.handlers.join(handler))
            .args(&args)
            .output()
            .await;
        let (status, details) = match outcome {
            Ok(out) if out.status.success() => ("SUCCEEDED", json!({})),
            Ok(out) => (
                "FAILED",
                json!({"reason": String::from_utf8_lossy(&out.stderr).chars().take(500).collect::<String>()}),
            ),
            Err(e) => ("FAILED", json!({"reason": e.to_string()})),
        };
        let update = json!({"status": status, "statusDetails": details});
        self.publish(format!("{}/{job_id}/update", self.base), update)
            .await;
    }

    async fn publish(&self, topic: String, payload: Value) {
        if let Err(e) = self
            .client
            .publish(topic, QoS::AtLeastOnce, false, payload.to_string())
            .await
        {
            fatal(&format!("the shell device cannot publish: {e}"));
        }
    }
}
