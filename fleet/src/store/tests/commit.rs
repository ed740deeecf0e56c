//! Group commit (`store::commit`): the requests of one batch share one
//! COMMIT; a request that fails undoes only its own writes; subscribers
//! hear of nothing before the COMMIT; a COMMIT that fails, or a batch that
//! panics, undoes the whole batch and sends nothing.

use super::*;
use tokio::sync::broadcast::error::TryRecvError;
use JobExecutionStatus as S;

fn upload_claims(s: &Store) -> i64 {
    s.conn
        .query_row("SELECT count(*) FROM upload_claims", [], |r| r.get(0))
        .unwrap()
}

#[test]
fn a_batch_is_committed_once_and_a_failed_request_undoes_only_its_writes() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("jobs.db");
    {
        let mut s = Store::open(&path).unwrap();
        s.create_job(&job("j1", &["t1", "t2"]), T0).unwrap();
        let outcomes = s
            .in_one_commit(|s| {
                let first = s.update("t1", "j1", &upd(S::InProgress), T0 + 1);
                // A request that wrote, then failed: dropped uncommitted.
                {
                    let tx = s.write_tx().unwrap();
                    tx.execute(
                        "INSERT INTO upload_claims (thing_name, job_id, name, expires) \
                         VALUES ('t2', 'j1', 'log', 1)",
                        [],
                    )
                    .unwrap();
                }
                let mut stale = upd(S::InProgress);
                stale.expected_version = Some(7);
                let refused = s.update("t2", "j1", &stale, T0 + 1);
                let last = s.update("t2", "j1", &upd(S::Succeeded), T0 + 2);
                (first.is_ok(), refused.is_err(), last.is_ok())
            })
            .unwrap();
        assert_eq!(outcomes, (true, true, true));
    }
    // What the batch kept is in the file, and only that.
    let s = Store::open(&path).unwrap();
    let (e1, e2) = (exec(&s, "j1", "t1"), exec(&s, "j1", "t2"));
    assert_eq!(
        (e1.execution.status, e1.execution.version_number),
        (S::InProgress, 2)
    );
    assert_eq!(
        (e2.execution.status, e2.execution.version_number),
        (S::Succeeded, 2)
    );
    assert_eq!(upload_claims(&s), 0, "the failed request's row was undone");
}

#[test]
fn subscribers_hear_of_a_batch_only_after_its_commit() {
    let mut s = store();
    s.create_job(&job("j1", &["t1"]), T0).unwrap();
    let mut rx = s.subscribe();
    s.in_one_commit(|s| {
        s.update("t1", "j1", &upd(S::Succeeded), T0 + 1).unwrap();
        assert!(
            matches!(rx.try_recv(), Err(TryRecvError::Empty)),
            "a change was sent before the batch committed"
        );
    })
    .unwrap();
    assert!(
        matches!(rx.try_recv(), Ok(ExecutionChange::Updated(r)) if r.execution.status == S::Succeeded)
    );
    assert!(
        matches!(rx.try_recv(), Ok(ExecutionChange::Job(j)) if j.status == JobStatus::Completed),
        "the job's end follows its last execution's change"
    );
}

#[test]
fn a_commit_that_fails_undoes_the_whole_batch_and_sends_nothing() {
    let mut s = store();
    s.create_job(&job("j1", &["t1"]), T0).unwrap();
    let mut rx = s.subscribe();
    let result = s.in_one_commit(|s| {
        s.update("t1", "j1", &upd(S::Succeeded), T0 + 1).unwrap();
        // A foreign key checked only at COMMIT: the COMMIT fails, as it
        // would for a full disk.
        s.conn
            .execute_batch(
                "PRAGMA defer_foreign_keys = ON; \
                 INSERT INTO rollout_releases (job_id, released_at, things) \
                 VALUES ('no-such-job', 1, 1);",
            )
            .unwrap();
    });
    assert!(matches!(result, Err(StoreError::Sqlite(_))), "{result:?}");
    assert_eq!(exec(&s, "j1", "t1").execution.status, S::Queued);
    assert!(matches!(rx.try_recv(), Err(TryRecvError::Empty)));
    // The connection is out of the failed transaction: the next request
    // commits on its own.
    s.update("t1", "j1", &upd(S::InProgress), T0 + 2).unwrap();
    assert_eq!(exec(&s, "j1", "t1").execution.status, S::InProgress);
}

#[test]
fn a_batch_that_panics_is_rolled_back() {
    let mut s = store();
    s.create_job(&job("j1", &["t1"]), T0).unwrap();
    let panicked = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        s.in_one_commit(|s| {
            s.update("t1", "j1", &upd(S::InProgress), T0 + 1).unwrap();
            panic!("a bug in a request");
        })
    }));
    assert!(panicked.is_err());
    assert_eq!(exec(&s, "j1", "t1").execution.status, S::Queued);
    s.update("t1", "j1", &upd(S::InProgress), T0 + 2).unwrap();
    assert_eq!(exec(&s, "j1", "t1").execution.version_number, 2);
}

/// Outside a batch too: a write whose COMMIT fails is rolled back, so the
/// connection is not left inside a transaction that every later write
/// would join as a savepoint and never make durable.
#[test]
fn a_write_whose_commit_fails_leaves_no_transaction_open() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("jobs.db");
    {
        let mut s = Store::open(&path).unwrap();
        s.create_job(&job("j1", &["t1"]), T0).unwrap();
        let tx = s.write_tx().unwrap();
        tx.execute_batch(
            "PRAGMA defer_foreign_keys = ON; \
             INSERT INTO rollout_releases (job_id, released_at, things) \
             VALUES ('no-such-job', 1, 1);",
        )
        .unwrap();
        assert!(tx.commit().is_err(), "the foreign key fails the COMMIT");
        assert!(s.conn.is_autocommit(), "a transaction is still open");
        s.update("t1", "j1", &upd(S::InProgress), T0 + 1).unwrap();
    }
    // The update after the failure is on disk.
    let s = Store::open(&path).unwrap();
    assert_eq!(exec(&s, "j1", "t1").execution.status, S::InProgress);
}
