//! `thing ...`, `group ...`, and jobs on groups from the CLI: `job create
//! --group` / `--continuous`, `job associate`, `job list --group`.

use super::*;
use jobhost_fleet::arn::thing_group_arn;
use jobhost_fleet::store::{GroupProperties, Presence};

/// What the embedded broker reports when a device connects: the broker is
/// the edge here (this harness runs the API alone).
fn connect(s: &Server, thing: &str, at_ms: i64) {
    let presence = Presence {
        thing: thing.into(),
        connected: true,
        session_ms: at_ms,
        at_ms,
        disconnect_reason: None,
    };
    s.store
        .lock()
        .unwrap()
        .record_presence(&presence, at_ms / 1000)
        .unwrap();
}

/// The things of `job executions JOB`, each with its status, by name.
async fn executions(s: &Server, job: &str) -> Vec<(String, String)> {
    let out = s.ok(&["job", "executions", job]).await;
    let mut rows: Vec<(String, String)> = out
        .lines()
        .skip(1)
        .map(|l| {
            let cells: Vec<&str> = l.split_whitespace().collect();
            (cells[0].to_owned(), cells[1].to_owned())
        })
        .collect();
    rows.sort();
    rows
}

fn queued(things: &[&str]) -> Vec<(String, String)> {
    things
        .iter()
        .map(|t| ((*t).to_owned(), "QUEUED".to_owned()))
        .collect()
}

#[tokio::test]
async fn things_are_created_listed_described_updated_and_deleted() {
    let s = Server::start(None).await;
    let out = s
        .ok(&[
            "thing",
            "create",
            "gw-1",
            "--attr",
            "model=gw2",
            "--attr",
            "fw=1",
        ])
        .await;
    assert_eq!(out, "thing gw-1 created\n");
    s.ok(&["thing", "create", "gw-2", "--attr", "model=gw3"])
        .await;
    s.ok(&["thing", "create", "sensor-1"]).await;
    connect(&s, "gw-1", 1_700_000_000_250);

    let out = s.ok(&["thing", "list"]).await;
    assert_eq!(
        out,
        "THING     CONNECTIVITY  ATTRIBUTES\n\
         gw-1      connected     fw=1 model=gw2\n\
         gw-2      disconnected  model=gw3\n\
         sensor-1  disconnected\n"
    );

    let out = s.ok(&["thing", "describe", "gw-1"]).await;
    let mut thing: Value = serde_json::from_str(&out).unwrap();
    assert!(thing["thingId"].as_str().is_some_and(|id| !id.is_empty()));
    thing.as_object_mut().unwrap().remove("thingId");
    assert_eq!(
        thing,
        serde_json::json!({
            "defaultClientId": "gw-1",
            "thingName": "gw-1",
            "thingArn": "arn:aws:iot:local:000000000000:thing/gw-1",
            "attributes": { "fw": "1", "model": "gw2" },
            "version": 1,
            // GetThingConnectivityData's: epoch seconds.
            "connectivity": { "connected": true, "timestamp": 1_700_000_000.25 },
        })
    );

    let out = s
        .ok(&[
            "thing",
            "update",
            "gw-1",
            "--attr",
            "fw=2",
            "--attr",
            "site=berlin",
            "--remove-attr",
            "model",
        ])
        .await;
    assert_eq!(out, "thing gw-1 updated\n");
    let out = s.ok(&["thing", "describe", "gw-1"]).await;
    let thing: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(
        thing["attributes"],
        serde_json::json!({ "fw": "2", "site": "berlin" })
    );
    assert_eq!(thing["version"], 2);

    let out = s.ok(&["thing", "delete", "sensor-1"]).await;
    assert_eq!(out, "thing sensor-1 deleted\n");
    let out = s.ok(&["thing", "list"]).await;
    assert_eq!(
        out,
        "THING  CONNECTIVITY  ATTRIBUTES\n\
         gw-1   connected     fw=2 site=berlin\n\
         gw-2   disconnected  model=gw3\n"
    );

    // Errors: the service's message, one line; usage errors exit 1.
    let out = s.run(&["thing", "describe", "sensor-1"]).await;
    assert_one_line_error(&out, "not found: thing sensor-1");
    let out = s.run(&["thing", "create", "bad/name"]).await;
    assert_one_line_error(&out, "thing name \"bad/name\"");
    let out = s.run(&["thing", "update", "gw-1"]).await;
    assert_eq!(out.status.code(), Some(1));
    let out = s.run(&["thing", "update", "gw-1", "--attr", "fw="]).await;
    assert_eq!(out.status.code(), Some(1));
    assert!(
        text(&out.stderr).contains("use --remove-attr fw"),
        "{}",
        text(&out.stderr)
    );
}

#[tokio::test]
async fn groups_are_created_listed_described_and_deleted() {
    let s = Server::start(None).await;
    for (thing, model) in [("gw-1", "gw2"), ("gw-2", "gw3"), ("sensor-1", "s1")] {
        s.ok(&[
            "thing",
            "create",
            thing,
            "--attr",
            &format!("model={model}"),
        ])
        .await;
    }
    let out = s
        .ok(&["group", "create", "Fleet", "--description", "every device"])
        .await;
    assert_eq!(out, "thing group Fleet created\n");
    s.ok(&["group", "create", "Berlin", "--parent", "Fleet"])
        .await;
    let out = s
        .ok(&[
            "group",
            "create-dynamic",
            "Gateways",
            "--query",
            "attributes.model:gw*",
        ])
        .await;
    assert_eq!(out, "dynamic thing group Gateways created\n");

    let out = s.ok(&["group", "add", "Berlin", "gw-1", "sensor-1"]).await;
    assert_eq!(out, "gw-1 added to Berlin\nsensor-1 added to Berlin\n");
    assert_eq!(
        s.ok(&["group", "members", "Berlin"]).await,
        "gw-1\nsensor-1\n"
    );
    assert_eq!(s.ok(&["group", "members", "Fleet"]).await, "");
    assert_eq!(
        s.ok(&["group", "members", "Fleet", "--recursive"]).await,
        "gw-1\nsensor-1\n"
    );
    assert_eq!(
        s.ok(&["group", "members", "Gateways"]).await,
        "gw-1\ngw-2\n"
    );
    let out = s.ok(&["thing", "list", "--group", "Gateways"]).await;
    assert_eq!(
        out,
        "THING  CONNECTIVITY  ATTRIBUTES\n\
         gw-1   disconnected  model=gw2\n\
         gw-2   disconnected  model=gw3\n"
    );
    let out = s
        .ok(&["thing", "list", "--group", "Fleet", "--recursive"])
        .await;
    assert_eq!(
        out,
        "THING     CONNECTIVITY  ATTRIBUTES\n\
         gw-1      disconnected  model=gw2\n\
         sensor-1  disconnected  model=s1\n"
    );

    let out = s.ok(&["group", "list"]).await;
    assert_eq!(
        out,
        "GROUP     TYPE     PARENT  QUERY\n\
         Berlin    static   Fleet   -\n\
         Fleet     static   -       -\n\
         Gateways  dynamic  -       attributes.model:gw*\n"
    );
    let out = s.ok(&["group", "describe", "Berlin"]).await;
    let group: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(group["thingGroupName"], "Berlin");
    assert_eq!(group["thingGroupArn"], thing_group_arn("Berlin"));
    assert_eq!(group["thingGroupMetadata"]["parentGroupName"], "Fleet");
    assert_eq!(
        group["thingGroupMetadata"]["rootToParentThingGroups"],
        serde_json::json!([{ "groupName": "Fleet", "groupArn": thing_group_arn("Fleet") }])
    );
    let out = s.ok(&["group", "describe", "Fleet"]).await;
    let group: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(
        group["thingGroupProperties"]["thingGroupDescription"],
        "every device"
    );

    let out = s.ok(&["group", "remove", "Berlin", "sensor-1"]).await;
    assert_eq!(out, "sensor-1 removed from Berlin\n");
    assert_eq!(s.ok(&["group", "members", "Berlin"]).await, "gw-1\n");

    // Errors: one line, exit 1, the service's message.
    let out = s
        .run(&[
            "group",
            "create-dynamic",
            "Bad",
            "--query",
            "attributes.model:gw* AND abc",
        ])
        .await;
    assert_one_line_error(
        &out,
        "the term abc has no field: searching every field is not supported here",
    );
    let out = s.run(&["group", "describe", "Nope"]).await;
    assert_one_line_error(&out, "not found: thing group Nope");
    let out = s.run(&["group", "members", "Nope"]).await;
    assert_one_line_error(&out, "not found: thing group Nope");
    let out = s.run(&["thing", "list", "--group", "Nope"]).await;
    assert_one_line_error(&out, "not found: thing group Nope");
    let out = s.run(&["group", "add", "Nope", "gw-1"]).await;
    assert_one_line_error(&out, "not found: thing group Nope");
    let out = s.run(&["group", "delete", "Nope"]).await;
    assert_one_line_error(&out, "not found: thing group Nope");
    let out = s.run(&["group", "add", "Gateways", "gw-2"]).await;
    assert_one_line_error(
        &out,
        "Gateways is a dynamic thing group, which cannot have things added by hand",
    );
    let out = s.run(&["group", "delete", "Fleet"]).await;
    assert_one_line_error(
        &out,
        "cannot delete thing group Fleet while it has child groups",
    );

    // A dynamic group is deleted with DeleteDynamicThingGroup, a static
    // one with DeleteThingGroup.
    let out = s.ok(&["group", "delete", "Gateways"]).await;
    assert_eq!(out, "thing group Gateways deleted\n");
    s.ok(&["group", "delete", "Berlin"]).await;
    let out = s.ok(&["group", "list"]).await;
    assert_eq!(
        out,
        "GROUP  TYPE    PARENT  QUERY\n\
         Fleet  static  -       -\n"
    );
    // Its things stay.
    assert_eq!(s.ok(&["thing", "list"]).await.lines().count(), 4);
}

#[tokio::test]
async fn lists_show_every_page() {
    let s = Server::start(None).await;
    // More than one page (ListThings and ListThingsInThingGroup answer 250
    // at most), set up through the store: a few hundred CLI runs would
    // only be slow.
    {
        let mut store = s.store.lock().unwrap();
        store
            .create_thing_group("Many", None, &GroupProperties::default(), 1)
            .unwrap();
        for i in 0..300 {
            let name = format!("t-{i:03}");
            store.create_thing(&name, None, 1).unwrap();
            store
                .add_thing_to_thing_group(&name, "Many", false, 1)
                .unwrap();
        }
    }
    let out = s.ok(&["thing", "list"]).await;
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines.len(), 301);
    assert_eq!(lines[300], "t-299  disconnected");
    let out = s.ok(&["group", "members", "Many"]).await;
    let expected: String = (0..300).map(|i| format!("t-{i:03}\n")).collect();
    assert_eq!(out, expected);
    let out = s.ok(&["thing", "list", "--group", "Many"]).await;
    assert_eq!(out.lines().count(), 301);
}

#[tokio::test]
async fn a_job_on_a_group_reaches_each_member() {
    let s = Server::start(None).await;
    for thing in ["gw-1", "gw-2", "gw-3"] {
        s.ok(&["thing", "create", thing]).await;
    }
    s.ok(&["group", "create", "Berlin"]).await;
    s.ok(&["group", "create", "Munich"]).await;
    s.ok(&["group", "add", "Berlin", "gw-1", "gw-2"]).await;
    s.ok(&["group", "add", "Munich", "gw-3"]).await;

    let out = s
        .ok(&[
            "job",
            "create",
            "--job-id",
            "fw-3",
            "--group",
            "Berlin",
            "--target",
            "loose-dev",
            "--document-json",
            "{}",
        ])
        .await;
    assert_eq!(out, "fw-3\n");
    assert_eq!(
        executions(&s, "fw-3").await,
        queued(&["gw-1", "gw-2", "loose-dev"])
    );
    let job: Value = serde_json::from_str(&s.ok(&["job", "describe", "fw-3"]).await).unwrap();
    assert_eq!(
        job["targets"],
        serde_json::json!([
            "arn:aws:iot:local:000000000000:thing/loose-dev",
            thing_group_arn("Berlin")
        ])
    );
    assert_eq!(job["targetSelection"], "SNAPSHOT");

    s.ok(&[
        "job",
        "create",
        "--job-id",
        "fw-4",
        "--group",
        "Munich",
        "--document-json",
        "{}",
    ])
    .await;
    assert_eq!(executions(&s, "fw-4").await, queued(&["gw-3"]));
    let out = s.ok(&["job", "list", "--group", "Berlin"]).await;
    let jobs: Vec<&str> = out
        .lines()
        .skip(1)
        .map(|l| l.split_whitespace().next().unwrap())
        .collect();
    assert_eq!(jobs, ["fw-3"]);

    // A snapshot job takes no more targets; an unknown group is refused.
    let out = s
        .run(&["job", "associate", "fw-3", "--group", "Munich"])
        .await;
    assert_one_line_error(
        &out,
        "job fw-3 is a SNAPSHOT job: targets can be associated with CONTINUOUS jobs only",
    );
    let out = s
        .run(&[
            "job",
            "create",
            "--job-id",
            "fw-5",
            "--group",
            "Nope",
            "--document-json",
            "{}",
        ])
        .await;
    assert_one_line_error(&out, "not found: thing group Nope");
    let out = s
        .run(&["job", "create", "--job-id", "fw-5", "--document-json", "{}"])
        .await;
    assert_eq!(out.status.code(), Some(1));
    assert!(
        text(&out.stderr).contains("--target"),
        "{}",
        text(&out.stderr)
    );
}

#[tokio::test]
async fn a_continuous_job_reaches_things_added_later() {
    let s = Server::start(None).await;
    for thing in ["a", "b", "c"] {
        s.ok(&["thing", "create", thing]).await;
    }
    s.ok(&["group", "create", "Fleet"]).await;
    s.ok(&["group", "add", "Fleet", "a"]).await;
    s.ok(&[
        "job",
        "create",
        "--job-id",
        "onboard",
        "--group",
        "Fleet",
        "--continuous",
        "--document-json",
        "{}",
    ])
    .await;
    let job: Value = serde_json::from_str(&s.ok(&["job", "describe", "onboard"]).await).unwrap();
    assert_eq!(job["targetSelection"], "CONTINUOUS");
    assert_eq!(executions(&s, "onboard").await, queued(&["a"]));

    s.ok(&["group", "add", "Fleet", "b"]).await;
    assert_eq!(executions(&s, "onboard").await, queued(&["a", "b"]));

    let out = s
        .ok(&[
            "job",
            "associate",
            "onboard",
            "--target",
            "c",
            "--comment",
            "c too",
        ])
        .await;
    assert_eq!(out, "targets associated with job onboard\n");
    assert_eq!(executions(&s, "onboard").await, queued(&["a", "b", "c"]));
    let job: Value = serde_json::from_str(&s.ok(&["job", "describe", "onboard"]).await).unwrap();
    assert_eq!(job["comment"], "c too");

    // A thing that leaves has its QUEUED execution removed.
    s.ok(&["group", "remove", "Fleet", "a"]).await;
    let mut expected = queued(&["b", "c"]);
    expected.insert(0, ("a".into(), "REMOVED".into()));
    assert_eq!(executions(&s, "onboard").await, expected);
}
