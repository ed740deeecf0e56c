//! The CA's URLs and what it signs.
#![allow(clippy::unwrap_used)]

use super::*;
use rcgen::{BasicConstraints, CertificateParams};

fn authority(dir: &Path) -> CertificateAuthority {
    let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
    params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    params
        .distinguished_name
        .push(DnType::CommonName, "fleet test CA");
    params.key_usages = vec![
        KeyUsagePurpose::KeyCertSign,
        KeyUsagePurpose::DigitalSignature,
    ];
    let key = KeyPair::generate().unwrap();
    let cert = params.self_signed(&key).unwrap();
    std::fs::write(dir.join("ca.pem"), cert.pem()).unwrap();
    std::fs::write(dir.join("ca.key"), key.serialize_pem()).unwrap();
    CertificateAuthority::load(
        &dir.join("ca.pem"),
        &dir.join("ca.key"),
        dir,
        "http://fleet.example:8080/",
        Duration::from_secs(600),
    )
    .unwrap()
}

fn csr(cn: &str) -> (String, KeyPair) {
    let key = KeyPair::generate().unwrap();
    let mut params = CertificateParams::new(vec!["evil.example".into()]).unwrap();
    params.distinguished_name.push(DnType::CommonName, cn);
    params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    (params.serialize_request(&key).unwrap().pem().unwrap(), key)
}

#[test]
fn urls_are_bound_to_thing_job_and_time() {
    let dir = tempfile::tempdir().unwrap();
    let ca = authority(dir.path());
    let url = ca.presign("t1", "job-1", 1000).unwrap();
    assert!(
        url.starts_with("http://fleet.example:8080/certificates/t1/job-1?expires=1600&signature="),
        "{url}"
    );
    let signature = url.rsplit("signature=").next().unwrap();
    let key = dir.path().join(KEY_FILE);
    let legacy = crate::presign::legacy_signature(&key, "POST|t1|job-1|1600");
    assert_eq!(
        signature, legacy,
        "the signed message is POST|thing|job|expires"
    );
    assert!(ca.verify("t1", "job-1", 1600, signature, 1600));
    assert!(!ca.verify("t1", "job-1", 1600, signature, 1601), "expired");
    assert!(
        !ca.verify("t2", "job-1", 1600, signature, 1000),
        "other thing"
    );
    assert!(
        !ca.verify("t1", "job-2", 1600, signature, 1000),
        "other job"
    );
    assert!(
        !ca.verify("t1", "job-1", 9999, signature, 1000),
        "longer expiry"
    );
    assert!(!ca.verify("t1", "job-1", 1600, "00", 1000), "forged");
    let doc = serde_json::json!({"operation": "rotate-certificate", "csrUrl": PLACEHOLDER, "n": [PLACEHOLDER]});
    let resolved = ca.resolve_placeholders(&doc, "t1", "job-1", 1000);
    assert_eq!(resolved["csrUrl"], url.as_str());
    assert_eq!(resolved["n"][0], url.as_str());
}

#[test]
fn the_certificate_is_for_the_thing_not_what_the_csr_asks() {
    let dir = tempfile::tempdir().unwrap();
    let ca = authority(dir.path());
    let (request, key) = csr("someone-else");
    let pem = ca.issue("t1", &request, 1_700_000_000).unwrap();
    let block = x509_parser::pem::Pem::iter_from_buffer(pem.as_bytes())
        .next()
        .unwrap()
        .unwrap();
    let cert = block.parse_x509().unwrap();
    assert_eq!(cert.subject().to_string(), "CN=t1");
    assert_eq!(cert.issuer().to_string(), "CN=fleet test CA");
    use rcgen::PublicKeyData;
    assert_eq!(
        cert.public_key().subject_public_key.data.as_ref(),
        key.der_bytes()
    );
    assert!(!cert.is_ca());
    assert!(
        cert.subject_alternative_name().unwrap().is_none(),
        "no SANs"
    );
    let eku = cert.extended_key_usage().unwrap().unwrap().value;
    assert!(eku.client_auth && !eku.server_auth);
    let validity = cert.validity();
    assert_eq!(
        validity.not_after.timestamp() - 1_700_000_000,
        i64::try_from(DEFAULT_VALIDITY.as_secs()).unwrap()
    );
}

#[test]
fn malformed_or_tampered_csrs_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let ca = authority(dir.path());
    assert!(matches!(
        ca.issue("t1", "not a csr", 0),
        Err(CsrError::Malformed(_))
    ));
    // Flip one byte inside the signed part: the signature no longer holds.
    let (request, _) = csr("t1");
    let der = pem_body(&request);
    let mut der = der;
    let i = der.len() / 2;
    der[i] ^= 1;
    let tampered = format!(
        "-----BEGIN CERTIFICATE REQUEST-----\n{}\n-----END CERTIFICATE REQUEST-----\n",
        base64(&der)
    );
    assert!(matches!(
        ca.issue("t1", &tampered, 0),
        Err(CsrError::Malformed(_))
    ));
}

fn pem_body(pem: &str) -> Vec<u8> {
    x509_parser::pem::Pem::iter_from_buffer(pem.as_bytes())
        .next()
        .unwrap()
        .unwrap()
        .contents
}

fn base64(bytes: &[u8]) -> String {
    const A: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::new();
    for chunk in bytes.chunks(3) {
        let b = [
            chunk[0],
            *chunk.get(1).unwrap_or(&0),
            *chunk.get(2).unwrap_or(&0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(A[((n >> (18 - 6 * i)) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}
