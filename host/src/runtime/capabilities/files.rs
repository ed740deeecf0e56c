//! The `files` capability: the directories granted to a plugin (WASI
//! preopens; nothing else of the device exists for it) and
//! `jobhost:plugin/files`, file modes, which WASI cannot set. An
//! application unpacked by a plugin must keep its executables executable.
//!
//! `set-executable` acts only inside a writable grant, only on regular
//! files (checked without following a symbolic link; cap-std keeps the
//! change inside the granted directory whatever the path holds), and only
//! on `x` bits: a plugin can make its own files runnable, never
//! set-user-id. `download` writes into and `upload` reads from the same
//! directories ([`Dirs`]).

use super::{
    Admission, BadGrant, Capability, CapabilityHost, GrantEnv, JobCtx, JobView, Reach, Sandbox,
};
use crate::requests::files::{Access, DirRequest};
use crate::runtime::bindings::files::{self as wit, Host};
use crate::runtime::bindings::types::HostError;
use crate::runtime::ExecutionLimits;
use cap_std::fs::{Dir, Permissions, PermissionsExt};
use serde::Deserialize;
use std::fmt;
use std::path::{Component as PathComponent, Path, PathBuf};
use std::str::FromStr;
use wasmtime::component::{HasSelf, Linker};

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

/// The directories of one run, for host calls that open files on the
/// plugin's behalf.
#[derive(Debug, Clone, Default)]
pub(crate) struct Dirs(pub Vec<DirGrant>);

impl Dirs {
    /// Maps a guest path to (granted host directory, relative path inside
    /// it) for host imports that write files on the plugin's behalf. The
    /// longest matching guest prefix wins; `..`, `.` and absolute components
    /// in the remainder are refused. Symlinks inside the directory are
    /// contained by opening through `cap-std`, not here.
    pub fn resolve_writable(&self, guest_path: &str) -> Result<(&DirGrant, PathBuf), String> {
        let resolved = self.resolve_readable(guest_path)?;
        if resolved.0.read_only {
            return Err(format!("{} is granted read-only", resolved.0.guest));
        }
        Ok(resolved)
    }

    /// [`Dirs::resolve_writable`] for host imports that only read a
    /// file on the plugin's behalf (an upload): read-only grants qualify.
    pub fn resolve_readable(&self, guest_path: &str) -> Result<(&DirGrant, PathBuf), String> {
        let path = Path::new(guest_path);
        let grant = self
            .0
            .iter()
            .filter(|g| path.starts_with(&g.guest))
            .max_by_key(|g| g.guest.len())
            .ok_or_else(|| format!("{guest_path} is not inside a granted directory"))?;
        let rest = path
            .strip_prefix(&grant.guest)
            .map_err(|_| format!("{guest_path} is not inside {}", grant.guest))?;
        if rest.as_os_str().is_empty()
            || !rest
                .components()
                .all(|c| matches!(c, PathComponent::Normal(_)))
        {
            return Err(format!(
                "{guest_path} must name a file inside {} without `.` or `..`",
                grant.guest
            ));
        }
        Ok((grant, rest.to_path_buf()))
    }
}

/// The `files` capability: the directories a plugin may open.
pub struct Files;

/// `[plugins.<name>]` keys of the `files` capability.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct FilesConfig {
    /// Directories, `HOST[:GUEST][:ro]`, as for `jobhost run --grant-dir`.
    pub dirs: Vec<String>,
}

impl Capability for Files {
    type Request = Vec<DirRequest>;
    type Config = FilesConfig;
    type Grant = Vec<DirGrant>;
    /// The plugin's own directories; the sandbox's `dirs` (its WASI
    /// preopens) are these and any a capability adds.
    type Granted = Vec<DirGrant>;

    /// Each entry parsed, its host path anchored at the config's directory.
    fn grant_from_config(
        config: &FilesConfig,
        env: &GrantEnv<'_>,
    ) -> Result<Vec<DirGrant>, BadGrant> {
        config
            .dirs
            .iter()
            .map(|d| {
                let mut grant: DirGrant = d.parse().map_err(|e| BadGrant {
                    key: "dirs",
                    why: format!(": {e}"),
                })?;
                grant.host = (env.resolve)(&grant.host);
                Ok(grant)
            })
            .collect()
    }

    fn reaches(grant: &Vec<DirGrant>) -> Vec<Reach<'_>> {
        grant
            .iter()
            .map(|d| Reach {
                what: format!("dirs entry \"{d}\""),
                host: &d.host,
            })
            .collect()
    }

    /// The directories both requested (`dirs` in the signed manifest) and
    /// granted (`dirs` in `[plugins.<name>]`): read-only when either side
    /// says so. Each request not granted, or granted read-only where it
    /// asks for read-write, is refused.
    fn intersect(
        requests: &Vec<DirRequest>,
        granted: &Vec<DirGrant>,
        admission: &mut Admission<'_>,
    ) -> Vec<DirGrant> {
        let mut dirs = Vec::new();
        for request in requests {
            let wanted = request.path.trim_end_matches('/');
            let access = match request.access {
                Access::Ro => "read-only",
                Access::Rw => "read-write",
            };
            match granted
                .iter()
                .find(|g| g.guest.trim_end_matches('/') == wanted)
            {
                None => {
                    let why = format!(
                        "directory {} ({access}): not granted in [plugins.{}] dirs",
                        request.path,
                        admission.plugin()
                    );
                    admission.deny(why);
                }
                Some(g) => {
                    let read_only = g.read_only || request.access == Access::Ro;
                    if request.access == Access::Rw && g.read_only {
                        admission.deny(format!(
                            "directory {} (read-write): granted read-only",
                            request.path
                        ));
                    }
                    dirs.push(DirGrant {
                        host: g.host.clone(),
                        guest: g.guest.clone(),
                        read_only,
                    });
                }
            }
        }
        dirs
    }
}

impl CapabilityHost for Files {
    /// None: the directories are the shared part's (`JobCtx::dirs`).
    type Ctx = ();

    fn ctx(_: &Sandbox, _: &ExecutionLimits) {}

    /// Links `jobhost:plugin/files` to the shared part: it has no state of
    /// its own.
    fn add_to_linker<T: JobView>(linker: &mut Linker<T>) -> wasmtime::Result<()> {
        wit::add_to_linker::<T, HasSelf<JobCtx>>(linker, |t| t.job().0)
    }
}

impl Host for JobCtx {
    async fn set_executable(&mut self, path: String, executable: bool) -> Result<(), HostError> {
        let (grant, relative) = self
            .dirs
            .resolve_writable(&path)
            .map_err(HostError::InvalidArgument)?;
        let dir = Dir::open_ambient_dir(&grant.host, cap_std::ambient_authority())
            .map_err(|e| HostError::Failed(format!("cannot open {}: {e}", grant.guest)))?;
        let meta = dir
            .symlink_metadata(&relative)
            .map_err(|e| HostError::InvalidArgument(format!("{path}: {e}")))?;
        if !meta.is_file() {
            return Err(HostError::InvalidArgument(format!(
                "{path} is not a regular file"
            )));
        }
        let mode = meta.permissions().mode() & 0o777;
        let mode = if executable {
            mode | ((mode & 0o444) >> 2)
        } else {
            mode & !0o111
        };
        dir.set_permissions(&relative, Permissions::from_mode(mode))
            .map_err(|e| HostError::Failed(format!("cannot change the mode of {path}: {e}")))
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
    fn resolve_writable_stays_inside_writable_grants() {
        let sandbox = Dirs(vec![
            "/var/dl:/downloads".parse().unwrap(),
            "/etc/ssl:/certs:ro".parse().unwrap(),
        ]);
        let (grant, rest) = sandbox.resolve_writable("/downloads/fw/image.bin").unwrap();
        assert_eq!(
            (grant.host.to_str(), rest.to_str()),
            (Some("/var/dl"), Some("fw/image.bin"))
        );
        assert!(sandbox
            .resolve_writable("/downloads/../etc/passwd")
            .is_err());
        assert!(sandbox.resolve_writable("/downloads").is_err());
        assert!(sandbox
            .resolve_writable("/certs/new.pem")
            .unwrap_err()
            .contains("read-only"));
        assert!(sandbox.resolve_writable("/tmp/x").is_err());
        let (grant, rest) = sandbox.resolve_readable("/certs/ca.pem").unwrap();
        assert_eq!(
            (grant.guest.as_str(), rest.to_str()),
            ("/certs", Some("ca.pem")),
            "reading needs no write access"
        );
        for escape in ["/certs/../../etc/shadow", "/certs", "/etc/passwd"] {
            assert!(sandbox.resolve_readable(escape).is_err(), "{escape}");
        }
        assert!(
            sandbox.resolve_writable("/downloadsX/y").is_err(),
            "prefix match is per component"
        );
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
