//! Compiled components on disk.
//!
//! Compiling a component costs 15–40 ms for a small Rust plugin and ~5 s for
//! a Python or JavaScript one (shared/reference/wasm-toolchain.md), so the
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
//!   crash leaves either the old entry or the new one.

use hmac::{Hmac, Mac};
use sha2::{Digest, Sha256};
use std::fs::{self, File, OpenOptions};
use std::hash::{Hash, Hasher};
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};
use wasmtime::component::Component;
use wasmtime::Engine;

type HmacSha256 = Hmac<Sha256>;

const KEY_FILE: &str = "host.key";
const KEY_LEN: usize = 32;
/// File header: magic and format version, then the 32-byte HMAC.
const MAGIC: &[u8; 8] = b"JHCWASM1";
const HEADER_LEN: usize = MAGIC.len() + 32;

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
        fs::create_dir_all(dir).map_err(io_err(dir))?;
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

    /// Returns the component for `wasm` (whose sha256 is `digest`), from the
    /// cache when a verified entry exists, else compiled and stored.
    pub(crate) fn load_or_compile(
        &self,
        engine: &Engine,
        wasm: &[u8],
        digest: &str,
    ) -> wasmtime::Result<(Component, CacheStatus)> {
        let path = self.entry_path(digest);
        let mut status = CacheStatus::Miss;
        match fs::read(&path) {
            Ok(bytes) => match self.verified_payload(digest, &bytes) {
                Some(payload) => {
                    // SAFETY: `payload` carries a valid HMAC under this host's
                    // secret key, which only `store` below produces, over the
                    // output of `Component::serialize` from an engine with
                    // the same compatibility hash (part of the MAC input).
                    match unsafe { Component::deserialize(engine, payload) } {
                        Ok(component) => return Ok((component, CacheStatus::Hit)),
                        Err(e) => {
                            tracing::warn!(target: "runtime", "cached {digest} did not load ({e:#}); recompiling")
                        }
                    }
                    status = CacheStatus::Recompiled;
                }
                None => {
                    tracing::warn!(target: "runtime", "cache entry {} failed its integrity check; recompiling", path.display());
                    status = CacheStatus::Recompiled;
                }
            },
            Err(e) if e.kind() == io::ErrorKind::NotFound => {}
            Err(e) => {
                tracing::warn!(target: "runtime", "cannot read cache entry {}: {e}; recompiling", path.display())
            }
        }
        let component = Component::new(engine, wasm)?;
        if let Err(e) = component
            .serialize()
            .map_err(|e| io::Error::other(format!("{e:#}")))
            .and_then(|code| self.store(&path, digest, &code))
        {
            // A read-only or full disk costs compile time, not correctness.
            tracing::warn!(target: "runtime", "cannot write cache entry {}: {e}", path.display());
        }
        Ok((component, status))
    }

    fn entry_path(&self, digest: &str) -> PathBuf {
        self.dir
            .join(format!("{digest}-{}.cwasm", self.engine_hash))
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

    fn verified_payload<'a>(&self, digest: &str, bytes: &'a [u8]) -> Option<&'a [u8]> {
        if bytes.len() < HEADER_LEN || &bytes[..MAGIC.len()] != MAGIC {
            return None;
        }
        let (tag, payload) = bytes[MAGIC.len()..].split_at(32);
        let mut mac = self.mac(digest);
        mac.update(payload);
        mac.verify_slice(tag).ok().map(|()| payload)
    }

    fn store(&self, path: &Path, digest: &str, code: &[u8]) -> io::Result<()> {
        let mut mac = self.mac(digest);
        mac.update(code);
        let tag = mac.finalize().into_bytes();
        let tmp = path.with_extension(format!("tmp{}", std::process::id()));
        let result = (|| {
            let mut f = File::create(&tmp)?;
            f.write_all(MAGIC)?;
            f.write_all(&tag)?;
            f.write_all(code)?;
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
        let mut options = OpenOptions::new();
        options.write(true).create(true).truncate(true);
        #[cfg(unix)]
        std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
        let written = options
            .open(&tmp)
            .and_then(|mut f| f.write_all(&key).and_then(|()| f.sync_all()))
            .and_then(|()| fs::hard_link(&tmp, path));
        let _ = fs::remove_file(&tmp);
        match written {
            Ok(()) => return Ok(key),
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {}
            Err(e) => return Err(io_err(e)),
        }
    }
    let mut bytes = Vec::new();
    File::open(path)
        .and_then(|f| f.take(KEY_LEN as u64 + 1).read_to_end(&mut bytes))
        .map_err(io_err)?;
    <[u8; KEY_LEN]>::try_from(bytes.as_slice()).map_err(|_| CacheError::BadKey {
        path: path.to_path_buf(),
        len: bytes.len(),
    })
}
