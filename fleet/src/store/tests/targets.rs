//! Jobs on thing groups: snapshot jobs expanded at creation, continuous
//! jobs that follow membership (QUEUED on join, REMOVED on leave, a new
//! execution number on rejoin), AssociateTargetsWithJob and the ListJobs
//! group filters.

use super::*;
use crate::arn::{thing_arn, thing_group_arn};
use crate::rollout::JobConfigs;
use JobExecutionStatus as S;

fn none() -> GroupProperties {
    GroupProperties::default()
}

fn on(id: &str, targets: &[&str], selection: TargetSelection) -> CreateJob {
    CreateJob {
        target_selection: selection,
        ..job(id, targets)
    }
}

/// (thing, execution number, status) of every execution of `job_id`.
fn runs(s: &Store, job_id: &str) -> Vec<(String, u64, S)> {
    s.list_executions_for_job(job_id)
        .unwrap()
        .into_iter()
        .map(|r| {
            (
                r.thing_name,
                r.execution.execution_number,
                r.execution.status,
            )
        })
        .collect()
}

fn run(thing: &str, number: u64, status: S) -> (String, u64, S) {
    (thing.to_owned(), number, status)
}

/// Things t1..tn, static groups Fleet > EU, t1 in Fleet, t2 in EU.
fn fleet(s: &mut Store) {
    for t in ["t1", "t2", "t3"] {
        s.create_thing(t, None, T0).unwrap();
    }
    s.create_thing_group("Fleet", None, &none(), T0).unwrap();
    s.create_thing_group("EU", Some("Fleet"), &none(), T0)
        .unwrap();
    s.add_thing_to_thing_group("t1", "Fleet", false, T0)
        .unwrap();
    s.add_thing_to_thing_group("t2", "EU", false, T0).unwrap();
}

#[test]
fn a_snapshot_job_on_a_group_reaches_its_members_at_creation_only() {
    let mut s = store();
    fleet(&mut s);
    let (j, changes) = s
        .create_job_with(
            &on("j", &[&thing_group_arn("Fleet")], TargetSelection::Snapshot),
            &JobConfigs::default(),
            T0,
        )
        .unwrap();
    assert_eq!(j.targets, [thing_group_arn("Fleet")]);
    assert_eq!(j.target_selection, TargetSelection::Snapshot);
    // Members of Fleet and of its child EU; not t3.
    assert_eq!(
        runs(&s, "j"),
        [run("t1", 1, S::Queued), run("t2", 1, S::Queued)]
    );
    assert_eq!(things(&changes), ["t1", "t2"]);

    // A thing that joins later is not reached.
    let later = s.add_thing_to_thing_group("t3", "EU", false, T0).unwrap();
    assert!(later.is_empty());
    assert_eq!(runs(&s, "j").len(), 2);
    // Nor does one that leaves lose its execution.
    s.remove_thing_from_thing_group("t1", "Fleet", T0).unwrap();
    assert_eq!(runs(&s, "j")[0], run("t1", 1, S::Queued));

    // It completes when its executions end.
    for t in ["t1", "t2"] {
        s.update(t, "j", &upd(S::Succeeded), T0).unwrap();
    }
    assert_eq!(s.describe_job("j").unwrap().status, JobStatus::Completed);
}

#[test]
fn bare_names_name_a_group_when_one_exists() {
    let mut s = store();
    fleet(&mut s);
    let j = s
        .create_job(&on("j", &["EU", "t3"], TargetSelection::Snapshot), T0)
        .unwrap();
    assert_eq!(j.targets, [thing_group_arn("EU"), thing_arn("t3")]);
    assert_eq!(
        runs(&s, "j"),
        [run("t2", 1, S::Queued), run("t3", 1, S::Queued)]
    );
    // A name that is a registered thing's and a group's: say which.
    s.create_thing("EU", None, T0).unwrap();
    let err = s
        .create_job(&on("j2", &["EU"], TargetSelection::Snapshot), T0)
        .unwrap_err();
    assert!(
        err.to_string().contains("both a thing and a thing group"),
        "{err}"
    );
    s.create_job(
        &on("j2", &[&thing_arn("EU")], TargetSelection::Snapshot),
        T0,
    )
    .unwrap();
    assert_eq!(runs(&s, "j2"), [run("EU", 1, S::Queued)]);
}

#[test]
fn a_snapshot_of_an_empty_group_is_complete_at_once() {
    let mut s = store();
    s.create_thing_group("Empty", None, &none(), T0).unwrap();
    let j = s
        .create_job(&on("j", &["Empty"], TargetSelection::Snapshot), T0)
        .unwrap();
    assert_eq!(j.status, JobStatus::Completed);
    // A continuous one waits for members.
    let j = s
        .create_job(&on("c", &["Empty"], TargetSelection::Continuous), T0)
        .unwrap();
    assert_eq!(j.status, JobStatus::InProgress);
}

#[test]
fn a_continuous_job_follows_static_membership() {
    let mut s = store();
    fleet(&mut s);
    s.create_job(&on("c", &["Fleet"], TargetSelection::Continuous), T0)
        .unwrap();
    assert_eq!(
        runs(&s, "c"),
        [run("t1", 1, S::Queued), run("t2", 1, S::Queued)]
    );

    // Joining (a child group counts) queues an execution and notifies.
    let joined = s
        .add_thing_to_thing_group("t3", "EU", false, T0 + 1)
        .unwrap();
    assert_eq!(things(&joined), ["t3"]);
    let e = exec(&s, "c", "t3").execution;
    assert_eq!(
        (e.status, e.execution_number, e.queued_at),
        (S::Queued, 1, T0 + 1)
    );

    // Leaving: QUEUED becomes REMOVED, and the thing is notified.
    let left = s.remove_thing_from_thing_group("t3", "EU", T0 + 2).unwrap();
    assert_eq!(things(&left), ["t3"]);
    let e = exec(&s, "c", "t3").execution;
    assert_eq!((e.status, e.version_number), (S::Removed, 2));
    assert!(s.get_pending("t3").unwrap().1.is_empty());

    // Rejoining: a new execution, number 2.
    s.add_thing_to_thing_group("t3", "EU", false, T0 + 3)
        .unwrap();
    let e = exec(&s, "c", "t3").execution;
    assert_eq!(
        (e.status, e.execution_number, e.version_number),
        (S::Queued, 2, 1)
    );
    assert_eq!(
        s.describe_execution("c", "t3", Some(1))
            .unwrap()
            .execution
            .status,
        S::Removed
    );

    // An IN_PROGRESS execution runs on when its thing leaves.
    s.update("t1", "c", &upd(S::InProgress), T0 + 4).unwrap();
    s.remove_thing_from_thing_group("t1", "Fleet", T0 + 5)
        .unwrap();
    assert_eq!(exec(&s, "c", "t1").execution.status, S::InProgress);
    s.update("t1", "c", &upd(S::Succeeded), T0 + 6).unwrap();
    // A thing that ran the job is not queued again when it rejoins.
    s.add_thing_to_thing_group("t1", "Fleet", false, T0 + 7)
        .unwrap();
    let e = exec(&s, "c", "t1").execution;
    assert_eq!((e.status, e.execution_number), (S::Succeeded, 1));

    // Every execution ended, the last by its device, and still
    // IN_PROGRESS: a continuous job never completes by itself.
    s.remove_thing_from_thing_group("t3", "EU", T0 + 8).unwrap();
    s.update("t2", "c", &upd(S::Failed), T0 + 9).unwrap();
    let j = s.describe_job("c").unwrap();
    assert_eq!(j.status, JobStatus::InProgress);
    assert_eq!(j.process_details.number_of_removed_things, 1);
    assert_eq!(j.process_details.number_of_succeeded_things, 1);
    assert_eq!(j.process_details.number_of_failed_things, 1);
}

#[test]
fn a_continuous_job_follows_dynamic_membership() {
    let mut s = store();
    let attrs = |fw: &str| AttributePayload {
        attributes: [("fw".to_owned(), fw.to_owned())].into(),
        merge: true,
    };
    s.create_thing("gw", Some(&attrs("1")), T0).unwrap();
    s.create_dynamic_thing_group("Old", &none(), "attributes.fw<2", T0)
        .unwrap();
    s.create_job(&on("c", &["Old"], TargetSelection::Continuous), T0)
        .unwrap();
    assert_eq!(runs(&s, "c"), [run("gw", 1, S::Queued)]);

    // Updated past the query: REMOVED.
    let c = s.update_thing("gw", Some(&attrs("2")), None, T0).unwrap();
    assert_eq!(things(&c), ["gw"]);
    assert_eq!(exec(&s, "c", "gw").execution.status, S::Removed);
    // Back: execution 2.
    s.update_thing("gw", Some(&attrs("1")), None, T0).unwrap();
    assert_eq!(exec(&s, "c", "gw").execution.execution_number, 2);
    // Created matching: queued at creation.
    let (_, c) = s.create_thing("gw-new", Some(&attrs("0")), T0).unwrap();
    assert_eq!(things(&c), ["gw-new"]);
    assert_eq!(exec(&s, "c", "gw-new").execution.status, S::Queued);
    // The group's query changed: re-evaluated for every thing.
    s.update_dynamic_thing_group("Old", &none(), Some("thingName:gw-new"), None, T0)
        .unwrap();
    assert_eq!(exec(&s, "c", "gw").execution.status, S::Removed);
    assert_eq!(exec(&s, "c", "gw-new").execution.status, S::Queued);
    // The group deleted: its members leave.
    s.delete_dynamic_thing_group("Old", None, T0).unwrap();
    assert_eq!(exec(&s, "c", "gw-new").execution.status, S::Removed);
}

#[test]
fn deleting_a_thing_removes_its_queued_executions() {
    let mut s = store();
    fleet(&mut s);
    s.create_job(&on("snap", &["t1", "t2"], TargetSelection::Snapshot), T0)
        .unwrap();
    s.create_job(&on("cont", &["Fleet"], TargetSelection::Continuous), T0)
        .unwrap();
    s.update("t2", "snap", &upd(S::Succeeded), T0).unwrap();
    let c = s.delete_thing("t1", None, T0).unwrap();
    assert_eq!(things(&c), ["t1"]);
    assert_eq!(exec(&s, "snap", "t1").execution.status, S::Removed);
    assert_eq!(exec(&s, "cont", "t1").execution.status, S::Removed);
    // The snapshot had nothing else pending: it completed.
    let j = s.describe_job("snap").unwrap();
    assert_eq!(j.status, JobStatus::Completed);
    assert_eq!(j.process_details.number_of_removed_things, 1);
}

#[test]
fn a_cancelled_continuous_job_takes_no_new_things() {
    let mut s = store();
    fleet(&mut s);
    s.create_job(&on("c", &["Fleet"], TargetSelection::Continuous), T0)
        .unwrap();
    s.cancel_job("c", false, None, None, T0).unwrap();
    assert!(s
        .add_thing_to_thing_group("t3", "EU", false, T0)
        .unwrap()
        .is_empty());
    assert_eq!(runs(&s, "c").len(), 2);
}

#[test]
fn associate_targets_adds_groups_to_a_continuous_job() {
    let mut s = store();
    fleet(&mut s);
    s.create_thing_group("Lab", None, &none(), T0).unwrap();
    s.add_thing_to_thing_group("t3", "Lab", false, T0).unwrap();
    s.create_job(&on("c", &["EU"], TargetSelection::Continuous), T0)
        .unwrap();
    let changes = s
        .associate_targets(
            "c",
            &[thing_group_arn("Lab"), "EU".into()],
            Some("add the lab"),
            T0 + 1,
        )
        .unwrap();
    assert_eq!(things(&changes), ["t3"]);
    let j = s.describe_job("c").unwrap();
    assert_eq!(j.targets, [thing_group_arn("EU"), thing_group_arn("Lab")]);
    assert_eq!(j.comment.as_deref(), Some("add the lab"));
    assert_eq!(j.last_updated_at, T0 + 1);
    assert_eq!(
        runs(&s, "c"),
        [run("t2", 1, S::Queued), run("t3", 1, S::Queued)]
    );
    // Later members of the new group join too.
    s.create_thing("t4", None, T0).unwrap();
    s.add_thing_to_thing_group("t4", "Lab", false, T0).unwrap();
    assert_eq!(exec(&s, "c", "t4").execution.status, S::Queued);

    // Snapshot jobs, ended jobs and unknown jobs refuse.
    s.create_job(&on("snap", &["t1"], TargetSelection::Snapshot), T0)
        .unwrap();
    let err = s
        .associate_targets("snap", &["Lab".into()], None, T0)
        .unwrap_err();
    assert!(err.to_string().contains("CONTINUOUS"), "{err}");
    s.create_job(&on("c2", &["Lab"], TargetSelection::Continuous), T0)
        .unwrap();
    s.cancel_job("c2", false, None, None, T0).unwrap();
    let err = s
        .associate_targets("c2", &["EU".into()], None, T0)
        .unwrap_err();
    assert!(err.to_string().contains("IN_PROGRESS"), "{err}");
    assert!(matches!(
        s.associate_targets("nope", &["EU".into()], None, T0),
        Err(StoreError::NotFound(_))
    ));
    assert!(matches!(
        s.associate_targets("c", &[], None, T0),
        Err(StoreError::InvalidRequest(_))
    ));
}

#[test]
fn a_job_has_at_most_a_hundred_targets_after_associating() {
    let mut s = store();
    let many: Vec<String> = (0..MAX_JOB_TARGETS).map(|i| format!("t{i}")).collect();
    let refs: Vec<&str> = many.iter().map(String::as_str).collect();
    s.create_job(&on("c", &refs, TargetSelection::Continuous), T0)
        .unwrap();
    // One already there is not counted twice.
    s.associate_targets("c", &["t0".into()], None, T0).unwrap();
    let err = s
        .associate_targets("c", &["one-more".into()], None, T0)
        .unwrap_err();
    assert!(matches!(err, StoreError::LimitExceeded(_)), "{err}");
}

#[test]
fn list_jobs_filters_by_group_and_target_selection() {
    let mut s = store();
    fleet(&mut s);
    s.create_job(&on("a", &["EU"], TargetSelection::Snapshot), T0)
        .unwrap();
    s.create_job(
        &on("b", &["Fleet", "t3"], TargetSelection::Continuous),
        T0 + 1,
    )
    .unwrap();
    s.create_job(&on("c", &["t1"], TargetSelection::Snapshot), T0 + 2)
        .unwrap();
    let ids = |f: JobFilter| -> Vec<String> {
        s.list_jobs_page(&f, PageRequest::default())
            .unwrap()
            .items
            .into_iter()
            .map(|j| j.job_id)
            .collect()
    };
    assert_eq!(
        ids(JobFilter {
            thing_group_name: Some("EU".into()),
            ..JobFilter::default()
        }),
        ["a"]
    );
    let fleet_id = s.describe_thing_group("Fleet").unwrap().group_id;
    assert_eq!(
        ids(JobFilter {
            thing_group_id: Some(fleet_id),
            ..JobFilter::default()
        }),
        ["b"]
    );
    assert_eq!(
        ids(JobFilter {
            target_selection: Some(TargetSelection::Snapshot),
            ..JobFilter::default()
        }),
        ["a", "c"]
    );
    let summaries = s.list_jobs(None).unwrap();
    assert_eq!(summaries[1].target_selection, TargetSelection::Continuous);
    assert!(ids(JobFilter {
        thing_group_name: Some("Nope".into()),
        ..JobFilter::default()
    })
    .is_empty());
}
