//! Shared test support: the plugins `scripts/build-plugins` built from this
//! repository's source, and a runtime to run them in.

use jobhost::executor::{self, CancelToken, Conclusion, Execution, NullObserver, Observer, Report};
use jobhost::runtime::{CompiledPlugin, EngineConfig, ExecutionLimits, Runtime, Sandbox};
use std::path::PathBuf;
use std::process::Command;
use std::sync::{Arc, OnceLock};

pub mod runner;

/// `target/plugins/<name>.wasm`, built from source by `scripts/build-plugins`.
pub fn plugin_path(name: &str) -> PathBuf {
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../target"));
    let path = target.join("plugins").join(format!("{name}.wasm"));
    assert!(
        path.is_file(),
        "{} is missing: run scripts/build-plugins first (scripts/test does)",
        path.display()
    );
    path
}

/// `jobhost`, the binary under test, as a [`Command`] (through the
/// emulator when the tests run under one: [`runner`]).
pub fn jobhost_command() -> Command {
    runner::command(env!("CARGO_BIN_EXE_jobhost"))
}

/// Polls a run to its end on this thread, as the agent and `jobhost run`
/// do: in a runtime of its own (WASI and the imports need its timers and
/// blocking pool), which is not waited for at the end, since a run dropped
/// in a blocking call (an open of a FIFO) leaves that thread behind.
pub fn block_on<F: std::future::Future>(future: F) -> F::Output {
    let tokio = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a tokio runtime");
    let output = tokio.block_on(future);
    tokio.shutdown_background();
    output
}

/// One runtime per test binary, with a compiled cache in a temporary
/// directory, so each plugin is compiled once per binary.
pub fn runtime() -> Arc<Runtime> {
    static RUNTIME: OnceLock<(Arc<Runtime>, tempfile::TempDir)> = OnceLock::new();
    RUNTIME
        .get_or_init(|| {
            let dir = tempfile::tempdir().expect("temp dir");
            let rt = Runtime::new(&EngineConfig {
                cache_dir: Some(dir.path().to_path_buf()),
                ..EngineConfig::default()
            })
            .expect("runtime");
            (rt, dir)
        })
        .0
        .clone()
}

pub fn load(name: &str) -> CompiledPlugin {
    CompiledPlugin::load_unverified_file(&runtime(), &plugin_path(name)).expect("plugin loads")
}

pub fn execution(document: &str) -> Execution {
    Execution {
        job_id: "job-1".into(),
        execution_number: 1,
        operation: "test".into(),
        document: document.into(),
        checkpoint: None,
        diagnostics: None,
    }
}

/// Runs `document` through `plugin` with default limits and no grants.
pub fn run(plugin: &CompiledPlugin, document: &str) -> Report {
    run_with(
        plugin,
        &execution(document),
        &Sandbox::empty(),
        &ExecutionLimits::default(),
        Box::new(NullObserver::default()),
    )
}

pub fn run_with(
    plugin: &CompiledPlugin,
    execution: &Execution,
    sandbox: &Sandbox,
    limits: &ExecutionLimits,
    observer: Box<dyn Observer>,
) -> Report {
    match block_on(executor::execute(
        &runtime(),
        plugin,
        execution,
        sandbox,
        limits,
        observer,
        CancelToken::new(),
    )) {
        Conclusion::Report(report) => report,
        Conclusion::Cancelled => panic!("unexpected cancellation"),
        Conclusion::Reboot { reason, .. } => panic!("unexpected reboot request: {reason}"),
        Conclusion::RotateCertificate { .. } => panic!("unexpected certificate installation"),
    }
}

/// Serves `app` over HTTP on a loopback port, on its own thread, for as long
/// as the test binary runs; returns the address.
pub fn serve(app: axum::Router) -> std::net::SocketAddr {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("a loopback port");
    listener
        .set_nonblocking(true)
        .expect("non-blocking listener");
    let addr = listener.local_addr().expect("its address");
    std::thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("a runtime for the server");
        rt.block_on(async move {
            let listener = tokio::net::TcpListener::from_std(listener).expect("tokio listener");
            axum::serve(listener, app).await.expect("the server runs");
        });
    });
    addr
}
