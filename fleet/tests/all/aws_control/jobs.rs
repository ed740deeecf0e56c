//! The job operations through boto3 (`jobs.py`): CreateJob, DescribeJob,
//! GetJobDocument, ListJobs, ListJobExecutionsForJob/ForThing,
//! DescribeJobExecution, CancelJob, and the typed exceptions; then the store
//! holds what boto3 asked for.

use super::AwsControl;
use jobhost_fleet::arn::thing_arn;
use jobhost_fleet::store::JobStatus;
use jobhost_protocol::JobExecutionStatus;
use serde_json::json;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn boto3_drives_jobs_unchanged() {
    let aws = AwsControl::start().await;
    let outcome = aws
        .run(
            "jobs",
            &[
                "create_and_describe",
                "list_with_a_filter",
                "executions",
                "cancel",
                "typed_exceptions",
            ],
        )
        .await;
    // The thing ARNs boto3 sent (its region and account) come back as the
    // service's own ARNs of the same things.
    let arns = [thing_arn("dev-1"), thing_arn("dev:2")];
    assert_eq!(
        outcome.detail("create_and_describe")["targets"],
        json!(arns)
    );
    assert_eq!(outcome.detail("executions")["executionNumber"], 1);

    {
        let store = aws.server.store.lock().unwrap();
        let job = store.describe_job("boto-1").unwrap();
        assert_eq!(job.targets, arns);
        assert_eq!(
            job.document,
            json!({"operation": "echo", "message": "from boto3"})
        );
        let canceled = store.describe_job("boto-cancel").unwrap();
        assert_eq!(canceled.status, JobStatus::Canceled);
        let execution = store
            .describe_execution("boto-exec", "dev:2", None)
            .unwrap()
            .execution;
        assert_eq!(execution.status, JobExecutionStatus::Queued);
        // The refused CreateJob left nothing behind.
        assert!(store.describe_job("boto-bad").is_err());
    }
    aws.stop().await;
}
