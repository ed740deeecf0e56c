//! Name ownership: the key that signed each plugin name this device has
//! loaded or installed. `install-plugin` refuses a copy of a name signed by
//! another key (security review M7), unless the operator allows that key
//! for the name (`[plugins.<name>] signer`) or lets the name move
//! (`[trust] allow_signer_change`). Otherwise any trusted key, however
//! narrowly `[signers.<id>]` scopes it, could replace the operator's
//! `application` plugin by signing one of that name.
//!
//! Kept in the state dir beside the anti-rollback floors, and like them
//! not forgotten when a plugin is removed: remove-then-install under
//! another key is the same takeover.

use super::floors::{read_table, write_table};
use crate::trust::KeyId;
use std::collections::BTreeMap;
use std::io;
use std::path::{Path, PathBuf};

const FILE_NAME: &str = "plugin-signers.json";

/// The persisted signer per plugin name.
#[derive(Debug)]
pub struct Owners {
    path: PathBuf,
    owners: BTreeMap<String, KeyId>,
}

impl Owners {
    /// Reads the record in `state_dir`; a damaged file is an error (see
    /// `super::floors::read_table`).
    pub fn open(state_dir: &Path) -> io::Result<Self> {
        let path = state_dir.join(FILE_NAME);
        let owners = read_table(&path, "which key signed each plugin name")?;
        Ok(Self { path, owners })
    }

    /// The key recorded for `name`, if it was ever loaded or installed.
    pub fn get(&self, name: &str) -> Option<&KeyId> {
        self.owners.get(name)
    }

    /// Records that `key` signed the `name` now in use, durably.
    pub fn record(&mut self, name: &str, key: &KeyId) -> io::Result<()> {
        if self.owners.get(name) == Some(key) {
            return Ok(());
        }
        let mut next = self.owners.clone();
        next.insert(name.to_owned(), *key);
        write_table(&self.path, &next)?;
        self.owners = next;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn owners_survive_reopening_and_a_corrupt_file_is_an_error() {
        let dir = tempfile::tempdir().unwrap();
        let a: KeyId = "0123456789abcdef01234567".parse().unwrap();
        let b: KeyId = "76543210fedcba9876543210".parse().unwrap();
        let mut o = Owners::open(dir.path()).unwrap();
        assert_eq!(o.get("echo"), None);
        o.record("echo", &a).unwrap();
        o.record("echo", &b).unwrap();
        assert_eq!(Owners::open(dir.path()).unwrap().get("echo"), Some(&b));
        std::fs::write(dir.path().join(FILE_NAME), b"{oops").unwrap();
        let err = Owners::open(dir.path()).unwrap_err().to_string();
        assert!(err.contains("which key signed"), "{err}");
    }
}
