//! The embedded broker (`jobhost_fleet::broker`) and Debian's mosquitto,
//! exercised by real rumqttc clients over loopback: the per-thing isolation
//! (docs/fleet.md, "Broker choices"), the service's credentials,
//! packet size, mTLS identities, plain TCP kept on loopback, and shutdown.

use crate::support;

use std::net::SocketAddr;

use jobhost_fleet::broker::{
    install_crypto_provider, Broker, BrokerConfig, BrokerError, BrokerTls,
};
use rumqttc::{
    ConnectReturnCode, ConnectionError, LastWill, MqttOptions, QoS, SubscribeReasonCode,
};
use rustls::AlertDescription;
use support::mosquitto::{Mosquitto, MosquittoOptions};
use support::tls::{handshake_refused, TestPki};
use support::{options, TestClient};

const SERVICE: &str = "jobs-svc";
const PASSWORD: &str = "per-start-secret";
const GRANTED: SubscribeReasonCode = SubscribeReasonCode::Success(QoS::AtLeastOnce);
const REFUSED: SubscribeReasonCode = SubscribeReasonCode::Failure;

async fn start_broker() -> Broker {
    Broker::start(config()).await.unwrap()
}

fn config() -> BrokerConfig {
    BrokerConfig {
        listen: "127.0.0.1:0".parse().unwrap(),
        ..BrokerConfig::new(SERVICE, PASSWORD)
    }
}

/// The jobs service's connection: its username as client id, plus password.
fn service(addr: SocketAddr) -> MqttOptions {
    service_as(SERVICE, addr)
}

fn service_as(client_id: &str, addr: SocketAddr) -> MqttOptions {
    let mut o = options(client_id, addr);
    o.set_credentials(SERVICE, PASSWORD);
    o
}

fn refused(result: Result<TestClient, ConnectionError>) -> ConnectReturnCode {
    match result {
        Err(ConnectionError::ConnectionRefused(code)) => code,
        Err(e) => panic!("expected a refused CONNECT, got {e}"),
        Ok(_) => panic!("expected a refused CONNECT, but it was accepted"),
    }
}

#[tokio::test]
async fn device_receives_service_messages_on_its_own_topic_but_may_not_subscribe_to_everything() {
    let broker = start_broker().await;
    let addr = broker.local_addr();
    let mut t1 = TestClient::connect(options("t1", addr)).await.unwrap();
    assert_eq!(
        t1.subscribe("$aws/things/t1/jobs/notify-next").await,
        GRANTED
    );
    assert_eq!(t1.subscribe("#").await, REFUSED);

    let mut svc = TestClient::connect(service(addr)).await.unwrap();
    svc.publish("$aws/things/t1/jobs/notify-next", r#"{"execution":null}"#)
        .await
        .unwrap();
    let p = t1.recv_publish().await;
    assert_eq!(p.topic, "$aws/things/t1/jobs/notify-next");
    assert_eq!(&p.payload[..], br#"{"execution":null}"#);
}

#[tokio::test]
async fn the_service_is_not_sent_back_what_it_publishes_but_everyone_else_gets_it() {
    let broker = start_broker().await;
    let addr = broker.local_addr();
    let all_things = "$aws/things/+/jobs/#";
    let mut svc = TestClient::connect(service(addr)).await.unwrap();
    assert_eq!(svc.subscribe(all_things).await, GRANTED);
    // Another session with the service's identity, as a witness.
    let mut witness = TestClient::connect(service_as("witness", addr))
        .await
        .unwrap();
    assert_eq!(witness.subscribe(all_things).await, GRANTED);
    let mut t1 = TestClient::connect(options("t1", addr)).await.unwrap();
    assert_eq!(t1.subscribe("$aws/things/t1/jobs/notify").await, GRANTED);

    // Acknowledged: routed to every matching session by now.
    svc.publish("$aws/things/t1/jobs/notify", "from the service")
        .await
        .unwrap();
    assert_eq!(&t1.recv_publish().await.payload[..], b"from the service");
    assert_eq!(
        &witness.recv_publish().await.payload[..],
        b"from the service"
    );
    // Routed after it: the first message the service gets.
    t1.publish("$aws/things/t1/jobs/get", "from t1")
        .await
        .unwrap();
    let p = svc.recv_publish().await;
    assert_eq!(
        (&*p.topic, &p.payload[..]),
        ("$aws/things/t1/jobs/get", &b"from t1"[..])
    );
}

#[tokio::test]
async fn device_may_not_subscribe_to_other_things_or_to_all_things() {
    let broker = start_broker().await;
    let addr = broker.local_addr();
    let mut t1 = TestClient::connect(options("t1", addr)).await.unwrap();
    for filter in [
        "$aws/things/t2/jobs/notify-next",
        "$aws/things/+/jobs/#",
        "$aws/things/#",
        "$aws/#",
        "$share/g/$aws/things/t2/jobs/#",
    ] {
        assert_eq!(t1.subscribe(filter).await, REFUSED, "{filter}");
    }
    assert_eq!(t1.subscribe("$aws/things/t1/jobs/#").await, GRANTED);

    // The refused filters really are not in place: t2's message never
    // reaches t1, whose first message is the one published after it.
    let mut svc = TestClient::connect(service(addr)).await.unwrap();
    svc.publish("$aws/things/t2/jobs/notify-next", "for t2")
        .await
        .unwrap();
    svc.publish("$aws/things/t1/jobs/notify-next", "for t1")
        .await
        .unwrap();
    let p = t1.recv_publish().await;
    assert_eq!(
        (&*p.topic, &p.payload[..]),
        ("$aws/things/t1/jobs/notify-next", &b"for t1"[..])
    );
}

#[tokio::test]
async fn device_publishing_to_another_thing_is_disconnected_and_not_routed() {
    let broker = start_broker().await;
    let addr = broker.local_addr();
    let mut svc = TestClient::connect(service(addr)).await.unwrap();
    assert_eq!(svc.subscribe("$aws/things/+/jobs/#").await, GRANTED);

    let mut t1 = TestClient::connect(options("t1", addr)).await.unwrap();
    let err = t1
        .publish("$aws/things/t2/jobs/get", "from t1")
        .await
        .unwrap_err();
    assert!(
        matches!(err, ConnectionError::Io(_) | ConnectionError::MqttState(_)),
        "expected the broker to close t1's connection, got {err}"
    );

    // Reconnected, t1 may use its own topics. Its forbidden message would
    // have been queued to the service before this one: the service gets
    // this one first.
    let mut t1 = TestClient::connect(options("t1", addr)).await.unwrap();
    t1.publish("$aws/things/t1/jobs/get", "own").await.unwrap();
    let p = svc.recv_publish().await;
    assert_eq!(
        (&*p.topic, &p.payload[..]),
        ("$aws/things/t1/jobs/get", &b"own"[..])
    );
}

#[tokio::test]
async fn service_identity_needs_the_password_and_is_limited_to_jobs_topics() {
    let broker = start_broker().await;
    let addr = broker.local_addr();

    let mut wrong = options(SERVICE, addr);
    wrong.set_credentials(SERVICE, "not-the-password");
    assert_eq!(
        refused(TestClient::connect(wrong).await),
        ConnectReturnCode::NotAuthorized
    );
    let mut empty = options("t1", addr);
    empty.set_credentials(SERVICE, "");
    assert_eq!(
        refused(TestClient::connect(empty).await),
        ConnectReturnCode::NotAuthorized
    );
    // A device may not take the service's client id (and so its session).
    assert_eq!(
        refused(TestClient::connect(options(SERVICE, addr)).await),
        ConnectReturnCode::NotAuthorized
    );
    // Nor an identity that is not a thing name (here, a wildcard).
    assert_eq!(
        refused(TestClient::connect(options("+", addr)).await),
        ConnectReturnCode::NotAuthorized
    );

    let mut svc = TestClient::connect(service(addr)).await.unwrap();
    assert_eq!(svc.subscribe("$aws/things/+/jobs/#").await, GRANTED);
    assert_eq!(svc.subscribe("#").await, REFUSED);
    assert_eq!(svc.subscribe("$aws/things/+/shadow/#").await, REFUSED);

    // Devices sending some other username (AWS SDKs put metrics there) are
    // still devices, identified by client id.
    let mut sdk = options("t1", addr);
    sdk.set_credentials("?SDK=Python&Version=1.0", "");
    let mut t1 = TestClient::connect(sdk).await.unwrap();
    assert_eq!(
        t1.subscribe("$aws/things/t1/jobs/notify-next").await,
        GRANTED
    );
    assert_eq!(
        t1.subscribe("$aws/things/t2/jobs/notify-next").await,
        REFUSED
    );
}

#[tokio::test]
async fn last_will_on_another_things_topic_is_refused_at_connect() {
    // rmqtt publishes a will without the publish ACL hook, so the broker
    // checks the will topic at CONNECT, as AWS IoT does.
    let broker = start_broker().await;
    let addr = broker.local_addr();
    let mut evil = options("t1", addr);
    evil.set_last_will(LastWill::new(
        "$aws/things/t2/jobs/get",
        "boo",
        QoS::AtLeastOnce,
        false,
    ));
    assert_eq!(
        refused(TestClient::connect(evil).await),
        ConnectReturnCode::NotAuthorized
    );

    let mut fine = options("t1", addr);
    fine.set_last_will(LastWill::new(
        "$aws/things/t1/offline",
        "bye",
        QoS::AtLeastOnce,
        false,
    ));
    TestClient::connect(fine).await.unwrap();
}

#[tokio::test]
async fn payload_of_100_kib_passes() {
    let broker = start_broker().await;
    let addr = broker.local_addr();
    let mut t1 = TestClient::connect(options("t1", addr)).await.unwrap();
    assert_eq!(
        t1.subscribe("$aws/things/t1/jobs/notify-next").await,
        GRANTED
    );
    let mut svc = TestClient::connect(service(addr)).await.unwrap();
    let payload: Vec<u8> = (0..100 * 1024).map(|i| b'a' + (i % 26) as u8).collect();
    svc.publish("$aws/things/t1/jobs/notify-next", payload.clone())
        .await
        .unwrap();
    assert_eq!(t1.recv_publish().await.payload, payload);
}

#[tokio::test]
async fn mtls_identity_is_the_certificate_cn() {
    install_crypto_provider();
    let dir = tempfile::tempdir().unwrap();
    let pki = TestPki::generate(dir.path());
    let broker = Broker::start(BrokerConfig {
        tls: Some(BrokerTls {
            cert: pki.server_cert(),
            key: pki.server_key(),
            client_ca: pki.ca(),
        }),
        ..config()
    })
    .await
    .unwrap();
    let addr = broker.local_addr();
    let tls = |client_id: &str, cn: Option<&str>| {
        let mut o = options(client_id, addr);
        o.set_transport(pki.transport(cn));
        o
    };

    let mut t1 = TestClient::connect(tls("t1", Some("t1"))).await.unwrap();
    assert_eq!(
        t1.subscribe("$aws/things/t1/jobs/notify-next").await,
        GRANTED
    );
    assert_eq!(
        t1.subscribe("$aws/things/t2/jobs/notify-next").await,
        REFUSED
    );

    // The service presents a certificate with its name, and the password.
    let mut svc_options = tls(SERVICE, Some(SERVICE));
    svc_options.set_credentials(SERVICE, PASSWORD);
    let mut svc = TestClient::connect(svc_options).await.unwrap();
    assert_eq!(svc.subscribe("$aws/things/+/jobs/#").await, GRANTED);
    svc.publish("$aws/things/t1/jobs/notify-next", "hello t1")
        .await
        .unwrap();
    assert_eq!(&t1.recv_publish().await.payload[..], b"hello t1");

    // A t1 certificate does not make a t2, whatever the client id says, nor
    // does the service's name in CONNECT without the service's certificate.
    assert_eq!(
        refused(TestClient::connect(tls("t2", Some("t1"))).await),
        ConnectReturnCode::NotAuthorized
    );
    let mut fake_svc = tls(SERVICE, Some("t1"));
    fake_svc.set_credentials(SERVICE, PASSWORD);
    assert_eq!(
        refused(TestClient::connect(fake_svc).await),
        ConnectReturnCode::NotAuthorized
    );

    // No client certificate: the TLS handshake fails (TLS 1.3: the broker
    // asked for one), on the listener that just admitted t1.
    assert_eq!(
        handshake_refused(
            TestClient::connect(tls("t3", None)).await,
            "a client without a certificate",
        ),
        AlertDescription::CertificateRequired
    );

    let err = t1
        .publish("$aws/things/t2/jobs/get", "from t1")
        .await
        .unwrap_err();
    assert!(
        !matches!(err, ConnectionError::ConnectionRefused(_)),
        "{err}"
    );
}

#[tokio::test]
async fn shutdown_disconnects_clients_and_stops_listening() {
    let broker = start_broker().await;
    let addr = broker.local_addr();
    let mut t1 = TestClient::connect(options("t1", addr)).await.unwrap();
    assert_eq!(
        t1.subscribe("$aws/things/t1/jobs/notify-next").await,
        GRANTED
    );

    broker.shutdown();
    t1.disconnected().await;
    match TestClient::connect(options("t1", addr)).await {
        Err(ConnectionError::Io(e)) => assert_eq!(e.kind(), std::io::ErrorKind::ConnectionRefused),
        Err(e) => panic!("expected connection refused, got {e}"),
        Ok(_) => panic!("connected to a broker that was shut down"),
    }
    // The port can be taken again at once.
    let again = Broker::start(BrokerConfig {
        listen: addr,
        ..config()
    })
    .await
    .unwrap();
    TestClient::connect(options("t1", again.local_addr()))
        .await
        .unwrap();
}

#[tokio::test]
async fn bad_configurations_are_reported() {
    let empty = BrokerConfig {
        service_password: String::new(),
        ..config()
    };
    assert!(matches!(
        Broker::start(empty).await,
        Err(BrokerError::EmptyServicePassword)
    ));

    let running = start_broker().await;
    let taken = BrokerConfig {
        listen: running.local_addr(),
        ..config()
    };
    assert!(matches!(
        Broker::start(taken).await,
        Err(BrokerError::Bind { .. })
    ));

    let missing = std::path::PathBuf::from("/nonexistent/jobhost-test.pem");
    let tls = BrokerTls {
        cert: missing.clone(),
        key: missing.clone(),
        client_ca: missing,
    };
    let err = Broker::start(BrokerConfig {
        tls: Some(tls),
        ..config()
    })
    .await
    .unwrap_err();
    assert!(matches!(err, BrokerError::Tls { .. }), "{err}");
    assert!(
        err.to_string().contains("/nonexistent/jobhost-test.pem"),
        "{err}"
    );
}

/// SECURITY.md, M2: on plain TCP a device is whatever client id it claims,
/// so a plain listener off loopback would let anyone who reaches it
/// connect as any thing. It is refused unless explicitly allowed.
#[tokio::test]
async fn plain_mqtt_off_loopback_is_refused_unless_allowed() {
    let anywhere: SocketAddr = "0.0.0.0:0".parse().unwrap();
    let err = Broker::start(BrokerConfig {
        listen: anywhere,
        ..config()
    })
    .await
    .unwrap_err();
    assert!(
        matches!(err, BrokerError::PlainNotLoopback(a) if a == anywhere),
        "{err}"
    );
    let message = err.to_string();
    assert!(
        message.contains("--allow-plain-mqtt") && message.contains("client id"),
        "{message}"
    );

    let allowed = Broker::start(BrokerConfig {
        listen: anywhere,
        allow_plain_mqtt: true,
        ..config()
    })
    .await
    .unwrap();
    let port = allowed.local_addr().port();
    let device = TestClient::connect(options("t1", SocketAddr::from(([127, 0, 0, 1], port))))
        .await
        .unwrap();
    drop(device);
    allowed.shutdown();
}

/// The same isolation on mosquitto 2.0 with the ACL file from
/// `support::mosquitto`. mosquitto enforces it differently: it grants every
/// SUBSCRIBE and filters at delivery (read access), and it acknowledges a
/// forbidden PUBLISH and drops it without disconnecting the client. What
/// matters holds on both brokers: nothing crosses between things.
#[tokio::test]
async fn mosquitto_isolates_things_with_the_acl_file() {
    let mosquitto = Mosquitto::start(MosquittoOptions {
        service_username: SERVICE.into(),
        service_password: PASSWORD.into(),
    });
    let addr = mosquitto.addr();

    let mut wrong = options(SERVICE, addr);
    wrong.set_credentials(SERVICE, "not-the-password");
    assert_eq!(
        refused(TestClient::connect(wrong).await),
        ConnectReturnCode::NotAuthorized
    );

    let mut svc = TestClient::connect(service(addr)).await.unwrap();
    let mut listener = TestClient::connect(service_as("jobs-svc-listener", addr))
        .await
        .unwrap();
    assert_eq!(listener.subscribe("$aws/things/+/jobs/#").await, GRANTED);
    let mut t1 = TestClient::connect(options("t1", addr)).await.unwrap();
    let mut t2 = TestClient::connect(options("t2", addr)).await.unwrap();
    assert_eq!(t2.subscribe("$aws/things/t2/jobs/#").await, GRANTED);
    for filter in [
        "$aws/things/t1/jobs/notify-next",
        "$aws/things/t2/jobs/notify-next",
        "$aws/things/+/jobs/#",
        "#",
    ] {
        assert_eq!(
            t1.subscribe(filter).await,
            GRANTED,
            "mosquitto 2.0 grants {filter}"
        );
    }

    // (1, 2) The service reaches each thing; t1 does not get t2's message
    // despite its granted subscriptions.
    svc.publish("$aws/things/t2/jobs/notify-next", "for t2")
        .await
        .unwrap();
    svc.publish("$aws/things/t1/jobs/notify-next", "for t1")
        .await
        .unwrap();
    let p = t1.recv_publish().await;
    assert_eq!(
        (&*p.topic, &p.payload[..]),
        ("$aws/things/t1/jobs/notify-next", &b"for t1"[..])
    );
    let p = t2.recv_publish().await;
    assert_eq!(
        (&*p.topic, &p.payload[..]),
        ("$aws/things/t2/jobs/notify-next", &b"for t2"[..])
    );

    // (3) t1's publish to t2's topic is acknowledged but reaches neither t2
    // nor the service: the later, allowed messages arrive first.
    t1.publish("$aws/things/t2/jobs/get", "from t1")
        .await
        .unwrap();
    t1.publish("$aws/things/t1/jobs/get", "own").await.unwrap();
    svc.publish("$aws/things/t2/jobs/notify-next", "marker")
        .await
        .unwrap();
    let p = t2.recv_publish().await;
    assert_eq!(
        (&*p.topic, &p.payload[..]),
        ("$aws/things/t2/jobs/notify-next", &b"marker"[..])
    );
    loop {
        let p = listener.recv_publish().await;
        assert_ne!(
            &*p.topic, "$aws/things/t2/jobs/get",
            "t1's forbidden message was routed"
        );
        if &*p.topic == "$aws/things/t1/jobs/get" {
            break;
        }
    }
}

/// Regression for the rmqtt patch in third_party/README.md: `$next` is an
/// ordinary level after the first, as MQTT 3.1.1 §4.7.2 ("Topics beginning
/// with $", <https://docs.oasis-open.org/mqtt/mqtt/v3.1.1/os/mqtt-v3.1.1-os.html>)
/// and AWS IoT Jobs (`…/jobs/$next/get`,
/// <https://docs.aws.amazon.com/iot/latest/developerguide/jobs-mqtt-api.html>) need.
#[tokio::test]
async fn dollar_next_topics_are_routed_and_subscribable() {
    let broker = start_broker().await;
    let addr = broker.local_addr();
    let mut svc = TestClient::connect(service(addr)).await.unwrap();
    assert_eq!(svc.subscribe("$aws/things/+/jobs/#").await, GRANTED);
    let mut t1 = TestClient::connect(options("t1", addr)).await.unwrap();
    assert_eq!(
        t1.subscribe("$aws/things/t1/jobs/$next/get/accepted").await,
        GRANTED
    );

    t1.publish("$aws/things/t1/jobs/$next/get", b"{}")
        .await
        .unwrap();
    let request = svc.recv_publish().await;
    assert_eq!(request.topic, "$aws/things/t1/jobs/$next/get");

    svc.publish(
        "$aws/things/t1/jobs/$next/get/accepted",
        b"{\"timestamp\":1}",
    )
    .await
    .unwrap();
    let reply = t1.recv_publish().await;
    assert_eq!(reply.topic, "$aws/things/t1/jobs/$next/get/accepted");
}
