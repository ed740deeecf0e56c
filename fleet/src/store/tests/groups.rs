//! Thing groups: static groups, their hierarchy and members, and dynamic
//! groups, whose members follow their query.

use super::*;

fn props(description: &str, pairs: &[(&str, &str)]) -> GroupProperties {
    GroupProperties {
        description: Some(description.to_owned()),
        attribute_payload: Some(AttributePayload {
            attributes: pairs
                .iter()
                .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
                .collect(),
            merge: false,
        }),
    }
}

fn none() -> GroupProperties {
    GroupProperties::default()
}

fn group(s: &mut Store, name: &str, parent: Option<&str>) {
    s.create_thing_group(name, parent, &none(), T0).unwrap();
}

fn thing_with(s: &mut Store, name: &str, pairs: &[(&str, &str)]) {
    let payload = AttributePayload {
        attributes: pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect(),
        merge: false,
    };
    s.create_thing(name, Some(&payload), T0).unwrap();
}

fn set_attr(s: &mut Store, thing: &str, key: &str, value: &str) -> Changes {
    let payload = AttributePayload {
        attributes: [(key.to_owned(), value.to_owned())].into(),
        merge: true,
    };
    s.update_thing(thing, Some(&payload), None, T0).unwrap()
}

fn members(s: &Store, group: &str, recursive: bool) -> Vec<String> {
    s.list_things_in_thing_group(group, recursive, &name_page(None, None).unwrap())
        .unwrap()
        .items
}

fn groups_of(s: &Store, thing: &str) -> Vec<String> {
    s.list_thing_groups_for_thing(thing, &name_page(None, None).unwrap())
        .unwrap()
        .items
}

fn is_invalid(r: Result<impl std::fmt::Debug, StoreError>, says: &str) {
    match r {
        Err(StoreError::InvalidRequest(m)) => assert!(m.contains(says), "{m}"),
        other => panic!("expected InvalidRequest ({says}), got {other:?}"),
    }
}

#[test]
fn a_hierarchy_has_one_parent_per_group_and_at_most_seven_levels() {
    let mut s = store();
    let root = s
        .create_thing_group("Fleet", None, &props("all of it", &[("owner", "ops")]), T0)
        .unwrap();
    assert_eq!(root.description.as_deref(), Some("all of it"));
    assert_eq!(root.version, 1);
    group(&mut s, "EU", Some("Fleet"));
    group(&mut s, "Berlin", Some("EU"));
    let berlin = s.describe_thing_group("Berlin").unwrap();
    assert_eq!(berlin.parent.as_deref(), Some("EU"));
    assert_eq!(berlin.ancestors, ["Fleet", "EU"]);
    assert_eq!(berlin.query_string, None);

    // Same parent and properties again: success; otherwise AlreadyExists.
    s.create_thing_group("Berlin", Some("EU"), &none(), T0)
        .unwrap();
    assert!(matches!(
        s.create_thing_group("Berlin", None, &none(), T0),
        Err(StoreError::AlreadyExists(_))
    ));
    is_invalid(
        s.create_thing_group("X", Some("Nope"), &none(), T0),
        "does not exist",
    );

    // Levels 4 to 7 fit, an eighth does not.
    let mut parent = "Berlin".to_owned();
    for level in 4..=7 {
        let name = format!("L{level}");
        group(&mut s, &name, Some(&parent));
        parent = name;
    }
    assert_eq!(s.describe_thing_group("L7").unwrap().ancestors.len(), 6);
    is_invalid(
        s.create_thing_group("L8", Some("L7"), &none(), T0),
        "7 groups deep",
    );
}

#[test]
fn list_thing_groups_by_parent_prefix_and_depth() {
    let mut s = store();
    group(&mut s, "Fleet", None);
    group(&mut s, "EU", Some("Fleet"));
    group(&mut s, "US", Some("Fleet"));
    group(&mut s, "Berlin", Some("EU"));
    group(&mut s, "Lab", None);
    let list = |s: &Store, parent: Option<&str>, prefix: Option<&str>, recursive: Option<bool>| {
        s.list_thing_groups(
            &GroupFilter {
                parent_group: parent.map(str::to_owned),
                name_prefix: prefix.map(str::to_owned),
                recursive,
            },
            &name_page(None, None).unwrap(),
        )
        .unwrap()
        .items
    };
    assert_eq!(
        list(&s, None, None, None),
        ["Berlin", "EU", "Fleet", "Lab", "US"]
    );
    assert_eq!(list(&s, None, None, Some(false)), ["Fleet", "Lab"]);
    assert_eq!(list(&s, Some("Fleet"), None, None), ["EU", "US"]);
    assert_eq!(
        list(&s, Some("Fleet"), None, Some(true)),
        ["Berlin", "EU", "US"]
    );
    assert_eq!(list(&s, None, Some("E"), None), ["EU"]);
    assert!(matches!(
        s.list_thing_groups(
            &GroupFilter {
                parent_group: Some("Nope".into()),
                ..GroupFilter::default()
            },
            &name_page(None, None).unwrap()
        ),
        Err(StoreError::NotFound(_))
    ));
    let page = s
        .list_thing_groups(&GroupFilter::default(), &name_page(Some(2), None).unwrap())
        .unwrap();
    assert_eq!(page.items, ["Berlin", "EU"]);
    assert_eq!(page.next.as_deref(), Some("EU"));
}

#[test]
fn update_and_delete_follow_versions_and_children() {
    let mut s = store();
    s.create_thing_group("G", None, &props("old", &[("a", "1")]), T0)
        .unwrap();
    group(&mut s, "Child", Some("G"));
    let merge = GroupProperties {
        description: None,
        attribute_payload: Some(AttributePayload {
            attributes: [("b".to_owned(), "2".to_owned())].into(),
            merge: true,
        }),
    };
    assert_eq!(s.update_thing_group("G", &merge, Some(1)).unwrap(), 2);
    let g = s.describe_thing_group("G").unwrap();
    assert_eq!(g.description.as_deref(), Some("old"));
    assert_eq!(g.attributes.len(), 2);
    assert!(matches!(
        s.update_thing_group("G", &merge, Some(1)),
        Err(StoreError::VersionConflict(_))
    ));

    is_invalid(s.delete_thing_group("G", None, T0), "child groups");
    assert!(matches!(
        s.delete_thing_group("Child", Some(9), T0),
        Err(StoreError::VersionConflict(_))
    ));
    s.delete_thing_group("Child", None, T0).unwrap();
    s.delete_thing_group("G", Some(2), T0).unwrap();
    assert!(matches!(
        s.describe_thing_group("G"),
        Err(StoreError::NotFound(_))
    ));
    // Deleting what does not exist succeeds, as in AWS.
    s.delete_thing_group("G", None, T0).unwrap();
}

#[test]
fn members_are_listed_directly_or_through_child_groups() {
    let mut s = store();
    group(&mut s, "Fleet", None);
    group(&mut s, "EU", Some("Fleet"));
    group(&mut s, "Lab", None);
    for t in ["a", "b", "c"] {
        s.create_thing(t, None, T0).unwrap();
    }
    s.add_thing_to_thing_group("a", "Fleet", false, T0).unwrap();
    s.add_thing_to_thing_group("b", "EU", false, T0).unwrap();
    s.add_thing_to_thing_group("b", "Lab", false, T0).unwrap();
    // Adding again changes nothing.
    s.add_thing_to_thing_group("b", "EU", false, T0).unwrap();
    assert_eq!(members(&s, "Fleet", false), ["a"]);
    assert_eq!(members(&s, "Fleet", true), ["a", "b"]);
    assert_eq!(groups_of(&s, "b"), ["EU", "Lab"]);
    assert!(groups_of(&s, "c").is_empty());

    // One group per hierarchy, as AWS requires.
    is_invalid(
        s.add_thing_to_thing_group("b", "Fleet", false, T0),
        "same hierarchy",
    );

    s.remove_thing_from_thing_group("b", "EU", T0).unwrap();
    // Removing a non-member changes nothing.
    s.remove_thing_from_thing_group("b", "EU", T0).unwrap();
    assert_eq!(members(&s, "Fleet", true), ["a"]);

    for (thing, g) in [("nope", "Lab"), ("a", "Nope")] {
        assert!(matches!(
            s.add_thing_to_thing_group(thing, g, false, T0),
            Err(StoreError::NotFound(_))
        ));
    }
    assert!(matches!(
        s.list_things_in_thing_group("Nope", false, &name_page(None, None).unwrap()),
        Err(StoreError::NotFound(_))
    ));
    // Deleting a thing takes it out of its groups.
    s.delete_thing("b", None, T0).unwrap();
    assert!(members(&s, "Lab", false).is_empty());
}

#[test]
fn dynamic_groups_follow_attributes_and_connectivity() {
    let mut s = store();
    thing_with(&mut s, "gw-1", &[("model", "gw2"), ("fw", "1")]);
    thing_with(&mut s, "gw-2", &[("model", "gw2"), ("fw", "5")]);
    thing_with(&mut s, "sensor", &[("model", "s1")]);
    let (g, _) = s
        .create_dynamic_thing_group(
            "OldGateways",
            &props("fw 1-3", &[]),
            "attributes.model:gw2 AND attributes.fw:[1 TO 3]",
            T0,
        )
        .unwrap();
    assert_eq!(
        g.query_string.as_deref(),
        Some("attributes.model:gw2 AND attributes.fw:[1 TO 3]")
    );
    assert_eq!(members(&s, "OldGateways", false), ["gw-1"]);

    // An update that starts matching adds; one that stops matching removes.
    set_attr(&mut s, "gw-2", "fw", "2");
    set_attr(&mut s, "gw-1", "fw", "4");
    assert_eq!(members(&s, "OldGateways", false), ["gw-2"]);
    assert_eq!(groups_of(&s, "gw-2"), ["OldGateways"]);
    // A new thing that matches joins at creation.
    thing_with(&mut s, "gw-3", &[("model", "GW2"), ("fw", "3")]);
    assert_eq!(members(&s, "OldGateways", false), ["gw-2", "gw-3"]);

    // Connectivity, as the broker reports it.
    s.create_dynamic_thing_group("Online", &none(), "connectivity.connected:true", T0)
        .unwrap();
    assert!(members(&s, "Online", false).is_empty());
    let report = |connected, session_ms| Presence {
        thing: "sensor".into(),
        connected,
        session_ms,
        at_ms: session_ms,
        disconnect_reason: None,
    };
    s.record_presence(&report(true, 10), T0).unwrap();
    assert_eq!(members(&s, "Online", false), ["sensor"]);
    s.record_presence(&report(false, 10), T0).unwrap();
    assert!(members(&s, "Online", false).is_empty());

    // A new query re-evaluates every thing.
    assert_eq!(
        s.update_dynamic_thing_group("OldGateways", &none(), Some("thingName:gw-1"), Some(1), T0)
            .unwrap()
            .0,
        2
    );
    assert_eq!(members(&s, "OldGateways", false), ["gw-1"]);

    // Members are the query's to choose.
    is_invalid(
        s.add_thing_to_thing_group("sensor", "OldGateways", false, T0),
        "dynamic",
    );
    is_invalid(
        s.remove_thing_from_thing_group("gw-1", "OldGateways", T0),
        "dynamic",
    );
    // Each kind has its own update and delete.
    is_invalid(
        s.update_thing_group("OldGateways", &none(), None),
        "UpdateDynamicThingGroup",
    );
    is_invalid(
        s.delete_thing_group("OldGateways", None, T0),
        "DeleteDynamicThingGroup",
    );
    group(&mut s, "Static", None);
    is_invalid(
        s.update_dynamic_thing_group("Static", &none(), None, None, T0),
        "UpdateThingGroup",
    );
    is_invalid(
        s.delete_dynamic_thing_group("Static", None, T0),
        "DeleteThingGroup",
    );
    // No hierarchy with dynamic groups.
    is_invalid(
        s.create_thing_group("Child", Some("OldGateways"), &none(), T0),
        "dynamic",
    );

    s.delete_dynamic_thing_group("OldGateways", Some(2), T0)
        .unwrap();
    assert!(groups_of(&s, "gw-1").is_empty());
}

#[test]
fn a_query_outside_the_subset_is_invalid_query() {
    let mut s = store();
    for q in ["abc", "shadow.reported.x:1", "thingName:*x"] {
        let err = s
            .create_dynamic_thing_group("G", &none(), q, T0)
            .unwrap_err();
        assert!(matches!(err, StoreError::InvalidQuery(_)), "{q}: {err}");
    }
    s.create_dynamic_thing_group("G", &none(), "thingName:a*", T0)
        .unwrap();
    let err = s
        .update_dynamic_thing_group("G", &none(), Some("x y"), None, T0)
        .unwrap_err();
    assert!(matches!(err, StoreError::InvalidQuery(_)), "{err}");
    assert_eq!(
        s.describe_thing_group("G").unwrap().query_string.as_deref(),
        Some("thingName:a*")
    );
}

#[test]
fn ten_groups_at_most_with_static_and_older_dynamic_groups_first() {
    let mut s = store();
    s.create_thing("t", None, T0).unwrap();
    for i in 0..8 {
        group(&mut s, &format!("S{i}"), None);
        s.add_thing_to_thing_group("t", &format!("S{i}"), false, T0)
            .unwrap();
    }
    // Three dynamic groups match; two places are left: the older two win.
    for name in ["D1", "D2", "D3"] {
        s.create_dynamic_thing_group(name, &none(), "thingName:t", T0)
            .unwrap();
    }
    let dynamic = |s: &Store| -> Vec<String> {
        groups_of(s, "t")
            .into_iter()
            .filter(|g| g.starts_with('D'))
            .collect()
    };
    assert_eq!(dynamic(&s), ["D1", "D2"]);

    // At ten, a static add is refused...
    group(&mut s, "S8", None);
    is_invalid(
        s.add_thing_to_thing_group("t", "S8", false, T0),
        "10 thing groups",
    );
    // ...unless overrideDynamicGroups: the newest dynamic group gives way.
    s.add_thing_to_thing_group("t", "S8", true, T0).unwrap();
    assert_eq!(dynamic(&s), ["D1"]);
    assert_eq!(groups_of(&s, "t").len(), MAX_GROUPS_PER_THING);

    // A place freed goes to the oldest dynamic group that matches.
    s.delete_dynamic_thing_group("D1", None, T0).unwrap();
    assert_eq!(dynamic(&s), ["D2"]);

    // Static groups only, at ten: override has nothing to give way.
    for i in [9, 10] {
        group(&mut s, &format!("S{i}"), None);
    }
    s.add_thing_to_thing_group("t", "S9", true, T0).unwrap();
    assert!(dynamic(&s).is_empty());
    is_invalid(
        s.add_thing_to_thing_group("t", "S10", true, T0),
        "10 thing groups",
    );
}

#[test]
fn at_most_a_hundred_dynamic_groups() {
    let mut s = store();
    for i in 0..MAX_DYNAMIC_GROUPS {
        s.create_dynamic_thing_group(&format!("D{i}"), &none(), "thingName:x", T0)
            .unwrap();
    }
    let err = s
        .create_dynamic_thing_group("One-more", &none(), "thingName:x", T0)
        .unwrap_err();
    assert!(matches!(err, StoreError::LimitExceeded(_)), "{err}");
}
