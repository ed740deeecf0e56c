//! The device's MQTT client certificate and key on disk: the files the
//! `certificates` capability stages beside them (`<key>.next`,
//! `<cert>.next`) and the agent's rotation swaps in, keeping the previous
//! pair as `.prev` and putting it back when the broker refuses the new one.
//!
//! Both sides live by the same rules, so they are written once here:
//! - every replacement is a fully written, fsynced file renamed into place,
//!   created with its final mode (a key is 0600 from the first byte);
//! - a file is read only if it is a regular file, never through a symlink
//!   (a plugin with `certificates = "rw"` can plant one: security review H3),
//!   and at most [`MAX_PEM_BYTES`];
//! - a certificate is installed only with the key it was issued for.

use crate::durable::write_atomically;
use sha2::{Digest, Sha256};
use std::path::{Path, PathBuf};
use zeroize::Zeroizing;

/// Largest certificate or key file read, and the largest answer accepted
/// from a CSR endpoint: a certificate and its chain are a few KiB; anything
/// far larger is not a certificate.
pub const MAX_PEM_BYTES: usize = 64 << 10;

/// The suffix of the pending (staged) key and certificate files.
pub const NEXT: &str = ".next";
/// The suffix of the previous generation, kept after a rotation.
pub const PREV: &str = ".prev";

pub use crate::durable::with_suffix;

/// Mode of private key files.
pub const KEY_MODE: u32 = 0o600;
/// Mode of certificate files (public).
pub const CERT_MODE: u32 = 0o644;

/// What a certificate says about itself, as reported to the plugin and in
/// the job's statusDetails.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CertInfo {
    pub subject: String,
    /// Hex, as the certificate carries it.
    pub serial: String,
    /// RFC 3339.
    pub not_after: String,
    /// Of the DER encoding: what `openssl x509 -fingerprint -sha256` shows.
    pub sha256_fingerprint: String,
}

/// A parsed certificate's report, and its raw public key, for matching.
pub struct Parsed {
    pub info: CertInfo,
    pub public_key: Vec<u8>,
}

/// Parses the first certificate of a PEM bundle (the leaf).
pub fn parse_leaf(pem: &[u8]) -> Result<Parsed, String> {
    let block = x509_parser::pem::Pem::iter_from_buffer(pem)
        .next()
        .ok_or("the answer holds no PEM certificate")?
        .map_err(|e| format!("the answer is not a PEM certificate: {e}"))?;
    if block.label != "CERTIFICATE" {
        return Err(format!(
            "the answer starts with a PEM `{}` block, not a CERTIFICATE",
            block.label
        ));
    }
    let cert = block
        .parse_x509()
        .map_err(|e| format!("the certificate does not parse: {e}"))?;
    let info = CertInfo {
        subject: cert.subject().to_string(),
        serial: hex::encode(cert.raw_serial()),
        not_after: rfc3339(cert.validity().not_after.timestamp()),
        sha256_fingerprint: hex::encode(Sha256::digest(&block.contents)),
    };
    Ok(Parsed {
        info,
        public_key: cert.public_key().subject_public_key.data.to_vec(),
    })
}

/// The raw public key of a PEM private key, in any encoding the TLS
/// connection itself loads: PKCS#8, PKCS#1 (RSA, as AWS IoT Core issues
/// device keys) or SEC1 (EC, as `openssl ecparam -genkey` writes them).
pub fn key_public(pem: &str) -> Result<Vec<u8>, String> {
    use rustls::pki_types::{pem::PemObject, PrivateKeyDer};
    use x509_parser::prelude::{FromDer, SubjectPublicKeyInfo};
    let der = PrivateKeyDer::from_pem_slice(pem.as_bytes())
        .map_err(|e| format!("the key does not parse: {e}"))?;
    let key = rustls::crypto::ring::sign::any_supported_type(&der)
        .map_err(|e| format!("the key is not one TLS can use: {e}"))?;
    let spki = key
        .public_key()
        .ok_or("the key's public half cannot be derived")?;
    let (_, info) = SubjectPublicKeyInfo::from_der(&spki)
        .map_err(|e| format!("the key's public half does not parse: {e}"))?;
    Ok(info.subject_public_key.data.to_vec())
}

/// Whether the certificate PEM `cert` is for the private key PEM `key`.
pub fn pair_matches(cert: &[u8], key: &str) -> Result<Parsed, String> {
    let parsed = parse_leaf(cert)?;
    if parsed.public_key != key_public(key)? {
        return Err("the certificate is not for this key".into());
    }
    Ok(parsed)
}

/// Seconds since the epoch as `2026-01-31T12:00:00Z`.
fn rfc3339(secs: i64) -> String {
    crate::timestamp::rfc3339(secs, None)
}

/// The agent's client certificate and key files (`[broker.tls]` cert and
/// key).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Files {
    pub cert: PathBuf,
    pub key: PathBuf,
}

/// Reads one of the rotation's files: a regular file only, never through a
/// symlink. A plugin granted `certificates = "rw"` can plant `device.pem ->
/// ../../etc/shadow`; following it would copy the target into `.prev`
/// (security review H3). Nothing the agent did not itself read as a
/// regular file is ever copied.
pub fn read_pem(path: &Path) -> Result<Vec<u8>, String> {
    crate::durable::read_regular_file(path, MAX_PEM_BYTES as u64)
        .map_err(|e| format!("cannot read {}: {e}", path.display()))
}

/// The sha256 of a file read as [`read_pem`] does, hex.
pub fn sha256_of(path: &Path) -> Result<String, String> {
    read_pem(path).map(|b| hex::encode(Sha256::digest(&b)))
}

/// A private key file, read as [`read_pem`] does, kept in zeroized memory.
pub fn read_key(path: &Path) -> Result<Zeroizing<String>, String> {
    let bytes = Zeroizing::new(read_pem(path)?);
    std::str::from_utf8(&bytes)
        .map(|s| Zeroizing::new(s.to_owned()))
        .map_err(|_| format!("{} is not a PEM key", path.display()))
}

/// Why [`swap`] did not install the staged pair.
#[derive(Debug)]
pub enum SwapError {
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
/// have swapped for a symlink. Returns what the new certificate says.
pub fn swap(files: &Files) -> Result<CertInfo, SwapError> {
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
        write_atomically(path, bytes, Some(mode))
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
            tracing::warn!(target: "certstore", "cannot remove {}: {e}", staged.display());
        }
    }
    Ok(parsed.info)
}

/// Puts the `.prev` pair back in place (the `.prev` files stay).
pub fn restore(files: &Files) -> Result<(), String> {
    let (prev_cert, prev_key) = (
        with_suffix(&files.cert, PREV),
        with_suffix(&files.key, PREV),
    );
    let cert = read_pem(&prev_cert)?;
    let key = read_key(&prev_key)?;
    write_atomically(&files.key, key.as_bytes(), Some(KEY_MODE))
        .and_then(|()| write_atomically(&files.cert, &cert, Some(CERT_MODE)))
        .map_err(|e| format!("cannot restore the previous certificate: {e}"))
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    pub(crate) fn pair(name: &str) -> (String, String) {
        let key = rcgen::KeyPair::generate().unwrap();
        let mut params = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
        params
            .distinguished_name
            .push(rcgen::DnType::CommonName, name);
        let cert = params.self_signed(&key).unwrap().pem();
        (cert, key.serialize_pem())
    }

    /// The agent's pair (`old`) in `dir` and a new pair staged beside it.
    pub(crate) struct Staged {
        pub files: Files,
        pub old: (String, String),
        pub new: (String, String),
    }

    pub(crate) fn staged(dir: &Path) -> Staged {
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
    fn keys_match_their_certificates_in_every_encoding_devices_are_given() {
        let fixture = |name: &str| {
            let path = Path::new(env!("CARGO_MANIFEST_DIR"))
                .join("tests/fixtures/keys")
                .join(name);
            std::fs::read_to_string(path).unwrap()
        };
        let (rsa_cert, rsa_key) = (fixture("rsa-cert.pem"), fixture("rsa-pkcs1.key"));
        let (ec_cert, ec_key) = (fixture("ec-cert.pem"), fixture("ec-sec1.key"));
        let (pkcs8_cert, pkcs8_key) = pair("pkcs8");
        for (cert, key) in [
            (&rsa_cert, &rsa_key),
            (&ec_cert, &ec_key),
            (&pkcs8_cert, &pkcs8_key),
        ] {
            pair_matches(cert.as_bytes(), key).unwrap();
        }
        for (cert, key) in [
            (&rsa_cert, &ec_key),
            (&ec_cert, &pkcs8_key),
            (&pkcs8_cert, &rsa_key),
        ] {
            let why = pair_matches(cert.as_bytes(), key).err().unwrap();
            assert_eq!(why, "the certificate is not for this key");
        }
        let why = key_public(&rsa_cert).unwrap_err();
        assert!(why.starts_with("the key does not parse"), "{why}");
    }

    #[test]
    fn swap_keeps_the_previous_pair_and_restore_puts_it_back() {
        let dir = tempfile::tempdir().unwrap();
        let Staged {
            files,
            old: (old_cert, old_key),
            new: (new_cert, new_key),
        } = staged(dir.path());

        let info = swap(&files).unwrap();
        assert_eq!(info.subject, "CN=new");
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

    #[test]
    fn rfc3339_dates() {
        assert_eq!(rfc3339(0), "1970-01-01T00:00:00Z");
        assert_eq!(rfc3339(951_782_400), "2000-02-29T00:00:00Z");
        assert_eq!(rfc3339(1_700_000_000), "2023-11-14T22:13:20Z");
    }
}
