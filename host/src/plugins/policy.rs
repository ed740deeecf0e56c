//! Capabilities: what a plugin gets is what its signed manifest requests
//! AND what the operator's config grants it, nothing more. A signature says
//! who wrote the code; only the device's own policy says what it may touch.

use crate::config::Grants;
use crate::runtime::{DirGrant, Sandbox};
use crate::trust::{Access, Manifest};

/// The sandbox a plugin runs in, and each request the policy does not
/// grant (in words, for the install refusal or the load warning).
#[derive(Debug)]
pub struct Resolution {
    /// Requests ∩ grants.
    pub sandbox: Sandbox,
    /// What was requested but not granted, e.g.
    /// "directory /data (read-write): not granted".
    pub denied: Vec<String>,
}

/// Intersects `manifest`'s requests with `grants` (the config's
/// `[plugins.<name>]`; `None`: nothing granted).
pub fn resolve(manifest: &Manifest, grants: Option<&Grants>) -> Resolution {
    let none = Grants::default();
    let grants = grants.unwrap_or(&none);
    let caps = &manifest.capabilities;
    let mut denied = Vec::new();
    let mut dirs = Vec::new();
    for request in &caps.dirs {
        let wanted = request.path.trim_end_matches('/');
        let access = match request.access {
            Access::Ro => "read-only",
            Access::Rw => "read-write",
        };
        match grants
            .dirs
            .iter()
            .find(|g| g.guest.trim_end_matches('/') == wanted)
        {
            None => denied.push(format!(
                "directory {} ({access}): not granted in [plugins.{}] dirs",
                request.path, manifest.name
            )),
            Some(g) => {
                let read_only = g.read_only || request.access == Access::Ro;
                if request.access == Access::Rw && g.read_only {
                    denied.push(format!(
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
    let download = match (caps.download, &grants.download) {
        (true, Some(grant)) => Some(grant.clone()),
        (true, None) => {
            denied.push(format!(
                "download: no download_hosts in [plugins.{}]",
                manifest.name
            ));
            None
        }
        (false, _) => None,
    };
    // This host version grants neither: the imports are deny-by-default.
    for program in &caps.run_command {
        denied.push(format!("run_command {program}: not granted on this device"));
    }
    if caps.reboot {
        denied.push("reboot: not granted on this device".into());
    }
    Resolution {
        sandbox: Sandbox { dirs, download },
        denied,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::runtime::DownloadGrant;

    fn manifest(caps: &str) -> Manifest {
        Manifest::from_toml(&format!(
            "name = \"p\"\nversion = \"1.0.0\"\noperations = [\"p\"]\n\
             wit = \"jobhost:plugin/operation-plugin@0.1.0\"\n[capabilities]\n{caps}"
        ))
        .unwrap()
    }

    fn grants(dirs: &[&str], download: bool) -> Grants {
        Grants {
            dirs: dirs.iter().map(|d| d.parse().unwrap()).collect(),
            download: download.then(|| DownloadGrant {
                hosts: vec!["h".into()],
                allow_http: false,
            }),
        }
    }

    #[test]
    fn only_what_is_both_requested_and_granted() {
        let m = manifest("dirs = [{ path = \"/data\", access = \"rw\" }]\ndownload = true\n");
        let r = resolve(&m, Some(&grants(&["/srv/d:/data", "/etc:/etc:ro"], true)));
        assert!(r.denied.is_empty(), "{:?}", r.denied);
        assert_eq!(
            r.sandbox.dirs.len(),
            1,
            "the unrequested /etc grant is not given"
        );
        assert!(!r.sandbox.dirs[0].read_only);
        assert!(r.sandbox.download.is_some());

        // Granted but not requested: nothing.
        let r = resolve(&manifest(""), Some(&grants(&["/srv/d:/data"], true)));
        assert!(r.sandbox.dirs.is_empty() && r.sandbox.download.is_none());
    }

    #[test]
    fn ungranted_requests_are_named_and_withheld() {
        let m = manifest(
            "dirs = [{ path = \"/data\", access = \"rw\" }, { path = \"/logs\" }]\n\
             download = true\nreboot = true\nrun_command = [\"/bin/sh\"]\n",
        );
        let r = resolve(&m, Some(&grants(&["/srv/d:/data:ro"], false)));
        let denied = r.denied.join("; ");
        for part in [
            "/data (read-write): granted read-only",
            "/logs (read-only): not granted",
            "download",
            "reboot",
            "run_command /bin/sh",
        ] {
            assert!(denied.contains(part), "{part} missing from {denied}");
        }
        assert!(
            r.sandbox.dirs[0].read_only,
            "a read-only grant stays read-only"
        );
        assert!(r.sandbox.download.is_none());
        assert_eq!(resolve(&m, None).sandbox.dirs.len(), 0);
    }
}
