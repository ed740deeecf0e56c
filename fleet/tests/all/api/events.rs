//! UpdateEventConfigurations / DescribeEventConfigurations, and the
//! `GET /events` stream: its filter, keep-alive, authentication, and what
//! a client that falls behind is told.

use super::*;
use crate::support::sse::SseReader;
use jobhost_fleet::store::{CreateJob, EVENT_CAPACITY};

/// Every event type of AWS's model (botocore `iot` EventType).
const AWS_TYPES: [&str; 11] = [
    "THING",
    "THING_GROUP",
    "THING_TYPE",
    "THING_GROUP_MEMBERSHIP",
    "THING_GROUP_HIERARCHY",
    "THING_TYPE_ASSOCIATION",
    "JOB",
    "JOB_EXECUTION",
    "POLICY",
    "CERTIFICATE",
    "CA_CERTIFICATE",
];

async fn describe(s: &Server) -> Value {
    let (status, _, body) = s.call(s.req(Method::GET, "/event-configurations")).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    body
}

async fn update(s: &Server, body: Value) -> (StatusCode, Option<String>, Value) {
    s.call(s.req(Method::PATCH, "/event-configurations").json(&body))
        .await
}

#[tokio::test]
async fn event_configurations_are_disabled_until_enabled_as_in_aws() {
    let mut s = Server::start(Some(TOKEN)).await;
    let body = describe(&s).await;
    let types = body["eventConfigurations"].as_object().unwrap();
    assert_eq!(types.len(), AWS_TYPES.len());
    for t in AWS_TYPES {
        assert_eq!(types[t], json!({"Enabled": false}), "{t}");
    }
    assert!(body.get("creationDate").is_none() && body.get("lastModifiedDate").is_none());

    let got = update(
        &s,
        json!({"eventConfigurations": {"JOB": {"Enabled": true}, "THING": {"Enabled": false}}}),
    )
    .await;
    assert_eq!(got.0, StatusCode::OK, "{}", got.2);
    assert_eq!(got.2, json!({}), "AWS's empty reply");
    s.clock.store(T0 + 60, Ordering::SeqCst);
    let got = update(
        &s,
        json!({"eventConfigurations": {"JOB_EXECUTION": {"Enabled": true}, "JOB": {}}}),
    )
    .await;
    assert_eq!(got.0, StatusCode::OK, "{}", got.2);
    let body = describe(&s).await;
    assert_eq!(
        body["eventConfigurations"]["JOB"],
        json!({"Enabled": true}),
        "kept"
    );
    assert_eq!(
        body["eventConfigurations"]["JOB_EXECUTION"],
        json!({"Enabled": true})
    );
    assert_eq!(
        body["eventConfigurations"]["THING"],
        json!({"Enabled": false})
    );
    assert_eq!(body["creationDate"], T0);
    assert_eq!(body["lastModifiedDate"], T0 + 60);
    s.no_changes();
}

#[tokio::test]
async fn event_types_this_service_does_not_publish_are_refused_by_name() {
    let s = Server::start(None).await;
    let got = update(
        &s,
        json!({"eventConfigurations": {
            "THING": {"Enabled": true}, "FOO": {"Enabled": false}, "JOB": {"Enabled": true}
        }}),
    )
    .await;
    let message = got.2["message"].as_str().unwrap().to_owned();
    assert_error(got, StatusCode::BAD_REQUEST, "InvalidRequestException");
    assert!(
        message.contains("eventConfigurations.THING") && message.contains("JOB and JOB_EXECUTION"),
        "{message}"
    );
    assert!(message.contains("eventConfigurations.FOO"), "{message}");
    assert_eq!(
        describe(&s).await["eventConfigurations"]["JOB"],
        json!({"Enabled": false}),
        "a refused request changes nothing"
    );

    for (body, names) in [
        (json!({"eventConfiguration": {}}), "eventConfiguration"),
        (
            json!({"eventConfigurations": {"JOB": {"Enabled": "yes"}}}),
            "UpdateEventConfigurations",
        ),
        (
            json!({"eventConfigurations": {"JOB": {"enabled": true}}}),
            "enabled",
        ),
    ] {
        let got = update(&s, body).await;
        let message = got.2["message"].as_str().unwrap().to_owned();
        assert_error(got, StatusCode::BAD_REQUEST, "InvalidRequestException");
        assert!(message.contains(names), "{message}");
    }
    // No body: nothing to change.
    let got = s.call(s.req(Method::PATCH, "/event-configurations")).await;
    assert_eq!(got.0, StatusCode::OK);
}

/// A job on `targets` created in the store, as CreateJob would.
fn create(s: &Server, id: &str, targets: &[&str]) {
    let now = s.clock.load(Ordering::SeqCst);
    s.store
        .lock()
        .unwrap()
        .create_job(
            &CreateJob {
                job_id: id.into(),
                targets: targets.iter().map(|t| (*t).into()).collect(),
                document: json!({"operation": "echo"}).into(),
                ..CreateJob::default()
            },
            now,
        )
        .unwrap();
}

#[tokio::test]
async fn the_stream_needs_the_token_and_can_follow_one_job() {
    let s = Server::start(Some(TOKEN)).await;
    let bare = s.http.get(format!("{}/events", s.base));
    assert_error(
        s.call(bare).await,
        StatusCode::UNAUTHORIZED,
        "UnauthorizedException",
    );
    for bad in ["/events?jobId=no%20spaces", "/events?thingName=t1"] {
        assert_error(
            s.call(s.req(Method::GET, bad)).await,
            StatusCode::BAD_REQUEST,
            "InvalidRequestException",
        );
    }

    let mut j2 = SseReader::open(s.req(Method::GET, "/events?jobId=j2")).await;
    create(&s, "j1", &["t1"]);
    create(&s, "j2", &["t1"]);
    s.device_update("t1", "j1", JobExecutionStatus::Succeeded, &[]);
    s.device_update("t1", "j2", JobExecutionStatus::Failed, &[("why", "disk")]);
    let e = j2.next().await;
    assert_eq!(e.event.as_deref(), Some("jobExecution/failed"));
    let p = e.json();
    assert_eq!(
        (p["jobId"].as_str(), p["statusDetails"]["why"].as_str()),
        (Some("j2"), Some("disk"))
    );
    assert_eq!(e.id.as_deref(), p["eventId"].as_str(), "id: is the eventId");
    assert_eq!(j2.next().await.event.as_deref(), Some("job/completed"));
}

#[tokio::test]
async fn an_idle_stream_sends_keep_alive_comments() {
    let s = Server::start_configured(None, |state| {
        state.with_events_keep_alive(Duration::from_millis(50))
    })
    .await;
    let mut stream = SseReader::open(s.req(Method::GET, "/events")).await;
    let e = stream.next_any().await;
    assert_eq!(e.comment.as_deref(), Some("keep-alive"), "{e:?}");
    assert_eq!((e.event, e.data), (None, None));
}

/// A client that has not read while more changes than the store's channel
/// holds were committed is told how many it missed, then goes on with the
/// newest the channel kept: its memory is the channel's, not a queue that
/// grows with a slow reader. The runtime has one thread, so nothing reads
/// the stream while the test holds the store.
#[tokio::test]
async fn a_client_that_falls_behind_is_told_so_and_goes_on() {
    let s = Server::start(None).await;
    let mut stream = SseReader::open(s.req(Method::GET, "/events")).await;
    // More QUEUED changes than the channel holds, then as many CANCELED.
    let targets: Vec<String> = (0..EVENT_CAPACITY + 44)
        .map(|i| format!("t{i:04}"))
        .collect();
    {
        let mut store = s.store.lock().unwrap();
        store
            .create_job(
                &CreateJob {
                    job_id: "big".into(),
                    targets: targets.clone(),
                    document: json!({"operation": "echo"}).into(),
                    ..CreateJob::default()
                },
                T0,
            )
            .unwrap();
        store.cancel_job("big", false, None, None, T0 + 1).unwrap();
    }
    // The QUEUED, the CANCELED, the job's end.
    let sent = 2 * targets.len() + 1;
    let e = stream.next().await;
    assert_eq!(e.event.as_deref(), Some("lagged"), "{e:?}");
    assert_eq!(e.json(), json!({"missed": sent - EVENT_CAPACITY}));
    // The channel kept the newest: all CANCELED executions but the first
    // ones, then the job.
    let kept_executions = EVENT_CAPACITY - 1;
    for i in 0..kept_executions {
        let e = stream.next().await;
        assert_eq!(e.event.as_deref(), Some("jobExecution/canceled"), "{i}");
        let thing = &targets[targets.len() - kept_executions + i];
        assert!(
            e.json()["thingArn"]
                .as_str()
                .unwrap()
                .ends_with(&format!("/{thing}")),
            "{e:?}"
        );
    }
    assert_eq!(stream.next().await.event.as_deref(), Some("job/canceled"));
}
