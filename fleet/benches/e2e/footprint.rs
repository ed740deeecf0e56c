//! The agent's memory (`--only footprint`): the real `jobhost agent` with
//! the eleven first-party plugins installed and signed, on the embedded
//! broker and a fresh service.
//!
//! 1. **Cold start**: an empty state directory, so every plugin is compiled
//!    (in `jobhost compile-entry` children); memory once the agent is
//!    connected and has sat idle for [`SETTLE`].
//! 2. **Warm start**: the same agent restarted on its state, every plugin
//!    mapped from the compiled cache; the same reading.
//! 3. **Soak**: `--soak-jobs` download jobs one after another (CreateJob →
//!    SUCCEEDED accepted, file checked, as in the latency part), memory
//!    sampled every [`SAMPLE_EVERY`] jobs. After the first [`WARM_UP`] jobs
//!    the agent's anonymous memory must stay within 1 MiB (issue 15): the
//!    verdict line says FLAT or GROWING.
//! 4. **Idle again**: a minute after the last job the agent has given back
//!    what the jobs mapped; the same reading.
//!
//! The idle readings and the first soak reading say where the memory is
//! (`/proc/<pid>/smaps`): the executable, plugins' compiled code, shared
//! libraries, the rest. Plugins are checked at start and then released
//! (`CompiledPlugin::release`): idle, none is mapped; the soak's
//! `download-file` is mapped by its first job.
//!
//! Readings from `/proc/<pid>/status` (VmRSS = RssAnon + RssFile + RssShmem)
//! and `/proc/<pid>/smaps_rollup` (Pss: shared pages divided among the
//! processes that map them). RssFile is clean file pages (the binary's code
//! the agent has touched, mapped cache entries, libc): the kernel drops and
//! re-reads them under pressure, RssAnon it can only swap.

use crate::brokers::BrokerKind;
use crate::devices::Device;
use crate::download::Check;
use crate::options::Options;
use crate::support::{fatal, proc_kib, proc_status_kib};
use crate::{one_job, Stage};
use std::time::{Duration, Instant};

/// The first-party plugins (`plugins/`), as a device vendor would ship them.
pub const FIRST_PARTY: [&str; 11] = [
    "application",
    "device-config",
    "diagnostics",
    "download-file",
    "echo",
    "factory-reset",
    "health-check",
    "packages",
    "reboot",
    "rotate-certificate",
    "run-command",
];

/// Idle time before a reading: the agent's start-up work (subscriptions,
/// the first `$next/get`) is done well within it.
const SETTLE: Duration = Duration::from_secs(3);
/// How long the agent waits, idle, before it gives back what its jobs
/// mapped (`RELEASE_AFTER` in host/src/agent/idle.rs).
const IDLE_RELEASE: Duration = Duration::from_secs(60);
/// Soak jobs before the flatness check starts (pools, caches, the
/// allocator's arenas reach their working size).
const WARM_UP: usize = 1_000;
/// Soak jobs between two readings.
const SAMPLE_EVERY: usize = 500;
/// Longest wait for a start (a cold one compiles eleven plugins).
const START_WAIT: Duration = Duration::from_secs(600);

/// One reading of a process's memory, KiB.
#[derive(Debug, Clone, Copy)]
struct Memory {
    rss: u64,
    anon: u64,
    file: u64,
    pss: u64,
}

impl Memory {
    fn of(pid: u32) -> Memory {
        let field = |key| {
            proc_status_kib(pid, key)
                .unwrap_or_else(|| fatal(&format!("the agent (pid {pid}) is gone")))
        };
        Memory {
            rss: field("VmRSS:"),
            anon: field("RssAnon:"),
            file: field("RssFile:"),
            pss: proc_kib(pid, "smaps_rollup", "Pss:")
                .unwrap_or_else(|| fatal(&format!("no Pss in /proc/{pid}/smaps_rollup"))),
        }
    }

    fn line(&self) -> String {
        format!(
            "VmRSS {:>6.1} MiB  RssAnon {:>5.1}  RssFile {:>5.1}  Pss {:>5.1}",
            mib(self.rss),
            mib(self.anon),
            mib(self.file),
            mib(self.pss)
        )
    }
}

/// Where a process's resident memory is, from `/proc/<pid>/smaps`: the
/// agent's executable, compiled plugins (cache entries), shared libraries,
/// and the rest (heap, stacks, other anonymous memory).
fn breakdown(pid: u32, exe: &std::path::Path) -> String {
    let smaps = std::fs::read_to_string(format!("/proc/{pid}/smaps"))
        .unwrap_or_else(|e| fatal(&format!("/proc/{pid}/smaps: {e}")));
    let exe = exe.canonicalize().unwrap_or_else(|_| exe.to_path_buf());
    let exe = exe.to_string_lossy();
    let (mut binary, mut plugins, mut libraries, mut rest) = (0, 0, 0, 0);
    let mut bucket = &mut rest;
    for line in smaps.lines() {
        let fields: Vec<&str> = line.split_whitespace().collect();
        if fields
            .first()
            .is_some_and(|f| f.contains('-') && !f.ends_with(':'))
        {
            let path = fields.get(5).copied().unwrap_or("");
            bucket = if path == exe {
                &mut binary
            } else if path.ends_with(".cwasm") {
                &mut plugins
            } else if path.contains(".so") {
                &mut libraries
            } else {
                &mut rest
            };
        } else if fields.first() == Some(&"Rss:") {
            *bucket += fields
                .get(1)
                .and_then(|v| v.parse::<u64>().ok())
                .unwrap_or(0);
        }
    }
    format!(
        "binary {:.1}  plugins {:.1}  libraries {:.1}  heap, stacks and other {:.1} MiB",
        mib(binary),
        mib(plugins),
        mib(libraries),
        mib(rest)
    )
}

fn mib(kib: u64) -> f64 {
    kib as f64 / 1024.0
}

pub async fn run(options: &Options) {
    println!(
        "\nFootprint: the jobhost agent with the {} first-party plugins, embedded broker",
        FIRST_PARTY.len()
    );
    let scratch = options.scratch_dir();
    let dir = scratch.path();
    let mut stage = Stage::start(options, BrokerKind::Embedded, dir).await;
    let (mqtt, job) = (stage.mqtt, stage.job.clone());
    let started = Instant::now();
    let device = Device::start_agent(options, dir, mqtt, &job, &FIRST_PARTY);
    connected(&device).await;
    println!(
        "   cold start (compiles all {}): connected after {:.1} s",
        FIRST_PARTY.len(),
        started.elapsed().as_secs_f64()
    );
    tokio::time::sleep(SETTLE).await;
    let cold = Memory::of(device.pid());
    println!("   idle after a cold start   {}", cold.line());
    println!("      {}", breakdown(device.pid(), &options.jobhost));

    let started = Instant::now();
    let mut device = device.restart(options);
    connected(&device).await;
    let warm_start = started.elapsed();
    tokio::time::sleep(SETTLE).await;
    let warm = Memory::of(device.pid());
    println!(
        "   idle after a warm start   {}  (connected after {} ms)",
        warm.line(),
        warm_start.as_millis()
    );
    println!("      {}", breakdown(device.pid(), &options.jobhost));

    let http = reqwest::Client::builder()
        .no_proxy()
        .build()
        .expect("an HTTP client");
    let mut samples = Vec::new();
    let soak_started = Instant::now();
    for n in 1..=options.soak_jobs {
        let job_id = format!("soak-{n}");
        let check = Check::Content(&stage.content);
        one_job(
            &stage.server,
            &http,
            &mut stage.observer,
            &mut device,
            &job,
            &job_id,
            check,
        )
        .await;
        if n % SAMPLE_EVERY == 0 || n == options.soak_jobs {
            let memory = Memory::of(device.pid());
            println!("   after {n:>6} jobs          {}", memory.line());
            if n == SAMPLE_EVERY {
                println!("      {}", breakdown(device.pid(), &options.jobhost));
            }
            samples.push((n, memory));
        }
    }
    let rate = options.soak_jobs as f64 / soak_started.elapsed().as_secs_f64();
    verdict(&samples, options.soak_jobs, rate);
    // An agent idle for a minute gives back what its jobs mapped
    // (`jobhost::agent`'s `idle` module).
    tokio::time::sleep(IDLE_RELEASE + SETTLE).await;
    let rested = Memory::of(device.pid());
    println!("   idle a minute after them  {}", rested.line());
    println!("      {}", breakdown(device.pid(), &options.jobhost));
    device.stop();
    stage.stop().await;
}

/// Waits for the agent's `connected` log line (it logs to a file; nothing
/// else tells a benchmark from outside that a start is over).
async fn connected(device: &Device) {
    let deadline = Instant::now() + START_WAIT;
    while !device.log().contains("connected") {
        if Instant::now() > deadline {
            fatal(&format!(
                "the agent did not connect within {START_WAIT:?}:\n{}",
                device.log()
            ));
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

fn verdict(samples: &[(usize, Memory)], jobs: usize, rate: f64) {
    let after: Vec<u64> = samples
        .iter()
        .filter(|(n, _)| *n >= WARM_UP)
        .map(|(_, m)| m.anon)
        .collect();
    let (Some(min), Some(max)) = (after.iter().min(), after.iter().max()) else {
        println!("   soak of {jobs} jobs: too short for a verdict (needs over {WARM_UP} jobs)");
        return;
    };
    let spread = max - min;
    println!(
        "   soak: {jobs} jobs at {rate:.0} jobs/s; RssAnon from job {WARM_UP} on: {:.2}..{:.2} MiB, spread {spread} KiB: {}",
        mib(*min),
        mib(*max),
        if spread <= 1024 { "FLAT (within 1 MiB)" } else { "GROWING (over 1 MiB)" }
    );
}
