//! Compiled components on disk.
//!
//! Compiling a component costs tens of milliseconds for a small Rust plugin
//! and seconds for a Python or JavaScript one (BENCHMARKS.md: 92 ms for
//! `echo`; `sdk/README.md`: 7–10 s for the Python and JavaScript plugins),
//! so the
//! agent keeps the compiled form (`.cwasm`). That form is native code which
//! `Component::deserialize` maps and runs without validation: anyone who can
//! plant or alter a cache file could run arbitrary code. Hence:
//!
//! - an entry is keyed by the sha256 of the component *and* the engine's
//!   compatibility hash, so a wasmtime upgrade or a config change never loads
//!   stale code;
//! - every entry carries an HMAC-SHA256 made with a key that only this host
//!   holds (`host.key`, mode 0600, created on first use), over the key of the
//!   entry and its bytes. An entry whose HMAC does not verify — corrupted,
//!   truncated, copied from another machine — is never deserialised: the
//!   component is compiled again and the entry replaced;
//! - entries are written to a temporary file, synced, then renamed, so a
//!   crash leaves either the old entry or the new one, and never changed in
//!   place afterwards;
//! - a verified entry is *mapped* from its file, not copied into memory: its
//!   code pages are clean file pages the kernel can drop and read again,
//!   instead of tens of MiB of the agent's own memory for as long as it runs
//!   (BENCHMARKS.md, "Footprint"). The HMAC is checked by reading the file
//!   through the descriptor that is then mapped (`/proc/self/fd/N` names
//!   that same file), so what was verified is what runs;
//! - the key and the entries are opened without following symlinks and
//!   must be regular files, and the directory must belong to the agent's
//!   user and be writable by no one else: a cache others can write is
//!   refused at start, not trusted.
//!
//! The key stays beside the entries on purpose. It protects against
//! corruption and against entries copied from another device, not against
//! the agent's own user: whoever can write the directory as that user can
//! replace the key or the entries alike, and could as well replace the
//! agent. What must never reach the directory are plugins, and no grant
//! can: the config refuses any grant that overlaps `state_dir`, where the
//! agent keeps this cache (`crate::config`'s `overlap` module). Moving
//! the key elsewhere would add a path to protect and gain nothing.
//!
//! Entries of plugins no longer installed are removed ([`CompiledCache::retain`])
//! so that installing and removing plugins does not grow the cache without
//! bound.

use hmac::{Hmac, Mac};
use sha2::{Digest, Sha256};
use std::fs::{self, File, OpenOptions};
use std::hash::{Hash, Hasher};
use std::io::{self, Read, Write};
use std::os::fd::AsRawFd;
use std::path::{Path, PathBuf};
use wasmtime::component::Component;
use wasmtime::Engine;

type HmacSha256 = Hmac<Sha256>;

const KEY_FILE: &str = "host.key";
const KEY_LEN: usize = 32;
/// An entry is wasmtime's serialized component (an ELF image, which must
/// start at offset 0 to be mapped), then a trailer: the 32-byte HMAC, then
/// this magic with the format version. Version 1 entries (a header instead
/// of a trailer) fail the check and are compiled again.
const MAGIC: &[u8; 8] = b"JHCWASM2";
const TRAILER_LEN: u64 = 32 + MAGIC.len() as u64;
/// Largest entry read: a Python or JavaScript component compiles to some
/// 50 MiB of native code; this is far above, and still bounds the read.
const MAX_ENTRY_BYTES: u64 = 1 << 30;

/// Why the cache directory could not be opened.
#[derive(Debug, thiserror::Error)]
pub enum CacheError {
    /// Creating or reading the directory or its key failed.
    #[error("compiled cache at {path}: {source}")]
    Io {
        /// The file or directory concerned.
        path: PathBuf,
        /// What the OS said.
        source: io::Error,
    },
    /// Others could write the cache: its entries would be native code
    /// anyone with that access chose.
    #[error("compiled cache {path} {why}: the agent runs code from it, so only its own user may write it (fix: chown it to the agent's user and chmod 700, or remove it to start afresh)")]
    Insecure {
        /// The cache directory.
        path: PathBuf,
        /// What is wrong with it.
        why: String,
    },
    /// The key file exists but is not a key this host wrote.
    #[error("compiled cache key {path} is malformed ({len} bytes, expected {KEY_LEN}); remove the cache directory to start afresh")]
    BadKey {
        /// The key file.
        path: PathBuf,
        /// Its length.
        len: usize,
    },
}

/// How a plugin's compiled code was obtained.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CacheStatus {
    /// No cache is configured; compiled in memory.
    Disabled,
    /// Loaded from a verified cache entry.
    Hit,
    /// Not cached yet: compiled and stored.
    Miss,
    /// An entry existed but failed verification: compiled again and replaced.
    Recompiled,
}

/// What the cache holds for a digest.
pub(crate) enum Entry {
    /// A verified entry, mapped.
    Verified(Component),
    /// No entry.
    Absent,
    /// An entry that must not (or could not) be used, and why.
    Unusable(String),
}

/// The compiled-component cache of one host.
pub struct CompiledCache {
    dir: PathBuf,
    key: [u8; KEY_LEN],
    engine_hash: String,
}

impl CompiledCache {
    /// Opens (creating if needed) the cache in `dir`, with this host's key.
    pub fn open(dir: &Path, engine: &Engine) -> Result<Self, CacheError> {
        let io_err = |path: &Path| {
            let path = path.to_path_buf();
            move |source| CacheError::Io { path, source }
        };
        {
            use std::os::unix::fs::DirBuilderExt;
            fs::DirBuilder::new()
                .recursive(true)
                .mode(0o700)
                .create(dir)
                .map_err(io_err(dir))?;
        }
        check_private(dir)?;
        let key = load_or_create_key(&dir.join(KEY_FILE))?;
        Ok(Self {
            dir: dir.to_path_buf(),
            key,
            engine_hash: engine_compat_hash(engine),
        })
    }

    /// The directory holding the entries.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The engine's compatibility hash, part of every entry's name.
    pub(crate) fn engine_hash(&self) -> &str {
        &self.engine_hash
    }

    /// The entry for `digest`, mapped from its file once its HMAC verified.
    pub(crate) fn load(&self, engine: &Engine, digest: &str) -> Entry {
        let path = self.entry_path(digest);
        let file = match crate::durable::open_regular_file(&path) {
            Ok(file) => file,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Entry::Absent,
            Err(e) => return Entry::Unusable(format!("cannot open it: {e}")),
        };
        match self.verify(&file, digest) {
            Ok(true) => {}
            Ok(false) => return Entry::Unusable("it failed its integrity check".into()),
            Err(e) => return Entry::Unusable(format!("cannot read it: {e}")),
        }
        // The descriptor just verified, by a name that opens the same file
        // (not `path`, which a rename could have replaced since).
        let this_file = format!("/proc/self/fd/{}", file.as_raw_fd());
        // SAFETY: the file carries a valid HMAC under this host's secret key,
        // which only `store` produces, over the output of
        // `Engine::precompile_component` from an engine with the same
        // compatibility hash (part of the MAC input). Entries are replaced
        // by rename, never written in place, so the file mapped is the one
        // read; only the agent's own user can write the directory
        // (`check_private`).
        match unsafe { Component::deserialize_file(engine, &this_file) } {
            Ok(component) => Entry::Verified(component),
            Err(e) => Entry::Unusable(format!("it did not load: {e:#}")),
        }
    }

    /// Whether `file` (the entry for `digest`) carries a valid trailer,
    /// read in pieces: a 50 MiB entry is never copied into memory.
    fn verify(&self, file: &File, digest: &str) -> io::Result<bool> {
        let len = file.metadata()?.len();
        if !(TRAILER_LEN..=MAX_ENTRY_BYTES).contains(&len) {
            return Ok(false);
        }
        let mut mac = self.mac(digest);
        let mut payload = file.take(len - TRAILER_LEN);
        let mut buf = vec![0u8; 64 << 10];
        loop {
            match payload.read(&mut buf)? {
                0 => break,
                n => mac.update(&buf[..n]),
            }
        }
        if payload.limit() != 0 {
            return Ok(false); // shorter than its length said: truncated
        }
        let mut trailer = [0u8; TRAILER_LEN as usize];
        let mut file = file;
        file.read_exact(&mut trailer)?;
        let (tag, magic) = trailer.split_at(32);
        Ok(magic == MAGIC && mac.verify_slice(tag).is_ok())
    }

    pub(crate) fn entry_path(&self, digest: &str) -> PathBuf {
        self.dir.join(self.entry_name(digest))
    }

    fn entry_name(&self, digest: &str) -> String {
        format!("{digest}-{}.cwasm", self.engine_hash)
    }

    /// Removes every entry but those of `digests` (the installed plugins)
    /// for this engine: entries of removed or replaced plugins, and of
    /// other wasmtime versions, which can never load again. Returns how
    /// many were removed. Without this, install and remove cycles (each
    /// re-signed copy is a new digest) would fill the disk (review L7).
    pub fn retain(&self, digests: &[&str]) -> io::Result<usize> {
        let keep: Vec<String> = digests.iter().map(|d| self.entry_name(d)).collect();
        let mut removed = 0;
        for entry in fs::read_dir(&self.dir)? {
            let entry = entry?;
            let name = entry.file_name();
            let Some(name) = name.to_str() else { continue };
            if name.ends_with(".cwasm") && !keep.iter().any(|k| k == name) {
                fs::remove_file(entry.path())?;
                removed += 1;
            }
        }
        Ok(removed)
    }

    fn mac(&self, digest: &str) -> HmacSha256 {
        let mut mac = HmacSha256::new_from_slice(&self.key).expect("HMAC accepts any key length");
        // Bind the entry to what it claims to be, not only to its bytes: a
        // valid entry renamed to another digest must not verify.
        mac.update(digest.as_bytes());
        mac.update(b"\0");
        mac.update(self.engine_hash.as_bytes());
        mac.update(b"\0");
        mac
    }

    /// Writes the entry for `digest` (called by the compiling process: the
    /// agent, or its `jobhost compile-entry` child).
    pub(crate) fn store(&self, digest: &str, code: &[u8]) -> io::Result<()> {
        let path = &self.entry_path(digest);
        let mut mac = self.mac(digest);
        mac.update(code);
        let tag = mac.finalize().into_bytes();
        let tmp = path.with_extension(format!("tmp{}", std::process::id()));
        let result = (|| {
            // A leftover from a crash (or a planted symlink) is removed,
            // and the file is created new, never opened through a link.
            match fs::remove_file(&tmp) {
                Err(e) if e.kind() != io::ErrorKind::NotFound => return Err(e),
                _ => {}
            }
            let mut f = new_private_file(&tmp)?;
            f.write_all(code)?;
            f.write_all(&tag)?;
            f.write_all(MAGIC)?;
            f.sync_all()?;
            fs::rename(&tmp, path)
        })();
        if result.is_err() {
            let _ = fs::remove_file(&tmp);
        }
        result
    }
}

/// `Engine::precompile_compatibility_hash` only implements `Hash`; feed it
/// to sha256 so the value is stable across runs of the same binary (std's
/// `DefaultHasher` promises no such thing).
fn engine_compat_hash(engine: &Engine) -> String {
    struct ShaHasher(Sha256);
    impl Hasher for ShaHasher {
        fn write(&mut self, bytes: &[u8]) {
            self.0.update(bytes);
        }
        fn finish(&self) -> u64 {
            0 // unused: the digest is read from `self.0`
        }
    }
    let mut h = ShaHasher(Sha256::new());
    engine.precompile_compatibility_hash().hash(&mut h);
    hex::encode(&h.0.finalize()[..8])
}

/// Creates the key atomically (written to a temporary file, then hard-linked
/// into place, which fails if another process won the race), so that no
/// process can ever read a half-written key.
fn load_or_create_key(path: &Path) -> Result<[u8; KEY_LEN], CacheError> {
    let io_err = |source| CacheError::Io {
        path: path.to_path_buf(),
        source,
    };
    if !path.exists() {
        let mut key = [0u8; KEY_LEN];
        getrandom::getrandom(&mut key).map_err(|e| io_err(io::Error::other(e.to_string())))?;
        let tmp = path.with_extension(format!("tmp{}", std::process::id()));
        let written = fs::remove_file(&tmp)
            .or_else(|e| match e.kind() {
                io::ErrorKind::NotFound => Ok(()),
                _ => Err(e),
            })
            .and_then(|()| new_private_file(&tmp))
            .and_then(|mut f| f.write_all(&key).and_then(|()| f.sync_all()))
            .and_then(|()| fs::hard_link(&tmp, path));
        let _ = fs::remove_file(&tmp);
        match written {
            Ok(()) => return Ok(key),
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {}
            Err(e) => return Err(io_err(e)),
        }
    }
    let bytes = crate::durable::read_regular_file(path, KEY_LEN as u64 + 1).map_err(io_err)?;
    <[u8; KEY_LEN]>::try_from(bytes.as_slice()).map_err(|_| CacheError::BadKey {
        path: path.to_path_buf(),
        len: bytes.len(),
    })
}

/// Creates `path` new (failing if anything, a symlink included, is there),
/// mode 0600.
fn new_private_file(path: &Path) -> io::Result<File> {
    use std::os::unix::fs::OpenOptionsExt;
    OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
}

/// Refuses a cache directory that is not the agent's own, or that its
/// group or others may write.
fn check_private(dir: &Path) -> Result<(), CacheError> {
    use std::os::unix::fs::MetadataExt;
    let meta = fs::metadata(dir).map_err(|source| CacheError::Io {
        path: dir.to_path_buf(),
        source,
    })?;
    let uid = rustix::process::geteuid().as_raw();
    let why = if !meta.is_dir() {
        Some("is not a directory".to_owned())
    } else if meta.uid() != uid {
        Some(format!(
            "belongs to uid {}, not the agent's uid {uid}",
            meta.uid()
        ))
    } else if meta.mode() & 0o022 != 0 {
        Some(format!(
            "is writable by its group or others (mode {:o})",
            meta.mode() & 0o7777
        ))
    } else {
        None
    };
    match why {
        Some(why) => Err(CacheError::Insecure {
            path: dir.to_path_buf(),
            why,
        }),
        None => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    fn engine() -> Engine {
        Engine::default()
    }

    #[test]
    fn a_cache_others_can_write_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let cache = dir.path().join("compiled");
        CompiledCache::open(&cache, &engine()).unwrap();
        let mode = fs::metadata(&cache).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o700, "created private");
        fs::set_permissions(&cache, fs::Permissions::from_mode(0o775)).unwrap();
        let err = CompiledCache::open(&cache, &engine())
            .err()
            .unwrap()
            .to_string();
        assert!(
            err.contains(&cache.display().to_string())
                && err.contains("writable by its group or others")
                && err.contains("chmod 700"),
            "{err}"
        );
    }

    #[test]
    fn a_symlinked_key_is_not_followed() {
        let dir = tempfile::tempdir().unwrap();
        let cache = dir.path().join("compiled");
        fs::create_dir(&cache).unwrap();
        fs::set_permissions(&cache, fs::Permissions::from_mode(0o700)).unwrap();
        let elsewhere = dir.path().join("chosen.key");
        fs::write(&elsewhere, [7u8; KEY_LEN]).unwrap();
        std::os::unix::fs::symlink(&elsewhere, cache.join(KEY_FILE)).unwrap();
        let err = CompiledCache::open(&cache, &engine())
            .err()
            .unwrap()
            .to_string();
        assert!(err.contains("symbolic link"), "{err}");
    }
}
