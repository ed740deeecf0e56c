//! Durable jobs and job executions, and the AWS IoT Jobs state machine over
//! them, as AWS documents it: the device API
//! (<https://docs.aws.amazon.com/iot/latest/developerguide/jobs-mqtt-api.html>), notifications
//! (<https://docs.aws.amazon.com/iot/latest/developerguide/jobs-comm-notifications.html>) and the execution
//! states and timers (<https://docs.aws.amazon.com/iot/latest/developerguide/iot-jobs-lifecycle.html>).
//!
//! One [`Store`] owns one SQLite connection. The service wraps it in a
//! `Mutex`: SQLite serialises writers anyway, and one connection keeps every
//! state transition a single transaction with no cross-connection races.
//!
//! # Layout
//!
//! - [`schema`]: the SQL schema and its migrations (`PRAGMA user_version`).
//! - `types`: the public records (jobs, executions, [`Changes`], ...).
//! - `rows`: mapping between SQL rows and protocol types, shared queries.
//! - `commit`: write and read transactions, and group commit (one
//!   transaction for a batch of device requests).
//! - `claims`: single use of presigned CSR and upload URLs.
//! - `control`: the control plane (CreateJob, CancelJob, DeleteJob,
//!   DeleteJobExecution, ...).
//! - `documents`: the job document as submitted, and a template job's
//!   document before substitution.
//! - `lists`: the list calls, their filters and keyset pagination.
//! - `settings`: UpdateJob, and the per-job presigned-URL lifetime.
//! - `cancel`: cancelling a job, for CancelJob, abort rules and schedules.
//! - `device`: the device plane (the MQTT API).
//! - `queues`: what notifications need, for many things in one read.
//! - `timeouts`: the in-progress and step timers.
//! - `rollout`: staged rollouts (targets released at a rate), abort rules
//!   and schedules, and the scheduler's tick ([`Store::advance_rollouts`]).
//! - `retry`: queuing the retry of an execution that ended FAILED or
//!   TIMED_OUT (`jobExecutionsRetryConfig`).
//! - `events`: [`ExecutionChange`]s (with [`JobChange`]s), sent after
//!   each commit to [`Store::subscribe`]rs.
//! - `job_changes`: jobs that ended, noted by a trigger and sent with the
//!   execution changes.
//! - `event_config`: which AWS events are published
//!   (UpdateEventConfigurations).
//! - `registry`: the records and rules the thing registry and thing groups
//!   share (attributes, ids, pages).
//! - `things`: the thing registry (CreateThing, ..., connectivity).
//! - `groups`: static thing groups and their members.
//! - `dynamic`: dynamic thing groups, whose members a [`crate::query`]
//!   picks.
//! - `index`: fleet indexing's counts over the things a query matches
//!   ([`ConnectivityCounts`]).
//! - `targets`: what a job targets: resolving names and ARNs, expanding
//!   groups, and keeping continuous jobs' executions in step with group
//!   membership (AssociateTargetsWithJob too).
//! - `templates`: custom job templates (CreateJobTemplate and the rest).

mod cancel;
mod claims;
mod commit;
mod control;
mod device;
mod documents;
mod dynamic;
mod event_config;
mod events;
mod groups;
mod index;
mod job_changes;
mod lists;
mod queues;
mod registry;
mod retry;
mod rollout;
mod rows;
pub mod schema;
mod settings;
mod targets;
mod templates;
mod things;
mod timeouts;
mod types;

#[cfg(test)]
mod tests;

pub use documents::{FromTemplate, JobDocument, JOB_DOCUMENT_MAX_CHARS};
pub use event_config::{EventConfigurations, EventType};
pub use events::{ExecutionChange, JobChange, JobOperation, EVENT_CAPACITY};
pub use index::ConnectivityCounts;
pub use lists::{
    ExecutionCursor, JobCursor, JobFilter, JobOrder, Page, PageRequest, ThingExecutionFilter,
};
pub use queues::{HeadJob, Queue, Queues, NOTIFY_MAX_ENTRIES};
pub use registry::{
    name_page, AttributePayload, Connectivity, GroupFilter, GroupProperties, Thing, ThingFilter,
    ThingGroup, MAX_ATTRIBUTES, MAX_DYNAMIC_GROUPS, MAX_GROUPS_PER_THING, MAX_GROUP_DEPTH,
};
pub use settings::UpdateJob;
pub use targets::MAX_JOB_TARGETS;
pub use templates::{
    CreateJobTemplate, JobTemplate, TemplateCursor, TemplateSettings, TemplateSource,
    TemplateSummary,
};
pub use things::Presence;
pub use types::{
    Changes, CreateJob, ExecutionRecord, Job, JobPlan, JobStatus, JobSummary, JobhostDetails,
    PresignedUrlConfig, ProcessDetails, Rejection, RolloutProgress, TargetSelection, UpdateResult,
    EXPIRES_IN_SEC_RANGE,
};

use rusqlite::config::DbConfig;
use rusqlite::{Connection, OpenFlags};
use std::path::Path;
use std::time::Duration;

/// How long a statement waits for another connection's write lock before it
/// fails with `SQLITE_BUSY`. Only an operator's second process (a CLI
/// reading the same file) can hold it, and only briefly.
const BUSY_TIMEOUT: Duration = Duration::from_secs(5);

/// Why a store operation failed. The control API maps these to HTTP statuses
/// (`NotFound` → 404, `AlreadyExists`/`Conflict`/`InvalidStateTransition`/
/// `VersionConflict` → 409, `InvalidRequest`/`InvalidQuery` → 400,
/// `LimitExceeded` → 410, the rest → 500); the
/// device plane maps them to [`Rejection`]s.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// No such job or job execution.
    #[error("not found: {0}")]
    NotFound(String),
    /// A job with this id exists already.
    #[error("already exists: {0}")]
    AlreadyExists(String),
    /// The request breaks a rule (an id, a limit, a range).
    #[error("invalid request: {0}")]
    InvalidRequest(String),
    /// The request is valid but the current state forbids it (a presigned
    /// URL used already, ...). AWS's job operations name their conflicts
    /// more precisely: see the next two.
    #[error("conflict: {0}")]
    Conflict(String),
    /// The execution's or job's status forbids the change (cancel an
    /// IN_PROGRESS execution without force, delete a job with IN_PROGRESS
    /// executions without force, ...): AWS's InvalidStateTransitionException.
    #[error("invalid state transition: {0}")]
    InvalidStateTransition(String),
    /// The caller's `expectedVersion` is not the execution's, thing's or
    /// thing group's: AWS's VersionConflictException.
    #[error("version conflict: {0}")]
    VersionConflict(String),
    /// A count limit of AWS's that a request would pass (dynamic groups,
    /// a job's targets: AWS's LimitExceededException).
    #[error("limit exceeded: {0}")]
    LimitExceeded(String),
    /// A dynamic thing group's query string is outside the supported
    /// subset or malformed (AWS's InvalidQueryException).
    #[error("invalid query: {0}")]
    InvalidQuery(String),
    /// The database file was written by a newer version of this program
    /// (or is not ours): opening it would risk misreading it, so the store
    /// refuses.
    #[error(
        "database schema version {found} is not one this program knows (it knows 0..={supported})"
    )]
    UnsupportedSchema {
        /// `PRAGMA user_version` of the file.
        found: i64,
        /// The newest version this build can migrate to.
        supported: i64,
    },
    /// The database file could not be created.
    #[error("cannot create {}: {source}", path.display())]
    File {
        /// The file.
        path: std::path::PathBuf,
        /// The OS error.
        source: std::io::Error,
    },
    /// SQLite failed (I/O, a locked file, a corrupt row).
    #[error("database error: {0}")]
    Sqlite(#[from] rusqlite::Error),
    /// A job document or statusDetails could not be (de)serialised.
    #[error("JSON error: {0}")]
    Json(#[from] serde_json::Error),
}

/// Creates `path` empty with mode 0600 unless it exists (an existing
/// database keeps the mode its owner gave it).
fn create_private_file(path: &Path) -> Result<(), StoreError> {
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    match options.open(path) {
        Ok(_) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => Ok(()),
        Err(source) => Err(StoreError::File {
            path: path.to_owned(),
            source,
        }),
    }
}

/// The job store: every job, every job execution and their timers.
///
/// `Store` is `Send` but not `Sync` (it holds a [`rusqlite::Connection`]);
/// share it between tasks behind a `Mutex`.
#[derive(Debug)]
pub struct Store {
    conn: Connection,
    /// Where committed execution changes go ([`Store::subscribe`]).
    events: tokio::sync::broadcast::Sender<ExecutionChange>,
    /// The changes of an open batch ([`Store::in_one_commit`]), published
    /// when it commits.
    deferred: Option<Vec<ExecutionChange>>,
}

impl Store {
    /// Opens the database at `path`, creating the file and the schema if
    /// needed and migrating an older schema.
    ///
    /// The file is put in WAL mode so that readers (an operator's CLI) never
    /// block the service, with `synchronous=FULL` so that a transition the
    /// service acknowledged to a device survives a power cut, not just a
    /// process crash: a device that was told "accepted" must never see the
    /// execution go back.
    ///
    /// A new file is created readable by the owner only, whatever the
    /// umask: it holds every job document (commands, URLs, parameters) and
    /// what devices reported. SQLite gives its `-wal` and `-shm` files the
    /// database file's mode.
    pub fn open(path: &Path) -> Result<Store, StoreError> {
        create_private_file(path)?;
        let flags = OpenFlags::SQLITE_OPEN_READ_WRITE
            | OpenFlags::SQLITE_OPEN_CREATE
            | OpenFlags::SQLITE_OPEN_NO_MUTEX;
        let conn = Connection::open_with_flags(path, flags)?;
        // `journal_mode` answers with the mode in force; a file on a file
        // system without shared memory stays in its old mode, which is still
        // correct, only slower for concurrent readers, so it is not an error.
        let _mode: String = conn.query_row("PRAGMA journal_mode=WAL", [], |r| r.get(0))?;
        conn.pragma_update(None, "synchronous", "FULL")?;
        Self::init(conn)
    }

    /// A private, empty store in memory, gone when dropped: for tests and
    /// for a throw-away service.
    pub fn open_in_memory() -> Result<Store, StoreError> {
        Self::init(Connection::open_in_memory()?)
    }

    /// Settings every connection needs, then the schema.
    fn init(mut conn: Connection) -> Result<Store, StoreError> {
        conn.busy_timeout(BUSY_TIMEOUT)?;
        // Every statement of the device path is prepared once and cached;
        // rusqlite's default of 16 would evict and parse them again.
        conn.set_prepared_statement_cache_capacity(128);
        // And stays prepared: without the query planner stability
        // guarantee, SQLite lets a plan depend on bound values (a `?` in
        // LIMIT, a `thing_name = ?` next to an ORDER BY) and marks such a
        // statement to be parsed again whenever the value is replaced or
        // cleared, which rusqlite does each time a cached statement is
        // taken back: the pending-list query was parsed again on every
        // read (a quarter of the service's time in the fleet benchmark).
        // No statement here depends on a bound value for its plan (no
        // LIKE/GLOB, no ANALYZE statistics).
        conn.set_db_config(DbConfig::SQLITE_DBCONFIG_ENABLE_QPSG, true)?;
        // Off by default in SQLite, and per connection: without it deleting a
        // job would leave its executions behind.
        conn.pragma_update(None, "foreign_keys", "ON")?;
        schema::migrate(&mut conn)?;
        job_changes::install(&conn)?;
        Ok(Store {
            conn,
            events: events::channel(),
            deferred: None,
        })
    }

    /// The schema version of the open database (`PRAGMA user_version`).
    pub fn schema_version(&self) -> Result<i64, StoreError> {
        Ok(self
            .conn
            .query_row("PRAGMA user_version", [], |r| r.get(0))?)
    }
}
