//! `[trust]` resolved: the keys whose signed plugins this device runs, the
//! revoked key ids, the plugin size limit, the anti-rollback override,
//! where `install-plugin` may download from, and whether downloads must be
//! code-signed.

use super::raw::RawTrust;
use super::ConfigError;
use crate::runtime::DownloadGrant;
use crate::trust::artifact::ArtifactTrust;
use crate::trust::{KeyId, PublicKey, TrustStore};
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

/// What the device trusts, resolved: keys read and checked.
#[derive(Debug, Clone)]
pub struct Trust {
    /// Trusted keys minus revoked ids.
    pub store: TrustStore,
    /// Largest plugin file accepted, bytes.
    pub max_plugin_bytes: u64,
    /// Plugins allowed to go below their anti-rollback floor.
    pub allow_downgrade: BTreeSet<String>,
    /// Plugins `install-plugin` may move to another signer than the one
    /// recorded for the name.
    pub allow_signer_change: BTreeSet<String>,
    /// Where `install-plugin` may download from; `None`: it is refused.
    pub install_from: Option<DownloadGrant>,
    /// Whether every download a job document binds must carry a codesign
    /// (`require_artifact_signatures`).
    pub require_artifact_signatures: bool,
}

impl Trust {
    /// What the `download` capability checks artifact signatures with:
    /// the same keys and revocations as plugins.
    pub fn artifacts(&self) -> ArtifactTrust {
        ArtifactTrust {
            store: self.store.clone(),
            require: self.require_artifact_signatures,
        }
    }
}

impl Default for Trust {
    fn default() -> Self {
        Self {
            store: TrustStore::default(),
            max_plugin_bytes: DEFAULT_MAX_PLUGIN_MIB << 20,
            allow_downgrade: BTreeSet::new(),
            allow_signer_change: BTreeSet::new(),
            install_from: None,
            require_artifact_signatures: false,
        }
    }
}

/// Default `[trust] max_plugin_mib`: the limit `jobhost run` applies too
/// ([`crate::runtime::MAX_PLUGIN_BYTES`], which says why it is 64 MiB).
pub const DEFAULT_MAX_PLUGIN_MIB: u64 = crate::runtime::MAX_PLUGIN_BYTES >> 20;

/// Parses a key id written in the config; `key` names where, for the error.
pub(super) fn parse_key_id(key: &str, id: &str) -> Result<KeyId, ConfigError> {
    id.parse().map_err(|_| {
        ConfigError::Invalid(format!(
            "{key}: {id:?} is not a key id (24 hex digits, as `jobhost plugin inspect` shows)"
        ))
    })
}

pub(super) fn resolve_trust(
    raw: &RawTrust,
    resolve: &dyn Fn(&Path) -> PathBuf,
) -> Result<Trust, ConfigError> {
    let invalid = |m: String| ConfigError::Invalid(m);
    let keys = raw
        .keys
        .iter()
        .map(|p| {
            let path = resolve(p);
            PublicKey::read_file(&path).map_err(|e| invalid(format!("trust.keys: {e}")))
        })
        .collect::<Result<Vec<_>, _>>()?;
    let revoked = raw
        .revoked
        .iter()
        .map(|id| parse_key_id("trust.revoked", id))
        .collect::<Result<Vec<_>, _>>()?;
    let mib = raw.max_plugin_mib.unwrap_or(DEFAULT_MAX_PLUGIN_MIB);
    if !(1..=1024).contains(&mib) {
        return Err(invalid(format!(
            "trust.max_plugin_mib = {mib}: must be 1-1024"
        )));
    }
    Ok(Trust {
        store: TrustStore::new(keys, revoked),
        max_plugin_bytes: mib << 20,
        allow_downgrade: raw.allow_downgrade.iter().cloned().collect(),
        allow_signer_change: raw.allow_signer_change.iter().cloned().collect(),
        install_from: (!raw.install_hosts.is_empty()).then(|| DownloadGrant {
            hosts: raw.install_hosts.clone(),
            allow_http: raw.install_allow_http,
        }),
        require_artifact_signatures: raw.require_artifact_signatures,
    })
}

/// The keys `[plugins.<name>]` applies to (security review M7): its
/// `signer` ids, each a trusted, unrevoked key; without `signer`, the one
/// trusted key. With several keys a table must say which: a name is not an
/// identity, and any trusted key could sign a plugin called `application`
/// to inherit `[plugins.application]`.
pub(super) fn resolve_signers(
    name: &str,
    signer: Option<&super::raw::OneOrMany>,
    store: &TrustStore,
) -> Result<BTreeSet<KeyId>, ConfigError> {
    let usable: Vec<KeyId> = store
        .keys()
        .iter()
        .map(PublicKey::id)
        .filter(|id| !store.revoked().contains(id))
        .collect();
    let key = format!("plugins.{name}.signer");
    let Some(signer) = signer else {
        return match usable.as_slice() {
            [] | [_] => Ok(usable.into_iter().collect()),
            several => Err(ConfigError::Invalid(format!(
                "[plugins.{name}] must name the key it applies to: [trust] has {} keys, and a \
                 table without `signer` would apply to a plugin named {name} signed by any of \
                 them; add signer = \"<key id>\" (or a list while rotating keys): {}",
                several.len(),
                several
                    .iter()
                    .map(ToString::to_string)
                    .collect::<Vec<_>>()
                    .join(", ")
            ))),
        };
    };
    if signer.ids().is_empty() {
        return Err(ConfigError::Invalid(format!(
            "{key}: name at least one key id"
        )));
    }
    signer
        .ids()
        .iter()
        .map(|id| {
            let id = parse_key_id(&key, id)?;
            if usable.contains(&id) {
                Ok(id)
            } else {
                Err(ConfigError::Invalid(format!(
                    "{key}: {id} is not a trusted key ([trust] keys, not revoked)"
                )))
            }
        })
        .collect()
}
