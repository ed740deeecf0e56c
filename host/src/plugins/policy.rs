//! Capabilities: what a plugin gets is what its signed manifest requests
//! AND what the operator's config grants it, nothing more. A signature says
//! who wrote the code; only the device's own policy says what it may touch.

use crate::config::Grants;
pub use crate::runtime::Resolution;
use crate::trust::Manifest;

/// Intersects `manifest`'s requests with `grants` (the config's
/// `[plugins.<name>]`; `None`: nothing granted), capability by capability:
/// each capability's `intersect`, walked by the registry
/// (`crate::runtime::admit`).
pub fn resolve(manifest: &Manifest, grants: Option<&Grants>) -> Resolution {
    let none = Grants::default();
    crate::runtime::admit(
        &manifest.capabilities,
        grants.unwrap_or(&none),
        &manifest.name,
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::runtime::{CommandGrant, DownloadGrant};

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
            ..Grants::default()
        }
    }

    fn command_grants(programs: &[&str]) -> Grants {
        Grants {
            command: Some(CommandGrant {
                timeout: std::time::Duration::from_secs(7),
                output_bytes: 99,
                ..CommandGrant::new(programs.iter().map(|p| (*p).to_owned()).collect())
            }),
            ..Grants::default()
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

    #[test]
    fn a_wildcard_request_gets_exactly_the_operators_list() {
        let m = manifest("run_command = [\"*\"]\n");
        let g = command_grants(&["/bin/echo", "/usr/bin/uptime"]);
        let r = resolve(&m, Some(&g));
        assert!(r.denied.is_empty(), "{:?}", r.denied);
        assert_eq!(
            r.sandbox.command.unwrap().programs,
            vec!["/bin/echo", "/usr/bin/uptime"]
        );
        let r = resolve(&m, Some(&grants(&[], false)));
        assert!(r.sandbox.command.is_none() && !r.denied.is_empty());
    }

    #[test]
    fn reboot_needs_both_the_request_and_the_grant() {
        let asks = manifest("reboot = true\n");
        let granted = Grants {
            reboot: true,
            ..grants(&[], false)
        };
        assert!(resolve(&asks, Some(&granted)).sandbox.reboot);
        let r = resolve(&asks, Some(&grants(&[], false)));
        assert!(
            !r.sandbox.reboot && r.denied[0].starts_with("reboot"),
            "{:?}",
            r.denied
        );
        assert!(
            !resolve(&manifest(""), Some(&granted)).sandbox.reboot,
            "not requested"
        );
    }

    #[test]
    fn diagnostics_and_upload_need_the_request_and_the_grant() {
        use crate::runtime::UploadGrant;
        let asks = manifest("diagnostics = true\nupload = true\n");
        let granted = Grants {
            diagnostics: true,
            upload: Some(UploadGrant::new(vec!["fleet.example.com".into()])),
            ..Grants::default()
        };
        let r = resolve(&asks, Some(&granted));
        assert!(r.denied.is_empty(), "{:?}", r.denied);
        assert!(r.sandbox.diagnostics);
        assert_eq!(
            r.sandbox.upload.map(|u| u.hosts),
            Some(vec!["fleet.example.com".to_owned()])
        );

        // Requested, not granted: withheld and named (an install refusal).
        let r = resolve(&asks, Some(&Grants::default()));
        assert!(!r.sandbox.diagnostics && r.sandbox.upload.is_none());
        assert_eq!(
            r.denied,
            [
                "diagnostics: not granted (diagnostics = true in [plugins.p])",
                "upload: no upload_hosts in [plugins.p]"
            ]
        );
        assert!(!resolve(&asks, None).sandbox.diagnostics);

        // Granted, not requested: nothing.
        let r = resolve(&manifest(""), Some(&granted));
        assert!(!r.sandbox.diagnostics && r.sandbox.upload.is_none() && r.denied.is_empty());
    }

    #[test]
    fn manifests_without_the_new_capabilities_keep_their_json() {
        let json = String::from_utf8(manifest("download = true\n").to_json()).unwrap();
        assert!(
            !json.contains("diagnostics") && !json.contains("upload"),
            "{json}"
        );
        let asks = manifest("diagnostics = true\nupload = true\n");
        let back = Manifest::from_json(&asks.to_json()).unwrap();
        assert!(back.capabilities.diagnostics && back.capabilities.upload);
    }

    #[test]
    fn commands_are_the_intersection_of_requests_and_grants() {
        let m = manifest("run_command = [\"/usr/bin/systemctl\", \"echo\"]\n");
        let g = command_grants(&["/usr/bin/systemctl", "/bin/echo", "/bin/sh"]);
        let r = resolve(&m, Some(&g));
        assert!(r.denied.is_empty(), "{:?}", r.denied);
        let c = r.sandbox.command.unwrap();
        assert_eq!(
            c.programs,
            ["/usr/bin/systemctl", "/bin/echo"],
            "a bare name becomes the listed path; the unrequested /bin/sh is not given"
        );
        assert_eq!(
            (c.timeout.as_secs(), c.output_bytes),
            (7, 99),
            "the operator's caps"
        );

        // Granted but not requested: nothing.
        let r = resolve(&manifest(""), Some(&g));
        assert!(r.sandbox.command.is_none() && r.denied.is_empty());
    }

    #[test]
    fn ungranted_commands_are_denied_one_by_one() {
        let m = manifest(
            "run_command = [\"/usr/bin/systemctl\", \"/bin/sh\", \"/usr/bin/../bin/systemctl\", \"echo\"]\n",
        );
        let g = command_grants(&["/usr/bin/systemctl", "/bin/echo", "/usr/bin/echo"]);
        let r = resolve(&m, Some(&g));
        let denied = r.denied.join("; ");
        assert_eq!(r.denied.len(), 3, "{denied}");
        for part in [
            "run_command /bin/sh: program \"/bin/sh\" is not on",
            "run_command /usr/bin/../bin/systemctl",
            "run_command echo: program \"echo\" could be any of /bin/echo, /usr/bin/echo",
        ] {
            assert!(denied.contains(part), "{part} missing from {denied}");
        }
        assert_eq!(
            r.sandbox.command.unwrap().programs,
            ["/usr/bin/systemctl"],
            "what is granted still is"
        );

        // No run_commands at all: every request is named.
        let r = resolve(&m, Some(&grants(&[], false)));
        assert_eq!(r.denied.len(), 4);
        assert!(r.denied[0].contains("no run_commands in [plugins.p]"));
        assert!(r.sandbox.command.is_none());
        assert!(resolve(&m, None).sandbox.command.is_none());
    }
}
