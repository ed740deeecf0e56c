//! The checks against AWS's published SigV4 test suite
//! (`third_party/aws-sig-v4-test-suite`, from aws-c-auth via botocore):
//! each signed request there canonicalises to AWS's canonical request and
//! string to sign, and verifies; then what must be refused is.

use super::canonical::{canonical_query, canonical_request, canonical_uri, string_to_sign};
use super::canonical::{format_amz_date, parse_amz_date};
use super::*;
use axum::http::{HeaderMap, HeaderName, HeaderValue};
use sha2::Digest;
use std::path::{Path, PathBuf};

/// The suite's credentials, service and time (20150830T123600Z).
const KEY_ID: &str = "AKIDEXAMPLE";
const SECRET: &str = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY";
const SUITE_SERVICE: &str = "service";
const NOW: i64 = 1_440_938_160;

fn credentials() -> AwsCredentials {
    AwsCredentials::new(KEY_ID, SECRET).unwrap()
}

/// A signed request of the suite (`.sreq`), taken apart.
#[derive(Clone)]
struct Vector {
    name: String,
    method: String,
    path: String,
    query: Option<String>,
    headers: HeaderMap,
    body: Vec<u8>,
    dir: PathBuf,
}

impl Vector {
    fn parts(&self) -> RequestParts<'_> {
        RequestParts {
            method: &self.method,
            path: &self.path,
            query: self.query.as_deref(),
            headers: &self.headers,
            authority: None,
        }
    }

    fn authorization(&self) -> String {
        self.headers["authorization"].to_str().unwrap().to_owned()
    }

    fn payload_hash(&self) -> String {
        hex::encode(sha2::Sha256::digest(&self.body))
    }

    fn expected(&self, ext: &str) -> String {
        std::fs::read_to_string(self.dir.join(format!("{}.{ext}", self.name))).unwrap()
    }

    fn check(&self, credentials: &AwsCredentials, now: i64) -> Result<Claim, SignatureError> {
        Claim::check(
            &self.authorization(),
            &self.parts(),
            credentials,
            SUITE_SERVICE,
            now,
        )
    }

    fn verify(&self, credentials: &AwsCredentials, now: i64) -> Result<(), SignatureError> {
        self.check(credentials, now)?
            .verify(&self.parts(), credentials, &self.payload_hash())
    }

    fn with_header(mut self, name: &str, value: &str) -> Self {
        self.headers.insert(
            HeaderName::from_bytes(name.as_bytes()).unwrap(),
            HeaderValue::from_str(value).unwrap(),
        );
        self
    }
}

/// Parses a raw HTTP/1.1 request as the suite writes it: a folded header
/// line (leading white space) continues the previous value after a space,
/// as RFC 9112 §5.2 lets a recipient unfold it.
fn parse(dir: &Path, name: &str, raw: &str) -> Vector {
    let (head, body) = raw.split_once("\n\n").unwrap_or((raw, ""));
    let mut lines = head.lines();
    let request_line = lines.next().unwrap();
    let (method, rest) = request_line.split_once(' ').unwrap();
    let target = rest.rsplit_once(' ').unwrap().0;
    let (path, query) = match target.split_once('?') {
        Some((p, q)) => (p.to_owned(), Some(q.to_owned())),
        None => (target.to_owned(), None),
    };
    let mut fields: Vec<(String, String)> = Vec::new();
    for line in lines {
        if line.starts_with([' ', '\t']) {
            let last = fields.last_mut().unwrap();
            last.1.push(' ');
            last.1.push_str(line.trim());
        } else {
            let (n, v) = line.split_once(':').unwrap();
            fields.push((n.to_owned(), v.trim().to_owned()));
        }
    }
    let mut headers = HeaderMap::new();
    for (n, v) in fields {
        headers.append(
            HeaderName::from_bytes(n.as_bytes()).unwrap(),
            HeaderValue::from_str(&v).unwrap(),
        );
    }
    Vector {
        name: name.to_owned(),
        method: method.to_owned(),
        path,
        query,
        headers,
        body: body.as_bytes().to_vec(),
        dir: dir.to_owned(),
    }
}

fn suite_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../third_party/aws-sig-v4-test-suite")
}

/// Every vector of the suite (a folder holding `<name>.sreq`).
fn vectors() -> Vec<Vector> {
    fn walk(dir: &Path, out: &mut Vec<Vector>) {
        let mut entries: Vec<_> = std::fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().path())
            .collect();
        entries.sort();
        for path in entries {
            if path.is_dir() {
                let name = path.file_name().unwrap().to_str().unwrap().to_owned();
                let sreq = path.join(format!("{name}.sreq"));
                if sreq.exists() {
                    let raw = std::fs::read_to_string(&sreq).unwrap();
                    out.push(parse(&path, &name, &raw));
                }
                walk(&path, out);
            }
        }
    }
    let mut out = Vec::new();
    walk(&suite_dir(), &mut out);
    assert!(
        out.len() >= 30,
        "the suite is missing: {}",
        suite_dir().display()
    );
    out
}

fn vector(name: &str) -> Vector {
    vectors().into_iter().find(|v| v.name == name).unwrap()
}

fn uses_session_token(v: &Vector) -> bool {
    v.headers.contains_key("x-amz-security-token")
}

#[test]
fn every_vector_canonicalises_as_aws_says() {
    for v in vectors() {
        let authorization = v.authorization();
        let parsed = Parsed::read(&authorization).unwrap();
        let creq = canonical_request(
            &v.parts(),
            &parsed.signed_headers,
            parsed.signed_headers_line,
            &v.payload_hash(),
        )
        .unwrap();
        assert_eq!(
            String::from_utf8(creq.clone()).unwrap(),
            v.expected("creq"),
            "{}",
            v.name
        );
        let [_, date, region, service, terminator] = parsed.credential;
        let scope = format!("{date}/{region}/{service}/{terminator}");
        assert_eq!(
            string_to_sign("20150830T123600Z", &scope, &creq),
            v.expected("sts"),
            "{}",
            v.name
        );
    }
}

#[test]
fn every_vector_verifies_except_session_tokens() {
    let credentials = credentials();
    for v in vectors() {
        let outcome = v.verify(&credentials, NOW);
        if uses_session_token(&v) {
            assert!(
                matches!(outcome, Err(SignatureError::SessionToken)),
                "{}: {outcome:?}",
                v.name
            );
        } else {
            assert!(outcome.is_ok(), "{}: {outcome:?}", v.name);
        }
    }
}

#[test]
fn a_wrong_secret_or_a_changed_request_does_not_verify() {
    let v = vector("post-x-www-form-urlencoded");
    let wrong = AwsCredentials::new(KEY_ID, "not-the-secret").unwrap();
    let err = v.verify(&wrong, NOW).unwrap_err();
    assert_eq!(err.exception(), "InvalidSignatureException");
    // The message shows the canonical request, never the secret.
    let message = err.to_string();
    assert!(
        message.contains("content-type;host;x-amz-date"),
        "{message}"
    );
    assert!(!message.contains("not-the-secret") && !message.contains(SECRET));

    let mut body = v.clone();
    body.body = b"Param1=value2".to_vec();
    assert!(matches!(
        body.verify(&credentials(), NOW),
        Err(SignatureError::Mismatch { .. })
    ));
    let mut path = v.clone();
    path.path = "/other".into();
    assert!(path.verify(&credentials(), NOW).is_err());
    let header = v.clone().with_header("content-type", "text/plain");
    assert!(header.verify(&credentials(), NOW).is_err());
    let mut method = v;
    method.method = "PUT".into();
    assert!(method.verify(&credentials(), NOW).is_err());
}

#[test]
fn a_forged_signature_does_not_verify() {
    let v = vector("get-vanilla");
    let auth = v.authorization();
    let last = auth.chars().last().unwrap();
    let flipped = if last == '0' { '1' } else { '0' };
    let forged = format!("{}{flipped}", &auth[..auth.len() - 1]);
    let v = v.with_header("authorization", &forged);
    assert!(matches!(
        v.verify(&credentials(), NOW),
        Err(SignatureError::Mismatch { .. })
    ));
}

#[test]
fn another_access_key_is_unrecognized() {
    let v = vector("get-vanilla");
    let other = AwsCredentials::new("AKIDOTHER", SECRET).unwrap();
    let err = v.verify(&other, NOW).unwrap_err();
    assert_eq!(err.exception(), "UnrecognizedClientException");
    assert!(err.to_string().contains("AKIDEXAMPLE"), "{err}");
}

#[test]
fn x_amz_date_must_be_within_fifteen_minutes() {
    let v = vector("get-vanilla");
    let c = credentials();
    assert!(v.verify(&c, NOW + MAX_SKEW_SECS).is_ok());
    assert!(v.verify(&c, NOW - MAX_SKEW_SECS).is_ok());
    let err = v.verify(&c, NOW + MAX_SKEW_SECS + 1).unwrap_err();
    assert_eq!(err.exception(), "InvalidSignatureException");
    assert_eq!(
        err.to_string(),
        "Signature expired: 20150830T123600Z is now earlier than 20150830T123601Z \
         (20150830T125101Z - 15 min.)"
    );
    let err = v.verify(&c, NOW - MAX_SKEW_SECS - 1).unwrap_err();
    assert!(
        err.to_string()
            .starts_with("Signature not yet current: 20150830T123600Z"),
        "{err}"
    );
}

#[test]
fn the_scope_must_name_the_service_and_the_date() {
    let v = vector("get-vanilla");
    let err =
        Claim::check(&v.authorization(), &v.parts(), &credentials(), SERVICE, NOW).unwrap_err();
    assert!(matches!(&err, SignatureError::WrongService(s) if s == "service"));
    assert_eq!(
        err.to_string(),
        "Credential should be scoped to correct service: 'iot', not 'service'"
    );
    let next_day = v.clone().with_header("x-amz-date", "20150831T000000Z");
    assert!(matches!(
        next_day.verify(&credentials(), NOW + 41_000),
        Err(SignatureError::ScopeDate { .. })
    ));
    let auth = v.authorization().replace("aws4_request", "aws5_request");
    let v = v.with_header("authorization", &auth);
    assert!(matches!(
        v.verify(&credentials(), NOW),
        Err(SignatureError::WrongTerminator(_))
    ));
}

#[test]
fn host_and_x_amz_date_must_be_signed_and_present() {
    let v = vector("get-vanilla");
    let c = credentials();
    let unsigned_host = v
        .authorization()
        .replace("SignedHeaders=host;x-amz-date", "SignedHeaders=x-amz-date");
    let err = v
        .clone()
        .with_header("authorization", &unsigned_host)
        .verify(&c, NOW)
        .unwrap_err();
    assert!(matches!(err, SignatureError::UnsignedHeader("host")));
    assert_eq!(err.exception(), "IncompleteSignatureException");

    let mut no_date = v.clone();
    no_date.headers.remove("x-amz-date");
    assert!(matches!(
        no_date.verify(&c, NOW),
        Err(SignatureError::BadDate(_))
    ));
    let bad_date = v.clone().with_header("x-amz-date", "20150830 123600");
    assert!(matches!(
        bad_date.verify(&c, NOW),
        Err(SignatureError::BadDate(_))
    ));
    let absent = v.authorization().replace(
        "SignedHeaders=host;x-amz-date",
        "SignedHeaders=host;my-header;x-amz-date",
    );
    assert!(matches!(
        v.with_header("authorization", &absent).verify(&c, NOW),
        Err(SignatureError::AbsentHeader(h)) if h == "my-header"
    ));
}

#[test]
fn host_comes_from_the_authority_when_there_is_no_header() {
    let mut v = vector("get-vanilla");
    v.headers.remove("host");
    let c = credentials();
    let claim = v.check(&c, NOW).unwrap();
    let mut parts = v.parts();
    assert!(matches!(
        claim.verify(&parts, &c, &v.payload_hash()),
        Err(SignatureError::AbsentHeader(_))
    ));
    parts.authority = Some("example.amazonaws.com");
    assert!(claim.verify(&parts, &c, &v.payload_hash()).is_ok());
}

#[test]
fn malformed_authorizations_are_incomplete_signatures() {
    let cases = [
        "AWS4-HMAC-SHA256",
        "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/service/aws4_request",
        "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/service, SignedHeaders=host, Signature=00",
        "AWS4-HMAC-SHA256 Credential=a/b/c/d/e, SignedHeaders=host, Signature=zz",
        "AWS4-HMAC-SHA256 Credential=a/b/c/d/e, SignedHeaders=host;;x, Signature=00",
        "AWS4-HMAC-SHA256 Credential=a/b/c/d/e, Credential=a/b/c/d/e, SignedHeaders=host, Signature=00",
        "AWS4-HMAC-SHA256 Credential=a/b/c/d/e, Extra=1, SignedHeaders=host, Signature=00",
        "AWS4-HMAC-SHA256 Credential=a//c/d/e, SignedHeaders=host, Signature=00",
    ];
    let v = vector("get-vanilla");
    for auth in cases {
        let err = Claim::check(auth, &v.parts(), &credentials(), SUITE_SERVICE, NOW).unwrap_err();
        assert_eq!(
            err.exception(),
            "IncompleteSignatureException",
            "{auth}: {err}"
        );
    }
}

#[test]
fn the_path_is_signed_encoded_twice_as_botocore_does() {
    assert_eq!(canonical_uri("/things/a%3Ab/jobs"), "/things/a%253Ab/jobs");
    assert_eq!(canonical_uri(""), "/");
    assert_eq!(canonical_uri("/a/./b/../c/"), "/a/c/");
    assert_eq!(canonical_uri("/example space/"), "/example%20space/");
}

#[test]
fn the_query_is_sorted_and_encoded_once() {
    assert_eq!(canonical_query(None), "");
    assert_eq!(
        canonical_query(Some("status=IN_PROGRESS&maxResults=10")),
        "maxResults=10&status=IN_PROGRESS"
    );
    // A raw character is encoded; an encoded one stays so.
    assert_eq!(canonical_query(Some("a=b c&a=b%20b")), "a=b%20b&a=b%20c");
    assert_eq!(canonical_query(Some("k=%3a")), "k=%3A");
    assert_eq!(canonical_query(Some("flag")), "flag=");
}

#[test]
fn amz_dates_parse_and_format() {
    assert_eq!(parse_amz_date("20150830T123600Z"), Some(NOW));
    assert_eq!(format_amz_date(NOW), "20150830T123600Z");
    for bad in [
        "20150830T123600",
        "2015-08-30T12:36:00Z",
        "20150230T123600Z",
        "20150830T126000Z",
        "2015083OT123600Z",
        "+0150830T123600Z",
    ] {
        assert_eq!(parse_amz_date(bad), None, "{bad}");
    }
}

#[test]
fn credentials_are_checked_and_their_debug_hides_the_secret() {
    let printed = format!("{:?}", credentials());
    assert!(printed.contains(KEY_ID), "{printed}");
    assert!(!printed.contains(SECRET), "{printed}");
    assert!(matches!(
        AwsCredentials::new("AKID/1", "x"),
        Err(CredentialsError::BadKeyId)
    ));
    assert!(matches!(
        AwsCredentials::new("", "x"),
        Err(CredentialsError::BadKeyId)
    ));
    assert!(matches!(
        AwsCredentials::new("AKID", ""),
        Err(CredentialsError::EmptySecret)
    ));
}

/// Signs `request` as an SDK would, for the HTTP-side tests below (the
/// signing itself is proven against AWS's suite above and boto3 in
/// fleet/tests/all/aws_control): `payload_hash` is what the signature
/// covers, `declare` also sends it as X-Amz-Content-Sha256.
fn sign(request: &mut axum::extract::Request, payload_hash: &str, declare: bool) {
    let amz_date = format_amz_date(NOW);
    let headers = request.headers_mut();
    headers.insert("host", HeaderValue::from_static("fleet.example:8080"));
    headers.insert("x-amz-date", HeaderValue::from_str(&amz_date).unwrap());
    let mut signed = vec!["host".to_owned(), "x-amz-date".to_owned()];
    if declare {
        headers.insert(
            "x-amz-content-sha256",
            HeaderValue::from_str(payload_hash).unwrap(),
        );
        signed.insert(1, "x-amz-content-sha256".to_owned());
    }
    let line = signed.join(";");
    let (method, path, query) = (
        request.method().to_string(),
        request.uri().path().to_owned(),
        request.uri().query().map(str::to_owned),
    );
    let parts = RequestParts {
        method: &method,
        path: &path,
        query: query.as_deref(),
        headers: request.headers(),
        authority: None,
    };
    let creq = canonical_request(&parts, &signed, &line, payload_hash).unwrap();
    let scope = format!("{}/eu-west-3/{SERVICE}/aws4_request", &amz_date[..8]);
    let sts = string_to_sign(&amz_date, &scope, &creq);
    let key = signing_key(SECRET, &amz_date[..8], "eu-west-3", SERVICE);
    let signature = hex::encode(hmac(&key, &sts));
    let authorization = format!(
        "AWS4-HMAC-SHA256 Credential={KEY_ID}/{scope}, SignedHeaders={line}, Signature={signature}"
    );
    request.headers_mut().insert(
        "authorization",
        HeaderValue::from_str(&authorization).unwrap(),
    );
}

fn put(body: axum::body::Body) -> axum::extract::Request {
    axum::http::Request::builder()
        .method("PUT")
        .uri("/artifacts/fw.bin?x=1")
        .body(body)
        .unwrap()
}

fn sha256_hex(bytes: &[u8]) -> String {
    hex::encode(sha2::Sha256::digest(bytes))
}

/// `body` PUT and signed over `payload_hash` (declared or not).
fn signed(body: axum::body::Body, payload_hash: &str, declare: bool) -> axum::extract::Request {
    let mut request = put(body);
    sign(&mut request, payload_hash, declare);
    request
}

/// The exception `request` is refused with.
async fn refusal(request: axum::extract::Request) -> &'static str {
    let err = authenticate(&credentials(), request, NOW)
        .await
        .unwrap_err();
    err.kind().1
}

async fn body_of(request: axum::extract::Request) -> Result<Vec<u8>, axum::Error> {
    axum::body::to_bytes(request.into_body(), usize::MAX)
        .await
        .map(|b| b.to_vec())
}

/// A body no bigger than MAX_BUFFERED_BODY, in `chunks` pieces and without
/// a Content-Length, as a client streaming it sends it.
fn streamed(bytes: &[u8], chunks: usize) -> axum::body::Body {
    let pieces: Vec<Result<Vec<u8>, std::io::Error>> = bytes
        .chunks(bytes.len().div_ceil(chunks))
        .map(|c| Ok(c.to_vec()))
        .collect();
    axum::body::Body::from_stream(futures_util::stream::iter(pieces))
}

#[tokio::test]
async fn a_small_body_is_hashed_whole_and_handed_on() {
    let body = b"{\"targets\":[\"t1\"]}".to_vec();
    for declare in [false, true] {
        let request = signed(streamed(&body, 3), &sha256_hex(&body), declare);
        let request = authenticate(&credentials(), request, NOW).await.unwrap();
        assert_eq!(body_of(request).await.unwrap(), body);

        // The same signature over another body.
        let other = axum::body::Body::from("{\"targets\":[\"t2\"]}");
        let request = signed(other, &sha256_hex(&body), declare);
        assert_eq!(refusal(request).await, "InvalidSignatureException");
    }
}

#[tokio::test]
async fn a_large_body_must_declare_its_hash_and_is_checked_as_it_streams() {
    use super::request::MAX_BUFFERED_BODY;
    let big: Vec<u8> = (0..MAX_BUFFERED_BODY + 10).map(|i| i as u8).collect();

    // Undeclared: refused before it is read, by Content-Length or as it
    // passes the limit.
    let mut request = signed(
        axum::body::Body::from(big.clone()),
        &sha256_hex(&big),
        false,
    );
    request
        .headers_mut()
        .insert("content-length", HeaderValue::from(big.len()));
    assert_eq!(refusal(request).await, "LimitExceededException");
    let request = signed(streamed(&big, 4), &sha256_hex(&big), false);
    assert_eq!(refusal(request).await, "LimitExceededException");

    // Declared: handed on as a stream, whole when it matches...
    let request = signed(streamed(&big, 4), &sha256_hex(&big), true);
    let request = authenticate(&credentials(), request, NOW).await.unwrap();
    assert_eq!(body_of(request).await.unwrap(), big);
    // ... and ending in an error, not its end, when it does not.
    let mut forged = big.clone();
    forged[MAX_BUFFERED_BODY + 5] ^= 1;
    let request = signed(streamed(&forged, 4), &sha256_hex(&big), true);
    let request = authenticate(&credentials(), request, NOW).await.unwrap();
    let err = body_of(request).await.unwrap_err();
    assert!(err.to_string().contains("X-Amz-Content-Sha256"), "{err}");
}

#[tokio::test]
async fn an_unsigned_payload_is_refused() {
    let request = signed(axum::body::Body::from("x"), "UNSIGNED-PAYLOAD", true);
    assert_eq!(refusal(request).await, "IncompleteSignatureException");
}
