//! Things, thing groups and jobs on groups through boto3 (`groups.py`):
//! CreateThing, CreateThingGroup (a hierarchy), AddThingToThingGroup,
//! CreateDynamicThingGroup, DescribeThingGroup, CreateJob on a group ARN
//! (SNAPSHOT and CONTINUOUS), AssociateTargetsWithJob and ListJobs'
//! group filters; then the store holds what boto3 asked for, and a thing
//! that joined the continuous job's group later has its execution.

use super::AwsControl;
use jobhost_fleet::arn::thing_group_arn;
use jobhost_fleet::store::{JobStatus, TargetSelection};
use jobhost_protocol::JobExecutionStatus;
use serde_json::json;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn boto3_drives_things_groups_and_jobs_on_groups_unchanged() {
    let aws = AwsControl::start().await;
    let outcome = aws
        .run(
            "groups",
            &[
                "registry_and_hierarchy",
                "dynamic_group",
                "snapshot_job_on_a_group",
                "continuous_job_and_a_late_joiner",
                "associate_targets",
                "list_jobs_by_group",
            ],
        )
        .await;
    assert_eq!(
        outcome.detail("snapshot_job_on_a_group")["targets"],
        json!([thing_group_arn("Fleet")])
    );
    assert_eq!(
        outcome.detail("dynamic_group")["members"],
        json!(["g-lab-1"])
    );
    {
        let store = aws.server.store.lock().unwrap();
        let job = store.describe_job("g-cont").unwrap();
        assert_eq!(job.target_selection, TargetSelection::Continuous);
        assert_eq!(job.status, JobStatus::InProgress);
        assert_eq!(
            job.targets,
            [thing_group_arn("EU"), thing_group_arn("Labs")]
        );
        assert_eq!(job.comment.as_deref(), Some("labs too"));
        let late = store.describe_execution("g-cont", "g-late", None).unwrap();
        assert_eq!(late.execution.status, JobExecutionStatus::Queued);
        let eu = store.describe_thing_group("EU").unwrap();
        assert_eq!(eu.parent.as_deref(), Some("Fleet"));
        assert_eq!(
            outcome.detail("registry_and_hierarchy")["euId"],
            json!(eu.group_id)
        );
    }
    aws.stop().await;
}
