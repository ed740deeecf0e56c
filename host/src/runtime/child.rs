//! `jobhost compile-entry`, the child's side of compiling outside the agent
//! (`compile` has the agent's side, and why): read the component, check it
//! is the one named, rebuild the agent's engine, compile, write the entry.

use super::cache::CompiledCache;
use super::limits::MAX_PLUGIN_BYTES;
use super::settings::{build_engine, AllocatorChoice, CompileIn, EngineConfig};
use sha2::{Digest, Sha256};
use std::io::Read;
use std::path::PathBuf;

/// Exit code of `compile-entry` for a component wasmtime rejects.
pub const EXIT_INVALID: i32 = 2;
/// Exit code of `compile-entry` when its engine differs from the agent's.
pub const EXIT_OTHER_ENGINE: i32 = 3;

/// What a `compile-entry` child is to write, and the agent's engine it
/// rebuilds to compile it. The agent renders it as arguments
/// ([`CompileEntryArgs::to_args`]); the `jobhost` command line parses them
/// back with the same definition.
#[derive(Debug, Clone, PartialEq, Eq, clap::Args)]
pub struct CompileEntryArgs {
    /// The compiled cache to write the entry into (its key is used).
    #[arg(long, value_name = "DIR")]
    pub cache_dir: PathBuf,
    /// sha256 of the component read on stdin, lowercase hex.
    #[arg(long, value_name = "HEX")]
    pub digest: String,
    /// The agent engine's compatibility hash (part of the entry's name).
    #[arg(long, value_name = "HASH")]
    pub engine_hash: String,
    /// The agent engine's settings.
    #[command(flatten)]
    pub engine: ChildEngine,
}

/// The settings of the agent's engine a child needs to build the same one:
/// the same for every compile of one runtime.
#[derive(Debug, Clone, PartialEq, Eq, clap::Args)]
pub struct ChildEngine {
    /// The instance allocator the agent's engine uses.
    #[arg(long, value_enum)]
    pub allocator: ChildAllocator,
    /// The agent engine's largest linear memory.
    #[arg(long, value_name = "BYTES")]
    pub max_memory_bytes: usize,
    /// The agent engine's pool slots.
    #[arg(long, value_name = "N")]
    pub max_concurrent_instances: u32,
    /// The agent engine's WebAssembly stack size.
    #[arg(long, value_name = "BYTES")]
    pub max_stack_bytes: usize,
    /// The agent's engine runs without epoch interruption (benchmarks only).
    #[arg(long)]
    pub no_epochs: bool,
}

/// [`AllocatorKind`](super::AllocatorKind) as a command-line value.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum ChildAllocator {
    /// The pooling allocator.
    Pooling,
    /// mmap per instance.
    OnDemand,
}

impl CompileEntryArgs {
    /// The arguments that follow `compile-entry` on the child's command line.
    pub fn to_args(&self) -> Vec<std::ffi::OsString> {
        let mut args: Vec<std::ffi::OsString> = vec![
            "--cache-dir".into(),
            self.cache_dir.clone().into(),
            "--digest".into(),
            self.digest.clone().into(),
            "--engine-hash".into(),
            self.engine_hash.clone().into(),
            "--allocator".into(),
            match self.engine.allocator {
                ChildAllocator::Pooling => "pooling",
                ChildAllocator::OnDemand => "on-demand",
            }
            .into(),
            "--max-memory-bytes".into(),
            self.engine.max_memory_bytes.to_string().into(),
            "--max-concurrent-instances".into(),
            self.engine.max_concurrent_instances.to_string().into(),
            "--max-stack-bytes".into(),
            self.engine.max_stack_bytes.to_string().into(),
        ];
        if self.engine.no_epochs {
            args.push("--no-epochs".into());
        }
        args
    }
}

/// Why `compile-entry` wrote no entry. Its exit code tells the agent which.
#[derive(Debug, thiserror::Error)]
pub enum CompileEntryError {
    /// The component on stdin is not the one named by `--digest`.
    #[error("the component read on stdin has sha256 {actual}, not {expected}")]
    WrongDigest {
        /// `--digest`.
        expected: String,
        /// What stdin hashed to.
        actual: String,
    },
    /// This binary's engine is not the agent's (another version installed).
    #[error("this jobhost's engine ({actual}) is not the agent's ({expected})")]
    OtherEngine {
        /// `--engine-hash`.
        expected: String,
        /// This engine's.
        actual: String,
    },
    /// wasmtime rejected the component.
    #[error("{0}")]
    Invalid(String),
    /// Reading stdin, building the engine, or writing the entry failed.
    #[error("{0}")]
    Failed(String),
}

impl CompileEntryError {
    /// The process exit code the agent reads this error back from.
    pub fn exit_code(&self) -> i32 {
        match self {
            Self::Invalid(_) => EXIT_INVALID,
            Self::OtherEngine { .. } => EXIT_OTHER_ENGINE,
            Self::WrongDigest { .. } | Self::Failed(_) => 1,
        }
    }
}

/// The child's side: reads the component from `input`, compiles it with
/// the engine `args` describe, and stores the entry.
pub fn compile_entry(args: &CompileEntryArgs, input: impl Read) -> Result<(), CompileEntryError> {
    let mut wasm = Vec::new();
    input
        .take(MAX_PLUGIN_BYTES + 1)
        .read_to_end(&mut wasm)
        .map_err(|e| CompileEntryError::Failed(format!("cannot read the component: {e}")))?;
    let actual = hex::encode(Sha256::digest(&wasm));
    if actual != args.digest {
        return Err(CompileEntryError::WrongDigest {
            expected: args.digest.clone(),
            actual,
        });
    }
    let settings = &args.engine;
    let config = EngineConfig {
        allocator: match settings.allocator {
            ChildAllocator::Pooling => AllocatorChoice::Pooling,
            ChildAllocator::OnDemand => AllocatorChoice::OnDemand,
        },
        max_memory_bytes: settings.max_memory_bytes,
        max_concurrent_instances: settings.max_concurrent_instances,
        max_stack_bytes: settings.max_stack_bytes,
        cache_dir: Some(args.cache_dir.clone()),
        compile_in: CompileIn::ThisProcess,
    };
    let (engine, _) =
        build_engine(&config, !settings.no_epochs).map_err(CompileEntryError::Failed)?;
    let cache = CompiledCache::open(&args.cache_dir, &engine)
        .map_err(|e| CompileEntryError::Failed(e.to_string()))?;
    if cache.engine_hash() != args.engine_hash {
        return Err(CompileEntryError::OtherEngine {
            expected: args.engine_hash.clone(),
            actual: cache.engine_hash().to_owned(),
        });
    }
    let code = engine
        .precompile_component(&wasm)
        .map_err(|e| CompileEntryError::Invalid(format!("{e:#}")))?;
    cache.store(&args.digest, &code).map_err(|e| {
        CompileEntryError::Failed(format!(
            "cannot write the cache entry in {}: {e}",
            args.cache_dir.display()
        ))
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[derive(Parser)]
    struct Wrapper {
        #[command(flatten)]
        args: CompileEntryArgs,
    }

    #[test]
    fn the_arguments_the_agent_writes_parse_back_to_the_same_request() {
        for (allocator, no_epochs) in [
            (ChildAllocator::Pooling, false),
            (ChildAllocator::OnDemand, true),
        ] {
            let args = CompileEntryArgs {
                cache_dir: PathBuf::from("/var/lib/jobhost/compiled dir"),
                digest: "ab".repeat(32),
                engine_hash: "0123456789abcdef".into(),
                engine: ChildEngine {
                    allocator,
                    max_memory_bytes: 256 << 20,
                    max_concurrent_instances: 8,
                    max_stack_bytes: 512 << 10,
                    no_epochs,
                },
            };
            let mut argv = vec![std::ffi::OsString::from("compile-entry")];
            argv.extend(args.to_args());
            assert_eq!(Wrapper::parse_from(argv).args, args);
        }
    }
}
