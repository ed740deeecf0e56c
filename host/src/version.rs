//! What this build is: its version, and how it runs plugins — native code
//! from Cranelift, or bytecode for wasmtime's Pulley interpreter. Fixed
//! when the agent is built, never chosen by configuration, so that a
//! device's compiled cache, its figures and its trust argument (a plugin
//! becomes native code only through this build's own compiler) are those
//! of one known engine (docs/cross.md).
//!
//! Cranelift has native backends for x86_64, aarch64, riscv64 and s390x;
//! on every other target (32-bit ARM above all) wasmtime compiles plugins
//! to Pulley bytecode and interprets it. The `pulley` feature of this crate
//! makes a build on a native target interpret too, which is how the cost of
//! the interpreter is measured on one machine (BENCHMARKS.md, "ARM").

use std::sync::OnceLock;

/// How plugins run; see the module doc.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    /// Cranelift compiles each plugin to this machine's code.
    Cranelift,
    /// Cranelift compiles each plugin to Pulley bytecode, which wasmtime's
    /// interpreter runs: portable, and several times slower.
    Pulley,
}

/// Whether Cranelift has a backend for this target: the list wasmtime's
/// own build script uses to decide (`has_host_compiler_backend`).
const CRANELIFT_TARGET: bool = cfg!(any(
    target_arch = "x86_64",
    target_arch = "aarch64",
    target_arch = "riscv64",
    target_arch = "s390x"
));

/// This build's backend. `runtime::backend`'s unit test checks it against
/// the engine wasmtime actually builds.
pub const BACKEND: Backend = if cfg!(feature = "pulley") || !CRANELIFT_TARGET {
    Backend::Pulley
} else {
    Backend::Cranelift
};

/// The wasmtime release the agent is built with (pinned exactly in the
/// workspace's Cargo.toml; a unit test checks this against Cargo.lock).
pub const WASMTIME_VERSION: &str = "48.0.8";

impl Backend {
    /// A short name that is also a valid semver build-metadata identifier:
    /// `cranelift`, or `pulley32` / `pulley64` (the interpreter's pointer
    /// width, which is the host's).
    pub const fn tag(self) -> &'static str {
        match self {
            Backend::Cranelift => "cranelift",
            Backend::Pulley if cfg!(target_pointer_width = "64") => "pulley64",
            Backend::Pulley => "pulley32",
        }
    }

    /// One line for people: `wasmtime 48.0.8, Cranelift (native aarch64
    /// code)` or `wasmtime 48.0.8, Pulley interpreter (pulley32)`.
    pub fn describe(self) -> String {
        match self {
            Backend::Cranelift => format!(
                "wasmtime {WASMTIME_VERSION}, Cranelift (native {} code)",
                std::env::consts::ARCH
            ),
            Backend::Pulley => format!(
                "wasmtime {WASMTIME_VERSION}, Pulley interpreter ({})",
                self.tag()
            ),
        }
    }
}

/// The agent's version, as `jobhost -V` prints it and the diagnostics
/// snapshot carries it: the package version with this build's backend as
/// semver build metadata, `0.1.0+cranelift` or `0.1.0+pulley32`. Build
/// metadata does not change a version's precedence, so a reader comparing
/// versions is not misled.
pub fn agent_version() -> &'static str {
    static VERSION: OnceLock<String> = OnceLock::new();
    VERSION.get_or_init(|| format!("{}+{}", env!("CARGO_PKG_VERSION"), BACKEND.tag()))
}

/// `jobhost --version`: [`agent_version`], then how plugins run on this
/// build in words, which an operator of a 32-bit ARM board needs to know.
pub fn long_version() -> &'static str {
    static LONG: OnceLock<String> = OnceLock::new();
    LONG.get_or_init(|| format!("{}\nplugins run on {}", agent_version(), BACKEND.describe()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_version_is_the_release_with_the_backend_as_build_metadata() {
        let version = semver::Version::parse(agent_version()).expect("valid semver");
        assert_eq!(
            version.to_string().split('+').next(),
            Some(env!("CARGO_PKG_VERSION"))
        );
        assert_eq!(version.build.as_str(), BACKEND.tag());
        for backend in [Backend::Cranelift, Backend::Pulley] {
            let tagged = semver::Version::parse(&format!("0.1.0+{}", backend.tag()))
                .expect("every tag is valid build metadata");
            assert_eq!(tagged.build.as_str(), backend.tag());
        }
    }

    #[test]
    fn the_wasmtime_version_reported_is_the_one_in_the_lock_file() {
        let lock = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../Cargo.lock"))
            .expect("Cargo.lock");
        let expected = format!("name = \"wasmtime\"\nversion = \"{WASMTIME_VERSION}\"\n");
        assert!(
            lock.contains(&expected),
            "Cargo.lock has another wasmtime than {WASMTIME_VERSION}: update WASMTIME_VERSION"
        );
    }
}
