//! The jobs service in-process, and waits on its store: the store is the
//! source of truth an operator sees. Waits poll it with a deadline
//! ([`JOB_WAIT`]); nothing sleeps a fixed time to let something happen.

use jobhost_fleet::clock::Clock;
use jobhost_fleet::server::{BrokerChoice, Server, ServerConfig};
use jobhost_fleet::store::{Changes, CreateJob};
use jobhost_protocol::requests::UpdateRequest;
use jobhost_protocol::{JobExecution, JobExecutionStatus};
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Failure guard for a job to reach a state: generous, since a job may
/// compile a plugin on a loaded 2-core CI machine.
pub const JOB_WAIT: Duration = Duration::from_secs(60);

/// The wall clock, in seconds.
pub fn clock() -> Clock {
    Arc::new(|| {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .expect("time after 1970")
            .as_secs() as i64
    })
}

/// Starts the service with its data in `dir/fleet`, HTTP on a free port.
pub async fn start_server(dir: &Path, broker: BrokerChoice) -> Server {
    start_server_with_ca(dir, broker, None).await
}

/// The embedded broker on a free loopback port.
pub fn embedded() -> BrokerChoice {
    BrokerChoice::Embedded {
        listen: "127.0.0.1:0".parse().expect("addr"),
        allow_plain_mqtt: false,
    }
}

/// Creates a job for `thing` and tells the service to notify it.
pub fn create(server: &Server, thing: &str, job_id: &str, document: serde_json::Value) {
    create_with(server, thing, job_id, document, None);
}

/// Creates a job for `thing` that is already IN_PROGRESS with `details`
/// as its statusDetails — what the cloud holds for an execution whose
/// device went down mid-job (a `checkpoint`, a `step`) — and only then
/// notifies the device (one store lock for both, so the agent never sees
/// it QUEUED).
pub fn create_interrupted(
    server: &Server,
    thing: &str,
    job_id: &str,
    document: serde_json::Value,
    details: serde_json::Value,
) {
    create_with(server, thing, job_id, document, Some(details));
}

fn create_with(
    server: &Server,
    thing: &str,
    job_id: &str,
    document: serde_json::Value,
    in_progress: Option<serde_json::Value>,
) {
    let now = clock()();
    let mut store = server.store.lock().expect("store");
    store
        .create_job(
            &CreateJob {
                job_id: job_id.into(),
                targets: vec![thing.into()],
                document: document.into(),
                ..CreateJob::default()
            },
            now,
        )
        .expect("create job");
    if let Some(details) = in_progress {
        let update: UpdateRequest = serde_json::from_value(serde_json::json!({
            "status": "IN_PROGRESS",
            "statusDetails": details,
        }))
        .expect("an update request");
        store.update(thing, job_id, &update, now).expect("update");
    }
    drop(store);
    server
        .changes
        .send(Changes::thing(thing))
        .expect("service running");
}

/// The execution of `job_id` on `thing`, as the store holds it.
pub fn execution(server: &Server, thing: &str, job_id: &str) -> JobExecution {
    server
        .store
        .lock()
        .expect("store")
        .describe_execution(job_id, thing, None)
        .expect("execution exists")
        .execution
}

/// Waits until the execution satisfies `done`.
pub async fn wait_until(
    server: &Server,
    thing: &str,
    job_id: &str,
    what: &str,
    done: impl Fn(&JobExecution) -> bool,
) -> JobExecution {
    let start = Instant::now();
    let mut tick = tokio::time::interval(Duration::from_millis(20));
    loop {
        tick.tick().await;
        let e = execution(server, thing, job_id);
        if done(&e) {
            return e;
        }
        assert!(
            start.elapsed() < JOB_WAIT,
            "{job_id}: still {:?} {:?} after {JOB_WAIT:?}, waiting for {what}",
            e.status,
            e.status_details
        );
    }
}

/// Waits until the execution is terminal.
pub async fn wait_terminal(server: &Server, thing: &str, job_id: &str) -> JobExecution {
    wait_until(server, thing, job_id, "a terminal status", |e| {
        e.status.is_terminal()
    })
    .await
}

/// Asserts the execution ended `status` with a reason that says `why`.
pub fn assert_reason(e: &JobExecution, status: JobExecutionStatus, why: &str) {
    assert_eq!(e.status, status, "{}: {:?}", e.job_id, e.status_details);
    let reason = detail(e, "reason").unwrap_or_default();
    assert!(
        reason.contains(why),
        "{}: reason {reason:?} does not say {why:?}",
        e.job_id
    );
}

/// One statusDetails value.
pub fn detail<'a>(e: &'a JobExecution, key: &str) -> Option<&'a str> {
    e.status_details.as_ref().and_then(|d| d.get(key))
}

/// Waits until the execution is terminal, with `guard` instead of
/// [`JOB_WAIT`] as the failure guard: for the first job of an agent that
/// compiles a large component (Python, JavaScript) when it starts.
pub async fn wait_terminal_within(
    server: &Server,
    thing: &str,
    job_id: &str,
    guard: Duration,
) -> JobExecution {
    let start = Instant::now();
    let mut tick = tokio::time::interval(Duration::from_millis(50));
    loop {
        tick.tick().await;
        let e = execution(server, thing, job_id);
        if e.status.is_terminal() {
            return e;
        }
        assert!(
            start.elapsed() < guard,
            "{job_id}: still {:?} {:?} after {guard:?}",
            e.status,
            e.status_details
        );
    }
}

/// [`start_server`], with the service signing devices' certificate
/// requests with `ca` (`jobhost-fleet serve --ca-cert/--ca-key`).
pub async fn start_server_with_ca(
    dir: &Path,
    broker: BrokerChoice,
    ca: Option<jobhost_fleet::server::CaFiles>,
) -> Server {
    Server::start(ServerConfig {
        data_dir: dir.join("fleet"),
        broker,
        url_ttl: Duration::from_secs(600),
        ca,
        clock: clock(),
        ..ServerConfig::default()
    })
    .await
    .expect("start the service")
}
