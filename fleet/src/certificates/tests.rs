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
fn urls_are_bound_to_thing_job_execution_and_time() {
    let dir = tempfile::tempdir().unwrap();
    let ca = std::sync::Arc::new(authority(dir.path()));
    let url = ca.presign("t1", "job-1", 1, 1000).unwrap();
    assert!(
        url.starts_with(
            "http://fleet.example:8080/certificates/t1/job-1/1?expires=1600&signature="
        ),
        "{url}"
    );
    let signature = url.rsplit("signature=").next().unwrap();
    let key = dir.path().join(KEY_FILE);
    let independent = crate::presign::legacy_signature(&key, "POST|t1|job-1|1|1600");
    assert_eq!(
        signature, independent,
        "the signed message is POST|thing|job|execution|expires"
    );
    assert!(ca.verify("t1", "job-1", 1, 1600, signature, 1600));
    assert!(
        !ca.verify("t1", "job-1", 1, 1600, signature, 1601),
        "expired"
    );
    assert!(
        !ca.verify("t2", "job-1", 1, 1600, signature, 1000),
        "other thing"
    );
    assert!(
        !ca.verify("t1", "job-2", 1, 1600, signature, 1000),
        "other job"
    );
    assert!(
        !ca.verify("t1", "job-1", 2, 1600, signature, 1000),
        "other execution"
    );
    assert!(
        !ca.verify("t1", "job-1", 1, 9999, signature, 1000),
        "longer expiry"
    );
    assert!(!ca.verify("t1", "job-1", 1, 1600, "00", 1000), "forged");
    let doc = serde_json::json!({"operation": ROTATION_OPERATION, "csrUrl": PLACEHOLDER, "n": [PLACEHOLDER]});
    let delivery = crate::placeholders::Delivery {
        ca: Some(ca),
        ..Default::default()
    };
    let resolved = delivery.resolve(&doc, "t1", "job-1", 1, 1000);
    assert_eq!(resolved["csrUrl"], url.as_str());
    assert_eq!(resolved["n"][0], url.as_str());
}

/// Reflection: `echo` reports its document back as
/// statusDetails, where whoever reads the API would find a live CSR URL
/// for the thing. Only rotation documents get one.
#[test]
fn only_rotation_documents_get_a_csr_url() {
    let dir = tempfile::tempdir().unwrap();
    let delivery = crate::placeholders::Delivery {
        ca: Some(std::sync::Arc::new(authority(dir.path()))),
        ..Default::default()
    };
    for doc in [
        serde_json::json!({"operation": "echo", "u": PLACEHOLDER}),
        serde_json::json!({"operation": "echo", "nested": {"u": format!("x {PLACEHOLDER}")}}),
        serde_json::json!({"u": PLACEHOLDER}),
        serde_json::json!({"operation": ["rotate-certificate"], "u": PLACEHOLDER}),
    ] {
        assert_eq!(
            delivery.resolve(&doc, "t1", "job-1", 1, 1000),
            doc,
            "left as written"
        );
    }
}

#[test]
fn the_certificate_is_for_the_thing_not_what_the_csr_asks() {
    let dir = tempfile::tempdir().unwrap();
    let ca = authority(dir.path());
    let (request, key) = csr("someone-else");
    let pem = ca
        .issue("t1", Csr::parse(&request).unwrap(), 1_700_000_000)
        .unwrap();
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
    assert!(matches!(
        Csr::parse("not a csr"),
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
    assert!(matches!(Csr::parse(&tampered), Err(CsrError::Malformed(_))));
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

/// The CSR route (`crate::api::certificates`) through the real router,
/// with an in-memory store: single use per execution.
mod route {
    use super::*;
    use crate::api::{router, ApiState, ERROR_TYPE_HEADER};
    use crate::artifacts::Artifacts;
    use crate::placeholders::Delivery;
    use crate::store::{CreateJob, Store};
    use axum::body::Body;
    use axum::http::{Method, Request, StatusCode};
    use futures_util::StreamExt;
    use serde_json::json;
    use std::sync::{Arc, Mutex};
    use tower::ServiceExt;

    const BASE: &str = "http://fleet.example:8080";
    const NOW: i64 = 1_700_000_000;

    struct Fleet {
        app: axum::Router,
        store: Arc<Mutex<Store>>,
        delivery: Delivery,
        _dir: tempfile::TempDir,
    }

    fn fleet() -> Fleet {
        let dir = tempfile::tempdir().unwrap();
        let ca = Arc::new(authority(dir.path()));
        let artifacts = Arc::new(
            Artifacts::open(
                &dir.path().join("artifacts"),
                BASE,
                Duration::from_secs(600),
            )
            .unwrap(),
        );
        let store = Arc::new(Mutex::new(Store::open_in_memory().unwrap()));
        let (tx, _) = tokio::sync::mpsc::unbounded_channel();
        let state = ApiState::new(Arc::clone(&store), tx, Arc::clone(&artifacts))
            .with_ca(Arc::clone(&ca))
            .with_clock(Arc::new(|| NOW));
        let delivery = Delivery {
            artifacts: Some(artifacts),
            ca: Some(ca),
            ..Default::default()
        };
        Fleet {
            app: router(state),
            store,
            delivery,
            _dir: dir,
        }
    }

    impl Fleet {
        /// Creates a rotation job for t1 and returns its CSR URL as the
        /// device gets it (path and query), delivered at `at`.
        fn rotation(&self, job_id: &str, at: i64) -> String {
            let document = json!({"operation": ROTATION_OPERATION, "csrUrl": PLACEHOLDER});
            let request = CreateJob {
                job_id: job_id.into(),
                targets: vec!["t1".into()],
                document: document.clone().into(),
                ..CreateJob::default()
            };
            self.store
                .lock()
                .unwrap()
                .create_job(&request, NOW)
                .unwrap();
            self.delivered(job_id, at)
        }

        /// The CSR URL of execution 1 of `job_id` in a delivery at `at`.
        fn delivered(&self, job_id: &str, at: i64) -> String {
            let document = json!({"operation": ROTATION_OPERATION, "csrUrl": PLACEHOLDER});
            let resolved = self.delivery.resolve(&document, "t1", job_id, 1, at);
            let url = resolved["csrUrl"].as_str().unwrap();
            url.strip_prefix(BASE).unwrap().to_owned()
        }

        fn set_status(&self, job_id: &str, status: &str) {
            let mut store = self.store.lock().unwrap();
            if status == "IN_PROGRESS" {
                store.start_next("t1", &Default::default(), NOW).unwrap();
                return;
            }
            let request = serde_json::from_value(json!({ "status": status })).unwrap();
            store.update("t1", job_id, &request, NOW).unwrap();
        }

        /// POSTs `body`: the status, the AWS error type and the body.
        async fn post(&self, uri: &str, body: String) -> (StatusCode, String, String) {
            let request = Request::builder()
                .method(Method::POST)
                .uri(uri)
                .body(Body::from(body))
                .unwrap();
            let response = self.app.clone().oneshot(request).await.unwrap();
            let status = response.status();
            let kind = response
                .headers()
                .get(ERROR_TYPE_HEADER)
                .map(|v| v.to_str().unwrap().to_owned())
                .unwrap_or_default();
            let mut bytes = Vec::new();
            let mut stream = response.into_body().into_data_stream();
            while let Some(chunk) = stream.next().await {
                bytes.extend_from_slice(&chunk.unwrap());
            }
            (status, kind, String::from_utf8(bytes).unwrap())
        }
    }

    /// A 409 ConflictException (AWS's error shape) whose message says `why`.
    fn assert_conflict((status, kind, body): (StatusCode, String, String), why: &str) {
        assert_eq!(
            (status, kind.as_str()),
            (StatusCode::CONFLICT, "ConflictException"),
            "{body}"
        );
        assert!(body.contains(why), "{body}");
    }

    #[tokio::test]
    async fn a_csr_url_signs_one_certificate_while_its_execution_is_in_progress() {
        let f = fleet();
        let url = f.rotation("rot-1", NOW);

        let queued = f.post(&url, csr("t1").0).await;
        assert_conflict(queued, "only while it is IN_PROGRESS");

        f.set_status("rot-1", "IN_PROGRESS");
        let (status, _, body) = f.post(&url, "not a csr".into()).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
        let (status, _, body) = f.post(&url, csr("t1").0).await;
        assert_eq!(
            status,
            StatusCode::OK,
            "a malformed CSR did not use the URL up: {body}"
        );
        assert!(body.contains("BEGIN CERTIFICATE"), "{body}");

        let second = f.post(&url, csr("t1").0).await;
        assert_conflict(second, "already been used");
        // A later delivery's URL is for the same execution: used too.
        let again = f.delivered("rot-1", NOW + 1);
        assert_ne!(again, url);
        assert_conflict(f.post(&again, csr("t1").0).await, "already been used");
    }

    /// A URL that leaked after the run (reflected into statusDetails, in a
    /// log) is refused once the execution has ended, used or not.
    #[tokio::test]
    async fn a_url_whose_execution_ended_mints_nothing() {
        let f = fleet();
        let url = f.rotation("rot-2", NOW);
        f.set_status("rot-2", "IN_PROGRESS");
        f.set_status("rot-2", "SUCCEEDED");
        assert_conflict(f.post(&url, csr("t1").0).await, "is SUCCEEDED");

        let other_execution = url.replace("/rot-2/1?", "/rot-2/2?");
        let (status, _, body) = f.post(&other_execution, csr("t1").0).await;
        assert_eq!(
            status,
            StatusCode::FORBIDDEN,
            "signed for execution 1: {body}"
        );
    }
}
