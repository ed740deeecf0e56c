//! Test fixture: does what the document asks, so that tests can pin how the
//! host contains a plugin. Not shipped.
//!
//! Document fields (all optional, applied in this order):
//! - `"started": "path"` appends one line to that file as the run begins:
//!   `checkpoint=<the checkpoint this run was handed, or ->` (how tests
//!   count runs and see what a resumed run got);
//! - `"checkpoint": "state"` saves a checkpoint (fails the run if the host
//!   refuses it);
//! - `"checkpoints": N` saves N checkpoints `c1` … `cN` in a row, as fast as
//!   it can (a checkpoint flood; fails the run if the host refuses one);
//! - `"forge": {"key": "value", …}` reports these pairs as progress and
//!   returns them in its outcome (keys the agent reserves for itself); with
//!   `"forge_fails": true` it returns them in a retryable failure instead;
//! - `"wait_for": "path"` waits until that file exists, looking every 5 ms:
//!   a run the test can hold mid-way and release (or cancel, kill) at a
//!   point it chooses; interruptible, since wasm runs between looks; with
//!   `"heartbeat": true` it also reports progress `{"waited": <ms>}` every
//!   100 ms meanwhile (something to stop sending once cancelled);
//! - `"sleep_ms": N` sleeps N ms in one call (WASI's monotonic clock): a
//!   run blocked inside a host call, where an epoch deadline cannot reach;
//! - `"panic": "message"` panics;
//! - `"trap": true` executes `unreachable`;
//! - `"spin": true` loops forever without calling the host (timeouts,
//!   cancellation);
//! - `"allocate_mib": N` allocates and touches N MiB (memory limits);
//! - `"write": [{"path": "...", "content": "..."}]` writes files;
//! - `"append": [{"path": "...", "content": "..."}]` appends to files (how
//!   tests count runs);
//! - `"symlink": [{"path": "...", "target": "..."}]` replaces `path` by a
//!   symlink to `target` (removing what was there), as a plugin granted a
//!   writable directory can (how tests plant links for the host to trip on);
//! - `"read": ["path", ...]` reads files;
//! - `"list": ["dir", ...]` lists directories;
//! - `"capabilities": true` calls download, run-command and request-reboot
//!   and reports each result under `capability:<name>`;
//! - `"recurse": true` recurses without bound (stack limit);
//! - `"compute": N` runs N rounds of integer arithmetic and reports the
//!   result under `computed` (CPU-bound work for benchmarks);
//! - `"log_lines": N` logs N lines of `log_line_bytes` (default 1000) bytes;
//! - `"progress_updates": N` reports progress N times;
//! - `"details": N` returns N details of 1000 characters each;
//! - `"open_files": N` creates and keeps open N files in `/data` (handle
//!   exhaustion), reporting how many opened under `opened` and the first
//!   error under `open_error`;
//! - `"command": {"program", "args", "timeout_ms"}` runs a command,
//!   reported under `command` (`ok:<exit>|<stdout tail>|<stderr tail>`);
//! - `"download": {"url", "destination", "sha256"}` downloads, reported
//!   under `download`.
//!
//! Each filesystem probe is reported as a statusDetails entry
//! `<verb>:<path>` = `ok:<result>` or `err:<io error kind>`, so a test can see
//! exactly what the sandbox allowed.

use jobhost_sdk::{Failure, Job, Operation, Outcome};
use serde::Deserialize;

#[derive(Deserialize, Default)]
#[serde(default)]
struct Doc {
    started: Option<String>,
    checkpoint: Option<String>,
    checkpoints: usize,
    forge: std::collections::BTreeMap<String, String>,
    forge_fails: bool,
    wait_for: Option<String>,
    heartbeat: bool,
    sleep_ms: u64,
    panic: Option<String>,
    trap: bool,
    spin: bool,
    allocate_mib: usize,
    write: Vec<WriteFile>,
    append: Vec<WriteFile>,
    read: Vec<String>,
    symlink: Vec<Symlink>,
    list: Vec<String>,
    capabilities: bool,
    recurse: bool,
    compute: u64,
    log_lines: usize,
    log_line_bytes: Option<usize>,
    progress_updates: usize,
    details: usize,
    open_files: usize,
    command: Option<CommandDoc>,
    download: Option<DownloadDoc>,
}

#[derive(Deserialize)]
struct CommandDoc {
    program: String,
    #[serde(default)]
    args: Vec<String>,
    #[serde(default = "default_timeout_ms")]
    timeout_ms: u32,
}

fn default_timeout_ms() -> u32 {
    10_000
}

#[derive(Deserialize)]
struct DownloadDoc {
    url: String,
    destination: String,
    sha256: Option<String>,
}

#[derive(Deserialize)]
struct Symlink {
    path: String,
    target: String,
}

#[derive(Deserialize)]
struct WriteFile {
    path: String,
    content: String,
}

struct Probe;

impl Operation for Probe {
    fn run(job: Job) -> Result<Outcome, Failure> {
        let doc: Doc = job.document()?;
        if let Some(path) = &doc.started {
            let line = format!("checkpoint={}\n", job.checkpoint_text().unwrap_or("-"));
            append(path, &line).map_err(|e| Failure::retryable(format!("{path}: {e}")))?;
        }
        if let Some(state) = &doc.checkpoint {
            jobhost_sdk::host::checkpoint(state)
                .map_err(|e| Failure::retryable(jobhost_sdk::host::describe(&e)))?;
        }
        for i in 1..=doc.checkpoints {
            jobhost_sdk::host::checkpoint(&format!("c{i}"))
                .map_err(|e| Failure::retryable(jobhost_sdk::host::describe(&e)))?;
        }
        if !doc.forge.is_empty() {
            let pairs: Vec<(&str, &str)> = doc
                .forge
                .iter()
                .map(|(k, v)| (k.as_str(), v.as_str()))
                .collect();
            let _ = jobhost_sdk::host::progress(&pairs);
        }
        if let Some(path) = &doc.wait_for {
            let mut waited_ms: u64 = 0;
            while std::fs::metadata(path).is_err() {
                if doc.heartbeat && waited_ms % 100 == 0 {
                    let _ = jobhost_sdk::host::progress(&[("waited", &waited_ms.to_string())]);
                }
                std::thread::sleep(std::time::Duration::from_millis(5));
                waited_ms += 5;
            }
        }
        if doc.sleep_ms > 0 {
            std::thread::sleep(std::time::Duration::from_millis(doc.sleep_ms));
        }
        if let Some(message) = doc.panic {
            panic!("{message}");
        }
        if doc.trap {
            #[cfg(target_arch = "wasm32")]
            core::arch::wasm32::unreachable();
        }
        if doc.spin {
            let mut n: u64 = 0;
            loop {
                n = std::hint::black_box(n.wrapping_add(1));
            }
        }
        if doc.recurse {
            outcome_depth(0);
        }
        let line = "x".repeat(doc.log_line_bytes.unwrap_or(1000));
        for _ in 0..doc.log_lines {
            jobhost_sdk::log::info(&line);
        }
        for i in 0..doc.progress_updates {
            let _ = jobhost_sdk::host::progress(&[("step", &i.to_string())]);
        }
        let mut outcome = Outcome::new();
        if doc.compute > 0 {
            let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
            for _ in 0..doc.compute {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
            }
            outcome = outcome.detail("computed", std::hint::black_box(x));
        }
        for i in 0..doc.details {
            outcome = outcome.detail(format!("d{i}"), "y".repeat(1000));
        }
        if doc.open_files > 0 {
            let mut held = Vec::new();
            let mut error = None;
            for i in 0..doc.open_files {
                match std::fs::File::create(format!("/data/fd-{i}")) {
                    Ok(f) => held.push(f),
                    Err(e) => {
                        error = Some(format!("{:?}", e.kind()));
                        break;
                    }
                }
            }
            outcome = outcome.detail("opened", held.len());
            if let Some(e) = error {
                outcome = outcome.detail("open_error", e);
            }
        }
        if let Some(c) = &doc.command {
            use jobhost_sdk::bindings::jobhost::plugin::command;
            let ran = command::run(&command::Request {
                program: c.program.clone(),
                args: c.args.clone(),
                timeout_ms: c.timeout_ms,
            });
            let shown = match ran {
                Ok(o) => format!(
                    "ok:{}|{}|{}",
                    o.exit_code.map_or("signal".to_owned(), |c| c.to_string()),
                    o.stdout_tail.trim_end(),
                    o.stderr_tail.trim_end()
                ),
                Err(e) => format!("err:{}", jobhost_sdk::host::describe(&e)),
            };
            outcome = outcome.detail("command", shown);
        }
        if let Some(d) = &doc.download {
            use jobhost_sdk::bindings::jobhost::plugin::download;
            let fetched = download::fetch(&download::Request {
                url: d.url.clone(),
                destination: d.destination.clone(),
                sha256: d.sha256.clone(),
                max_bytes: None,
            });
            outcome = outcome.detail("download", describe(fetched.map(|r| r.bytes)));
        }
        if doc.allocate_mib > 0 {
            let block = vec![1u8; doc.allocate_mib << 20];
            let sum: u64 = block.iter().step_by(4096).map(|b| u64::from(*b)).sum();
            outcome = outcome.detail("allocated_pages", sum);
        }
        for w in &doc.write {
            let result = std::fs::write(&w.path, &w.content).map(|()| "written".to_owned());
            outcome = outcome.detail(format!("write:{}", w.path), report(result));
        }
        for l in &doc.symlink {
            let _ = std::fs::remove_file(&l.path);
            // std::os::wasi::fs::symlink_path is unstable; soft_link is the
            // stable spelling of the same call.
            #[allow(deprecated)]
            let result = std::fs::soft_link(&l.target, &l.path).map(|()| "linked".to_owned());
            outcome = outcome.detail(format!("symlink:{}", l.path), report(result));
        }
        for a in &doc.append {
            let result = append(&a.path, &a.content).map(|()| "appended".to_owned());
            outcome = outcome.detail(format!("append:{}", a.path), report(result));
        }
        for path in &doc.read {
            let result = std::fs::read_to_string(path);
            outcome = outcome.detail(format!("read:{path}"), report(result));
        }
        for dir in &doc.list {
            let result = std::fs::read_dir(dir).and_then(|entries| {
                let mut names = entries
                    .map(|e| e.map(|e| e.file_name().to_string_lossy().into_owned()))
                    .collect::<Result<Vec<_>, _>>()?;
                names.sort();
                Ok(names.join(","))
            });
            outcome = outcome.detail(format!("list:{dir}"), report(result));
        }
        if doc.capabilities {
            use jobhost_sdk::bindings::jobhost::plugin::{command, device, download};
            let fetched = download::fetch(&download::Request {
                url: "https://example.com/firmware.bin".into(),
                destination: "/data/firmware.bin".into(),
                sha256: None,
                max_bytes: None,
            });
            outcome = outcome.detail("capability:download", describe(fetched.map(|r| r.bytes)));
            let ran = command::run(&command::Request {
                program: "/bin/sh".into(),
                args: vec!["-c".into(), "id".into()],
                timeout_ms: 1000,
            });
            outcome = outcome.detail("capability:command", describe(ran.map(|o| o.exit_code)));
            let reboot = device::request_reboot("probe");
            outcome = outcome.detail("capability:reboot", describe(reboot));
        }
        if doc.forge_fails {
            let failure = Failure::retryable("the probe failed as asked");
            return Err(doc.forge.iter().fold(failure, |f, (k, v)| f.detail(k, v)));
        }
        for (k, v) in &doc.forge {
            outcome = outcome.detail(k, v);
        }
        Ok(outcome)
    }
}

/// Recurses until the host's stack limit stops it: small frames, so it is
/// the engine's stack (`max_wasm_stack`) that runs out, not the guest's
/// shadow stack in linear memory. The depth check is never true; it only
/// keeps the compiler from calling this an error.
#[inline(never)]
fn outcome_depth(depth: u64) -> u64 {
    if std::hint::black_box(depth) == u64::MAX {
        return depth;
    }
    outcome_depth(depth + 1).wrapping_mul(std::hint::black_box(3))
}

fn append(path: &str, content: &str) -> std::io::Result<()> {
    use std::io::Write;
    std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .and_then(|mut f| f.write_all(content.as_bytes()))
}

fn describe<T: std::fmt::Debug>(result: Result<T, jobhost_sdk::HostError>) -> String {
    match result {
        Ok(v) => format!("ok:{v:?}"),
        Err(e) => format!("err:{}", jobhost_sdk::host::describe(&e)),
    }
}

fn report(result: std::io::Result<String>) -> String {
    match result {
        Ok(text) => format!("ok:{text}"),
        Err(e) => format!("err:{:?}", e.kind()),
    }
}

jobhost_sdk::export!(Probe);
