use super::*;

fn name(method: &str, path: &str, query: Option<&str>) -> Option<&'static str> {
    find(method, path, query).map(|op| op.name)
}

#[test]
fn operations_are_found_by_method_and_path() {
    assert_eq!(name("PUT", "/jobs/fw-1", None), Some("CreateJob"));
    assert_eq!(name("PATCH", "/jobs/fw-1", None), Some("UpdateJob"));
    assert_eq!(name("GET", "/jobs", None), Some("ListJobs"));
    assert_eq!(
        name("GET", "/things/dev%3A1/jobs/fw-1", None),
        Some("DescribeJobExecution")
    );
    assert_eq!(
        name("POST", "/billing-groups/b1", None),
        Some("CreateBillingGroup")
    );
    // The same path under a method the model lacks there, and paths it
    // does not have at all.
    assert_eq!(name("POST", "/jobs", None), None);
    assert_eq!(name("GET", "/no-such-thing", None), None);
    assert_eq!(
        name("GET", "/jobs/fw-1/things/extra/segments/here", None),
        None
    );
    assert_eq!(name("GET", "/", None), None);
}

#[test]
fn a_literal_segment_beats_a_label() {
    // PUT /thing-groups/{name} is not an operation, but UpdateThingGroup is
    // PATCH and AddThingToThingGroup is PUT on a literal segment.
    assert_eq!(
        name("PUT", "/thing-groups/addThingToThingGroup", None),
        Some("AddThingToThingGroup")
    );
    assert_eq!(
        name("PUT", "/billing-groups/addThingToBillingGroup", None),
        Some("AddThingToBillingGroup")
    );
    // GET on the same literal is DescribeThingGroup of a group so named.
    assert_eq!(
        name("GET", "/thing-groups/addThingToThingGroup", None),
        Some("DescribeThingGroup")
    );
}

#[test]
fn a_greedy_label_takes_the_rest_of_the_path() {
    assert_eq!(
        name(
            "GET",
            "/destinations/arn:aws:iot:us-east-1:1:ruledestination/http/abc",
            None
        ),
        Some("GetTopicRuleDestination")
    );
    assert_eq!(
        name("GET", "/destinations/x", None),
        Some("GetTopicRuleDestination")
    );
    // A greedy label needs at least one segment: this is ListTopicRuleDestinations.
    assert_eq!(
        name("GET", "/destinations", None),
        Some("ListTopicRuleDestinations")
    );
}

#[test]
fn trailing_and_doubled_slashes_do_not_matter() {
    assert_eq!(name("GET", "/authorizers/", None), Some("ListAuthorizers"));
    assert_eq!(name("GET", "/authorizers", None), Some("ListAuthorizers"));
    assert_eq!(name("GET", "//jobs//fw-1/", None), Some("DescribeJob"));
}

#[test]
fn a_query_selector_must_be_present() {
    // The iot model has no query-selected operation today; the matcher
    // still honours one should the model gain it.
    let segments = ["widgets", "w1"];
    assert_eq!(
        specificity("/widgets/{id}?tag", &segments, Some("tag")),
        Some(5)
    );
    assert_eq!(
        specificity("/widgets/{id}?tag", &segments, Some("a=1&tag=x")),
        Some(5)
    );
    assert_eq!(specificity("/widgets/{id}?tag", &segments, None), None);
    assert_eq!(
        specificity("/widgets/{id}?op=x", &segments, Some("op=x")),
        Some(5)
    );
    assert_eq!(
        specificity("/widgets/{id}?op=x", &segments, Some("op=y")),
        None
    );
}

#[test]
fn every_operation_is_refused_with_a_400_exception() {
    for op in OPERATIONS {
        assert!(
            ["InvalidRequestException", "ValidationException"].contains(&op.exception),
            "{op:?}"
        );
        assert!(op.uri.starts_with('/'), "{op:?}");
    }
    // Operations that list only ValidationException get it.
    assert_eq!(
        find("GET", "/packages/p1", None).map(|op| op.exception),
        Some("ValidationException")
    );
}
