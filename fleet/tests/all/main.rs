//! The `jobhost-fleet` crate's integration tests, as one test binary (as
//! wasmtime's `crates/wasi/tests/all/main.rs` and ripgrep's
//! `tests/tests.rs` do): each module was a binary of its own, and each
//! binary linked wasmtime, rmqtt and the agent again. Run one group with
//! `cargo test -p jobhost-fleet --test all conformance::`.
//!
//! The binary has one tracing subscriber for all its tests,
//! [`support::logs`].
#![allow(clippy::unwrap_used)] // test code: a panic is the failure report

mod support;

mod api;
mod applications;
mod aws_control;
mod aws_sdk;
mod broker;
mod cli;
mod codesign;
mod conformance;
mod console;
mod device_client;
mod diagnostics;
mod documents;
mod download;
mod e2e;
mod events;
mod groups;
mod hostile;
mod install;
mod mtls;
mod operations;
mod packages;
mod polyglot;
mod readiness;
mod reboot;
mod rollouts;
mod rotate;
mod serve;
