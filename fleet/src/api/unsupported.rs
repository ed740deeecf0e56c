//! The fields of AWS's requests that this service does not implement.
//! Each is refused by name with 400 InvalidRequestException, never
//! silently dropped: a script that asks for a staged rollout must not get
//! an all-at-once rollout with a 200.
//!
//! Every refusal is in this file, so that implementing a feature means
//! deleting its lines here and parsing the field where its operation parses
//! its request ([`super::extract::strict_body`] consults [`reason`]).

use super::ApiError;

/// Controls CreateJob implements (`api::rollout`) but UpdateJob cannot
/// change yet: refused there only.
const UPDATE_JOB: &[(&str, &str)] = &[
    (
        "jobExecutionsRolloutConfig",
        "a job's rollout rate is fixed at creation here; cancel the job and create a new one",
    ),
    (
        "abortConfig",
        "a job's abort rules are fixed at creation here; cancel the job and create a new one",
    ),
];

/// Everything else this service has no counterpart for.
const OTHERS: &[(&str, &str)] = &[
    (
        "documentSource",
        "documents in S3 are not supported; send the document inline in `document`",
    ),
    (
        "namespaceId",
        "namespaced jobs (AWS IoT Greengrass) are not implemented",
    ),
    ("tags", "resource tags are not implemented"),
    (
        "destinationPackageVersions",
        "there is no software package catalog",
    ),
    (
        "statusDetails",
        "the execution keeps the statusDetails its device reported",
    ),
];

/// Why `field` of `operation` is refused, if it is.
pub(super) fn reason(operation: &str, field: &str) -> Option<&'static str> {
    let only_here: &[(&str, &str)] = match operation {
        "UpdateJob" => UPDATE_JOB,
        _ => &[],
    };
    OTHERS
        .iter()
        .chain(only_here)
        .find(|(f, _)| *f == field)
        .map(|(_, why)| *why)
}

/// The event types of AWS's model (botocore `iot` `EventType`) that this
/// service does not publish: UpdateEventConfigurations refuses to enable
/// them (disabling one is accepted: it is disabled).
const EVENT_TYPES: &[&str] = &[
    "THING",
    "THING_GROUP",
    "THING_TYPE",
    "THING_GROUP_MEMBERSHIP",
    "THING_GROUP_HIERARCHY",
    "THING_TYPE_ASSOCIATION",
    "POLICY",
    "CERTIFICATE",
    "CA_CERTIFICATE",
];

/// Why enabling `event_type` is refused, if it is one AWS has and this
/// service does not publish.
pub(super) fn event_type_reason(event_type: &str) -> Option<&'static str> {
    EVENT_TYPES
        .contains(&event_type)
        .then_some("this service publishes only JOB and JOB_EXECUTION events")
}

/// Every AWS event type this service does not publish.
pub(super) fn unpublished_event_types() -> &'static [&'static str] {
    EVENT_TYPES
}

/// The message that refuses `field` of `operation`.
pub(super) fn message(operation: &str, field: &str, why: &str) -> String {
    format!("{operation}: `{field}` is not supported yet ({why})")
}

/// 400 naming `field` when a request set it (a query parameter; body
/// fields go through [`super::extract::strict_body`]).
pub(super) fn refuse_if_set<T>(
    operation: &str,
    field: &str,
    value: &Option<T>,
) -> Result<(), ApiError> {
    match (value, reason(operation, field)) {
        (Some(_), Some(why)) => Err(ApiError::InvalidRequest(message(operation, field, why))),
        (Some(_), None) => Err(ApiError::InvalidRequest(format!(
            "{operation}: `{field}` is not supported yet"
        ))),
        (None, _) => Ok(()),
    }
}
