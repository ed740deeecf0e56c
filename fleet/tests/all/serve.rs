//! `jobhost-fleet serve` as a process: with `--tls-cert`, `--tls-key` and
//! `--tls-client-ca` its embedded broker requires client certificates and
//! answers a device with one at once (the service is subscribed before the
//! address is printed); the flags are checked together and documented; and
//! the service refuses to expose what the network must not reach without a
//! credential (`Server::start` and `serve` alike).

use crate::support;

use std::net::SocketAddr;
use std::process::Stdio;
use std::time::Duration;

use jobhost_fleet::broker::{install_crypto_provider, BrokerError};
use jobhost_fleet::server::{BrokerChoice, Server, ServerConfig, ServerError};
use rumqttc::{QoS, SubscribeReasonCode};
use rustls::AlertDescription;
use serde_json::Value;
use support::tls::{handshake_refused, TestPki};
use support::{options, TestClient};
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};

const BIN: &str = env!("CARGO_BIN_EXE_jobhost-fleet");

/// A guard against a hung child, never a synchronisation point.
const PATIENCE: Duration = Duration::from_secs(60);

/// An answer "at once": below the agent's 10 s resend of an unanswered
/// request, which is what a device would otherwise wait for. 6 s, not
/// less: a loaded 2-core machine running other test binaries beside this
/// process must not miss it, and it stays 4 s clear of the resend.
const PROMPT: Duration = Duration::from_secs(6);

/// `serve` with its data in `dir`, HTTP on a free loopback port unless
/// `args` say `--http`.
pub(crate) fn serve(dir: &std::path::Path, args: &[&str]) -> Command {
    let mut command = Command::new(BIN);
    command
        .arg("serve")
        .arg("--data-dir")
        .arg(dir.join("fleet-data"));
    if !args.contains(&"--http") {
        command.args(["--http", "127.0.0.1:0"]);
    }
    command
        .args(args)
        .env_clear()
        .env("JOBHOST_FLEET_LOG", "warn")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .kill_on_drop(true);
    command
}

/// Starts `serve` and returns it with the MQTT address it announced: the
/// line it prints once it is ready for devices.
async fn start(command: Command) -> (Child, SocketAddr) {
    let (child, line) = start_announced(command).await;
    let announced = line
        .strip_prefix("jobhost-fleet: MQTT over mTLS on ")
        .unwrap_or_else(|| panic!("not an mTLS broker: {line}"))
        .split(',')
        .next()
        .unwrap()
        .parse::<SocketAddr>()
        .unwrap();
    (child, announced)
}

/// Starts `serve` and returns it with the line it prints once it is ready
/// for devices (`jobhost-fleet: MQTT ... on ADDR, HTTP API on URL, ...`).
pub(crate) async fn start_announced(mut command: Command) -> (Child, String) {
    let mut child = command.spawn().unwrap();
    let mut lines = BufReader::new(child.stderr.take().unwrap()).lines();
    let announced = tokio::time::timeout(PATIENCE, async {
        while let Some(line) = lines.next_line().await.unwrap() {
            if line.starts_with("jobhost-fleet: MQTT") && line.contains(", HTTP API on ") {
                return line;
            }
            eprintln!("serve: {line}");
        }
        panic!("serve exited without announcing its addresses");
    })
    .await
    .expect("serve starts");
    // Keep draining stderr so the child never blocks on a full pipe.
    tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
    (child, announced)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn serve_with_mtls_answers_a_device_with_a_certificate_and_refuses_one_without() {
    install_crypto_provider();
    let dir = tempfile::tempdir().unwrap();
    let pki = TestPki::generate(dir.path());
    let (cert, key, ca) = (pki.server_cert(), pki.server_key(), pki.ca());
    let (mut child, addr) = start(serve(
        dir.path(),
        &[
            "--mqtt",
            "127.0.0.1:0",
            "--tls-cert",
            cert.to_str().unwrap(),
            "--tls-key",
            key.to_str().unwrap(),
            "--tls-client-ca",
            ca.to_str().unwrap(),
        ],
    ))
    .await;

    let mut o = options("t1", addr);
    o.set_transport(pki.transport(Some("t1")));
    let mut t1 = TestClient::connect(o).await.unwrap();
    let request = "$aws/things/t1/jobs/$next/get";
    assert_eq!(
        t1.subscribe(&format!("{request}/accepted")).await,
        SubscribeReasonCode::Success(QoS::AtLeastOnce)
    );
    t1.publish(request, r#"{"clientToken":"c1"}"#)
        .await
        .unwrap();
    let reply = tokio::time::timeout(PROMPT, t1.recv_publish())
        .await
        .expect("answered at once");
    let reply: Value = serde_json::from_slice(&reply.payload).unwrap();
    assert_eq!(reply["clientToken"], "c1", "{reply}");

    let mut o = options("t2", addr);
    o.set_transport(pki.transport(None));
    // Refused by the TLS layer (TLS 1.3: the broker asked for a client
    // certificate), on the listener that just answered t1.
    assert_eq!(
        handshake_refused(
            TestClient::connect(o).await,
            "a client without a certificate"
        ),
        AlertDescription::CertificateRequired
    );
    child.kill().await.unwrap();
}

/// Runs `serve` expecting it to fail at once; returns its stderr.
pub(crate) async fn fails(args: &[&str]) -> String {
    let dir = tempfile::tempdir().unwrap();
    let output = tokio::time::timeout(PATIENCE, serve(dir.path(), args).output())
        .await
        .expect("serve exits")
        .unwrap();
    assert_eq!(output.status.code(), Some(1), "{output:?}");
    String::from_utf8(output.stderr).unwrap()
}

#[tokio::test]
async fn the_tls_flags_go_together_and_not_with_an_external_broker() {
    let err = fails(&["--tls-cert", "server.pem"]).await;
    assert!(
        err.contains("--tls-key") && err.contains("--tls-client-ca"),
        "{err}"
    );
    let err = fails(&["--tls-key", "server.key"]).await;
    assert!(err.contains("--tls-cert"), "{err}");
    let err = fails(&[
        "--broker",
        "mqtt://127.0.0.1:1884",
        "--tls-cert",
        "a",
        "--tls-key",
        "b",
        "--tls-client-ca",
        "c",
    ])
    .await;
    assert!(
        err.contains("--broker") && err.contains("--tls-cert"),
        "{err}"
    );
}

#[tokio::test]
async fn missing_tls_files_are_named_in_the_error() {
    let missing = "/nonexistent/jobhost-serve-test.pem";
    let err = fails(&[
        "--mqtt",
        "127.0.0.1:0",
        "--tls-cert",
        missing,
        "--tls-key",
        missing,
        "--tls-client-ca",
        missing,
    ])
    .await;
    assert!(
        err.lines()
            .any(|l| l.starts_with("error: ") && l.contains(missing)),
        "{err}"
    );
}

#[tokio::test]
async fn help_documents_the_tls_flags() {
    let output = Command::new(BIN)
        .args(["serve", "--help"])
        .env_clear()
        .output()
        .await
        .unwrap();
    assert!(output.status.success(), "{output:?}");
    let help = String::from_utf8(output.stdout).unwrap();
    for flag in [
        "--tls-cert",
        "--tls-key",
        "--tls-client-ca",
        "loopback-only",
        "--allow-plain-mqtt",
        "--cert-validity-days",
        "--max-concurrent-uploads",
        "reverse proxy",
    ] {
        assert!(help.contains(flag), "{flag} missing from:\n{help}");
    }
}

fn config(dir: &std::path::Path, http: &str, token: Option<&str>) -> ServerConfig {
    ServerConfig {
        data_dir: dir.join("fleet-data"),
        broker: support::service::embedded(),
        http: http.parse().unwrap(),
        public_url: None,
        url_ttl: Duration::from_secs(600),
        token: token.map(str::to_owned),
        clock: support::service::clock(),
        ..ServerConfig::default()
    }
}

/// SECURITY.md, M1: the management API must not be open to whoever can
/// reach it, so on an address the network reaches it needs the token;
/// devices still fetch artifacts through presigned URLs without it.
#[tokio::test]
async fn an_api_off_loopback_needs_a_token_but_presigned_urls_do_not() {
    let dir = tempfile::tempdir().unwrap();
    let clock = support::service::clock();
    let err = Server::start(config(dir.path(), "0.0.0.0:0", None))
        .await
        .err()
        .expect("refused");
    assert!(matches!(err, ServerError::NoToken { .. }), "{err}");
    assert!(err.to_string().contains("--token"), "{err}");
    let err = Server::start(config(dir.path(), "0.0.0.0:0", Some(" ")))
        .await
        .err()
        .expect("refused");
    assert!(matches!(err, ServerError::EmptyToken), "{err}");

    let server = Server::start(config(dir.path(), "0.0.0.0:0", Some("t0ken")))
        .await
        .unwrap();
    let base = format!("http://127.0.0.1:{}", server.http_addr.port());
    let http = crate::support::http();
    let job = serde_json::json!({"targets": ["t1"], "document": {"operation": "echo"}});
    let put = |token: Option<&str>| {
        let request = http.put(format!("{base}/jobs/j1")).json(&job);
        match token {
            Some(t) => request.bearer_auth(t),
            None => request,
        }
        .send()
    };
    assert_eq!(put(None).await.unwrap().status().as_u16(), 401);
    assert_eq!(put(Some("t0ken")).await.unwrap().status().as_u16(), 200);

    server.artifacts.put("fw.bin", b"firmware").unwrap();
    let unsigned = server.artifacts.url_of("fw.bin");
    let signed = server.artifacts.presign(&unsigned, clock()).unwrap();
    let path = signed.split_once("/artifacts/").unwrap().1;
    let download = http
        .get(format!("{base}/artifacts/{path}"))
        .send()
        .await
        .unwrap();
    assert_eq!(download.status().as_u16(), 200, "no token needed");
    assert_eq!(download.bytes().await.unwrap().as_ref(), b"firmware");
    server.stop().await;
}

/// SECURITY.md, M2, through the service: on plain MQTT a device is
/// whatever client id it claims, so plain MQTT off loopback is refused
/// unless allowed.
#[tokio::test]
async fn plain_mqtt_off_loopback_needs_allow_plain_mqtt() {
    let dir = tempfile::tempdir().unwrap();
    let broker = BrokerChoice::Embedded {
        listen: "0.0.0.0:0".parse().unwrap(),
        allow_plain_mqtt: false,
    };
    let err = Server::start(ServerConfig {
        broker,
        ..config(dir.path(), "127.0.0.1:0", None)
    })
    .await
    .err()
    .expect("refused");
    assert!(
        matches!(err, ServerError::Broker(BrokerError::PlainNotLoopback(_))),
        "{err}"
    );
}

#[tokio::test]
async fn serve_refuses_an_open_api_and_plain_mqtt_off_loopback() {
    let err = fails(&["--http", "0.0.0.0:0"]).await;
    assert!(
        err.contains("without a token") && err.contains("--token"),
        "{err}"
    );
    let err = fails(&["--mqtt", "0.0.0.0:0"]).await;
    assert!(err.contains("--allow-plain-mqtt"), "{err}");
}
