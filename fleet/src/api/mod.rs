//! The HTTP API: the AWS IoT control plane's job routes (same paths, same
//! JSON shapes, same error names, so scripts written against AWS work with
//! a changed endpoint), and the artifact server behind presigned URLs.
//!
//! # Layout
//!
//! - `error`: [`ApiError`], the JSON error body and `x-amzn-ErrorType`.
//! - `extract`: query, path and body extraction with JSON errors.
//! - `auth`: the bearer token on management routes.
//! - `views`: response shapes that differ from the store's records.
//! - `jobs`: CreateJob, DescribeJob, ListJobs, GetJobDocument, CancelJob,
//!   DeleteJob.
//! - `job_targets`: AssociateTargetsWithJob (continuous jobs).
//! - `templates`: ListManagedJobTemplates, DescribeManagedJobTemplate.
//! - `things`: the thing registry (CreateThing, ..., GetThingConnectivityData).
//! - `groups`: static thing groups and membership; DescribeThingGroup and
//!   ListThingGroupsForThing for dynamic groups too.
//! - `dynamic_groups`: CreateDynamicThingGroup, UpdateDynamicThingGroup,
//!   DeleteDynamicThingGroup.
//! - `registry`: the request and response shapes those three share.
//! - `executions`: ListJobExecutionsForJob/ForThing, DescribeJobExecution,
//!   CancelJobExecution.
//! - `artifacts`: upload (management) and signed download (public).
//! - `uploads`: devices' signed PUTs (public); listing and fetching them
//!   (management).
//! - `certificates`: devices' CSRs signed behind presigned URLs (public).
//! - `if_range`: the If-Range evaluation that tower-http's ServeFile lacks.
//! - `presigned`: the `expires`/`signature` query the public routes share.
//! - `body`: streaming an artifact's or upload's body to disk, size-capped.
//!
//! Every mutation sends the things whose pending lists changed on
//! [`ApiState::changes`]; the MQTT side of the service turns them into
//! `notify` / `notify-next` messages.

mod artifacts;
mod auth;
mod body;
mod certificates;
mod dynamic_groups;
mod error;
mod executions;
mod extract;
mod groups;
mod if_range;
mod job_targets;
mod jobs;
mod presigned;
mod registry;
mod templates;
mod things;
mod uploads;
mod views;

pub use error::{ApiError, ERROR_TYPE_HEADER};
pub use views::{job_arn, thing_arn};

use crate::artifacts::Artifacts;
use crate::certificates::CertificateAuthority;
use crate::clock::{system_clock, Clock};
use crate::store::{Changes, Store, StoreError};
use crate::uploads::Uploads;
use axum::routing::{get, post, put};
use axum::Router;
use std::future::Future;
use std::sync::{Arc, Mutex, PoisonError};
use tokio::sync::mpsc::UnboundedSender;

/// Default cap on one artifact upload: 512 MiB.
pub const DEFAULT_MAX_ARTIFACT_BYTES: u64 = 512 * 1024 * 1024;

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
    /// When set, management routes require `Authorization: Bearer <token>`.
    /// Artifact downloads never do: their signature is the credential.
    pub token: Option<String>,
    /// The clock for timestamps and URL expiry.
    pub now: Clock,
    /// Largest accepted artifact upload, in bytes.
    pub max_artifact_bytes: u64,
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
            now: system_clock(),
            max_artifact_bytes: DEFAULT_MAX_ARTIFACT_BYTES,
        }
    }

    /// Requires `token` on management routes.
    pub fn with_token(mut self, token: impl Into<String>) -> Self {
        self.token = Some(token.into());
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

/// All routes. Management routes sit behind the token check; artifact
/// downloads and `/healthz` do not.
pub fn router(state: ApiState) -> Router {
    let management = Router::new()
        .route("/jobs", get(jobs::list))
        .route(
            "/jobs/{job_id}",
            put(jobs::create).get(jobs::describe).delete(jobs::delete),
        )
        .route("/jobs/{job_id}/job-document", get(jobs::document))
        .route("/jobs/{job_id}/cancel", put(jobs::cancel))
        .route("/jobs/{job_id}/things", get(executions::list_for_job))
        .route("/jobs/{job_id}/targets", post(job_targets::associate))
        .route("/things", get(things::list))
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
        .route("/artifacts/{name}", put(artifacts::upload))
        .route("/uploads", get(uploads::list))
        .route("/uploads/{thing}/{job_id}/{name}", get(uploads::get))
        .route("/managed-job-templates", get(templates::list))
        .route("/managed-job-templates/{name}", get(templates::describe))
        .route_layer(axum::middleware::from_fn_with_state(
            state.clone(),
            auth::require_token,
        ))
        // Outside the token check: a presigned upload URL used for anything
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
        .fallback(error::no_route)
        .method_not_allowed_fallback(error::method_not_allowed)
        .with_state(state)
}

/// Serves [`router`] on `listener` until `shutdown` completes, then lets
/// requests in flight finish.
pub async fn serve(
    listener: tokio::net::TcpListener,
    state: ApiState,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    axum::serve(listener, router(state))
        .with_graceful_shutdown(shutdown)
        .await
}
