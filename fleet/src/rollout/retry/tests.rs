//! `jobExecutionsRetryConfig`: its limits and messages, which failures it
//! retries and how many times, and what UpdateJob may do to it.

use super::super::tests::refused;
use super::{Failure, RetriesSpent, RetryConfig, RetryableFailureType, MAX_RETRIES};
use serde_json::{json, Value};

fn read(v: Value) -> Result<RetryConfig, String> {
    RetryConfig::from_json(&v).map_err(|e| e.to_string())
}

/// A `jobExecutionsRetryConfig` with these (failureType, numberOfRetries).
pub(crate) fn criteria(list: &[(&str, u32)]) -> Value {
    let list: Vec<Value> = list
        .iter()
        .map(|(t, n)| json!({ "failureType": t, "numberOfRetries": n }))
        .collect();
    json!({ "criteriaList": list })
}

fn config(list: &[(&str, u32)]) -> RetryConfig {
    read(criteria(list)).expect("valid")
}

fn spent(failed: u32, timed_out: u32) -> RetriesSpent {
    RetriesSpent { failed, timed_out }
}

#[test]
fn a_valid_configuration_reads_back_in_aws_shape() {
    let raw = criteria(&[("FAILED", 3), ("TIMED_OUT", 7)]);
    let c = read(raw.clone()).unwrap();
    assert_eq!(
        c.criteria_list[1].failure_type,
        RetryableFailureType::TimedOut
    );
    assert_eq!(serde_json::to_value(&c).unwrap(), raw);
    let back: RetryConfig = serde_json::from_value(raw).unwrap();
    assert_eq!(back, c);
    // 0 is a valid number of retries (no retry), and so is 10.
    read(criteria(&[("ALL", 0)])).unwrap();
    read(criteria(&[("ALL", MAX_RETRIES)])).unwrap();
}

#[test]
fn each_limit_of_the_model_is_enforced_and_the_field_named() {
    let p = "jobExecutionsRetryConfig";
    refused(read(json!([])), p);
    refused(read(json!({})), &format!("{p}.criteriaList"));
    let m = refused(read(criteria(&[])), &format!("{p}.criteriaList"));
    assert!(m.contains("1 to 2"), "{m}");
    refused(
        read(criteria(&[("FAILED", 1), ("TIMED_OUT", 1), ("ALL", 1)])),
        &format!("{p}.criteriaList"),
    );
    let c0 = format!("{p}.criteriaList[0]");
    let m = refused(
        read(criteria(&[("REJECTED", 1)])),
        &format!("{c0}.failureType"),
    );
    assert!(m.contains("FAILED, TIMED_OUT, ALL"), "{m}");
    let m = refused(
        read(criteria(&[("FAILED", 11)])),
        &format!("{c0}.numberOfRetries"),
    );
    assert!(m.contains("0 to 10"), "{m}");
    refused(
        read(json!({ "criteriaList": [{ "failureType": "FAILED", "numberOfRetries": -1 }] })),
        &format!("{c0}.numberOfRetries"),
    );
    refused(
        read(json!({ "criteriaList": [{ "failureType": "FAILED", "numberOfRetries": 1.5 }] })),
        &format!("{c0}.numberOfRetries"),
    );
    refused(
        read(json!({ "criteriaList": [{ "failureType": "FAILED" }] })),
        &format!("{c0}.numberOfRetries"),
    );
    refused(
        read(json!({ "criteriaList": [{ "numberOfRetries": 1 }] })),
        &format!("{c0}.failureType"),
    );
    refused(
        read(
            json!({ "criteriaList": [{ "failureType": "FAILED", "numberOfRetries": 1,
                                        "retries": 2 }] }),
        ),
        &format!("{c0}.retries"),
    );
    refused(
        read(json!({ "criteriaList": [], "maxRetries": 1 })),
        &format!("{p}.criteriaList"),
    );
    refused(
        read(
            json!({ "criteriaList": [{ "failureType": "FAILED", "numberOfRetries": 1 }],
                     "maxRetries": 1 }),
        ),
        &format!("{p}.maxRetries"),
    );
    let m = refused(
        read(criteria(&[("FAILED", 1), ("FAILED", 2)])),
        &format!("{p}.criteriaList[1].failureType"),
    );
    assert!(m.contains("criteriaList[0]"), "{m}");
    // Up to 10 retries for both failure types combined.
    read(criteria(&[("FAILED", 4), ("TIMED_OUT", 6)])).unwrap();
    let m = refused(
        read(criteria(&[("FAILED", 5), ("TIMED_OUT", 6)])),
        &format!("{p}.criteriaList"),
    );
    assert!(m.contains("11 retries"), "{m}");
    refused(
        read(criteria(&[("ALL", 10), ("FAILED", 1)])),
        &format!("{p}.criteriaList"),
    );
}

#[test]
fn a_failure_type_is_retried_by_its_own_criterion_only() {
    let c = config(&[("FAILED", 2)]);
    assert!(c.allows(Failure::Failed, spent(0, 0)));
    assert!(c.allows(Failure::Failed, spent(1, 0)));
    assert!(!c.allows(Failure::Failed, spent(2, 0)), "two retries spent");
    assert!(
        !c.allows(Failure::TimedOut, spent(0, 0)),
        "no TIMED_OUT rule"
    );

    let c = config(&[("TIMED_OUT", 1)]);
    assert!(c.allows(Failure::TimedOut, spent(0, 0)));
    assert!(!c.allows(Failure::TimedOut, spent(0, 1)));
    assert!(!c.allows(Failure::Failed, spent(0, 0)));

    let c = config(&[("FAILED", 0)]);
    assert!(!c.allows(Failure::Failed, spent(0, 0)), "0 retries: none");
}

#[test]
fn two_criteria_spend_separate_budgets() {
    let c = config(&[("FAILED", 1), ("TIMED_OUT", 2)]);
    // A FAILED retry does not spend TIMED_OUT's, nor the reverse.
    assert!(c.allows(Failure::TimedOut, spent(1, 0)));
    assert!(c.allows(Failure::TimedOut, spent(1, 1)));
    assert!(!c.allows(Failure::TimedOut, spent(1, 2)));
    assert!(!c.allows(Failure::Failed, spent(1, 0)));
    assert!(c.allows(Failure::Failed, spent(0, 2)));
}

#[test]
fn all_alone_is_one_budget_for_both_failure_types() {
    let c = config(&[("ALL", 3)]);
    assert!(c.allows(Failure::Failed, spent(0, 0)));
    assert!(c.allows(Failure::TimedOut, spent(2, 0)));
    assert!(c.allows(Failure::Failed, spent(1, 1)));
    assert!(
        !c.allows(Failure::Failed, spent(2, 1)),
        "three retries in all"
    );
    assert!(!c.allows(Failure::TimedOut, spent(0, 3)));
}

#[test]
fn all_beside_a_type_of_its_own_governs_the_other_type() {
    let c = config(&[("ALL", 3), ("FAILED", 2)]);
    // FAILED: its own two, whatever ALL has left.
    assert!(c.allows(Failure::Failed, spent(1, 3)));
    assert!(!c.allows(Failure::Failed, spent(2, 0)));
    // TIMED_OUT: ALL's three, spent by timeouts only.
    assert!(c.allows(Failure::TimedOut, spent(2, 2)));
    assert!(!c.allows(Failure::TimedOut, spent(0, 3)));
}

#[test]
fn retry_attempts_count_both_failure_types() {
    let s = RetriesSpent::default();
    assert_eq!(s.attempt(), 0);
    let s = s
        .after(Failure::Failed)
        .after(Failure::TimedOut)
        .after(Failure::Failed);
    assert_eq!(s, spent(2, 1));
    assert_eq!(s.attempt(), 3);
}

#[test]
fn update_job_may_only_set_retries_to_zero() {
    let m = RetryConfig::from_update_json(&criteria(&[("FAILED", 0), ("TIMED_OUT", 2)]))
        .unwrap_err()
        .to_string();
    assert!(
        m.starts_with("jobExecutionsRetryConfig.criteriaList[1].numberOfRetries ")
            && m.contains("only be set to 0"),
        "{m}"
    );
    // The CreateJob checks apply too.
    let m = RetryConfig::from_update_json(&criteria(&[("ALL", 0), ("ALL", 0)]))
        .unwrap_err()
        .to_string();
    assert!(m.contains("given twice"), "{m}");
    RetryConfig::from_update_json(&criteria(&[("FAILED", 0)])).unwrap();
}

#[test]
fn stopping_a_type_keeps_the_other_types_retries() {
    let stop = |current: Option<&[(&str, u32)]>, update: &[(&str, u32)]| {
        let current = current.map(config);
        let update = RetryConfig::from_update_json(&criteria(update)).unwrap();
        let after = RetryConfig::stop(current.as_ref(), &update);
        serde_json::to_value(after).unwrap()
    };
    // A type's own criterion is set to 0; the other keeps its own.
    assert_eq!(
        stop(Some(&[("FAILED", 3), ("TIMED_OUT", 2)]), &[("FAILED", 0)]),
        criteria(&[("FAILED", 0), ("TIMED_OUT", 2)])
    );
    // ALL governing both: the stopped type gets a criterion of its own.
    let after = stop(Some(&[("ALL", 4)]), &[("TIMED_OUT", 0)]);
    assert_eq!(after, criteria(&[("ALL", 4), ("TIMED_OUT", 0)]));
    let c: RetryConfig = serde_json::from_value(after).unwrap();
    assert!(!c.allows(Failure::TimedOut, spent(0, 0)));
    assert!(c.allows(Failure::Failed, spent(3, 0)));
    // ALL governing only the stopped type is set to 0.
    assert_eq!(
        stop(Some(&[("ALL", 4), ("FAILED", 1)]), &[("TIMED_OUT", 0)]),
        criteria(&[("ALL", 0), ("FAILED", 1)])
    );
    // ALL stops everything.
    assert_eq!(
        stop(Some(&[("FAILED", 3), ("TIMED_OUT", 2)]), &[("ALL", 0)]),
        criteria(&[("FAILED", 0), ("TIMED_OUT", 0)])
    );
    // Without a configuration: recorded as given.
    assert_eq!(stop(None, &[("ALL", 0)]), criteria(&[("ALL", 0)]));
    assert_eq!(
        stop(None, &[("FAILED", 0), ("TIMED_OUT", 0)]),
        criteria(&[("FAILED", 0), ("TIMED_OUT", 0)])
    );
    assert_eq!(
        stop(Some(&[("ALL", 5)]), &[("FAILED", 0), ("TIMED_OUT", 0)]),
        criteria(&[("ALL", 0), ("FAILED", 0)])
    );
}
