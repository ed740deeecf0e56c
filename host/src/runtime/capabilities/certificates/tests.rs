//! The `certificates` import against a real HTTP server on loopback that
//! plays the operator's CA: it signs what it is sent, or answers with a
//! certificate for some other key.

use super::*;
use crate::certstore::{key_public, parse_leaf};
use crate::runtime::store::HostState;
use crate::runtime::test_support::{http_server, store, view};
use crate::runtime::{ExecutionLimits, Sandbox};
use std::net::SocketAddr;
use wasmtime::Store;

/// A test CA's issuer.
fn ca() -> rcgen::Issuer<'static, rcgen::KeyPair> {
    let mut params = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
    params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
    params
        .distinguished_name
        .push(rcgen::DnType::CommonName, "test CA");
    rcgen::Issuer::new(params, rcgen::KeyPair::generate().unwrap())
}

/// `POST /sign` signs the CSR's key (CN from the CSR); `POST /other`
/// answers with a certificate for a key of its own; `POST /refuse` is 403.
fn server() -> SocketAddr {
    let app = axum::Router::new()
        .route(
            "/sign",
            axum::routing::post(|headers: axum::http::HeaderMap, body: String| async move {
                assert_eq!(headers.get("content-type").unwrap(), "application/pkcs10");
                let csr = rcgen::CertificateSigningRequestParams::from_pem(&body).unwrap();
                csr.signed_by(&ca()).unwrap().pem()
            }),
        )
        .route(
            "/other",
            axum::routing::post(|| async {
                let key = rcgen::KeyPair::generate().unwrap();
                let mut params = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
                params
                    .distinguished_name
                    .push(rcgen::DnType::CommonName, "t1");
                params.signed_by(&key, &ca()).unwrap().pem()
            }),
        )
        .route(
            "/refuse",
            axum::routing::post(|| async {
                (
                    axum::http::StatusCode::FORBIDDEN,
                    r#"{"message":"expired"}"#,
                )
            }),
        );
    http_server(app)
}

struct Setup {
    dir: tempfile::TempDir,
    store: Store<HostState>,
}

fn setup(certificates: bool, download: Option<&SocketAddr>) -> Setup {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("device.pem"), "current cert").unwrap();
    std::fs::write(dir.path().join("device.key"), "current key").unwrap();
    let sandbox = Sandbox {
        certificates,
        certificate_target: Some(CertificateTarget {
            thing_name: "t1".into(),
            cert: dir.path().join("device.pem"),
            key: dir.path().join("device.key"),
        }),
        download: download.map(|addr| DownloadGrant {
            hosts: vec![addr.to_string()],
            allow_http: true,
        }),
        ..Sandbox::empty()
    };
    let (_runtime, store) = store(&sandbox, &ExecutionLimits::default());
    Setup { dir, store }
}

/// What the `certificates` calls see of the store.
fn certs(store: &mut Store<HostState>) -> CapView<'_, CertificatesCtx> {
    view(store.data_mut(), |c| &mut c.certificates)
}

#[tokio::test]
async fn the_csr_names_the_thing_and_carries_the_pending_key() {
    let mut s = setup(true, None);
    let csr = certs(&mut s.store).create_csr().await.unwrap();
    let parsed = rcgen::CertificateSigningRequestParams::from_pem(&csr).unwrap();
    let cn = parsed
        .params
        .distinguished_name
        .get(&rcgen::DnType::CommonName)
        .cloned();
    assert_eq!(cn, Some(rcgen::DnValue::Utf8String("t1".into())));
    let pending = s.dir.path().join("device.key.next");
    let key = std::fs::read_to_string(&pending).unwrap();
    use rcgen::PublicKeyData;
    assert_eq!(parsed.public_key.der_bytes(), key_public(&key).unwrap());
    assert!(!csr.contains("PRIVATE"), "the CSR carries no private key");
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(&pending).unwrap().permissions().mode();
    assert_eq!(mode & 0o777, 0o600);
    // The current pair is untouched.
    assert_eq!(
        std::fs::read_to_string(s.dir.path().join("device.key")).unwrap(),
        "current key"
    );
    // A second CSR replaces the pending key.
    certs(&mut s.store).create_csr().await.unwrap();
    assert_ne!(std::fs::read_to_string(&pending).unwrap(), key);
}

#[tokio::test]
async fn a_certificate_for_the_pending_key_is_staged_and_installable() {
    let addr = server();
    let mut s = setup(true, Some(&addr));
    let mut state = certs(&mut s.store);
    assert!(matches!(
        state.install().await,
        Err(HostError::InvalidArgument(_))
    ));
    state.create_csr().await.unwrap();
    let info = state
        .submit_csr(format!("http://{addr}/sign?signature=secret"))
        .await
        .unwrap();
    assert_eq!(info.subject, "CN=t1");
    assert_eq!(info.sha256_fingerprint.len(), 64);
    assert!(info.not_after.ends_with('Z'), "{}", info.not_after);
    let staged = std::fs::read(s.dir.path().join("device.pem.next")).unwrap();
    let leaf = parse_leaf(&staged).unwrap().info;
    assert_eq!(
        (leaf.serial, leaf.sha256_fingerprint),
        (info.serial, info.sha256_fingerprint)
    );
    state.install().await.unwrap();
    assert!(state.ctx.install);
}

#[tokio::test]
async fn a_certificate_for_another_key_is_refused() {
    let addr = server();
    let mut s = setup(true, Some(&addr));
    let mut state = certs(&mut s.store);
    state.create_csr().await.unwrap();
    match state.submit_csr(format!("http://{addr}/other")).await {
        Err(HostError::Failed(m)) => assert!(m.contains("not for this key"), "{m}"),
        other => panic!("{other:?}"),
    }
    assert!(!s.dir.path().join("device.pem.next").exists());
    match certs(&mut s.store)
        .submit_csr(format!("http://{addr}/refuse"))
        .await
    {
        Err(HostError::Failed(m)) => {
            assert!(m.contains("HTTP 403: {\"message\":\"expired\"}"), "{m}")
        }
        other => panic!("{other:?}"),
    }
}

#[tokio::test]
async fn ungranted_or_off_the_allow_list_is_not_permitted() {
    let addr = server();
    let mut s = setup(false, Some(&addr));
    let mut state = certs(&mut s.store);
    for result in [
        state.create_csr().await.map(drop),
        state
            .submit_csr(format!("http://{addr}/sign"))
            .await
            .map(drop),
        state.install().await,
    ] {
        match result {
            Err(HostError::NotPermitted(m)) => assert!(m.contains("certificates"), "{m}"),
            other => panic!("{other:?}"),
        }
    }
    assert!(!s.dir.path().join("device.key.next").exists());
    let mut s = setup(true, Some(&addr));
    certs(&mut s.store).create_csr().await.unwrap();
    match certs(&mut s.store)
        .submit_csr("http://elsewhere.example/sign".into())
        .await
    {
        Err(HostError::NotPermitted(m)) => assert!(m.contains("allow-list"), "{m}"),
        other => panic!("{other:?}"),
    }
    let mut s = setup(true, None);
    certs(&mut s.store).create_csr().await.unwrap();
    match certs(&mut s.store)
        .submit_csr(format!("http://{addr}/sign"))
        .await
    {
        Err(HostError::NotPermitted(m)) => assert!(m.contains("download"), "{m}"),
        other => panic!("{other:?}"),
    }
}

#[tokio::test]
async fn without_a_client_certificate_there_is_nothing_to_rotate() {
    let mut s = setup(true, None);
    certs(&mut s.store).ctx.target = None;
    match certs(&mut s.store).create_csr().await {
        Err(HostError::Failed(m)) => assert!(m.contains("[broker.tls] cert and key"), "{m}"),
        other => panic!("{other:?}"),
    }
}
