//! `jobhost-fleet thing ...`: the thing registry through AWS's operations:
//! ListThings (ListThingsInThingGroup with `--group`), DescribeThing with
//! GetThingConnectivityData, CreateThing, UpdateThing and DeleteThing.

use super::client::{segment, Client};
use super::pages;
use super::table::render;
use anyhow::{bail, Result};
use clap::{ArgGroup, Subcommand};
use reqwest::Method;
use serde_json::{json, Value};
use std::collections::{BTreeMap, BTreeSet};

/// The thing subcommands.
#[derive(Debug, Subcommand)]
pub enum ThingCommand {
    /// List things by name: connected or disconnected (as the embedded
    /// broker last saw the device), and attributes.
    #[command(after_help = "\
Examples:
  jobhost-fleet thing list
  jobhost-fleet thing list --group Berlin")]
    List {
        /// Only the things in this thing group.
        #[arg(long, value_name = "NAME")]
        group: Option<String>,
        /// With --group: also the things in its descendant groups.
        #[arg(long, requires = "group")]
        recursive: bool,
    },
    /// Print a thing as JSON (DescribeThing), with `connectivity` as
    /// GetThingConnectivityData reports it (`timestamp` in epoch seconds).
    Describe {
        /// The thing.
        name: String,
    },
    /// Register a thing, with attributes.
    #[command(after_help = "\
Example:
  jobhost-fleet thing create gw-17 --attr model=gw2 --attr fw=1")]
    Create {
        /// The thing name: 1-128 characters of [a-zA-Z0-9:_-].
        name: String,
        /// An attribute, KEY=VALUE; repeatable.
        #[arg(long = "attr", value_name = "KEY=VALUE", value_parser = parse_attr)]
        attrs: Vec<(String, String)>,
    },
    /// Set or remove some of a thing's attributes; the others stay.
    #[command(
        group(ArgGroup::new("change").required(true).multiple(true).args(["attrs", "remove"])),
        after_help = "\
Example:
  jobhost-fleet thing update gw-17 --attr fw=2 --remove-attr beta"
    )]
    Update {
        /// The thing.
        name: String,
        /// Set an attribute, KEY=VALUE; repeatable.
        #[arg(long = "attr", value_name = "KEY=VALUE", value_parser = parse_attr)]
        attrs: Vec<(String, String)>,
        /// Remove an attribute; repeatable.
        #[arg(long = "remove-attr", value_name = "KEY")]
        remove: Vec<String>,
    },
    /// Delete a thing: it leaves its groups, and its QUEUED executions
    /// become REMOVED. Deleting a thing that does not exist succeeds.
    Delete {
        /// The thing.
        name: String,
    },
}

/// Runs one thing subcommand.
pub async fn run(client: &Client, command: ThingCommand) -> Result<()> {
    match command {
        ThingCommand::List { group, recursive } => list(client, group, recursive).await,
        ThingCommand::Describe { name } => describe(client, &name).await,
        ThingCommand::Create { name, attrs } => {
            let attributes = attributes(attrs, &[])?;
            let body = if attributes.is_empty() {
                json!({})
            } else {
                json!({ "attributePayload": { "attributes": attributes } })
            };
            let rb = client
                .request(Method::POST, &format!("/things/{}", segment(&name)))
                .json(&body);
            client.send(rb).await?;
            println!("thing {name} created");
            Ok(())
        }
        ThingCommand::Update {
            name,
            attrs,
            remove,
        } => {
            // Merge: the attributes not named stay; an empty value is
            // UpdateThing's way to remove one.
            let body = json!({
                "attributePayload": { "attributes": attributes(attrs, &remove)?, "merge": true }
            });
            let rb = client
                .request(Method::PATCH, &format!("/things/{}", segment(&name)))
                .json(&body);
            client.send(rb).await?;
            println!("thing {name} updated");
            Ok(())
        }
        ThingCommand::Delete { name } => {
            let rb = client.request(Method::DELETE, &format!("/things/{}", segment(&name)));
            client.send(rb).await?;
            println!("thing {name} deleted");
            Ok(())
        }
    }
}

/// `--attr KEY=VALUE`: split at the first `=`. An empty value would
/// remove the attribute in UpdateThing, so it must be said with
/// `--remove-attr`.
fn parse_attr(text: &str) -> std::result::Result<(String, String), String> {
    match text.split_once('=') {
        Some(("", _)) => Err(format!("{text:?} has no KEY before the =")),
        Some((key, "")) => Err(format!(
            "{text:?} has an empty value: to remove {key}, use --remove-attr {key}"
        )),
        Some((key, value)) => Ok((key.to_owned(), value.to_owned())),
        None => Err(format!("{text:?} is not KEY=VALUE")),
    }
}

/// The attribute map UpdateThing merges: `set` as given, each of `remove`
/// as an empty value. A key named twice is refused rather than one of
/// its values picked.
fn attributes(set: Vec<(String, String)>, remove: &[String]) -> Result<BTreeMap<String, String>> {
    let mut out = BTreeMap::new();
    let removed = remove.iter().map(|k| (k.clone(), String::new()));
    for (key, value) in set.into_iter().chain(removed) {
        if key.is_empty() {
            bail!("--remove-attr needs an attribute name");
        }
        if out.insert(key.clone(), value).is_some() {
            bail!("attribute {key} is given twice");
        }
    }
    Ok(out)
}

/// `thing list`: every thing (ListThings), or a group's members
/// (ListThingsInThingGroup) shown with what ListThings says of them.
async fn list(client: &Client, group: Option<String>, recursive: bool) -> Result<()> {
    let members: Option<BTreeSet<String>> = match &group {
        Some(g) => Some(members(client, g, recursive).await?.into_iter().collect()),
        None => None,
    };
    let things = pages::all(client, "/things", &[], "things").await?;
    let rows: Vec<Vec<String>> = things
        .iter()
        .filter(|t| {
            let name = t["thingName"].as_str().unwrap_or_default();
            members.as_ref().is_none_or(|m| m.contains(name))
        })
        .map(row)
        .collect();
    print!(
        "{}",
        render(&["THING", "CONNECTIVITY", "ATTRIBUTES"], &rows)
    );
    Ok(())
}

/// A ListThings entry as a row: name, connected or disconnected,
/// `key=value` attributes in key order.
fn row(thing: &Value) -> Vec<String> {
    let connected = thing["connectivity"]["connected"]
        .as_bool()
        .unwrap_or(false);
    let attributes: Vec<String> = thing["attributes"]
        .as_object()
        .into_iter()
        .flatten()
        .map(|(k, v)| format!("{k}={}", v.as_str().unwrap_or_default()))
        .collect();
    vec![
        thing["thingName"].as_str().unwrap_or_default().to_owned(),
        if connected {
            "connected"
        } else {
            "disconnected"
        }
        .to_owned(),
        attributes.join(" "),
    ]
}

/// ListThingsInThingGroup, every page: the member names.
pub async fn members(client: &Client, group: &str, recursive: bool) -> Result<Vec<String>> {
    let path = format!("/thing-groups/{}/things", segment(group));
    let recursive = if recursive { "true" } else { "false" };
    let names = pages::all(client, &path, &[("recursive", recursive)], "things").await?;
    Ok(names
        .into_iter()
        .filter_map(|n| n.as_str().map(str::to_owned))
        .collect())
}

/// `thing describe`: DescribeThing, its `connectivity` replaced with
/// GetThingConnectivityData's answer (AWS's shape for it).
async fn describe(client: &Client, name: &str) -> Result<()> {
    let path = format!("/things/{}", segment(name));
    let mut thing: Value = client.json(client.request(Method::GET, &path)).await?;
    let rb = client
        .request(Method::POST, &format!("{path}/connectivity-data"))
        .json(&json!({}));
    let mut connectivity: Value = client.json(rb).await?;
    if let Some(c) = connectivity.as_object_mut() {
        c.remove("thingName");
    }
    thing["connectivity"] = connectivity;
    println!("{}", serde_json::to_string_pretty(&thing)?);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn attributes_split_at_the_first_equals_sign() {
        assert_eq!(parse_attr("url=a=b"), Ok(("url".into(), "a=b".into())));
        assert!(parse_attr("=x").unwrap_err().contains("no KEY"));
        assert!(parse_attr("fw").unwrap_err().contains("not KEY=VALUE"));
        assert!(parse_attr("fw=")
            .unwrap_err()
            .contains("use --remove-attr fw"));
    }

    #[test]
    fn removed_attributes_become_empty_values_and_a_key_may_be_named_once() {
        let map = attributes(vec![("fw".into(), "2".into())], &["beta".into()]).unwrap();
        assert_eq!(
            map,
            BTreeMap::from([("beta".into(), String::new()), ("fw".into(), "2".into())])
        );
        let twice = attributes(
            vec![("fw".into(), "2".into()), ("fw".into(), "3".into())],
            &[],
        );
        assert_eq!(
            twice.unwrap_err().to_string(),
            "attribute fw is given twice"
        );
        let set_and_removed = attributes(vec![("fw".into(), "2".into())], &["fw".into()]);
        assert_eq!(
            set_and_removed.unwrap_err().to_string(),
            "attribute fw is given twice"
        );
    }
}
