//! Host bindings for the `jobhost:plugin` world (the repository's `wit/`).
//!
//! Every import and the `run` export are `async` on the host side. A run is
//! a future the executor races against its deadline and its cancellation
//! (`crate::executor`): whatever a host call waits for (an HTTP body, a
//! file, a WASI sleep, a program), dropping the future ends the wait. A new
//! import is async by this default, so it cannot bring back a call that
//! holds a run past its limits; host code that must make a blocking system
//! call does it on tokio's blocking pool and awaits the result.
//!
//! No import is `trappable`: every host function returns the WIT
//! `result<_, host-error>` its interface declares (or nothing), so
//! everything a plugin can cause, and every host-side failure too (a
//! poisoned lock, a checkpoint the journal could not save), reaches the
//! plugin as an error it can handle, never as a trap. Traps come only from
//! the guest itself and from the host's limits (memory, the epoch
//! deadline, cancellation).

wasmtime::component::bindgen!({
    path: "../wit",
    world: "operation-plugin",
    imports: { default: async },
    exports: { default: async },
});

/// Every interface of the world by its name (`bindings::download`, ...),
/// as a glob so that adding an interface to the WIT adds it here too.
pub use self::jobhost::plugin::*;
