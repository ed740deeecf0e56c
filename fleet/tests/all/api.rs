//! The HTTP API through a real server on loopback: every route, its
//! success shape and each error status, the changes handed to the
//! notifier, presigned artifact downloads (Range, expiry, forgery), token
//! enforcement, strict request bodies, pagination and filters, the event
//! configuration and the event stream; the thing registry and thing groups
//! (`things`, `groups`).

// The cases, by route group; this file holds the shared server harness.
mod artifacts;
mod auth;
mod control;
mod documents;
mod events;
mod executions;
mod groups;
mod job_templates;
mod jobs;
mod pages;
mod strict;
mod things;

use jobhost_fleet::api::{self, ApiState};
use jobhost_fleet::artifacts::{placeholder, Artifacts};
use jobhost_fleet::store::{Changes, Store};
use jobhost_protocol::requests::UpdateRequest;
use jobhost_protocol::JobExecutionStatus;
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};
use std::collections::BTreeMap;
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::mpsc::UnboundedReceiver;

const TOKEN: &str = "s3cret";
const T0: i64 = 1_700_000_000;
const TTL: u64 = 600;

/// A server on 127.0.0.1:0 with an in-memory store, a temporary artifact
/// directory and a clock the test moves.
struct Server {
    base: String,
    http: reqwest::Client,
    token: Option<&'static str>,
    changes: UnboundedReceiver<Changes>,
    store: Arc<Mutex<Store>>,
    clock: Arc<AtomicI64>,
    artifacts: Arc<Artifacts>,
    _dir: tempfile::TempDir,
    _stop: tokio::sync::oneshot::Sender<()>,
}

impl Server {
    async fn start(token: Option<&'static str>) -> Self {
        Self::start_with(token, api::DEFAULT_MAX_ARTIFACT_BYTES).await
    }

    async fn start_with(token: Option<&'static str>, max_artifact_bytes: u64) -> Self {
        Self::start_configured(token, |state| {
            state.with_max_artifact_bytes(max_artifact_bytes)
        })
        .await
    }

    /// [`Server::start`], with `configure` applied to the API's state.
    async fn start_configured(
        token: Option<&'static str>,
        configure: impl FnOnce(ApiState) -> ApiState,
    ) -> Self {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        let dir = tempfile::tempdir().unwrap();
        let artifacts =
            Arc::new(Artifacts::open(dir.path(), &base, Duration::from_secs(TTL)).unwrap());
        let store = Arc::new(Mutex::new(Store::open_in_memory().unwrap()));
        let (tx, changes) = tokio::sync::mpsc::unbounded_channel();
        let clock = Arc::new(AtomicI64::new(T0));
        let c = Arc::clone(&clock);
        let mut state = configure(
            ApiState::new(Arc::clone(&store), tx, Arc::clone(&artifacts))
                .with_clock(Arc::new(move || c.load(Ordering::SeqCst))),
        );
        if let Some(t) = token {
            state = state.with_token(t);
        }
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        tokio::spawn(api::serve(listener, state, async {
            let _ = stopped.await;
        }));
        Self {
            base,
            http: crate::support::http(),
            token,
            changes,
            store,
            clock,
            artifacts,
            _dir: dir,
            _stop: stop,
        }
    }

    fn req(&self, method: Method, path: &str) -> reqwest::RequestBuilder {
        let rb = self.http.request(method, format!("{}{path}", self.base));
        match self.token {
            Some(t) => rb.bearer_auth(t),
            None => rb,
        }
    }

    /// Sends and returns (status, x-amzn-ErrorType, JSON body or Null).
    async fn call(&self, rb: reqwest::RequestBuilder) -> (StatusCode, Option<String>, Value) {
        let resp = rb.send().await.unwrap();
        let status = resp.status();
        let kind = resp
            .headers()
            .get("x-amzn-ErrorType")
            .map(|v| v.to_str().unwrap().to_owned());
        let bytes = resp.bytes().await.unwrap();
        let body = if bytes.is_empty() {
            Value::Null
        } else {
            serde_json::from_slice(&bytes).unwrap()
        };
        (status, kind, body)
    }

    async fn create(&self, id: &str, targets: &[&str]) -> Value {
        let body = json!({"targets": targets, "document": "{\"operation\":\"echo\"}"});
        let (status, _, body) = self
            .call(self.req(Method::PUT, &format!("/jobs/{id}")).json(&body))
            .await;
        assert_eq!(status, StatusCode::OK, "{body}");
        body
    }

    /// The things of the one batch of changes sent since the last call.
    fn changed(&mut self) -> Vec<String> {
        let batch = self.changes.try_recv().expect("a batch of changes");
        assert!(self.changes.try_recv().is_err(), "exactly one batch");
        batch.things.into_iter().collect()
    }

    fn no_changes(&mut self) {
        assert!(self.changes.try_recv().is_err(), "no changes expected");
    }

    fn device_update(
        &self,
        thing: &str,
        job: &str,
        status: JobExecutionStatus,
        details: &[(&str, &str)],
    ) {
        let mut req = UpdateRequest::new(status);
        if !details.is_empty() {
            let map: BTreeMap<String, String> = details
                .iter()
                .map(|(k, v)| ((*k).into(), (*v).into()))
                .collect();
            req.status_details = Some(map);
        }
        let now = self.clock.load(Ordering::SeqCst);
        self.store
            .lock()
            .unwrap()
            .update(thing, job, &req, now)
            .unwrap();
    }
}

fn assert_error(got: (StatusCode, Option<String>, Value), status: StatusCode, kind: &str) {
    assert_eq!(got.0, status, "{}", got.2);
    assert_eq!(got.1.as_deref(), Some(kind), "{}", got.2);
    let message = got.2["message"].as_str().unwrap();
    assert!(
        !message.is_empty() && !message.contains('\n'),
        "{message:?}"
    );
}
