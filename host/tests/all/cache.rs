//! The compiled-component cache through real components and real wasmtime:
//! entries reused, refused when tampered with or copied from another host,
//! mapped from their files, and compiled in a `jobhost compile-entry` child
//! as the agent does.

use crate::support;
use jobhost::executor::{self, CancelToken, Conclusion, Execution, NullObserver};
use jobhost::runtime::{
    CacheStatus, CompileIn, CompiledPlugin, EngineConfig, ExecutionLimits, LoadError, Runtime,
    Sandbox,
};
use jobhost_protocol::TerminalStatus;
use sha2::{Digest, Sha256};
use std::path::{Path, PathBuf};
use support::{execution, plugin_path};

#[test]
fn compiled_cache_is_reused_and_a_corrupted_entry_is_recompiled_not_loaded() {
    let dir = tempfile::tempdir().unwrap();
    let config = cached_in(dir.path());
    let wasm = echo();

    let rt = Runtime::new(&config).unwrap();
    let first = CompiledPlugin::from_unverified_bytes(&rt, "echo", &wasm).unwrap();
    assert_eq!(first.cache_status(), CacheStatus::Miss);
    drop(first);

    // A new process (runtime) with the same cache reuses the entry.
    let rt = Runtime::new(&config).unwrap();
    let second = CompiledPlugin::from_unverified_bytes(&rt, "echo", &wasm).unwrap();
    assert_eq!(second.cache_status(), CacheStatus::Hit);
    assert_eq!(run_in(&rt, &second).status, TerminalStatus::Succeeded);

    // Flip one byte in the middle of the native code.
    let entry = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| p.extension().is_some_and(|x| x == "cwasm"))
        .expect("a cache entry");
    let mut bytes = std::fs::read(&entry).unwrap();
    let mid = bytes.len() / 2;
    bytes[mid] ^= 0x40;
    std::fs::write(&entry, &bytes).unwrap();

    let rt = Runtime::new(&config).unwrap();
    let third = CompiledPlugin::from_unverified_bytes(&rt, "echo", &wasm).unwrap();
    assert_eq!(third.cache_status(), CacheStatus::Recompiled);
    assert_eq!(run_in(&rt, &third).status, TerminalStatus::Succeeded);

    // The entry was replaced by a good one.
    let rt = Runtime::new(&config).unwrap();
    assert_eq!(
        CompiledPlugin::from_unverified_bytes(&rt, "echo", &wasm)
            .unwrap()
            .cache_status(),
        CacheStatus::Hit
    );
}

#[test]
fn a_cache_entry_from_another_host_key_is_not_loaded() {
    // Same entry bytes, different host key: as if copied from another device.
    let a = tempfile::tempdir().unwrap();
    let b = tempfile::tempdir().unwrap();
    let wasm = echo();
    let rt_a = Runtime::new(&cached_in(a.path())).unwrap();
    CompiledPlugin::from_unverified_bytes(&rt_a, "echo", &wasm).unwrap();
    let rt_b = Runtime::new(&cached_in(b.path())).unwrap();
    CompiledPlugin::from_unverified_bytes(&rt_b, "echo", &wasm).unwrap(); // creates b's key
    for entry in std::fs::read_dir(a.path()).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_some_and(|x| x == "cwasm") {
            std::fs::copy(&path, b.path().join(path.file_name().unwrap())).unwrap();
        }
    }
    let rt_b = Runtime::new(&cached_in(b.path())).unwrap();
    let plugin = CompiledPlugin::from_unverified_bytes(&rt_b, "echo", &wasm).unwrap();
    assert_eq!(plugin.cache_status(), CacheStatus::Recompiled);
}

fn run_in(rt: &Runtime, plugin: &CompiledPlugin) -> jobhost::executor::Report {
    let exec = Execution {
        document: r#"{"message":"cached"}"#.into(),
        ..execution("{}")
    };
    match support::block_on(executor::execute(
        rt,
        plugin,
        &exec,
        &Sandbox::empty(),
        &ExecutionLimits::default(),
        Box::new(NullObserver::default()),
        CancelToken::new(),
    )) {
        Conclusion::Report(r) => r,
        Conclusion::Cancelled => panic!("cancelled"),
        Conclusion::Reboot { reason, .. } => panic!("unexpected reboot request: {reason}"),
        Conclusion::RotateCertificate { .. } => panic!("unexpected certificate installation"),
    }
}

/// A runtime's settings with its compiled cache in `dir`.
fn cached_in(dir: &Path) -> EngineConfig {
    EngineConfig {
        cache_dir: Some(dir.to_path_buf()),
        ..EngineConfig::default()
    }
}

fn echo() -> Vec<u8> {
    std::fs::read(plugin_path("echo")).unwrap()
}

fn entry_in(dir: &Path) -> PathBuf {
    std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| p.extension().is_some_and(|x| x == "cwasm"))
        .expect("a cache entry")
}

#[test]
fn a_truncated_or_old_format_entry_is_recompiled_not_loaded() {
    let dir = tempfile::tempdir().unwrap();
    let config = cached_in(dir.path());
    let wasm = echo();
    let rt = Runtime::new(&config).unwrap();
    CompiledPlugin::from_unverified_bytes(&rt, "echo", &wasm).unwrap();
    let entry = entry_in(dir.path());
    let good = std::fs::read(&entry).unwrap();

    // Cut short (a full disk, a copy interrupted): the trailer is gone.
    std::fs::write(&entry, &good[..good.len() - 20]).unwrap();
    let rt = Runtime::new(&config).unwrap();
    let plugin = CompiledPlugin::from_unverified_bytes(&rt, "echo", &wasm).unwrap();
    assert_eq!(plugin.cache_status(), CacheStatus::Recompiled);
    assert_eq!(run_in(&rt, &plugin).status, TerminalStatus::Succeeded);
    assert_eq!(std::fs::read(&entry).unwrap().len(), good.len(), "replaced");

    // The first format: magic and HMAC in front. Never mapped as code.
    let mut old = b"JHCWASM1".to_vec();
    old.extend_from_slice(&good[good.len() - 40..good.len() - 8]);
    old.extend_from_slice(&good[..good.len() - 40]);
    std::fs::write(&entry, &old).unwrap();
    let rt = Runtime::new(&config).unwrap();
    let plugin = CompiledPlugin::from_unverified_bytes(&rt, "echo", &wasm).unwrap();
    assert_eq!(plugin.cache_status(), CacheStatus::Recompiled);
}

/// The native code of a cached plugin is the cache file mapped, not a copy
/// in the agent's memory: what keeps an agent with eleven plugins small
/// (BENCHMARKS.md, "Footprint").
#[test]
fn a_cached_plugin_runs_from_its_mapped_entry() {
    let dir = tempfile::tempdir().unwrap();
    let config = cached_in(dir.path());
    let wasm = echo();
    let rt = Runtime::new(&config).unwrap();
    let plugin = CompiledPlugin::from_unverified_bytes(&rt, "echo", &wasm).unwrap();
    let entry = entry_in(dir.path()).canonicalize().unwrap();
    let maps = std::fs::read_to_string("/proc/self/maps").unwrap();
    let mapped: Vec<&str> = maps
        .lines()
        .filter(|l| l.ends_with(&*entry.to_string_lossy()))
        .collect();
    assert!(
        mapped
            .iter()
            .any(|l| l.split_whitespace().nth(1) == Some("r-xp")),
        "the entry's code is mapped executable from {}: {mapped:?}",
        entry.display()
    );
    assert_eq!(run_in(&rt, &plugin).status, TerminalStatus::Succeeded);
}

/// Whether `entry`'s code is mapped executable in this process now.
fn code_mapped(entry: &Path) -> bool {
    let entry = entry.canonicalize().unwrap();
    std::fs::read_to_string("/proc/self/maps")
        .unwrap()
        .lines()
        .any(|l| {
            l.ends_with(&*entry.to_string_lossy()) && l.split_whitespace().nth(1) == Some("r-xp")
        })
}

/// A plugin the agent checked at start costs no memory until a job needs
/// it: released, its entry is unmapped; its next run maps it again.
#[test]
fn a_released_plugin_is_unmapped_until_its_next_run() {
    let dir = tempfile::tempdir().unwrap();
    let rt = Runtime::new(&cached_in(&dir.path().join("cache"))).unwrap();
    let file = dir.path().join("echo.wasm");
    std::fs::write(&file, echo()).unwrap();
    let plugin = CompiledPlugin::load_unverified_file(&rt, &file).unwrap();
    let entry = entry_in(&dir.path().join("cache"));
    assert!(plugin.is_mapped() && code_mapped(&entry));

    assert!(plugin.release(&file));
    assert!(!plugin.is_mapped());
    assert!(
        !code_mapped(&entry),
        "released: the entry is no longer mapped"
    );

    assert_eq!(run_in(&rt, &plugin).status, TerminalStatus::Succeeded);
    assert!(
        plugin.is_mapped() && code_mapped(&entry),
        "mapped again by the run"
    );
    assert_eq!(run_in(&rt, &plugin).status, TerminalStatus::Succeeded);
}

/// A released plugin whose entry disappeared (a cleared cache) is compiled
/// again from its file, as long as the file still holds the bytes that
/// were loaded; a file replaced meanwhile is never run in its place.
#[test]
fn a_released_plugin_without_its_entry_runs_only_the_bytes_it_was_loaded_from() {
    let dir = tempfile::tempdir().unwrap();
    let cache = dir.path().join("cache");
    let rt = Runtime::new(&cached_in(&cache)).unwrap();
    let file = dir.path().join("echo.wasm");
    std::fs::write(&file, echo()).unwrap();
    let plugin = CompiledPlugin::load_unverified_file(&rt, &file).unwrap();

    plugin.release(&file);
    std::fs::remove_file(entry_in(&cache)).unwrap();
    assert_eq!(run_in(&rt, &plugin).status, TerminalStatus::Succeeded);
    assert!(entry_in(&cache).is_file(), "compiled and cached again");

    plugin.release(&file);
    std::fs::remove_file(entry_in(&cache)).unwrap();
    std::fs::write(&file, std::fs::read(plugin_path("test-probe")).unwrap()).unwrap();
    let report = run_in(&rt, &plugin);
    assert_eq!(report.status, TerminalStatus::Failed);
    let reason = report.reason().unwrap();
    assert!(
        reason.contains("changed since it was verified") && reason.contains("echo.wasm"),
        "{reason}"
    );
    assert!(!plugin.is_mapped(), "nothing was loaded in its place");
}

/// Without a compiled cache there is nothing to map a plugin back from:
/// it stays mapped.
#[test]
fn without_a_cache_a_plugin_is_never_released() {
    let rt = Runtime::new(&EngineConfig::default()).unwrap();
    let plugin = CompiledPlugin::from_unverified_bytes(&rt, "echo", &echo()).unwrap();
    assert!(!plugin.release(Path::new("/nonexistent/echo.wasm")));
    assert!(plugin.is_mapped());
    assert_eq!(run_in(&rt, &plugin).status, TerminalStatus::Succeeded);
}

/// A stand-in for the `jobhost` executable that records each command line,
/// then runs the real one: shows that the compile happened in the child.
fn recording_jobhost(dir: &Path) -> (PathBuf, PathBuf) {
    use std::os::unix::fs::PermissionsExt;
    let log = dir.join("invocations");
    let script = dir.join("jobhost");
    std::fs::write(
        &script,
        format!(
            "#!/bin/sh\necho \"$@\" >> '{}'\nexec '{}' \"$@\"\n",
            log.display(),
            env!("CARGO_BIN_EXE_jobhost")
        ),
    )
    .unwrap();
    std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755)).unwrap();
    (script, log)
}

#[test]
fn the_agent_compiles_in_a_child_and_loads_what_it_wrote() {
    let tools = tempfile::tempdir().unwrap();
    let cache = tempfile::tempdir().unwrap();
    let (jobhost, log) = recording_jobhost(tools.path());
    let config = EngineConfig {
        compile_in: CompileIn::ChildProcess(jobhost),
        ..cached_in(cache.path())
    };
    let wasm = echo();
    let digest = hex::encode(Sha256::digest(&wasm));
    let rt = Runtime::new(&config).unwrap();
    let plugin = CompiledPlugin::from_unverified_bytes(&rt, "echo", &wasm).unwrap();
    assert_eq!(plugin.cache_status(), CacheStatus::Miss);
    assert_eq!(run_in(&rt, &plugin).status, TerminalStatus::Succeeded);
    let calls = std::fs::read_to_string(&log).unwrap();
    assert_eq!(calls.lines().count(), 1, "{calls}");
    assert!(
        calls.starts_with("compile-entry ") && calls.contains(&format!("--digest {digest}")),
        "{calls}"
    );

    // Next start: a hit, and no child at all.
    let rt = Runtime::new(&config).unwrap();
    let plugin = CompiledPlugin::from_unverified_bytes(&rt, "echo", &wasm).unwrap();
    assert_eq!(plugin.cache_status(), CacheStatus::Hit);
    assert_eq!(std::fs::read_to_string(&log).unwrap().lines().count(), 1);
}

#[test]
fn a_component_the_child_rejects_is_invalid_with_the_compilers_reason() {
    let cache = tempfile::tempdir().unwrap();
    let rt = Runtime::new(&EngineConfig {
        compile_in: CompileIn::ChildProcess(env!("CARGO_BIN_EXE_jobhost").into()),
        ..cached_in(cache.path())
    })
    .unwrap();
    let mut wasm = echo();
    wasm.truncate(wasm.len() / 2);
    let err = CompiledPlugin::from_unverified_bytes(&rt, "half", &wasm)
        .err()
        .unwrap();
    match &err {
        LoadError::Invalid { name, reason } => {
            assert_eq!(name, "half");
            assert!(!reason.is_empty() && !reason.contains("exit code"), "{err}");
        }
        other => panic!("expected Invalid, got {other}"),
    }
}

/// The kernel's out-of-memory killer is out of a test's reach; a program
/// that SIGKILLs itself stands in for the child it kills.
#[test]
fn a_child_killed_while_compiling_refuses_the_plugin_and_the_agent_lives_on() {
    use std::os::unix::fs::PermissionsExt;
    let tools = tempfile::tempdir().unwrap();
    let cache = tempfile::tempdir().unwrap();
    let killed = tools.path().join("jobhost");
    std::fs::write(&killed, "#!/bin/sh\nkill -9 $$\n").unwrap();
    std::fs::set_permissions(&killed, std::fs::Permissions::from_mode(0o755)).unwrap();
    let rt = Runtime::new(&EngineConfig {
        compile_in: CompileIn::ChildProcess(killed),
        ..cached_in(cache.path())
    })
    .unwrap();
    let wasm = echo();
    let err = CompiledPlugin::from_unverified_bytes(&rt, "echo", &wasm)
        .err()
        .unwrap();
    assert!(
        matches!(&err, LoadError::Compile { reason, .. } if reason.contains("signal 9")),
        "{err}"
    );
    assert!(err.to_string().contains("out-of-memory"), "{err}");
}

#[test]
fn without_a_usable_child_the_plugin_is_compiled_in_process() {
    let cache = tempfile::tempdir().unwrap();
    let rt = Runtime::new(&EngineConfig {
        compile_in: CompileIn::ChildProcess("/nonexistent/jobhost".into()),
        ..cached_in(cache.path())
    })
    .unwrap();
    let wasm = echo();
    let plugin = CompiledPlugin::from_unverified_bytes(&rt, "echo", &wasm).unwrap();
    assert_eq!(plugin.cache_status(), CacheStatus::Miss);
    assert_eq!(run_in(&rt, &plugin).status, TerminalStatus::Succeeded);
    entry_in(cache.path());
}

#[test]
fn compile_entry_refuses_other_bytes_and_another_engine() {
    use std::io::Write;
    use std::process::Stdio;
    let cache = tempfile::tempdir().unwrap();
    let wasm = echo();
    let digest = hex::encode(Sha256::digest(&wasm));
    let compile = |digest: &str, engine_hash: &str| {
        let mut child = crate::support::jobhost_command()
            .args(["compile-entry", "--cache-dir"])
            .arg(cache.path())
            .args(["--digest", digest, "--engine-hash", engine_hash])
            .args([
                "--allocator",
                "on-demand",
                "--max-memory-bytes",
                "268435456",
            ])
            .args([
                "--max-concurrent-instances",
                "8",
                "--max-stack-bytes",
                "524288",
            ])
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        child.stdin.take().unwrap().write_all(&wasm).unwrap();
        child.wait_with_output().unwrap()
    };
    let out = compile(&"0".repeat(64), "0123456789abcdef");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains(&format!("sha256 {digest}")), "{stderr}");
    let out = compile(&digest, "0123456789abcdef");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(3), "{stderr}");
    assert!(
        stderr.contains("is not the agent's (0123456789abcdef)"),
        "{stderr}"
    );
    assert!(
        !std::fs::read_dir(cache.path()).unwrap().any(|e| e
            .unwrap()
            .path()
            .extension()
            .is_some_and(|x| x == "cwasm")),
        "nothing written"
    );
}
