//! Grants must never reach what the agent keeps for itself (security
//! review H2, M8, L5).
//!
//! A WASI preopen gives the plugin the whole tree under its host path, and
//! the agent trusts several files on disk more than any plugin: the
//! device's private key (identity), `state_dir` (journal, anti-rollback
//! floors, the compiled cache whose entries are native code), `plugin_dir`
//! (which code runs), the config file and the files it names (trust keys,
//! the broker CA). So at load a grant's host path may be neither equal to,
//! nor an ancestor of, nor inside any of these; and within one table no two
//! grants may nest, because WASI resolves each preopen on its own: a
//! read-write parent would bypass a read-only child's mode.
//!
//! Paths are compared canonicalised where they exist (a symlinked grant
//! reaches its target) and lexically normalised beyond that, so a grant of
//! a directory created later is checked too.

use super::{ConfigError, Grants, RawConfig};
use crate::trust::KeyId;
use std::collections::BTreeMap;
use std::path::{Component, Path, PathBuf};

/// Something a grant must stay clear of.
pub(super) struct Protected {
    /// How the config names it, e.g. "state_dir".
    pub what: String,
    /// Where it is.
    pub path: PathBuf,
    /// A directory: grants inside it are refused too. A file: only grants
    /// equal to it or containing it.
    pub is_dir: bool,
    /// What a plugin could do through such a grant: the reason in the
    /// refusal.
    pub why: &'static str,
}

/// One host path a table grants.
pub(super) struct GrantPath<'a> {
    /// The table and entry, e.g. `[plugins.p] dirs entry "/var/lib:/data"`.
    pub what: String,
    /// Its host directory.
    pub host: &'a Path,
}

impl<'a> GrantPath<'a> {
    /// Every host directory `grants` (the table `table`) reaches: its
    /// `dirs` entries and whatever else a capability says its grant
    /// reaches (the certificate store).
    pub fn table(table: &str, grants: &'a Grants) -> Vec<Self> {
        grants
            .reaches()
            .into_iter()
            .map(|reach| GrantPath {
                what: format!("[{table}] {}", reach.what),
                host: reach.host,
            })
            .collect()
    }
}

/// The files and directories of `raw` no grant may reach, but for
/// `state_dir` and `plugin_dir` (see [`check_overlaps`]): the private key's
/// directory, the broker CA, the trust keys and the config file itself.
pub(super) fn protected_files(
    raw: &RawConfig,
    resolve: &dyn Fn(&Path) -> PathBuf,
    file: Option<&Path>,
) -> Vec<Protected> {
    let mut protected = Vec::new();
    if let Some(tls) = &raw.broker.tls {
        if let Some(key) = tls.key.as_deref().map(resolve) {
            protected.push(Protected {
                what: format!("the directory of [broker.tls] key {}", key.display()),
                path: key.parent().map(Path::to_path_buf).unwrap_or_default(),
                is_dir: true,
                why: "a plugin could read the device's private key (and the pending and previous \
                      keys kept beside it); keep the key in a host-only directory such as \
                      /etc/jobhost/private (mode 0700), and only certificates in \
                      [device] certificate_dir",
            });
        }
        protected.push(Protected {
            what: format!("[broker.tls] ca {}", tls.ca.display()),
            path: resolve(&tls.ca),
            is_dir: false,
            why: "a plugin that rewrote it could have the agent trust another broker",
        });
    }
    for key in &raw.trust.keys {
        protected.push(Protected {
            what: format!("[trust] keys entry {}", key.display()),
            path: resolve(key),
            is_dir: false,
            why: "a plugin that rewrote it could have its own code trusted",
        });
    }
    if let Some(file) = file {
        protected.push(Protected {
            what: "the config file".into(),
            path: file.to_path_buf(),
            is_dir: false,
            why: "a plugin could read it, or rewrite its own grants",
        });
    }
    protected
}

/// Refuses grants that reach a protected path or nest within one table
/// (the module documentation). `[device] certificate_dir` is checked even when no table
/// grants it yet: it exists to be granted.
pub(super) fn check_overlaps(
    mut protected: Vec<Protected>,
    [state_dir, plugin_dir]: [&Path; 2],
    certificate_dir: Option<&Path>,
    grants: &BTreeMap<String, Grants>,
    signer_grants: &BTreeMap<KeyId, Grants>,
) -> Result<(), ConfigError> {
    protected.push(Protected {
        what: "state_dir".into(),
        path: state_dir.to_path_buf(),
        is_dir: true,
        why: "the journal, the anti-rollback floors and the compiled cache (native code the \
              agent runs, and the key that authenticates it) live there",
    });
    protected.push(Protected {
        what: "plugin_dir".into(),
        path: plugin_dir.to_path_buf(),
        is_dir: true,
        why: "it decides which code the agent runs",
    });
    let mut tables: Vec<Vec<GrantPath<'_>>> = certificate_dir
        .map(|dir| {
            vec![GrantPath {
                what: "[device] certificate_dir".into(),
                host: dir,
            }]
        })
        .into_iter()
        .collect();
    tables.extend(
        grants
            .iter()
            .map(|(n, g)| GrantPath::table(&format!("plugins.{n}"), g)),
    );
    tables.extend(
        signer_grants
            .iter()
            .map(|(k, g)| GrantPath::table(&format!("signers.{k}"), g)),
    );
    check(&protected, &tables)
}

/// Refuses the first grant that reaches a protected path, and the first
/// pair of one table's grants that nest. `tables` lists each table's host
/// paths (its `dirs` and, when granted, the certificate store).
pub(super) fn check(
    protected: &[Protected],
    tables: &[Vec<GrantPath<'_>>],
) -> Result<(), ConfigError> {
    let protected: Vec<(&Protected, PathBuf)> =
        protected.iter().map(|p| (p, normalise(&p.path))).collect();
    for table in tables {
        let hosts: Vec<PathBuf> = table.iter().map(|g| normalise(g.host)).collect();
        for (grant, host) in table.iter().zip(&hosts) {
            for (p, path) in &protected {
                let reaches = path.starts_with(host) || (p.is_dir && host.starts_with(path));
                if reaches {
                    return Err(ConfigError::Overlap {
                        grant: format!("{} (host {})", grant.what, host.display()),
                        protected: format!("{} ({})", p.what, path.display()),
                        why: p.why.to_owned(),
                    });
                }
            }
        }
        for (i, (a, a_host)) in table.iter().zip(&hosts).enumerate() {
            for (b, b_host) in table.iter().zip(&hosts).skip(i + 1) {
                if a_host.starts_with(b_host) || b_host.starts_with(a_host) {
                    return Err(ConfigError::Overlap {
                        grant: format!("{} (host {})", a.what, a_host.display()),
                        protected: format!("{} (host {})", b.what, b_host.display()),
                        why: "WASI resolves each granted directory on its own, so the outer \
                              grant's access would apply inside the inner one; grant \
                              directories that do not contain each other"
                            .into(),
                    });
                }
            }
        }
    }
    Ok(())
}

/// `path` absolute, its longest existing prefix canonicalised (symlinks
/// resolved) and the rest lexically normalised (`.` dropped, `..` taking
/// off a component).
pub(super) fn normalise(path: &Path) -> PathBuf {
    let absolute = if path.is_absolute() {
        path.to_path_buf()
    } else {
        std::env::current_dir().unwrap_or_default().join(path)
    };
    let mut missing = Vec::new();
    let mut existing = absolute.as_path();
    let base = loop {
        if let Ok(real) = existing.canonicalize() {
            break real;
        }
        match (existing.parent(), existing.file_name()) {
            (Some(parent), Some(name)) => {
                missing.push(name.to_owned());
                existing = parent;
            }
            // Only `..` or the root is left: normalise the whole path.
            _ => {
                missing.clear();
                break lexical(&absolute);
            }
        }
    };
    let mut out = base;
    for name in missing.iter().rev() {
        out.push(name);
    }
    lexical(&out)
}

/// `.` dropped, `..` taking off the previous component (never above `/`).
fn lexical(path: &Path) -> PathBuf {
    let mut out = PathBuf::new();
    for c in path.components() {
        match c {
            Component::CurDir => {}
            Component::ParentDir => {
                out.pop();
            }
            other => out.push(other),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::runtime::DirGrant;

    fn protected(what: &str, path: &Path, is_dir: bool) -> Protected {
        Protected {
            what: what.into(),
            path: path.to_path_buf(),
            is_dir,
            why: "test",
        }
    }

    /// `check` with `dirs` as the one table `[plugins.p]`.
    fn check_dirs(protected: &[Protected], dirs: &[DirGrant]) -> Result<(), ConfigError> {
        let grants = Grants {
            dirs: dirs.to_vec(),
            ..Grants::default()
        };
        check(protected, &[GrantPath::table("plugins.p", &grants)])
    }

    fn grant(s: &str) -> DirGrant {
        s.parse().unwrap()
    }

    #[test]
    fn ancestors_descendants_and_equals_of_a_protected_dir_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        let state = dir.path().join("var/lib/jobhost");
        std::fs::create_dir_all(&state).unwrap();
        let p = [protected("state_dir", &state, true)];
        for host in ["var/lib", "var/lib/jobhost", "var/lib/jobhost/compiled", ""] {
            let g = grant(&format!("{}:/data", dir.path().join(host).display()));
            let err = check_dirs(&p, &[g]).unwrap_err().to_string();
            assert!(
                err.contains("[plugins.p] dirs entry") && err.contains("state_dir"),
                "{host}: {err}"
            );
        }
        let g = grant(&format!(
            "{}:/data",
            dir.path().join("var/lib/other").display()
        ));
        check_dirs(&p, &[g]).unwrap();
    }

    #[test]
    fn a_file_is_protected_from_grants_containing_it_only() {
        let dir = tempfile::tempdir().unwrap();
        let config = dir.path().join("etc/jobhost.toml");
        std::fs::create_dir_all(dir.path().join("etc/data")).unwrap();
        std::fs::write(&config, "").unwrap();
        let p = [protected("the config file", &config, false)];
        let g = grant(&format!("{}:/etc:ro", dir.path().join("etc").display()));
        let err = check_dirs(&p, &[g]).unwrap_err().to_string();
        assert!(err.contains("the config file"), "{err}");
        let g = grant(&format!("{}:/data", dir.path().join("etc/data").display()));
        check_dirs(&p, &[g]).unwrap();
    }

    #[test]
    fn symlinks_and_dot_dot_do_not_hide_an_overlap() {
        let dir = tempfile::tempdir().unwrap();
        let state = dir.path().join("state");
        std::fs::create_dir_all(&state).unwrap();
        std::os::unix::fs::symlink(&state, dir.path().join("innocent")).unwrap();
        let p = [protected("state_dir", &state, true)];
        for host in [
            "innocent",
            "innocent/sub",
            "other/../state",
            "not-yet/../state/x",
        ] {
            let g = grant(&format!("{}:/data", dir.path().join(host).display()));
            assert!(check_dirs(&p, &[g]).is_err(), "{host}");
        }
    }

    #[test]
    fn nested_grants_in_one_table_are_refused() {
        let err = check_dirs(
            &[],
            &[grant("/srv/a:/data"), grant("/srv/a/keys:/data/keys:ro")],
        )
        .unwrap_err()
        .to_string();
        assert!(
            err.contains("\"/srv/a:/data:rw\"") && err.contains("\"/srv/a/keys:/data/keys:ro\""),
            "{err}"
        );
        assert!(check_dirs(&[], &[grant("/srv/a:/a"), grant("/srv/ab:/ab")]).is_ok());
        assert!(
            check_dirs(&[], &[grant("/srv/a:/a"), grant("/srv/a:/b:ro")]).is_err(),
            "the same directory twice"
        );
    }

    /// A device directory with the broker's CA, the device's pair (the key
    /// in `key_dir`), and `jobhost.toml` made of `body`; loads it.
    fn load(
        key_dir: &str,
        body: &str,
    ) -> (tempfile::TempDir, Result<super::super::Config, ConfigError>) {
        let dir = tempfile::tempdir().unwrap();
        for d in ["certs", "private", "data", "tls"] {
            std::fs::create_dir_all(dir.path().join(d)).unwrap();
        }
        // A real pair: the config checks the certificate is for the key.
        let key = rcgen::KeyPair::generate().unwrap();
        let cert = rcgen::CertificateParams::new(vec!["t".into()])
            .unwrap()
            .self_signed(&key)
            .unwrap();
        std::fs::write(dir.path().join("tls/ca.pem"), cert.pem()).unwrap();
        std::fs::write(dir.path().join("certs/device.pem"), cert.pem()).unwrap();
        std::fs::write(
            dir.path().join(key_dir).join("device.key"),
            key.serialize_pem(),
        )
        .unwrap();
        let config = dir.path().join("jobhost.toml");
        std::fs::write(
            &config,
            format!(
                "thing_name = \"t\"\nstate_dir = \"state\"\nplugin_dir = \"plugins\"\n\
                 [broker]\nhost = \"h\"\nport = 8883\n\
                 [broker.tls]\nca = \"tls/ca.pem\"\ncert = \"certs/device.pem\"\n\
                 key = \"{key_dir}/device.key\"\n{body}"
            ),
        )
        .unwrap();
        let loaded = super::super::Config::load(&config);
        (dir, loaded)
    }

    /// Security review H2: the certificate store is a WASI preopen, so the
    /// private key must not be in it; such a config does not load, and the
    /// refusal names both paths.
    #[test]
    fn a_key_inside_the_certificate_dir_is_refused() {
        let grant = "[plugins.p]\ncertificates = \"ro\"\n";
        let (dir, loaded) = load(
            "certs",
            &format!("[device]\ncertificate_dir = \"certs\"\n{grant}"),
        );
        let err = loaded.unwrap_err().to_string();
        let certs = dir.path().canonicalize().unwrap().join("certs");
        assert!(
            err.contains("[device] certificate_dir")
                && err.contains(&format!(
                    "[broker.tls] key {}",
                    dir.path().join("certs/device.key").display()
                ))
                && err.contains(&certs.display().to_string())
                && err.contains("private key"),
            "{err}"
        );
        // Granted or not: certificate_dir exists to be granted.
        let (_dir, loaded) = load("certs", "[device]\ncertificate_dir = \"certs\"\n");
        assert!(loaded.is_err());
        // The documented layout: the key beside, not inside.
        let (_dir, loaded) = load(
            "private",
            &format!("[device]\ncertificate_dir = \"certs\"\n{grant}"),
        );
        loaded.unwrap();
    }

    /// Security review M8: grants stay off the key, the state, the plugins,
    /// the config file and the files it names.
    #[test]
    fn grants_reaching_the_agents_own_files_are_refused() {
        for (dirs, reached) in [
            ("private:/keys:ro", "[broker.tls] key"),
            ("tls:/tls:ro", "[broker.tls] ca"),
            (".:/all:ro", "[broker.tls] key"),
            ("state/compiled:/cache", "state_dir"),
            ("plugins:/plugins:ro", "plugin_dir"),
        ] {
            let (_dir, loaded) = load(
                "private",
                &format!("[signers.0123456789abcdef01234567]\ndirs = [\"{dirs}\"]\n"),
            );
            let err = loaded.unwrap_err().to_string();
            assert!(
                err.contains("[signers.0123456789abcdef01234567] dirs entry")
                    && err.contains(reached),
                "{dirs}: {err}"
            );
        }
        let (_dir, loaded) = load("private", "[plugins.p]\ndirs = [\"data:/data\"]\n");
        loaded.unwrap();
        let (dir, loaded) = load("private", "");
        loaded.unwrap();
        // The config file itself, when it is the only thing in reach.
        let conf = dir.path().join("conf");
        std::fs::create_dir_all(&conf).unwrap();
        let text = std::fs::read_to_string(dir.path().join("jobhost.toml")).unwrap();
        let text = text
            .replace("\"tls/", "\"../tls/")
            .replace("\"certs/", "\"../certs/")
            .replace("\"private/", "\"../private/")
            .replace("\"state\"", "\"../state\"")
            .replace("\"plugins\"", "\"../plugins\"");
        std::fs::write(
            conf.join("jobhost.toml"),
            format!("{text}[plugins.p]\ndirs = [\".:/conf:ro\"]\n"),
        )
        .unwrap();
        let err = super::super::Config::load(&conf.join("jobhost.toml"))
            .unwrap_err()
            .to_string();
        assert!(err.contains("the config file"), "{err}");
    }
}
