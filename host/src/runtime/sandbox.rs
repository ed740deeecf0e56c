//! What a plugin can see of the device: only the directories granted to it.
//!
//! Everything else WASI could offer is closed: no sockets, no name lookup,
//! no environment variables, no arguments, no stdin; stdout and stderr are
//! discarded (plugins log through the `host.log` import).

use std::fmt;
use std::path::{Component as PathComponent, Path, PathBuf};
use std::str::FromStr;
use wasmtime_wasi::{FsPerms, WasiCtx, WasiCtxBuilder};

/// One host directory preopened for a plugin.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DirGrant {
    /// The directory on the device.
    pub host: PathBuf,
    /// The path the plugin opens it by.
    pub guest: String,
    /// Whether the plugin may only read.
    pub read_only: bool,
}

/// A `--grant-dir` value that cannot be used.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum GrantParseError {
    /// Empty host path.
    #[error("empty directory grant; expected HOST[:GUEST][:ro]")]
    Empty,
    /// The guest path would climb out of the sandbox's namespace.
    #[error("guest path {0:?} must not contain `..`")]
    GuestEscapes(String),
    /// More fields than HOST:GUEST:MODE.
    #[error("too many `:` in {0:?}; expected HOST[:GUEST][:ro|:rw]")]
    TooManyParts(String),
}

impl FromStr for DirGrant {
    type Err = GrantParseError;

    /// Parses `HOST[:GUEST][:ro|:rw]`. GUEST defaults to HOST as written;
    /// the mode defaults to read-write (`rw`).
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let mut parts: Vec<&str> = s.split(':').collect();
        let read_only = match parts.last() {
            Some(&"ro") if parts.len() > 1 => {
                parts.pop();
                true
            }
            Some(&"rw") if parts.len() > 1 => {
                parts.pop();
                false
            }
            _ => false,
        };
        let (host, guest) = match parts.as_slice() {
            [host] => (*host, *host),
            [host, guest] => (*host, *guest),
            _ => return Err(GrantParseError::TooManyParts(s.to_owned())),
        };
        if host.is_empty() || guest.is_empty() {
            return Err(GrantParseError::Empty);
        }
        if Path::new(guest)
            .components()
            .any(|c| c == PathComponent::ParentDir)
        {
            return Err(GrantParseError::GuestEscapes(guest.to_owned()));
        }
        Ok(Self {
            host: PathBuf::from(host),
            guest: guest.to_owned(),
            read_only,
        })
    }
}

impl fmt::Display for DirGrant {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mode = if self.read_only { "ro" } else { "rw" };
        write!(f, "{}:{}:{mode}", self.host.display(), self.guest)
    }
}

/// The sandbox of one execution.
#[derive(Debug, Clone, Default)]
pub struct Sandbox {
    /// Directories the plugin may open; nothing else exists for it.
    pub dirs: Vec<DirGrant>,
}

impl Sandbox {
    /// A sandbox with no filesystem at all.
    pub fn empty() -> Self {
        Self::default()
    }

    /// Builds the WASI context: the granted preopens and nothing else.
    pub(crate) fn wasi_ctx(&self) -> Result<WasiCtx, String> {
        let mut builder = WasiCtxBuilder::new();
        builder
            .allow_tcp(false)
            .allow_udp(false)
            .allow_ip_name_lookup(false);
        for grant in &self.dirs {
            if !grant.host.is_dir() {
                return Err(format!(
                    "granted directory {} does not exist or is not a directory",
                    grant.host.display()
                ));
            }
            let perms = if grant.read_only {
                FsPerms::ReadOnly
            } else {
                FsPerms::ReadWrite
            };
            builder
                .preopened_dir(&grant.host, &grant.guest, perms)
                .map_err(|e| {
                    format!(
                        "cannot open granted directory {}: {e:#}",
                        grant.host.display()
                    )
                })?;
        }
        Ok(builder.build())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_every_documented_form() {
        let g: DirGrant = "/var/data".parse().unwrap();
        assert_eq!(
            (g.host.to_str(), g.guest.as_str(), g.read_only),
            (Some("/var/data"), "/var/data", false)
        );
        let g: DirGrant = "/var/data:/data".parse().unwrap();
        assert_eq!((g.guest.as_str(), g.read_only), ("/data", false));
        let g: DirGrant = "/var/data:/data:ro".parse().unwrap();
        assert_eq!((g.guest.as_str(), g.read_only), ("/data", true));
        let g: DirGrant = "/var/data:ro".parse().unwrap();
        assert_eq!((g.guest.as_str(), g.read_only), ("/var/data", true));
    }

    #[test]
    fn rejects_escaping_or_malformed_grants() {
        assert_eq!(
            "/a:../b".parse::<DirGrant>(),
            Err(GrantParseError::GuestEscapes("../b".into()))
        );
        assert!(matches!(
            "/a:/b:/c:ro".parse::<DirGrant>(),
            Err(GrantParseError::TooManyParts(_))
        ));
        assert_eq!("".parse::<DirGrant>(), Err(GrantParseError::Empty));
        assert_eq!(":/x".parse::<DirGrant>(), Err(GrantParseError::Empty));
    }
}
