//! The list calls: filters, and keyset pages that stay right while jobs
//! and executions are created between them.

use super::*;
use JobExecutionStatus as S;

fn ids(jobs: &[JobSummary]) -> Vec<&str> {
    jobs.iter().map(|j| j.job_id.as_str()).collect()
}

fn page(limit: usize, after: Option<JobCursor>) -> PageRequest<JobCursor> {
    PageRequest {
        after,
        limit: Some(limit),
    }
}

#[test]
fn list_jobs_pages_through_every_job_once_in_order() {
    let mut s = store();
    // Two jobs share each second: the row id keeps creation order.
    for (i, id) in ["g", "f", "e", "d", "c", "b", "a"].iter().enumerate() {
        s.create_job(&job(id, &["t1"]), T0 + (i as i64) / 2)
            .unwrap();
    }
    let all = JobFilter::default();
    let first = s.list_jobs_page(&all, page(3, None)).unwrap();
    assert_eq!(ids(&first.items), ["g", "f", "e"]);
    // A job created between two pages sorts after every existing one.
    s.create_job(&job("late", &["t1"]), T0 + 3).unwrap();
    let second = s.list_jobs_page(&all, page(3, first.next)).unwrap();
    assert_eq!(ids(&second.items), ["d", "c", "b"]);
    let third = s.list_jobs_page(&all, page(3, second.next)).unwrap();
    assert_eq!(ids(&third.items), ["a", "late"]);
    assert_eq!(third.next, None, "the last page names no next one");

    // A page that ends exactly at the end of the list has no next page.
    let exact = s.list_jobs_page(&all, page(8, None)).unwrap();
    assert_eq!((exact.items.len(), exact.next), (8, None));
    // No limit: the whole rest.
    let rest = s
        .list_jobs_page(
            &all,
            PageRequest {
                after: first.next,
                limit: None,
            },
        )
        .unwrap();
    assert_eq!(ids(&rest.items), ["d", "c", "b", "a", "late"]);
}

#[test]
fn list_jobs_applies_status_and_target_selection() {
    let mut s = store();
    s.create_job(&job("j1", &["t1"]), T0).unwrap();
    s.create_job(&job("j2", &["t1"]), T0).unwrap();
    s.create_job(&job("j3", &["t1"]), T0).unwrap();
    s.cancel_job("j2", false, None, None, T0).unwrap();
    let canceled = JobFilter {
        status: Some(JobStatus::Canceled),
        ..JobFilter::default()
    };
    let got = s.list_jobs_page(&canceled, PageRequest::default()).unwrap();
    assert_eq!(ids(&got.items), ["j2"]);
    // Paging a filtered list counts only the matching jobs.
    let in_progress = JobFilter {
        status: Some(JobStatus::InProgress),
        ..JobFilter::default()
    };
    let first = s.list_jobs_page(&in_progress, page(1, None)).unwrap();
    assert_eq!(ids(&first.items), ["j1"]);
    let second = s.list_jobs_page(&in_progress, page(1, first.next)).unwrap();
    assert_eq!((ids(&second.items), second.next), (vec!["j3"], None));

    let snapshot = JobFilter {
        target_selection: Some(TargetSelection::Snapshot),
        ..JobFilter::default()
    };
    assert_eq!(
        s.list_jobs_page(&snapshot, PageRequest::default())
            .unwrap()
            .items
            .len(),
        3
    );
    let continuous = JobFilter {
        target_selection: Some(TargetSelection::Continuous),
        ..JobFilter::default()
    };
    assert!(s
        .list_jobs_page(&continuous, PageRequest::default())
        .unwrap()
        .items
        .is_empty());
}

#[test]
fn execution_lists_page_and_filter() {
    let mut s = store();
    s.create_job(&job("j1", &["t1", "t2", "t3", "t4"]), T0)
        .unwrap();
    s.create_job(&job("j2", &["t1"]), T0).unwrap();
    s.create_job(&job("j3", &["t1"]), T0).unwrap();
    s.update("t2", "j1", &upd(S::Succeeded), T0).unwrap();

    let two = |after| PageRequest {
        after,
        limit: Some(2),
    };
    let first = s
        .list_executions_for_job_page("j1", None, two(None))
        .unwrap();
    let things: Vec<&str> = first.items.iter().map(|r| r.thing_name.as_str()).collect();
    assert_eq!(things, ["t1", "t2"]);
    let second = s
        .list_executions_for_job_page("j1", None, two(first.next))
        .unwrap();
    let things: Vec<&str> = second.items.iter().map(|r| r.thing_name.as_str()).collect();
    assert_eq!((things, second.next), (vec!["t3", "t4"], None));
    let queued = s
        .list_executions_for_job_page("j1", Some(S::Queued), PageRequest::default())
        .unwrap();
    assert_eq!(queued.items.len(), 3);
    assert!(matches!(
        s.list_executions_for_job_page("nope", None, PageRequest::default()),
        Err(StoreError::NotFound(_))
    ));

    let by_job = |job: &str| ThingExecutionFilter {
        job_id: Some(job.into()),
        ..ThingExecutionFilter::default()
    };
    let only_j2 = s
        .list_executions_for_thing_page("t1", &by_job("j2"), PageRequest::default())
        .unwrap();
    assert_eq!(only_j2.items.len(), 1);
    assert_eq!(only_j2.items[0].execution.job_id, "j2");
    let all = ThingExecutionFilter::default();
    let first = s
        .list_executions_for_thing_page("t1", &all, two(None))
        .unwrap();
    s.create_job(&job("j4", &["t1"]), T0 + 1).unwrap();
    let second = s
        .list_executions_for_thing_page("t1", &all, two(first.next))
        .unwrap();
    let jobs: Vec<&str> = first
        .items
        .iter()
        .chain(&second.items)
        .map(|r| r.execution.job_id.as_str())
        .collect();
    assert_eq!(jobs, ["j1", "j2", "j3", "j4"]);
    assert_eq!(second.next, None);
    let succeeded = ThingExecutionFilter {
        status: Some(S::Succeeded),
        ..ThingExecutionFilter::default()
    };
    assert_eq!(
        s.list_executions_for_thing_page("t2", &succeeded, PageRequest::default())
            .unwrap()
            .items
            .len(),
        1
    );
}
