//! End-to-end benchmark of the jobs path:
//! `cargo bench -p jobhost-fleet --bench e2e [-- --jobs N --things M]`.
//!
//! Two measurements, each on a fresh [`Server`] (SQLite store, embedded rmqtt
//! broker, jobs service) on loopback, in this process, on a tokio runtime
//! with one worker per core:
//!
//! 1. **Latency of one no-op job** through the real agent: `jobhost::agent`
//!    running in-process as thing `bench-device` with the `echo.wasm` plugin
//!    (`{"operation":"echo"}`: no progress, no checkpoint). `--jobs` jobs run
//!    one after the other; each is timed from the instant right before
//!    `create_job` + `changes.send` to the instant the service's
//!    `$aws/things/bench-device/jobs/<job>/update/accepted` reply to the
//!    agent's SUCCEEDED update reaches an observer. That reply is the earliest
//!    outside evidence that SUCCEEDED is recorded: the service publishes it
//!    right after the SQLite transaction commits (before the `notify` that
//!    drops the job, which costs one more store read). The observer is a
//!    second session with the service's privileges, subscribed to
//!    `…/jobs/+/update` and `…/jobs/+/update/accepted`: on AWS a reply goes
//!    only to the requester, but on our brokers it is an ordinary publish that
//!    any subscriber with access receives (the benchmark fails if it does
//!    not). It pairs the SUCCEEDED request with its reply by `clientToken`,
//!    so the IN_PROGRESS claim's reply cannot be mistaken for it, and then
//!    checks in the store, outside the timed span, that the execution is
//!    SUCCEEDED at version 3. No polling: every wait is on a message.
//!
//! 2. **Executions per second across `--things` things**: lightweight device
//!    simulators (rumqttc clients whose client id is the thing name; no agent,
//!    no wasm) follow the device algorithm minimally: on `notify-next` with
//!    an execution, UPDATE IN_PROGRESS with `expectedVersion`, and on its
//!    `/accepted`, UPDATE SUCCEEDED. `--per-thing` jobs, each targeting every
//!    thing, are created back to back; the figure is executions whose
//!    SUCCEEDED was accepted, divided by the time from the first create to
//!    the last acceptance. This measures the SERVICE and the BROKER (and
//!    shares the cores with the simulators), not WebAssembly execution.
//!
//! Both store and agent state are durable (`synchronous=FULL`, fsynced
//! journal), so the file system under `--dir` (default: the system temp dir)
//! matters: compare with `--dir /dev/shm`. Nothing here asserts a speed;
//! figures measured on the development machines are in BENCHMARKS.md.

// Signing the first-party plugins, shared with the integration tests.
#[path = "../tests/all/support/plugins.rs"]
#[allow(dead_code)]
mod plugins;
// The MQTT side shared with the fleet-scale bench: simulated devices.
mod support;

use support::{fatal, no_nagle, pump, recv_within, Simulator, Task, WAIT};

use jobhost_fleet::clock::system_clock;
use jobhost_fleet::server::{BrokerChoice, Server, ServerConfig};
use jobhost_fleet::store::{Changes, CreateJob, JobDocument};
use jobhost_protocol::requests::UpdateRequest;
use jobhost_protocol::topics::{JobsTopic, Operation, Reply};
use jobhost_protocol::JobExecutionStatus;
use rumqttc::AsyncClient;
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};
use tokio::sync::{mpsc, oneshot, watch};

/// The agent's thing in the latency run.
const THING: &str = "bench-device";
/// Jobs run before the latency samples start: connection set-up, the
/// first `$next/get`, the first instantiation, SQLite page cache.
const WARM_UP_JOBS: usize = 20;
/// The job document: the echo plugin, nothing else to do.
const NO_OP: &str = r#"{"operation":"echo"}"#;

const USAGE: &str = "usage: cargo bench -p jobhost-fleet --bench e2e -- \
[--jobs N] [--things M] [--per-thing K] [--dir PATH] [--only latency|throughput]
  --jobs N        sequential no-op jobs through the real agent (default 1000)
  --things M      simulated things for the throughput run (default 100)
  --per-thing K   jobs per simulated thing (default 10)
  --dir PATH      where the store and agent state live (default: temp dir)
  --only PART     run only `latency` or only `throughput`";

fn main() {
    let options = match Options::parse(std::env::args().skip(1)) {
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
    runtime.block_on(run(&options));
}

async fn run(options: &Options) {
    print_setup(options);
    if options.only != Some(Part::Throughput) {
        let samples = latency(options).await;
        print_latency(&samples);
    }
    if options.only != Some(Part::Latency) {
        let (executions, elapsed) = throughput(options).await;
        print_throughput(options, executions, elapsed);
    }
}

// ----- options -----

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Part {
    Latency,
    Throughput,
}

#[derive(Debug)]
struct Options {
    jobs: usize,
    things: usize,
    per_thing: usize,
    dir: Option<PathBuf>,
    only: Option<Part>,
}

impl Options {
    /// Parses the flags after `--`; cargo's own `--bench` is ignored.
    fn parse(mut args: impl Iterator<Item = String>) -> Result<Options, String> {
        let mut options = Options {
            jobs: 1000,
            things: 100,
            per_thing: 10,
            dir: None,
            only: None,
        };
        while let Some(arg) = args.next() {
            let mut value = || args.next().ok_or(format!("{arg} needs a value"));
            match arg.as_str() {
                "--bench" => {}
                "--jobs" => options.jobs = count(&arg, &value()?)?,
                "--things" => options.things = count(&arg, &value()?)?,
                "--per-thing" => options.per_thing = count(&arg, &value()?)?,
                "--dir" => options.dir = Some(PathBuf::from(value()?)),
                "--only" => options.only = Some(part(&value()?)?),
                "-h" | "--help" => return Err(String::new()),
                other => return Err(format!("unknown argument `{other}`")),
            }
        }
        Ok(options)
    }
}

fn count(flag: &str, value: &str) -> Result<usize, String> {
    match value.parse() {
        Ok(n) if n > 0 => Ok(n),
        _ => Err(format!("{flag} takes a positive integer, not `{value}`")),
    }
}

fn part(value: &str) -> Result<Part, String> {
    match value {
        "latency" => Ok(Part::Latency),
        "throughput" => Ok(Part::Throughput),
        _ => Err(format!(
            "--only takes `latency` or `throughput`, not `{value}`"
        )),
    }
}

// ----- shared set-up -----

fn scratch_dir(options: &Options) -> tempfile::TempDir {
    match &options.dir {
        Some(dir) => tempfile::tempdir_in(dir),
        None => tempfile::tempdir(),
    }
    .expect("a scratch directory for the store and the agent state")
}

async fn start_server(dir: &Path) -> Server {
    let config = ServerConfig {
        data_dir: dir.join("fleet"),
        broker: BrokerChoice::Embedded {
            listen: "127.0.0.1:0".parse().expect("loopback address"),
            allow_plain_mqtt: false,
        },
        http: "127.0.0.1:0".parse().expect("loopback address"),
        public_url: None,
        url_ttl: Duration::from_secs(600),
        token: None,
        ..ServerConfig::default()
    };
    Server::start(config)
        .await
        .expect("the jobs service starts")
}

/// A job running the no-op document on `targets`.
fn no_op_job(job_id: &str, targets: &[String]) -> CreateJob {
    CreateJob {
        job_id: job_id.into(),
        targets: targets.to_vec(),
        document: JobDocument::Text(NO_OP.to_owned()),
        ..CreateJob::default()
    }
}

/// CreateJob straight on the store, then the change notice the HTTP API
/// would send: what an operator's create costs, minus HTTP.
fn create(server: &Server, job: &CreateJob) {
    server
        .store
        .lock()
        .expect("store lock")
        .create_job(job, system_clock()())
        .expect("create_job");
    let changes = Changes {
        things: job.targets.iter().cloned().collect(),
    };
    server
        .changes
        .send(changes)
        .expect("the service is running");
}

fn client_token(payload: &[u8]) -> Option<String> {
    let value: serde_json::Value = serde_json::from_slice(payload).ok()?;
    value.get("clientToken")?.as_str().map(str::to_owned)
}

// ----- 1. latency through the real agent -----

async fn latency(options: &Options) -> Vec<Duration> {
    let dir = scratch_dir(options);
    let server = start_server(dir.path()).await;
    let mut observer = Observer::connect(&server).await;
    let agent = start_agent(dir.path(), &server);
    for i in 0..WARM_UP_JOBS {
        one_job(&server, &mut observer, &format!("warm-{i}")).await;
    }
    let mut samples = Vec::with_capacity(options.jobs);
    for i in 0..options.jobs {
        samples.push(one_job(&server, &mut observer, &format!("lat-{i}")).await);
    }
    let _ = agent.send(true);
    drop(observer);
    server.stop().await;
    samples
}

/// One job, created → SUCCEEDED accepted; checked in the store afterwards.
async fn one_job(server: &Server, observer: &mut Observer, job_id: &str) -> Duration {
    let job = no_op_job(job_id, &[THING.to_owned()]);
    let created = Instant::now();
    create(server, &job);
    let recorded = observer.succeeded(job_id).await;
    check_succeeded(server, job_id);
    recorded.duration_since(created)
}

fn check_succeeded(server: &Server, job_id: &str) {
    let execution = server
        .store
        .lock()
        .expect("store lock")
        .describe_execution(job_id, THING, None)
        .expect("the execution exists")
        .execution;
    if execution.status != JobExecutionStatus::Succeeded || execution.version_number != 3 {
        fatal(&format!(
            "{job_id} is {} v{} after its SUCCEEDED was accepted",
            execution.status, execution.version_number
        ));
    }
}

/// Starts `jobhost::agent::run` for [`THING`] with only `echo.wasm`,
/// signed by a key made here; the agent stops when the returned sender
/// sends `true` (or is dropped).
fn start_agent(dir: &Path, server: &Server) -> watch::Sender<bool> {
    let agent = dir.join("agent");
    std::fs::create_dir_all(&agent).expect("agent dir");
    let (key, _) = plugins::operator_key(&agent, "operator.key");
    plugins::provision(&agent.join("plugins"), &key, &["echo"]);
    let config = agent.join("jobhost.toml");
    let toml = format!(
        "thing_name = \"{THING}\"\nstate_dir = \"state\"\nplugin_dir = \"plugins\"\n\
         [trust]\nkeys = [\"operator.key.pub\"]\n\
         [broker]\nhost = \"{}\"\nport = {}\n",
        server.mqtt_addr.ip(),
        server.mqtt_addr.port()
    );
    std::fs::write(&config, toml).expect("write the agent config");
    let config = jobhost::config::Config::load(&config).expect("agent config");
    let (stop, stopped) = watch::channel(false);
    tokio::spawn(async move {
        if let Err(e) = jobhost::agent::run(config, stopped).await {
            fatal(&format!("the agent stopped: {e}"));
        }
    });
    stop
}

/// A session with the service's privileges that sees [`THING`]'s update
/// requests and their accepted/rejected replies.
struct Observer {
    _pump: Task,
    messages: mpsc::UnboundedReceiver<(Instant, String, Vec<u8>)>,
    /// `/accepted` replies whose request was not seen yet: token → arrival.
    early: HashMap<String, Instant>,
}

impl Observer {
    async fn connect(server: &Server) -> Observer {
        let base = format!("$aws/things/{THING}/jobs");
        let filters = vec![format!("{base}/+/update"), format!("{base}/+/update/+")];
        let (client, mut eventloop) =
            AsyncClient::new(server.service_mqtt_options("bench-observer"), 64);
        no_nagle(&mut eventloop);
        let (ready, subscribed) = oneshot::channel();
        let (tx, messages) = mpsc::unbounded_channel();
        let pump = pump(eventloop, client, filters, ready, tx);
        tokio::time::timeout(WAIT, subscribed)
            .await
            .expect("observer subscribed in time")
            .expect("observer subscribed");
        Observer {
            _pump: pump,
            messages,
            early: HashMap::new(),
        }
    }

    /// When the service's acceptance of `job_id`'s SUCCEEDED update arrived.
    async fn succeeded(&mut self, job_id: &str) -> Instant {
        self.early.clear();
        let mut token = None;
        loop {
            let (at, topic, payload) = recv_within(&mut self.messages, job_id).await;
            let Ok((_, parsed)) = JobsTopic::parse(&topic) else {
                continue;
            };
            match parsed {
                JobsTopic::Request(Operation::Update(job)) if job == job_id => {
                    token = succeeded_token(&payload).or(token);
                    if let Some(at) = token.as_ref().and_then(|t| self.early.remove(t)) {
                        return at;
                    }
                }
                JobsTopic::Reply(Operation::Update(job), Reply::Accepted) if job == job_id => {
                    let reply = client_token(&payload).unwrap_or_default();
                    if token.as_deref() == Some(reply.as_str()) {
                        return at;
                    }
                    // An IN_PROGRESS reply, or one that overtook its request.
                    self.early.insert(reply, at);
                }
                JobsTopic::Reply(Operation::Update(job), Reply::Rejected) if job == job_id => {
                    fatal(&format!(
                        "update of {job_id} rejected: {}",
                        String::from_utf8_lossy(&payload)
                    ))
                }
                _ => {}
            }
        }
    }
}

/// The clientToken of an UPDATE SUCCEEDED request, if this is one.
fn succeeded_token(payload: &[u8]) -> Option<String> {
    let update: UpdateRequest = serde_json::from_slice(payload).ok()?;
    (update.status == JobExecutionStatus::Succeeded)
        .then_some(update.client_token)
        .flatten()
}

// ----- 2. throughput across simulated things -----

async fn throughput(options: &Options) -> (usize, Duration) {
    let dir = scratch_dir(options);
    let server = start_server(dir.path()).await;
    let things: Vec<String> = (0..options.things).map(|i| format!("sim-{i:04}")).collect();
    let (done_tx, mut done) = mpsc::unbounded_channel();
    let mut simulators = Vec::with_capacity(things.len());
    for thing in &things {
        simulators.push(Simulator::start(server.mqtt_addr, thing, done_tx.clone()).await);
    }
    // One untimed round: first requests of every session, page cache.
    create(&server, &no_op_job("tput-warm", &things));
    finished(&mut done, things.len()).await;
    let expected = options.things * options.per_thing;
    let jobs: Vec<CreateJob> = (0..options.per_thing)
        .map(|k| no_op_job(&format!("tput-{k}"), &things))
        .collect();
    let started = Instant::now();
    for job in &jobs {
        create(&server, job);
    }
    let last = finished(&mut done, expected).await;
    check_all_succeeded(&server, options);
    drop(simulators);
    server.stop().await;
    (expected, last.duration_since(started))
}

/// Waits for `n` simulated executions; returns when the last one finished.
async fn finished(done: &mut mpsc::UnboundedReceiver<Instant>, n: usize) -> Instant {
    let mut last = Instant::now();
    for _ in 0..n {
        last = recv_within(done, "a simulated execution to finish").await;
    }
    last
}

fn check_all_succeeded(server: &Server, options: &Options) {
    let store = server.store.lock().expect("store lock");
    for k in 0..options.per_thing {
        let job = format!("tput-{k}");
        let records = store.list_executions_for_job(&job).expect("the job exists");
        let succeeded = records
            .iter()
            .filter(|r| r.execution.status == JobExecutionStatus::Succeeded)
            .count();
        if succeeded != options.things {
            fatal(&format!(
                "{job}: {succeeded} of {} executions SUCCEEDED",
                options.things
            ));
        }
    }
}

// ----- reporting -----

fn print_setup(options: &Options) {
    let cores = std::thread::available_parallelism().map_or(0, |n| n.get());
    let dir = options
        .dir
        .clone()
        .unwrap_or_else(std::env::temp_dir)
        .display()
        .to_string();
    println!("e2e bench: {cores} cores, store and agent state under {dir}");
}

fn print_latency(samples: &[Duration]) {
    let mut sorted = samples.to_vec();
    sorted.sort_unstable();
    let ms = |d: Duration| d.as_secs_f64() * 1000.0;
    let mean = sorted.iter().sum::<Duration>() / u32::try_from(sorted.len()).unwrap_or(u32::MAX);
    println!(
        "\n1. no-op job latency, created -> SUCCEEDED accepted, real agent + echo.wasm, \
         {} sequential jobs (after {WARM_UP_JOBS} warm-up)",
        sorted.len()
    );
    println!(
        "   p50 {:.2} ms   p90 {:.2} ms   p99 {:.2} ms   max {:.2} ms   (min {:.2} ms, mean {:.2} ms)",
        ms(percentile(&sorted, 50.0)),
        ms(percentile(&sorted, 90.0)),
        ms(percentile(&sorted, 99.0)),
        ms(sorted[sorted.len() - 1]),
        ms(sorted[0]),
        ms(mean),
    );
}

/// Nearest-rank percentile of sorted, non-empty samples.
fn percentile(sorted: &[Duration], p: f64) -> Duration {
    let rank = (p / 100.0 * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

fn print_throughput(options: &Options, executions: usize, elapsed: Duration) {
    println!(
        "\n2. throughput: {} simulated things x {} jobs each (one job per round targets all), \
         simulators are bare MQTT clients: this is the SERVICE + BROKER, not wasm execution",
        options.things, options.per_thing
    );
    println!(
        "   {executions} executions in {:.2} s = {:.0} executions/s",
        elapsed.as_secs_f64(),
        executions as f64 / elapsed.as_secs_f64()
    );
}
