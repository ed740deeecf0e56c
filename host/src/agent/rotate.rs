//! A plugin's certificate rotation, after the run (`certificates.install`):
//!
//! ```text
//! Running ──plugin returns ok after install──▶ journal {rotating, sha256 of the old cert}
//!   ──▶ swap: cert → cert.prev, key → key.prev (copies), cert.next → cert, key.next → key
//!   ──▶ reconnect with the new pair ──▶ Rotating (waiting for the broker)
//! Rotating ──CONNACK accepted──▶ Reporting SUCCEEDED (over the new connection)
//! Rotating ──connection refused / no answer in ROTATION_TIMEOUT──▶ restore cert.prev/key.prev,
//!   reconnect with them ──▶ Reporting FAILED "the broker refused the new certificate: …"
//! ```
//!
//! Every file replacement is a rename of a fully written, fsynced file, and
//! the directory is fsynced after it, so the certificate and key paths
//! always hold a complete file. The previous pair is kept as `.prev` (one
//! generation) for the operator.
//!
//! A crash between the journal entry and the report is resolved at the next
//! start ([`recover`]): the previous pair is the one the broker is known to
//! accept, so whenever the files on disk are not the previous pair the
//! agent puts it back before connecting, and the execution then ends
//! FAILED ("the agent stopped during the rotation"). That also covers a
//! rotation the broker had accepted but whose SUCCEEDED was not yet
//! journaled: the safe choice is the certificate that certainly works, and
//! the operator runs the job again.

use super::actor::{Actor, Current, State};
use super::journal::{Journal, RotationEntry};
use crate::config::Config;
use crate::executor::Report;
use crate::runtime::imports::certificates::{
    pair_matches, with_suffix, write_file, CERT_MODE, KEY_MODE, MAX_CERTIFICATE_RESPONSE_BYTES,
    NEXT, PREV,
};
use crate::runtime::CertificateTarget;
use jobhost_protocol::{StatusDetails, TerminalStatus};
use sha2::{Digest, Sha256};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};
use zeroize::Zeroizing;

/// How long the broker gets to accept the new certificate before the agent
/// gives up on it and goes back to the previous one. The connection task
/// reports a refusal (TLS alert, CONNACK error) well within this; the
/// timeout covers a broker that never answers at all.
pub(super) const ROTATION_TIMEOUT: Duration = Duration::from_secs(30);

/// Where a rotation stands.
#[derive(Debug)]
pub(crate) struct Phase {
    /// When the agent reconnected with the new pair.
    since: Instant,
    /// What SUCCEEDED will report.
    details: StatusDetails,
}

/// The certificate and key files of `[broker.tls]`.
struct Files {
    cert: PathBuf,
    key: PathBuf,
}

impl Files {
    fn of(config: &Config) -> Option<Self> {
        let (cert, key) = config.broker.tls.as_ref()?.client_files.clone()?;
        Some(Self { cert, key })
    }
}

/// Largest certificate or key file the rotation reads: a PEM chain is a
/// few KiB; the limit is the one the CSR endpoint's answer has.
const MAX_PEM_BYTES: u64 = MAX_CERTIFICATE_RESPONSE_BYTES as u64;

/// Reads one of the rotation's files: a regular file only, never through a
/// symlink. A plugin granted `certificates = "rw"` can plant `device.pem ->
/// ../../etc/shadow`; following it would copy the target into `.prev`
/// (security review H3). Nothing the agent did not itself read as a
/// regular file is ever copied.
fn read_pem(path: &Path) -> Result<Vec<u8>, String> {
    crate::durable::read_regular_file(path, MAX_PEM_BYTES)
        .map_err(|e| format!("cannot read {}: {e}", path.display()))
}

fn sha256_of(path: &Path) -> Result<String, String> {
    read_pem(path).map(|b| hex::encode(Sha256::digest(&b)))
}

fn read_key(path: &Path) -> Result<Zeroizing<String>, String> {
    let bytes = Zeroizing::new(read_pem(path)?);
    std::str::from_utf8(&bytes)
        .map(|s| Zeroizing::new(s.to_owned()))
        .map_err(|_| format!("{} is not a PEM key", path.display()))
}

/// Why [`swap`] did not install the staged pair.
#[derive(Debug)]
enum SwapError {
    /// Refused before anything on disk changed: the current pair is in
    /// place and `.prev` (perhaps an older generation) must not be put back.
    Untouched(String),
    /// Failed part-way: the `.prev` pair just written must be put back.
    Partial(String),
}

/// Installs the staged pair: keeps the current one as `.prev`, then
/// replaces the current files with the staged content. Everything is read
/// (as regular files) and checked before the first write, and what is
/// written is the bytes read, never a rename of a file the plugin could
/// have swapped for a symlink. Returns the new certificate's details.
fn swap(files: &Files) -> Result<StatusDetails, SwapError> {
    let (next_cert, next_key) = (
        with_suffix(&files.cert, NEXT),
        with_suffix(&files.key, NEXT),
    );
    let untouched = SwapError::Untouched;
    let cert_pem = read_pem(&next_cert).map_err(untouched)?;
    let key_pem = read_key(&next_key).map_err(untouched)?;
    let parsed = pair_matches(&cert_pem, &key_pem).map_err(|e| {
        untouched(format!(
            "the staged certificate and key do not belong together: {e}"
        ))
    })?;
    let old_cert = read_pem(&files.cert).map_err(untouched)?;
    let old_key = read_key(&files.key).map_err(untouched)?;
    let write = |path: &Path, bytes: &[u8], mode| {
        write_file(path, bytes, mode)
            .map_err(|e| SwapError::Partial(format!("cannot write {}: {e}", path.display())))
    };
    write(&with_suffix(&files.cert, PREV), &old_cert, CERT_MODE)?;
    write(&with_suffix(&files.key, PREV), old_key.as_bytes(), KEY_MODE)?;
    write(&files.cert, &cert_pem, CERT_MODE)?;
    write(&files.key, key_pem.as_bytes(), KEY_MODE)?;
    for staged in [&next_cert, &next_key] {
        // Installed already: a leftover only costs a later create-csr a
        // removal, so it is logged, not a failure.
        if let Err(e) =
            std::fs::remove_file(staged).and_then(|()| crate::durable::sync_parent(staged))
        {
            tracing::warn!(target: "agent", "cannot remove {}: {e}", staged.display());
        }
    }
    let mut details = StatusDetails::new();
    details.insert("subject", &parsed.info.subject);
    details.insert("serial", &parsed.info.serial);
    details.insert("notAfter", &parsed.info.not_after);
    details.insert("fingerprint", &parsed.info.sha256_fingerprint);
    Ok(details)
}

/// Puts the `.prev` pair back in place (the `.prev` files stay).
fn restore(files: &Files) -> Result<(), String> {
    let (prev_cert, prev_key) = (
        with_suffix(&files.cert, PREV),
        with_suffix(&files.key, PREV),
    );
    let cert = read_pem(&prev_cert)?;
    let key = read_key(&prev_key)?;
    write_file(&files.key, key.as_bytes(), KEY_MODE)
        .and_then(|()| write_file(&files.cert, &cert, CERT_MODE))
        .map_err(|e| format!("cannot restore the previous certificate: {e}"))
}

/// The config's broker options with the client certificate and key read
/// from disk again (as they are now).
fn options_from_disk(config: &Config, files: &Files) -> Result<rumqttc::MqttOptions, String> {
    let mut broker = config.broker.clone();
    let cert = read_pem(&files.cert)?;
    let key = read_pem(&files.key)?;
    if let Some(tls) = broker.tls.as_mut() {
        tls.client_auth = Some((cert, key));
    }
    Ok(crate::jobs::mqtt_options(&broker))
}

/// At start, before connecting: if the journal says a rotation was under
/// way, makes sure the pair on disk is the previous one (see the module
/// documentation) and reloads it into `config`. The journal entry stays, so
/// that the execution, when it comes back, ends FAILED.
pub(super) fn recover(config: &mut Config, journal: &Journal) {
    let Some(entry) = journal
        .state()
        .running
        .as_ref()
        .and_then(|r| r.rotation.clone())
    else {
        return;
    };
    let Some(files) = Files::of(config) else {
        return;
    };
    let prev = with_suffix(&files.cert, PREV);
    let current = sha256_of(&files.cert).ok();
    if current.as_deref() == Some(entry.previous_sha256.as_str()) {
        // Not swapped yet, or already restored: the key must match too.
        let matches = read_pem(&files.cert)
            .ok()
            .zip(read_key(&files.key).ok())
            .is_some_and(|(c, k)| pair_matches(&c, &k).is_ok());
        if matches {
            tracing::warn!(target: "agent", "the agent stopped during a certificate rotation; the previous certificate is still in place");
            return;
        }
    }
    if sha256_of(&prev).ok().as_deref() != Some(entry.previous_sha256.as_str()) {
        tracing::error!(target: "agent", "the agent stopped during a certificate rotation and {} is not the previous certificate; leaving the files as they are", prev.display());
        return;
    }
    match restore(&files) {
        Ok(()) => {
            tracing::warn!(target: "agent", "the agent stopped during a certificate rotation; the previous certificate is back in use");
            let reread = read_pem(&files.cert).ok().zip(read_pem(&files.key).ok());
            if let (Some(tls), Some(pair)) = (config.broker.tls.as_mut(), reread) {
                tls.client_auth = Some(pair);
            }
        }
        Err(e) => tracing::error!(target: "agent", "certificate rotation recovery: {e}"),
    }
}

/// The reason a resumed execution fails with after [`recover`].
pub(super) const INTERRUPTED: &str = "the agent stopped during the certificate rotation; \
     the previous certificate is in use (run the job again to rotate)";

impl Actor {
    /// What the `certificates` interface acts on, when the agent connects
    /// with a client certificate.
    pub(super) fn certificate_target(&self) -> Option<CertificateTarget> {
        let files = Files::of(&self.config)?;
        Some(CertificateTarget {
            thing_name: self.config.thing_name.clone(),
            cert: files.cert,
            key: files.key,
        })
    }

    /// The plugin returned `ok` after `certificates.install`: journal, swap
    /// the files, reconnect with the new pair.
    pub(super) fn rotate_certificate(&mut self, current: Current, outcome: StatusDetails) {
        let fail = |this: &mut Self, current: &Current, why: String| {
            tracing::error!(target: "agent", job_id = %current.job_id, "{why}");
            let report = Report::failure(TerminalStatus::Failed, &why, StatusDetails::new());
            this.report(current.job_id.clone(), current.execution_number, report);
        };
        let Some(files) = Files::of(&self.config) else {
            return fail(
                self,
                &current,
                "certificate installation requested, but this agent has no [broker.tls] cert and key"
                    .into(),
            );
        };
        let previous_sha256 = match sha256_of(&files.cert) {
            Ok(sha) => sha,
            Err(e) => return fail(self, &current, e),
        };
        if let Err(e) = self.journal_update(|s| {
            if let Some(r) = s.running.as_mut() {
                r.rotation = Some(RotationEntry { previous_sha256 });
            }
        }) {
            // Without the journal a crash mid-swap could not be undone.
            return fail(self, &current, format!("cannot journal the rotation: {e}"));
        }
        let installed = match swap(&files) {
            Ok(details) => details,
            Err(SwapError::Untouched(why)) => {
                return fail(
                    self,
                    &current,
                    format!(
                        "cannot install the new certificate: {why}; nothing was changed, \
                         the current certificate is in use"
                    ),
                );
            }
            Err(SwapError::Partial(why)) => {
                let undone = match restore(&files) {
                    Ok(()) => "the previous certificate is in use".to_owned(),
                    Err(e) => e,
                };
                return fail(
                    self,
                    &current,
                    format!("cannot install the new certificate: {why}; {undone}"),
                );
            }
        };
        let options = match options_from_disk(&self.config, &files) {
            Ok(o) => o,
            Err(why) => return self.roll_back(current, why),
        };
        if let Err(why) = self.mqtt.reconnect(options) {
            return self.roll_back(current, why);
        }
        let mut details = outcome;
        for (k, v) in installed.iter() {
            details.insert(k, v);
        }
        tracing::warn!(target: "agent", job_id = %current.job_id, "new certificate installed; reconnecting with it");
        self.state = State::Rotating {
            current,
            phase: Phase {
                since: Instant::now(),
                details,
            },
        };
    }

    /// Connected: with the new certificate when rotating (report
    /// SUCCEEDED, over this connection). `false` when not rotating.
    pub(super) fn on_rotation_connected(&mut self) -> bool {
        let State::Rotating { .. } = &self.state else {
            return false;
        };
        let State::Rotating { current, phase } = std::mem::replace(&mut self.state, State::Idle)
        else {
            return false;
        };
        tracing::info!(target: "agent", job_id = %current.job_id, "the broker accepted the new certificate");
        let report = Report {
            status: TerminalStatus::Succeeded,
            status_details: phase.details,
        };
        self.report(current.job_id, current.execution_number, report);
        true
    }

    /// The connection failed: with the new certificate when rotating. A
    /// broker that is only `busy` (taking over the previous connection of
    /// the same client id) has not judged the certificate: the connection
    /// task tries again, within [`ROTATION_TIMEOUT`].
    pub(super) fn on_rotation_disconnected(&mut self, why: &str, busy: bool) {
        if let State::Rotating { current, .. } = &self.state {
            if busy {
                tracing::info!(target: "agent", job_id = %current.job_id, "the broker is busy ({why}); trying the new certificate again");
                return;
            }
            let current = current.clone();
            self.roll_back(
                current,
                format!("the broker refused the new certificate: {why}"),
            );
        }
    }

    /// Called on every tick: a broker that never answered.
    pub(super) fn check_rotation_timeout(&mut self) {
        if let State::Rotating { current, phase } = &self.state {
            if phase.since.elapsed() >= ROTATION_TIMEOUT {
                let current = current.clone();
                self.roll_back(
                    current,
                    format!(
                        "the broker did not accept the new certificate within {} s",
                        ROTATION_TIMEOUT.as_secs()
                    ),
                );
            }
        }
    }

    /// Restores the previous pair, reconnects with it, and reports FAILED
    /// (sent once the connection is back: `Reporting` resends on connect).
    fn roll_back(&mut self, current: Current, why: String) {
        let reason = match Files::of(&self.config)
            .ok_or_else(|| "no [broker.tls] files".to_owned())
            .and_then(|files| {
                restore(&files)?;
                let options = options_from_disk(&self.config, &files)?;
                self.mqtt.reconnect(options)
            }) {
            Ok(()) => format!("{why}; the previous certificate is back in use"),
            Err(e) => format!("{why}; restoring the previous certificate failed: {e}"),
        };
        tracing::error!(target: "agent", job_id = %current.job_id, "{reason}");
        let report = Report::failure(TerminalStatus::Failed, &reason, StatusDetails::new());
        self.report(current.job_id, current.execution_number, report);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pair(name: &str) -> (String, String) {
        let key = rcgen::KeyPair::generate().unwrap();
        let mut params = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
        params
            .distinguished_name
            .push(rcgen::DnType::CommonName, name);
        let cert = params.self_signed(&key).unwrap().pem();
        (cert, key.serialize_pem())
    }

    /// The agent's pair (`old`) in `dir` and a new pair staged beside it.
    struct Staged {
        files: Files,
        old: (String, String),
        new: (String, String),
    }

    fn staged(dir: &Path) -> Staged {
        let files = Files {
            cert: dir.join("device.pem"),
            key: dir.join("device.key"),
        };
        let (old, new) = (pair("old"), pair("new"));
        std::fs::write(&files.cert, &old.0).unwrap();
        std::fs::write(&files.key, &old.1).unwrap();
        std::fs::write(with_suffix(&files.cert, NEXT), &new.0).unwrap();
        std::fs::write(with_suffix(&files.key, NEXT), &new.1).unwrap();
        Staged { files, old, new }
    }

    #[test]
    fn swap_keeps_the_previous_pair_and_restore_puts_it_back() {
        let dir = tempfile::tempdir().unwrap();
        let Staged {
            files,
            old: (old_cert, old_key),
            new: (new_cert, new_key),
        } = staged(dir.path());

        let details = swap(&files).unwrap();
        assert_eq!(details.get("subject"), Some("CN=new"));
        assert_eq!(std::fs::read_to_string(&files.cert).unwrap(), new_cert);
        assert_eq!(std::fs::read_to_string(&files.key).unwrap(), new_key);
        assert_eq!(
            std::fs::read_to_string(with_suffix(&files.cert, PREV)).unwrap(),
            old_cert
        );
        assert!(!with_suffix(&files.key, NEXT).exists());
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(with_suffix(&files.key, PREV))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600, "the kept key is private");

        restore(&files).unwrap();
        assert_eq!(std::fs::read_to_string(&files.cert).unwrap(), old_cert);
        assert_eq!(std::fs::read_to_string(&files.key).unwrap(), old_key);
    }

    /// Security review H3: a plugin with rw on the certificate store
    /// replaced the certificate by a relative symlink to a host file. The
    /// swap refuses it and copies nothing anywhere.
    #[test]
    fn a_symlinked_certificate_is_refused_and_its_target_never_copied() {
        let dir = tempfile::tempdir().unwrap();
        let certs = dir.path().join("certs");
        let outside = dir.path().join("outside");
        std::fs::create_dir_all(&certs).unwrap();
        std::fs::create_dir_all(&outside).unwrap();
        let Staged { files, .. } = staged(&certs);
        std::fs::write(outside.join("secret.txt"), "the host's secret").unwrap();
        std::fs::remove_file(&files.cert).unwrap();
        std::os::unix::fs::symlink("../outside/secret.txt", &files.cert).unwrap();

        let err = swap(&files).unwrap_err();
        assert!(
            matches!(&err, SwapError::Untouched(why) if why.contains("symbolic link")),
            "{err:?}"
        );
        assert!(!with_suffix(&files.cert, PREV).exists(), "nothing copied");
        assert!(!with_suffix(&files.key, PREV).exists());
        for entry in std::fs::read_dir(&certs).unwrap() {
            let path = entry.unwrap().path();
            if let Ok(text) = crate::durable::read_regular_file(&path, 1 << 20) {
                assert!(
                    !String::from_utf8_lossy(&text).contains("secret"),
                    "{} holds the secret",
                    path.display()
                );
            }
        }
        assert!(sha256_of(&files.cert).is_err(), "not followed either");

        // The same through the staged certificate, and through `.prev` at
        // recovery: never followed.
        std::fs::remove_file(&files.cert).unwrap();
        std::fs::write(&files.cert, pair("old").0).unwrap();
        let next_cert = with_suffix(&files.cert, NEXT);
        std::fs::remove_file(&next_cert).unwrap();
        std::os::unix::fs::symlink("../outside/secret.txt", &next_cert).unwrap();
        assert!(matches!(swap(&files), Err(SwapError::Untouched(_))));
        let prev = with_suffix(&files.cert, PREV);
        std::os::unix::fs::symlink("../outside/secret.txt", &prev).unwrap();
        assert!(restore(&files).unwrap_err().contains("symbolic link"));
        assert_ne!(
            std::fs::read_to_string(&files.cert).unwrap(),
            "the host's secret"
        );
    }

    #[test]
    fn a_staged_certificate_for_another_key_is_not_installed() {
        let dir = tempfile::tempdir().unwrap();
        let files = Files {
            cert: dir.path().join("device.pem"),
            key: dir.path().join("device.key"),
        };
        let (old_cert, old_key) = pair("old");
        let (new_cert, _) = pair("new");
        let (_, other_key) = pair("other");
        std::fs::write(&files.cert, &old_cert).unwrap();
        std::fs::write(&files.key, &old_key).unwrap();
        std::fs::write(with_suffix(&files.cert, NEXT), &new_cert).unwrap();
        std::fs::write(with_suffix(&files.key, NEXT), &other_key).unwrap();
        let err = swap(&files).unwrap_err();
        assert!(
            matches!(&err, SwapError::Untouched(why) if why.contains("do not belong together")),
            "{err:?}"
        );
        assert_eq!(std::fs::read_to_string(&files.cert).unwrap(), old_cert);
    }

    /// kill -9 (or a power cut) after the swap, before the report: the
    /// next start puts the previous pair back before connecting, and the
    /// config it connects with holds that pair too.
    #[test]
    fn after_a_crash_mid_rotation_the_previous_pair_is_back_before_connecting() {
        let dir = tempfile::tempdir().unwrap();
        let Staged {
            files,
            old: (old_cert, old_key),
            new: (new_cert, _),
        } = staged(dir.path());
        std::fs::write(dir.path().join("ca.pem"), &old_cert).unwrap();
        let previous_sha256 = sha256_of(&files.cert).unwrap();
        swap(&files).unwrap();

        let state = dir.path().join("state");
        std::fs::create_dir_all(&state).unwrap();
        let mut journal = Journal::open(&state).unwrap();
        journal
            .update(|s| {
                s.running = Some(super::super::journal::RunningEntry {
                    job_id: "rotate-1".into(),
                    execution_number: 1,
                    checkpoint: None,
                    reboot: None,
                    rotation: Some(RotationEntry { previous_sha256 }),
                    restarts: 0,
                })
            })
            .unwrap();
        let config_path = dir.path().join("jobhost.toml");
        std::fs::write(
            &config_path,
            "thing_name = \"t\"\nstate_dir = \"state\"\nplugin_dir = \"plugins\"\n\
             [broker]\nhost = \"127.0.0.1\"\nport = 8883\n\
             [broker.tls]\nca = \"ca.pem\"\ncert = \"device.pem\"\nkey = \"device.key\"\n",
        )
        .unwrap();
        let mut config = Config::load(&config_path).unwrap();
        let loaded = config
            .broker
            .tls
            .as_ref()
            .and_then(|t| t.client_auth.clone());
        assert_eq!(
            loaded.unwrap().0,
            new_cert.as_bytes(),
            "the crash left the new pair"
        );

        recover(&mut config, &journal);
        assert_eq!(std::fs::read_to_string(&files.cert).unwrap(), old_cert);
        assert_eq!(std::fs::read_to_string(&files.key).unwrap(), old_key);
        let (cert, key) = config
            .broker
            .tls
            .as_ref()
            .and_then(|t| t.client_auth.clone())
            .unwrap();
        assert_eq!((cert, key), (old_cert.into_bytes(), old_key.into_bytes()));
        // Still journaled: the execution, when it comes back, ends FAILED.
        assert!(journal.state().running.as_ref().unwrap().rotation.is_some());
    }
}
