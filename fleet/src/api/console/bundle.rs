//! Reading the snapshot out of a device's diagnostics bundle: the tar.gz
//! the agent's `diagnostics` plugin uploads, whose first entry is
//! `snapshot.json` (a [`Snapshot`], as the plugin's `bundle.rs` writes it).
//!
//! The bundle comes from a device, so nothing in it is trusted: only a
//! prefix of it is read ([`MAX_PREFIX_BYTES`]), at most
//! [`MAX_UNPACKED_BYTES`] are unpacked from that prefix, `snapshot.json`
//! may be at most [`MAX_SNAPSHOT_BYTES`], and it must parse as the
//! protocol's [`Snapshot`]. What it holds is shown as text (maud escapes
//! it), never as HTML.

use flate2::read::GzDecoder;
use jobhost_protocol::diagnostics::Snapshot;
use std::io::Read;

/// Bytes of the bundle read: `snapshot.json` comes first, and is small,
/// so it lies in the first few KiB of any bundle the plugin writes; the
/// included files after it (up to 16 MiB) are never read.
pub(super) const MAX_PREFIX_BYTES: usize = 4 << 20;

/// Bytes unpacked from that prefix at most: a small prefix of a "zip
/// bomb" unpacks to gigabytes, which the page must not.
pub(super) const MAX_UNPACKED_BYTES: u64 = 16 << 20;

/// Largest `snapshot.json`: 200 log lines of ≤ 1 KiB, and the plugin list.
pub(super) const MAX_SNAPSHOT_BYTES: u64 = 1 << 20;

/// The entry the plugin writes the snapshot into.
pub(super) const SNAPSHOT_ENTRY: &str = "snapshot.json";

/// Why a bundle's snapshot could not be read: shown in the page.
#[derive(Debug, thiserror::Error)]
pub(super) enum BundleError {
    /// Not a gzip-compressed tar, or cut short before its snapshot.
    #[error("the bundle is not a readable tar.gz: {0}")]
    Unreadable(String),
    /// No `snapshot.json` in the part read.
    #[error("the bundle has no {SNAPSHOT_ENTRY} in its first {} MiB", MAX_PREFIX_BYTES >> 20)]
    NoSnapshot,
    /// `snapshot.json` is larger than [`MAX_SNAPSHOT_BYTES`].
    #[error("{SNAPSHOT_ENTRY} is {0} bytes, more than the {MAX_SNAPSHOT_BYTES} read")]
    TooLarge(u64),
    /// `snapshot.json` is not a snapshot.
    #[error("{SNAPSHOT_ENTRY} is not a diagnostics snapshot: {0}")]
    NotSnapshot(String),
}

/// The snapshot in `prefix`, the first bytes (at most
/// [`MAX_PREFIX_BYTES`]) of a bundle.
pub(super) fn snapshot(prefix: &[u8]) -> Result<Snapshot, BundleError> {
    let unpacked = GzDecoder::new(prefix).take(MAX_UNPACKED_BYTES);
    let mut archive = tar::Archive::new(unpacked);
    let entries = archive
        .entries()
        .map_err(|e| BundleError::Unreadable(e.to_string()))?;
    for (i, entry) in entries.enumerate() {
        let entry = match entry {
            Ok(entry) => entry,
            // Past the first entry, a read that fails is most likely the
            // end of the prefix or of the unpacking allowance.
            Err(_) if i > 0 => break,
            Err(e) => return Err(BundleError::Unreadable(e.to_string())),
        };
        let is_snapshot = entry.path().is_ok_and(|p| p.as_os_str() == SNAPSHOT_ENTRY);
        if !is_snapshot {
            continue;
        }
        let size = entry.size();
        if size > MAX_SNAPSHOT_BYTES {
            return Err(BundleError::TooLarge(size));
        }
        let mut json = Vec::with_capacity(size as usize);
        entry
            .take(MAX_SNAPSHOT_BYTES)
            .read_to_end(&mut json)
            .map_err(|e| BundleError::Unreadable(format!("reading {SNAPSHOT_ENTRY}: {e}")))?;
        return serde_json::from_slice(&json).map_err(|e| BundleError::NotSnapshot(e.to_string()));
    }
    Err(BundleError::NoSnapshot)
}

#[cfg(test)]
mod tests {
    use super::*;
    use flate2::write::GzEncoder;
    use flate2::Compression;
    use jobhost_protocol::diagnostics::PluginInfo;

    fn tar_gz(entries: &[(&str, &[u8])]) -> Vec<u8> {
        let mut tar = tar::Builder::new(GzEncoder::new(Vec::new(), Compression::default()));
        for (name, data) in entries {
            let mut header = tar::Header::new_gnu();
            header.set_size(data.len() as u64);
            header.set_mode(0o644);
            header.set_cksum();
            tar.append_data(&mut header, name, *data).unwrap();
        }
        tar.into_inner().unwrap().finish().unwrap()
    }

    fn sample() -> Snapshot {
        Snapshot {
            agent_version: "0.1.0".into(),
            thing_name: "dev1".into(),
            agent_uptime_secs: 5,
            system_uptime_secs: None,
            memory_total_bytes: None,
            memory_available_bytes: None,
            disk_total_bytes: None,
            disk_free_bytes: None,
            plugins: vec![PluginInfo {
                name: "diagnostics".into(),
                version: "0.1.0".into(),
                digest: "ab".repeat(32),
                key_id: "ops-2025".into(),
                operations: vec!["diagnostics".into()],
            }],
            broker_endpoint: String::new(),
            broker_connected: true,
            broker_reconnects: 0,
            recent_log: vec![],
        }
    }

    #[test]
    fn reads_the_snapshot_of_a_bundle_as_the_plugin_writes_it() {
        let json = serde_json::to_vec_pretty(&sample()).unwrap();
        let bundle = tar_gz(&[(SNAPSHOT_ENTRY, &json), ("agent.log", b"line\n")]);
        assert_eq!(snapshot(&bundle).unwrap(), sample());
        // A prefix that holds the snapshot is enough.
        let bundle = tar_gz(&[(SNAPSHOT_ENTRY, &json), ("big", &vec![7u8; 1 << 20])]);
        let cut = &bundle[..bundle.len() / 2];
        assert_eq!(snapshot(cut).unwrap(), sample());
    }

    #[test]
    fn refuses_what_is_not_a_snapshot_saying_why() {
        let not_gzip = snapshot(b"<script>alert(1)</script>").unwrap_err();
        assert!(matches!(not_gzip, BundleError::Unreadable(_)), "{not_gzip}");
        let none = snapshot(&tar_gz(&[("agent.log", b"x")])).unwrap_err();
        assert!(matches!(none, BundleError::NoSnapshot), "{none}");
        let wrong = snapshot(&tar_gz(&[(SNAPSHOT_ENTRY, b"{\"plugins\":3}")])).unwrap_err();
        assert!(matches!(wrong, BundleError::NotSnapshot(_)), "{wrong}");
        let big = vec![b' '; (MAX_SNAPSHOT_BYTES + 1) as usize];
        let big = snapshot(&tar_gz(&[(SNAPSHOT_ENTRY, &big)])).unwrap_err();
        assert!(matches!(big, BundleError::TooLarge(_)), "{big}");
    }

    #[test]
    fn unpacks_no_more_than_its_allowance() {
        // 64 MiB of zeros compress to ~64 KiB: the snapshot after them is
        // past the allowance, and is not reached.
        let zeros = vec![0u8; 64 << 20];
        let json = serde_json::to_vec(&sample()).unwrap();
        let bomb = tar_gz(&[("zeros", &zeros), (SNAPSHOT_ENTRY, &json)]);
        assert!(bomb.len() < MAX_PREFIX_BYTES);
        let refused = snapshot(&bomb).unwrap_err();
        assert!(matches!(refused, BundleError::NoSnapshot), "{refused}");
    }
}
