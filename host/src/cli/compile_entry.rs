//! `jobhost compile-entry`: the agent's compiler process (not for people).
//!
//! The agent runs it on a cache miss so that Cranelift's memory leaves with
//! the child (`crate::runtime`'s `compile` module says why and how).

use crate::runtime::CompileEntryArgs;
use clap::Args;
use std::process::ExitCode;

/// Hidden from `--help`: the agent runs it, with its own engine settings.
#[derive(Debug, Args)]
pub struct CompileEntryCommand {
    #[command(flatten)]
    args: CompileEntryArgs,
}

pub fn run(command: CompileEntryCommand) -> ExitCode {
    match crate::runtime::compile_entry(&command.args, std::io::stdin().lock()) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::from(u8::try_from(e.exit_code()).unwrap_or(1))
        }
    }
}
