//! The engine side of [`crate::version::BACKEND`]: a Pulley build's engine
//! pointed at the interpreter.

use wasmtime::Config;

/// On a target without a Cranelift backend wasmtime selects Pulley itself;
/// the `pulley` feature asks for it on a native one.
pub(super) fn select(config: &mut Config) {
    if cfg!(feature = "pulley") {
        let target = match (
            cfg!(target_pointer_width = "64"),
            cfg!(target_endian = "big"),
        ) {
            (true, false) => "pulley64",
            (true, true) => "pulley64be",
            (false, false) => "pulley32",
            (false, true) => "pulley32be",
        };
        if let Err(e) = config.target(target) {
            // A triple wasmtime itself defines: unreachable unless wasmtime
            // renames it, which the unit test below would catch first.
            tracing::error!(target: "runtime", "cannot select the Pulley target {target}: {e:#}");
        }
    }
}

#[cfg(test)]
mod tests {
    use crate::runtime::{EngineConfig, Runtime};
    use crate::version::{Backend, BACKEND};

    #[test]
    fn the_backend_this_build_reports_is_the_one_its_engine_uses() {
        let runtime = Runtime::new(&EngineConfig::default()).expect("runtime");
        assert_eq!(runtime.engine.is_pulley(), BACKEND == Backend::Pulley);
        assert_eq!(runtime.backend(), BACKEND);
    }
}
