//! The registry's list is the one place a capability is registered: each
//! line reaches the WIT world's imports, the linker, the config's grant
//! tables and the manifest, and nothing else does.

use super::*;
use crate::config::{Config, ConfigError, RawConfig};
use crate::runtime::store::HostState;
use crate::runtime::test_support::runtime;
use crate::trust::{Manifest, HOST_WIT};
use std::collections::{BTreeMap, BTreeSet};
use wasmtime::StoreContextMut;

/// `(module, field, manifest key)` of each line of the list, in order.
macro_rules! lines {
    ($($module:ident: $Type:ident => $field:ident, $key:ident;)*) => {
        [$((stringify!($module), stringify!($field), stringify!($key)),)*]
    };
}
const LINES: &[(&str, &str, &str)] = &crate::requests::for_each_capability!(lines);

fn modules() -> Vec<&'static str> {
    LINES.iter().map(|(module, _, _)| *module).collect()
}

/// The WIT contract.
const WIT: &str = include_str!("../../../../wit/operation.wit");

/// The interfaces `wit/operation.wit`'s world imports.
fn world_imports() -> BTreeSet<String> {
    let world = WIT
        .split_once("world operation-plugin {")
        .and_then(|(_, rest)| rest.split_once('}'))
        .map(|(world, _)| world)
        .expect("wit/operation.wit has the world");
    world
        .lines()
        .filter_map(|line| line.trim().strip_prefix("import "))
        .map(|name| name.trim_end_matches(';').to_owned())
        .collect()
}

fn parse(grants: &str) -> Result<Config, ConfigError> {
    let text = format!(
        "thing_name = \"t\"\nstate_dir = \"/s\"\nplugin_dir = \"/p\"\n\
         [broker]\nhost = \"h\"\nport = 1\n[plugins.p]\n{grants}"
    );
    let raw: RawConfig = toml::from_str(&text).map_err(|e| ConfigError::Parse {
        path: "t.toml".into(),
        message: e.to_string(),
    })?;
    Config::from_raw(raw, Path::new("/etc/jobhost"))
}

#[test]
fn the_world_imports_host_and_each_registered_capability() {
    let mut expected: BTreeSet<String> = modules().into_iter().map(String::from).collect();
    assert_eq!(expected.len(), LINES.len(), "a module is listed twice");
    expected.insert("host".into());
    assert_eq!(
        world_imports(),
        expected,
        "every import of the world is `host` or one line of the registry"
    );
}

/// The functions of each interface of `wit/operation.wit`.
fn wit_functions() -> BTreeMap<&'static str, Vec<&'static str>> {
    let mut functions = BTreeMap::new();
    for block in WIT.split("\ninterface ").skip(1) {
        let (name, body) = block.split_once(" {").expect("an interface body");
        let names = body
            .lines()
            .map_while(|line| (!line.starts_with('}')).then_some(line))
            .filter_map(|line| line.trim().split_once(": func("))
            .map(|(function, _)| function)
            .collect();
        functions.insert(name, names);
    }
    functions
}

#[test]
fn each_registered_capability_is_linked() {
    let linker = &runtime().linker;
    let version = HOST_WIT.split_once('@').map(|(_, v)| v).expect("a version");
    let functions = wit_functions();
    // Defining a function again fails exactly when the linker has it.
    let define = |module: &str, function: &str| {
        let mut linker = linker.clone();
        let mut instance = linker
            .instance(&format!("jobhost:plugin/{module}@{version}"))
            .expect("the instance opens");
        instance.func_wrap(
            function,
            |_: StoreContextMut<'_, HostState>, (): ()| -> wasmtime::Result<()> { Ok(()) },
        )
    };
    for module in modules() {
        let wit = &functions[module];
        assert!(!wit.is_empty(), "{module} has functions in the WIT");
        for function in wit {
            assert!(
                define(module, function).is_err(),
                "{module}.{function} is not linked"
            );
        }
        define(module, "not-in-the-wit").expect("the check can fail: a name no one links");
    }
}

#[test]
fn each_registered_capability_reads_its_own_config_keys() {
    assert_eq!(REGISTRY.len(), LINES.len());
    let mut seen: BTreeSet<&str> = raw_table_keys();
    for (entry, (module, _, _)) in REGISTRY.iter().zip(LINES) {
        let keys = (entry.config_keys)();
        assert!(!keys.is_empty(), "{module} has no config key");
        for key in keys {
            assert!(seen.insert(key), "{module}'s key {key} is taken");
            // The capability's config struct reads the key: a value of no
            // key's type is refused there, naming the key.
            let err = parse(&format!("{key} = {{ x = 1 }}\n"))
                .unwrap_err()
                .to_string();
            assert!(
                err.contains(&format!("in `{key}`")),
                "{module}.{key}: {err}"
            );
        }
    }
    let all: Vec<&str> = REGISTRY
        .iter()
        .flat_map(|entry| (entry.config_keys)().iter().copied())
        .collect();
    assert_eq!(RawGrants::keys(), all);

    // Deny by default: a key no capability declares is refused, naming
    // the table and every key it may hold.
    let expected: Vec<String> = ["signer", "limits"]
        .iter()
        .chain(&all)
        .map(|k| format!("`{k}`"))
        .collect();
    let err = parse("dirs = []\nnetwork = true\n")
        .unwrap_err()
        .to_string();
    assert!(
        err.contains(&format!(
            "unknown field `network` in [plugins.p], expected one of {}",
            expected.join(", ")
        )),
        "{err}"
    );
    assert!(err.contains("line 9"), "the error points at the key: {err}");
}

#[test]
fn a_key_no_capability_takes_is_refused_even_past_the_parser() {
    let table = toml::Table::from_iter([("network".to_owned(), toml::Value::Boolean(true))]);
    let err = RawGrants::from_table(table).unwrap_err().to_string();
    assert!(err.contains("`network` is no capability's key"), "{err}");
    let table = toml::Table::from_iter([("allow_http".to_owned(), toml::Value::Boolean(true))]);
    assert!(RawGrants::from_table(table).unwrap().download.allow_http);
}

/// The keys a grant table has besides the capabilities'.
fn raw_table_keys() -> BTreeSet<&'static str> {
    ["signer", "limits"].into()
}

#[test]
fn each_registered_capability_has_its_manifest_key() {
    let head = "name = \"x\"\nversion = \"0.1.0\"\noperations = [\"x\"]\n\
                wit = \"jobhost:plugin/operation-plugin@0.1.0\"\n[capabilities]\n";
    let err = Manifest::from_toml(&format!("{head}network = true\n"))
        .unwrap_err()
        .to_string();
    let keys: Vec<String> = LINES.iter().map(|(_, _, key)| format!("`{key}`")).collect();
    assert!(
        err.contains(&format!(
            "unknown field `network`, expected one of {}",
            keys.join(", ")
        )),
        "{err}"
    );
}
