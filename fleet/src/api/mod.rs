//! The HTTP API: the AWS IoT control plane's job routes (same paths, same
//! JSON shapes, same error names, so scripts written against AWS work with
//! a changed endpoint), and the artifact server behind presigned URLs.
//!
//! # Layout
//!
//! - `error`: [`ApiError`], the JSON error body and `x-amzn-ErrorType`.
//! - `extract`: query, path and body extraction with JSON errors; strict
//!   bodies that name every field they refuse.
//! - `unsupported`: the AWS request fields this service refuses, and why.
//! - `pages`: `maxResults` and `nextToken` on the list calls.
//! - `auth`: authentication on management routes: bearer token, AWS SigV4.
//! - `sigv4`: AWS Signature Version 4, as AWS's SDKs and CLI sign.
//! - `iot_model`: the AWS IoT control plane's operations (generated from
//!   botocore's model), to name the ones not implemented here.
//! - `fallback`: answers for requests no route serves.
//! - `views`: response shapes that differ from the store's records.
//! - `jobs`: CreateJob, UpdateJob, DescribeJob, ListJobs, GetJobDocument,
//!   CancelJob, DeleteJob.
//! - `rollout`: CreateJob's rollout, abort and scheduling configurations,
//!   DescribeJob's `scheduledJobRollouts`.
//! - `templates`: ListManagedJobTemplates, DescribeManagedJobTemplate.
//! - `job_templates`: CreateJobTemplate, DescribeJobTemplate,
//!   ListJobTemplates, DeleteJobTemplate (custom templates).
//! - `event_configurations`: UpdateEventConfigurations,
//!   DescribeEventConfigurations.
//! - `events`: the jobs events as a Server-Sent-Events stream.
//! - `changes`: every committed execution change as a Server-Sent-Events
//!   stream (jobhost's own; the console's job page follows it).
//! - `job_targets`: AssociateTargetsWithJob (continuous jobs).
//! - `things`: the thing registry (CreateThing, ..., GetThingConnectivityData).
//! - `indices`: GetBucketsAggregation on `connectivity.connected` (how many
//!   things are online, in one request).
//! - `groups`: static thing groups and membership; DescribeThingGroup and
//!   ListThingGroupsForThing for dynamic groups too.
//! - `dynamic_groups`: CreateDynamicThingGroup, UpdateDynamicThingGroup,
//!   DeleteDynamicThingGroup.
//! - `registry`: the request and response shapes those three share.
//! - `executions`: ListJobExecutionsForJob/ForThing, DescribeJobExecution,
//!   CancelJobExecution, DeleteJobExecution.
//! - `artifacts`: upload with the operator's signature, list and describe
//!   (management), and presigned download (public).
//! - `uploads`: devices' signed PUTs (public); listing and fetching them
//!   (management).
//! - `certificates`: devices' CSRs signed behind presigned URLs (public).
//! - `if_range`: the If-Range evaluation that tower-http's ServeFile lacks.
//! - `presigned`: the `expires`/`signature` query the public routes share.
//! - `body`: streaming an artifact's or upload's body to disk, size-capped.
//! - `console`: the web console at `/console`, a client of these routes.
//!
//! Every mutation sends the things whose pending lists changed on
//! [`ApiState::changes`]; the MQTT side of the service turns them into
//! `notify` / `notify-next` messages.

mod artifacts;
mod auth;
mod body;
mod certificates;
mod changes;
mod console;
mod dynamic_groups;
mod error;
mod event_configurations;
mod events;
mod executions;
mod extract;
mod fallback;
mod groups;
mod if_range;
mod indices;
mod iot_model;
mod job_targets;
mod job_templates;
mod jobs;
mod pages;
mod presigned;
mod registry;
mod rollout;
mod sigv4;
mod templates;
mod things;
mod unsupported;
mod uploads;
mod views;

pub use console::login_link as console_login_link;
pub use error::{ApiError, ERROR_TYPE_HEADER};
pub use sigv4::{AwsCredentials, CredentialsError, SignatureError, MAX_SKEW_SECS};
pub use views::{job_arn, thing_arn};

use crate::artifacts::Artifacts;
use crate::certificates::CertificateAuthority;
use crate::clock::{system_clock, Clock};
use crate::store::{Changes, Store, StoreError};
use crate::uploads::Uploads;
use axum::routing::{get, post, put};
use axum::serve::ListenerExt;
use axum::Router;
use std::future::Future;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;
use tokio::sync::mpsc::UnboundedSender;
use tokio::sync::watch;

/// Default cap on one artifact upload: 512 MiB.
pub const DEFAULT_MAX_ARTIFACT_BYTES: u64 = 512 * 1024 * 1024;

/// How often an idle `GET /events` stream sends a comment: well within
/// the idle timeouts of common reverse proxies (nginx's
/// `proxy_read_timeout` is 60 s), so that none closes a quiet stream.
pub const DEFAULT_EVENTS_KEEP_ALIVE: Duration = Duration::from_secs(15);

/// What every handler shares.
#[derive(Clone)]
pub struct ApiState {
    /// The job store. A std mutex, held only inside `spawn_blocking`.
    pub store: Arc<Mutex<Store>>,
    /// Where mutations report the things to notify.
    pub changes: UnboundedSender<Changes>,
    /// The artifact directory and URL signer.
    pub artifacts: Arc<Artifacts>,
    /// The upload area; without it the upload routes answer 404.
    pub uploads: Option<Arc<Uploads>>,
    /// The device CA; without it the CSR route answers 501.
    pub ca: Option<Arc<CertificateAuthority>>,
    /// When set, management routes accept `Authorization: Bearer <token>`.
    /// Artifact downloads never need credentials: their signature is one.
    pub token: Option<String>,
    /// When set, management routes accept requests signed with AWS SigV4
    /// by this key. With a token or a key set, a request with neither is
    /// refused.
    pub aws_credentials: Option<Arc<AwsCredentials>>,
    /// The clock for timestamps and URL expiry.
    pub now: Clock,
    /// Largest accepted artifact upload, in bytes.
    pub max_artifact_bytes: u64,
    /// How often an idle `GET /events` stream sends a keep-alive comment.
    pub events_keep_alive: Duration,
    /// Turns true when [`serve`] begins its graceful shutdown, so that the
    /// responses that never end by themselves (`GET /events`) end, and the
    /// shutdown does not wait for them forever.
    closing: Arc<watch::Sender<bool>>,
}

impl ApiState {
    /// A state with no token, no upload area, no CA, the system clock and
    /// the default upload cap.
    pub fn new(
        store: Arc<Mutex<Store>>,
        changes: UnboundedSender<Changes>,
        artifacts: Arc<Artifacts>,
    ) -> Self {
        Self {
            store,
            changes,
            artifacts,
            uploads: None,
            ca: None,
            token: None,
            aws_credentials: None,
            now: system_clock(),
            max_artifact_bytes: DEFAULT_MAX_ARTIFACT_BYTES,
            events_keep_alive: DEFAULT_EVENTS_KEEP_ALIVE,
            closing: Arc::new(watch::Sender::new(false)),
        }
    }

    /// Requires `token` on management routes (or a SigV4 signature, when
    /// [`ApiState::with_aws_credentials`] is set too).
    pub fn with_token(mut self, token: impl Into<String>) -> Self {
        self.token = Some(token.into());
        self
    }

    /// Requires a SigV4 signature by `credentials` on management routes (or
    /// the bearer token, when [`ApiState::with_token`] is set too).
    pub fn with_aws_credentials(mut self, credentials: AwsCredentials) -> Self {
        self.aws_credentials = Some(Arc::new(credentials));
        self
    }

    /// Accepts devices' uploads into `uploads`.
    pub fn with_uploads(mut self, uploads: Arc<Uploads>) -> Self {
        self.uploads = Some(uploads);
        self
    }

    /// Signs devices' CSRs with `ca`.
    pub fn with_ca(mut self, ca: Arc<CertificateAuthority>) -> Self {
        self.ca = Some(ca);
        self
    }

    /// Uses `now` instead of the system clock.
    pub fn with_clock(mut self, now: Clock) -> Self {
        self.now = now;
        self
    }

    /// Caps artifact uploads at `bytes`.
    pub fn with_max_artifact_bytes(mut self, bytes: u64) -> Self {
        self.max_artifact_bytes = bytes;
        self
    }

    /// Sends `GET /events`' keep-alive comment every `interval`.
    pub fn with_events_keep_alive(mut self, interval: Duration) -> Self {
        self.events_keep_alive = interval;
        self
    }

    fn now(&self) -> i64 {
        (self.now)()
    }

    /// Runs `f` on the store on a blocking thread: SQLite calls block (and
    /// fsync on commit), which must not stall the async workers.
    async fn with_store<T, F>(&self, f: F) -> Result<T, ApiError>
    where
        T: Send + 'static,
        F: FnOnce(&mut Store) -> Result<T, StoreError> + Send + 'static,
    {
        let store = Arc::clone(&self.store);
        tokio::task::spawn_blocking(move || {
            // A panic while the lock was held dropped its transaction, which
            // rolled back: the store is consistent, so poisoning is ignored.
            let mut store = store.lock().unwrap_or_else(PoisonError::into_inner);
            f(&mut store).map_err(ApiError::from)
        })
        .await
        .map_err(|e| ApiError::Internal(format!("the store task failed: {e}")))?
    }

    /// Hands `changes` to the notifier. The mutation is committed whatever
    /// happens here, so a notifier that has gone away is logged, not
    /// reported to the caller.
    fn publish(&self, changes: Changes) {
        if changes.is_empty() {
            return;
        }
        if self.changes.send(changes).is_err() {
            tracing::warn!("the notifier has stopped; devices will not be told about this change");
        }
    }
}

/// All routes. Management routes sit behind authentication; artifact
/// downloads and `/healthz` do not. A request for an AWS IoT operation
/// that no route serves is authenticated, then refused naming it.
pub fn router(state: ApiState) -> Router {
    let management = Router::new()
        .route("/jobs", get(jobs::list))
        .route(
            "/jobs/{job_id}",
            put(jobs::create)
                .get(jobs::describe)
                .patch(jobs::update)
                .delete(jobs::delete),
        )
        .route("/jobs/{job_id}/job-document", get(jobs::document))
        .route("/jobs/{job_id}/cancel", put(jobs::cancel))
        .route("/jobs/{job_id}/things", get(executions::list_for_job))
        .route("/jobs/{job_id}/targets", post(job_targets::associate))
        .route("/things", get(things::list))
        .route("/indices/buckets", post(indices::buckets))
        .route(
            "/things/{thing}",
            post(things::create)
                .get(things::describe)
                .patch(things::update)
                .delete(things::delete),
        )
        .route(
            "/things/{thing}/connectivity-data",
            post(things::connectivity),
        )
        .route("/things/{thing}/thing-groups", get(groups::list_for_thing))
        .route("/thing-groups", get(groups::list))
        .route(
            "/thing-groups/{group}",
            post(groups::create)
                .get(groups::describe)
                .patch(groups::update)
                .delete(groups::delete),
        )
        .route("/thing-groups/{group}/things", get(groups::list_things))
        .route("/thing-groups/addThingToThingGroup", put(groups::add_thing))
        .route(
            "/thing-groups/removeThingFromThingGroup",
            put(groups::remove_thing),
        )
        .route(
            "/dynamic-thing-groups/{group}",
            post(dynamic_groups::create)
                .patch(dynamic_groups::update)
                .delete(dynamic_groups::delete),
        )
        .route("/things/{thing}/jobs", get(executions::list_for_thing))
        .route("/things/{thing}/jobs/{job_id}", get(executions::describe))
        .route(
            "/things/{thing}/jobs/{job_id}/cancel",
            put(executions::cancel),
        )
        .route(
            "/things/{thing}/jobs/{job_id}/executionNumber/{execution_number}",
            axum::routing::delete(executions::delete),
        )
        .route("/artifacts", get(artifacts::list))
        .route("/artifacts/{name}", put(artifacts::upload))
        .route("/artifacts/{name}/info", get(artifacts::describe))
        .route("/uploads", get(uploads::list))
        .route("/uploads/{thing}/{job_id}/{name}", get(uploads::get))
        .route("/managed-job-templates", get(templates::list))
        .route("/managed-job-templates/{name}", get(templates::describe))
        .route("/job-templates", get(job_templates::list))
        .route(
            "/job-templates/{template_id}",
            put(job_templates::create)
                .get(job_templates::describe)
                .delete(job_templates::delete),
        )
        .route(
            "/event-configurations",
            get(event_configurations::describe).patch(event_configurations::update),
        )
        .route("/events", get(events::stream_events))
        .route("/execution-changes", get(changes::stream))
        .route_layer(axum::middleware::from_fn_with_state(
            state.clone(),
            auth::require_auth,
        ))
        // Outside authentication: a presigned upload URL used for anything
        // but its PUT is refused as such (403), token or not.
        .route_layer(axum::middleware::from_fn(uploads::refuse_presigned));
    let public = Router::new()
        .route("/artifacts/{name}", get(artifacts::download))
        .route("/uploads/{thing}/{job_id}/{name}", put(uploads::put))
        .route(
            "/certificates/{thing}/{job_id}/{execution}",
            axum::routing::post(certificates::sign),
        )
        .route("/healthz", get(|| async { "ok\n" }));
    management
        .merge(public)
        .merge(console::router())
        .fallback(fallback::no_route)
        .method_not_allowed_fallback(fallback::method_not_allowed)
        .with_state(state)
}

/// Serves [`router`] on `listener` until `shutdown` completes, then lets
/// requests in flight finish, and ends the event streams.
pub async fn serve(
    listener: tokio::net::TcpListener,
    state: ApiState,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let closing = Arc::clone(&state.closing);
    let shutdown = async move {
        shutdown.await;
        closing.send_replace(true);
    };
    // TCP_NODELAY on every connection: a response written in two parts
    // (headers, then a body; or a file's last partial segment) would
    // otherwise hold its tail until the client's delayed ACK, ~40 ms, and
    // each job's download and each API call would pay it.
    let listener = listener.tap_io(|tcp| {
        if let Err(e) = tcp.set_nodelay(true) {
            tracing::debug!("cannot set TCP_NODELAY on a connection: {e}");
        }
    });
    axum::serve(listener, router(state))
        .with_graceful_shutdown(shutdown)
        .await
}
