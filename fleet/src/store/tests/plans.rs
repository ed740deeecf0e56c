//! Query plans of what every device update asks: the cost must not grow
//! with the number of a job's executions (a job on 10,000 things asks it
//! 20,000 times). SQLite's plan is deterministic for a schema, so this pins
//! the index without timing anything.

use super::*;

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
