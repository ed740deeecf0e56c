//! The query subset, one test per feature: what it matches, what it does
//! not, and what is refused with which message. The queries are AWS's own
//! examples (example-queries.html) where the subset has the feature.

use super::*;
use std::collections::BTreeMap;

/// A thing to match against.
struct Thing {
    name: &'static str,
    attributes: BTreeMap<String, String>,
    connected: bool,
    timestamp: Option<i64>,
    reason: Option<&'static str>,
}

fn thing(name: &'static str, attrs: &[(&str, &str)]) -> Thing {
    Thing {
        name,
        attributes: attrs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect(),
        connected: false,
        timestamp: None,
        reason: None,
    }
}

impl Thing {
    fn online(mut self, at: i64) -> Self {
        self.connected = true;
        self.timestamp = Some(at);
        self
    }

    fn offline(mut self, at: i64, reason: &'static str) -> Self {
        self.connected = false;
        self.timestamp = Some(at);
        self.reason = Some(reason);
        self
    }

    fn facts(&self) -> Facts<'_> {
        Facts {
            thing_name: self.name,
            thing_id: "5b8e8f0e-0d1c-4bb6-9f62-1c0ee7a3c9d1",
            attributes: &self.attributes,
            connected: self.connected,
            connectivity_timestamp: self.timestamp,
            disconnect_reason: self.reason,
        }
    }
}

/// The names of `things` that `query` matches.
fn matching<'a>(query: &str, things: &'a [Thing]) -> Vec<&'a str> {
    let q = Query::parse(query).unwrap_or_else(|e| panic!("{query}: {e}"));
    things
        .iter()
        .filter(|t| q.matches(&t.facts()))
        .map(|t| t.name)
        .collect()
}

/// The error `query` is refused with.
fn refused(query: &str) -> String {
    match Query::parse(query) {
        Ok(q) => panic!("{query} was accepted: {q:?}"),
        Err(e) => e.0,
    }
}

fn fleet() -> Vec<Thing> {
    vec![
        thing("gw-1", &[("model", "gw2"), ("fw", "1"), ("site", "Berlin")]),
        thing("gw-2", &[("model", "GW2"), ("fw", "2.5")]).online(1_000),
        thing("gw-10", &[("model", "gw3"), ("fw", "3")]).offline(2_000, "MQTT_KEEP_ALIVE_TIMEOUT"),
        thing("sensor-a", &[("model", "legacy"), ("fw", "beta")]).online(3_000),
    ]
}

#[test]
fn field_terms_match_whole_values_case_insensitively() {
    let f = fleet();
    assert_eq!(matching("thingName:gw-1", &f), ["gw-1"]);
    assert_eq!(matching("attributes.model:gw2", &f), ["gw-1", "gw-2"]);
    assert_eq!(matching("attributes.model:GW2", &f), ["gw-1", "gw-2"]);
    assert_eq!(matching("attributes.site:berlin", &f), ["gw-1"]);
    // Not a prefix or substring match.
    assert!(matching("attributes.model:gw", &f).is_empty());
    // An attribute a thing does not have matches nothing.
    assert!(matching("attributes.colour:red", &f).is_empty());
}

#[test]
fn wildcards_match_runs_and_single_characters() {
    let f = fleet();
    assert_eq!(matching("thingName:gw*", &f), ["gw-1", "gw-2", "gw-10"]);
    assert_eq!(matching("thingName:gw-?", &f), ["gw-1", "gw-2"]);
    assert_eq!(matching("thingName:s*r-*", &f), ["sensor-a"]);
    // `field:*`: the field is present.
    assert_eq!(matching("attributes.site:*", &f), ["gw-1"]);
    assert_eq!(matching("connectivity.disconnectReason:*", &f), ["gw-10"]);
    // An escaped `*` is a literal star.
    let starred = [thing("a*b", &[])];
    assert_eq!(matching(r"thingName:a\*b", &starred), ["a*b"]);
    assert!(matching(r"thingName:a\*b", &[thing("axb", &[])]).is_empty());
}

#[test]
fn numeric_ranges_compare_numbers_and_skip_non_numbers() {
    let f = fleet();
    assert_eq!(
        matching("attributes.fw:[1 TO 3]", &f),
        ["gw-1", "gw-2", "gw-10"]
    );
    assert_eq!(matching("attributes.fw:{1 TO 3]", &f), ["gw-2", "gw-10"]);
    assert_eq!(matching("attributes.fw:{1 TO 3}", &f), ["gw-2"]);
    assert_eq!(matching("attributes.fw>2", &f), ["gw-2", "gw-10"]);
    assert_eq!(matching("attributes.fw < 2", &f), ["gw-1"]);
    // 10 > 9 as numbers, though "10" < "9" as text.
    let nines = [thing("a", &[("n", "9")]), thing("b", &[("n", "10")])];
    assert_eq!(matching("attributes.n>9", &nines), ["b"]);
    assert_eq!(matching("attributes.n:[-5 TO 9.5]", &nines), ["a"]);
}

#[test]
fn text_ranges_compare_text() {
    let serials = [
        thing("a", &[("serialNumber", "abcd")]),
        thing("b", &[("serialNumber", "ABCE")]),
        thing("c", &[("serialNumber", "abcg")]),
    ];
    assert_eq!(
        matching(r#"attributes.serialNumber:["abcd" TO "abcf"]"#, &serials),
        ["a", "b"]
    );
}

#[test]
fn connectivity_fields_follow_the_broker() {
    let f = fleet();
    assert_eq!(
        matching("connectivity.connected:true", &f),
        ["gw-2", "sensor-a"]
    );
    // A thing never seen connected is not connected.
    assert_eq!(
        matching("connectivity.connected:false", &f),
        ["gw-1", "gw-10"]
    );
    assert_eq!(
        matching(
            "connectivity.connected:true AND connectivity.timestamp:[0 TO 2000]",
            &f
        ),
        ["gw-2"]
    );
    assert_eq!(
        matching("connectivity.timestamp>1000", &f),
        ["gw-10", "sensor-a"]
    );
    assert_eq!(matching("connectivity.timestamp:2000", &f), ["gw-10"]);
    assert_eq!(
        matching("connectivity.disconnectReason:mqtt_keep_alive_timeout", &f),
        ["gw-10"]
    );
}

#[test]
fn boolean_operators_parentheses_and_field_groups() {
    let f = fleet();
    assert_eq!(
        matching("attributes.model:gw2 OR attributes.model:gw3", &f),
        ["gw-1", "gw-2", "gw-10"]
    );
    // Juxtaposition is AND.
    assert_eq!(matching("thingName:gw* attributes.fw:2.5", &f), ["gw-2"]);
    assert_eq!(
        matching("thingName:gw* AND attributes.fw:2.5", &f),
        ["gw-2"]
    );
    assert_eq!(
        matching("NOT attributes.model:legacy", &f),
        ["gw-1", "gw-2", "gw-10"]
    );
    assert_eq!(
        matching("-attributes.model:legacy", &f),
        ["gw-1", "gw-2", "gw-10"]
    );
    // AWS's example: attr1 AND attr2<5 NOT attr3>10 (NOT as AND NOT).
    let t = [
        thing("x", &[("attr1", "abc"), ("attr2", "4"), ("attr3", "11")]),
        thing("y", &[("attr1", "abc"), ("attr2", "4"), ("attr3", "9")]),
    ];
    assert_eq!(
        matching(
            "attributes.attr1:abc AND attributes.attr2<5 NOT attributes.attr3>10",
            &t
        ),
        ["y"]
    );
    // AND binds tighter than OR; parentheses override.
    assert_eq!(
        matching("thingName:sensor* OR thingName:gw* AND attributes.fw:1", &f),
        ["gw-1", "sensor-a"]
    );
    assert_eq!(
        matching(
            "(thingName:sensor* OR thingName:gw*) AND attributes.fw:1",
            &f
        ),
        ["gw-1"]
    );
    // Field grouping, with exclusion inside: AWS's thingName:(tv* AND -plasma).
    assert_eq!(matching("thingName:(gw* AND -gw-1*)", &f), ["gw-2"]);
    assert_eq!(
        matching("attributes.model:(gw3 OR legacy)", &f),
        ["gw-10", "sensor-a"]
    );
}

#[test]
fn quoted_values_are_literal() {
    let t = [
        thing("q", &[("path", "a:b"), ("glob", "x*")]),
        thing("r", &[("path", "a"), ("glob", "xy")]),
    ];
    assert_eq!(matching(r#"attributes.path:"a:b""#, &t), ["q"]);
    // `*` inside quotes is a character, not a wildcard.
    assert_eq!(matching(r#"attributes.glob:"x*""#, &t), ["q"]);
    assert_eq!(matching("attributes.glob:x*", &t), ["q", "r"]);
}

#[test]
fn unsupported_syntax_is_refused_naming_what() {
    for (query, says) in [
        ("abc", "has no field"),
        ("\"abc\"", "has no field"),
        (
            "shadow.reported.battery:80",
            "field \"shadow.reported.battery\" is not supported",
        ),
        (
            "thingTypeName:aa",
            "field \"thingTypeName\" is not supported",
        ),
        ("thingGroupNames:g", "is not supported"),
        ("ThingName:x", "case-sensitive"),
        ("attributes.:x", "is not supported"),
        ("thingName:*xyz", "leading wildcards"),
        ("thingName:?xyz", "leading wildcards"),
        ("thingName:/ab.*/", "regular expressions"),
        ("thingName:abc^2", "boosting"),
        ("thingName:abc~", "fuzzy"),
        ("thingName:a && thingName:b", "`&&`"),
        ("thingName:a || thingName:b", "`||`"),
        ("!thingName:a", "`!`"),
        ("+thingName:a", "required terms"),
        ("attributes.fw>=2", "`<=` and `>=` are not supported"),
        ("attributes.fw:[1 TO *]", "open-ended ranges"),
        (
            "attributes.fw:[1 TO abc]",
            "both be numbers or both be text",
        ),
        ("attributes.fw:[1 2]", "expected `TO`"),
        ("connectivity.connected:yes", "true, false"),
        ("connectivity.timestamp:yesterday", "milliseconds"),
        ("thingName:(a OR b", "`)`"),
        ("thingName:a)", "the end of the query"),
        ("thingName:", "expected a value"),
        ("thingName:\"open", "closing"),
        ("", "empty"),
        ("   ", "empty"),
        ("thingName:a\\", "lone"),
    ] {
        let message = refused(query);
        assert!(message.contains(says), "{query}: {message}");
    }
}

#[test]
fn at_most_seven_terms() {
    let seven = (1..=7)
        .map(|i| format!("attributes.a{i}:x"))
        .collect::<Vec<_>>()
        .join(" OR ");
    assert!(Query::parse(&seven).is_ok());
    let eight = format!("{seven} OR thingName:y");
    assert!(refused(&eight).contains("8 terms"));
    // Terms inside a field group count one each.
    assert!(refused("thingName:(a OR b OR c OR d OR e OR f OR g OR h)").contains("8 terms"));
}

#[test]
fn pathological_wildcards_stay_linear() {
    // a*a*a*…b against a long run of a's: exponential for naive backtracking.
    let pattern = format!("thingName:a{}b", "*a".repeat(6));
    let long = [thing(Box::leak("a".repeat(5000).into_boxed_str()), &[])];
    assert!(matching(&pattern, &long).is_empty());
}
