//! Manifest validation and the WIT world it names.

use super::*;

#[test]
fn manifest_validation_is_precise() {
    let with = |from: &str, to: &str| {
        assert!(MANIFEST.contains(from), "{from}");
        Manifest::from_toml(&MANIFEST.replace(from, to))
            .unwrap_err()
            .to_string()
    };
    assert!(with(r#"name = "echo""#, r#"name = "Echo""#).starts_with("name \"Echo\""));
    assert!(with(r#"name = "echo""#, r#"name = "-x""#).starts_with("name \"-x\""));
    assert!(with(r#"version = "1.2.3""#, r#"version = "1.2""#).contains("version"));
    assert!(
        with(r#"operations = ["echo", "echo.v2"]"#, "operations = []").contains("at least one")
    );
    assert!(with(r#""echo.v2""#, r#""echo""#).contains("listed twice"));
    assert!(with(r#""echo.v2""#, r#""install-plugin""#).contains("reserved"));
    assert!(with(r#""echo.v2""#, r#""a b""#).contains("may only contain"));
    assert!(with("download = true", "download = true\nnetwork = true")
        .contains("unknown field `network`"));
    assert!(with(r#"access = "rw""#, r#"access = "rwx""#).contains("unknown variant"));
    assert!(with(r#"path = "/data""#, r#"path = "data""#).contains("absolute"));
    assert!(with(r#"path = "/data""#, r#"path = "/data/../etc""#).contains(".."));
    assert!(with(r#"path = "/etc/ssl""#, r#"path = "/data/""#).contains("twice"));
    assert!(with(r#"["/usr/bin/systemctl"]"#, r#"[" "]"#).contains("empty"));
    assert!(with("@0.1.0", "@0.2.0").contains("not compatible"));
    assert!(with("@0.1.0", "@0.1.1").contains("newer world"));
    assert!(with("@0.1.0", "@1").contains("not semver"));
    assert!(with("operation-plugin@", "other@").contains("the world must be"));
    assert!(with("name = \"echo\"\n", "").contains("missing field `name`"));
    // A manifest whose JSON no device would read (found by fuzzing): it
    // cannot be signed either.
    let programs: Vec<String> = (0..66)
        .map(|i| format!("\"/usr/bin/p{i:03}{}\"", "x".repeat(1000)))
        .collect();
    let huge = with(
        r#"["/usr/bin/systemctl"]"#,
        &format!("[{}]", programs.join(", ")),
    );
    assert!(huge.contains("65536"), "{huge}");

    // Access defaults to read-only; capabilities default to nothing.
    let m = manifest();
    assert_eq!(m.capabilities.dirs[1].access, Access::Ro);
    let bare = Manifest::from_toml(
        "name = \"x\"\nversion = \"0.1.0\"\noperations = [\"x\"]\nwit = \"jobhost:plugin/operation-plugin@0.1.0\"\n",
    )
    .unwrap();
    assert_eq!(bare.capabilities, Capabilities::default());

    // JSON round trip; unknown JSON fields are refused too.
    assert_eq!(Manifest::from_json(&m.to_json()).unwrap(), m);
    let mut json: serde_json::Value = serde_json::from_slice(&m.to_json()).unwrap();
    json["capabilities"]["extra"] = true.into();
    let e = Manifest::from_json(json.to_string().as_bytes()).unwrap_err();
    assert!(e.to_string().contains("unknown field `extra`"), "{e}");
}

#[test]
fn host_wit_matches_the_repository_wit() {
    let wit = include_str!("../../../../wit/operation.wit");
    let (package, world) = HOST_WIT.split_once('/').unwrap();
    let (world, version) = world.split_once('@').unwrap();
    let package = format!("package {}@{version};", package);
    assert!(
        wit.contains(&package),
        "wit/operation.wit declares {package}"
    );
    assert!(wit.contains(&format!("world {world} {{")));
}

#[test]
fn the_embedded_json_is_the_same_bytes_for_the_same_toml() {
    // Signing the same TOML again gives the same manifest section: the key
    // order, and which keys are left out when they ask for nothing, are
    // part of the format (docs/plugin-format.md).
    let every = Manifest::from_toml(&format!(
        "{MANIFEST}reboot = true\ncertificates = \"rw\"\ndiagnostics = true\nupload = true\n"
    ))
    .unwrap();
    let bare = Manifest::from_toml(
        "name = \"x\"\nversion = \"0.1.0\"\noperations = [\"x\"]\nwit = \"jobhost:plugin/operation-plugin@0.1.0\"\n",
    )
    .unwrap();
    let every_json = r#"{"name":"echo","version":"1.2.3","operations":["echo","echo.v2"],"capabilities":{"dirs":[{"path":"/data","access":"rw"},{"path":"/etc/ssl","access":"ro"}],"download":true,"run_command":["/usr/bin/systemctl"],"reboot":true,"certificates":"rw","diagnostics":true,"upload":true},"wit":"jobhost:plugin/operation-plugin@0.1.0"}"#;
    let bare_json = r#"{"name":"x","version":"0.1.0","operations":["x"],"capabilities":{"dirs":[],"download":false,"run_command":[],"reboot":false},"wit":"jobhost:plugin/operation-plugin@0.1.0"}"#;
    for (m, json) in [(&every, every_json), (&bare, bare_json)] {
        assert_eq!(String::from_utf8(m.to_json()).unwrap(), json);
        assert_eq!(&Manifest::from_json(json.as_bytes()).unwrap(), m);
    }
}
