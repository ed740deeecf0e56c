//! UpdateEventConfigurations and DescribeEventConfigurations through boto3
//! (`events.py`); then the store holds what boto3 set.

use super::AwsControl;
use serde_json::json;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn boto3_switches_the_job_events_on() {
    let aws = AwsControl::start().await;
    let outcome = aws.run("events", &["event_configurations"]).await;
    assert_eq!(
        outcome.detail("event_configurations")["types"],
        json!([
            "CA_CERTIFICATE",
            "CERTIFICATE",
            "JOB",
            "JOB_EXECUTION",
            "POLICY",
            "THING",
            "THING_GROUP",
            "THING_GROUP_HIERARCHY",
            "THING_GROUP_MEMBERSHIP",
            "THING_TYPE",
            "THING_TYPE_ASSOCIATION"
        ])
    );
    {
        let config = aws
            .server
            .store
            .lock()
            .unwrap()
            .event_configurations()
            .unwrap();
        assert!(config.job && config.job_execution);
    }
    aws.stop().await;
}
