//! The embedded broker in mutual-TLS mode, through the same server API
//! `jobhost-fleet serve --tls-cert/--tls-key/--tls-client-ca` uses
//! ([`BrokerChoice::EmbeddedTls`]): a real in-process agent with a device
//! certificate runs a job to SUCCEEDED; a certificate only opens its own
//! thing's topics; clients without a (trusted) certificate are refused; and
//! the service's privileged identity is never available on the public
//! listener, only on the loopback listener that admits nothing else.

use crate::support;

use std::net::SocketAddr;
use std::path::Path;

use jobhost_fleet::broker::{install_crypto_provider, BrokerTls};
use jobhost_fleet::server::{BrokerChoice, Server, SERVICE_IDENTITY};
use jobhost_protocol::JobExecutionStatus;
use rumqttc::{
    ConnectReturnCode, ConnectionError, MqttOptions, QoS, StateError, SubscribeReasonCode,
};
use rustls::AlertDescription;
use serde_json::{json, Value};
use support::service::{create, detail, execution, start_server, wait_terminal};
use support::tls::{handshake_refused, TestPki};
use support::{options, TestClient};
use tokio::sync::watch;

const GRANTED: SubscribeReasonCode = SubscribeReasonCode::Success(QoS::AtLeastOnce);
const REFUSED: SubscribeReasonCode = SubscribeReasonCode::Failure;

/// The service with its embedded broker in mTLS mode on a free port, with
/// a fresh test PKI in `dir/pki`.
async fn start_mtls(dir: &Path) -> (Server, TestPki) {
    install_crypto_provider();
    let pki_dir = dir.join("pki");
    std::fs::create_dir_all(&pki_dir).unwrap();
    let pki = TestPki::generate(&pki_dir);
    let broker = BrokerChoice::EmbeddedTls {
        listen: "127.0.0.1:0".parse().unwrap(),
        tls: BrokerTls {
            cert: pki.server_cert(),
            key: pki.server_key(),
            client_ca: pki.ca(),
        },
    };
    (start_server(dir, broker).await, pki)
}

/// Options for `client_id` over TLS presenting the certificate for `cn`.
fn tls(pki: &TestPki, addr: SocketAddr, client_id: &str, cn: Option<&str>) -> MqttOptions {
    let mut o = options(client_id, addr);
    o.set_transport(pki.transport(cn));
    o
}

fn refused(result: Result<TestClient, ConnectionError>) -> ConnectReturnCode {
    match result {
        Err(ConnectionError::ConnectionRefused(code)) => code,
        Err(e) => panic!("expected a refused CONNECT, got {e}"),
        Ok(_) => panic!("expected a refused CONNECT, but it was accepted"),
    }
}

/// A running in-process agent; stopped on drop.
struct Agent {
    stop: watch::Sender<bool>,
}

impl Drop for Agent {
    fn drop(&mut self) {
        let _ = self.stop.send(true);
    }
}

/// Starts the real agent for `thing` against the mTLS broker at `mqtt`,
/// with the device certificate for `thing` from `pki`, and the echo plugin
/// signed by an operator key it trusts.
fn start_agent(dir: &Path, pki: &TestPki, thing: &str, mqtt: SocketAddr) -> Agent {
    let agent = dir.join("agent");
    std::fs::create_dir_all(&agent).unwrap();
    let (key, public) = support::plugins::operator_key(&agent, "operator.key");
    support::plugins::provision(&agent.join("plugins"), &key, &["echo"]);
    let (cert, key) = pki.client_files(thing, "device");
    let config = agent.join("jobhost.toml");
    std::fs::write(
        &config,
        format!(
            r#"thing_name = "{thing}"
state_dir = "state"
plugin_dir = "plugins"
[broker]
host = "{host}"
port = {port}
keep_alive_secs = 5
[broker.tls]
ca = "{ca}"
cert = "{cert}"
key = "{key}"
[trust]
keys = ["{public}"]
[limits]
timeout_secs = 60
"#,
            host = mqtt.ip(),
            port = mqtt.port(),
            ca = pki.ca().display(),
            cert = cert.display(),
            key = key.display(),
            public = public.display(),
        ),
    )
    .unwrap();
    let config = jobhost::config::Config::load(&config).unwrap();
    let (stop, stopped) = watch::channel(false);
    tokio::spawn(async move { jobhost::agent::run(config, stopped).await.unwrap() });
    Agent { stop }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_agent_runs_a_job_to_succeeded_over_mtls() {
    let dir = tempfile::tempdir().unwrap();
    let (server, pki) = start_mtls(dir.path()).await;
    let _agent = start_agent(dir.path(), &pki, "t1", server.mqtt_addr);
    create(
        &server,
        "t1",
        "echo-tls",
        json!({"operation": "echo", "message": "over mTLS"}),
    );
    let e = wait_terminal(&server, "t1", "echo-tls").await;
    assert_eq!(e.status, JobExecutionStatus::Succeeded, "{e:?}");
    assert_eq!(detail(&e, "message"), Some("over mTLS"));
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_device_certificate_opens_only_its_own_things_topics() {
    let dir = tempfile::tempdir().unwrap();
    let (server, pki) = start_mtls(dir.path()).await;
    let addr = server.mqtt_addr;
    create(&server, "t2", "for-t2", json!({"operation": "echo"}));

    let mut t1 = TestClient::connect(tls(&pki, addr, "t1", Some("t1")))
        .await
        .unwrap();
    for filter in [
        "$aws/things/t2/jobs/notify-next",
        "$aws/things/t2/jobs/$next/get/accepted",
        "$aws/things/+/jobs/#",
        "#",
    ] {
        assert_eq!(t1.subscribe(filter).await, REFUSED, "{filter}");
    }
    // Its own topics work: its queue is empty.
    assert_eq!(
        t1.subscribe("$aws/things/t1/jobs/$next/get/accepted").await,
        GRANTED
    );
    t1.publish("$aws/things/t1/jobs/$next/get", "{}")
        .await
        .unwrap();
    let reply: Value = serde_json::from_slice(&t1.recv_publish().await.payload).unwrap();
    assert!(reply.get("execution").is_none(), "{reply}");

    // Claiming t2's job with a t1 certificate: dropped and disconnected.
    let claim = json!({"status": "IN_PROGRESS"}).to_string();
    let err = t1
        .publish("$aws/things/t2/jobs/for-t2/update", claim)
        .await
        .unwrap_err();
    assert!(
        !matches!(err, ConnectionError::ConnectionRefused(_)),
        "{err}"
    );
    // Nor does a t1 certificate connect as t2, whatever the client id says.
    assert_eq!(
        refused(TestClient::connect(tls(&pki, addr, "t2", Some("t1"))).await),
        ConnectReturnCode::NotAuthorized
    );

    // t2's job is untouched, and t2's own certificate gets it.
    let mut t2 = TestClient::connect(tls(&pki, addr, "t2", Some("t2")))
        .await
        .unwrap();
    assert_eq!(
        t2.subscribe("$aws/things/t2/jobs/$next/get/accepted").await,
        GRANTED
    );
    t2.publish("$aws/things/t2/jobs/$next/get", "{}")
        .await
        .unwrap();
    let reply: Value = serde_json::from_slice(&t2.recv_publish().await.payload).unwrap();
    assert_eq!(reply["execution"]["jobId"], "for-t2", "{reply}");
    assert_eq!(reply["execution"]["status"], "QUEUED", "{reply}");
    let e = execution(&server, "t2", "for-t2");
    assert_eq!(e.status, JobExecutionStatus::Queued, "{e:?}");
    assert_eq!(e.version_number, 1, "{e:?}");
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn clients_without_a_trusted_certificate_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let (server, pki) = start_mtls(dir.path()).await;
    let addr = server.mqtt_addr;

    // The control: the same listener admits a client with a certificate
    // from the trusted CA, so what follows is refused for its credentials.
    let mut t1 = TestClient::connect(tls(&pki, addr, "t1", Some("t1")))
        .await
        .unwrap();
    assert_eq!(
        t1.subscribe("$aws/things/t1/jobs/notify-next").await,
        GRANTED
    );

    // TLS 1.3: the broker asks for a client certificate and refuses the
    // handshake without one.
    assert_eq!(
        handshake_refused(
            TestClient::connect(tls(&pki, addr, "t2", None)).await,
            "TLS without a client certificate",
        ),
        AlertDescription::CertificateRequired
    );
    // A CN=t1 certificate from a CA the broker does not trust. The rogue CA
    // has the trusted one's name, so the chain is built and its signature
    // fails (decrypt_error); a differently named CA gets unknown_ca.
    let rogue_dir = dir.path().join("rogue");
    std::fs::create_dir_all(&rogue_dir).unwrap();
    let rogue = TestPki::generate(&rogue_dir);
    let mut o = options("t1", addr);
    o.set_transport(pki.transport_presenting(Some(rogue.client("t1"))));
    let alert = handshake_refused(
        TestClient::connect(o).await,
        "a certificate from another CA",
    );
    assert!(
        matches!(
            alert,
            AlertDescription::DecryptError
                | AlertDescription::UnknownCA
                | AlertDescription::BadCertificate
        ),
        "a certificate from another CA: {alert:?}"
    );
    plain_mqtt_gets_a_tls_alert(addr).await;
    server.stop().await;
}

/// Plain MQTT to the TLS listener: the broker answers the CONNECT with a
/// TLS alert record, not a CONNACK, and rumqttc, reading it as MQTT, fails
/// to parse it. Checked on the wire too, where the alert is unambiguous.
async fn plain_mqtt_gets_a_tls_alert(addr: SocketAddr) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    match TestClient::connect(options("t3", addr)).await {
        Err(ConnectionError::MqttState(StateError::Deserialization(_))) => {}
        Err(e) => panic!("plain MQTT: expected an answer that is not MQTT, got {e:?}"),
        Ok(_) => panic!("plain MQTT: was accepted"),
    }
    // MQTT 3.1.1 CONNECT, client id "x", clean session, 60 s keep-alive.
    const CONNECT: &[u8] = b"\x10\x0d\x00\x04MQTT\x04\x02\x00\x3c\x00\x01x";
    /// The first byte of a TLS record carrying an alert (content type 21);
    /// a CONNACK would start with 0x20.
    const TLS_ALERT: u8 = 0x15;
    let mut socket = tokio::net::TcpStream::connect(addr).await.unwrap();
    socket.write_all(CONNECT).await.unwrap();
    let mut first = [0u8; 1];
    tokio::time::timeout(support::WAIT, socket.read_exact(&mut first))
        .await
        .expect("the broker answers a plain CONNECT")
        .expect("the broker answers before closing");
    assert_eq!(first[0], TLS_ALERT, "plain MQTT: the answer's first byte");
}

/// The service's credentials as the server uses them, and the address of
/// the listener they are for.
fn service_login(server: &Server) -> (String, String, SocketAddr) {
    let o = server.service_mqtt_options("probe");
    let login = o.credentials().expect("the service has credentials");
    let (host, port) = o.broker_address();
    let addr = SocketAddr::new(host.parse().unwrap(), port);
    (login.username, login.password, addr)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_service_identity_is_refused_on_the_public_listener_even_with_its_secrets() {
    let dir = tempfile::tempdir().unwrap();
    let (server, pki) = start_mtls(dir.path()).await;
    let (user, password, service_addr) = service_login(&server);
    assert_eq!(user, SERVICE_IDENTITY);
    assert!(service_addr.ip().is_loopback(), "{service_addr}");
    assert_ne!(service_addr, server.mqtt_addr);

    // A CA-signed certificate in the service's name, plus the password
    // (which a device never has): still refused on the public listener.
    let mut forged = tls(
        &pki,
        server.mqtt_addr,
        SERVICE_IDENTITY,
        Some(SERVICE_IDENTITY),
    );
    forged.set_credentials(&user, &password);
    assert_eq!(
        refused(TestClient::connect(forged).await),
        ConnectReturnCode::NotAuthorized
    );

    // The service listener admits the service, and only the service.
    let mut svc = TestClient::connect(server.service_mqtt_options("probe"))
        .await
        .unwrap();
    assert_eq!(svc.subscribe("$aws/things/+/jobs/#").await, GRANTED);
    assert_eq!(
        refused(TestClient::connect(options("t1", service_addr)).await),
        ConnectReturnCode::NotAuthorized
    );
    let mut wrong = options("probe-2", service_addr);
    wrong.set_credentials(&user, "not-the-password");
    assert_eq!(
        refused(TestClient::connect(wrong).await),
        ConnectReturnCode::NotAuthorized
    );
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_tls_the_public_listener_refuses_the_service_identity_too() {
    let dir = tempfile::tempdir().unwrap();
    let server = start_server(dir.path(), support::service::embedded()).await;
    let (user, password, service_addr) = service_login(&server);
    assert_ne!(service_addr, server.mqtt_addr);
    let mut o = options("probe", server.mqtt_addr);
    o.set_credentials(&user, &password);
    assert_eq!(
        refused(TestClient::connect(o).await),
        ConnectReturnCode::NotAuthorized
    );
    // Devices use the public listener as before.
    let mut t1 = TestClient::connect(options("t1", server.mqtt_addr))
        .await
        .unwrap();
    assert_eq!(
        t1.subscribe("$aws/things/t1/jobs/notify-next").await,
        GRANTED
    );
    server.stop().await;
}
