//! The thing registry over HTTP: CreateThing, DescribeThing, ListThings,
//! UpdateThing, DeleteThing and GetThingConnectivityData, in the `iot`
//! model's shapes, and their errors' statuses and names.

use super::*;

const ARN: &str = "arn:aws:iot:local:000000000000:thing";

#[tokio::test]
async fn things_are_created_described_updated_and_deleted() {
    let s = Server::start(None).await;
    let body = json!({"attributePayload": {"attributes": {"model": "gw2", "fw": "1"}}});
    let (status, _, created) = s
        .call(s.req(Method::POST, "/things/dev-1").json(&body))
        .await;
    assert_eq!(status, StatusCode::OK, "{created}");
    assert_eq!(created["thingName"], "dev-1");
    assert_eq!(created["thingArn"], format!("{ARN}/dev-1"));
    let id = created["thingId"].as_str().unwrap().to_owned();
    assert_eq!(id.len(), 36, "{id}");

    // The same again succeeds; other attributes are a conflict.
    let (status, _, again) = s
        .call(s.req(Method::POST, "/things/dev-1").json(&body))
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(again["thingId"], id);
    assert_error(
        s.call(s.req(Method::POST, "/things/dev-1").json(&json!({})))
            .await,
        StatusCode::CONFLICT,
        "ResourceAlreadyExistsException",
    );

    let (status, _, described) = s.call(s.req(Method::GET, "/things/dev-1")).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        described,
        json!({
            "defaultClientId": "dev-1",
            "thingName": "dev-1",
            "thingArn": format!("{ARN}/dev-1"),
            "thingId": id,
            "attributes": {"model": "gw2", "fw": "1"},
            "version": 1,
            "connectivity": {"connected": false},
        })
    );

    // merge: an empty value removes, a new one adds.
    let patch = json!({"attributePayload": {"attributes": {"fw": "", "site": "lab"}, "merge": true}, "expectedVersion": 1});
    let (status, _, reply) = s
        .call(s.req(Method::PATCH, "/things/dev-1").json(&patch))
        .await;
    assert_eq!((status, reply), (StatusCode::OK, json!({})));
    let (_, _, described) = s.call(s.req(Method::GET, "/things/dev-1")).await;
    assert_eq!(
        described["attributes"],
        json!({"model": "gw2", "site": "lab"})
    );
    assert_eq!(described["version"], 2);
    // The same expectedVersion again is stale now.
    assert_error(
        s.call(s.req(Method::PATCH, "/things/dev-1").json(&patch))
            .await,
        StatusCode::CONFLICT,
        "VersionConflictException",
    );

    let (status, _, conn) = s
        .call(s.req(Method::POST, "/things/dev-1/connectivity-data"))
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(conn, json!({"thingName": "dev-1", "connected": false}));

    assert_error(
        s.call(s.req(Method::DELETE, "/things/dev-1?expectedVersion=1"))
            .await,
        StatusCode::CONFLICT,
        "VersionConflictException",
    );
    let (status, _, reply) = s
        .call(s.req(Method::DELETE, "/things/dev-1?expectedVersion=2"))
        .await;
    assert_eq!((status, reply), (StatusCode::OK, json!({})));
    assert_error(
        s.call(s.req(Method::GET, "/things/dev-1")).await,
        StatusCode::NOT_FOUND,
        "ResourceNotFoundException",
    );
    // Deleting a thing that does not exist succeeds, as in AWS.
    let (status, _, _) = s.call(s.req(Method::DELETE, "/things/dev-1")).await;
    assert_eq!(status, StatusCode::OK);
}

#[tokio::test]
async fn list_things_filters_by_attribute_and_pages() {
    let s = Server::start(None).await;
    for (name, model) in [("a", "gw2"), ("b", "gw3"), ("c", "gw2"), ("d", "s1")] {
        let body = json!({"attributePayload": {"attributes": {"model": model}}});
        let (status, _, _) = s
            .call(s.req(Method::POST, &format!("/things/{name}")).json(&body))
            .await;
        assert_eq!(status, StatusCode::OK);
    }
    let names = |v: &Value| -> Vec<String> {
        v["things"]
            .as_array()
            .unwrap()
            .iter()
            .map(|t| t["thingName"].as_str().unwrap().to_owned())
            .collect()
    };
    let (_, _, page1) = s.call(s.req(Method::GET, "/things?maxResults=3")).await;
    assert_eq!(names(&page1), ["a", "b", "c"]);
    assert_eq!(page1["things"][0]["thingArn"], format!("{ARN}/a"));
    assert_eq!(page1["things"][0]["attributes"], json!({"model": "gw2"}));
    let token = page1["nextToken"].as_str().unwrap();
    let (_, _, page2) = s
        .call(s.req(
            Method::GET,
            &format!("/things?maxResults=3&nextToken={token}"),
        ))
        .await;
    assert_eq!(names(&page2), ["d"]);
    assert!(page2.get("nextToken").is_none(), "{page2}");

    let (_, _, gw2) = s
        .call(s.req(
            Method::GET,
            "/things?attributeName=model&attributeValue=gw2",
        ))
        .await;
    assert_eq!(names(&gw2), ["a", "c"]);
    let (_, _, gw) = s
        .call(s.req(
            Method::GET,
            "/things?attributeName=model&attributeValue=gw&usePrefixAttributeValue=true",
        ))
        .await;
    assert_eq!(names(&gw), ["a", "b", "c"]);

    // Filters that do not exist here are refused, naming them.
    for (query, names_it) in [
        ("thingTypeName=sensor", "thingTypeName"),
        ("maxResults=0", "maxResults"),
        ("maxResults=251", "maxResults"),
        ("attributeValue=gw2", "attributeName"),
        ("bogus=1", "bogus"),
    ] {
        let got = s
            .call(s.req(Method::GET, &format!("/things?{query}")))
            .await;
        let message = got.2["message"].as_str().unwrap_or_default().to_owned();
        assert!(message.contains(names_it), "{query}: {message}");
        assert_error(got, StatusCode::BAD_REQUEST, "InvalidRequestException");
    }
}

#[tokio::test]
async fn thing_requests_outside_the_model_are_refused() {
    let s = Server::start(None).await;
    for (body, names_it) in [
        (json!({"thingTypeName": "sensor"}), "thingTypeName"),
        (json!({"billingGroupName": "b"}), "billingGroupName"),
        (json!({"tags": []}), "tags"),
        (
            json!({"attributePayload": {"attributes": {"bad name": "v"}}}),
            "attribute name",
        ),
    ] {
        let got = s.call(s.req(Method::POST, "/things/t").json(&body)).await;
        let message = got.2["message"].as_str().unwrap_or_default().to_owned();
        assert!(message.contains(names_it), "{body}: {message}");
        assert_error(got, StatusCode::BAD_REQUEST, "InvalidRequestException");
    }
    assert_error(
        s.call(s.req(Method::POST, "/things/has%20space")).await,
        StatusCode::BAD_REQUEST,
        "InvalidRequestException",
    );
    for (method, path) in [
        (Method::PATCH, "/things/ghost"),
        (Method::POST, "/things/ghost/connectivity-data"),
        (Method::GET, "/things/ghost/thing-groups"),
    ] {
        assert_error(
            s.call(s.req(method, path).json(&json!({}))).await,
            StatusCode::NOT_FOUND,
            "ResourceNotFoundException",
        );
    }
}

/// Marks `thing` connected or not, as the broker's presence reports do.
fn presence(s: &Server, thing: &str, connected: bool) {
    let mut store = s.store.lock().unwrap();
    store
        .record_presence(
            &jobhost_fleet::store::Presence {
                thing: thing.into(),
                connected,
                session_ms: T0 * 1000,
                at_ms: T0 * 1000,
                disconnect_reason: None,
            },
            T0,
        )
        .unwrap();
}

#[tokio::test]
async fn get_buckets_aggregation_counts_connected_things_in_one_request() {
    let s = Server::start(None).await;
    for (name, model) in [
        ("a-1", "gw2"),
        ("a-2", "gw2"),
        ("a-3", "gw1"),
        ("b-1", "gw2"),
    ] {
        let body = json!({"attributePayload": {"attributes": {"model": model}}});
        let (status, _, _) = s
            .call(s.req(Method::POST, &format!("/things/{name}")).json(&body))
            .await;
        assert_eq!(status, StatusCode::OK);
    }
    presence(&s, "a-1", true);
    presence(&s, "b-1", true);
    presence(&s, "b-1", false);
    presence(&s, "a-3", true);
    let buckets = |query: &str| {
        json!({
            "indexName": "AWS_Things",
            "queryString": query,
            "aggregationField": "connectivity.connected",
            "bucketsAggregationType": {"termsAggregation": {"maxBuckets": 2}},
        })
    };
    let (status, _, all) = s
        .call(
            s.req(Method::POST, "/indices/buckets")
                .json(&buckets("thingName:*")),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{all}");
    assert_eq!(
        all,
        json!({"totalCount": 4, "buckets": [
            {"keyValue": "false", "count": 2},
            {"keyValue": "true", "count": 2},
        ]})
    );
    // The query narrows what is counted; a value nobody has gets no bucket.
    let (_, _, gw2) = s
        .call(
            s.req(Method::POST, "/indices/buckets")
                .json(&buckets("attributes.model:gw2 AND thingName:a*")),
        )
        .await;
    assert_eq!(
        gw2,
        json!({"totalCount": 2, "buckets": [
            {"keyValue": "false", "count": 1},
            {"keyValue": "true", "count": 1},
        ]})
    );
    let (_, _, online) = s
        .call(
            s.req(Method::POST, "/indices/buckets")
                .json(&buckets("connectivity.connected:true")),
        )
        .await;
    assert_eq!(
        online,
        json!({"totalCount": 2, "buckets": [{"keyValue": "true", "count": 2}]})
    );

    // What this service does not aggregate is refused by name.
    for (body, kind) in [
        (
            json!({"queryString": "thingName:*", "aggregationField": "attributes.model",
                   "bucketsAggregationType": {"termsAggregation": {}}}),
            "InvalidRequestException",
        ),
        (
            json!({"indexName": "AWS_ThingGroups", "queryString": "thingName:*",
                   "aggregationField": "connectivity.connected",
                   "bucketsAggregationType": {"termsAggregation": {}}}),
            "InvalidRequestException",
        ),
        (
            json!({"queryString": "thingName:*", "aggregationField": "connectivity.connected",
                   "bucketsAggregationType": {"termsAggregation": {"maxBuckets": 0}}}),
            "InvalidRequestException",
        ),
        (
            json!({"queryString": "shadow.reported.x:1", "aggregationField": "connectivity.connected",
                   "bucketsAggregationType": {"termsAggregation": {}}}),
            "InvalidQueryException",
        ),
    ] {
        assert_error(
            s.call(s.req(Method::POST, "/indices/buckets").json(&body))
                .await,
            StatusCode::BAD_REQUEST,
            kind,
        );
    }
}
