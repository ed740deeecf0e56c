//! Where a cache miss is compiled: in this process, or in a child
//! `jobhost compile-entry` that exits once the entry is written.
//!
//! Cranelift's working memory for a Python or JavaScript component is
//! hundreds of MiB, and the allocator keeps most of it once the compile
//! ends (BENCHMARKS.md, "Footprint": an agent that compiled the eleven
//! first-party plugins itself stayed at ~470 MiB). An agent lives for
//! months on a device with little memory; it should not carry a one-off
//! peak for the rest of its life. So the agent compiles in a child: the
//! child reads the (already verified) component on stdin, checks it against
//! the sha256 it was given, builds an engine from the agent's own settings
//! and refuses to go on if its compatibility hash differs (another binary
//! was installed meanwhile), compiles, and writes the cache entry with the
//! host's key. The agent then loads that entry like any other: HMAC checked,
//! mapped from the file. An out-of-memory kill takes the child, not the
//! agent, and the plugin is refused with that reason.
//!
//! Library users and one-off commands (`jobhost run`) compile in their own
//! process: its memory leaves when it exits anyway, and the child must be
//! the `jobhost` binary, which a test binary is not.

use super::cache::{CacheStatus, CompiledCache, Entry};
use super::child::{
    ChildAllocator, ChildEngine, CompileEntryArgs, EXIT_INVALID, EXIT_OTHER_ENGINE,
};
use super::settings::{AllocatorKind, CompileIn, EngineConfig};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitStatus, Stdio};
use wasmtime::component::Component;
use wasmtime::Engine;

/// Returns the component for `wasm` (whose sha256 is `digest`), from the
/// cache when a verified entry exists, else compiled (by `compiler`) and
/// stored.
pub(crate) fn load_or_compile(
    cache: &CompiledCache,
    engine: &Engine,
    compiler: &Compiler,
    wasm: &[u8],
    digest: &str,
) -> Result<(Component, CacheStatus), CompileFailure> {
    let status = match cache.load(engine, digest) {
        Entry::Verified(component) => return Ok((component, CacheStatus::Hit)),
        Entry::Absent => CacheStatus::Miss,
        Entry::Unusable(why) => {
            tracing::warn!(target: "runtime", "cache entry {}: {why}; recompiling", cache.entry_path(digest).display());
            CacheStatus::Recompiled
        }
    };
    if let Compiler::Child(child) = compiler {
        match child.compile(cache, wasm, digest) {
            Ok(()) => {
                return match cache.load(engine, digest) {
                    Entry::Verified(component) => Ok((component, status)),
                    Entry::Absent => Err(CompileFailure::Aborted(
                        "the compiler process wrote no cache entry".into(),
                    )),
                    Entry::Unusable(why) => Err(CompileFailure::Aborted(format!(
                        "the compiler process wrote an unusable cache entry: {why}"
                    ))),
                };
            }
            Err(ChildOutcome::Failed(failure)) => return Err(failure),
            Err(ChildOutcome::Unavailable(why)) => {
                tracing::warn!(target: "runtime", "cannot compile {digest} in a child process ({why}); compiling in the agent");
            }
        }
    }
    let code = engine
        .precompile_component(wasm)
        .map_err(|e| CompileFailure::Invalid(format!("{e:#}")))?;
    if let Err(e) = cache.store(digest, &code) {
        // A read-only or full disk costs compile time, not correctness.
        tracing::warn!(target: "runtime", "cannot write cache entry {}: {e}", cache.entry_path(digest).display());
    } else if let Entry::Verified(component) = cache.load(engine, digest) {
        return Ok((component, status));
    }
    // SAFETY: `code` is what this engine's `precompile_component` just
    // returned, in this process.
    let component = unsafe { Component::deserialize(engine, &code) }
        .map_err(|e| CompileFailure::Aborted(format!("{e:#}")))?;
    Ok((component, status))
}

/// How cache misses are compiled, as the runtime resolved it.
#[derive(Debug)]
pub(crate) enum Compiler {
    InProcess,
    Child(ChildCompiler),
}

impl Compiler {
    pub(crate) fn new(config: &EngineConfig, allocator: AllocatorKind, epochs: bool) -> Compiler {
        match (&config.compile_in, &config.cache_dir) {
            (CompileIn::ChildProcess(program), Some(_)) => Compiler::Child(ChildCompiler {
                program: program.clone(),
                engine: ChildEngine {
                    allocator: match allocator {
                        AllocatorKind::Pooling => ChildAllocator::Pooling,
                        AllocatorKind::OnDemand => ChildAllocator::OnDemand,
                    },
                    max_memory_bytes: config.max_memory_bytes,
                    max_concurrent_instances: config.max_concurrent_instances,
                    max_stack_bytes: config.max_stack_bytes,
                    no_epochs: !epochs,
                },
            }),
            _ => Compiler::InProcess,
        }
    }
}

/// The agent's side of `compile-entry`.
#[derive(Debug)]
pub(crate) struct ChildCompiler {
    program: PathBuf,
    engine: ChildEngine,
}

/// Why the child wrote no entry.
pub(crate) enum ChildOutcome {
    /// The plugin must be refused for this reason.
    Failed(CompileFailure),
    /// No child could do the work (the executable is gone or is another
    /// version): the agent compiles it itself.
    Unavailable(String),
}

/// Why a plugin could not be compiled.
#[derive(Debug)]
pub(crate) enum CompileFailure {
    /// wasmtime rejected the component: the plugin's fault.
    Invalid(String),
    /// The compile did not finish (killed, out of memory, disk): the
    /// device's state, not the plugin's.
    Aborted(String),
}

impl ChildCompiler {
    /// Runs `compile-entry` for `wasm` and waits for it.
    pub(crate) fn compile(
        &self,
        cache: &CompiledCache,
        wasm: &[u8],
        digest: &str,
    ) -> Result<(), ChildOutcome> {
        let args = CompileEntryArgs {
            cache_dir: cache.dir().to_path_buf(),
            digest: digest.to_owned(),
            engine_hash: cache.engine_hash().to_owned(),
            engine: self.engine.clone(),
        };
        let mut child = Command::new(&self.program)
            .arg("compile-entry")
            .args(args.to_args())
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .map_err(|e| {
                ChildOutcome::Unavailable(format!("cannot start {}: {e}", self.program.display()))
            })?;
        let mut stdin = child.stdin.take();
        // Fed from a thread: a child that fails before reading all of its
        // input must still have its stderr drained, or both would wait.
        let output = std::thread::scope(|scope| {
            scope.spawn(move || {
                if let Some(stdin) = stdin.as_mut() {
                    // A child that exits early closes the pipe; its exit
                    // status says why.
                    let _ = stdin.write_all(wasm);
                }
            });
            child.wait_with_output()
        })
        .map_err(|e| ChildOutcome::Unavailable(format!("cannot wait for the compiler: {e}")))?;
        let said = last_line(&output.stderr);
        outcome(output.status, said, &self.program)
    }
}

fn outcome(status: ExitStatus, said: String, program: &Path) -> Result<(), ChildOutcome> {
    use std::os::unix::process::ExitStatusExt;
    match (status.code(), status.signal()) {
        (Some(0), _) => Ok(()),
        (Some(EXIT_INVALID), _) => Err(ChildOutcome::Failed(CompileFailure::Invalid(said))),
        (Some(EXIT_OTHER_ENGINE), _) => Err(ChildOutcome::Unavailable(format!(
            "{} is another build: {said}",
            program.display()
        ))),
        // The exec itself failed after the fork: the dynamic loader could
        // not load it (a library removed mid-upgrade), or the kernel cannot
        // run it (an ARM build under qemu-user, which cannot exec a foreign
        // binary). Nothing was compiled and nothing is wrong with the
        // plugin.
        (Some(EXIT_NOT_STARTED), _) => Err(ChildOutcome::Unavailable(format!(
            "{} could not be started (exit code {EXIT_NOT_STARTED}): {said}",
            program.display()
        ))),
        (_, Some(signal)) => {
            let hint = if signal == 9 {
                " (SIGKILL: on a device short of memory, the kernel's out-of-memory killer)"
            } else {
                ""
            };
            Err(ChildOutcome::Failed(CompileFailure::Aborted(format!(
                "the compiler process was killed by signal {signal}{hint}"
            ))))
        }
        (code, _) => Err(ChildOutcome::Failed(CompileFailure::Aborted(format!(
            "the compiler process failed (exit code {}): {said}",
            code.unwrap_or(-1)
        )))),
    }
}

/// What the dynamic loader, and a fork whose exec failed, exit with; never
/// `compile-entry`'s own code.
const EXIT_NOT_STARTED: i32 = 127;

/// The child's error: what follows its last `error: ` (the command line's
/// prefix; the message may span lines), else its last non-empty line;
/// bounded.
fn last_line(stderr: &[u8]) -> String {
    let text = String::from_utf8_lossy(stderr);
    let message = match text.rfind("error: ") {
        Some(at) => &text[at + "error: ".len()..],
        None => text.lines().rfind(|l| !l.trim().is_empty()).unwrap_or(""),
    };
    let message = message.trim();
    if message.is_empty() {
        return "no message".into();
    }
    message.chars().take(2000).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_killed_child_is_a_refusal_with_the_reason_and_a_stale_binary_is_not() {
        use std::os::unix::process::ExitStatusExt;
        let program = Path::new("/usr/bin/jobhost");
        match outcome(ExitStatus::from_raw(9), String::new(), program) {
            Err(ChildOutcome::Failed(CompileFailure::Aborted(why))) => {
                assert!(
                    why.contains("signal 9") && why.contains("out-of-memory"),
                    "{why}"
                )
            }
            _ => panic!("a SIGKILLed compile must refuse the plugin"),
        }
        match outcome(
            ExitStatus::from_raw(EXIT_INVALID << 8),
            "bad section".into(),
            program,
        ) {
            Err(ChildOutcome::Failed(CompileFailure::Invalid(why))) => {
                assert_eq!(why, "bad section")
            }
            _ => panic!("a rejected component is the plugin's fault"),
        }
        assert!(matches!(
            outcome(
                ExitStatus::from_raw(EXIT_OTHER_ENGINE << 8),
                String::new(),
                program
            ),
            Err(ChildOutcome::Unavailable(_))
        ));
        assert!(matches!(
            outcome(
                ExitStatus::from_raw(EXIT_NOT_STARTED << 8),
                "error while loading shared libraries".into(),
                program
            ),
            Err(ChildOutcome::Unavailable(_))
        ));
        assert!(outcome(ExitStatus::from_raw(0), String::new(), program).is_ok());
    }

    #[test]
    fn the_reported_line_is_the_last_one_without_its_prefix() {
        assert_eq!(
            last_line(b"INFO starting\nerror: cannot write the cache entry\n\n"),
            "cannot write the cache entry"
        );
        assert_eq!(
            last_line(b"error: failed to parse\n  at offset 8\n"),
            "failed to parse\n  at offset 8"
        );
        assert_eq!(last_line(b"killed\n"), "killed");
        assert_eq!(last_line(b""), "no message");
    }
}
