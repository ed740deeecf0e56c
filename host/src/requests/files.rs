//! `dirs`: the directories a plugin wants to open, by the path it opens
//! them by (the `files` capability; `download`, `upload` and `files`
//! calls act inside them).
//!
//! ```toml
//! [capabilities]
//! dirs = [{ path = "/data", access = "rw" }, { path = "/etc/ssl" }]
//! ```

use super::{check_text, RequestError, RequestSpec};
use serde::{Deserialize, Serialize};
use std::collections::BTreeSet;

/// The `dirs` key.
pub struct Spec;

impl RequestSpec for Spec {
    type Request = Vec<DirRequest>;
    const ALWAYS_WRITTEN: bool = true;

    /// Absolute guest paths without `..`, each requested once.
    fn validate(dirs: &Vec<DirRequest>) -> Result<(), RequestError> {
        let mut seen = BTreeSet::new();
        for dir in dirs {
            let bad = |reason| RequestError {
                key: "dirs",
                value: dir.path.clone(),
                reason,
            };
            if !dir.path.starts_with('/') {
                return Err(bad("must be an absolute guest path"));
            }
            check_text("dirs", &dir.path)?;
            if dir.path.split('/').any(|c| c == "..") {
                return Err(bad("must not contain `..`"));
            }
            if !seen.insert(dir.path.trim_end_matches('/')) {
                return Err(bad("is requested twice"));
            }
        }
        Ok(())
    }
}

/// One requested directory.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DirRequest {
    /// The absolute path the plugin opens it by (the guest path).
    pub path: String,
    /// Read-only unless `rw` is asked for.
    #[serde(default)]
    pub access: Access,
}

/// Directory access.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Access {
    /// Read only (the default: least privilege).
    #[default]
    Ro,
    /// Read and write.
    Rw,
}
