//! `jobhost-fleet demo`: the whole flow on one machine, no setup.
//!
//! Starts the jobs service on an embedded broker (free ports), starts the
//! real `jobhost agent` for thing `demo-device` as a child process, uploads
//! a generated "firmware" artifact, creates a `download-file` job whose URL
//! is a presigned placeholder, follows the execution live, and checks the
//! file the device downloaded against the artifact's sha256.

use crate::api::system_clock;
use crate::artifacts::placeholder;
use crate::server::{BrokerChoice, Server, ServerConfig};
use crate::store::CreateJob;
use anyhow::{bail, Context, Result};
use clap::Args;
use jobhost_protocol::JobExecutionStatus;
use sha2::{Digest, Sha256};
use std::path::{Path, PathBuf};
use std::process::{ExitCode, Stdio};
use std::time::{Duration, Instant};

const THING: &str = "demo-device";

/// Run the end-to-end demo: service, agent, artifact, download job.
#[derive(Debug, Args)]
pub struct DemoArgs {
    /// The `jobhost` agent binary [default: next to this program].
    #[arg(long, value_name = "FILE")]
    agent_bin: Option<PathBuf>,

    /// Directory holding download-file.wasm [default: ../plugins relative
    /// to this program, where scripts/build-plugins puts it].
    #[arg(long, value_name = "DIR")]
    plugins: Option<PathBuf>,

    /// Keep the demo's files (database, agent state, downloads) here
    /// instead of a temporary directory.
    #[arg(long, value_name = "DIR")]
    dir: Option<PathBuf>,

    /// Give up after this many seconds.
    #[arg(long, value_name = "SECS", default_value_t = 120)]
    timeout: u64,
}

pub async fn run(args: DemoArgs) -> Result<ExitCode> {
    let exe_dir = std::env::current_exe()?
        .parent()
        .map(Path::to_path_buf)
        .unwrap_or_default();
    let agent_bin = args
        .agent_bin
        .clone()
        .unwrap_or_else(|| exe_dir.join("jobhost"));
    if !agent_bin.is_file() {
        bail!(
            "agent binary {} not found: build it with `cargo build -p jobhost` or pass --agent-bin",
            agent_bin.display()
        );
    }
    let plugins = args
        .plugins
        .clone()
        .unwrap_or_else(|| exe_dir.join("../plugins"));
    let plugin = plugins.join("download-file.wasm");
    if !plugin.is_file() {
        bail!(
            "{} not found: run scripts/build-plugins or pass --plugins",
            plugin.display()
        );
    }
    let temp = tempfile::tempdir()?;
    let work = args
        .dir
        .clone()
        .unwrap_or_else(|| temp.path().to_path_buf());
    std::fs::create_dir_all(&work)?;

    // 1. The service, on free loopback ports.
    let server = Server::start(
        ServerConfig {
            data_dir: work.join("fleet"),
            broker: BrokerChoice::Embedded {
                listen: "127.0.0.1:0".parse()?,
            },
            http: "127.0.0.1:0".parse()?,
            public_url: None,
            url_ttl: Duration::from_secs(600),
            token: None,
        },
        system_clock(),
    )
    .await?;
    println!(
        "service   MQTT {} (embedded broker), HTTP API http://{}",
        server.mqtt_addr, server.http_addr
    );

    // 2. The agent, configured for the demo device.
    let agent_dir = work.join("agent");
    let downloads = agent_dir.join("downloads");
    std::fs::create_dir_all(agent_dir.join("plugins"))?;
    std::fs::create_dir_all(&downloads)?;
    std::fs::copy(&plugin, agent_dir.join("plugins/download-file.wasm"))?;
    let config = agent_dir.join("jobhost.toml");
    std::fs::write(
        &config,
        agent_config(server.mqtt_addr.port(), server.http_addr.port()),
    )?;
    let log_path = agent_dir.join("agent.log");
    let log = std::fs::File::create(&log_path)?;
    let mut agent = tokio::process::Command::new(&agent_bin)
        .args(["agent", "--config"])
        .arg(&config)
        .env("JOBHOST_LOG", "info")
        .stdout(Stdio::null())
        .stderr(log)
        .kill_on_drop(true)
        .spawn()
        .with_context(|| format!("cannot start {}", agent_bin.display()))?;
    println!(
        "agent     {THING} (pid {}, log {})",
        agent.id().unwrap_or_default(),
        log_path.display()
    );

    // 3. The artifact.
    let firmware = generate_firmware();
    let info = server.artifacts.put("firmware.bin", &firmware)?;
    println!(
        "artifact  {} ({} bytes, sha256 {})",
        info.name, info.size, info.sha256
    );

    // 4. The job, with a presigned placeholder resolved at every delivery.
    let job_id = format!("demo-download-{}", std::process::id());
    let document = serde_json::json!({
        "operation": "download-file",
        "url": placeholder(&info.url),
        "destination": "/downloads/firmware.bin",
        "sha256": info.sha256,
    });
    let job = {
        let mut store = server
            .store
            .lock()
            .map_err(|_| anyhow::anyhow!("store lock poisoned"))?;
        store.create_job(
            &CreateJob {
                job_id: job_id.clone(),
                targets: vec![THING.into()],
                document,
                description: Some("jobhost demo: download a file".into()),
                in_progress_timeout_minutes: Some(10),
            },
            (system_clock())(),
        )?
    };
    let _ = server.changes.send(crate::store::Changes {
        things: job.targets.iter().cloned().collect(),
    });
    println!(
        "job       {job_id}: download-file {} -> /downloads/firmware.bin",
        info.url
    );

    // 5. Follow it live.
    let outcome = follow(&server, &job_id, Duration::from_secs(args.timeout)).await;
    let _ = agent.start_kill();
    let _ = agent.wait().await;
    server.stop().await;
    let status = match outcome {
        Ok(status) => status,
        Err(e) => {
            print_log_tail(&log_path);
            return Err(e);
        }
    };

    // 6. What landed on the device.
    if status != JobExecutionStatus::Succeeded {
        print_log_tail(&log_path);
        println!("result    the job ended {status}");
        return Ok(ExitCode::from(2));
    }
    let downloaded =
        std::fs::read(downloads.join("firmware.bin")).context("the downloaded file is missing")?;
    let digest = hex::encode(Sha256::digest(&downloaded));
    println!(
        "download  {} sha256 {digest}",
        downloads.join("firmware.bin").display()
    );
    if digest != info.sha256 {
        println!("result    MISMATCH: the device holds different bytes than the artifact");
        return Ok(ExitCode::from(2));
    }
    println!("result    SUCCEEDED; the device's file matches the artifact");
    Ok(ExitCode::SUCCESS)
}

/// Prints each change of the execution until it is terminal.
async fn follow(server: &Server, job_id: &str, timeout: Duration) -> Result<JobExecutionStatus> {
    let started = Instant::now();
    let mut last = None;
    loop {
        let record = {
            let store = server
                .store
                .lock()
                .map_err(|_| anyhow::anyhow!("store lock poisoned"))?;
            store.describe_execution(job_id, THING, None)?
        };
        let e = record.execution;
        let shown = (e.status, e.status_details.clone());
        if last.as_ref() != Some(&shown) {
            let details = e
                .status_details
                .as_ref()
                .map(|d| serde_json::to_string(d).unwrap_or_default())
                .unwrap_or_default();
            println!(
                "  {:>6.2}s  {:<12} {details}",
                started.elapsed().as_secs_f64(),
                e.status.as_str()
            );
            last = Some(shown);
        }
        if e.status.is_terminal() {
            return Ok(e.status);
        }
        if started.elapsed() > timeout {
            bail!("the job did not finish within {} s", timeout.as_secs());
        }
        // Polling the local store: the demo watches the same state an
        // operator's `jobhost-fleet job watch` sees through the API.
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

fn agent_config(mqtt_port: u16, http_port: u16) -> String {
    format!(
        r#"# Written by `jobhost-fleet demo`.
thing_name = "{THING}"
state_dir = "state"
plugin_dir = "plugins"

[broker]
host = "127.0.0.1"
port = {mqtt_port}

[limits]
progress_interval_secs = 1

[plugins.download-file]
dirs = ["downloads:/downloads"]
download_hosts = ["127.0.0.1:{http_port}"]
allow_http = true
"#
    )
}

/// 256 KiB of deterministic pseudo-random bytes.
fn generate_firmware() -> Vec<u8> {
    let mut state: u64 = 0x9E37_79B9_7F4A_7C15;
    (0..256 * 1024)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            (state >> 24) as u8
        })
        .collect()
}

fn print_log_tail(path: &Path) {
    if let Ok(text) = std::fs::read_to_string(path) {
        eprintln!("--- last lines of the agent log ({})", path.display());
        for line in text
            .lines()
            .rev()
            .take(20)
            .collect::<Vec<_>>()
            .into_iter()
            .rev()
        {
            eprintln!("{line}");
        }
    }
}
