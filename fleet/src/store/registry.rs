//! What the thing registry and thing groups share: their records, AWS's
//! limits and naming rules (`ThingName`, `AttributeName`, `AttributeValue`
//! and `ThingGroupDescription` in the `iot` API model), attribute payloads,
//! ids and pages of list results.

use super::lists::PageRequest;
use super::StoreError;
use crate::query::Facts;
use jobhost_protocol::topics::is_valid_thing_name;
use rusqlite::{params, Connection, OptionalExtension, Row};
use std::collections::BTreeMap;

/// Attributes per thing or thing group. AWS allows 50 on a thing group, and
/// on a thing that has a thing type (3 on one without); thing types do not
/// exist here, so every thing gets the 50
/// (<https://docs.aws.amazon.com/general/latest/gr/iot_device_management.html>).
pub const MAX_ATTRIBUTES: usize = 50;

/// Thing groups a thing can be in, static and dynamic together (AWS: 10).
pub const MAX_GROUPS_PER_THING: usize = 10;

/// Levels of a static group hierarchy, the root counting as one (AWS: 7).
pub const MAX_GROUP_DEPTH: usize = 7;

/// Direct child groups of one thing group (AWS: 100).
pub const MAX_CHILD_GROUPS: usize = 100;

/// Dynamic thing groups in the account (AWS's default quota: 100).
pub const MAX_DYNAMIC_GROUPS: usize = 100;

/// AWS's `RegistryMaxResults`: 1-250 per page.
const MAX_PAGE: u32 = 250;

/// `AttributeName`: at most 128 characters.
const ATTRIBUTE_NAME_MAX: usize = 128;

/// `AttributeValue`: at most 800 characters.
const ATTRIBUTE_VALUE_MAX: usize = 800;

/// `ThingGroupDescription`: at most 2028 characters.
const DESCRIPTION_MAX: usize = 2028;

/// A thing's connectivity as the embedded broker last reported it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Connectivity {
    /// Whether a session with its client id is open.
    pub connected: bool,
    /// When it last connected or disconnected (ms since the epoch); None
    /// if the broker never saw it.
    pub timestamp_ms: Option<i64>,
    /// Why its last session ended, in AWS's `DisconnectReasonValue` terms.
    pub disconnect_reason: Option<String>,
}

/// A registered thing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Thing {
    /// The name: its MQTT client id.
    pub thing_name: String,
    /// A UUID, new for every creation of the name.
    pub thing_id: String,
    /// Registry attributes.
    pub attributes: BTreeMap<String, String>,
    /// 1 at creation, +1 per UpdateThing.
    pub version: u64,
    /// When it was created (epoch seconds).
    pub created_at: i64,
    /// Connectivity.
    pub connectivity: Connectivity,
}

impl Thing {
    /// What a dynamic group's query sees of it.
    pub(crate) fn facts(&self) -> Facts<'_> {
        Facts {
            thing_name: &self.thing_name,
            thing_id: &self.thing_id,
            attributes: &self.attributes,
            connected: self.connectivity.connected,
            connectivity_timestamp: self.connectivity.timestamp_ms,
            disconnect_reason: self.connectivity.disconnect_reason.as_deref(),
        }
    }
}

/// A thing group, static or dynamic.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ThingGroup {
    /// The name.
    pub group_name: String,
    /// A UUID.
    pub group_id: String,
    /// Its parent (static groups only).
    pub parent: Option<String>,
    /// Its ancestors, the root first and the parent last.
    pub ancestors: Vec<String>,
    /// `thingGroupDescription`.
    pub description: Option<String>,
    /// Group attributes.
    pub attributes: BTreeMap<String, String>,
    /// 1 at creation, +1 per update.
    pub version: u64,
    /// When it was created (epoch seconds).
    pub created_at: i64,
    /// The query of a dynamic group; None for a static one.
    pub query_string: Option<String>,
}

/// AWS's `AttributePayload`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AttributePayload {
    /// The attributes; an empty value removes the attribute.
    pub attributes: BTreeMap<String, String>,
    /// Merge into the stored attributes instead of replacing them (updates
    /// only; AWS ignores it elsewhere).
    pub merge: bool,
}

impl AttributePayload {
    /// The attributes after applying this payload to `current`, checked.
    pub(crate) fn apply(
        &self,
        current: &BTreeMap<String, String>,
    ) -> Result<BTreeMap<String, String>, StoreError> {
        let mut out = if self.merge {
            current.clone()
        } else {
            BTreeMap::new()
        };
        for (name, value) in &self.attributes {
            check_attribute(name, value)?;
            if value.is_empty() {
                out.remove(name);
            } else {
                out.insert(name.clone(), value.clone());
            }
        }
        if out.len() > MAX_ATTRIBUTES {
            return Err(StoreError::InvalidRequest(format!(
                "{} attributes: at most {MAX_ATTRIBUTES} are allowed",
                out.len()
            )));
        }
        Ok(out)
    }
}

/// AWS's `ThingGroupProperties`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct GroupProperties {
    /// `thingGroupDescription`; on update, replaces the stored one (an
    /// empty one removes it).
    pub description: Option<String>,
    /// `attributePayload`.
    pub attribute_payload: Option<AttributePayload>,
}

/// A registry list's `maxResults` and `nextToken` as a [`PageRequest`]
/// keyed by name: `maxResults` 1-250, 250 when absent (AWS's
/// `RegistryMaxResults`), and a `nextToken` that is one this service
/// issued, the last name of the previous page. Registry lists are in name
/// order, so a name is a position that stays right while items are added.
pub fn name_page(
    max_results: Option<u32>,
    next_token: Option<String>,
) -> Result<PageRequest<String>, StoreError> {
    let max_results = max_results.unwrap_or(MAX_PAGE);
    if !(1..=MAX_PAGE).contains(&max_results) {
        return Err(StoreError::InvalidRequest(format!(
            "maxResults {max_results} is outside 1-{MAX_PAGE}"
        )));
    }
    if let Some(t) = &next_token {
        if !is_valid_thing_name(t) {
            return Err(StoreError::InvalidRequest(format!(
                "nextToken {t:?} is not one this service issued"
            )));
        }
    }
    Ok(PageRequest {
        after: next_token,
        limit: usize::try_from(max_results).ok(),
    })
}

/// Names sort after this one (`''` sorts before every name).
pub(crate) fn after(page: &PageRequest<String>) -> &str {
    page.after.as_deref().unwrap_or("")
}

/// ListThings filters.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ThingFilter {
    /// Only things with this attribute.
    pub attribute_name: Option<String>,
    /// …with this value (needs `attribute_name`).
    pub attribute_value: Option<String>,
    /// `attribute_value` is a prefix (`usePrefixAttributeValue`).
    pub use_prefix: bool,
}

/// ListThingGroups filters.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct GroupFilter {
    /// Only children of this group.
    pub parent_group: Option<String>,
    /// Only names starting with this.
    pub name_prefix: Option<String>,
    /// With `parent_group`: all descendants, not only children. Without:
    /// `Some(false)` lists root groups only.
    pub recursive: Option<bool>,
}

/// `ThingName` and `ThingGroupName` share a rule: 1-128 of `[a-zA-Z0-9:_-]`.
pub(crate) fn check_name(kind: &str, name: &str) -> Result<(), StoreError> {
    if is_valid_thing_name(name) {
        Ok(())
    } else {
        Err(StoreError::InvalidRequest(format!(
            "{kind} {name:?} must be 1-128 characters of [a-zA-Z0-9:_-]"
        )))
    }
}

fn check_attribute(name: &str, value: &str) -> Result<(), StoreError> {
    let name_ok = !name.is_empty()
        && name.chars().count() <= ATTRIBUTE_NAME_MAX
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "_.,@/:#-".contains(c));
    if !name_ok {
        return Err(StoreError::InvalidRequest(format!(
            "attribute name {name:?} must be 1-{ATTRIBUTE_NAME_MAX} characters of \
             [a-zA-Z0-9_.,@/:#-]"
        )));
    }
    let value_ok = value.chars().count() <= ATTRIBUTE_VALUE_MAX
        && value
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "_.,@/:#=[]-".contains(c));
    if !value_ok {
        return Err(StoreError::InvalidRequest(format!(
            "the value of attribute {name:?} must be at most {ATTRIBUTE_VALUE_MAX} characters \
             of [a-zA-Z0-9_.,@/:#=[]-]"
        )));
    }
    Ok(())
}

/// `ThingGroupDescription`: at most 2028 printable characters or spaces.
pub(crate) fn check_description(text: &str) -> Result<(), StoreError> {
    if text.chars().count() > DESCRIPTION_MAX || text.chars().any(|c| c.is_control()) {
        return Err(StoreError::InvalidRequest(format!(
            "thingGroupDescription must be at most {DESCRIPTION_MAX} characters, none of them \
             control characters"
        )));
    }
    Ok(())
}

/// A fresh random (version 4) UUID, from SQLite's randomness.
pub(crate) fn new_id(conn: &Connection) -> Result<String, StoreError> {
    Ok(conn.query_row(
        "SELECT lower(hex(randomblob(4))) || '-' || lower(hex(randomblob(2))) || '-4' || \
         substr(lower(hex(randomblob(2))), 2) || '-' || \
         substr('89ab', 1 + (abs(random()) % 4), 1) || substr(lower(hex(randomblob(2))), 2) || \
         '-' || lower(hex(randomblob(6)))",
        [],
        |r| r.get(0),
    )?)
}

/// The columns [`thing_from_row`] reads, for `FROM things t`.
pub(crate) const THING_COLUMNS: &str = "t.thing_name, t.thing_id, t.attributes, t.version, \
    t.created_at, t.connected, t.connectivity_ms, t.disconnect_reason";

/// Reads a row selected with [`THING_COLUMNS`].
pub(crate) fn thing_from_row(r: &Row<'_>) -> rusqlite::Result<Thing> {
    let version: i64 = r.get(3)?;
    Ok(Thing {
        thing_name: r.get(0)?,
        thing_id: r.get(1)?,
        attributes: json_col(r, 2)?,
        version: u64::try_from(version).unwrap_or(0),
        created_at: r.get(4)?,
        connectivity: Connectivity {
            connected: r.get(5)?,
            timestamp_ms: r.get(6)?,
            disconnect_reason: r.get(7)?,
        },
    })
}

/// Reads a JSON object of strings.
pub(crate) fn json_col(r: &Row<'_>, idx: usize) -> rusqlite::Result<BTreeMap<String, String>> {
    let text: String = r.get(idx)?;
    serde_json::from_str(&text).map_err(|e| {
        rusqlite::Error::FromSqlConversionFailure(idx, rusqlite::types::Type::Text, Box::new(e))
    })
}

/// The thing called `name`, if registered.
pub(crate) fn load_thing(conn: &Connection, name: &str) -> Result<Option<Thing>, StoreError> {
    Ok(conn
        .prepare_cached(&format!(
            "SELECT {THING_COLUMNS} FROM things t WHERE t.thing_name = ?1"
        ))?
        .query_row([name], thing_from_row)
        .optional()?)
}

/// The thing called `name`, or NotFound.
pub(crate) fn require_thing(conn: &Connection, name: &str) -> Result<Thing, StoreError> {
    load_thing(conn, name)?.ok_or_else(|| StoreError::NotFound(format!("thing {name}")))
}

/// The columns [`group_from_row`] reads, for `FROM thing_groups g`.
pub(crate) const GROUP_COLUMNS: &str = "g.group_name, g.group_id, g.parent_name, \
    g.description, g.attributes, g.version, g.created_at, g.query_string";

/// Reads a row selected with [`GROUP_COLUMNS`]; `ancestors` is left empty.
pub(crate) fn group_from_row(r: &Row<'_>) -> rusqlite::Result<ThingGroup> {
    let version: i64 = r.get(5)?;
    Ok(ThingGroup {
        group_name: r.get(0)?,
        group_id: r.get(1)?,
        parent: r.get(2)?,
        ancestors: Vec::new(),
        description: r.get(3)?,
        attributes: json_col(r, 4)?,
        version: u64::try_from(version).unwrap_or(0),
        created_at: r.get(6)?,
        query_string: r.get(7)?,
    })
}

/// The group called `name` with its ancestors, if it exists.
pub(crate) fn load_group(conn: &Connection, name: &str) -> Result<Option<ThingGroup>, StoreError> {
    let Some(mut group) = conn
        .prepare_cached(&format!(
            "SELECT {GROUP_COLUMNS} FROM thing_groups g WHERE g.group_name = ?1"
        ))?
        .query_row([name], group_from_row)
        .optional()?
    else {
        return Ok(None);
    };
    group.ancestors = ancestors(conn, name)?;
    Ok(Some(group))
}

/// The group called `name`, or NotFound.
pub(crate) fn require_group(conn: &Connection, name: &str) -> Result<ThingGroup, StoreError> {
    load_group(conn, name)?.ok_or_else(|| StoreError::NotFound(format!("thing group {name}")))
}

/// The ancestors of group `name`, the root first.
pub(crate) fn ancestors(conn: &Connection, name: &str) -> Result<Vec<String>, StoreError> {
    let mut stmt = conn.prepare_cached(
        "WITH RECURSIVE up(name, parent, depth) AS ( \
             SELECT group_name, parent_name, 0 FROM thing_groups WHERE group_name = ?1 \
             UNION ALL \
             SELECT g.group_name, g.parent_name, up.depth + 1 \
                 FROM thing_groups g JOIN up ON g.group_name = up.parent) \
         SELECT name FROM up WHERE depth > 0 ORDER BY depth DESC",
    )?;
    let rows = stmt.query_map([name], |r| r.get(0))?;
    Ok(rows.collect::<Result<Vec<String>, _>>()?)
}

/// Whether `expected` (an `expectedVersion`) matches `version`; a
/// mismatch is a VersionConflict naming `what`.
pub(crate) fn check_version(
    what: &str,
    expected: Option<u64>,
    version: u64,
) -> Result<(), StoreError> {
    match expected {
        Some(e) if e != version => Err(StoreError::VersionConflict(format!(
            "expectedVersion {e} does not match the version of {what}, {version}"
        ))),
        _ => Ok(()),
    }
}

/// The groups `thing` is directly in, each with whether it is dynamic.
pub(crate) fn memberships(
    conn: &Connection,
    thing: &str,
) -> Result<BTreeMap<String, bool>, StoreError> {
    let mut stmt = conn.prepare_cached(
        "SELECT g.group_name, g.query_string IS NOT NULL FROM thing_group_members m \
         JOIN thing_groups g ON g.group_name = m.group_name WHERE m.thing_name = ?1",
    )?;
    let rows = stmt.query_map([thing], |r| Ok((r.get(0)?, r.get(1)?)))?;
    Ok(rows.collect::<Result<_, _>>()?)
}

/// The description and attributes of a new group, checked.
pub(crate) fn new_properties(
    props: &GroupProperties,
) -> Result<(Option<String>, BTreeMap<String, String>), StoreError> {
    if let Some(d) = &props.description {
        check_description(d)?;
    }
    let attributes = match &props.attribute_payload {
        Some(p) => AttributePayload {
            attributes: p.attributes.clone(),
            merge: false,
        }
        .apply(&BTreeMap::new())?,
        None => BTreeMap::new(),
    };
    let description = props.description.clone().filter(|d| !d.is_empty());
    Ok((description, attributes))
}

/// Inserts a group, version 1, with a fresh id; `query` makes it dynamic.
pub(crate) fn insert_group(
    conn: &Connection,
    name: &str,
    parent: Option<&str>,
    description: Option<&str>,
    attributes: &BTreeMap<String, String>,
    query: Option<&str>,
    now: i64,
) -> Result<(), StoreError> {
    let id = new_id(conn)?;
    conn.execute(
        "INSERT INTO thing_groups (group_name, group_id, parent_name, description, attributes, \
         version, created_at, query_string) VALUES (?1, ?2, ?3, ?4, ?5, 1, ?6, ?7)",
        params![
            name,
            id,
            parent,
            description,
            serde_json::to_string(attributes)?,
            now,
            query
        ],
    )?;
    Ok(())
}

/// Applies UpdateThingGroup's (or UpdateDynamicThingGroup's) properties:
/// a given description replaces the stored one (empty removes it), a given
/// attribute payload is applied; version + 1, returned.
pub(crate) fn update_properties(
    conn: &Connection,
    group: &ThingGroup,
    props: &GroupProperties,
) -> Result<u64, StoreError> {
    let description = match &props.description {
        Some(d) => {
            check_description(d)?;
            Some(d.clone()).filter(|d| !d.is_empty())
        }
        None => group.description.clone(),
    };
    let attributes = match &props.attribute_payload {
        Some(p) => p.apply(&group.attributes)?,
        None => group.attributes.clone(),
    };
    conn.execute(
        "UPDATE thing_groups SET description = ?2, attributes = ?3, version = version + 1 \
         WHERE group_name = ?1",
        params![
            group.group_name,
            description,
            serde_json::to_string(&attributes)?
        ],
    )?;
    Ok(group.version + 1)
}

/// The group `name`, for UpdateThingGroup / DeleteThingGroup (`dynamic`
/// false) or their dynamic-group twins (`dynamic` true): a group of the
/// other kind is refused, naming the calls for it, and a stale
/// `expected_version` is a VersionConflict. None if there is no such group.
pub(crate) fn group_for_change(
    conn: &Connection,
    name: &str,
    dynamic: bool,
    expected_version: Option<u64>,
) -> Result<Option<ThingGroup>, StoreError> {
    let Some(group) = load_group(conn, name)? else {
        return Ok(None);
    };
    match (group.query_string.is_some(), dynamic) {
        (true, false) => Err(StoreError::InvalidRequest(format!(
            "{name} is a dynamic thing group: change it with UpdateDynamicThingGroup and \
             DeleteDynamicThingGroup"
        ))),
        (false, true) => Err(StoreError::InvalidRequest(format!(
            "{name} is a static thing group: change it with UpdateThingGroup and DeleteThingGroup"
        ))),
        _ => {
            check_version(
                &format!("thing group {name}"),
                expected_version,
                group.version,
            )?;
            Ok(Some(group))
        }
    }
}

/// `SELECT COUNT(*) …` as a `usize`.
pub(crate) fn count(
    conn: &Connection,
    sql: &str,
    args: impl rusqlite::Params,
) -> Result<usize, StoreError> {
    let n: i64 = conn.prepare_cached(sql)?.query_row(args, |r| r.get(0))?;
    Ok(usize::try_from(n).unwrap_or(usize::MAX))
}
