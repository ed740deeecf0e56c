//! The database file: a restart (re-open) loses nothing, a second
//! connection (an operator's CLI) can read and write it while the service
//! does, and the schema versioning refuses what it does not know.

use super::*;
use jobhost_protocol::requests::StartNextRequest;
use JobExecutionStatus as S;

#[test]
fn reopening_the_file_loses_no_job_execution_or_timer() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("fleet.db");
    let before = {
        let mut s = Store::open(&path).unwrap();
        s.create_job(&timed_job("j1", &["t1", "t2"], 60), T0)
            .unwrap();
        s.create_job(&job("j2", &["t1"]), T0 + 1).unwrap();
        s.create_job(&job("j3", &["t3"]), T0 + 2).unwrap();
        let req = StartNextRequest {
            status_details: Some(details(&[("step", "rebooting")])),
            step_timeout_in_minutes: Some(3),
            client_token: None,
        };
        s.start_next("t1", &req, T0 + 10).unwrap();
        s.update("t2", "j1", &upd(S::Failed), T0 + 11).unwrap();
        s.cancel_job("j3", false, Some("bye"), T0 + 12).unwrap();
        (
            s.list_jobs(None).unwrap(),
            s.describe_job("j1").unwrap(),
            s.list_executions_for_thing("t1").unwrap(),
            s.next_deadline().unwrap(),
        )
    };
    let mut s = Store::open(&path).unwrap();
    assert_eq!(s.schema_version().unwrap(), schema::CURRENT_VERSION);
    assert_eq!(s.list_jobs(None).unwrap(), before.0);
    assert_eq!(s.describe_job("j1").unwrap(), before.1);
    assert_eq!(s.list_executions_for_thing("t1").unwrap(), before.2);
    assert_eq!(s.next_deadline().unwrap(), Some(T0 + 10 + 180));
    assert_eq!(s.next_deadline().unwrap(), before.3);
    assert_eq!(
        s.describe_job("j3").unwrap().comment.as_deref(),
        Some("bye")
    );

    // The restarted device resumes its IN_PROGRESS execution, checkpoint
    // and all, and the timers still fire.
    let (e, _) = s
        .start_next("t1", &StartNextRequest::default(), T0 + 20)
        .unwrap();
    let e = e.unwrap();
    assert_eq!(e.job_id, "j1");
    assert_eq!(e.status_details.unwrap().get("step"), Some("rebooting"));
    assert_eq!(things(&s.expire_timeouts(T0 + 190).unwrap()), ["t1"]);
    assert_eq!(s.describe_job("j1").unwrap().status, JobStatus::Completed);
}

#[test]
fn the_file_is_in_wal_mode_with_full_fsync_and_foreign_keys_on() {
    let dir = tempfile::tempdir().unwrap();
    let s = Store::open(&dir.path().join("fleet.db")).unwrap();
    let mode: String = s
        .conn
        .query_row("PRAGMA journal_mode", [], |r| r.get(0))
        .unwrap();
    assert_eq!(mode, "wal");
    let fk: i64 = s
        .conn
        .query_row("PRAGMA foreign_keys", [], |r| r.get(0))
        .unwrap();
    assert_eq!(fk, 1);
    // FULL (2): every commit is fsynced, WAL included, so a transition
    // acknowledged to a device survives a power cut (NORMAL would only
    // survive a process crash).
    let sync: i64 = s
        .conn
        .query_row("PRAGMA synchronous", [], |r| r.get(0))
        .unwrap();
    assert_eq!(sync, 2, "PRAGMA synchronous");
}

#[test]
fn a_file_from_a_newer_schema_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("fleet.db");
    drop(Store::open(&path).unwrap());
    {
        let conn = rusqlite::Connection::open(&path).unwrap();
        conn.execute_batch(&format!(
            "PRAGMA user_version = {}",
            schema::CURRENT_VERSION + 1
        ))
        .unwrap();
    }
    let err = Store::open(&path).unwrap_err();
    assert!(matches!(err, StoreError::UnsupportedSchema { .. }), "{err}");
}

#[test]
fn two_stores_on_one_file_write_concurrently_without_losing_a_job() {
    // A CLI may write the file (create or cancel a job) while the service
    // holds it open and writes too: each write transaction takes the write
    // lock up front (IMMEDIATE), and a connection that finds it taken waits
    // (`busy_timeout`) instead of failing with SQLITE_BUSY. Two writers on
    // two threads, released together, each commit many small transactions
    // (each an fsync, so they collide), while a third connection reads:
    // every write must succeed, and every job must be there afterwards.
    const JOBS_EACH: usize = 40;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("fleet.db");
    drop(Store::open(&path).unwrap());
    let start = std::sync::Arc::new(std::sync::Barrier::new(3));
    let writing = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(2));
    let writers: Vec<_> = ["service", "cli"]
        .into_iter()
        .map(|who| {
            let (path, start, writing) = (path.clone(), start.clone(), writing.clone());
            std::thread::spawn(move || {
                let mut s = Store::open(&path).unwrap();
                start.wait();
                for i in 0..JOBS_EACH {
                    let id = format!("{who}-{i}");
                    if let Err(e) = s.create_job(&job(&id, &["t1"]), T0) {
                        writing.fetch_sub(1, std::sync::atomic::Ordering::SeqCst);
                        panic!("{who}: creating {id} failed: {e}");
                    }
                }
                writing.fetch_sub(1, std::sync::atomic::Ordering::SeqCst);
            })
        })
        .collect();
    // The reader: never refused, and never sees a job count go down.
    let reader = Store::open(&path).unwrap();
    start.wait();
    let mut seen = 0;
    loop {
        let done = writing.load(std::sync::atomic::Ordering::SeqCst) == 0;
        let now = reader.list_jobs(None).unwrap().len();
        assert!(now >= seen, "the reader saw {now} jobs after {seen}");
        seen = now;
        if done {
            break;
        }
    }
    for w in writers {
        w.join().unwrap();
    }
    assert_eq!(seen, 2 * JOBS_EACH);
    let s = Store::open(&path).unwrap();
    assert_eq!(s.list_jobs(None).unwrap().len(), 2 * JOBS_EACH);
    assert_eq!(
        s.list_executions_for_thing("t1").unwrap().len(),
        2 * JOBS_EACH
    );
}

#[test]
fn a_file_from_before_thing_groups_keeps_its_jobs_as_snapshots_of_things() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("fleet.db");
    {
        // A version-2 file, as the build before the registry wrote it:
        // targets stored as bare thing names.
        let conn = rusqlite::Connection::open(&path).unwrap();
        for sql in &schema::MIGRATIONS[..2] {
            conn.execute_batch(sql).unwrap();
        }
        conn.execute_batch(
            "PRAGMA user_version = 2;
             INSERT INTO jobs (job_id, status, targets, document, created_at, last_updated_at)
                 VALUES ('old', 'IN_PROGRESS', '[\"t1\"]', '{\"op\": 1}', 1, 1);
             INSERT INTO executions (job_id, thing_name, execution_number, status, queued_at,
                 last_updated_at, version_number) VALUES ('old', 't1', 1, 'QUEUED', 1, 1, 1);",
        )
        .unwrap();
    }
    let mut s = Store::open(&path).unwrap();
    assert_eq!(s.schema_version().unwrap(), schema::CURRENT_VERSION);
    let j = s.describe_job("old").unwrap();
    assert_eq!(j.targets, [crate::arn::thing_arn("t1")]);
    assert_eq!(j.target_selection, TargetSelection::Snapshot);
    s.update("t1", "old", &upd(S::Succeeded), T0).unwrap();
    assert_eq!(s.describe_job("old").unwrap().status, JobStatus::Completed);
}
