//! `jobhost run`: one plugin, one job document, no MQTT.
//!
//! Prints exactly one JSON object on stdout — what the agent would report:
//! `{"status":"SUCCEEDED|FAILED|REJECTED","statusDetails":{...}}` — and exits
//! 0 on SUCCEEDED, 2 on FAILED or REJECTED, 1 when it could not run at all.

use crate::diagnostics::{AgentDiagnostics, PluginInfo};
use crate::executor::{self, CancelToken, Conclusion, Execution, Observer, Report};
use crate::runtime::{
    check_program_path, CommandGrant, CompiledPlugin, DirGrant, DownloadGrant, EngineConfig,
    ExecutionLimits, Runtime, Sandbox, UploadGrant, MAX_PLUGIN_BYTES,
};
use crate::trust::artifact::ArtifactTrust;
use crate::trust::{PublicKey, TrustStore};
use anyhow::{bail, Context, Result};
use clap::Args;
use jobhost_protocol::limits::MAX_JOB_DOCUMENT_BYTES;
use jobhost_protocol::{StatusDetails, TerminalStatus};
use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use super::EXIT_JOB_FAILED;

/// Run one plugin on one job document locally.
#[derive(Debug, Args)]
#[command(after_help = "\
Examples:
  jobhost run --plugin target/plugins/echo.wasm --document plugins/echo/examples/hello.json
  jobhost run --plugin my.wasm --document job.json --grant-dir /tmp/data:/data --grant-dir /etc/ssl:ro
  jobhost run --plugin echo.signed.wasm --pub operator.key.pub --document job.json
  jobhost run --plugin restart.wasm --document job.json --allow-command /usr/bin/systemctl

Exit status: 0 SUCCEEDED, 2 FAILED or REJECTED, 1 usage or host error.")]
pub struct RunArgs {
    /// The plugin: a WebAssembly component targeting jobhost:plugin/operation-plugin.
    #[arg(long, value_name = "FILE")]
    plugin: PathBuf,

    /// Verify the plugin's signature against this public key (KEY.pub)
    /// before loading it, as the agent does; repeatable (any one may have
    /// signed). Without it the file is run unverified: a development
    /// convenience the agent never offers. Artifact signatures (a
    /// `codesign` beside a downloaded file's `url`) are verified with the
    /// same keys; without any, a codesign is refused.
    #[arg(long = "pub", value_name = "KEY.pub")]
    public_keys: Vec<PathBuf>,

    /// Refuse a download the document binds no `codesign` to, as an agent
    /// with `[trust] require_artifact_signatures = true` does.
    #[arg(long)]
    require_artifact_signatures: bool,

    /// The job document (JSON), as the job would carry it.
    #[arg(long, value_name = "FILE")]
    document: PathBuf,

    /// Let the plugin open a host directory: HOST[:GUEST][:ro]. GUEST
    /// defaults to HOST; read-write unless `:ro`. Repeatable. Nothing else
    /// of the filesystem is visible.
    #[arg(long = "grant-dir", value_name = "HOST[:GUEST][:ro]")]
    grant_dirs: Vec<DirGrant>,

    /// Grant the `download` capability for this host (`name` or
    /// `name:port`). Repeatable. https only unless --allow-http.
    #[arg(long, value_name = "HOST[:PORT]")]
    allow_download: Vec<String>,

    /// Allow plain `http://` downloads from the --allow-download hosts.
    #[arg(long, requires = "allow_download")]
    allow_http: bool,

    /// Grant the `diagnostics` capability: the snapshot describes this
    /// run (no thing, no broker: `broker-connected` is false; the plugin
    /// being run as the only one installed; this process's log lines).
    #[arg(long)]
    allow_diagnostics: bool,

    /// Grant the `upload` capability for this host (`name` or
    /// `name:port`): the plugin may send files by HTTP PUT there, 64 MiB at
    /// most each. Repeatable. https only unless --allow-upload-http.
    #[arg(long, value_name = "HOST[:PORT]")]
    allow_upload: Vec<String>,

    /// Allow plain `http://` uploads to the --allow-upload hosts.
    #[arg(long, requires = "allow_upload")]
    allow_upload_http: bool,

    /// Grant the `reboot` capability. Nothing is rebooted: a plugin that
    /// asks ends SUCCEEDED with `rebootRequested` in statusDetails; run it
    /// again with the same --checkpoint for the part after the reboot.
    #[arg(long)]
    allow_reboot: bool,

    /// Grant the `run-command` capability for this program, an absolute
    /// path (the plugin may name it by that path, or by its file name when
    /// that is unambiguous). Repeatable. It runs with argv only (never a
    /// shell), environment PATH=/usr/sbin:/usr/bin:/sbin:/bin only, stdin
    /// /dev/null, working directory /, at most 60 s per call (and within
    /// --timeout), keeping the last 4096 bytes of stdout and of stderr; it
    /// is killed with everything it started when the call ends.
    #[arg(long, value_name = "PROGRAM", value_parser = parse_program)]
    allow_command: Vec<String>,

    /// Operation name handed to the plugin; defaults to the document's
    /// `operation` field, else the plugin's file name.
    #[arg(long)]
    operation: Option<String>,

    /// Job id handed to the plugin.
    #[arg(long, default_value = "local-run")]
    job_id: String,

    /// Execution number handed to the plugin.
    #[arg(long, default_value_t = 1)]
    execution_number: u64,

    /// Checkpoint file: its content (if it exists) is handed to the plugin as
    /// the saved checkpoint, and checkpoints the plugin saves are written to
    /// it. Run twice with the same file to test resuming.
    #[arg(long, value_name = "FILE")]
    checkpoint: Option<PathBuf>,

    /// Wall-clock limit for the run, in seconds.
    #[arg(long, value_name = "SECS", default_value_t = 600)]
    timeout: u64,

    /// Memory limit for the plugin, in MiB.
    #[arg(long, value_name = "MIB", default_value_t = 128)]
    memory: usize,

    /// Compiled-component cache directory [default: $XDG_CACHE_HOME/jobhost
    /// or ~/.cache/jobhost].
    #[arg(long, value_name = "DIR", conflicts_with = "no_cache")]
    cache_dir: Option<PathBuf>,

    /// Compile the plugin without reading or writing the cache.
    #[arg(long)]
    no_cache: bool,
}

pub fn run(args: RunArgs) -> Result<ExitCode> {
    let cache_dir = if args.no_cache {
        None
    } else {
        args.cache_dir.clone().or_else(default_cache_dir)
    };
    let memory_bytes = args
        .memory
        .checked_mul(1 << 20)
        .context("--memory is too large")?;
    let runtime = Runtime::new(&EngineConfig {
        cache_dir: cache_dir.clone(),
        max_memory_bytes: memory_bytes.max(EngineConfig::default().max_memory_bytes),
        ..EngineConfig::default()
    })?;
    // (version, key id) of a verified plugin, for its diagnostics entry.
    let mut signed_by = None;
    let keys = args
        .public_keys
        .iter()
        .map(|p| PublicKey::read_file(p))
        .collect::<Result<Vec<_>, _>>()?;
    let trust = TrustStore::new(keys, []);
    let plugin = if args.public_keys.is_empty() {
        CompiledPlugin::load_unverified_file(&runtime, &args.plugin)?
    } else {
        let verified = trust
            .verify_file(&args.plugin, MAX_PLUGIN_BYTES)
            .with_context(|| format!("{} is not accepted", args.plugin.display()))?;
        signed_by = Some((
            verified.manifest().version.to_string(),
            verified.key_id().to_string(),
        ));
        CompiledPlugin::from_verified(&runtime, &verified)?
    };
    tracing::debug!(target: "run", plugin = plugin.name(), digest = plugin.digest(), cache = ?plugin.cache_status(), "loaded");

    let checkpoint = match &args.checkpoint {
        Some(path) => read_checkpoint(path)?,
        None => None,
    };
    let download = (!args.allow_download.is_empty()).then(|| DownloadGrant {
        hosts: args.allow_download.clone(),
        allow_http: args.allow_http,
    });
    let command =
        (!args.allow_command.is_empty()).then(|| CommandGrant::new(args.allow_command.clone()));
    let upload = (!args.allow_upload.is_empty()).then(|| UploadGrant {
        allow_http: args.allow_upload_http,
        ..UploadGrant::new(args.allow_upload.clone())
    });
    let sandbox = Sandbox {
        dirs: args.grant_dirs.clone(),
        download,
        command,
        reboot: args.allow_reboot,
        diagnostics: args.allow_diagnostics,
        upload,
        artifacts: Arc::new(ArtifactTrust {
            store: trust.clone(),
            require: args.require_artifact_signatures,
        }),
        // No broker connection here: nothing to rotate.
        ..Sandbox::empty()
    };
    let report =
        match read_document(&args.document)?.and_then(|d| translate(d, plugin.name(), &sandbox)) {
            Ok((document, translated)) => {
                let operation = args
                    .operation
                    .clone()
                    .or(translated)
                    .or_else(|| operation_of(&document))
                    .unwrap_or_else(|| plugin.name().to_owned());
                let (version, key_id) = signed_by.unwrap_or_default();
                let diagnostics = AgentDiagnostics::local(
                    PluginInfo {
                        name: plugin.name().to_owned(),
                        version,
                        digest: plugin.digest().to_owned(),
                        key_id,
                        operations: vec![operation.clone()],
                    },
                    cache_dir.clone().unwrap_or_else(|| PathBuf::from(".")),
                );
                let execution = Execution {
                    job_id: args.job_id.clone(),
                    execution_number: args.execution_number,
                    operation,
                    document,
                    checkpoint,
                    diagnostics: Some(diagnostics),
                };
                let observer = Box::new(HarnessObserver {
                    checkpoint_file: args.checkpoint.clone(),
                });
                let limits = ExecutionLimits {
                    memory_bytes,
                    timeout: Duration::from_secs(args.timeout),
                    ..ExecutionLimits::default()
                };
                // WASI and the imports need a runtime's timers and blocking
                // pool; this thread polls the run (and runs the wasm).
                let tokio = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                    .context("cannot start the async runtime")?;
                let watchdog = super::watchdog::Watchdog::arm(limits.timeout);
                let conclusion = tokio.block_on(executor::execute(
                    &runtime,
                    &plugin,
                    &execution,
                    &sandbox,
                    &limits,
                    observer,
                    CancelToken::new(),
                ));
                watchdog.disarm();
                // A host call the run was dropped in may still hold a blocking
                // thread (an open of a FIFO, say): do not wait for it to exit.
                tokio.shutdown_background();
                match conclusion {
                    Conclusion::Report(report) => report,
                    Conclusion::Cancelled => bail!("the run was cancelled"),
                    // The agent would reboot now and run the plugin again with
                    // its checkpoint; here the caller does that (--checkpoint).
                    Conclusion::Reboot {
                        reason,
                        mut status_details,
                    } => {
                        status_details.insert("rebootRequested", &reason);
                        Report {
                            status: TerminalStatus::Succeeded,
                            status_details,
                        }
                    }
                    // The agent would swap certificates and reconnect; there is
                    // no connection here (and no certificate target to stage).
                    Conclusion::RotateCertificate { mut status_details } => {
                        status_details.insert("certificateInstallRequested", "true");
                        Report {
                            status: TerminalStatus::Succeeded,
                            status_details,
                        }
                    }
                }
            }
            Err(reason) => Report::failure(TerminalStatus::Rejected, &reason, StatusDetails::new()),
        };

    let json = serde_json::to_string(&report).context("cannot encode the report")?;
    let mut stdout = std::io::stdout().lock();
    writeln!(stdout, "{json}").context("cannot write to stdout")?;
    Ok(match report.status {
        TerminalStatus::Succeeded => ExitCode::SUCCESS,
        TerminalStatus::Failed | TerminalStatus::Rejected => ExitCode::from(EXIT_JOB_FAILED),
    })
}

/// Reads the document file. An unreadable path is a usage error (`Err`); a
/// document the agent would reject is `Ok(Err(reason))`, reported as the
/// agent would report it.
fn read_document(path: &Path) -> Result<std::result::Result<String, String>> {
    let bytes =
        fs::read(path).with_context(|| format!("cannot read job document {}", path.display()))?;
    if bytes.len() > MAX_JOB_DOCUMENT_BYTES {
        return Ok(Err(format!(
            "job document is {} bytes, over the {MAX_JOB_DOCUMENT_BYTES}-byte limit",
            bytes.len()
        )));
    }
    Ok(String::from_utf8(bytes).map_err(|e| format!("job document is not valid UTF-8: {e}")))
}

/// `--allow-command` values: absolute, normalised paths, as in the config.
fn parse_program(value: &str) -> std::result::Result<String, crate::runtime::BadProgramPath> {
    check_program_path(value).map(|()| value.to_owned())
}

/// A document in another agent's convention (AWS managed templates, the
/// reference architecture, jobs-agent.js) runs as the agent runs it:
/// translated, with the operation it maps to, bound to the granted
/// directories and programs (`crate::document`); any other text is handed
/// over as it is.
fn translate(
    document: String,
    plugin: &str,
    sandbox: &Sandbox,
) -> std::result::Result<(String, Option<String>), String> {
    let Ok(value) = serde_json::from_str::<serde_json::Value>(&document) else {
        return Ok((document, None));
    };
    let untyped = ["operation", "version", "steps"]
        .iter()
        .all(|k| value.get(k).is_none());
    match crate::document::route(&value, &crate::document::Handlers::new()) {
        Ok(routed) if routed.document == value && routed.paths.is_empty() => {
            Ok((document, Some(routed.operation)))
        }
        Ok(mut routed) => {
            // The harness grants what its flags say; the plugin asks for
            // what it asks (not known here): a path outside the flags'
            // directories is refused as the agent would refuse it.
            let target = crate::document::Target {
                name: plugin,
                requested: &[],
                dirs: &sandbox.dirs,
                command: sandbox.command.as_ref(),
            };
            crate::document::bind(&mut routed, target)?;
            Ok((routed.document.to_string(), Some(routed.operation)))
        }
        // No operation at all: the harness falls back to --operation or
        // the plugin's name. Every other refusal is the agent's.
        Err(_) if untyped => Ok((document, None)),
        Err(reason) => Err(reason),
    }
}

fn operation_of(document: &str) -> Option<String> {
    let value: serde_json::Value = serde_json::from_str(document).ok()?;
    value.get("operation")?.as_str().map(str::to_owned)
}

fn read_checkpoint(path: &Path) -> Result<Option<String>> {
    match fs::read_to_string(path) {
        Ok(text) => Ok(Some(text)),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(e).with_context(|| format!("cannot read checkpoint {}", path.display())),
    }
}

fn default_cache_dir() -> Option<PathBuf> {
    let base = std::env::var_os("XDG_CACHE_HOME")
        .filter(|v| !v.is_empty())
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cache")))?;
    Some(base.join("jobhost"))
}

/// Progress goes to the log; checkpoints to the `--checkpoint` file.
struct HarnessObserver {
    checkpoint_file: Option<PathBuf>,
}

impl Observer for HarnessObserver {
    fn progress(&mut self, details: &StatusDetails) {
        let json = serde_json::to_string(details).unwrap_or_default();
        tracing::info!(target: "run", "progress {json}");
    }

    fn checkpoint(&mut self, state: &str) -> std::result::Result<(), String> {
        tracing::info!(target: "run", "checkpoint saved ({} bytes)", state.len());
        match &self.checkpoint_file {
            Some(path) => crate::durable::write_atomically(path, state.as_bytes(), None)
                .map_err(|e| format!("cannot write {}: {e}", path.display())),
            None => Ok(()),
        }
    }
}
