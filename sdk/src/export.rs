//! The glue between the generated `Guest` export and [`Operation`].

use crate::bindings::jobhost::plugin::types as wit;
use crate::{log, Job, Operation};
use std::sync::Once;

/// Called by the code `export!` expands to.
pub fn dispatch<T: Operation>(job: wit::Job) -> Result<wit::Outcome, wit::Failure> {
    install_panic_hook();
    T::run(Job::from_wit(job))
        .map(Into::into)
        .map_err(Into::into)
}

/// Plugins are built with `panic = "abort"`, so a panic ends in a trap whose
/// message is only "unreachable". Sending the panic message through the host
/// log first is what lets an operator see *why* the job failed.
fn install_panic_hook() {
    static HOOK: Once = Once::new();
    HOOK.call_once(|| {
        std::panic::set_hook(Box::new(|info| {
            log::error(&format!("plugin panicked: {info}"));
        }));
    });
}
