//! Anti-rollback: the lowest version of each plugin this device still
//! accepts, which is the highest it has ever loaded or installed. A signed
//! but older (perhaps vulnerable) plugin is refused even though its
//! signature is valid; only the operator's local `[trust] allow_downgrade`
//! lifts that. Kept in the state dir, so it survives restarts, and it is
//! NOT lowered when a plugin is removed: remove-then-install-old is still a
//! downgrade.

use crate::durable::write_atomically;
use semver::Version;
use std::collections::BTreeMap;
use std::io;
use std::path::{Path, PathBuf};

const FILE_NAME: &str = "plugin-floors.json";

/// The persisted minimum version per plugin name.
#[derive(Debug)]
pub struct Floors {
    path: PathBuf,
    floors: BTreeMap<String, Version>,
}

impl Floors {
    /// Reads the floors in `state_dir` (created if missing); see
    /// `read_table` for a damaged file.
    pub fn open(state_dir: &Path) -> io::Result<Self> {
        std::fs::create_dir_all(state_dir)?;
        let path = state_dir.join(FILE_NAME);
        let floors = read_table(&path, "every plugin's anti-rollback floor")?;
        Ok(Self { path, floors })
    }

    /// The lowest acceptable version of `name`, if it was ever seen.
    pub fn get(&self, name: &str) -> Option<&Version> {
        self.floors.get(name)
    }

    /// Records that `name` ran at `version`. Raises the floor (never lowers
    /// it, unless `lower` — the operator's downgrade override), durably.
    pub fn record(&mut self, name: &str, version: &Version, lower: bool) -> io::Result<()> {
        let raise = match self.floors.get(name) {
            None => true,
            Some(floor) => version > floor || (lower && version < floor),
        };
        if !raise {
            return Ok(());
        }
        let mut next = self.floors.clone();
        next.insert(name.to_owned(), version.clone());
        write_table(&self.path, &next)?;
        self.floors = next;
        Ok(())
    }
}

/// Reads a persisted `name → value` table; a missing file is an empty
/// table. A file that exists but cannot be read or parsed is an error, not
/// an empty table: silently forgetting `forgets` would re-open what the
/// table closes.
pub(super) fn read_table<V: serde::de::DeserializeOwned>(
    path: &Path,
    forgets: &str,
) -> io::Result<BTreeMap<String, V>> {
    match std::fs::read(path) {
        Ok(bytes) => serde_json::from_slice(&bytes).map_err(|e| {
            io::Error::new(
                io::ErrorKind::InvalidData,
                format!(
                    "{} is unreadable ({e}); fix or delete it deliberately \
                     (deleting it forgets {forgets})",
                    path.display()
                ),
            )
        }),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(BTreeMap::new()),
        Err(e) => Err(e),
    }
}

/// Replaces the table at `path` with `table`, durably.
pub(super) fn write_table<V: serde::Serialize>(
    path: &Path,
    table: &BTreeMap<String, V>,
) -> io::Result<()> {
    let bytes = serde_json::to_vec_pretty(table).map_err(io::Error::other)?;
    write_atomically(path, &bytes, None)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v(s: &str) -> Version {
        Version::parse(s).unwrap()
    }

    #[test]
    fn floors_only_rise_and_survive_reopening() {
        let dir = tempfile::tempdir().unwrap();
        let mut f = Floors::open(dir.path()).unwrap();
        assert_eq!(f.get("echo"), None);
        f.record("echo", &v("1.2.0"), false).unwrap();
        f.record("echo", &v("1.1.0"), false).unwrap();
        assert_eq!(f.get("echo"), Some(&v("1.2.0")));
        let again = Floors::open(dir.path()).unwrap();
        assert_eq!(again.get("echo"), Some(&v("1.2.0")));
    }

    #[test]
    fn the_operator_override_lowers_the_floor() {
        let dir = tempfile::tempdir().unwrap();
        let mut f = Floors::open(dir.path()).unwrap();
        f.record("echo", &v("2.0.0"), false).unwrap();
        f.record("echo", &v("1.0.0"), true).unwrap();
        assert_eq!(
            Floors::open(dir.path()).unwrap().get("echo"),
            Some(&v("1.0.0"))
        );
    }

    #[test]
    fn a_corrupt_file_is_an_error_not_a_reset() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join(FILE_NAME), b"{oops").unwrap();
        let err = Floors::open(dir.path()).unwrap_err().to_string();
        assert!(err.contains("anti-rollback"), "{err}");
    }
}
