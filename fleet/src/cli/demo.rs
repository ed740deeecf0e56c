//! `jobhost-fleet demo`: the whole flow on one machine, no setup.
//!
//! 1. Starts the jobs service on an embedded broker (free ports).
//! 2. Acts as the operator with the real `jobhost plugin` tools: makes a
//!    signing key, signs the first-party plugins `echo` and `download-file`.
//! 3. Starts the real `jobhost agent` for thing `demo-device` as a child
//!    process, provisioned with the signed `echo` only and trusting the key.
//! 4. Ships a NEW operation: an `install-plugin` job whose URL is a
//!    presigned placeholder for the signed `download-file` artifact; the
//!    device verifies it before compiling it.
//! 5. Uses it: a `download-file` job for a generated "firmware" artifact,
//!    followed live, and checks the file on the device against the
//!    artifact's sha256.

use crate::artifacts::placeholder;
use crate::clock::system_clock;
use crate::rollout::JobConfigs;
use crate::server::{BrokerChoice, Server, ServerConfig};
use crate::store::{CreateJob, ExecutionChange, Store};
use anyhow::{bail, Context, Result};
use clap::Args;
use jobhost_protocol::{JobExecution, JobExecutionStatus};
use sha2::{Digest, Sha256};
use std::path::{Path, PathBuf};
use std::process::{ExitCode, Stdio};
use std::time::Duration;
use tokio::sync::broadcast::{self, error::RecvError};
use tokio::time::Instant;

const THING: &str = "demo-device";

/// The first-party plugins the demo signs: the agent starts with the first
/// and installs the second through a job.
const PLUGINS: [&str; 2] = ["echo", "download-file"];

/// Run the end-to-end demo: service, operator key, signed plugins, agent,
/// an install-plugin job, then a download job that uses the new plugin.
#[derive(Debug, Args)]
pub struct DemoArgs {
    /// The `jobhost` binary (agent and plugin tools) [default: next to this
    /// program].
    #[arg(long, value_name = "FILE")]
    agent_bin: Option<PathBuf>,

    /// Directory holding echo.wasm, download-file.wasm and their manifests
    /// (NAME.toml) [default: ../plugins relative to this program, where
    /// scripts/build-plugins puts them].
    #[arg(long, value_name = "DIR")]
    plugins: Option<PathBuf>,

    /// Keep the demo's files (database, keys, agent state, downloads) here
    /// instead of a temporary directory.
    #[arg(long, value_name = "DIR")]
    dir: Option<PathBuf>,

    /// Give up on a job after this many seconds.
    #[arg(long, value_name = "SECS", default_value_t = 120)]
    timeout: u64,

    /// After the demo, keep the service and the agent running (until
    /// Ctrl-C), so that the demo's jobs can be looked at in the web console
    /// through the printed login link.
    #[arg(long)]
    keep_running: bool,
}

pub async fn run(args: DemoArgs) -> Result<ExitCode> {
    let (jobhost, plugins) = locate(&args)?;
    let temp = tempfile::tempdir()?;
    let work = args
        .dir
        .clone()
        .unwrap_or_else(|| temp.path().to_path_buf());
    std::fs::create_dir_all(&work)?;
    let timeout = Duration::from_secs(args.timeout);

    let (server, token) = start_service(&work).await?;
    console_login(&server, &token)?;
    let (key, signed) = sign_plugins(&jobhost, &plugins, &work.join("operator")).await?;
    let [echo, download_file] = &signed;
    let agent_dir = work.join("agent");
    let (mut agent, log_path) = start_agent(&jobhost, &agent_dir, &server, &key, echo)?;
    let outcome = async {
        let (install, status) = install_plugin(&server, download_file, timeout).await?;
        if status != JobExecutionStatus::Succeeded {
            return Ok((install, status, None));
        }
        let (download, status, sha256) = download_firmware(&server, timeout).await?;
        anyhow::Ok((download, status, Some(sha256)))
    }
    .await;
    if args.keep_running {
        println!(
            "running   the service and the agent stay up: console http://{}/console/ (token {token}); \
             Ctrl-C stops them",
            server.http_addr
        );
        let _ = tokio::signal::ctrl_c().await;
    }
    let _ = agent.start_kill();
    let _ = agent.wait().await;
    server.stop().await;
    let (job_id, status, expected) = match outcome {
        Ok(o) => o,
        Err(e) => {
            print_log_tail(&log_path);
            return Err(e);
        }
    };
    if status != JobExecutionStatus::Succeeded {
        print_log_tail(&log_path);
        println!("result    {job_id} ended {status}");
        return Ok(ExitCode::from(2));
    }
    check_download(&agent_dir.join("downloads"), &expected.unwrap_or_default())
}

/// The `jobhost` binary and the plugins directory, checked before anything
/// starts, so that a missing build is one clear error.
fn locate(args: &DemoArgs) -> Result<(PathBuf, PathBuf)> {
    let exe_dir = std::env::current_exe()?
        .parent()
        .map(Path::to_path_buf)
        .unwrap_or_default();
    let jobhost = args
        .agent_bin
        .clone()
        .unwrap_or_else(|| exe_dir.join("jobhost"));
    if !jobhost.is_file() {
        bail!(
            "agent binary {} not found: build it with `cargo build -p jobhost` or pass --agent-bin",
            jobhost.display()
        );
    }
    let plugins = args
        .plugins
        .clone()
        .unwrap_or_else(|| exe_dir.join("../plugins"));
    for name in PLUGINS {
        for ext in ["wasm", "toml"] {
            let file = plugins.join(format!("{name}.{ext}"));
            if !file.is_file() {
                bail!(
                    "{} not found: run scripts/build-plugins or pass --plugins",
                    file.display()
                );
            }
        }
    }
    Ok((jobhost, plugins))
}

/// The service's management token, made for this run, and a one-time
/// login link into the web console (printed: the operator opens it).
fn console_login(server: &Server, token: &str) -> Result<()> {
    let base = format!("http://{}", server.http_addr);
    let link = crate::api::console_login_link(&base, token, system_clock()())
        .context("no OS randomness for the console link")?;
    println!("console   {link}  (one-time login link; the console is {base}/console/)");
    Ok(())
}

/// Step 1: the service, on free loopback ports, with a fresh token (the
/// web console's login takes it).
async fn start_service(work: &Path) -> Result<(Server, String)> {
    let mut token = [0u8; 24];
    getrandom::getrandom(&mut token).context("no OS randomness for the token")?;
    let token = hex::encode(token);
    let server = Server::start(ServerConfig {
        data_dir: work.join("fleet"),
        broker: BrokerChoice::Embedded {
            listen: "127.0.0.1:0".parse()?,
            allow_plain_mqtt: false,
        },
        http: "127.0.0.1:0".parse()?,
        public_url: None,
        url_ttl: Duration::from_secs(600),
        token: Some(token.clone()),
        ..ServerConfig::default()
    })
    .await?;
    println!(
        "service   MQTT {} (embedded broker), HTTP API http://{}",
        server.mqtt_addr, server.http_addr
    );
    Ok((server, token))
}

/// Step 2: the operator makes a signing key in `operator` and signs the
/// first-party plugins with it; returns the key and the signed plugins, in
/// [`PLUGINS`] order.
async fn sign_plugins(
    jobhost: &Path,
    plugins: &Path,
    operator: &Path,
) -> Result<(PathBuf, [PathBuf; 2])> {
    std::fs::create_dir_all(operator)?;
    let key = operator.join("operator.key");
    let key_id = tool(jobhost, &["plugin", "keygen", "--out"], &[&key]).await?;
    println!("operator  key {} ({})", key.display(), key_id.trim());
    let signed = PLUGINS.map(|name| operator.join(format!("{name}.signed.wasm")));
    for (name, out) in PLUGINS.iter().zip(&signed) {
        tool(
            jobhost,
            &["plugin", "sign"],
            &[
                Path::new("--key"),
                &key,
                Path::new("--manifest"),
                &plugins.join(format!("{name}.toml")),
                &plugins.join(format!("{name}.wasm")),
                Path::new("-o"),
                out,
            ],
        )
        .await?;
        println!("signed    {}", out.display());
    }
    Ok((key, signed))
}

/// Step 3: the agent in `agent_dir`. It trusts the operator's `key`, has
/// the signed `echo` only, and may install plugins from the service.
/// Returns the child process and its log file.
fn start_agent(
    jobhost: &Path,
    agent_dir: &Path,
    server: &Server,
    key: &Path,
    echo: &Path,
) -> Result<(tokio::process::Child, PathBuf)> {
    std::fs::create_dir_all(agent_dir.join("plugins"))?;
    std::fs::create_dir_all(agent_dir.join("downloads"))?;
    std::fs::copy(echo, agent_dir.join("plugins/echo.wasm"))?;
    std::fs::copy(
        format!("{}.pub", key.display()),
        agent_dir.join("operator.key.pub"),
    )?;
    let config = agent_dir.join("jobhost.toml");
    std::fs::write(
        &config,
        agent_config(server.mqtt_addr.port(), server.http_addr.port()),
    )?;
    let log_path = agent_dir.join("agent.log");
    let log = std::fs::File::create(&log_path)?;
    let agent = tokio::process::Command::new(jobhost)
        .args(["agent", "--config"])
        .arg(&config)
        .env("JOBHOST_LOG", "info")
        .stdout(Stdio::null())
        .stderr(log)
        .kill_on_drop(true)
        .spawn()
        .with_context(|| format!("cannot start {}", jobhost.display()))?;
    println!(
        "agent     {THING} (pid {}, log {}), plugins: echo",
        agent.id().unwrap_or_default(),
        log_path.display()
    );
    Ok((agent, log_path))
}

/// Step 4: a new operation, shipped as a signed plugin: an `install-plugin`
/// job for the signed `download-file`. Returns the job id and how it ended.
async fn install_plugin(
    server: &Server,
    signed: &Path,
    timeout: Duration,
) -> Result<(String, JobExecutionStatus)> {
    let plugin = server
        .artifacts
        .put("download-file.signed.wasm", &std::fs::read(signed)?)?;
    let install = format!("demo-install-{}", std::process::id());
    println!(
        "job       {install}: install-plugin {} (sha256 {})",
        plugin.url, plugin.sha256
    );
    let document = serde_json::json!({
        "operation": "install-plugin",
        "url": placeholder(&plugin.url),
        "sha256": plugin.sha256,
    });
    let status = run_job(server, &install, document, "install download-file", timeout).await?;
    Ok((install, status))
}

/// Step 5: a job that uses it: `download-file` of a generated "firmware"
/// artifact. Returns the job id, how it ended, and the artifact's sha256.
async fn download_firmware(
    server: &Server,
    timeout: Duration,
) -> Result<(String, JobExecutionStatus, String)> {
    let firmware = generate_firmware();
    let info = server.artifacts.put("firmware.bin", &firmware)?;
    println!(
        "artifact  {} ({} bytes, sha256 {})",
        info.name, info.size, info.sha256
    );
    let download = format!("demo-download-{}", std::process::id());
    println!(
        "job       {download}: download-file {} -> /downloads/firmware.bin",
        info.url
    );
    let document = serde_json::json!({
        "operation": "download-file",
        "url": placeholder(&info.url),
        "destination": "/downloads/firmware.bin",
        "sha256": info.sha256,
    });
    let status = run_job(server, &download, document, "download a file", timeout).await?;
    Ok((download, status, info.sha256))
}

/// Step 6: what landed on the device: the downloaded file against the
/// artifact's `expected` sha256.
fn check_download(downloads: &Path, expected: &str) -> Result<ExitCode> {
    let downloaded =
        std::fs::read(downloads.join("firmware.bin")).context("the downloaded file is missing")?;
    let digest = hex::encode(Sha256::digest(&downloaded));
    println!(
        "download  {} sha256 {digest}",
        downloads.join("firmware.bin").display()
    );
    if digest != expected {
        println!("result    MISMATCH: the device holds different bytes than the artifact");
        return Ok(ExitCode::from(2));
    }
    println!("result    SUCCEEDED; the device's file matches the artifact");
    Ok(ExitCode::SUCCESS)
}

/// Runs `jobhost ARGS PATHS…` (the operator's tools) and returns its
/// stdout; a failure is an error carrying its stderr.
async fn tool(jobhost: &Path, args: &[&str], paths: &[&Path]) -> Result<String> {
    let output = tokio::process::Command::new(jobhost)
        .args(args)
        .args(paths)
        .stdin(Stdio::null())
        .output()
        .await
        .with_context(|| format!("cannot run {}", jobhost.display()))?;
    if !output.status.success() {
        bail!(
            "`jobhost {}` failed: {}",
            args.join(" "),
            String::from_utf8_lossy(&output.stderr).trim()
        );
    }
    Ok(String::from_utf8_lossy(&output.stdout).into_owned())
}

/// Creates a job for the demo device and follows it to a terminal status.
///
/// The subscription is taken before the job exists, and the job is
/// created and its first state read under one hold of the store lock, so
/// no device can move the execution in between: the first line is always
/// QUEUED, and every later change arrives as an event.
async fn run_job(
    server: &Server,
    job_id: &str,
    document: serde_json::Value,
    description: &str,
    timeout: Duration,
) -> Result<JobExecutionStatus> {
    let started = Instant::now();
    let (events, initial, targets) = {
        let mut store = lock(server)?;
        let events = store.subscribe();
        let (_, changes) = store.create_job_with(
            &CreateJob {
                job_id: job_id.to_owned(),
                targets: vec![THING.into()],
                document: document.into(),
                description: Some(format!("jobhost demo: {description}")),
                in_progress_timeout_minutes: Some(10),
                ..CreateJob::default()
            },
            &JobConfigs::default(),
            (system_clock())(),
        )?;
        let initial = store.describe_execution(job_id, THING, None)?;
        (events, initial.execution, changes)
    };
    let _ = server.changes.send(targets);
    follow(server, events, job_id, initial, started + timeout).await
}

/// Prints `initial`, then each change of the execution as the store
/// commits it, until it is terminal or `deadline` passes.
///
/// Events, not polling: a fast job goes QUEUED → IN_PROGRESS → SUCCEEDED
/// within milliseconds, and a poll shows only the states it lands on. A
/// receiver that lagged behind re-reads the execution from the store: it
/// may then skip a state it missed, but never waits for a dropped event.
async fn follow(
    server: &Server,
    mut events: broadcast::Receiver<ExecutionChange>,
    job_id: &str,
    initial: JobExecution,
    deadline: Instant,
) -> Result<JobExecutionStatus> {
    let started = Instant::now();
    show(started, &initial);
    let mut current = initial;
    while !current.status.is_terminal() {
        let next = match tokio::time::timeout_at(deadline, events.recv()).await {
            Err(_elapsed) => bail!(
                "job {job_id} did not finish in time: its execution is still {}",
                current.status
            ),
            Ok(Ok(change)) if !change.is_for(job_id, THING) => continue,
            Ok(Ok(ExecutionChange::Updated(record))) => record.execution,
            Ok(Ok(ExecutionChange::Deleted { .. })) => {
                bail!("job {job_id} was deleted before it ended")
            }
            // The job's end follows its execution's; configuration changes
            // are not the demo's.
            Ok(Ok(ExecutionChange::Job(_) | ExecutionChange::EventConfigurations(_))) => continue,
            Ok(Err(RecvError::Lagged(_))) => reread(server, job_id)?,
            Ok(Err(RecvError::Closed)) => bail!("the store closed before job {job_id} ended"),
        };
        // Versions grow by one per change: an older or equal one (the
        // creation event, or one a re-read already covered) is not news.
        if next.version_number <= current.version_number {
            continue;
        }
        if (next.status, &next.status_details) != (current.status, &current.status_details) {
            show(started, &next);
        }
        current = next;
    }
    Ok(current.status)
}

/// One line of a followed execution: elapsed time, status, statusDetails.
fn show(started: Instant, e: &JobExecution) {
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
}

/// The demo execution as stored now, after events were lost to lag.
fn reread(server: &Server, job_id: &str) -> Result<JobExecution> {
    Ok(lock(server)?
        .describe_execution(job_id, THING, None)?
        .execution)
}

fn lock(server: &Server) -> Result<std::sync::MutexGuard<'_, Store>> {
    server
        .store
        .lock()
        .map_err(|_| anyhow::anyhow!("store lock poisoned"))
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

# The demo operator's key: only plugins it signed load or install.
[trust]
keys = ["operator.key.pub"]
install_hosts = ["127.0.0.1:{http_port}"]
install_allow_http = true

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
