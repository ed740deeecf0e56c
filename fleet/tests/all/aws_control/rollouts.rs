//! Rollouts, abort rules, retries, timeouts and schedules through boto3
//! (`rollouts.py`): what an AWS deployment script sets is what DescribeJob
//! returns and what the store acts on.

use super::AwsControl;
use jobhost_fleet::store::JobStatus;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn boto3_sets_rollouts_aborts_retries_and_schedules() {
    let aws = AwsControl::start().await;
    let outcome = aws
        .run(
            "rollouts",
            &[
                "staged_rollout",
                "scheduled",
                "retries_set_to_zero",
                "cancel_with_a_reason",
                "out_of_range_is_refused_naming_the_field",
            ],
        )
        .await;
    assert_eq!(outcome.detail("scheduled")["status"], "SCHEDULED");
    let refused = outcome.detail("retries_set_to_zero")["message"]
        .as_str()
        .unwrap()
        .to_owned();
    assert!(refused.contains("numberOfRetries"), "{refused}");
    let refused = outcome.detail("out_of_range_is_refused_naming_the_field")["message"]
        .as_str()
        .unwrap()
        .to_owned();
    assert!(refused.contains("maximumPerMinute"), "{refused}");
    {
        let store = aws.server.store.lock().unwrap();
        // The exponential rollout releases at its base rate, 2 a minute:
        // not all three at once.
        let job = store.describe_job("boto-exponential").unwrap();
        let rollout = &job.plan.jobhost.as_ref().expect("rollout progress").rollout;
        assert_eq!(rollout.released_things + rollout.unreleased_things, 3);
        assert!((1..=2).contains(&rollout.released_things), "{rollout:?}");
        // The canary was cancelled: its unreleased targets were dropped.
        let canary = store.describe_job("boto-canary").unwrap();
        assert_eq!(canary.status, JobStatus::Canceled);
        assert_eq!(canary.process_details.number_of_canceled_things, 1);
        let later = store.describe_job("boto-later").unwrap();
        assert_eq!(later.status, JobStatus::Scheduled);
        assert!(store.describe_job("boto-too-fast").is_err());
    }
    aws.stop().await;
}
