//! The `jobhost` crate's integration tests, as one test binary (as
//! wasmtime's `crates/wasi/tests/all/main.rs` and ripgrep's
//! `tests/tests.rs` do): each module was a binary of its own, and each
//! binary linked wasmtime and the embedded broker again. Run one group with
//! `cargo test -p jobhost --test all agent::`.
//!
//! `tests/verify_memory.rs` stays a binary of its own: its counting
//! `#[global_allocator]` would count every test running beside it here,
//! and would slow every allocation of this binary.
#![allow(clippy::unwrap_used)] // test code: a panic is the failure report

mod support;

mod agent;
mod cache;
mod cli;
mod command;
mod download;
mod init;
mod plugins;
mod runtime;
mod signing;
