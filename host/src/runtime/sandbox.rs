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

/// The `download` capability: which servers a plugin may fetch from.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DownloadGrant {
    /// Allowed `host` or `host:port` entries (a bare host allows any port).
    pub hosts: Vec<String>,
    /// Whether `http://` is allowed (otherwise https only).
    pub allow_http: bool,
}

impl DownloadGrant {
    /// Whether `url`'s scheme and host are allowed; the error says which
    /// rule refused it.
    pub fn check(&self, url: &reqwest::Url) -> Result<(), String> {
        match url.scheme() {
            "https" => {}
            "http" if self.allow_http => {}
            "http" => return Err("plain http is not allowed for this plugin (https only)".into()),
            other => return Err(format!("scheme `{other}` is not allowed")),
        }
        let host = url.host_str().unwrap_or_default();
        let port = url.port_or_known_default().unwrap_or_default();
        let with_port = format!("{host}:{port}");
        if self
            .hosts
            .iter()
            .any(|h| h.eq_ignore_ascii_case(host) || h.eq_ignore_ascii_case(&with_port))
        {
            Ok(())
        } else {
            Err(format!(
                "host `{with_port}` is not on this plugin's download allow-list"
            ))
        }
    }
}

/// The sandbox of one execution.
#[derive(Debug, Clone, Default)]
pub struct Sandbox {
    /// Directories the plugin may open; nothing else exists for it.
    pub dirs: Vec<DirGrant>,
    /// Servers it may download from; `None`: no `download` capability.
    pub download: Option<DownloadGrant>,
}

impl Sandbox {
    /// A sandbox with no filesystem at all.
    pub fn empty() -> Self {
        Self::default()
    }

    /// Maps a guest path to (granted host directory, relative path inside
    /// it) for host imports that write files on the plugin's behalf. The
    /// longest matching guest prefix wins; `..`, `.` and absolute components
    /// in the remainder are refused. Symlinks inside the directory are
    /// contained by opening through `cap-std`, not here.
    pub fn resolve_writable(&self, guest_path: &str) -> Result<(&DirGrant, PathBuf), String> {
        let path = Path::new(guest_path);
        let grant = self
            .dirs
            .iter()
            .filter(|g| path.starts_with(&g.guest))
            .max_by_key(|g| g.guest.len())
            .ok_or_else(|| format!("{guest_path} is not inside a granted directory"))?;
        if grant.read_only {
            return Err(format!("{} is granted read-only", grant.guest));
        }
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
    fn resolve_writable_stays_inside_writable_grants() {
        let sandbox = Sandbox {
            dirs: vec![
                "/var/dl:/downloads".parse().unwrap(),
                "/etc/ssl:/certs:ro".parse().unwrap(),
            ],
            download: None,
        };
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
        assert!(
            sandbox.resolve_writable("/downloadsX/y").is_err(),
            "prefix match is per component"
        );
    }

    #[test]
    fn download_grant_checks_scheme_and_host() {
        let grant = DownloadGrant {
            hosts: vec!["updates.example.com".into(), "127.0.0.1:8080".into()],
            allow_http: false,
        };
        let url = |s: &str| reqwest::Url::parse(s).unwrap();
        assert!(grant
            .check(&url("https://updates.example.com/fw.bin"))
            .is_ok());
        assert!(grant.check(&url("https://127.0.0.1:8080/a")).is_ok());
        assert!(grant
            .check(&url("https://127.0.0.1:9090/a"))
            .unwrap_err()
            .contains("allow-list"));
        assert!(grant
            .check(&url("http://updates.example.com/fw.bin"))
            .unwrap_err()
            .contains("https only"));
        assert!(grant.check(&url("file:///etc/passwd")).is_err());
        let http = DownloadGrant {
            allow_http: true,
            ..grant
        };
        assert!(http.check(&url("http://127.0.0.1:8080/a")).is_ok());
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
