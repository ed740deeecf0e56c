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
//!
//! The decisions are here, as for `reboot`: [`requested`] and [`install`],
//! then the [`Phase`]'s `on_*` methods, return the [`Action`] the actor
//! applies (reconnect, roll back, report); the file work is
//! [`crate::certstore`]'s.

use super::journal::{Journal, RotationEntry};
use crate::certstore::{
    pair_matches, read_key, read_pem, restore, sha256_of, swap, with_suffix, Files, SwapError, PREV,
};
use crate::config::Config;
use crate::runtime::CertificateTarget;
use jobhost_protocol::StatusDetails;
use std::time::Duration;
use tokio::time::Instant;

/// How long the broker gets to accept the new certificate before the agent
/// gives up on it and goes back to the previous one. The connection task
/// reports a refusal (TLS alert, CONNACK error) well within this; the
/// timeout covers a broker that never answers at all.
pub(super) const ROTATION_TIMEOUT: Duration = Duration::from_secs(30);

/// Where a rotation stands: the agent reconnected with the new pair and
/// waits for the broker's verdict.
#[derive(Debug)]
pub(crate) struct Phase {
    /// When the agent reconnected with the new pair.
    since: Instant,
    /// What SUCCEEDED will report.
    details: StatusDetails,
}

/// What the actor does next.
#[derive(Debug)]
pub(super) enum Action {
    /// Reconnect with these options (the new pair) and wait in `phase`.
    /// If the connection cannot take them, [`roll_back`].
    Reconnect(Box<rumqttc::MqttOptions>, Phase),
    /// Reconnect with the previous pair, restored (`Err`: it could not
    /// be), then report FAILED with [`rolled_back`]'s reason.
    RollBack {
        why: String,
        restored: Result<Box<rumqttc::MqttOptions>, String>,
    },
    /// Report FAILED with this reason.
    Fail(String),
}

/// The certificate and key files of `[broker.tls]`, when the agent
/// connects with a client certificate.
fn client_files(config: &Config) -> Option<Files> {
    let (cert, key) = config.broker.tls.as_ref()?.client_files.clone()?;
    Some(Files { cert, key })
}

/// The config's broker options with the client certificate and key read
/// from disk again (as they are now).
fn options_from_disk(config: &Config, files: &Files) -> Result<Box<rumqttc::MqttOptions>, String> {
    let mut broker = config.broker.clone();
    let cert = read_pem(&files.cert)?;
    let key = read_pem(&files.key)?;
    if let Some(tls) = broker.tls.as_mut() {
        tls.client_auth = Some((cert, key));
    }
    Ok(Box::new(crate::mqtt::mqtt_options(&broker)))
}

/// What the `certificates` interface acts on, when the agent connects
/// with a client certificate.
pub(super) fn certificate_target(config: &Config) -> Option<CertificateTarget> {
    let files = client_files(config)?;
    Some(CertificateTarget {
        thing_name: config.thing_name.clone(),
        cert: files.cert,
        key: files.key,
    })
}

/// The plugin returned `ok` after `certificates.install`: what to journal
/// before the files change (`Err`: the reason to fail with).
pub(super) fn requested(config: &Config) -> Result<RotationEntry, String> {
    let files = client_files(config).ok_or_else(|| {
        "certificate installation requested, but this agent has no [broker.tls] cert and key"
            .to_owned()
    })?;
    let previous_sha256 = sha256_of(&files.cert)?;
    Ok(RotationEntry { previous_sha256 })
}

/// Journaled: swaps the files and says to reconnect with the new pair,
/// with `outcome` and the new certificate's details to report once the
/// broker accepts it.
pub(super) fn install(config: &Config, outcome: StatusDetails) -> Action {
    let Some(files) = client_files(config) else {
        return Action::Fail("no [broker.tls] files".into());
    };
    let installed = match swap(&files) {
        Ok(details) => details,
        Err(SwapError::Untouched(why)) => {
            return Action::Fail(format!(
                "cannot install the new certificate: {why}; nothing was changed, \
                 the current certificate is in use"
            ));
        }
        Err(SwapError::Partial(why)) => {
            let undone = match restore(&files) {
                Ok(()) => "the previous certificate is in use".to_owned(),
                Err(e) => e,
            };
            return Action::Fail(format!(
                "cannot install the new certificate: {why}; {undone}"
            ));
        }
    };
    let options = match options_from_disk(config, &files) {
        Ok(o) => o,
        Err(why) => return roll_back(config, why),
    };
    let mut details = outcome;
    details.insert("subject", &installed.subject);
    details.insert("serial", &installed.serial);
    details.insert("notAfter", &installed.not_after);
    details.insert("fingerprint", &installed.sha256_fingerprint);
    let phase = Phase {
        since: Instant::now(),
        details,
    };
    Action::Reconnect(options, phase)
}

/// Puts the previous pair back, for `why`.
pub(super) fn roll_back(config: &Config, why: String) -> Action {
    let restored = client_files(config)
        .ok_or_else(|| "no [broker.tls] files".to_owned())
        .and_then(|files| {
            restore(&files)?;
            options_from_disk(config, &files)
        });
    Action::RollBack { why, restored }
}

/// The reason FAILED reports after [`Action::RollBack`], given whether the
/// previous pair is back in use (`Err`: why not).
pub(super) fn rolled_back(why: &str, back: Result<(), String>) -> String {
    match back {
        Ok(()) => format!("{why}; the previous certificate is back in use"),
        Err(e) => format!("{why}; restoring the previous certificate failed: {e}"),
    }
}

impl Phase {
    /// Connected, with the new certificate: what SUCCEEDED reports (sent
    /// over this connection).
    pub(super) fn on_connected(self) -> StatusDetails {
        self.details
    }

    /// The connection failed, with the new certificate: roll back. A
    /// broker that is only `busy` (taking over the previous connection of
    /// the same client id) has not judged the certificate: the connection
    /// task tries again, within [`ROTATION_TIMEOUT`] (`None`).
    pub(super) fn on_disconnected(&self, config: &Config, why: &str, busy: bool) -> Option<Action> {
        (!busy).then(|| {
            roll_back(
                config,
                format!("the broker refused the new certificate: {why}"),
            )
        })
    }

    /// A tick: a broker that never answered.
    pub(super) fn on_tick(&self, config: &Config) -> Option<Action> {
        (self.since.elapsed() >= ROTATION_TIMEOUT).then(|| {
            roll_back(
                config,
                format!(
                    "the broker did not accept the new certificate within {} s",
                    ROTATION_TIMEOUT.as_secs()
                ),
            )
        })
    }
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
    let Some(files) = client_files(config) else {
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::certstore::tests::{staged, Staged};

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
