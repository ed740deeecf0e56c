//! Who may subscribe to the events: the operator identity (its client id
//! and password, with mTLS also a certificate with that CN), to
//! `$aws/events/…` only, and never a device, which gets SUBACK failure
//! as for any other thing's topics.

use super::*;
use crate::support::tls::TestPki;
use jobhost_fleet::broker::{install_crypto_provider, Broker, BrokerConfig, BrokerTls};
use rumqttc::{ConnectReturnCode, ConnectionError};

fn refused(result: Result<TestClient, ConnectionError>) -> ConnectReturnCode {
    match result {
        Err(ConnectionError::ConnectionRefused(code)) => code,
        Err(e) => panic!("expected a refused CONNECT, got {e}"),
        Ok(_) => panic!("expected a refused CONNECT, but it was accepted"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_device_may_not_subscribe_to_the_events_nor_pass_for_the_operator() {
    let dir = tempfile::tempdir().unwrap();
    let server = start(dir.path()).await;
    configure(&server, true, true).await;

    let mut t1 = TestClient::connect(options("t1", server.mqtt_addr))
        .await
        .unwrap();
    for filter in [
        "$aws/events/#",
        "$aws/events/job/+/completed",
        "$aws/events/jobExecution/a/canceled",
    ] {
        assert_eq!(t1.subscribe(filter).await, REFUSED, "{filter}");
    }
    assert_eq!(t1.subscribe("$aws/things/t1/jobs/notify").await, GRANTED);

    // The operator's client id without its password, or with a wrong one.
    let bare = options(OPERATOR, server.mqtt_addr);
    assert_eq!(
        refused(TestClient::connect(bare).await),
        ConnectReturnCode::NotAuthorized
    );
    let mut wrong = options(OPERATOR, server.mqtt_addr);
    wrong.set_credentials(OPERATOR, "guess");
    assert_eq!(
        refused(TestClient::connect(wrong).await),
        ConnectReturnCode::NotAuthorized
    );

    // The operator itself sees events, not things' topics, and publishes
    // nothing.
    let mut op = subscribed_operator(&server).await;
    assert_eq!(op.subscribe("$aws/things/t1/jobs/#").await, REFUSED);
    assert_eq!(op.subscribe("#").await, REFUSED);

    // The refused filters are not in place: job "a" is created and
    // cancelled; once the operator has its last event, job "b" is created.
    // The service publishes the events and t1's notifications on one
    // session, in order, so an event t1 were sent would reach it before
    // the notification of "b".
    create_job(&server, "a", &["t1"]).await;
    let (status, _) = http(&server, reqwest::Method::PUT, "/jobs/a/cancel", None).await;
    assert_eq!(status, 200);
    assert_eq!(
        next_event(&mut op).await.0,
        "$aws/events/jobExecution/a/canceled"
    );
    assert_eq!(next_event(&mut op).await.0, "$aws/events/job/a/canceled");
    create_job(&server, "b", &["t1"]).await;
    loop {
        let p = t1.recv_publish().await;
        assert_eq!(p.topic, "$aws/things/t1/jobs/notify", "{p:?}");
        let notify: Value = serde_json::from_slice(&p.payload).unwrap();
        if notify.to_string().contains(r#""jobId":"b""#) {
            break;
        }
    }

    let err = op
        .publish("$aws/events/job/a/completed", "{}")
        .await
        .unwrap_err();
    assert!(
        matches!(err, ConnectionError::Io(_) | ConnectionError::MqttState(_)),
        "the operator is disconnected for publishing: {err}"
    );
    server.stop().await;
}

#[tokio::test]
async fn without_an_operator_identity_nobody_may_subscribe_to_the_events() {
    let broker = Broker::start(BrokerConfig {
        listen: "127.0.0.1:0".parse().unwrap(),
        ..BrokerConfig::new("svc", "svc-secret")
    })
    .await
    .unwrap();
    let mut o = options(OPERATOR, broker.local_addr());
    o.set_credentials(OPERATOR, OPERATOR_PASSWORD);
    // Just a thing called "monitor".
    let mut monitor = TestClient::connect(o).await.unwrap();
    assert_eq!(monitor.subscribe("$aws/events/#").await, REFUSED);
    // Nor may the service subscribe to them; it only publishes.
    let mut svc = options("svc", broker.local_addr());
    svc.set_credentials("svc", "svc-secret");
    let mut svc = TestClient::connect(svc).await.unwrap();
    assert_eq!(svc.subscribe("$aws/events/#").await, REFUSED);
    svc.publish("$aws/events/job/j1/completed", "{}")
        .await
        .unwrap();
}

#[tokio::test]
async fn with_mtls_the_operator_needs_its_certificate_and_its_password() {
    install_crypto_provider();
    let dir = tempfile::tempdir().unwrap();
    let pki = TestPki::generate(dir.path());
    let broker = Broker::start(BrokerConfig {
        listen: "127.0.0.1:0".parse().unwrap(),
        tls: Some(BrokerTls {
            cert: pki.server_cert(),
            key: pki.server_key(),
            client_ca: pki.ca(),
        }),
        operator: Some(OperatorCredentials {
            client_id: OPERATOR.into(),
            password: OPERATOR_PASSWORD.into(),
        }),
        ..BrokerConfig::new("svc", "svc-secret")
    })
    .await
    .unwrap();
    let addr = broker.local_addr();
    let tls = |client_id: &str, cn: &str, password: Option<&str>| {
        let mut o = options(client_id, addr);
        o.set_transport(pki.transport(Some(cn)));
        if let Some(p) = password {
            o.set_credentials(client_id, p);
        }
        o
    };

    let mut op = TestClient::connect(tls(OPERATOR, OPERATOR, Some(OPERATOR_PASSWORD)))
        .await
        .unwrap();
    assert_eq!(op.subscribe("$aws/events/#").await, GRANTED);
    // A certificate with the operator's name is not enough (the CA may
    // have signed it for a thing of that name), nor is the password with
    // another certificate.
    assert_eq!(
        refused(TestClient::connect(tls(OPERATOR, OPERATOR, None)).await),
        ConnectReturnCode::NotAuthorized
    );
    assert_eq!(
        refused(TestClient::connect(tls(OPERATOR, "t1", Some(OPERATOR_PASSWORD))).await),
        ConnectReturnCode::NotAuthorized
    );
    let mut t1 = TestClient::connect(tls("t1", "t1", None)).await.unwrap();
    assert_eq!(t1.subscribe("$aws/events/#").await, REFUSED);
}

#[tokio::test]
async fn an_unusable_operator_identity_is_refused_at_start() {
    for (client_id, password) in [
        ("svc", "pw"),
        ("mon+itor", "pw"),
        ("", "pw"),
        ("monitor", ""),
    ] {
        let started = Broker::start(BrokerConfig {
            listen: "127.0.0.1:0".parse().unwrap(),
            operator: Some(OperatorCredentials {
                client_id: client_id.into(),
                password: password.into(),
            }),
            ..BrokerConfig::new("svc", "svc-secret")
        })
        .await;
        assert!(started.is_err(), "{client_id:?} / {password:?}");
    }
}
