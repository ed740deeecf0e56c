//! Runtime benchmarks: `cargo bench -p jobhost` (after `scripts/build-plugins`).
//!
//! - `execute/echo/{pooling,on-demand}`: one whole job attempt on a warm
//!   plugin: fresh store, instantiate from the `InstancePre`, call `run`,
//!   map the result to a report. This is the per-job cost of the runtime.
//! - `load/echo/{compile,cached}`: making a plugin runnable from its bytes,
//!   compiling with Cranelift versus loading the verified cache entry.
//! - `limits/cpu-bound/{epoch-on,epoch-off}`: a CPU-bound run (the
//!   `test-probe` plugin's `compute`, ~10 M rounds) with the interruption
//!   that enforces deadlines and cancellation, and without it: the ratio is
//!   what the limits cost.
//!
//! Figures measured on the development machines are in BENCHMARKS.md.

use criterion::{criterion_group, criterion_main, Criterion};
use jobhost::executor::{self, CancelToken, Conclusion, Execution, NullObserver, Report};
use jobhost::runtime::{
    AllocatorChoice, CacheStatus, CompiledPlugin, EngineConfig, ExecutionLimits, Runtime, Sandbox,
};
use std::path::PathBuf;

fn echo_bytes() -> Vec<u8> {
    plugin_bytes("echo")
}

fn plugin_bytes(name: &str) -> Vec<u8> {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../target/plugins")
        .join(format!("{name}.wasm"));
    std::fs::read(&path)
        .unwrap_or_else(|e| panic!("{}: {e}; run scripts/build-plugins first", path.display()))
}

/// What polls the runs, as the agent's run thread does: made once, not
/// per iteration.
fn tokio() -> &'static tokio::runtime::Runtime {
    static TOKIO: std::sync::OnceLock<tokio::runtime::Runtime> = std::sync::OnceLock::new();
    TOKIO.get_or_init(|| {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("a tokio runtime")
    })
}

/// One whole attempt with default limits and an empty sandbox.
fn run_once(runtime: &Runtime, plugin: &CompiledPlugin, execution: &Execution) -> Report {
    match tokio().block_on(executor::execute(
        runtime,
        plugin,
        execution,
        &Sandbox::empty(),
        &ExecutionLimits::default(),
        Box::new(NullObserver::default()),
        CancelToken::new(),
    )) {
        Conclusion::Report(report) => report,
        Conclusion::Cancelled
        | Conclusion::Reboot { .. }
        | Conclusion::RotateCertificate { .. } => {
            panic!("nothing cancels, reboots or rotates in a benchmark run")
        }
    }
}

fn execute(c: &mut Criterion) {
    let wasm = echo_bytes();
    let execution = Execution {
        job_id: "bench".into(),
        execution_number: 1,
        operation: "echo".into(),
        document: r#"{"operation":"echo","message":"hello"}"#.into(),
        checkpoint: None,
        diagnostics: None,
    };
    let mut group = c.benchmark_group("execute/echo");
    for (name, allocator) in [
        ("pooling", AllocatorChoice::Pooling),
        ("on-demand", AllocatorChoice::OnDemand),
    ] {
        let runtime = Runtime::new(&EngineConfig {
            allocator,
            ..EngineConfig::default()
        })
        .expect("runtime");
        let plugin =
            CompiledPlugin::from_unverified_bytes(&runtime, "echo", &wasm).expect("echo loads");
        group.bench_function(name, |b| b.iter(|| run_once(&runtime, &plugin, &execution)));
    }
    group.finish();
}

/// The parts of `execute/echo`, to see where a job's microseconds go.
fn breakdown(c: &mut Criterion) {
    let wasm = echo_bytes();
    let runtime = Runtime::new(&EngineConfig::default()).expect("runtime");
    let plugin =
        CompiledPlugin::from_unverified_bytes(&runtime, "echo", &wasm).expect("echo loads");
    let mut group = c.benchmark_group("breakdown/echo");
    group.bench_function("store-only", |b| {
        b.iter(|| jobhost::runtime::bench_support::store_only(&runtime))
    });
    group.bench_function("instantiate-only", |b| {
        b.iter(|| {
            tokio().block_on(jobhost::runtime::bench_support::instantiate_only(
                &runtime, &plugin,
            ))
        })
    });
    group.finish();
}

fn load(c: &mut Criterion) {
    let wasm = echo_bytes();
    let mut group = c.benchmark_group("load/echo");
    group.sample_size(20);
    let uncached = Runtime::new(&EngineConfig::default()).expect("runtime");
    group.bench_function("compile", |b| {
        b.iter(|| {
            CompiledPlugin::from_unverified_bytes(&uncached, "echo", &wasm).expect("compiles")
        })
    });
    let dir = tempfile::tempdir().expect("temp dir");
    let cached = Runtime::new(&EngineConfig {
        cache_dir: Some(dir.path().into()),
        ..EngineConfig::default()
    })
    .expect("runtime");
    CompiledPlugin::from_unverified_bytes(&cached, "echo", &wasm).expect("fills the cache");
    group.bench_function("cached", |b| {
        b.iter(|| {
            let plugin =
                CompiledPlugin::from_unverified_bytes(&cached, "echo", &wasm).expect("loads");
            assert_eq!(plugin.cache_status(), CacheStatus::Hit);
            plugin
        })
    });
    // What a plugin the agent released after its check at start costs its
    // first job: map the verified entry again and link it.
    let plugin = CompiledPlugin::from_unverified_bytes(&cached, "echo", &wasm).expect("loads");
    let origin = dir.path().join("echo.wasm");
    group.bench_function("remap", |b| {
        b.iter(|| {
            assert!(plugin.release(&origin));
            jobhost::runtime::bench_support::map(&cached, &plugin);
        })
    });
    group.finish();
}

fn limits(c: &mut Criterion) {
    let wasm = plugin_bytes("test-probe");
    let execution = Execution {
        job_id: "bench".into(),
        execution_number: 1,
        operation: "test-probe".into(),
        document: r#"{"compute":10000000}"#.into(),
        checkpoint: None,
        diagnostics: None,
    };
    let mut group = c.benchmark_group("limits/cpu-bound");
    group.sample_size(20);
    let config = EngineConfig::default();
    let with = Runtime::new(&config).expect("runtime");
    let without =
        jobhost::runtime::bench_support::runtime_without_interruption(&config).expect("runtime");
    for (name, runtime) in [("epoch-on", with), ("epoch-off", without)] {
        let plugin = CompiledPlugin::from_unverified_bytes(&runtime, "test-probe", &wasm)
            .expect("probe loads");
        group.bench_function(name, |b| {
            b.iter(|| {
                let report = run_once(&runtime, &plugin, &execution);
                assert!(
                    report.status_details.get("computed").is_some(),
                    "{report:?}"
                );
                report
            })
        });
    }
    group.finish();
}

criterion_group!(benches, execute, breakdown, load, limits);
criterion_main!(benches);
