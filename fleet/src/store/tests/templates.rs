//! Custom job templates: kept as given across a restart, ids unique,
//! copied from a job in one step, listed in creation order with tokens
//! that survive deletions, and the settings a job takes from one.

use super::*;
use crate::rollout::{JobConfigs, RawConfigs};
use serde_json::Value;

const TEXT: &str = "{ \"operation\": \"install\" }\n";

fn configs(v: Value) -> JobConfigs {
    let field = |k: &str| v.get(k).cloned();
    let (rollout, abort, scheduling, retry) = (
        field("jobExecutionsRolloutConfig"),
        field("abortConfig"),
        field("schedulingConfig"),
        field("jobExecutionsRetryConfig"),
    );
    JobConfigs::from_json(
        RawConfigs {
            rollout: rollout.as_ref(),
            abort: abort.as_ref(),
            scheduling: scheduling.as_ref(),
            retry: retry.as_ref(),
        },
        T0,
    )
    .expect("valid configurations")
}

fn windows(cron: &str) -> Vec<crate::rollout::config::MaintenanceWindow> {
    configs(json!({"schedulingConfig": {"maintenanceWindows": [
        {"startTime": cron, "durationInMinutes": 60}]}}))
    .scheduling
    .unwrap()
    .maintenance_windows
}

fn settings() -> TemplateSettings {
    let c = configs(json!({
        "jobExecutionsRolloutConfig": {"maximumPerMinute": 5},
        "abortConfig": {"criteriaList": [{"failureType": "FAILED", "action": "CANCEL",
                                          "thresholdPercentage": 20, "minNumberOfExecutedThings": 2}]},
        "jobExecutionsRetryConfig": {"criteriaList": [{"failureType": "ALL", "numberOfRetries": 1}]},
    }));
    TemplateSettings {
        presigned_url_config: Some(PresignedUrlConfig {
            role_arn: None,
            expires_in_sec: Some(90),
        }),
        in_progress_timeout_minutes: Some(45),
        job_executions_rollout_config: c.rollout,
        abort_config: c.abort,
        job_executions_retry_config: c.retry,
        maintenance_windows: windows("cron(0 2 ? * SUN *)"),
    }
}

fn template(id: &str, settings: TemplateSettings) -> CreateJobTemplate {
    CreateJobTemplate {
        job_template_id: id.to_owned(),
        description: format!("template {id}"),
        source: TemplateSource::Document(JobDocument::Text(TEXT.into())),
        settings,
    }
}

#[test]
fn a_template_is_kept_as_given_across_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("fleet.db");
    let created = {
        let mut s = Store::open(&path).unwrap();
        s.create_job_template(&template("fw", settings()), T0)
            .unwrap()
    };
    assert_eq!(created.document, TEXT);
    assert_eq!(created.description, "template fw");
    assert_eq!(created.created_at, T0);
    assert_eq!(created.settings, settings());
    let s = Store::open(&path).unwrap();
    assert_eq!(s.describe_job_template("fw").unwrap(), created);
    // DescribeJobTemplate's shape, less the ARN the API adds.
    let v = serde_json::to_value(&created).unwrap();
    assert_eq!(v["jobTemplateId"], "fw");
    assert_eq!(
        v["timeoutConfig"],
        json!({"inProgressTimeoutInMinutes": 45})
    );
    assert_eq!(v["presignedUrlConfig"], json!({"expiresInSec": 90}));
    assert_eq!(
        v["maintenanceWindows"],
        json!([{"startTime": "cron(0 2 ? * SUN *)", "durationInMinutes": 60}])
    );
    assert_eq!(v["jobExecutionsRolloutConfig"]["maximumPerMinute"], 5);
}

#[test]
fn ids_are_unique_and_requests_are_checked() {
    let mut s = store();
    s.create_job_template(&template("t1", TemplateSettings::default()), T0)
        .unwrap();
    assert!(matches!(
        s.create_job_template(&template("t1", TemplateSettings::default()), T0),
        Err(StoreError::Conflict(_))
    ));
    let refused = |s: &mut Store, req: CreateJobTemplate| match s.create_job_template(&req, T0) {
        Err(StoreError::InvalidRequest(m)) => m,
        other => panic!("{other:?}"),
    };
    let m = refused(&mut s, template("a/b", TemplateSettings::default()));
    assert!(m.contains("must be 1-64 characters"), "{m}");
    let m = refused(
        &mut s,
        CreateJobTemplate {
            description: "x".repeat(2029),
            ..template("t2", TemplateSettings::default())
        },
    );
    assert!(m.contains("longer than 2028"), "{m}");
    let m = refused(
        &mut s,
        template(
            "t2",
            TemplateSettings {
                in_progress_timeout_minutes: Some(10_081),
                ..TemplateSettings::default()
            },
        ),
    );
    assert!(m.contains("10081 is outside 1-10080"), "{m}");
    let m = refused(
        &mut s,
        CreateJobTemplate {
            source: TemplateSource::Document(JobDocument::Text(format!(
                "{{\"p\":\"{}\"}}",
                "x".repeat(32_761)
            ))),
            ..template("t2", TemplateSettings::default())
        },
    );
    assert!(m.contains("32769 characters"), "{m}");
    assert!(matches!(
        s.describe_job_template("t2"),
        Err(StoreError::NotFound(_))
    ));
}

#[test]
fn a_template_from_a_job_copies_its_text_and_settings() {
    let mut s = store();
    let req = CreateJob {
        document: JobDocument::Text(TEXT.into()),
        in_progress_timeout_minutes: Some(15),
        ..job("src", &["t1"])
    };
    let job_configs = configs(json!({
        "jobExecutionsRetryConfig": {"criteriaList": [{"failureType": "FAILED", "numberOfRetries": 2}]},
        "schedulingConfig": {"endTime": "2023-11-30T00:00",
                             "maintenanceWindows": [{"startTime": "cron(0 * * * ? *)",
                                                     "durationInMinutes": 60}]},
    }));
    s.create_job_with(&req, &job_configs, T0).unwrap();
    let copy = CreateJobTemplate {
        source: TemplateSource::Job("src".into()),
        settings: TemplateSettings {
            presigned_url_config: Some(PresignedUrlConfig {
                role_arn: None,
                expires_in_sec: Some(600),
            }),
            ..TemplateSettings::default()
        },
        ..template("copy", TemplateSettings::default())
    };
    let t = s.create_job_template(&copy, T0 + 5).unwrap();
    assert_eq!(t.document, TEXT);
    assert_eq!(t.settings.in_progress_timeout_minutes, Some(15));
    assert_eq!(t.settings.job_executions_retry_config, job_configs.retry);
    assert_eq!(t.settings.maintenance_windows, windows("cron(0 * * * ? *)"));
    // Given with the request: replaces the job's (which had none).
    assert_eq!(
        t.settings.presigned_url_config.unwrap().expires_in_sec,
        Some(600)
    );
    assert_eq!(t.settings.job_executions_rollout_config, None);

    let missing = CreateJobTemplate {
        source: TemplateSource::Job("nope".into()),
        ..template("other", TemplateSettings::default())
    };
    assert!(matches!(
        s.create_job_template(&missing, T0),
        Err(StoreError::NotFound(_))
    ));
    assert!(s.describe_job_template("other").is_err());
}

#[test]
fn pages_follow_creation_order_even_across_deletions() {
    let mut s = store();
    for id in ["a", "b", "x"] {
        s.create_job_template(&template(id, TemplateSettings::default()), T0)
            .unwrap();
    }
    let first = s
        .list_job_templates_page(PageRequest {
            after: None,
            limit: Some(2),
        })
        .unwrap();
    let ids = |p: &Page<TemplateSummary, TemplateCursor>| -> Vec<String> {
        p.items.iter().map(|t| t.job_template_id.clone()).collect()
    };
    assert_eq!(ids(&first), ["a", "b"]);
    let after_b = first.next.expect("a next page");
    // The page's last template and the newest go; a new one is made. Its
    // row id is new (AUTOINCREMENT): the token still points before it.
    s.delete_job_template("b").unwrap();
    s.delete_job_template("x").unwrap();
    s.create_job_template(&template("c", TemplateSettings::default()), T0 + 1)
        .unwrap();
    let rest = s
        .list_job_templates_page(PageRequest {
            after: Some(after_b),
            limit: Some(2),
        })
        .unwrap();
    assert_eq!(ids(&rest), ["c"]);
    assert_eq!(rest.next, None);
    let all = s.list_job_templates_page(PageRequest::default()).unwrap();
    assert_eq!(ids(&all), ["a", "c"]);
    assert_eq!(all.items[1].created_at, T0 + 1);
    assert_eq!(all.items[1].description, "template c");
    assert!(matches!(
        s.delete_job_template("b"),
        Err(StoreError::NotFound(_))
    ));
}

#[test]
fn a_job_takes_the_templates_configurations_unless_it_gives_its_own() {
    let template = settings();
    // Nothing given: the template's, its windows as a schedule.
    let taken = template.job_configs(JobConfigs::default());
    assert_eq!(taken.rollout, template.job_executions_rollout_config);
    assert_eq!(taken.abort, template.abort_config);
    assert_eq!(taken.retry, template.job_executions_retry_config);
    let scheduling = taken.scheduling.unwrap();
    assert_eq!(scheduling.maintenance_windows, template.maintenance_windows);
    assert_eq!(scheduling.start_time, None);

    // Given: each replaces the template's; a schedule without windows
    // keeps the template's windows, one with windows replaces them.
    let given = configs(json!({
        "jobExecutionsRolloutConfig": {"maximumPerMinute": 50},
        "schedulingConfig": {"endTime": "2023-11-30T00:00"},
    }));
    let taken = template.job_configs(given.clone());
    assert_eq!(taken.rollout, given.rollout);
    assert_eq!(taken.abort, template.abort_config);
    let scheduling = taken.scheduling.unwrap();
    assert!(scheduling.end_time.is_some());
    assert_eq!(scheduling.maintenance_windows, template.maintenance_windows);
    let own = configs(json!({"schedulingConfig": {"maintenanceWindows": [
        {"startTime": "cron(0 * * * ? *)", "durationInMinutes": 60}]}}));
    let taken = template.job_configs(own);
    assert_eq!(
        taken.scheduling.unwrap().maintenance_windows,
        windows("cron(0 * * * ? *)")
    );
    // A template without windows adds no schedule.
    let plain = TemplateSettings::default().job_configs(JobConfigs::default());
    assert_eq!(plain, JobConfigs::default());
}

#[test]
fn the_previous_version_gains_the_templates_table() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("fleet.db");
    {
        // Version 7: before the templates' migration (7 → 8).
        let previous = 7;
        let mut conn = rusqlite::Connection::open(&path).unwrap();
        schema::migrate_to(&mut conn, previous).unwrap();
    }
    let mut s = Store::open(&path).unwrap();
    assert_eq!(s.schema_version().unwrap(), schema::CURRENT_VERSION);
    s.create_job_template(&template("t1", settings()), T0)
        .unwrap();
    assert_eq!(s.describe_job_template("t1").unwrap().settings, settings());
}
