//! `Server::start` returns only once the jobs service is connected to its
//! broker and the broker has acknowledged its subscription to every thing's
//! jobs topics: a device request sent the moment it returns is answered at
//! once, not after the device's own resend (10 s for the agent). And when
//! the broker refuses or never answers, `start` fails with a clear error
//! within its bound instead of serving nobody.

use crate::support;

use std::net::SocketAddr;
use std::time::Duration;

use jobhost_fleet::broker::{Broker, BrokerConfig};
use jobhost_fleet::device_api::SUBSCRIPTION;
use jobhost_fleet::server::{BrokerChoice, Server, ServerConfig, ServerError, SERVICE_IDENTITY};
use rumqttc::{QoS, SubscribeReasonCode};
use serde_json::{json, Value};
use support::proxy::GatedProxy;
use support::service::{clock, embedded, start_server};
use support::{options, TestClient};

/// An answer "at once": what a device that asked before the service was
/// ready must not wait for is the agent's 10 s resend of a lost request,
/// so a bound below 10 s still tells "answered" from "re-asked". 6 s
/// gives a loaded 2-core machine (five tests in this binary start brokers
/// and services in parallel) twice the former 3 s, and stays 4 s clear of
/// the resend.
const PROMPT: Duration = Duration::from_secs(6);

const PASSWORD: &str = "readiness-secret";

/// A device that asks `$next/get` as soon as it is connected and returns
/// the reply, failing the test unless it comes within [`PROMPT`].
async fn ask_next(mqtt: SocketAddr, thing: &str) -> Value {
    ask_next_sent(mqtt, thing).await.reply().await
}

/// A device whose `$next/get` request the broker has acknowledged.
struct Asked {
    device: TestClient,
    request: String,
}

async fn ask_next_sent(mqtt: SocketAddr, thing: &str) -> Asked {
    let mut device = TestClient::connect(options(thing, mqtt)).await.unwrap();
    let request = format!("$aws/things/{thing}/jobs/$next/get");
    assert_eq!(
        device.subscribe(&format!("{request}/accepted")).await,
        SubscribeReasonCode::Success(QoS::AtLeastOnce)
    );
    device
        .publish(&request, json!({"clientToken": "first"}).to_string())
        .await
        .unwrap();
    Asked { device, request }
}

impl Asked {
    async fn reply(mut self) -> Value {
        let request = &self.request;
        let reply = tokio::time::timeout(PROMPT, self.device.recv_publish())
            .await
            .unwrap_or_else(|_| panic!("{request} not answered within {PROMPT:?}"));
        assert_eq!(reply.topic, format!("{request}/accepted"));
        serde_json::from_slice(&reply.payload).unwrap()
    }
}

/// The service as `serve --broker` would run it against `broker_addr`.
fn external(port: u16, password: &str) -> BrokerChoice {
    BrokerChoice::External {
        host: "127.0.0.1".into(),
        port,
        credentials: Some((SERVICE_IDENTITY.into(), password.into())),
    }
}

/// An embedded-module broker standing in for an external one, with the
/// service identity `service` (password [`PASSWORD`]).
async fn standalone_broker(service: &str) -> Broker {
    Broker::start(BrokerConfig {
        listen: "127.0.0.1:0".parse().unwrap(),
        ..BrokerConfig::new(service, PASSWORD)
    })
    .await
    .unwrap()
}

fn config(dir: &std::path::Path, broker: BrokerChoice) -> ServerConfig {
    ServerConfig {
        data_dir: dir.join("fleet"),
        broker,
        url_ttl: Duration::from_secs(600),
        clock: clock(),
        ..ServerConfig::default()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_request_sent_right_after_start_is_answered_at_once() {
    let dir = tempfile::tempdir().unwrap();
    let server = start_server(dir.path(), embedded()).await;
    let reply = ask_next(server.mqtt_addr, "t1").await;
    assert_eq!(reply["clientToken"], "first");
    assert!(reply.get("execution").is_none(), "{reply}");
    server.stop().await;
}

/// The same, made deterministic: the service's path to the broker goes
/// through a proxy that holds its connection, so `start` cannot have heard
/// from the broker before the test lets it. Had `start` returned before the
/// subscription was in place, the request below would be sent while the
/// service is still cut off, and lost.
///
/// On the single-threaded runtime a `start` that does not wait completes in
/// the poll that spawns the service's task, before that task can even reach
/// the proxy: the `biased` select then sees it first, every time.
#[tokio::test]
async fn start_waits_for_the_subscription_even_on_a_slow_path_to_the_broker() {
    let broker = standalone_broker(SERVICE_IDENTITY).await;
    let proxy = GatedProxy::start(broker.local_addr()).await;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().to_owned();
    let choice = external(proxy.addr().port(), PASSWORD);
    let mut start = tokio::spawn(async move { start_server(&path, choice).await });

    let server = tokio::select! {
        biased;
        // Only possible if start does not wait for the broker: the proxy
        // still holds the service's connection (or it has not even tried).
        started = &mut start => started.unwrap(),
        () = proxy.connection_arrived() => {
            proxy.open();
            start.await.unwrap()
        }
    };
    // A device request the moment start returned, straight to the broker;
    // only once the broker has it may the service's connection go through
    // (if it was still held, the request is lost: the failure this catches).
    let asked = ask_next_sent(broker.local_addr(), "t1").await;
    proxy.open();
    let reply = asked.reply().await;
    assert_eq!(reply["clientToken"], "first");
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_broker_refusing_the_subscription_fails_start_with_a_clear_error() {
    // This broker's service is someone else: to it, the jobs service is a
    // device called `jobhost-fleet`, which may not subscribe to every
    // thing's topics.
    let broker = standalone_broker("someone-else").await;
    let dir = tempfile::tempdir().unwrap();
    let choice = BrokerChoice::External {
        host: "127.0.0.1".into(),
        port: broker.local_addr().port(),
        credentials: None,
    };
    // A bound far beyond the test's patience: a refusal must not wait it out.
    let start = Server::start(ServerConfig {
        ready_timeout: Duration::from_secs(600),
        ..config(dir.path(), choice)
    });
    let err = tokio::time::timeout(support::WAIT, start)
        .await
        .expect("a refused subscription ends start at once")
        .err()
        .expect("start fails");
    assert!(
        matches!(err, ServerError::SubscriptionRefused { .. }),
        "{err}"
    );
    let message = err.to_string();
    assert!(message.contains(SUBSCRIPTION), "{message}");
    assert!(
        message.contains(&broker.local_addr().to_string()),
        "{message}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_broker_that_never_answers_fails_start_within_the_bound() {
    // Accepts TCP connections and never forwards them: no CONNACK, ever.
    let silent = GatedProxy::start("127.0.0.1:9".parse().unwrap()).await;
    let dir = tempfile::tempdir().unwrap();
    let within = Duration::from_secs(1);
    let start = Server::start(ServerConfig {
        ready_timeout: within,
        ..config(dir.path(), external(silent.addr().port(), PASSWORD))
    });
    let err = tokio::time::timeout(support::WAIT, start)
        .await
        .expect("start gives up after its bound")
        .err()
        .expect("start fails");
    match &err {
        ServerError::NotReady {
            broker, within: w, ..
        } => {
            assert_eq!(*w, within);
            assert_eq!(*broker, silent.addr().to_string());
        }
        other => panic!("expected NotReady, got {other}"),
    }
    let message = err.to_string();
    assert!(message.contains("within 1 s"), "{message}");
    assert!(message.contains(SUBSCRIPTION), "{message}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_broker_at_all_fails_start_with_the_connection_error() {
    // A port that was free a moment ago: nothing listens there.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let dir = tempfile::tempdir().unwrap();
    let start = Server::start(ServerConfig {
        ready_timeout: Duration::from_secs(1),
        ..config(dir.path(), external(port, PASSWORD))
    });
    let err = tokio::time::timeout(support::WAIT, start)
        .await
        .expect("start gives up after its bound")
        .err()
        .expect("start fails");
    match &err {
        ServerError::NotReady { last_error, .. } => assert!(
            last_error.as_deref().is_some_and(|e| e.contains("refused")),
            "{err}"
        ),
        other => panic!("expected NotReady, got {other}"),
    }
}
