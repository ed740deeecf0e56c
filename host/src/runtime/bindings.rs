//! Host bindings for the `jobhost:plugin` world (the repository's `wit/`).
//!
//! Imports are synchronous: each execution runs on its own blocking thread,
//! and a host call that waits (a download, a command) checks cancellation
//! itself. Only the functions that can fail for a host-side reason are
//! `trappable`; everything a plugin can cause is a WIT `result`.

wasmtime::component::bindgen!({
    path: "../wit",
    world: "operation-plugin",
});

pub use self::jobhost::plugin::{
    certificates, command, device, diagnostics, download, files, host, types, upload,
};
