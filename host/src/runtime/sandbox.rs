//! What a plugin can see of the device: only the directories granted to it.
//!
//! Everything else WASI could offer is closed: no sockets, no name lookup,
//! no environment variables, no arguments, no stdin; stdout and stderr are
//! discarded (plugins log through the `host.log` import).

use std::fmt;
use std::path::{Component as PathComponent, Path, PathBuf};
use std::str::FromStr;
use std::time::Duration;
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
    /// Allowed `host` or `host:port` entries (a bare host allows the
    /// scheme's default port only: 443, or 80 for http).
    pub hosts: Vec<String>,
    /// Whether `http://` is allowed (otherwise https only).
    pub allow_http: bool,
}

impl DownloadGrant {
    /// Whether `url`'s scheme and host are allowed; the error says which
    /// rule refused it.
    pub fn check(&self, url: &reqwest::Url) -> Result<(), String> {
        check_url(&self.hosts, self.allow_http, url, "download")
    }
}

/// Default `upload_max_mib`: the largest file one `upload.put` sends. A
/// diagnostics bundle is a few MiB; the cap keeps a runaway plugin from
/// using the device's uplink for hours.
pub const DEFAULT_UPLOAD_MAX_BYTES: u64 = 64 << 20;

/// The `upload` capability: which servers a plugin may PUT files to, and
/// how large a file it may send.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UploadGrant {
    /// Allowed `host` or `host:port` entries (a bare host allows the
    /// scheme's default port only: 443, or 80 for http).
    pub hosts: Vec<String>,
    /// Whether `http://` is allowed (otherwise https only).
    pub allow_http: bool,
    /// Largest file sent, in bytes.
    pub max_bytes: u64,
}

impl UploadGrant {
    /// A grant for `hosts`, https only, with the default size cap.
    pub fn new(hosts: Vec<String>) -> Self {
        Self {
            hosts,
            allow_http: false,
            max_bytes: DEFAULT_UPLOAD_MAX_BYTES,
        }
    }

    /// Whether `url`'s scheme and host are allowed; the error says which
    /// rule refused it.
    pub fn check(&self, url: &reqwest::Url) -> Result<(), String> {
        check_url(&self.hosts, self.allow_http, url, "upload")
    }
}

/// The rule every network grant shares: https (or http where allowed), and
/// a host (or host:port) on the `list` allow-list.
fn check_url(
    hosts: &[String],
    allow_http: bool,
    url: &reqwest::Url,
    list: &str,
) -> Result<(), String> {
    match url.scheme() {
        "https" => {}
        "http" if allow_http => {}
        "http" => return Err("plain http is not allowed for this plugin (https only)".into()),
        other => return Err(format!("scheme `{other}` is not allowed")),
    }
    let host = url.host_str().unwrap_or_default();
    let port = url.port_or_known_default().unwrap_or_default();
    let with_port = format!("{host}:{port}");
    // A bare host allows the scheme's default port only (443, or 80 for
    // http; `Url::port` is `None` exactly then): other ports on an allowed
    // host are often admin interfaces, and need `host:port` (review L3).
    let default_port = url.port().is_none();
    if hosts.iter().any(|h| {
        (default_port && h.eq_ignore_ascii_case(host)) || h.eq_ignore_ascii_case(&with_port)
    }) {
        Ok(())
    } else {
        Err(format!(
            "host `{with_port}` is not on this plugin's {list} allow-list"
        ))
    }
}

/// Default `command_timeout_secs`: the longest one `command.run` call may
/// take unless the operator says otherwise.
pub const DEFAULT_COMMAND_TIMEOUT: Duration = Duration::from_secs(60);

/// Default `command_output_bytes`: how much of the end of stdout and of
/// stderr (each) a plugin gets back. A status line or an error message fits;
/// a runaway program cannot make the host hold more.
pub const DEFAULT_COMMAND_OUTPUT_BYTES: usize = 4096;

/// Longest program path accepted, in a grant or a request (Linux `PATH_MAX`).
pub const MAX_PROGRAM_BYTES: usize = 4096;

/// The `run-command` capability: which programs a plugin may run, and the
/// operator's caps on each call.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CommandGrant {
    /// Absolute paths (checked by [`check_program_path`]), compared as
    /// written: the host never searches `PATH` for a program.
    pub programs: Vec<String>,
    /// The longest one call may run; a plugin may ask for less, never more.
    pub timeout: Duration,
    /// Bytes kept of the end of stdout and of stderr, each.
    pub output_bytes: usize,
}

impl CommandGrant {
    /// A grant of `programs` with the default caps.
    pub fn new(programs: Vec<String>) -> Self {
        Self {
            programs,
            timeout: DEFAULT_COMMAND_TIMEOUT,
            output_bytes: DEFAULT_COMMAND_OUTPUT_BYTES,
        }
    }

    /// The allow-listed path `requested` names. An absolute path must be
    /// on the list exactly (no normalisation: `/usr/bin/../bin/id` is not
    /// `/bin/id`). A bare name is accepted only when it is the file name of
    /// exactly one listed path, so a plugin can say `systemctl` without
    /// knowing whether this device keeps it in `/bin` or `/usr/bin`, yet
    /// never reaches a program the operator did not name. Anything else,
    /// e.g. `sh -c id` or `ls; rm -rf /`, is simply not on the list.
    pub fn program_for(&self, requested: &str) -> Result<&str, ProgramRefused> {
        if requested.contains('/') {
            return self
                .programs
                .iter()
                .find(|p| p.as_str() == requested)
                .map(String::as_str)
                .ok_or_else(|| ProgramRefused::NotAllowed(requested.to_owned()));
        }
        let mut matches: Vec<&str> = self
            .programs
            .iter()
            .map(String::as_str)
            .filter(|p| p.rsplit('/').next() == Some(requested))
            .collect();
        matches.sort_unstable();
        matches.dedup();
        match matches.as_slice() {
            [] => Err(ProgramRefused::NotAllowed(requested.to_owned())),
            [one] => Ok(one),
            several => Err(ProgramRefused::Ambiguous {
                name: requested.to_owned(),
                paths: several.join(", "),
            }),
        }
    }
}

/// Why a program is not run.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ProgramRefused {
    /// Neither a listed path nor the file name of one.
    #[error("program {0:?} is not on this plugin's run-command allow-list")]
    NotAllowed(String),
    /// A bare name that is the file name of several listed paths.
    #[error("program {name:?} could be any of {paths}: name it by its absolute path")]
    Ambiguous {
        /// The requested name.
        name: String,
        /// The listed paths it matches.
        paths: String,
    },
}

/// Checks a program path an operator grants (config `run_commands`,
/// `jobhost run --allow-command`): absolute, normalised (no empty, `.` or
/// `..` component, no trailing `/`), no control characters. Grants are
/// compared to requests as strings, so only one spelling of each path may
/// exist.
pub fn check_program_path(path: &str) -> Result<(), String> {
    if !path.starts_with('/') {
        return Err(format!(
            "{path:?} must be an absolute path such as /usr/bin/systemctl (programs are never looked up in PATH)"
        ));
    }
    if path.len() > MAX_PROGRAM_BYTES {
        return Err(format!("{path:?} is longer than {MAX_PROGRAM_BYTES} bytes"));
    }
    if path.chars().any(char::is_control) {
        return Err(format!("{path:?} contains a control character"));
    }
    if path[1..]
        .split('/')
        .any(|c| c.is_empty() || c == "." || c == "..")
    {
        return Err(format!(
            "{path:?} must be a normalised path (no `//`, `.`, `..` or trailing `/`)"
        ));
    }
    Ok(())
}

/// The sandbox of one execution.
#[derive(Debug, Clone, Default)]
pub struct Sandbox {
    /// Directories the plugin may open; nothing else exists for it.
    pub dirs: Vec<DirGrant>,
    /// Servers it may download from; `None`: no `download` capability.
    pub download: Option<DownloadGrant>,
    /// Programs it may run; `None`: no `run-command` capability.
    pub command: Option<CommandGrant>,
    /// Whether it may ask for a reboot (`device.request-reboot`).
    pub reboot: bool,
    /// Whether it may take a snapshot of the agent (`diagnostics`).
    pub diagnostics: bool,
    /// Servers it may upload to; `None`: no `upload` capability.
    pub upload: Option<UploadGrant>,
    /// Whether it may rotate the device's MQTT certificate (the
    /// `certificates` interface): `certificates = "rw"` requested AND
    /// granted.
    pub certificates: bool,
    /// The files that rotation acts on, filled in by the agent from
    /// `[broker.tls]`; `None` without a client certificate (or under
    /// `jobhost run`), where the `certificates` calls fail.
    pub certificate_target: Option<CertificateTarget>,
}

/// The agent's own MQTT client certificate and key, and the thing name a
/// new certificate is requested for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CertificateTarget {
    /// The thing name (the CSR's common name).
    pub thing_name: String,
    /// `[broker.tls] cert`.
    pub cert: PathBuf,
    /// `[broker.tls] key`.
    pub key: PathBuf,
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
        let resolved = self.resolve_readable(guest_path)?;
        if resolved.0.read_only {
            return Err(format!("{} is granted read-only", resolved.0.guest));
        }
        Ok(resolved)
    }

    /// [`Sandbox::resolve_writable`] for host imports that only read a
    /// file on the plugin's behalf (an upload): read-only grants qualify.
    pub fn resolve_readable(&self, guest_path: &str) -> Result<(&DirGrant, PathBuf), String> {
        let path = Path::new(guest_path);
        let grant = self
            .dirs
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
            ..Sandbox::default()
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
        // A bare host is its scheme's default port, nothing else.
        assert!(grant
            .check(&url("https://updates.example.com:443/fw.bin"))
            .is_ok());
        assert!(grant
            .check(&url("https://updates.example.com:8443/admin"))
            .unwrap_err()
            .contains("updates.example.com:8443"));
        let http = DownloadGrant {
            allow_http: true,
            ..grant
        };
        assert!(http.check(&url("http://127.0.0.1:8080/a")).is_ok());
        assert!(http.check(&url("http://updates.example.com/a")).is_ok());
        assert!(http
            .check(&url("http://updates.example.com:443/a"))
            .is_err());
    }

    #[test]
    fn upload_grant_checks_scheme_and_host() {
        let grant = UploadGrant::new(vec!["fleet.example.com".into()]);
        let url = |s: &str| reqwest::Url::parse(s).unwrap();
        assert!(grant
            .check(&url("https://fleet.example.com/uploads/t/j/b?signature=x"))
            .is_ok());
        assert!(grant
            .check(&url("https://evil.example.com/x"))
            .unwrap_err()
            .contains("upload allow-list"));
        assert!(grant
            .check(&url("http://fleet.example.com/x"))
            .unwrap_err()
            .contains("https only"));
        assert_eq!(grant.max_bytes, DEFAULT_UPLOAD_MAX_BYTES);
    }

    #[test]
    fn program_paths_must_be_absolute_and_normalised() {
        assert!(check_program_path("/usr/bin/systemctl").is_ok());
        for bad in [
            "systemctl",
            "bin/echo",
            "",
            "/usr//bin/echo",
            "/usr/bin/",
            "/usr/bin/../bin/echo",
            "/./bin/echo",
            "/bin/echo\n",
            "/bin/e\0cho",
        ] {
            assert!(check_program_path(bad).is_err(), "{bad:?} accepted");
        }
    }

    #[test]
    fn programs_match_exactly_or_by_an_unambiguous_name() {
        let grant = CommandGrant::new(vec![
            "/usr/bin/systemctl".into(),
            "/bin/echo".into(),
            "/usr/bin/echo".into(),
        ]);
        assert_eq!(
            grant.program_for("/usr/bin/systemctl"),
            Ok("/usr/bin/systemctl")
        );
        assert_eq!(grant.program_for("systemctl"), Ok("/usr/bin/systemctl"));
        assert_eq!(grant.program_for("/bin/echo"), Ok("/bin/echo"));
        assert!(matches!(
            grant.program_for("echo"),
            Err(ProgramRefused::Ambiguous { .. })
        ));
        for refused in [
            "/bin/systemctl",
            "/usr/bin/../bin/systemctl",
            "/usr/bin/systemctl ",
            "/bin/sh -c id",
            "ls; rm -rf /",
            "sh",
            "",
            "bin/echo",
        ] {
            assert_eq!(
                grant.program_for(refused),
                Err(ProgramRefused::NotAllowed(refused.into())),
                "{refused:?}"
            );
        }
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
