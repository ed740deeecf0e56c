//! The SQL schema and its migrations.
//!
//! `PRAGMA user_version` holds the number of migrations applied. Each
//! migration runs once, in its own transaction with the version bump, so a
//! crash mid-migration leaves the file at the previous version. Migrations
//! are append-only: never edit one that has shipped, add the next.

use super::StoreError;
use rusqlite::{Connection, OptionalExtension};

/// Migration `i` takes the schema from version `i` to `i + 1`.
pub(crate) const MIGRATIONS: &[&str] = &[
    // 0 → 1: jobs and their executions.
    r#"
    CREATE TABLE jobs (
        job_id                      TEXT    NOT NULL PRIMARY KEY,
        status                      TEXT    NOT NULL CHECK (status IN
            ('IN_PROGRESS', 'COMPLETED', 'CANCELED', 'DELETION_IN_PROGRESS')),
        -- JSON array of thing names, in the order given at creation.
        targets                     TEXT    NOT NULL,
        -- The job document, serialised JSON.
        document                    TEXT    NOT NULL,
        description                 TEXT,
        created_at                  INTEGER NOT NULL,
        last_updated_at             INTEGER NOT NULL,
        completed_at                INTEGER,
        in_progress_timeout_minutes INTEGER,
        comment                     TEXT,
        force_canceled              INTEGER NOT NULL DEFAULT 0
    ) STRICT;

    CREATE TABLE executions (
        -- Creation order: breaks ties between executions queued in the
        -- same second, so that the queue order is total and stable.
        id                   INTEGER PRIMARY KEY,
        job_id               TEXT    NOT NULL REFERENCES jobs(job_id) ON DELETE CASCADE,
        thing_name           TEXT    NOT NULL,
        execution_number     INTEGER NOT NULL CHECK (execution_number >= 1),
        status               TEXT    NOT NULL CHECK (status IN
            ('QUEUED', 'IN_PROGRESS', 'SUCCEEDED', 'FAILED', 'REJECTED',
             'TIMED_OUT', 'REMOVED', 'CANCELED')),
        -- JSON object of strings, or NULL when never reported.
        status_details       TEXT,
        queued_at            INTEGER NOT NULL,
        started_at           INTEGER,
        last_updated_at      INTEGER NOT NULL,
        version_number       INTEGER NOT NULL CHECK (version_number >= 1),
        -- Absolute deadlines (epoch seconds); only meaningful IN_PROGRESS.
        in_progress_deadline INTEGER,
        step_deadline        INTEGER,
        force_canceled       INTEGER NOT NULL DEFAULT 0,
        UNIQUE (job_id, thing_name, execution_number)
    ) STRICT;

    -- A thing's pending list, its head and its history.
    CREATE INDEX executions_by_thing ON executions (thing_name, status);
    -- The timer: only running executions with a deadline are indexed.
    CREATE INDEX executions_step_deadline ON executions (step_deadline)
        WHERE status = 'IN_PROGRESS' AND step_deadline IS NOT NULL;
    CREATE INDEX executions_in_progress_deadline ON executions (in_progress_deadline)
        WHERE status = 'IN_PROGRESS' AND in_progress_deadline IS NOT NULL;
    "#,
    // 1 → 2: presigned URLs that have been used (`claims`): a CSR URL signs
    // one certificate per execution, an upload URL stores one file.
    r#"
    CREATE TABLE csr_claims (
        job_id           TEXT    NOT NULL,
        thing_name       TEXT    NOT NULL,
        execution_number INTEGER NOT NULL,
        claimed_at       INTEGER NOT NULL,
        PRIMARY KEY (job_id, thing_name, execution_number),
        FOREIGN KEY (job_id, thing_name, execution_number)
            REFERENCES executions (job_id, thing_name, execution_number) ON DELETE CASCADE
    ) STRICT;

    -- One row per upload URL that stored a file: the signed parts and the
    -- expiry, which together are what its signature covers. Rows of
    -- expired URLs are useless (those URLs are refused anyway) and pruned.
    CREATE TABLE upload_claims (
        thing_name TEXT    NOT NULL,
        job_id     TEXT    NOT NULL,
        name       TEXT    NOT NULL,
        expires    INTEGER NOT NULL,
        PRIMARY KEY (thing_name, job_id, name, expires)
    ) STRICT;
    CREATE INDEX upload_claims_by_expiry ON upload_claims (expires);
    "#,
    // 2 → 3: what CreateJob and CancelJob were given, kept as given. From
    // here on `jobs.document` holds the document text exactly as submitted
    // (earlier rows hold their compact serialisation, which reads the same).
    r#"
    -- A managed-template job: the template's document before its
    -- parameters were substituted, the template ARN, and the parameters
    -- (a JSON object of strings). NULL for other jobs.
    ALTER TABLE jobs ADD COLUMN document_before_substitution TEXT;
    ALTER TABLE jobs ADD COLUMN job_template_arn TEXT;
    ALTER TABLE jobs ADD COLUMN document_parameters TEXT;
    -- presignedUrlConfig: the roleArn as given (unused), and the lifetime
    -- in seconds of the job's presigned URLs (NULL: the server's --url-ttl).
    ALTER TABLE jobs ADD COLUMN presigned_url_role_arn TEXT;
    ALTER TABLE jobs ADD COLUMN presigned_url_expires_in_sec INTEGER;
    -- CancelJob's reasonCode.
    ALTER TABLE jobs ADD COLUMN reason_code TEXT;
    -- ListJobs pages in (created_at, rowid) order; the index carries the
    -- rowid.
    CREATE INDEX jobs_by_creation ON jobs (created_at);
    "#,
    // 3 → 4: staged rollouts, abort rules and schedules (`store::rollout`).
    // `jobs` gains the SCHEDULED status, which its CHECK constraint must
    // admit. A STRICT table's CHECK cannot be altered, so the table is
    // rebuilt as SQLite prescribes (https://www.sqlite.org/lang_altertable.html#otheralter):
    // create the new table, copy every row, drop the old one, rename.
    // `migrate` runs this with foreign keys off, or dropping `jobs` would
    // cascade into `executions`, and checks them before committing. `jobs`'
    // one index is recreated; it has no trigger or view; the indexes of
    // `executions` are untouched.
    r#"
    CREATE TABLE jobs_v4 (
        job_id                      TEXT    NOT NULL PRIMARY KEY,
        status                      TEXT    NOT NULL CHECK (status IN
            ('SCHEDULED', 'IN_PROGRESS', 'COMPLETED', 'CANCELED', 'DELETION_IN_PROGRESS')),
        targets                     TEXT    NOT NULL,
        document                    TEXT    NOT NULL,
        description                 TEXT,
        created_at                  INTEGER NOT NULL,
        last_updated_at             INTEGER NOT NULL,
        completed_at                INTEGER,
        in_progress_timeout_minutes INTEGER,
        comment                     TEXT,
        force_canceled              INTEGER NOT NULL DEFAULT 0,
        -- Why the job was cancelled: an abort rule's, or an operator's.
        reason_code                 TEXT,
        -- As migration 2 → 3 added them.
        document_before_substitution TEXT,
        job_template_arn            TEXT,
        document_parameters         TEXT,
        presigned_url_role_arn      TEXT,
        presigned_url_expires_in_sec INTEGER,
        -- jobExecutionsRolloutConfig, abortConfig and schedulingConfig as
        -- AWS shapes them (JSON), NULL when not given.
        rollout_config              TEXT,
        abort_config                TEXT,
        scheduling_config           TEXT,
        -- When the schedule's endTime was acted on (endBehavior), once.
        schedule_ended_at           INTEGER
    ) STRICT;
    -- The rowid too: ListJobs breaks ties of createdAt by it.
    INSERT INTO jobs_v4 (rowid, job_id, status, targets, document, description, created_at,
        last_updated_at, completed_at, in_progress_timeout_minutes, comment, force_canceled,
        reason_code, document_before_substitution, job_template_arn, document_parameters,
        presigned_url_role_arn, presigned_url_expires_in_sec)
    SELECT rowid, job_id, status, targets, document, description, created_at,
        last_updated_at, completed_at, in_progress_timeout_minutes, comment, force_canceled,
        reason_code, document_before_substitution, job_template_arn, document_parameters,
        presigned_url_role_arn, presigned_url_expires_in_sec
    FROM jobs;
    DROP TABLE jobs;
    ALTER TABLE jobs_v4 RENAME TO jobs;
    -- Dropped with the old table (migration 2 → 3 made it).
    CREATE INDEX jobs_by_creation ON jobs (created_at);

    -- Targets the rollout has not released yet, in release order. A target
    -- here has no execution: its device sees nothing of the job.
    CREATE TABLE rollout_pending (
        job_id     TEXT    NOT NULL REFERENCES jobs(job_id) ON DELETE CASCADE,
        seq        INTEGER NOT NULL,
        thing_name TEXT    NOT NULL,
        PRIMARY KEY (job_id, seq)
    ) STRICT, WITHOUT ROWID;

    -- What each job's rollout released, second by second: the rate's
    -- budget after a restart is computed from this, not reset.
    CREATE TABLE rollout_releases (
        job_id      TEXT    NOT NULL REFERENCES jobs(job_id) ON DELETE CASCADE,
        released_at INTEGER NOT NULL,
        things      INTEGER NOT NULL CHECK (things >= 1),
        PRIMARY KEY (job_id, released_at)
    ) STRICT, WITHOUT ROWID;
    "#,
    // 4 → 5: retries (`store::retry`). Existing executions are first
    // executions: no retry came before them.
    r#"
    -- jobExecutionsRetryConfig as AWS shapes it (JSON), NULL when not given.
    ALTER TABLE jobs ADD COLUMN retry_config TEXT;
    -- How many retries of the job the thing had before, and including,
    -- this execution, by the failure that caused each: FAILED or TIMED_OUT.
    -- Their sum is AWS's retryAttempt.
    ALTER TABLE executions ADD COLUMN retries_failed INTEGER NOT NULL DEFAULT 0
        CHECK (retries_failed >= 0);
    ALTER TABLE executions ADD COLUMN retries_timed_out INTEGER NOT NULL DEFAULT 0
        CHECK (retries_timed_out >= 0);
    "#,
    // 5 → 6: which AWS events are published on the broker
    // (UpdateEventConfigurations, `store::event_config`). A row per event
    // type once it was configured; no row: disabled, AWS's default. The
    // type is not constrained here: the code names the types it knows, and
    // a later type must not need a table rebuild.
    r#"
    CREATE TABLE event_configurations (
        event_type       TEXT    NOT NULL PRIMARY KEY,
        enabled          INTEGER NOT NULL CHECK (enabled IN (0, 1)),
        created_at       INTEGER NOT NULL,
        last_modified_at INTEGER NOT NULL
    ) STRICT, WITHOUT ROWID;
    "#,
    // 6 → 7: the thing registry, thing groups (static and dynamic), and
    // jobs that target groups, continuously or as a snapshot. `jobs` was
    // rebuilt by 3 → 4 without `target_selection`; the ALTER adds it to
    // that table (every existing job was a snapshot of things).
    r#"
    CREATE TABLE things (
        thing_name        TEXT    NOT NULL PRIMARY KEY,
        thing_id          TEXT    NOT NULL UNIQUE,
        -- JSON object of strings.
        attributes        TEXT    NOT NULL,
        version           INTEGER NOT NULL CHECK (version >= 1),
        created_at        INTEGER NOT NULL,
        -- Connectivity as the embedded broker reports it; never seen: 0 and NULLs.
        connected         INTEGER NOT NULL DEFAULT 0,
        -- When it last connected or disconnected (ms since the epoch).
        connectivity_ms   INTEGER,
        -- The broker's start time (ms) of the session that last connected:
        -- a late disconnect of an older session must not undo a newer one.
        session_ms        INTEGER,
        disconnect_reason TEXT
    ) STRICT;

    CREATE TABLE thing_groups (
        -- Creation order: an older dynamic group wins a thing over a newer
        -- one at the 10-groups-per-thing limit.
        seq          INTEGER PRIMARY KEY,
        group_name   TEXT    NOT NULL UNIQUE,
        group_id     TEXT    NOT NULL UNIQUE,
        -- Static groups only; a parent with children cannot be deleted.
        parent_name  TEXT    REFERENCES thing_groups (group_name),
        description  TEXT,
        attributes   TEXT    NOT NULL,
        version      INTEGER NOT NULL CHECK (version >= 1),
        created_at   INTEGER NOT NULL,
        -- Set exactly for dynamic groups.
        query_string TEXT
    ) STRICT;
    CREATE INDEX thing_groups_by_parent ON thing_groups (parent_name);

    -- Direct members: added to a static group, or matched by a dynamic one.
    CREATE TABLE thing_group_members (
        group_name TEXT NOT NULL REFERENCES thing_groups (group_name) ON DELETE CASCADE,
        thing_name TEXT NOT NULL REFERENCES things (thing_name) ON DELETE CASCADE,
        PRIMARY KEY (group_name, thing_name)
    ) STRICT;
    CREATE INDEX thing_group_members_by_thing ON thing_group_members (thing_name);

    ALTER TABLE jobs ADD COLUMN target_selection TEXT NOT NULL DEFAULT 'SNAPSHOT'
        CHECK (target_selection IN ('SNAPSHOT', 'CONTINUOUS'));

    -- A job's targets, structured (jobs.targets keeps them as ARNs, in the
    -- order given). Jobs created before this migration have none: they
    -- targeted things only, and are snapshots.
    CREATE TABLE job_targets (
        job_id   TEXT NOT NULL REFERENCES jobs (job_id) ON DELETE CASCADE,
        kind     TEXT NOT NULL CHECK (kind IN ('thing', 'group')),
        name     TEXT NOT NULL,
        -- A group's id when it was targeted (ListJobs?thingGroupId=).
        group_id TEXT,
        PRIMARY KEY (job_id, kind, name)
    ) STRICT;
    CREATE INDEX job_targets_by_name ON job_targets (kind, name);
    "#,
    // 7 → 8: custom job templates (CreateJobTemplate, `store::templates`).
    // Jobs made from one copy what they need, so nothing references a
    // template and deleting one leaves its jobs as they are.
    r#"
    CREATE TABLE job_templates (
        -- Creation order, for ListJobTemplates' pages. AUTOINCREMENT: an
        -- id is never given again, even after the newest template is
        -- deleted, so a page token never points into a later template.
        id                  INTEGER PRIMARY KEY AUTOINCREMENT,
        template_id         TEXT    NOT NULL UNIQUE,
        description         TEXT    NOT NULL,
        -- The document text as given (or as the source job had it).
        document            TEXT    NOT NULL,
        created_at          INTEGER NOT NULL,
        in_progress_timeout_minutes INTEGER,
        -- Each configuration as AWS shapes it (JSON), NULL when not given.
        presigned_url_config TEXT,
        rollout_config      TEXT,
        abort_config        TEXT,
        retry_config        TEXT,
        maintenance_windows TEXT
    ) STRICT;
    "#,
    // 8 → 9: a job's executions by status. Whether a job is done (every
    // terminal update asks: `rows::COMPLETE_IF_DONE`) and its counts by
    // status were scans of all its executions through the unique index,
    // so a job on N things cost O(N²) over its run (the fleet benchmark's
    // 10,000 things spent a quarter of the service's time there).
    r#"
    CREATE INDEX executions_by_job_status ON executions (job_id, status);
    "#,
];

/// Applies the first `version` migrations only: how the tests make a file
/// as an older build left it.
#[cfg(test)]
pub(crate) fn migrate_to(conn: &mut Connection, version: usize) -> Result<(), StoreError> {
    let tx = conn.transaction()?;
    for sql in &MIGRATIONS[..version] {
        tx.execute_batch(sql)?;
    }
    tx.execute_batch(&format!("PRAGMA user_version = {version}"))?;
    tx.commit()?;
    Ok(())
}

/// The schema version this build creates and understands.
pub const CURRENT_VERSION: i64 = MIGRATIONS.len() as i64;

/// Brings the database up to [`CURRENT_VERSION`]. Refuses a file from a newer
/// build (or with a version no build writes) rather than guess at columns it
/// does not know.
///
/// Migrations run with foreign keys off, as SQLite requires for a table
/// rebuild (dropping a parent table with them on deletes its children), and
/// each checks them (`PRAGMA foreign_key_check`) before it commits: a
/// migration that would leave a dangling reference fails and rolls back.
/// `foreign_keys` can only change outside a transaction, hence around the
/// loop; it is back on when this returns, whatever happened.
pub(crate) fn migrate(conn: &mut Connection) -> Result<(), StoreError> {
    conn.pragma_update(None, "foreign_keys", "OFF")?;
    let result = migrate_all(conn);
    conn.pragma_update(None, "foreign_keys", "ON")?;
    result
}

fn migrate_all(conn: &mut Connection) -> Result<(), StoreError> {
    loop {
        let tx = conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
        // Read inside the write transaction: two processes opening a new file
        // at once must not both run the same migration.
        let version: i64 = tx.query_row("PRAGMA user_version", [], |r| r.get(0))?;
        if !(0..=CURRENT_VERSION).contains(&version) {
            return Err(StoreError::UnsupportedSchema {
                found: version,
                supported: CURRENT_VERSION,
            });
        }
        let Some(sql) = usize::try_from(version)
            .ok()
            .and_then(|v| MIGRATIONS.get(v))
        else {
            return Ok(());
        };
        tx.execute_batch(sql)?;
        let dangling: Option<String> = tx
            .query_row("PRAGMA foreign_key_check", [], |r| r.get(0))
            .optional()?;
        if let Some(table) = dangling {
            return Err(StoreError::Sqlite(rusqlite::Error::SqliteFailure(
                rusqlite::ffi::Error::new(rusqlite::ffi::SQLITE_CONSTRAINT_FOREIGNKEY),
                Some(format!(
                    "migration {version} → {} would leave a row of {table} without its parent",
                    version + 1
                )),
            )));
        }
        // PRAGMA takes no bound parameters; `version + 1` is our own integer.
        tx.execute_batch(&format!("PRAGMA user_version = {}", version + 1))?;
        tx.commit()?;
    }
}
