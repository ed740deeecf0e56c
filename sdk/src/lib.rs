//! Write jobhost operation plugins in Rust.
//!
//! A plugin implements [`Operation`] and calls [`export!`] once:
//!
//! ```ignore
//! use jobhost_sdk::{Failure, Job, Operation, Outcome};
//! use serde::Deserialize;
//!
//! #[derive(Deserialize)]
//! struct Doc { message: String }
//!
//! struct Hello;
//!
//! impl Operation for Hello {
//!     fn run(job: Job) -> Result<Outcome, Failure> {
//!         let doc: Doc = job.document()?; // invalid document → REJECTED
//!         jobhost_sdk::log::info(&format!("saying {}", doc.message));
//!         Ok(Outcome::new().detail("said", &doc.message))
//!     }
//! }
//!
//! jobhost_sdk::export!(Hello);
//! ```
//!
//! Build it as a `cdylib` for `wasm32-wasip2` (see `sdk/README.md`); the
//! result is a WebAssembly component that `jobhost run` and the agent load.
//!
//! # Layout
//!
//! - [`Job`]: the execution being run, with typed access to its document and
//!   checkpoint.
//! - [`Outcome`] and [`Failure`]: what `run` returns; the failure says whether
//!   a retry could help (FAILED) or not (REJECTED).
//! - [`host`]: progress, checkpoints and cancellation; [`log`]: logging;
//!   [`download`]: streaming downloads and [`command`]: allow-listed
//!   programs (granted capabilities).
//! - [`diagnostics`]: a snapshot of the agent and [`upload`]: sending a
//!   file by HTTP PUT (granted capabilities).
//! - [`files`]: file modes (executables), which WASI cannot set;
//!   [`device`]: asking for a reboot; [`certificates`]: rotating the
//!   device's MQTT certificate (the key stays with the host).
//! - [`bindings`]: the raw wit-bindgen output, for what the wrappers lack.
#![deny(missing_docs)]

pub mod bindings;
pub mod certificates;
pub mod command;
pub mod device;
pub mod diagnostics;
pub mod download;
mod export;
pub mod files;
pub mod host;
mod job;
pub mod log;
mod outcome;
pub mod upload;

pub use bindings::jobhost::plugin::types::HostError;
pub use job::Job;
pub use outcome::{Failure, Outcome};

/// An operation a plugin performs: one call per attempt at a job execution.
pub trait Operation {
    /// Runs one attempt. Return `Ok` for SUCCEEDED, `Err(Failure::retryable)`
    /// for FAILED, `Err(Failure::permanent)` for REJECTED. A panic becomes
    /// FAILED with the panic message logged at error level.
    fn run(job: Job) -> Result<Outcome, Failure>;
}

/// Exports a type implementing [`Operation`] as the plugin's entry point.
///
/// Call it exactly once, at the crate root of a `cdylib` crate.
#[macro_export]
macro_rules! export {
    ($ty:ty) => {
        #[doc(hidden)]
        pub struct __JobhostPluginExport;

        impl $crate::bindings::exports::jobhost::plugin::operation::Guest
            for __JobhostPluginExport
        {
            fn run(
                job: $crate::bindings::jobhost::plugin::types::Job,
            ) -> ::core::result::Result<
                $crate::bindings::jobhost::plugin::types::Outcome,
                $crate::bindings::jobhost::plugin::types::Failure,
            > {
                $crate::__private::dispatch::<$ty>(job)
            }
        }

        $crate::bindings::__export_operation_plugin!(__JobhostPluginExport);
    };
}

#[doc(hidden)]
pub mod __private {
    pub use crate::export::dispatch;
}
