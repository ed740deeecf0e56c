//! `jobhost-fleet group ...`: thing groups through AWS's operations:
//! CreateThingGroup, CreateDynamicThingGroup, ListThingGroups,
//! DescribeThingGroup, AddThingToThingGroup, RemoveThingFromThingGroup,
//! ListThingsInThingGroup, DeleteThingGroup and DeleteDynamicThingGroup.

use super::client::{segment, Client};
use super::pages;
use super::table::render;
use super::thing;
use anyhow::Result;
use clap::Subcommand;
use reqwest::Method;
use serde_json::{json, Value};

/// The group subcommands.
#[derive(Debug, Subcommand)]
pub enum GroupCommand {
    /// Create a static thing group, whose members are added by hand.
    #[command(after_help = "\
Examples:
  jobhost-fleet group create Fleet --description 'every device'
  jobhost-fleet group create Berlin --parent Fleet")]
    Create {
        /// The group name: 1-128 characters of [a-zA-Z0-9:_-].
        name: String,
        /// The parent group (a hierarchy is at most 7 deep).
        #[arg(long, value_name = "NAME")]
        parent: Option<String>,
        /// Free text for operators.
        #[arg(long, value_name = "TEXT")]
        description: Option<String>,
    },
    /// Create a dynamic thing group: its members are the things its fleet
    /// indexing query matches, kept up to date as things change.
    #[command(after_help = "\
Examples:
  jobhost-fleet group create-dynamic Gateways --query 'attributes.model:gw-*'
  jobhost-fleet group create-dynamic Online --query 'connectivity.connected:true'
  jobhost-fleet group create-dynamic OldGateways --query 'attributes.model:gw2 AND attributes.fw<3'")]
    CreateDynamic {
        /// The group name.
        name: String,
        /// The query (a subset of AWS fleet indexing's; docs/fleet.md
        /// lists it).
        #[arg(long, value_name = "QUERY")]
        query: String,
        /// Free text for operators.
        #[arg(long, value_name = "TEXT")]
        description: Option<String>,
    },
    /// List every thing group: name, static or dynamic, parent, query.
    List,
    /// Print a thing group as JSON (DescribeThingGroup).
    Describe {
        /// The group.
        name: String,
    },
    /// Add things to a static group.
    #[command(after_help = "\
Example:
  jobhost-fleet group add Berlin gw-17 gw-18")]
    Add {
        /// The group.
        name: String,
        /// The things.
        #[arg(required = true, value_name = "THING")]
        things: Vec<String>,
        /// At the 10-groups-per-thing limit, make the thing leave its
        /// newest dynamic group for this one.
        #[arg(long)]
        override_dynamic_groups: bool,
    },
    /// Remove things from a static group.
    Remove {
        /// The group.
        name: String,
        /// The things.
        #[arg(required = true, value_name = "THING")]
        things: Vec<String>,
    },
    /// Print the names of a group's things, one a line.
    Members {
        /// The group.
        name: String,
        /// Also the things in its descendant groups.
        #[arg(long)]
        recursive: bool,
    },
    /// Delete a thing group, static or dynamic (its things stay).
    Delete {
        /// The group.
        name: String,
    },
}

/// Runs one group subcommand.
pub async fn run(client: &Client, command: GroupCommand) -> Result<()> {
    match command {
        GroupCommand::Create {
            name,
            parent,
            description,
        } => {
            let mut body = json!({ "thingGroupProperties": properties(description) });
            if let Some(p) = parent {
                body["parentGroupName"] = p.into();
            }
            let path = format!("/thing-groups/{}", segment(&name));
            client
                .send(client.request(Method::POST, &path).json(&body))
                .await?;
            println!("thing group {name} created");
        }
        GroupCommand::CreateDynamic {
            name,
            query,
            description,
        } => {
            let body = json!({
                "queryString": query,
                "thingGroupProperties": properties(description),
            });
            let path = format!("/dynamic-thing-groups/{}", segment(&name));
            client
                .send(client.request(Method::POST, &path).json(&body))
                .await?;
            println!("dynamic thing group {name} created");
        }
        GroupCommand::List => list(client).await?,
        GroupCommand::Describe { name } => {
            let group = describe(client, &name).await?;
            println!("{}", serde_json::to_string_pretty(&group)?);
        }
        GroupCommand::Add {
            name,
            things,
            override_dynamic_groups,
        } => {
            let extra = override_dynamic_groups.then(|| json!({ "overrideDynamicGroups": true }));
            let op = ("addThingToThingGroup", "added to");
            change_members(client, op, &name, &things, extra).await?;
        }
        GroupCommand::Remove { name, things } => {
            let op = ("removeThingFromThingGroup", "removed from");
            change_members(client, op, &name, &things, None).await?;
        }
        GroupCommand::Members { name, recursive } => {
            for thing in thing::members(client, &name, recursive).await? {
                println!("{thing}");
            }
        }
        GroupCommand::Delete { name } => {
            // A dynamic group has its own delete operation; asking first
            // also makes a mistyped name an error rather than AWS's silent
            // success.
            let group = describe(client, &name).await?;
            let kind = if group.get("queryString").is_some() {
                "dynamic-thing-groups"
            } else {
                "thing-groups"
            };
            let path = format!("/{kind}/{}", segment(&name));
            client.send(client.request(Method::DELETE, &path)).await?;
            println!("thing group {name} deleted");
        }
    }
    Ok(())
}

/// AddThingToThingGroup or RemoveThingFromThingGroup (`op`: the route
/// and the verb printed), one thing at a time; the first refusal stops
/// the rest, the things before it having been printed.
async fn change_members(
    client: &Client,
    (route, done): (&str, &str),
    group: &str,
    things: &[String],
    extra: Option<Value>,
) -> Result<()> {
    for thing in things {
        let mut body = json!({ "thingGroupName": group, "thingName": thing });
        if let (Some(Value::Object(extra)), Value::Object(body)) = (&extra, &mut body) {
            body.extend(extra.clone());
        }
        let rb = client
            .request(Method::PUT, &format!("/thing-groups/{route}"))
            .json(&body);
        client.send(rb).await?;
        println!("{thing} {done} {group}");
    }
    Ok(())
}

/// `thingGroupProperties`.
fn properties(description: Option<String>) -> Value {
    match description {
        Some(d) => json!({ "thingGroupDescription": d }),
        None => json!({}),
    }
}

/// DescribeThingGroup.
async fn describe(client: &Client, name: &str) -> Result<Value> {
    let path = format!("/thing-groups/{}", segment(name));
    client.json(client.request(Method::GET, &path)).await
}

/// `group list`: ListThingGroups for the names, DescribeThingGroup for
/// what each is.
async fn list(client: &Client) -> Result<()> {
    let groups = pages::all(client, "/thing-groups", &[], "thingGroups").await?;
    let mut rows = Vec::with_capacity(groups.len());
    for g in &groups {
        let name = g["groupName"].as_str().unwrap_or_default();
        let group = describe(client, name).await?;
        let text = |v: &Value| v.as_str().unwrap_or("-").to_owned();
        let query = &group["queryString"];
        rows.push(vec![
            name.to_owned(),
            if query.is_string() {
                "dynamic"
            } else {
                "static"
            }
            .to_owned(),
            text(&group["thingGroupMetadata"]["parentGroupName"]),
            text(query),
        ]);
    }
    print!("{}", render(&["GROUP", "TYPE", "PARENT", "QUERY"], &rows));
    Ok(())
}
