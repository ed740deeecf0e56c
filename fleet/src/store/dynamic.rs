//! Dynamic thing groups (<https://docs.aws.amazon.com/iot/latest/developerguide/dynamic-thing-groups.html>):
//! CreateDynamicThingGroup, UpdateDynamicThingGroup and
//! DeleteDynamicThingGroup, and the membership their queries
//! ([`crate::query`]) give them.
//!
//! Membership is kept, not computed on read: a thing's dynamic groups are
//! re-evaluated whenever something a query can see changes (the thing is
//! created, its attributes are updated, it connects or disconnects), and
//! every thing is re-evaluated when a dynamic group is created or its query
//! changes. It is exact at every commit, so such a group is always
//! `ACTIVE` (AWS: `BUILDING` / `REBUILDING` while it catches up).
//!
//! At the [`MAX_GROUPS_PER_THING`] limit, static groups come first and
//! older dynamic groups before newer ones, as AWS decides; a thing a
//! group's query matches but that has no place left is not a member, and
//! the service logs it (AWS logs an error and counts a metric).

use super::events::Effects;
use super::registry::{
    check_name, count, group_for_change, insert_group, load_group, load_thing, memberships,
    new_properties, require_group, thing_from_row, update_properties, GroupProperties, Thing,
    ThingGroup, MAX_DYNAMIC_GROUPS, MAX_GROUPS_PER_THING, THING_COLUMNS,
};
use super::targets::reconcile;
use super::types::Changes;
use super::{Store, StoreError};
use crate::query::Query;
use rusqlite::{params, Connection};
use std::collections::BTreeSet;

impl Store {
    /// CreateDynamicThingGroup: checks `query`, creates the group and adds
    /// the things it matches. Creating a group that exists with the same
    /// query and properties succeeds and changes nothing. Returns the group
    /// and the things to notify.
    pub fn create_dynamic_thing_group(
        &mut self,
        name: &str,
        props: &GroupProperties,
        query: &str,
        now: i64,
    ) -> Result<(ThingGroup, Changes), StoreError> {
        check_name("thing group name", name)?;
        parse(query)?;
        let (description, attributes) = new_properties(props)?;
        let tx = self.write_tx()?;
        if let Some(existing) = load_group(&tx, name)? {
            let same = existing.query_string.as_deref() == Some(query)
                && existing.description == description
                && existing.attributes == attributes;
            if same {
                return Ok((existing, Changes::none()));
            }
            return Err(StoreError::AlreadyExists(format!(
                "thing group {name} exists with another query or other properties"
            )));
        }
        let dynamic = count(
            &tx,
            "SELECT COUNT(*) FROM thing_groups WHERE query_string IS NOT NULL",
            [],
        )?;
        if dynamic >= MAX_DYNAMIC_GROUPS {
            return Err(StoreError::LimitExceeded(format!(
                "there are {MAX_DYNAMIC_GROUPS} dynamic thing groups already, the most allowed"
            )));
        }
        insert_group(
            &tx,
            name,
            None,
            description.as_deref(),
            &attributes,
            Some(query),
            now,
        )?;
        let mut effects = Effects::default();
        refresh_all(&tx, now, &mut effects)?;
        let group = require_group(&tx, name)?;
        tx.commit()?;
        Ok((group, self.after_commit(effects)))
    }

    /// UpdateDynamicThingGroup: properties, and the query if given (then
    /// every thing is re-evaluated). Returns the new version and the things
    /// to notify.
    pub fn update_dynamic_thing_group(
        &mut self,
        name: &str,
        props: &GroupProperties,
        query: Option<&str>,
        expected_version: Option<u64>,
        now: i64,
    ) -> Result<(u64, Changes), StoreError> {
        if let Some(q) = query {
            parse(q)?;
        }
        let tx = self.write_tx()?;
        let group = group_for_change(&tx, name, true, expected_version)?
            .ok_or_else(|| StoreError::NotFound(format!("thing group {name}")))?;
        let version = update_properties(&tx, &group, props)?;
        let mut effects = Effects::default();
        if let Some(q) = query.filter(|q| Some(*q) != group.query_string.as_deref()) {
            tx.execute(
                "UPDATE thing_groups SET query_string = ?2 WHERE group_name = ?1",
                params![name, q],
            )?;
            refresh_all(&tx, now, &mut effects)?;
        }
        tx.commit()?;
        Ok((version, self.after_commit(effects)))
    }

    /// DeleteDynamicThingGroup. Deleting a group that does not exist
    /// succeeds, as in AWS. Its things leave it (and may take the place it
    /// held in a newer dynamic group).
    pub fn delete_dynamic_thing_group(
        &mut self,
        name: &str,
        expected_version: Option<u64>,
        now: i64,
    ) -> Result<Changes, StoreError> {
        let tx = self.write_tx()?;
        if group_for_change(&tx, name, true, expected_version)?.is_none() {
            return Ok(Changes::none());
        }
        let members: Vec<String> = {
            let mut stmt = tx.prepare_cached(
                "SELECT thing_name FROM thing_group_members WHERE group_name = ?1",
            )?;
            let rows = stmt.query_map([name], |r| r.get(0))?;
            rows.collect::<Result<_, _>>()?
        };
        tx.execute("DELETE FROM thing_groups WHERE group_name = ?1", [name])?;
        let mut effects = Effects::default();
        things_changed(&tx, &members, now, &mut effects)?;
        tx.commit()?;
        Ok(self.after_commit(effects))
    }
}

/// Checks a query string, as InvalidQuery.
fn parse(query: &str) -> Result<Query, StoreError> {
    Query::parse(query).map_err(|e| StoreError::InvalidQuery(e.0))
}

/// Every dynamic group with its parsed query, oldest first.
fn dynamic_groups(conn: &Connection) -> Result<Vec<(String, Query)>, StoreError> {
    let mut stmt = conn.prepare_cached(
        "SELECT group_name, query_string FROM thing_groups WHERE query_string IS NOT NULL \
         ORDER BY seq",
    )?;
    let rows = stmt.query_map([], |r| Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?)))?;
    let mut out = Vec::new();
    for row in rows {
        let (name, text) = row?;
        match Query::parse(&text) {
            Ok(q) => out.push((name, q)),
            // Checked when stored; a query this build no longer reads
            // matches nothing rather than stopping every change.
            Err(e) => tracing::error!(group = %name, "stored query no longer parses: {e}"),
        }
    }
    Ok(out)
}

/// Makes `thing`'s dynamic memberships those its facts earn, within the
/// places its static groups leave. Returns whether any changed.
fn refresh(
    conn: &Connection,
    thing: &Thing,
    groups: &[(String, Query)],
) -> Result<bool, StoreError> {
    let mut statics = 0usize;
    let mut current = BTreeSet::new();
    for (group, dynamic) in memberships(conn, &thing.thing_name)? {
        if dynamic {
            current.insert(group);
        } else {
            statics += 1;
        }
    }
    let places = MAX_GROUPS_PER_THING.saturating_sub(statics);
    let facts = thing.facts();
    let matched: Vec<&String> = groups
        .iter()
        .filter(|(_, q)| q.matches(&facts))
        .map(|(name, _)| name)
        .collect();
    for left_out in matched.iter().skip(places) {
        tracing::warn!(
            thing = %thing.thing_name,
            group = %left_out,
            "the thing matches the dynamic thing group's query but is in {MAX_GROUPS_PER_THING} \
             thing groups already; not added"
        );
    }
    let wanted: BTreeSet<String> = matched.into_iter().take(places).cloned().collect();
    if wanted == current {
        return Ok(false);
    }
    for gone in current.difference(&wanted) {
        conn.execute(
            "DELETE FROM thing_group_members WHERE group_name = ?1 AND thing_name = ?2",
            params![gone, thing.thing_name],
        )?;
    }
    for joined in wanted.difference(&current) {
        conn.execute(
            "INSERT INTO thing_group_members (group_name, thing_name) VALUES (?1, ?2)",
            params![joined, thing.thing_name],
        )?;
    }
    Ok(true)
}

/// Something a query can see changed about `thing` (or its static groups
/// did): its dynamic groups are re-evaluated, then the continuous jobs its
/// groups reach.
pub(crate) fn thing_changed(
    conn: &Connection,
    thing: &str,
    now: i64,
    effects: &mut Effects,
) -> Result<(), StoreError> {
    if let Some(t) = load_thing(conn, thing)? {
        refresh(conn, &t, &dynamic_groups(conn)?)?;
    }
    reconcile(conn, [&thing.to_owned()], now, effects)
}

/// [`thing_changed`] for each of `things`.
pub(crate) fn things_changed(
    conn: &Connection,
    things: &[String],
    now: i64,
    effects: &mut Effects,
) -> Result<(), StoreError> {
    for thing in things {
        thing_changed(conn, thing, now, effects)?;
    }
    Ok(())
}

/// Re-evaluates every thing (a dynamic group was created or its query
/// changed), then the continuous jobs of those whose groups changed.
fn refresh_all(conn: &Connection, now: i64, effects: &mut Effects) -> Result<(), StoreError> {
    let groups = dynamic_groups(conn)?;
    let things: Vec<Thing> = {
        let mut stmt = conn.prepare_cached(&format!("SELECT {THING_COLUMNS} FROM things t"))?;
        let rows = stmt.query_map([], thing_from_row)?;
        rows.collect::<Result<_, _>>()?
    };
    let mut changed = Vec::new();
    for thing in &things {
        if refresh(conn, thing, &groups)? {
            changed.push(thing.thing_name.clone());
        }
    }
    reconcile(conn, &changed, now, effects)
}
