//! The thing registry: CreateThing, DescribeThing, ListThings, UpdateThing,
//! DeleteThing, and connectivity from the broker's presence reports.

use super::*;

/// An attribute payload.
fn attrs(pairs: &[(&str, &str)], merge: bool) -> AttributePayload {
    AttributePayload {
        attributes: pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect(),
        merge,
    }
}

fn attr_map(t: &Thing) -> Vec<(&str, &str)> {
    t.attributes
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect()
}

/// A presence report.
fn presence(thing: &str, connected: bool, session_ms: i64, at_ms: i64) -> Presence {
    Presence {
        thing: thing.into(),
        connected,
        session_ms,
        at_ms,
        disconnect_reason: (!connected).then(|| "CLIENT_INITIATED_DISCONNECT".to_owned()),
    }
}

#[test]
fn create_thing_registers_it_once() {
    let mut s = store();
    let (t, _) = s
        .create_thing("dev-1", Some(&attrs(&[("model", "gw2")], false)), T0)
        .unwrap();
    assert_eq!(t.thing_name, "dev-1");
    assert_eq!(t.version, 1);
    assert_eq!(attr_map(&t), [("model", "gw2")]);
    // A version-4 UUID.
    let parts: Vec<&str> = t.thing_id.split('-').collect();
    assert_eq!(
        parts.iter().map(|p| p.len()).collect::<Vec<_>>(),
        [8, 4, 4, 4, 12]
    );
    assert!(parts[2].starts_with('4'), "{}", t.thing_id);
    assert!(!t.connectivity.connected);
    assert_eq!(s.describe_thing("dev-1").unwrap(), t);

    // The same again: success, nothing changes (AWS: same configuration).
    let (again, _) = s
        .create_thing("dev-1", Some(&attrs(&[("model", "gw2")], false)), T0 + 1)
        .unwrap();
    assert_eq!(again, t);
    // Other attributes: AlreadyExists.
    let err = s
        .create_thing("dev-1", Some(&attrs(&[("model", "gw3")], false)), T0 + 1)
        .unwrap_err();
    assert!(matches!(err, StoreError::AlreadyExists(_)), "{err}");

    // Another thing gets another id.
    let (other, _) = s.create_thing("dev-2", None, T0).unwrap();
    assert_ne!(other.thing_id, t.thing_id);
    assert!(matches!(
        s.describe_thing("nope"),
        Err(StoreError::NotFound(_))
    ));
}

#[test]
fn names_and_attributes_follow_aws_rules() {
    let mut s = store();
    for bad in ["", "has space", "a/b", &"x".repeat(129)] {
        let err = s.create_thing(bad, None, T0).unwrap_err();
        assert!(
            matches!(err, StoreError::InvalidRequest(_)),
            "{bad:?}: {err}"
        );
    }
    for (name, value) in [
        ("has space", "v"),
        ("", "v"),
        ("ok", "has space"),
        ("ok", "quote\""),
        (&"n".repeat(129), "v"),
        ("ok", &"v".repeat(801)),
    ] {
        let err = s
            .create_thing("t", Some(&attrs(&[(name, value)], false)), T0)
            .unwrap_err();
        assert!(
            matches!(err, StoreError::InvalidRequest(_)),
            "{name:?}={value:?}: {err}"
        );
    }
    let many: Vec<(String, String)> = (0..=MAX_ATTRIBUTES)
        .map(|i| (format!("a{i}"), "v".to_owned()))
        .collect();
    let payload = AttributePayload {
        attributes: many.into_iter().collect(),
        merge: false,
    };
    let err = s.create_thing("t", Some(&payload), T0).unwrap_err();
    assert!(err.to_string().contains("at most 50"), "{err}");
    // Every character AWS allows.
    s.create_thing(
        "a:b_c-1",
        Some(&attrs(&[("a_.,@/:#-Z9", "v_.,@/:#=[]-Z9")], false)),
        T0,
    )
    .unwrap();
}

#[test]
fn update_thing_replaces_or_merges_and_counts_versions() {
    let mut s = store();
    s.create_thing("t", Some(&attrs(&[("a", "1"), ("b", "2")], false)), T0)
        .unwrap();

    // merge: true adds and changes; an empty value removes.
    s.update_thing("t", Some(&attrs(&[("b", "3"), ("c", "4")], true)), None, T0)
        .unwrap();
    let t = s.describe_thing("t").unwrap();
    assert_eq!(attr_map(&t), [("a", "1"), ("b", "3"), ("c", "4")]);
    assert_eq!(t.version, 2);
    s.update_thing("t", Some(&attrs(&[("a", "")], true)), Some(2), T0)
        .unwrap();
    assert_eq!(
        attr_map(&s.describe_thing("t").unwrap()),
        [("b", "3"), ("c", "4")]
    );

    // merge: false (the default) replaces them all.
    s.update_thing("t", Some(&attrs(&[("z", "9")], false)), Some(3), T0)
        .unwrap();
    let t = s.describe_thing("t").unwrap();
    assert_eq!(attr_map(&t), [("z", "9")]);
    assert_eq!(t.version, 4);

    // A stale expectedVersion changes nothing.
    let err = s
        .update_thing("t", Some(&attrs(&[("y", "1")], true)), Some(3), T0)
        .unwrap_err();
    assert!(matches!(err, StoreError::VersionConflict(_)), "{err}");
    assert_eq!(s.describe_thing("t").unwrap(), t);
    assert!(matches!(
        s.update_thing("nope", None, None, T0),
        Err(StoreError::NotFound(_))
    ));
}

#[test]
fn list_things_pages_by_name_and_filters_by_attribute() {
    let mut s = store();
    for (name, model) in [
        ("e", "gw2"),
        ("a", "gw2"),
        ("c", "gw3"),
        ("b", "sensor"),
        ("d", "gw2x"),
    ] {
        s.create_thing(name, Some(&attrs(&[("model", model)], false)), T0)
            .unwrap();
    }
    s.create_thing("f", None, T0).unwrap();
    let names = |p: &Page<Thing, String>| -> Vec<String> {
        p.items.iter().map(|t| t.thing_name.clone()).collect()
    };

    let p1 = s
        .list_things(&ThingFilter::default(), &name_page(Some(4), None).unwrap())
        .unwrap();
    assert_eq!(names(&p1), ["a", "b", "c", "d"]);
    let p2 = s
        .list_things(
            &ThingFilter::default(),
            &name_page(Some(4), p1.next.clone()).unwrap(),
        )
        .unwrap();
    assert_eq!(names(&p2), ["e", "f"]);
    assert_eq!(p2.next, None);

    let by = |value: Option<&str>, prefix: bool| ThingFilter {
        attribute_name: Some("model".into()),
        attribute_value: value.map(str::to_owned),
        use_prefix: prefix,
    };
    let all = name_page(None, None).unwrap();
    assert_eq!(
        names(&s.list_things(&by(Some("gw2"), false), &all).unwrap()),
        ["a", "e"]
    );
    assert_eq!(
        names(&s.list_things(&by(Some("gw"), true), &all).unwrap()),
        ["a", "c", "d", "e"]
    );
    assert_eq!(
        names(&s.list_things(&by(None, false), &all).unwrap()),
        ["a", "b", "c", "d", "e"]
    );

    for bad in [
        ThingFilter {
            attribute_value: Some("x".into()),
            ..ThingFilter::default()
        },
        ThingFilter {
            attribute_name: Some("model".into()),
            use_prefix: true,
            ..ThingFilter::default()
        },
    ] {
        assert!(matches!(
            s.list_things(&bad, &all),
            Err(StoreError::InvalidRequest(_))
        ));
    }
    for (max, token) in [(Some(0), None), (Some(251), None), (None, Some("a b"))] {
        let err = name_page(max, token.map(str::to_owned)).unwrap_err();
        assert!(matches!(err, StoreError::InvalidRequest(_)), "{err}");
    }
}

#[test]
fn delete_thing_checks_the_version_and_forgets_it() {
    let mut s = store();
    s.create_thing("t", None, T0).unwrap();
    let err = s.delete_thing("t", Some(7), T0).unwrap_err();
    assert!(matches!(err, StoreError::VersionConflict(_)), "{err}");
    s.delete_thing("t", Some(1), T0).unwrap();
    assert!(matches!(
        s.describe_thing("t"),
        Err(StoreError::NotFound(_))
    ));
    // Deleting what does not exist succeeds, as in AWS.
    assert!(s.delete_thing("t", None, T0).unwrap().is_empty());
    // A new thing of the same name is a new thing.
    let (t, _) = s.create_thing("t", None, T0).unwrap();
    assert_eq!(t.version, 1);
}

#[test]
fn presence_registers_things_and_keeps_the_newest_session() {
    let mut s = store();
    // A device seen for the first time is registered.
    s.record_presence(&presence("dev", true, 1_000, 1_000), T0)
        .unwrap();
    let t = s.describe_thing("dev").unwrap();
    assert_eq!(t.version, 1);
    assert!(t.attributes.is_empty());
    assert_eq!(
        t.connectivity,
        Connectivity {
            connected: true,
            timestamp_ms: Some(1_000),
            disconnect_reason: None
        }
    );

    // A new session takes over; the old one's disconnect arrives late.
    s.record_presence(&presence("dev", true, 2_000, 2_000), T0)
        .unwrap();
    s.record_presence(&presence("dev", false, 1_000, 2_001), T0)
        .unwrap();
    let c = s.describe_thing("dev").unwrap().connectivity;
    assert!(
        c.connected,
        "an older session's disconnect undid a newer connect"
    );
    assert_eq!(c.timestamp_ms, Some(2_000));

    // The current session's disconnect counts, with its reason.
    s.record_presence(&presence("dev", false, 2_000, 3_000), T0)
        .unwrap();
    let c = s.describe_thing("dev").unwrap().connectivity;
    assert_eq!(
        c,
        Connectivity {
            connected: false,
            timestamp_ms: Some(3_000),
            disconnect_reason: Some("CLIENT_INITIATED_DISCONNECT".into())
        }
    );

    // A disconnect of a thing that is not registered registers nothing.
    s.record_presence(&presence("gone", false, 5, 5), T0)
        .unwrap();
    assert!(matches!(
        s.describe_thing("gone"),
        Err(StoreError::NotFound(_))
    ));
}

#[test]
fn a_broker_restart_disconnects_everything() {
    let mut s = store();
    s.record_presence(&presence("a", true, 10, 10), T0).unwrap();
    s.create_thing("b", None, T0).unwrap();
    s.reset_connectivity(50, T0).unwrap();
    let a = s.describe_thing("a").unwrap().connectivity;
    assert_eq!(
        a,
        Connectivity {
            connected: false,
            timestamp_ms: Some(50),
            disconnect_reason: Some("SERVER_INITIATED_DISCONNECT".into())
        }
    );
    // Never seen stays never seen.
    assert_eq!(
        s.describe_thing("b").unwrap().connectivity,
        Connectivity::default()
    );
    // A report from before the reset (an old broker's) is ignored; a new
    // session counts.
    s.record_presence(&presence("a", true, 40, 40), T0).unwrap();
    assert!(!s.describe_thing("a").unwrap().connectivity.connected);
    s.record_presence(&presence("a", true, 60, 60), T0).unwrap();
    assert!(s.describe_thing("a").unwrap().connectivity.connected);
}
