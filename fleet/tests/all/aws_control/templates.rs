//! Custom job templates through boto3 (`templates.py`): CreateJobTemplate,
//! DescribeJobTemplate, ListJobTemplates with boto3's paginator, CreateJob
//! from a template with `documentParameters`, DeleteJobTemplate, and the
//! typed exceptions; then the store holds what boto3 asked for.

use super::AwsControl;
use jobhost_fleet::store::StoreError;
use serde_json::json;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn boto3_drives_job_templates_unchanged() {
    let aws = AwsControl::start().await;
    let outcome = aws
        .run(
            "templates",
            &[
                "create_and_describe",
                "list_in_pages",
                "create_job_from_template",
                "delete_keeps_jobs",
                "from_a_job",
                "typed_exceptions",
            ],
        )
        .await;
    assert_eq!(
        outcome.detail("create_and_describe")["jobTemplateArn"],
        "arn:aws:iot:local:000000000000:jobtemplate/boto-tpl"
    );
    assert!(outcome.detail("list_in_pages")["pages"].as_u64().unwrap() >= 3);

    {
        let store = aws.server.store.lock().unwrap();
        let template = store.describe_job_template("boto-tpl").unwrap();
        assert_eq!(template.settings.in_progress_timeout_minutes, Some(30));
        assert_eq!(template.settings.maintenance_windows.len(), 1);
        let job = store.describe_job("boto-from-tpl").unwrap();
        assert_eq!(
            job.document,
            json!({"operation": "install", "url": "https://example.com/fw.bin"})
        );
        assert_eq!(job.in_progress_timeout_minutes, Some(20));
        assert!(matches!(
            store.describe_job_template("boto-gone"),
            Err(StoreError::NotFound(_))
        ));
        assert!(store.describe_job("boto-orphan").is_ok());
        // The refused requests left nothing behind.
        assert!(store.describe_job_template("boto-tags").is_err());
        assert!(store.describe_job("boto-no-param").is_err());
    }
    aws.stop().await;
}
