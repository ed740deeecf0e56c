//! The configurations' limits and messages, the rate arithmetic, cron
//! expressions and windows, without a store.

use super::config::{EndBehavior, FailureType, MAX_PER_MINUTE};
use super::cron::CronExpression;
use super::datetime::{format_utc, StringDateTime};
use super::rate::{allowance, CATCH_UP_SECONDS};
use super::{JobConfigs, RawConfigs};
use serde_json::{json, Value};

/// 2024-01-01T00:00:00Z, a Monday.
const MONDAY: i64 = 1_704_067_200;
const HOUR: i64 = 3600;
const DAY: i64 = 86_400;

/// Reads one configuration, `which` of the three, as CreateJob does at
/// [`MONDAY`].
fn read(which: &str, v: Value) -> Result<JobConfigs, String> {
    let mut raw = RawConfigs::default();
    match which {
        "rollout" => raw.rollout = Some(&v),
        "abort" => raw.abort = Some(&v),
        _ => raw.scheduling = Some(&v),
    }
    JobConfigs::from_json(raw, MONDAY).map_err(|e| e.to_string())
}

fn rollout(v: Value) -> Result<JobConfigs, String> {
    read("rollout", v)
}

fn abort(v: Value) -> Result<JobConfigs, String> {
    read("abort", v)
}

fn scheduling(v: Value) -> Result<JobConfigs, String> {
    read("scheduling", v)
}

/// The message of a refusal, which must start with the field's path.
pub(super) fn refused<T: std::fmt::Debug>(result: Result<T, String>, path: &str) -> String {
    let message = result.expect_err("must be refused");
    assert!(
        message.starts_with(&format!("{path} ")),
        "the message must name {path}: {message}"
    );
    message
}

#[test]
fn a_valid_configuration_reads_back_in_aws_shape() {
    let raw = json!({
        "maximumPerMinute": 500,
        "exponentialRate": {
            "baseRatePerMinute": 50, "incrementFactor": 2.5,
            "rateIncreaseCriteria": { "numberOfNotifiedThings": 100 }
        }
    });
    let c = rollout(raw.clone()).unwrap();
    assert_eq!(serde_json::to_value(c.rollout.unwrap()).unwrap(), raw);

    let raw = json!({ "criteriaList": [
        { "failureType": "TIMED_OUT", "action": "CANCEL",
          "thresholdPercentage": 12.5, "minNumberOfExecutedThings": 10 }
    ]});
    let c = abort(raw.clone()).unwrap();
    let a = c.abort.clone().unwrap();
    assert_eq!(a.criteria_list[0].failure_type, FailureType::TimedOut);
    assert_eq!(serde_json::to_value(a).unwrap(), raw);
    assert!(
        !c.gates_release(),
        "abort rules alone notify everyone at once"
    );

    let raw = json!({
        "startTime": "2024-01-02T10:00", "endTime": "2024-01-09T10:00+02:00",
        "endBehavior": "FORCE_CANCEL",
        "maintenanceWindows": [{ "startTime": "cron(0 22 ? * MON-FRI *)", "durationInMinutes": 120 }]
    });
    let c = scheduling(raw.clone()).unwrap();
    let s = c.scheduling.clone().unwrap();
    assert_eq!(
        s.start_time.as_ref().unwrap().epoch(),
        MONDAY + DAY + 10 * HOUR
    );
    assert_eq!(
        s.end_time.as_ref().unwrap().epoch(),
        MONDAY + 8 * DAY + 8 * HOUR
    );
    assert_eq!(s.end(), EndBehavior::ForceCancel);
    // The stored JSON reads back into the same configuration.
    let stored = serde_json::to_value(&s).unwrap();
    assert_eq!(stored, raw);
    assert_eq!(
        serde_json::from_value::<super::SchedulingConfig>(stored).unwrap(),
        s
    );
    assert!(c.gates_release());
}

#[test]
fn each_limit_of_the_model_is_enforced_and_the_field_named() {
    let p = "jobExecutionsRolloutConfig";
    refused(
        rollout(json!({ "maximumPerMinute": 0 })),
        &format!("{p}.maximumPerMinute"),
    );
    refused(
        rollout(json!({ "maximumPerMinute": 1001 })),
        &format!("{p}.maximumPerMinute"),
    );
    refused(
        rollout(json!({ "maximumPerMinute": "10" })),
        &format!("{p}.maximumPerMinute"),
    );
    refused(
        rollout(json!({ "maximumPerMinute": 2.5 })),
        &format!("{p}.maximumPerMinute"),
    );
    let e = |base: Value, factor: Value, criteria: Value| {
        json!({ "exponentialRate": {
            "baseRatePerMinute": base, "incrementFactor": factor, "rateIncreaseCriteria": criteria
        }})
    };
    let ok = json!({ "numberOfSucceededThings": 5 });
    let er = format!("{p}.exponentialRate");
    refused(
        rollout(e(json!(0), json!(2), ok.clone())),
        &format!("{er}.baseRatePerMinute"),
    );
    refused(
        rollout(e(json!(1001), json!(2), ok.clone())),
        &format!("{er}.baseRatePerMinute"),
    );
    refused(
        rollout(e(json!(10), json!(1.0), ok.clone())),
        &format!("{er}.incrementFactor"),
    );
    refused(
        rollout(e(json!(10), json!(5.1), ok.clone())),
        &format!("{er}.incrementFactor"),
    );
    let m = refused(
        rollout(e(json!(10), json!(1.55), ok.clone())),
        &format!("{er}.incrementFactor"),
    );
    assert!(m.contains("decimal"), "{m}");
    refused(
        rollout(e(json!(10), json!(2), json!({}))),
        &format!("{er}.rateIncreaseCriteria"),
    );
    refused(
        rollout(e(
            json!(10),
            json!(2),
            json!({ "numberOfNotifiedThings": 0 }),
        )),
        &format!("{er}.rateIncreaseCriteria.numberOfNotifiedThings"),
    );
    refused(
        rollout(json!({ "exponentialRate": { "baseRatePerMinute": 10, "incrementFactor": 2 } })),
        &format!("{er}.rateIncreaseCriteria"),
    );
    refused(
        rollout(json!({ "maximumPerMinute": 5, "exponentialRate": {
            "baseRatePerMinute": 10, "incrementFactor": 2, "rateIncreaseCriteria": ok } })),
        &format!("{er}.baseRatePerMinute"),
    );
    // A misspelt field is refused, not ignored.
    let m = refused(
        rollout(json!({ "maximumPerMinut": 5 })),
        &format!("{p}.maximumPerMinut"),
    );
    assert!(
        m.contains("maximumPerMinute"),
        "the message lists the fields: {m}"
    );
    refused(rollout(json!([1])), p);

    let c = |over: Value| {
        let mut base = json!({ "failureType": "FAILED", "action": "CANCEL",
            "thresholdPercentage": 10, "minNumberOfExecutedThings": 5 });
        for (k, v) in over.as_object().unwrap() {
            base[k] = v.clone();
        }
        json!({ "criteriaList": [base] })
    };
    let cl = "abortConfig.criteriaList[0]";
    refused(
        abort(c(json!({ "failureType": "CRASHED" }))),
        &format!("{cl}.failureType"),
    );
    refused(
        abort(c(json!({ "action": "ROLLBACK" }))),
        &format!("{cl}.action"),
    );
    refused(
        abort(c(json!({ "thresholdPercentage": 100.5 }))),
        &format!("{cl}.thresholdPercentage"),
    );
    refused(
        abort(c(json!({ "thresholdPercentage": -1 }))),
        &format!("{cl}.thresholdPercentage"),
    );
    refused(
        abort(c(json!({ "thresholdPercentage": 10.999 }))),
        &format!("{cl}.thresholdPercentage"),
    );
    refused(
        abort(c(json!({ "minNumberOfExecutedThings": 0 }))),
        &format!("{cl}.minNumberOfExecutedThings"),
    );
    refused(abort(c(json!({ "action": null }))), &format!("{cl}.action"));
    refused(
        abort(json!({ "criteriaList": [] })),
        "abortConfig.criteriaList",
    );
    refused(abort(json!({})), "abortConfig.criteriaList");
    abort(c(json!({ "thresholdPercentage": 10.99 }))).unwrap();

    let s = "schedulingConfig";
    // Thirty minutes to a year ahead for the start.
    refused(
        scheduling(json!({ "startTime": "2024-01-01T00:29" })),
        &format!("{s}.startTime"),
    );
    scheduling(json!({ "startTime": "2024-01-01T00:30" })).unwrap();
    refused(
        scheduling(json!({ "startTime": "2025-01-02T00:00" })),
        &format!("{s}.startTime"),
    );
    refused(
        scheduling(json!({ "startTime": "tomorrow" })),
        &format!("{s}.startTime"),
    );
    refused(
        scheduling(json!({ "startTime": "2024-02-30T10:00" })),
        &format!("{s}.startTime"),
    );
    // The end at least thirty minutes after the start, at most two years.
    refused(
        scheduling(json!({ "startTime": "2024-01-02T00:00", "endTime": "2024-01-02T00:29" })),
        &format!("{s}.endTime"),
    );
    refused(
        scheduling(json!({ "endTime": "2026-01-02T00:00" })),
        &format!("{s}.endTime"),
    );
    refused(
        scheduling(json!({ "endBehavior": "PAUSE" })),
        &format!("{s}.endBehavior"),
    );
    let w = |cron: &str, minutes: Value| json!({ "maintenanceWindows": [{ "startTime": cron, "durationInMinutes": minutes }] });
    let mw = format!("{s}.maintenanceWindows[0]");
    refused(
        scheduling(w("cron(0 2 ? * SAT *)", json!(0))),
        &format!("{mw}.durationInMinutes"),
    );
    refused(
        scheduling(w("cron(0 2 ? * SAT *)", json!(1431))),
        &format!("{mw}.durationInMinutes"),
    );
    refused(
        scheduling(w("0 2 * * 6", json!(60))),
        &format!("{mw}.startTime"),
    );
    refused(
        scheduling(w("cron(0 2 1 * SAT *)", json!(60))),
        &format!("{mw}.startTime"),
    );
    let m = refused(
        scheduling(w("cron(0 2 L * ? *)", json!(60))),
        &format!("{mw}.startTime"),
    );
    assert!(m.contains("not support"), "{m}");
    refused(
        scheduling(w("cron(60 2 ? * SAT *)", json!(60))),
        &format!("{mw}.startTime"),
    );
}

#[test]
fn datetimes_read_the_forms_aws_takes() {
    let at = |s: &str| StringDateTime::parse(s).map(|d| d.epoch());
    assert_eq!(at("2024-01-01T00:00"), Ok(MONDAY));
    assert_eq!(at("2024-01-01T00:00Z"), Ok(MONDAY));
    assert_eq!(at("2024-01-01 00:00:30"), Ok(MONDAY + 30));
    assert_eq!(at("2024-01-01T00:00:30.250Z"), Ok(MONDAY + 30));
    assert_eq!(at("2024-01-01T02:00+02:00"), Ok(MONDAY));
    assert_eq!(at("2023-12-31T23:00-01:00"), Ok(MONDAY));
    for bad in [
        "",
        "2024-01-01",
        "2024-1-01T00:00",
        "2024-01-01T24:00",
        "2024-01-01T00:00+2",
    ] {
        assert!(at(bad).is_err(), "{bad:?} must be refused");
    }
    assert_eq!(format_utc(MONDAY + 90 * 60), "2024-01-01T01:30");
}

#[test]
fn cron_expressions_fire_when_aws_documents_them_to() {
    let cron = |s: &str| CronExpression::parse(s).unwrap();
    // 02:00 every Saturday (1 is Sunday, 7 Saturday).
    let sat = cron("cron(0 2 ? * SAT *)");
    assert_eq!(
        sat.next_at_or_after(MONDAY),
        Some(MONDAY + 5 * DAY + 2 * HOUR)
    );
    assert_eq!(
        cron("cron(0 2 ? * 7 *)").next_at_or_after(MONDAY),
        sat.next_at_or_after(MONDAY)
    );
    // At the instant itself.
    let t = MONDAY + 5 * DAY + 2 * HOUR;
    assert_eq!(sat.next_at_or_after(t), Some(t));
    assert_eq!(sat.next_at_or_after(t + 1), Some(t + 7 * DAY));
    assert_eq!(sat.last_within(t + 59 * 60, 3600), Some(t));
    assert_eq!(sat.last_within(t + 3600, 3599), None);
    // Every 15 minutes from 09:00 to 17:45 on weekdays.
    let office = cron("cron(0/15 9-17 ? * MON-FRI *)");
    assert_eq!(
        office.next_at_or_after(MONDAY + 9 * HOUR + 1),
        Some(MONDAY + 9 * HOUR + 15 * 60)
    );
    assert_eq!(
        office.next_at_or_after(MONDAY + 18 * HOUR),
        Some(MONDAY + DAY + 9 * HOUR)
    );
    // The 1st and 15th of each month, in 2024 only.
    let fortnight = cron("cron(30 4 1,15 * ? 2024)");
    assert_eq!(
        fortnight.next_at_or_after(MONDAY + DAY),
        Some(MONDAY + 14 * DAY + 4 * HOUR + 1800)
    );
    assert_eq!(fortnight.next_at_or_after(MONDAY + 366 * DAY), None);
    // Without the cron() wrapper, and names in any case.
    assert_eq!(
        cron("0 2 ? jan sat *").next_at_or_after(MONDAY),
        sat.next_at_or_after(MONDAY)
    );
    // Day-of-month and Day-of-week cannot both be given, nor both be ?.
    assert!(CronExpression::parse("cron(0 2 * * ? *)").is_ok());
    assert!(CronExpression::parse("cron(0 2 ? * ? *)").is_err());
    assert!(CronExpression::parse("cron(0 2 * * * *)").is_err());
    assert!(CronExpression::parse("cron(0 2 ? * MON#2 *)").is_err());
    assert!(CronExpression::parse("cron(0 5-2 ? * * *)").is_err());
}

#[test]
fn windows_open_for_their_duration_and_scheduled_rollouts_list_the_next_seven() {
    let c = scheduling(json!({
        "startTime": "2024-01-03T00:00",
        "maintenanceWindows": [
            { "startTime": "cron(0 22 ? * * *)", "durationInMinutes": 60 }
        ]
    }))
    .unwrap()
    .scheduling
    .unwrap();
    // Before startTime nothing is open, window or not.
    assert!(!c.is_open(MONDAY + 22 * HOUR + 10));
    let wed = MONDAY + 2 * DAY;
    assert!(!c.is_open(wed + 21 * HOUR + 3599));
    assert!(c.is_open(wed + 22 * HOUR));
    assert!(c.is_open(wed + 22 * HOUR + 3599));
    assert!(!c.is_open(wed + 23 * HOUR));
    let next = c.next_windows(MONDAY, 7);
    assert_eq!(next.len(), 7);
    assert_eq!(next[0], wed + 22 * HOUR, "none before startTime");
    assert_eq!(next[6], wed + 6 * DAY + 22 * HOUR);
    assert!(!c.has_ended(i64::MAX / 2), "no endTime: never ends");
    assert_eq!(c.end(), EndBehavior::StopRollout);

    // A window that spans midnight.
    let late = scheduling(json!({ "maintenanceWindows": [
        { "startTime": "cron(30 23 ? * MON *)", "durationInMinutes": 90 }
    ]}))
    .unwrap()
    .scheduling
    .unwrap();
    assert!(late.is_open(MONDAY + DAY + 30 * 60));
    assert!(!late.is_open(MONDAY + DAY + HOUR));
}

#[test]
fn the_rate_grows_by_the_factor_at_each_threshold_up_to_its_ceiling() {
    let c = rollout(json!({ "exponentialRate": {
        "baseRatePerMinute": 50, "incrementFactor": 2,
        "rateIncreaseCriteria": { "numberOfNotifiedThings": 1000, "numberOfSucceededThings": 1000 }
    }}))
    .unwrap()
    .rollout
    .unwrap();
    // AWS's table: 50, 100, 200, 400 after 0, 1000, 2000, 3000.
    assert_eq!(c.rate_per_minute(0, 0), 50);
    assert_eq!(c.rate_per_minute(999, 0), 50);
    assert_eq!(c.rate_per_minute(1000, 0), 100);
    assert_eq!(
        c.rate_per_minute(1500, 2000),
        200,
        "whichever criterion is further"
    );
    assert_eq!(c.rate_per_minute(3000, 0), 400);
    assert_eq!(c.rate_per_minute(100_000, 0), MAX_PER_MINUTE);
    let capped = rollout(json!({ "maximumPerMinute": 150, "exponentialRate": {
        "baseRatePerMinute": 50, "incrementFactor": 1.5,
        "rateIncreaseCriteria": { "numberOfSucceededThings": 10 }
    }}))
    .unwrap()
    .rollout
    .unwrap();
    assert_eq!(capped.rate_per_minute(500, 9), 50);
    assert_eq!(capped.rate_per_minute(500, 10), 75);
    assert_eq!(capped.rate_per_minute(500, 20), 112);
    assert_eq!(capped.rate_per_minute(500, 30), 150);
    let constant = rollout(json!({ "maximumPerMinute": 7 }))
        .unwrap()
        .rollout
        .unwrap();
    assert_eq!(constant.rate_per_minute(1_000_000, 1_000_000), 7);
}

#[test]
fn a_rate_is_spent_second_by_second_and_never_beyond_a_minute() {
    // 600 a minute: 10 a second.
    assert_eq!(allowance(600, 0, None, 100), 10);
    assert_eq!(allowance(600, 10, Some(100), 100), 0, "once per second");
    assert_eq!(allowance(600, 10, Some(100), 101), 10);
    // A late tick catches up a few seconds, no more.
    assert_eq!(allowance(600, 10, Some(100), 103), 30);
    assert_eq!(
        allowance(600, 0, Some(100), 1000),
        10 * CATCH_UP_SECONDS as u64
    );
    // Never more than the rate in the last 60 seconds.
    assert_eq!(allowance(600, 595, Some(100), 101), 5);
    assert_eq!(allowance(600, 600, Some(100), 101), 0);
    // A slow rate: at most one per minute.
    assert_eq!(allowance(1, 0, None, 0), 1);
    assert_eq!(allowance(1, 1, Some(0), 5), 0);
}
