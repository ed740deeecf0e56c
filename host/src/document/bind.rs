//! What only the chosen plugin's grants can settle about a translated
//! document: where its device paths are in the plugin's view, and whether
//! the programs it names may run at all.
//!
//! Documents written for other agents name directories on the device
//! (`"directory": "/installs"`), because those agents write anywhere their
//! user may. A jobhost plugin sees only the directories the operator
//! granted it, under the names it asked for (`/downloads`), so each device
//! path is expressed in that view here, and a path outside every grant
//! REJECTS the job with the grant that would allow it — the same rule as
//! for any download, said before anything is fetched. A path already
//! written in the plugin's view (`/downloads/fw.bin`, as native and Device
//! Client documents for jobhost write it) is kept. A relative path is
//! taken inside the plugin's first granted directory.

use super::Routed;
use crate::runtime::{CommandGrant, DirGrant};
use serde_json::Value;
use std::path::{Component, Path, PathBuf};

/// A place in a routed document (a JSON pointer) that holds a device
/// path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DevicePath {
    /// Where the path is; replaced by the plugin's view of it.
    at: &'static str,
    /// Where to write the device path as well, for a plugin that passes it
    /// to a program outside the sandbox.
    device_copy: Option<&'static str>,
}

impl DevicePath {
    /// The path at `at`.
    pub(super) fn new(at: &'static str) -> Self {
        Self {
            at,
            device_copy: None,
        }
    }

    /// The path at `at`, also written as the device sees it at
    /// `device_copy`.
    pub(super) fn with_device_copy(at: &'static str, device_copy: &'static str) -> Self {
        Self {
            at,
            device_copy: Some(device_copy),
        }
    }
}

/// The chosen plugin, as far as binding needs it.
#[derive(Debug, Clone, Copy)]
pub struct Target<'a> {
    /// Its name, for the `[plugins.<name>]` the messages point to.
    pub name: &'a str,
    /// The directories its manifest asks for (guest paths).
    pub requested: &'a [&'a str],
    /// The directories it was granted.
    pub dirs: &'a [DirGrant],
    /// Its run-command grant.
    pub command: Option<&'a CommandGrant>,
}

/// Binds `routed`'s device paths and programs to `plugin`; `Err` is the
/// job's REJECTED reason.
pub fn bind(routed: &mut Routed, plugin: Target<'_>) -> Result<(), String> {
    for program in &routed.programs {
        let granted = plugin.command.map(|c| c.program_for(program));
        match granted {
            Some(Ok(_)) => {}
            Some(Err(refused)) => {
                return Err(format!(
                    "{refused}{}: add its absolute path to run_commands in [plugins.{}] to \
                     let jobs launch it",
                    routed.origin(),
                    plugin.name
                ))
            }
            None => {
                return Err(format!(
                    "program {program:?}{} cannot run: plugin `{}` is granted no programs \
                     (run_commands in [plugins.{}])",
                    routed.origin(),
                    plugin.name,
                    plugin.name
                ))
            }
        }
    }
    for place in &routed.paths {
        let Some(Value::String(written)) = routed.document.pointer(place.at) else {
            continue;
        };
        let (guest, device) = resolve(written, plugin)?;
        if let Some(slot) = routed.document.pointer_mut(place.at) {
            *slot = Value::from(guest);
        }
        if let Some(copy) = place.device_copy {
            let key = copy.trim_start_matches('/');
            if let Some(object) = routed.document.as_object_mut() {
                object.insert(key.to_owned(), Value::from(device.display().to_string()));
            }
        }
    }
    Ok(())
}

/// (the plugin's path, the device's path) for `written`.
fn resolve(written: &str, plugin: Target<'_>) -> Result<(String, PathBuf), String> {
    let path = normal(written)?;
    if path.is_relative() {
        let Some(base) = plugin.dirs.iter().find(|d| !d.read_only) else {
            return Err(outside(written, plugin));
        };
        return Ok((guest_join(&base.guest, &path), host_join(&base.host, &path)));
    }
    // The device's view first: documents for other agents name device
    // paths. The longest granted directory containing it wins.
    let on_device = plugin
        .dirs
        .iter()
        .filter_map(|d| path.strip_prefix(&d.host).ok().map(|rest| (d, rest)))
        .max_by_key(|(d, _)| d.host.components().count());
    if let Some((grant, rest)) = on_device {
        return Ok((guest_join(&grant.guest, rest), path.clone()));
    }
    let in_view = plugin
        .dirs
        .iter()
        .filter_map(|d| path.strip_prefix(&d.guest).ok().map(|rest| (d, rest)))
        .max_by_key(|(d, _)| Path::new(&d.guest).components().count());
    match in_view {
        Some((grant, rest)) => Ok((path.display().to_string(), host_join(&grant.host, rest))),
        None => Err(outside(written, plugin)),
    }
}

/// `written` without `.` components or repeated `/`; `..` is refused,
/// since it could climb out of whatever directory it is resolved in.
fn normal(written: &str) -> Result<PathBuf, String> {
    let mut path = PathBuf::new();
    for component in Path::new(written).components() {
        match component {
            Component::RootDir => path.push("/"),
            Component::CurDir => {}
            Component::Normal(part) => path.push(part),
            Component::ParentDir | Component::Prefix(_) => {
                return Err(format!(
                    "the path {written:?} contains `..`: name the directory itself"
                ))
            }
        }
    }
    Ok(path)
}

/// `host/rest`, without the trailing `/` `Path::join` leaves for an
/// empty `rest`.
fn host_join(host: &Path, rest: &Path) -> PathBuf {
    match rest.as_os_str().is_empty() {
        true => host.to_path_buf(),
        false => host.join(rest),
    }
}

fn guest_join(guest: &str, rest: &Path) -> String {
    let base = guest.trim_end_matches('/');
    match rest.as_os_str().is_empty() {
        true if base.is_empty() => "/".into(),
        true => base.to_owned(),
        false => format!("{base}/{}", rest.display()),
    }
}

/// The REJECTED reason for a path no grant contains, with the grant that
/// would allow it.
fn outside(written: &str, plugin: Target<'_>) -> String {
    let granted: Vec<String> = plugin
        .dirs
        .iter()
        .map(|d| format!("{} (as {})", d.host.display(), d.guest))
        .collect();
    let granted = match granted.as_slice() {
        [] => "none".to_owned(),
        some => some.join(", "),
    };
    let example = match (plugin.requested.first(), Path::new(written).is_absolute()) {
        (Some(guest), true) => format!(
            ": grant it in the agent config, e.g. [plugins.{}] dirs = [\"{}:{guest}\"]",
            plugin.name,
            Path::new(written)
                .parent()
                .unwrap_or(Path::new("/"))
                .display()
        ),
        (Some(guest), false) => format!(
            ": grant a directory for {guest} in [plugins.{}] dirs",
            plugin.name
        ),
        (None, _) => ": grant it a directory that contains it".to_owned(),
    };
    format!(
        "{written:?} is outside the directories granted to plugin `{}` (granted: {granted}){example}",
        plugin.name
    )
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use crate::document::Shape;
    use serde_json::json;

    fn grant(host: &str, guest: &str) -> DirGrant {
        DirGrant {
            host: host.into(),
            guest: guest.into(),
            read_only: false,
        }
    }

    fn routed(document: Value, paths: Vec<DevicePath>) -> Routed {
        let mut r = Routed::translated("op", document, Shape::ReferenceArchitecture);
        r.paths = paths;
        r
    }

    fn plugin<'a>(dirs: &'a [DirGrant], command: Option<&'a CommandGrant>) -> Target<'a> {
        Target {
            name: "download-file",
            requested: &["/downloads"],
            dirs,
            command,
        }
    }

    #[test]
    fn device_paths_become_the_plugins_view_of_them() {
        let dirs = [
            grant("/var/lib/data", "/downloads"),
            grant("/var/lib/data/deep", "/deep"),
        ];
        let cases = [
            (
                "/var/lib/data/fw.bin",
                "/downloads/fw.bin",
                "/var/lib/data/fw.bin",
            ),
            ("/var/lib/data", "/downloads", "/var/lib/data"),
            // The longest grant wins.
            ("/var/lib/data/deep/x", "/deep/x", "/var/lib/data/deep/x"),
            // Already in the plugin's view: kept.
            ("/downloads/a/b", "/downloads/a/b", "/var/lib/data/a/b"),
            // Relative: inside the first granted directory.
            ("app", "/downloads/app", "/var/lib/data/app"),
            (".", "/downloads", "/var/lib/data"),
            ("//var/lib/./data//x", "/downloads/x", "/var/lib/data/x"),
        ];
        for (written, guest, device) in cases {
            let mut r = routed(
                json!({"p": written}),
                vec![DevicePath::with_device_copy("/p", "/d")],
            );
            bind(&mut r, plugin(&dirs, None)).unwrap();
            assert_eq!(r.document, json!({"p": guest, "d": device}), "{written}");
        }
    }

    #[test]
    fn a_path_outside_every_grant_is_refused_with_the_grant_that_allows_it() {
        let dirs = [grant("/var/lib/data", "/downloads")];
        let mut r = routed(
            json!({"destination": "/installs/sample_file"}),
            vec![DevicePath::new("/destination")],
        );
        let reason = bind(&mut r, plugin(&dirs, None)).unwrap_err();
        assert!(
            reason.contains("\"/installs/sample_file\" is outside the directories granted to plugin `download-file` (granted: /var/lib/data (as /downloads))")
                && reason.contains("[plugins.download-file] dirs = [\"/installs:/downloads\"]"),
            "{reason}"
        );
        // Nothing granted: a relative path has nowhere to go either.
        let mut r = routed(json!({"p": "x"}), vec![DevicePath::new("/p")]);
        let reason = bind(&mut r, plugin(&[], None)).unwrap_err();
        assert!(reason.contains("(granted: none)"), "{reason}");
        // `..` never resolves.
        let mut r = routed(
            json!({"p": "/var/lib/data/../../etc"}),
            vec![DevicePath::new("/p")],
        );
        let reason = bind(&mut r, plugin(&dirs, None)).unwrap_err();
        assert!(reason.contains("contains `..`"), "{reason}");
        // A prefix of a name is not a parent directory.
        let mut r = routed(
            json!({"p": "/var/lib/database"}),
            vec![DevicePath::new("/p")],
        );
        assert!(bind(&mut r, plugin(&dirs, None)).is_err());
    }

    #[test]
    fn named_programs_must_be_on_the_allow_list() {
        let grant = CommandGrant::new(vec!["/usr/bin/node".into()]);
        let mut r = routed(json!({}), vec![]);
        r.programs = vec!["node".into()];
        bind(&mut r, plugin(&[], Some(&grant))).unwrap();
        r.programs = vec!["/usr/bin/python3".into()];
        let reason = bind(&mut r, plugin(&[], Some(&grant))).unwrap_err();
        assert!(
            reason.contains("\"/usr/bin/python3\" is not on this plugin's run-command allow-list")
                && reason.contains("run_commands in [plugins.download-file]"),
            "{reason}"
        );
        let reason = bind(&mut r, plugin(&[], None)).unwrap_err();
        assert!(reason.contains("is granted no programs"), "{reason}");
    }
}
