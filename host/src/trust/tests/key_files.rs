//! Keys in wasmsign2's file formats; keygen's files.

use super::*;

#[test]
fn keys_round_trip_in_wasmsign2_formats() {
    let k = key();
    let bytes = k.to_bytes();
    assert_eq!(bytes.len(), 65);
    assert_eq!(bytes[0], 0x81);
    let back = SecretKey::from_bytes(&bytes).unwrap();
    assert_eq!(back.public_key(), k.public_key());

    let pk = k.public_key().to_bytes();
    assert_eq!(pk.len(), 33);
    assert_eq!(pk[0], 0x01);
    assert_eq!(PublicKey::from_bytes(&pk).unwrap(), k.public_key());

    // Mixed-up files say what they are.
    let e = PublicKey::from_bytes(&bytes).unwrap_err().to_string();
    assert!(e.contains("65 bytes"), "{e}");
    let e = SecretKey::from_bytes(&pk).unwrap_err().to_string();
    assert!(e.contains("this is a public key"), "{e}");
    // A secret key whose public half is someone else's.
    let mut forged = bytes.to_vec();
    forged[33..].copy_from_slice(&key().public_key().to_bytes()[1..]);
    let e = SecretKey::from_bytes(&forged).unwrap_err().to_string();
    assert!(e.contains("does not match"), "{e}");

    let id = k.public_key().id();
    assert_eq!(id.to_string().len(), 24);
    assert_eq!(id.to_string().parse::<KeyId>().unwrap(), id);
    assert!("xyz".parse::<KeyId>().is_err());
}

#[test]
fn keygen_files_are_private_and_never_overwritten() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("op.key");
    let k = key();
    let pub_path = k.write_files(&path).unwrap();
    assert_eq!(pub_path, dir.path().join("op.key.pub"));
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
    }
    assert_eq!(
        SecretKey::read_file(&path).unwrap().public_key(),
        k.public_key()
    );
    assert_eq!(PublicKey::read_file(&pub_path).unwrap(), k.public_key());
    let e = key().write_files(&path).unwrap_err();
    assert!(matches!(e, KeyError::Exists { .. }), "{e}");
    assert_eq!(
        SecretKey::read_file(&path).unwrap().public_key(),
        k.public_key()
    );
}
