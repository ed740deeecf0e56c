//! The plugin manifest: what a signed plugin is and asks for. The operator
//! writes it in TOML; `jobhost plugin sign` validates it and embeds it as
//! compact JSON in the `jobhost-manifest` custom section, after the
//! signature section, so the signature covers it.
//!
//! ```toml
//! name = "echo"
//! version = "1.0.0"
//! operations = ["echo"]
//! wit = "jobhost:plugin/operation-plugin@0.1.0"
//!
//! [capabilities]
//! download = false
//! reboot = false
//! diagnostics = false
//! upload = false
//! run_command = ["/usr/bin/systemctl"]
//! dirs = [{ path = "/data", access = "rw" }]
//! ```

pub use crate::requests::files::{Access, DirRequest};
use crate::requests::{RequestError, RequestSpec};
use serde::{Deserialize, Serialize};
use std::collections::BTreeSet;

/// The name of the custom section holding the manifest.
pub const MANIFEST_SECTION: &str = "jobhost-manifest";

/// The WIT package and world every plugin targets.
pub const WIT_WORLD: &str = "jobhost:plugin/operation-plugin";

/// The world version this host provides (the repository's `wit/`).
pub const HOST_WIT: &str = "jobhost:plugin/operation-plugin@0.1.0";

/// A real manifest is a few hundred bytes; the limit keeps a hostile file
/// from making the JSON parser allocate much before it is refused.
pub const MAX_MANIFEST_BYTES: usize = 64 << 10;

/// Operations the host implements itself (the trust root); no plugin may
/// claim them.
pub const RESERVED_OPERATIONS: &[&str] = &["install-plugin", "remove-plugin", "shutdown"];

/// Longest plugin or operation name.
const MAX_NAME_CHARS: usize = 64;

/// What a plugin is and what it asks for. Construct with
/// [`Manifest::from_toml`] or [`Manifest::from_json`], which validate.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Manifest {
    /// The plugin's name: `[a-z0-9-]{1,64}`, starting with a letter or
    /// digit. Installing a plugin replaces the one with the same name.
    pub name: String,
    /// Its version (semver); devices refuse downgrades.
    pub version: semver::Version,
    /// The job document `operation`s it handles (at least one).
    pub operations: Vec<String>,
    /// What it asks for; the device grants at most the operator's policy.
    #[serde(default)]
    pub capabilities: Capabilities,
    /// The WIT world it was built against,
    /// `jobhost:plugin/operation-plugin@<version>`.
    pub wit: String,
}

/// Generates [`Capabilities`] from the registry (`crate::requests`): one
/// key per capability, whose value's type and check are the capability's
/// own (`crate::requests::<module>`).
macro_rules! manifest_capabilities {
    ($($module:ident: $Type:ident => $field:ident, $key:ident;)*) => {
        /// Requested capabilities, one key per capability. Everything
        /// defaults to "nothing"; an unknown key is refused.
        #[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
        #[serde(deny_unknown_fields)]
        pub struct Capabilities {
            $(
                #[doc = concat!("The `", stringify!($key), "` request (`requests::",
                    stringify!($module), "`).")]
                #[serde(default)]
                pub $key: <crate::requests::$module::Spec as RequestSpec>::Request,
            )*
        }

        impl Capabilities {
            /// Each request's own check, in the registry's order.
            fn validate(&self) -> Result<(), RequestError> {
                $(<crate::requests::$module::Spec as RequestSpec>::validate(&self.$key)?;)*
                Ok(())
            }
        }

        /// In the registry's order; a key that asks for nothing is left out
        /// unless it is one of the first four (`RequestSpec::ALWAYS_WRITTEN`).
        impl Serialize for Capabilities {
            fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
                use serde::ser::SerializeStruct;
                let written = [$(<crate::requests::$module::Spec as RequestSpec>::written(&self.$key)),*];
                let mut out = serializer.serialize_struct(
                    "Capabilities",
                    written.iter().filter(|w| **w).count(),
                )?;
                let mut written = written.into_iter();
                $(
                    if written.next() == Some(true) {
                        out.serialize_field(stringify!($key), &self.$key)?;
                    } else {
                        out.skip_field(stringify!($key))?;
                    }
                )*
                out.end()
            }
        }
    };
}
crate::requests::for_each_capability!(manifest_capabilities);

impl Manifest {
    /// Parses and validates the operator's TOML.
    pub fn from_toml(text: &str) -> Result<Self, ManifestError> {
        let manifest: Self = toml::from_str(text)?;
        manifest.validate()?;
        Ok(manifest)
    }

    /// Parses and validates the JSON embedded in a plugin.
    pub fn from_json(bytes: &[u8]) -> Result<Self, ManifestError> {
        if bytes.len() > MAX_MANIFEST_BYTES {
            return Err(ManifestError::TooLarge {
                size: bytes.len(),
                max: MAX_MANIFEST_BYTES,
            });
        }
        let manifest: Self = serde_json::from_slice(bytes)?;
        manifest.validate()?;
        Ok(manifest)
    }

    /// The compact JSON embedded in a plugin.
    pub fn to_json(&self) -> Vec<u8> {
        serde_json::to_vec(self).expect("a manifest always serializes")
    }

    /// Checks every field, then the size of the JSON a device will read
    /// (so that no manifest can be signed that every device refuses); the
    /// first problem found is the error.
    pub fn validate(&self) -> Result<(), ManifestError> {
        validate_name(&self.name)?;
        validate_operations(&self.operations)?;
        self.capabilities.validate()?;
        validate_wit(&self.wit)?;
        let size = self.to_json().len();
        if size > MAX_MANIFEST_BYTES {
            return Err(ManifestError::TooLarge {
                size,
                max: MAX_MANIFEST_BYTES,
            });
        }
        Ok(())
    }

    /// The version of the WIT world, once validated.
    pub fn wit_version(&self) -> Option<semver::Version> {
        self.wit
            .strip_prefix(WIT_WORLD)
            .and_then(|v| v.strip_prefix('@'))
            .and_then(|v| semver::Version::parse(v).ok())
    }
}

fn validate_name(name: &str) -> Result<(), ManifestError> {
    let ok = (1..=MAX_NAME_CHARS).contains(&name.len())
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        && !name.starts_with('-');
    if ok {
        Ok(())
    } else {
        Err(ManifestError::BadName {
            name: name.to_owned(),
        })
    }
}

fn validate_operations(operations: &[String]) -> Result<(), ManifestError> {
    if operations.is_empty() {
        return Err(ManifestError::NoOperations);
    }
    let mut seen = BTreeSet::new();
    for op in operations {
        let bad = |reason| ManifestError::BadOperation {
            operation: op.clone(),
            reason,
        };
        if !(1..=MAX_NAME_CHARS).contains(&op.len()) {
            return Err(bad("must be 1-64 characters"));
        }
        // The document's `operation` is matched exactly; keep names to
        // what is safe in logs, file names and statusDetails values.
        if !op
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'))
        {
            return Err(bad("may only contain A-Z, a-z, 0-9, `-`, `_` and `.`"));
        }
        if RESERVED_OPERATIONS.contains(&op.as_str()) {
            return Err(bad("is reserved for the host's built-in operation"));
        }
        if !seen.insert(op.as_str()) {
            return Err(bad("is listed twice"));
        }
    }
    Ok(())
}

/// `jobhost:plugin/operation-plugin@0.1.x`, at most this host's version.
fn validate_wit(wit: &str) -> Result<(), ManifestError> {
    let bad = |reason: String| ManifestError::BadWit {
        wit: wit.to_owned(),
        reason,
    };
    let Some((world, version)) = wit.split_once('@') else {
        return Err(bad(format!("expected {WIT_WORLD}@<version>")));
    };
    if world != WIT_WORLD {
        return Err(bad(format!("the world must be {WIT_WORLD}, not {world:?}")));
    }
    let version = semver::Version::parse(version)
        .map_err(|e| bad(format!("version {version:?} is not semver: {e}")))?;
    let host = host_wit_version();
    let incompatible = |reason| ManifestError::IncompatibleWit {
        wit: wit.to_owned(),
        host: HOST_WIT,
        reason,
    };
    if version.major != host.major || version.minor != host.minor {
        // 0.x: a minor bump is a breaking change (wit/operation.wit,
        // "Versioning").
        return Err(incompatible(
            "a different major.minor version is a different contract",
        ));
    }
    if !version.pre.is_empty() {
        return Err(incompatible("pre-release worlds are not served"));
    }
    if version > host {
        // Within 0.1.x the host only adds: a plugin built against a newer
        // patch may import what this host lacks.
        return Err(incompatible(
            "built against a newer world than this host provides; update jobhost",
        ));
    }
    Ok(())
}

fn host_wit_version() -> semver::Version {
    let (_, v) = HOST_WIT.split_once('@').expect("HOST_WIT has a version");
    semver::Version::parse(v).expect("HOST_WIT's version is semver")
}

/// Why a manifest (TOML as written by the operator, or the JSON embedded in
/// a plugin) was refused.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ManifestError {
    /// The TOML does not parse or has unknown / missing fields.
    #[error("{0}")]
    Toml(#[from] toml::de::Error),
    /// The embedded JSON does not parse or has unknown / missing fields.
    #[error("{0}")]
    Json(#[from] serde_json::Error),
    /// More than one manifest section.
    #[error("{count} `jobhost-manifest` sections; expected exactly one")]
    Duplicate {
        /// How many.
        count: usize,
    },
    /// The embedded manifest is larger than any real one.
    #[error("manifest section is {size} bytes, over the {max}-byte limit")]
    TooLarge {
        /// Its size.
        size: usize,
        /// The limit.
        max: usize,
    },
    /// `name` is not `[a-z0-9-]{1,64}`.
    #[error("name {name:?} must be 1-64 characters of a-z, 0-9 and `-`, starting with a letter or digit")]
    BadName {
        /// The name.
        name: String,
    },
    /// `operations` is empty.
    #[error("operations is empty: a plugin must handle at least one operation")]
    NoOperations,
    /// An operation name jobhost cannot route.
    #[error("operation {operation:?}: {reason}")]
    BadOperation {
        /// The operation.
        operation: String,
        /// What is wrong.
        reason: &'static str,
    },
    /// A capability request that is not acceptable, e.g. a relative
    /// directory.
    #[error(transparent)]
    BadRequest(#[from] RequestError),
    /// `wit` is not `jobhost:plugin/operation-plugin@<semver>`.
    #[error("wit {wit:?}: {reason}")]
    BadWit {
        /// The value.
        wit: String,
        /// What is wrong.
        reason: String,
    },
    /// The plugin targets a WIT world this host does not provide.
    #[error("wit {wit:?} is not compatible with this host's {host}: {reason}")]
    IncompatibleWit {
        /// The plugin's world.
        wit: String,
        /// The world this host provides.
        host: &'static str,
        /// Why.
        reason: &'static str,
    },
}
