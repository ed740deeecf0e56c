//! Thing groups over HTTP: static groups and their hierarchy, membership,
//! dynamic groups, jobs on groups (snapshot and continuous),
//! AssociateTargetsWithJob and the ListJobs group filters, with the things
//! each change hands to the notifier and AWS's error names.

use super::*;

const GROUP_ARN: &str = "arn:aws:iot:local:000000000000:thinggroup";

impl Server {
    /// A call that must answer 200; returns the body.
    async fn ok(&self, method: Method, path: &str, body: Value) -> Value {
        let (status, _, reply) = self.call(self.req(method, path).json(&body)).await;
        assert_eq!(status, StatusCode::OK, "{path}: {reply}");
        reply
    }

    async fn thing(&self, name: &str, attributes: Value) {
        self.ok(
            Method::POST,
            &format!("/things/{name}"),
            json!({"attributePayload": {"attributes": attributes}}),
        )
        .await;
    }

    async fn add(&self, thing: &str, group: &str) -> Value {
        self.ok(
            Method::PUT,
            "/thing-groups/addThingToThingGroup",
            json!({"thingName": thing, "thingGroupName": group}),
        )
        .await
    }

    /// A list of names under `key` (`name_key` of each item, or the items).
    async fn names(&self, path: &str, key: &str, name_key: Option<&str>) -> Vec<String> {
        let (status, _, reply) = self.call(self.req(Method::GET, path)).await;
        assert_eq!(status, StatusCode::OK, "{path}: {reply}");
        reply[key]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| {
                let v = name_key.map_or(v, |k| &v[k]);
                v.as_str().unwrap().to_owned()
            })
            .collect()
    }
}

#[tokio::test]
async fn static_groups_nest_and_list_their_members() {
    let mut s = Server::start(None).await;
    let created = s
        .ok(
            Method::POST,
            "/thing-groups/Fleet",
            json!({"thingGroupProperties": {"thingGroupDescription": "all", "attributePayload": {"attributes": {"owner": "ops"}}}}),
        )
        .await;
    assert_eq!(created["thingGroupName"], "Fleet");
    assert_eq!(created["thingGroupArn"], format!("{GROUP_ARN}/Fleet"));
    assert!(created["thingGroupId"]
        .as_str()
        .is_some_and(|i| i.len() == 36));
    s.ok(
        Method::POST,
        "/thing-groups/EU",
        json!({"parentGroupName": "Fleet"}),
    )
    .await;
    s.ok(
        Method::POST,
        "/thing-groups/Berlin",
        json!({"parentGroupName": "EU"}),
    )
    .await;

    let (_, _, berlin) = s.call(s.req(Method::GET, "/thing-groups/Berlin")).await;
    assert_eq!(berlin["version"], 1);
    assert_eq!(berlin["thingGroupMetadata"]["parentGroupName"], "EU");
    assert_eq!(berlin["thingGroupMetadata"]["creationDate"], T0);
    assert_eq!(
        berlin["thingGroupMetadata"]["rootToParentThingGroups"],
        json!([
            {"groupName": "Fleet", "groupArn": format!("{GROUP_ARN}/Fleet")},
            {"groupName": "EU", "groupArn": format!("{GROUP_ARN}/EU")},
        ])
    );
    assert!(berlin.get("queryString").is_none(), "{berlin}");
    let (_, _, fleet) = s.call(s.req(Method::GET, "/thing-groups/Fleet")).await;
    assert_eq!(
        fleet["thingGroupProperties"],
        json!({"thingGroupDescription": "all", "attributePayload": {"attributes": {"owner": "ops"}}})
    );

    // Members, by name or by ARN; recursive listing reaches child groups.
    for t in ["a", "b", "c"] {
        s.thing(t, json!({})).await;
    }
    s.add("a", "Fleet").await;
    s.ok(
        Method::PUT,
        "/thing-groups/addThingToThingGroup",
        json!({"thingArn": "arn:aws:iot:local:000000000000:thing/b", "thingGroupArn": format!("{GROUP_ARN}/Berlin")}),
    )
    .await;
    assert_eq!(
        s.names("/thing-groups/Fleet/things", "things", None).await,
        ["a"]
    );
    assert_eq!(
        s.names("/thing-groups/Fleet/things?recursive=true", "things", None)
            .await,
        ["a", "b"]
    );
    assert_eq!(
        s.names("/things/b/thing-groups", "thingGroups", Some("groupName"))
            .await,
        ["Berlin"]
    );
    assert_eq!(
        s.names(
            "/thing-groups?parentGroup=Fleet&recursive=true",
            "thingGroups",
            Some("groupName")
        )
        .await,
        ["Berlin", "EU"]
    );
    assert_eq!(
        s.names(
            "/thing-groups?recursive=false",
            "thingGroups",
            Some("groupArn")
        )
        .await,
        [format!("{GROUP_ARN}/Fleet")]
    );
    // No jobs yet: nothing to notify.
    s.no_changes();

    // One group per hierarchy.
    let got = s
        .call(
            s.req(Method::PUT, "/thing-groups/addThingToThingGroup")
                .json(&json!({"thingName": "b", "thingGroupName": "Fleet"})),
        )
        .await;
    assert!(
        got.2["message"]
            .as_str()
            .unwrap()
            .contains("same hierarchy"),
        "{}",
        got.2
    );
    assert_error(got, StatusCode::BAD_REQUEST, "InvalidRequestException");

    s.ok(
        Method::PUT,
        "/thing-groups/removeThingFromThingGroup",
        json!({"thingName": "b", "thingGroupName": "Berlin"}),
    )
    .await;
    assert!(s
        .names("/thing-groups/Berlin/things", "things", None)
        .await
        .is_empty());

    let updated = s
        .ok(
            Method::PATCH,
            "/thing-groups/Fleet",
            json!({"thingGroupProperties": {"thingGroupDescription": "every device"}, "expectedVersion": 1}),
        )
        .await;
    assert_eq!(updated, json!({"version": 2}));

    // A group with children cannot go; its children can.
    assert_error(
        s.call(s.req(Method::DELETE, "/thing-groups/EU")).await,
        StatusCode::BAD_REQUEST,
        "InvalidRequestException",
    );
    let (status, _, reply) = s.call(s.req(Method::DELETE, "/thing-groups/Berlin")).await;
    assert_eq!((status, reply), (StatusCode::OK, json!({})));
}

#[tokio::test]
async fn group_errors_have_aws_statuses_and_names() {
    let s = Server::start(None).await;
    s.ok(Method::POST, "/thing-groups/G", json!({})).await;
    s.thing("t", json!({})).await;
    let cases = [
        (
            Method::GET,
            "/thing-groups/Nope",
            json!(null),
            StatusCode::NOT_FOUND,
            "ResourceNotFoundException",
        ),
        (
            Method::GET,
            "/thing-groups/Nope/things",
            json!(null),
            StatusCode::NOT_FOUND,
            "ResourceNotFoundException",
        ),
        (
            Method::GET,
            "/thing-groups?parentGroup=Nope",
            json!(null),
            StatusCode::NOT_FOUND,
            "ResourceNotFoundException",
        ),
        (
            Method::PUT,
            "/thing-groups/addThingToThingGroup",
            json!({"thingName": "t", "thingGroupName": "Nope"}),
            StatusCode::NOT_FOUND,
            "ResourceNotFoundException",
        ),
        (
            Method::PUT,
            "/thing-groups/addThingToThingGroup",
            json!({"thingName": "ghost", "thingGroupName": "G"}),
            StatusCode::NOT_FOUND,
            "ResourceNotFoundException",
        ),
        (
            Method::PUT,
            "/thing-groups/addThingToThingGroup",
            json!({"thingGroupName": "G"}),
            StatusCode::BAD_REQUEST,
            "InvalidRequestException",
        ),
        (
            Method::PUT,
            "/thing-groups/addThingToThingGroup",
            json!({"thingName": "t", "thingArn": "arn:aws:iot:r:1:thing/u", "thingGroupName": "G"}),
            StatusCode::BAD_REQUEST,
            "InvalidRequestException",
        ),
        (
            Method::POST,
            "/thing-groups/H",
            json!({"parentGroupName": "Nope"}),
            StatusCode::BAD_REQUEST,
            "InvalidRequestException",
        ),
        (
            Method::POST,
            "/thing-groups/H",
            json!({"tags": [{"Key": "k", "Value": "v"}]}),
            StatusCode::BAD_REQUEST,
            "InvalidRequestException",
        ),
        (
            Method::POST,
            "/thing-groups/G",
            json!({"thingGroupProperties": {"thingGroupDescription": "other"}}),
            StatusCode::CONFLICT,
            "ResourceAlreadyExistsException",
        ),
        (
            Method::PATCH,
            "/thing-groups/G",
            json!({"thingGroupProperties": {}, "expectedVersion": 5}),
            StatusCode::CONFLICT,
            "VersionConflictException",
        ),
        (
            Method::PATCH,
            "/thing-groups/G",
            json!({}),
            StatusCode::BAD_REQUEST,
            "InvalidRequestException",
        ),
        (
            Method::POST,
            "/dynamic-thing-groups/D",
            json!({"queryString": "abc"}),
            StatusCode::BAD_REQUEST,
            "InvalidQueryException",
        ),
        (
            Method::POST,
            "/dynamic-thing-groups/D",
            json!({"queryString": "thingName:x", "indexName": "Other"}),
            StatusCode::BAD_REQUEST,
            "InvalidRequestException",
        ),
        (
            Method::POST,
            "/dynamic-thing-groups/D",
            json!({"queryString": "thingName:x", "queryVersion": "2020-01-01"}),
            StatusCode::BAD_REQUEST,
            "InvalidRequestException",
        ),
        (
            Method::PATCH,
            "/dynamic-thing-groups/G",
            json!({"thingGroupProperties": {}}),
            StatusCode::BAD_REQUEST,
            "InvalidRequestException",
        ),
    ];
    for (method, path, body, status, name) in cases {
        let mut req = s.req(method.clone(), path);
        if !body.is_null() {
            req = req.json(&body);
        }
        let got = s.call(req).await;
        assert_eq!(got.0, status, "{method} {path} {body}: {}", got.2);
        assert_error(got, status, name);
    }
}

#[tokio::test]
async fn dynamic_groups_follow_attribute_updates() {
    let mut s = Server::start(None).await;
    s.thing("gw-1", json!({"fw": "1"})).await;
    s.thing("gw-2", json!({"fw": "7"})).await;
    let created = s
        .ok(
            Method::POST,
            "/dynamic-thing-groups/Old",
            json!({"queryString": "thingName:gw* AND attributes.fw:[1 TO 3]", "thingGroupProperties": {"thingGroupDescription": "needs an update"}}),
        )
        .await;
    assert_eq!(
        created,
        json!({
            "thingGroupName": "Old",
            "thingGroupArn": format!("{GROUP_ARN}/Old"),
            "thingGroupId": created["thingGroupId"],
            "indexName": "AWS_Things",
            "queryString": "thingName:gw* AND attributes.fw:[1 TO 3]",
            "queryVersion": "2017-09-30",
        })
    );
    let (_, _, described) = s.call(s.req(Method::GET, "/thing-groups/Old")).await;
    assert_eq!(described["status"], "ACTIVE");
    assert_eq!(described["queryString"], created["queryString"]);
    assert_eq!(
        s.names("/thing-groups/Old/things", "things", None).await,
        ["gw-1"]
    );

    s.ok(
        Method::PATCH,
        "/things/gw-2",
        json!({"attributePayload": {"attributes": {"fw": "2"}, "merge": true}}),
    )
    .await;
    s.ok(
        Method::PATCH,
        "/things/gw-1",
        json!({"attributePayload": {"attributes": {"fw": "9"}, "merge": true}}),
    )
    .await;
    assert_eq!(
        s.names("/thing-groups/Old/things", "things", None).await,
        ["gw-2"]
    );
    assert_eq!(
        s.names(
            "/things/gw-2/thing-groups",
            "thingGroups",
            Some("groupName")
        )
        .await,
        ["Old"]
    );
    // No job follows the group: nothing to notify.
    s.no_changes();

    // Members are the query's to choose.
    assert_error(
        s.call(
            s.req(Method::PUT, "/thing-groups/addThingToThingGroup")
                .json(&json!({"thingName": "gw-1", "thingGroupName": "Old"})),
        )
        .await,
        StatusCode::BAD_REQUEST,
        "InvalidRequestException",
    );
    let updated = s
        .ok(
            Method::PATCH,
            "/dynamic-thing-groups/Old",
            json!({"thingGroupProperties": {}, "queryString": "attributes.fw>8"}),
        )
        .await;
    assert_eq!(updated, json!({"version": 2}));
    assert_eq!(
        s.names("/thing-groups/Old/things", "things", None).await,
        ["gw-1"]
    );
    let (status, _, _) = s
        .call(s.req(Method::DELETE, "/dynamic-thing-groups/Old"))
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_error(
        s.call(s.req(Method::GET, "/thing-groups/Old")).await,
        StatusCode::NOT_FOUND,
        "ResourceNotFoundException",
    );
}

#[tokio::test]
async fn jobs_on_groups_reach_members_and_follow_them_when_continuous() {
    let mut s = Server::start(None).await;
    s.ok(Method::POST, "/thing-groups/Fleet", json!({})).await;
    for t in ["in-1", "in-2", "out"] {
        s.thing(t, json!({})).await;
    }
    s.add("in-1", "Fleet").await;
    s.add("in-2", "Fleet").await;

    // Snapshot: the members now, targets as ARNs.
    let snap =
        json!({"targets": [format!("{GROUP_ARN}/Fleet")], "document": "{\"operation\":\"echo\"}"});
    s.ok(Method::PUT, "/jobs/snap", snap).await;
    assert_eq!(s.changed(), ["in-1", "in-2"]);
    let (_, _, job) = s.call(s.req(Method::GET, "/jobs/snap")).await;
    assert_eq!(job["job"]["targets"], json!([format!("{GROUP_ARN}/Fleet")]));
    assert_eq!(job["job"]["targetSelection"], "SNAPSHOT");

    // Continuous, by bare group name.
    let cont = json!({"targets": ["Fleet"], "targetSelection": "CONTINUOUS", "document": "{\"operation\":\"echo\"}"});
    s.ok(Method::PUT, "/jobs/cont", cont).await;
    assert_eq!(s.changed(), ["in-1", "in-2"]);
    // A thing joining gets the continuous job only, and is notified.
    s.add("out", "Fleet").await;
    assert_eq!(s.changed(), ["out"]);
    let (_, _, runs) = s.call(s.req(Method::GET, "/things/out/jobs")).await;
    assert_eq!(runs["executionSummaries"].as_array().unwrap().len(), 1);
    assert_eq!(runs["executionSummaries"][0]["jobId"], "cont");
    // Leaving: its QUEUED execution is REMOVED, and it is notified.
    s.ok(
        Method::PUT,
        "/thing-groups/removeThingFromThingGroup",
        json!({"thingName": "out", "thingGroupName": "Fleet"}),
    )
    .await;
    assert_eq!(s.changed(), ["out"]);
    let (_, _, e) = s.call(s.req(Method::GET, "/things/out/jobs/cont")).await;
    assert_eq!(e["execution"]["status"], "REMOVED");
    let (_, _, job) = s.call(s.req(Method::GET, "/jobs/cont")).await;
    assert_eq!(job["job"]["jobProcessDetails"]["numberOfRemovedThings"], 1);
    assert_eq!(job["job"]["targetSelection"], "CONTINUOUS");

    // ListJobs filters.
    let fleet_id = {
        let (_, _, g) = s.call(s.req(Method::GET, "/thing-groups/Fleet")).await;
        g["thingGroupId"].as_str().unwrap().to_owned()
    };
    assert_eq!(
        s.names("/jobs?thingGroupName=Fleet", "jobs", Some("jobId"))
            .await,
        ["snap", "cont"]
    );
    assert_eq!(
        s.names(
            &format!("/jobs?thingGroupId={fleet_id}&targetSelection=CONTINUOUS"),
            "jobs",
            Some("jobId")
        )
        .await,
        ["cont"]
    );
    let (_, _, listed) = s.call(s.req(Method::GET, "/jobs")).await;
    assert_eq!(listed["jobs"][1]["targetSelection"], "CONTINUOUS");
    assert_error(
        s.call(s.req(Method::GET, "/jobs?targetSelection=SOMETIMES"))
            .await,
        StatusCode::BAD_REQUEST,
        "InvalidRequestException",
    );
}

#[tokio::test]
async fn associate_targets_with_a_continuous_job() {
    let mut s = Server::start(None).await;
    s.ok(Method::POST, "/thing-groups/Lab", json!({})).await;
    s.thing("bench", json!({})).await;
    s.add("bench", "Lab").await;
    let doc = "{\"operation\":\"echo\"}";
    s.ok(
        Method::PUT,
        "/jobs/cont",
        json!({"targets": ["solo"], "targetSelection": "CONTINUOUS", "document": doc, "description": "d"}),
    )
    .await;
    assert_eq!(s.changed(), ["solo"]);
    let reply = s
        .ok(
            Method::POST,
            "/jobs/cont/targets",
            json!({"targets": [format!("{GROUP_ARN}/Lab")], "comment": "the lab too"}),
        )
        .await;
    assert_eq!(
        reply,
        json!({"jobArn": "arn:aws:iot:local:000000000000:job/cont", "jobId": "cont", "description": "d"})
    );
    assert_eq!(s.changed(), ["bench"]);
    let (_, _, job) = s.call(s.req(Method::GET, "/jobs/cont")).await;
    assert_eq!(job["job"]["comment"], "the lab too");
    assert_eq!(job["job"]["targets"][1], format!("{GROUP_ARN}/Lab"));

    s.ok(
        Method::PUT,
        "/jobs/snap",
        json!({"targets": ["solo"], "document": doc}),
    )
    .await;
    s.changed();
    let many: Vec<String> = (0..100).map(|i| format!("t{i}")).collect();
    for (path, body, status, name) in [
        (
            "/jobs/snap/targets",
            json!({"targets": ["Lab"]}),
            StatusCode::BAD_REQUEST,
            "InvalidRequestException",
        ),
        (
            "/jobs/nope/targets",
            json!({"targets": ["Lab"]}),
            StatusCode::NOT_FOUND,
            "ResourceNotFoundException",
        ),
        (
            "/jobs/cont/targets",
            json!({"targets": []}),
            StatusCode::BAD_REQUEST,
            "InvalidRequestException",
        ),
        (
            "/jobs/cont/targets",
            json!({"targets": ["Lab"], "comment": ""}),
            StatusCode::BAD_REQUEST,
            "InvalidRequestException",
        ),
        (
            "/jobs/cont/targets?namespaceId=gg",
            json!({"targets": ["Lab"]}),
            StatusCode::BAD_REQUEST,
            "InvalidRequestException",
        ),
        (
            "/jobs/cont/targets",
            json!({"targets": many}),
            StatusCode::GONE,
            "LimitExceededException",
        ),
    ] {
        assert_error(
            s.call(s.req(Method::POST, path).json(&body)).await,
            status,
            name,
        );
    }
    s.no_changes();
}
