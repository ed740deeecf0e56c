//! Fleet-scale benchmark: one job on many things.
//! `cargo bench -p jobhost-fleet --bench fleet [-- --things N --dir PATH]`.
//!
//! The service runs as an operator runs it, `jobhost-fleet serve` in a
//! process of its own (embedded broker, SQLite store under `--dir`, default
//! the system temp dir), so that its memory is its own: its peak resident
//! set (`VmHWM`) is read from `/proc` at the end. This process holds `N`
//! simulated devices (bare MQTT clients whose client id is the thing name,
//! following the device algorithm of `support::Simulator`: claim the head
//! with IN_PROGRESS, then report SUCCEEDED; no agent, no wasm), connected
//! and subscribed before the clock starts.
//!
//! The things register themselves by connecting (the embedded broker
//! reports them); a dynamic thing group `thingName:sim-*` then holds them
//! all, and the job targets that group, as an operator targets a fleet.
//! Timed: from the CreateJob request (HTTP, one SNAPSHOT job on the group)
//! to the last simulator seeing its SUCCEEDED accepted. Then
//! the store is asked (ListJobExecutionsForJob, outside the timed span)
//! whether every execution SUCCEEDED. The figure is executions per second
//! over that span: it measures the service and the broker (sharing the
//! cores with the simulators), not WebAssembly. With it the CPU time the
//! service process and this one (the simulators) spent over the span, from
//! `/proc`: whether the service or the load generator bounds the rate, and
//! a per-execution cost that other load on the machine disturbs less than
//! the rate. Nothing here asserts a speed; figures measured on the
//! development machines are in BENCHMARKS.md.

mod support;

use serde_json::{json, Value};
use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::Instant;
use support::{fatal, recv_within, Simulator};
use tokio::sync::mpsc;

const USAGE: &str = "usage: cargo bench -p jobhost-fleet --bench fleet -- [--things N] [--dir PATH]
  --things N   simulated things, all targets of one job (default 10000)
  --dir PATH   where the service keeps its data (default: temp dir)";

/// Simulators connecting at once: the broker accepts a storm of connects,
/// but the benchmark measures the job, not the connect storm.
const CONNECTING_AT_ONCE: usize = 200;

fn main() {
    // reqwest has no crypto provider of its own (Cargo.toml).
    jobhost_fleet::broker::install_crypto_provider();
    let (things, dir) = match parse(std::env::args().skip(1)) {
        Ok(options) => options,
        Err(message) => {
            eprintln!("{message}\n{USAGE}");
            std::process::exit(2);
        }
    };
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("tokio runtime");
    runtime.block_on(run(things, dir));
}

fn parse(mut args: impl Iterator<Item = String>) -> Result<(usize, Option<PathBuf>), String> {
    let (mut things, mut dir) = (10_000, None);
    while let Some(arg) = args.next() {
        let mut value = || args.next().ok_or(format!("{arg} needs a value"));
        match arg.as_str() {
            "--bench" => {}
            "--things" => {
                let v = value()?;
                things = v
                    .parse()
                    .ok()
                    .filter(|n| *n > 0)
                    .ok_or(format!("--things takes a positive integer, not `{v}`"))?;
            }
            "--dir" => dir = Some(PathBuf::from(value()?)),
            "-h" | "--help" => return Err(String::new()),
            other => return Err(format!("unknown argument `{other}`")),
        }
    }
    Ok((things, dir))
}

async fn run(things: usize, dir: Option<PathBuf>) {
    let scratch = match &dir {
        Some(dir) => tempfile::tempdir_in(dir),
        None => tempfile::tempdir(),
    }
    .expect("a scratch directory for the service's data");
    let cores = std::thread::available_parallelism().map_or(0, |n| n.get());
    println!(
        "fleet bench: {cores} cores, {things} simulated things, service data under {}",
        scratch.path().display()
    );
    let service = Service::start(&scratch.path().join("fleet"));

    let names: Vec<String> = (0..things).map(|i| format!("sim-{i:05}")).collect();
    let (done_tx, mut done) = mpsc::unbounded_channel();
    let connecting = Instant::now();
    let mut simulators = Vec::with_capacity(things);
    for chunk in names.chunks(CONNECTING_AT_ONCE) {
        let mut starting = tokio::task::JoinSet::new();
        for thing in chunk {
            let (thing, done) = (thing.clone(), done_tx.clone());
            let broker = service.mqtt;
            starting.spawn(async move { Simulator::start(broker, &thing, done).await });
        }
        while let Some(started) = starting.join_next().await {
            simulators.push(started.unwrap_or_else(|e| fatal(&format!("a simulator failed: {e}"))));
        }
    }
    println!(
        "   {things} simulators connected and subscribed in {:.1} s",
        connecting.elapsed().as_secs_f64()
    );
    let http = reqwest::Client::new();
    let api = format!("http://{}", service.http);
    let grouping = Instant::now();
    let group = fleet_group(&http, &api, things).await;
    println!(
        "   the dynamic group holds all {things} things after {:.1} s; creating the job",
        grouping.elapsed().as_secs_f64()
    );
    let rss_before = service.memory().0;

    let cpu_before = CpuTimes::now(service.child.id());
    let started = Instant::now();
    let response = http
        .put(format!("{api}/jobs/fleet-1"))
        .json(&json!({ "targets": [group], "document": r#"{"operation":"echo"}"# }))
        .send()
        .await
        .unwrap_or_else(|e| fatal(&format!("CreateJob failed: {e}")));
    if !response.status().is_success() {
        let status = response.status();
        let body = response.text().await.unwrap_or_default();
        fatal(&format!("CreateJob answered {status}: {body}"));
    }
    let created = started.elapsed();
    let mut last = Instant::now();
    for _ in 0..things {
        last = recv_within(&mut done, "a simulated execution to finish").await;
    }
    let elapsed = last.duration_since(started);
    let cpu = CpuTimes::now(service.child.id()).since(&cpu_before);
    check_all_succeeded(&http, &api, things).await;
    let (rss_after, peak) = service.memory();
    drop(simulators);

    println!(
        "\n   one SNAPSHOT job on a group of {things} things, CreateJob -> last SUCCEEDED accepted"
    );
    println!(
        "   {things} executions in {:.2} s = {:.0} executions/s (CreateJob itself answered in {:.0} ms)",
        elapsed.as_secs_f64(),
        things as f64 / elapsed.as_secs_f64(),
        created.as_secs_f64() * 1000.0
    );
    println!(
        "   service memory: {} MiB resident with the things connected before the job, {} MiB after, {} MiB peak",
        rss_before / 1024,
        rss_after / 1024,
        peak / 1024
    );
    let share = |seconds: f64| seconds / cpu.wall;
    let per_execution = |seconds: f64| seconds / things as f64 * 1e6;
    println!(
        "   CPU over the job: service {:.2} cores, simulators {:.2} cores, machine idle {:.2} of {cores} cores",
        share(cpu.service),
        share(cpu.simulators),
        share(cpu.idle),
    );
    println!(
        "   CPU per execution: service {:.0} µs, simulators {:.0} µs (less sensitive to other load than the rate)",
        per_execution(cpu.service),
        per_execution(cpu.simulators),
    );
}

/// CPU seconds spent by the service process, by this one (the
/// simulators), and by nobody (the whole machine idle), from `/proc`:
/// whether the service or the load generator is what bounds the figure.
struct CpuTimes {
    wall: f64,
    service: f64,
    simulators: f64,
    idle: f64,
}

/// `USER_HZ`, the unit of `/proc`'s CPU times: 100 on every Linux
/// architecture this runs on.
const TICKS_PER_SECOND: f64 = 100.0;

impl CpuTimes {
    fn now(service: u32) -> CpuTimes {
        // utime and stime are fields 14 and 15 of /proc/PID/stat, counted
        // after the parenthesised command name (which may hold spaces).
        let process = |pid: &str| {
            let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
            let fields: Vec<f64> = stat
                .rsplit_once(')')
                .map(|(_, rest)| rest)
                .unwrap_or_default()
                .split_whitespace()
                .map(|f| f.parse().unwrap_or(0.0))
                .collect();
            (fields.get(11).unwrap_or(&0.0) + fields.get(12).unwrap_or(&0.0)) / TICKS_PER_SECOND
        };
        // "cpu  user nice system idle ..." summed over every core.
        let idle = std::fs::read_to_string("/proc/stat")
            .unwrap_or_default()
            .lines()
            .next()
            .and_then(|l| l.split_whitespace().nth(4)?.parse::<f64>().ok())
            .unwrap_or(0.0)
            / TICKS_PER_SECOND;
        let wall = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0.0, |d| d.as_secs_f64());
        CpuTimes {
            wall,
            service: process(&service.to_string()),
            simulators: process("self"),
            idle,
        }
    }

    fn since(&self, before: &CpuTimes) -> CpuTimes {
        CpuTimes {
            wall: self.wall - before.wall,
            service: self.service - before.service,
            simulators: self.simulators - before.simulators,
            idle: self.idle - before.idle,
        }
    }
}

/// Creates the dynamic group of every simulated thing and waits until it
/// holds all `things` (each registered when it connected); returns its ARN.
async fn fleet_group(http: &reqwest::Client, api: &str, things: usize) -> String {
    let created: Value = http
        .post(format!("{api}/dynamic-thing-groups/bench-fleet"))
        .json(&json!({ "queryString": "thingName:sim-*" }))
        .send()
        .await
        .and_then(|r| r.error_for_status())
        .unwrap_or_else(|e| fatal(&format!("CreateDynamicThingGroup failed: {e}")))
        .json()
        .await
        .unwrap_or_else(|e| fatal(&format!("CreateDynamicThingGroup: {e}")));
    let arn = created["thingGroupArn"]
        .as_str()
        .unwrap_or_else(|| fatal(&format!("CreateDynamicThingGroup returned {created}")))
        .to_owned();
    let deadline = Instant::now() + support::WAIT;
    loop {
        let members = all_pages(
            http,
            &format!("{api}/thing-groups/bench-fleet/things"),
            "things",
        )
        .await
        .len();
        if members == things {
            return arn;
        }
        if Instant::now() > deadline {
            fatal(&format!(
                "the fleet group holds {members} of {things} things"
            ));
        }
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    }
}

/// The items under `key` of the list at `url`, over every page.
async fn all_pages(http: &reqwest::Client, url: &str, key: &str) -> Vec<Value> {
    let (mut items, mut token) = (Vec::new(), None::<String>);
    loop {
        let mut request = http.get(url).query(&[("maxResults", "250")]);
        if let Some(t) = &token {
            request = request.query(&[("nextToken", t)]);
        }
        let page: Value = request
            .send()
            .await
            .and_then(|r| r.error_for_status())
            .unwrap_or_else(|e| fatal(&format!("GET {url} failed: {e}")))
            .json()
            .await
            .unwrap_or_else(|e| fatal(&format!("GET {url}: {e}")));
        items.extend(page[key].as_array().into_iter().flatten().cloned());
        match page["nextToken"].as_str() {
            Some(t) => token = Some(t.to_owned()),
            None => return items,
        }
    }
}

/// Every execution of the job SUCCEEDED, as ListJobExecutionsForJob pages
/// them.
async fn check_all_succeeded(http: &reqwest::Client, api: &str, things: usize) {
    let executions = all_pages(
        http,
        &format!("{api}/jobs/fleet-1/things"),
        "executionSummaries",
    )
    .await;
    let succeeded = executions
        .iter()
        .filter(|e| e["jobExecutionSummary"]["status"] == "SUCCEEDED")
        .count();
    if succeeded != things {
        fatal(&format!("{succeeded} of {things} executions SUCCEEDED"));
    }
}

/// `jobhost-fleet serve` in its own process, stopped when dropped.
struct Service {
    child: Child,
    mqtt: SocketAddr,
    http: SocketAddr,
}

impl Service {
    fn start(data_dir: &std::path::Path) -> Service {
        let mut child = Command::new(env!("CARGO_BIN_EXE_jobhost-fleet"))
            .args([
                "serve",
                "--mqtt",
                "127.0.0.1:0",
                "--http",
                "127.0.0.1:0",
                "--data-dir",
            ])
            .arg(data_dir)
            .env("JOBHOST_FLEET_LOG", "warn")
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| fatal(&format!("cannot start jobhost-fleet serve: {e}")));
        // "jobhost-fleet: MQTT on ADDR, HTTP API on http://ADDR, data in DIR"
        let stderr = child.stderr.take().expect("piped stderr");
        let mut lines = BufReader::new(stderr).lines();
        let (mqtt, http) = loop {
            let Some(Ok(line)) = lines.next() else {
                fatal("jobhost-fleet serve stopped before it was ready");
            };
            if let Some(addrs) = ready_line(&line) {
                break addrs;
            }
        };
        // Keep draining what it logs, so that it never blocks on a full pipe.
        std::thread::spawn(move || {
            for line in lines.map_while(Result::ok) {
                eprintln!("serve: {line}");
            }
        });
        Service { child, mqtt, http }
    }

    /// (current, peak) resident set of the service, in KiB.
    fn memory(&self) -> (u64, u64) {
        let kib = |key| support::proc_status_kib(self.child.id(), key).unwrap_or(0);
        (kib("VmRSS:"), kib("VmHWM:"))
    }
}

fn ready_line(line: &str) -> Option<(SocketAddr, SocketAddr)> {
    let rest = line.strip_prefix("jobhost-fleet: ")?;
    let (_, rest) = rest.split_once(" on ")?;
    let (mqtt, rest) = rest.split_once(", HTTP API on http://")?;
    let (http, _) = rest.split_once(", data in ")?;
    Some((mqtt.parse().ok()?, http.parse().ok()?))
}

impl Drop for Service {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
