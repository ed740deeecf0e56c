//! Side-by-side end-to-end benchmark: the same download job, on the same
//! jobs service and broker, run by three devices:
//!
//! - **jobhost**: the real agent binary (`target/release/jobhost agent`)
//!   with the signed `download-file` plugin, running the AWS IoT Jobs
//!   reference architecture's `download` document (which it translates);
//! - **python**: the reference architecture's device on AWS's IoT Device SDK
//!   for Python v1 (`AWSIoTPythonSDK`, `aws_device.py` beside this file),
//!   running the same document;
//! - **shell**: a Device-Client-style device (`shell_device.rs`): the AWS IoT
//!   Device Client's document schema, each job run as a fork/exec'd shell
//!   handler (`download-file.sh`: curl, sha256sum), as the Device Client
//!   runs its handlers.
//!
//! on three brokers: the service's embedded rmqtt, a stock Debian mosquitto
//! (`allow_anonymous true`, nothing else configured: Nagle's algorithm on),
//! and the same mosquitto with `set_tcp_nodelay true`.
//!
//! Each job: a 100 KB artifact (`--size`) served by the service through a
//! presigned URL, its sha256 in the document and checked by the device, the
//! file fsynced in the device's directory. Timed from right before the
//! CreateJob request (HTTP API) to the arrival of the service's
//! `update/accepted` reply to the device's SUCCEEDED update, seen by an
//! observer session on the broker (`observer.rs`); the service commits the
//! status before it replies. Outside the timed span, the store must show
//! the execution SUCCEEDED and the file must be in place with the right
//! bytes. One job at a time, the devices taking turns, `--rounds` rounds
//! after `--warm-up` untimed ones; each broker gets a fresh service.
//!
//! `--only footprint` measures the agent's memory instead (`footprint.rs`).
//!
//! `scripts/bench e2e` builds what this needs and runs it; by hand:
//!
//! ```text
//! scripts/build-plugins && scripts/setup-aws-sdk
//! cargo build --release -p jobhost
//! cargo bench -p jobhost-fleet --bench e2e [-- --rounds 200 --brokers embedded,mosquitto]
//! ```
//!
//! Nothing here asserts a speed; figures from the development machines are
//! in BENCHMARKS.md.

// Signing the first-party plugins, shared with the integration tests.
#[path = "../../tests/all/support/plugins.rs"]
#[allow(dead_code)]
mod plugins;
// Shared with the fleet-scale bench.
#[path = "../support/mod.rs"]
#[allow(dead_code)]
mod support;

mod brokers;
mod devices;
mod download;
mod footprint;
mod observer;
mod options;
mod report;
mod shell_device;

use brokers::{Broker, BrokerKind};
use devices::{Device, DeviceKind, Job};
use download::Check;
use jobhost_fleet::server::{Server, ServerConfig};
use observer::Observer;
use options::{Options, Part};
use report::{Samples, Timed};
use support::fatal;

use jobhost_protocol::JobExecutionStatus;
use std::path::Path;
use std::time::{Duration, Instant};

/// The artifact every job downloads.
pub(crate) const ARTIFACT: &str = "bench-artifact.bin";

fn main() {
    // reqwest has no crypto provider of its own (Cargo.toml).
    jobhost_fleet::broker::install_crypto_provider();
    let args: Vec<String> = std::env::args().skip(1).collect();
    // This binary is also the shell device, started by the benchmark.
    if args.first().map(String::as_str) == Some(shell_device::FLAG) {
        shell_device::main(&args[1..]);
        return;
    }
    let options = match Options::parse(args.into_iter()) {
        Ok(options) => options,
        Err(message) => {
            eprintln!("{message}\n{}", options::USAGE);
            std::process::exit(2);
        }
    };
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("tokio runtime");
    runtime.block_on(run(&options));
}

async fn run(options: &Options) {
    report::setup(options);
    match options.only {
        Some(Part::Download) => return download::run(options).await,
        Some(Part::Footprint) => return footprint::run(options).await,
        Some(Part::Latency) | None => {}
    }
    let mut all = Vec::new();
    for &broker in &options.brokers {
        let samples = on_broker(options, broker).await;
        report::broker(broker, &samples);
        all.push((broker, samples));
    }
    report::table(options, &all);
    if options.only.is_none() {
        download::run(options).await;
    }
}

/// A fresh service on a broker of `kind`, with the job's artifact stored
/// and an observer on the broker: what each part's jobs run against.
pub(crate) struct Stage {
    pub server: Server,
    pub broker: Broker,
    pub content: Vec<u8>,
    pub job: Job,
    pub mqtt: std::net::SocketAddr,
    pub observer: Observer,
}

impl Stage {
    pub(crate) async fn start(options: &Options, kind: BrokerKind, dir: &Path) -> Stage {
        let broker = Broker::start(kind, dir);
        let server = start_server(dir, &broker).await;
        let content = artifact(options.size);
        let info = server
            .artifacts
            .put(ARTIFACT, &content)
            .unwrap_or_else(|e| fatal(&format!("cannot store the artifact: {e}")));
        let job = Job {
            url: info.url.clone(),
            sha256: info.sha256.clone(),
            http: server.http_addr,
        };
        let mqtt = broker.addr().unwrap_or(server.mqtt_addr);
        let observer = Observer::connect(broker.observer_options(&server, mqtt)).await;
        Stage {
            server,
            broker,
            content,
            job,
            mqtt,
            observer,
        }
    }

    pub(crate) async fn stop(self) {
        drop(self.observer);
        self.server.stop().await;
        drop(self.broker);
    }
}

/// One broker: a fresh service, the devices, the rounds.
async fn on_broker(options: &Options, kind: BrokerKind) -> Vec<(DeviceKind, Samples)> {
    let scratch = options.scratch_dir();
    let dir = scratch.path();
    let mut stage = Stage::start(options, kind, dir).await;
    let mut devices = Vec::new();
    for &device in &options.devices {
        devices.push(Device::start(device, options, dir, stage.mqtt, &stage.job));
    }
    let http = reqwest::Client::builder()
        .no_proxy()
        .build()
        .expect("an HTTP client");
    let mut samples: Vec<Samples> = devices.iter().map(|_| Samples::default()).collect();
    let total = options.warm_up + options.rounds;
    for round in 0..total {
        for (device, samples) in devices.iter_mut().zip(&mut samples) {
            let job_id = format!("{}-{round}", device.kind.name());
            let check = Check::Content(&stage.content);
            let took = one_job(
                &stage.server,
                &http,
                &mut stage.observer,
                device,
                &stage.job,
                &job_id,
                check,
            )
            .await;
            if round >= options.warm_up {
                samples.push(took);
            }
        }
    }
    for device in devices {
        device.stop();
    }
    stage.stop().await;
    options
        .devices
        .iter()
        .copied()
        .zip(samples)
        .collect::<Vec<_>>()
}

pub(crate) async fn start_server(dir: &Path, broker: &Broker) -> Server {
    let config = ServerConfig {
        data_dir: dir.join("fleet"),
        broker: broker.choice(),
        http: "127.0.0.1:0".parse().expect("loopback address"),
        url_ttl: Duration::from_secs(3600),
        ..ServerConfig::default()
    };
    Server::start(config)
        .await
        .unwrap_or_else(|e| fatal(&format!("the jobs service does not start: {e}")))
}

/// `size` bytes that do not compress to nothing (xorshift64).
pub(crate) fn artifact(size: usize) -> Vec<u8> {
    let mut state: u64 = 0x6a6f_6268_6f73_7421;
    (0..size)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state.to_le_bytes()[0]
        })
        .collect()
}

/// One job through `device`: CreateJob → SUCCEEDED accepted, checked.
/// Returns the whole span and, for a device that claims its jobs, where
/// the time went.
pub(crate) async fn one_job(
    server: &Server,
    http: &reqwest::Client,
    observer: &mut Observer,
    device: &mut Device,
    job: &Job,
    job_id: &str,
    expected: Check<'_>,
) -> Timed {
    let file = format!("{job_id}.bin");
    let document = device.document(job, &file);
    let created = Instant::now();
    let response = http
        .put(format!("http://{}/jobs/{job_id}", server.http_addr))
        .json(&serde_json::json!({"targets": [device.thing()], "document": document}))
        .send()
        .await
        .unwrap_or_else(|e| fatal(&format!("CreateJob {job_id}: {e}")));
    if !response.status().is_success() {
        let status = response.status();
        let body = response.text().await.unwrap_or_default();
        fatal(&format!("CreateJob {job_id}: {status} {body}"));
    }
    let Some(seen) = observer.succeeded(job_id).await else {
        fatal(&format!(
            "{job_id}: no SUCCEEDED accepted within {:?}; {}",
            observer::WAIT,
            device.diagnose(server, job_id)
        ))
    };
    check(server, device, job_id, &file, expected);
    Timed::new(created, &seen)
}

/// Outside the timed span: the store says SUCCEEDED and the device wrote
/// the artifact (then removed, so a long run stays small).
fn check(server: &Server, device: &Device, job_id: &str, file: &str, expected: Check<'_>) {
    let execution = server
        .store
        .lock()
        .expect("store lock")
        .describe_execution(job_id, device.thing(), None)
        .unwrap_or_else(|e| fatal(&format!("{job_id}: {e}")))
        .execution;
    if execution.status != JobExecutionStatus::Succeeded {
        fatal(&format!(
            "{job_id} is {} after SUCCEEDED was accepted",
            execution.status
        ));
    }
    let path = device.directory().join(file);
    let problem = match expected {
        Check::Content(content) => match std::fs::read(&path) {
            Ok(bytes) if bytes == content => None,
            Ok(bytes) => Some(format!("{} bytes, not the artifact's", bytes.len())),
            Err(e) => Some(e.to_string()),
        },
        Check::Size(size) => match std::fs::metadata(&path) {
            Ok(m) if m.len() == size => None,
            Ok(m) => Some(format!("{} bytes, not {size}", m.len())),
            Err(e) => Some(e.to_string()),
        },
    };
    if let Some(problem) = problem {
        fatal(&format!("{job_id}: {}: {problem}", path.display()));
    }
    let _ = std::fs::remove_file(&path);
}
