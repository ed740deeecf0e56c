//! Migration 3 → 4 rebuilds `jobs` (its CHECK constraint gains SCHEDULED):
//! on a file written at schema version 2, both later migrations run, and
//! every row, foreign key and index survives, and the new statuses and
//! tables work. Migration 6 → 7 (thing groups) adds `target_selection` to
//! the rebuilt `jobs`: a version-6 file keeps its jobs, executions and
//! unreleased targets.

use super::*;
use crate::rollout::{JobConfigs, RawConfigs};
use rusqlite::{Connection, OptionalExtension};

/// A file at schema version 2, as the previous build left it: jobs in
/// every stored status, executions with timers and details, a used CSR URL.
fn version_2_file(path: &std::path::Path) {
    let mut conn = Connection::open(path).unwrap();
    schema::migrate_to(&mut conn, 2).unwrap();
    conn.execute_batch(
        r#"
        INSERT INTO jobs (job_id, status, targets, document, description, created_at,
            last_updated_at, completed_at, in_progress_timeout_minutes, comment, force_canceled)
        VALUES
            ('old', 'COMPLETED', '["t1"]', '{"op":"a"}', 'first', 100, 150, 150, NULL, NULL, 0),
            ('live', 'IN_PROGRESS', '["t1","t2"]', '{"op":"b"}', NULL, 200, 210, NULL, 60, NULL, 0),
            ('gone', 'CANCELED', '["t3"]', '{"op":"c"}', NULL, 200, 220, NULL, NULL, 'bye', 1);
        INSERT INTO executions (job_id, thing_name, execution_number, status, status_details,
            queued_at, started_at, last_updated_at, version_number, in_progress_deadline,
            step_deadline, force_canceled)
        VALUES
            ('old', 't1', 1, 'SUCCEEDED', NULL, 100, 120, 150, 3, NULL, NULL, 0),
            ('live', 't1', 1, 'IN_PROGRESS', '{"step":"2"}', 200, 205, 210, 2, 3805, 500, 0),
            ('live', 't2', 1, 'QUEUED', NULL, 200, NULL, 200, 1, NULL, NULL, 0),
            ('gone', 't3', 1, 'CANCELED', NULL, 200, 201, 220, 3, NULL, NULL, 1);
        INSERT INTO csr_claims VALUES ('live', 't1', 1, 206);
        "#,
    )
    .unwrap();
}

fn indexes(s: &Store) -> Vec<String> {
    let mut stmt = s
        .conn
        .prepare(
            "SELECT name FROM sqlite_schema WHERE type = 'index' AND sql IS NOT NULL ORDER BY name",
        )
        .unwrap();
    stmt.query_map([], |r| r.get(0))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap()
}

#[test]
fn a_version_2_file_migrates_keeping_rows_keys_and_indexes() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("fleet.db");
    version_2_file(&path);
    let before: Vec<String> = {
        let conn = Connection::open(&path).unwrap();
        let mut stmt = conn
            .prepare("SELECT name FROM sqlite_schema WHERE type = 'index' AND sql IS NOT NULL ORDER BY name")
            .unwrap();
        stmt.query_map([], |r| r.get(0))
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap()
    };

    let mut s = Store::open(&path).unwrap();
    assert_eq!(s.schema_version().unwrap(), schema::CURRENT_VERSION);
    let fk: i64 = s
        .conn
        .query_row("PRAGMA foreign_keys", [], |r| r.get(0))
        .unwrap();
    assert_eq!(fk, 1, "foreign keys are back on after the migration");
    let check: String = s
        .conn
        .query_row("PRAGMA integrity_check", [], |r| r.get(0))
        .unwrap();
    assert_eq!(check, "ok");
    let mut expected = before.clone();
    // Migration 2 → 3 adds it, and 3 → 4 must recreate it with `jobs`.
    expected.push("jobs_by_creation".to_owned());
    // Migration 6 → 7's (thing groups), and 8 → 9's.
    for index in [
        "job_targets_by_name",
        "thing_group_members_by_thing",
        "thing_groups_by_parent",
        "executions_by_job_status",
    ] {
        expected.push(index.to_owned());
    }
    expected.sort();
    assert_eq!(
        indexes(&s),
        expected,
        "the indexes of jobs, executions and claims are all there"
    );

    // Every row, every column.
    let ids: Vec<(String, JobStatus)> = s
        .list_jobs(None)
        .unwrap()
        .into_iter()
        .map(|j| (j.job_id, j.status))
        .collect();
    assert_eq!(
        ids,
        [
            ("old".to_owned(), JobStatus::Completed),
            ("live".to_owned(), JobStatus::InProgress),
            ("gone".to_owned(), JobStatus::Canceled)
        ],
        "in createdAt order, ties in their old order"
    );
    let old = s.describe_job("old").unwrap();
    assert_eq!(old.description.as_deref(), Some("first"));
    assert_eq!((old.created_at, old.completed_at), (100, Some(150)));
    assert_eq!(old.document, json!({"op": "a"}));
    let live = s.describe_job("live").unwrap();
    assert_eq!(live.in_progress_timeout_minutes, Some(60));
    assert_eq!(live.plan, JobPlan::default());
    let gone = s.describe_job("gone").unwrap();
    assert_eq!(
        (gone.comment.as_deref(), gone.force_canceled),
        (Some("bye"), true)
    );
    let t1 = exec(&s, "live", "t1");
    assert_eq!(t1.execution.status_details.unwrap().get("step"), Some("2"));
    assert_eq!(t1.retry_attempt, 0, "migration 4 → 5: a first execution");
    assert_eq!(s.next_deadline().unwrap(), Some(500));

    // The state machine goes on: the timer fires, the job completes.
    s.update("t2", "live", &upd(JobExecutionStatus::Succeeded), 300)
        .unwrap();
    s.expire_timeouts(500).unwrap();
    assert_eq!(s.describe_job("live").unwrap().status, JobStatus::Completed);
    // The foreign keys still cascade: deleting a job takes its executions
    // and their claims with it.
    s.delete_job("live", true, 600).unwrap();
    let orphans: i64 = s
        .conn
        .query_row(
            "SELECT (SELECT COUNT(*) FROM executions WHERE job_id = 'live') + \
             (SELECT COUNT(*) FROM csr_claims WHERE job_id = 'live')",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(orphans, 0);
    let dangling: Option<String> = s
        .conn
        .query_row("PRAGMA foreign_key_check", [], |r| r.get(0))
        .optional()
        .unwrap();
    assert_eq!(dangling, None);

    // The new status and tables.
    let raw = json!({ "startTime": "2023-11-15T00:00" });
    let c = JobConfigs::from_json(
        RawConfigs {
            scheduling: Some(&raw),
            ..RawConfigs::default()
        },
        T0,
    )
    .unwrap();
    let (j, _) = s.create_job_with(&job("later", &["t1"]), &c, T0).unwrap();
    assert_eq!(j.status, JobStatus::Scheduled);
}

#[test]
fn a_migration_that_would_orphan_rows_is_rolled_back() {
    // A version 2 file with an execution whose job is missing (written
    // with foreign keys off): the rebuild must refuse to commit, and leave
    // the file at version 2 for a human to look at.
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("fleet.db");
    version_2_file(&path);
    {
        let conn = Connection::open(&path).unwrap();
        conn.execute_batch(
            "PRAGMA foreign_keys = OFF; \
             INSERT INTO executions (job_id, thing_name, execution_number, status, queued_at, \
             last_updated_at, version_number) VALUES ('nobody', 't1', 1, 'QUEUED', 1, 1, 1)",
        )
        .unwrap();
    }
    let err = Store::open(&path).unwrap_err();
    assert!(err.to_string().contains("executions"), "{err}");
    let conn = Connection::open(&path).unwrap();
    let version: i64 = conn
        .query_row("PRAGMA user_version", [], |r| r.get(0))
        .unwrap();
    assert_eq!(version, 2);
    let jobs: i64 = conn
        .query_row("SELECT COUNT(*) FROM jobs", [], |r| r.get(0))
        .unwrap();
    assert_eq!(jobs, 3);
}

#[test]
fn a_version_6_file_gains_thing_groups_keeping_jobs_executions_and_rollouts() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("fleet.db");
    {
        // A version-6 file, as the build before thing groups wrote it:
        // targets stored as bare thing names, a retried execution, and a
        // rollout with one target still to release.
        let mut conn = Connection::open(&path).unwrap();
        schema::migrate_to(&mut conn, 6).unwrap();
        conn.execute_batch(
            r#"
            INSERT INTO jobs (job_id, status, targets, document, created_at, last_updated_at,
                retry_config, rollout_config)
            VALUES
                ('old', 'IN_PROGRESS', '["t1"]', '{"op":1}', 1, 1,
                 '{"criteriaList":[{"failureType":"FAILED","numberOfRetries":2}]}', NULL),
                ('slow', 'IN_PROGRESS', '["t2","t3"]', '{"op":2}', 2, 2, NULL,
                 '{"maximumPerMinute":1}');
            INSERT INTO executions (job_id, thing_name, execution_number, status, queued_at,
                last_updated_at, version_number, retries_failed)
            VALUES
                ('old', 't1', 1, 'FAILED', 1, 1, 3, 0),
                ('old', 't1', 2, 'QUEUED', 1, 1, 1, 1),
                ('slow', 't2', 1, 'QUEUED', 2, 2, 1, 0);
            INSERT INTO rollout_pending VALUES ('slow', 1, 't3');
            INSERT INTO rollout_releases VALUES ('slow', 2, 1);
            "#,
        )
        .unwrap();
    }
    let mut s = Store::open(&path).unwrap();
    assert_eq!(s.schema_version().unwrap(), schema::CURRENT_VERSION);
    let old = s.describe_job("old").unwrap();
    assert_eq!(old.targets, [crate::arn::thing_arn("t1")]);
    assert_eq!(old.target_selection, TargetSelection::Snapshot);
    let retry = exec(&s, "old", "t1");
    assert_eq!(
        (retry.execution.execution_number, retry.retry_attempt),
        (2, 1)
    );
    // The retry runs and the job completes, as a snapshot job does.
    s.update("t1", "old", &upd(JobExecutionStatus::Succeeded), T0)
        .unwrap();
    assert_eq!(s.describe_job("old").unwrap().status, JobStatus::Completed);
    // The unreleased target is released a minute later.
    s.advance_rollouts(T0).unwrap();
    assert_eq!(
        exec(&s, "slow", "t3").execution.status,
        JobExecutionStatus::Queued
    );
    // And the new tables work on the migrated file.
    s.create_thing_group("Fleet", None, &GroupProperties::default(), T0)
        .unwrap();
    let (j, _) = s
        .create_job_with(&job("later", &["Fleet"]), &JobConfigs::default(), T0)
        .unwrap();
    assert_eq!(j.targets, [crate::arn::thing_group_arn("Fleet")]);
}
