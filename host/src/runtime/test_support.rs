//! What the capabilities' unit tests share: one runtime, a store for a
//! sandbox, and a local HTTP server on a thread of its own.

use super::capabilities::{CapView, Capabilities, JobView};
use super::store::{new_store, HostState};
use super::{
    AllocatorChoice, CancelToken, EngineConfig, ExecutionLimits, NullObserver, Runtime, Sandbox,
};
use std::net::SocketAddr;
use std::sync::{Arc, OnceLock};
use wasmtime::Store;

#[path = "../../tests/all/support/runner.rs"]
mod runner;

/// This test binary, to run one of its tests in a child process (through
/// the emulator of a cross build's tests: [`runner`]).
pub(crate) fn this_test_binary() -> std::process::Command {
    runner::command(std::env::current_exe().expect("the test binary's path"))
}

/// One runtime for every unit test: on-demand allocation (no pool to
/// reserve), epoch ticker running.
pub(crate) fn runtime() -> Arc<Runtime> {
    static RUNTIME: OnceLock<Arc<Runtime>> = OnceLock::new();
    Arc::clone(RUNTIME.get_or_init(|| {
        Runtime::new(&EngineConfig {
            allocator: AllocatorChoice::OnDemand,
            ..EngineConfig::default()
        })
        .expect("a runtime")
    }))
}

/// A store for `sandbox`: `plugin` running `job-1`, observed by nothing;
/// with its runtime, for tests that compile something to run in it.
pub(crate) fn store(
    sandbox: &Sandbox,
    limits: &ExecutionLimits,
) -> (Arc<Runtime>, Store<HostState>) {
    let runtime = runtime();
    let store = new_store(
        &runtime.engine,
        runtime.max_memory_bytes,
        sandbox,
        limits,
        super::capabilities::JobTag {
            plugin: "plugin".into(),
            job_id: "job-1".into(),
            execution_number: 1,
        },
        Box::new(NullObserver::default()),
        CancelToken::new(),
    )
    .expect("a store");
    (runtime, store)
}

/// The view one capability's host calls get of `state`, e.g.
/// `view(state, |c| &mut c.upload)`.
pub(crate) fn view<C>(
    state: &mut HostState,
    pick: fn(&mut Capabilities) -> &mut C,
) -> CapView<'_, C> {
    let (job, caps) = state.job();
    CapView {
        ctx: pick(caps),
        job,
    }
}

/// Serves `app` on a loopback port from a thread of its own (with its own
/// tokio runtime, so that a test may block on the host call it makes).
pub(crate) fn http_server(app: axum::Router) -> SocketAddr {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("a loopback port");
    listener.set_nonblocking(true).expect("non-blocking");
    let addr = listener.local_addr().expect("its address");
    std::thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("a tokio runtime");
        rt.block_on(async move {
            let listener = tokio::net::TcpListener::from_std(listener).expect("a tokio listener");
            axum::serve(listener, app).await.expect("serves");
        });
    });
    addr
}

/// Runs `future` to completion on a fresh current-thread runtime.
pub(crate) fn block_on<F: std::future::Future>(future: F) -> F::Output {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a tokio runtime")
        .block_on(future)
}
