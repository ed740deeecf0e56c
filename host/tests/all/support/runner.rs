//! A program of this build as a [`Command`], behind the emulator when the
//! tests run under one. A cross build's tests run under qemu-user
//! (`scripts/cross --test`), which emulates one foreign program but cannot
//! exec another: the kernel would refuse an ARM binary. There
//! `JOBHOST_TEST_RUNNER` holds the emulator's command line
//! (`qemu-aarch64 -L /usr/aarch64-linux-gnu`), a native program the kernel
//! runs, which then runs the binary. Shared by the integration tests and,
//! through `#[path]`, the library's unit tests (`runtime::test_support`).

use std::ffi::OsStr;
use std::process::Command;

/// `program`, started directly or through `JOBHOST_TEST_RUNNER`.
pub fn command(program: impl AsRef<OsStr>) -> Command {
    let runner = std::env::var("JOBHOST_TEST_RUNNER").unwrap_or_default();
    let mut words = runner.split_whitespace();
    match words.next() {
        None => Command::new(program),
        Some(emulator) => {
            let mut command = Command::new(emulator);
            command.args(words).arg(program);
            command
        }
    }
}
