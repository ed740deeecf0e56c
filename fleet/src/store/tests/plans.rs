//! Query plans of what every device update asks: the cost must not grow
//! with the number of a job's executions (a job on 10,000 things asks it
//! 20,000 times). SQLite's plan is deterministic for a schema, so this pins
//! the index without timing anything. And the statements of the device
//! path are parsed once, not at every run (SQLite counts how often it
//! prepared a statement again).

use super::*;
use jobhost_protocol::JobExecutionStatus as S;
use rusqlite::StatementStatus;

/// SQLite's plan for `sql`, one detail line per step.
fn plan(s: &Store, sql: &str) -> Vec<String> {
    let mut stmt = s
        .conn
        .prepare(&format!("EXPLAIN QUERY PLAN {sql}"))
        .unwrap();
    let rows = stmt
        .query_map(rusqlite::params!["j1", 0_i64], |r| r.get::<_, String>(3))
        .unwrap();
    rows.map(Result::unwrap).collect()
}

#[test]
fn whether_a_job_is_done_is_an_index_search_not_a_scan_of_its_executions() {
    let s = store();
    let steps = plan(&s, rows::COMPLETE_IF_DONE);
    let on_executions: Vec<&String> = steps.iter().filter(|d| d.contains("executions")).collect();
    assert!(!on_executions.is_empty(), "{steps:?}");
    for step in on_executions {
        assert!(
            step.contains("executions_by_job_status") && step.contains("status=?"),
            "a step reads the job's executions without the (job_id, status) index: {steps:?}"
        );
    }
}

/// How often the cached statement for `sql` ran, and how often SQLite
/// parsed it again.
fn runs_and_reparses(s: &Store, sql: &str) -> (i32, i32) {
    let stmt = s.conn.prepare_cached(sql).unwrap();
    (
        stmt.get_status(StatementStatus::Run),
        stmt.get_status(StatementStatus::RePrepare),
    )
}

#[test]
fn the_queue_reads_of_notifications_and_updates_are_parsed_once() {
    let mut s = store();
    s.create_job(&job("j1", &["t1", "t2", "t3"]), T0).unwrap();
    let describe = jobhost_protocol::requests::DescribeRequest::default();
    for thing in ["t1", "t2", "t3"] {
        s.queues(&["t1", "t2", "t3"]).unwrap();
        s.head(thing).unwrap();
        s.describe(thing, "$next", &describe).unwrap();
        s.update(thing, "j1", &upd(S::InProgress), T0 + 1).unwrap();
    }
    // A bound `thing_name` or `job_id` beside an ORDER BY, and a bound
    // LIMIT of 1: each made SQLite parse the statement again at every run.
    for (what, filter) in [
        ("the pending list", rows::PENDING),
        ("the latest execution", rows::LATEST_EXECUTION),
    ] {
        let (runs, reparses) = runs_and_reparses(&s, &rows::execs_sql(filter));
        assert!(runs >= 3, "{what}: ran {runs} times");
        assert_eq!(
            reparses, 0,
            "{what} was parsed again {reparses} times in {runs} runs"
        );
    }
}
