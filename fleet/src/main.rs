//! The `jobhost-fleet` binary: everything lives in the library; this only
//! maps the result to an exit code.

use std::process::ExitCode;

fn main() -> ExitCode {
    jobhost_fleet::cli::main()
}
