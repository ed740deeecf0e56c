//! Static thing groups (<https://docs.aws.amazon.com/iot/latest/developerguide/thing-groups.html>):
//! CreateThingGroup (with a parent, for a hierarchy), DescribeThingGroup,
//! ListThingGroups, UpdateThingGroup, DeleteThingGroup, AddThingToThingGroup,
//! RemoveThingFromThingGroup, ListThingsInThingGroup and
//! ListThingGroupsForThing, with AWS's limits: a thing is in at most
//! [`MAX_GROUPS_PER_THING`] groups and in at most one group of a
//! hierarchy; a hierarchy is at most [`MAX_GROUP_DEPTH`] deep; a group with
//! children cannot be deleted; a group's parent is fixed at creation.
//!
//! The group rows and properties are shared with dynamic groups
//! (`super::dynamic`); which operations apply to which kind follows AWS:
//! dynamic groups are created, updated and deleted with their own calls,
//! and their members are not added or removed by hand.

use super::dynamic::{thing_changed, things_changed};
use super::events::Effects;
use super::lists::{Page, PageRequest};
use super::registry::{
    after, ancestors, check_name, count, group_for_change, insert_group, load_group, memberships,
    new_properties, require_group, require_thing, update_properties, GroupFilter, GroupProperties,
    ThingGroup, MAX_CHILD_GROUPS, MAX_GROUPS_PER_THING, MAX_GROUP_DEPTH,
};
use super::targets::members_recursive;
use super::types::Changes;
use super::{Store, StoreError};
use rusqlite::{params, Connection};

impl Store {
    /// CreateThingGroup. Creating a group that exists with the same
    /// parent and properties succeeds and changes nothing; otherwise an
    /// existing name is AlreadyExists.
    pub fn create_thing_group(
        &mut self,
        name: &str,
        parent: Option<&str>,
        props: &GroupProperties,
        now: i64,
    ) -> Result<ThingGroup, StoreError> {
        check_name("thing group name", name)?;
        let (description, attributes) = new_properties(props)?;
        let tx = self.write_tx()?;
        if let Some(existing) = load_group(&tx, name)? {
            let same = existing.query_string.is_none()
                && existing.parent.as_deref() == parent
                && existing.description == description
                && existing.attributes == attributes;
            if same {
                return Ok(existing);
            }
            return Err(StoreError::AlreadyExists(format!(
                "thing group {name} exists with another parent or other properties"
            )));
        }
        if let Some(p) = parent {
            let parent_group = load_group(&tx, p)?.ok_or_else(|| {
                StoreError::InvalidRequest(format!("parent thing group {p} does not exist"))
            })?;
            not_dynamic(&parent_group, "be the parent of another group")?;
            let depth = parent_group.ancestors.len() + 2;
            if depth > MAX_GROUP_DEPTH {
                return Err(StoreError::InvalidRequest(format!(
                    "thing group {name} would be at depth {depth}; a hierarchy is at most \
                     {MAX_GROUP_DEPTH} groups deep"
                )));
            }
            if children(&tx, p)? >= MAX_CHILD_GROUPS {
                return Err(StoreError::InvalidRequest(format!(
                    "thing group {p} has {MAX_CHILD_GROUPS} child groups already, the most allowed"
                )));
            }
        }
        insert_group(
            &tx,
            name,
            parent,
            description.as_deref(),
            &attributes,
            None,
            now,
        )?;
        let group = require_group(&tx, name)?;
        tx.commit()?;
        Ok(group)
    }

    /// DescribeThingGroup (static or dynamic).
    pub fn describe_thing_group(&self, name: &str) -> Result<ThingGroup, StoreError> {
        require_group(&self.conn, name)
    }

    /// ListThingGroups: names, in order. With `parent_group`, its children
    /// (all descendants if `recursive`); without, every group (only the
    /// roots if `recursive` is `Some(false)`).
    pub fn list_thing_groups(
        &self,
        filter: &GroupFilter,
        page: &PageRequest<String>,
    ) -> Result<Page<String, String>, StoreError> {
        if let Some(p) = &filter.parent_group {
            require_group(&self.conn, p)?;
        }
        let recursive = filter.recursive.unwrap_or(filter.parent_group.is_none());
        let scope = match (&filter.parent_group, recursive) {
            (Some(_), true) => "g.group_name IN (SELECT name FROM tree WHERE name <> ?1)",
            (Some(_), false) => "g.parent_name = ?1",
            (None, true) => "?1 IS NULL",
            (None, false) => "?1 IS NULL AND g.parent_name IS NULL",
        };
        let sql = format!(
            "WITH RECURSIVE tree(name) AS ( \
                 SELECT group_name FROM thing_groups WHERE group_name = ?1 \
                 UNION SELECT g.group_name FROM thing_groups g JOIN tree ON g.parent_name = tree.name) \
             SELECT g.group_name FROM thing_groups g WHERE {scope} AND g.group_name > ?2 \
             AND (?3 IS NULL OR substr(g.group_name, 1, length(?3)) = ?3) \
             ORDER BY g.group_name LIMIT ?4"
        );
        let mut stmt = self.conn.prepare_cached(&sql)?;
        let rows = stmt.query_map(
            params![
                filter.parent_group,
                after(page),
                filter.name_prefix,
                page.sql_limit()
            ],
            |r| r.get(0),
        )?;
        let rows = rows.collect::<Result<Vec<String>, _>>()?;
        Ok(page.page(rows, String::clone))
    }

    /// UpdateThingGroup (static groups): description and attributes;
    /// returns the new version.
    pub fn update_thing_group(
        &mut self,
        name: &str,
        props: &GroupProperties,
        expected_version: Option<u64>,
    ) -> Result<u64, StoreError> {
        let tx = self.write_tx()?;
        let group = group_for_change(&tx, name, false, expected_version)?
            .ok_or_else(|| StoreError::NotFound(format!("thing group {name}")))?;
        let version = update_properties(&tx, &group, props)?;
        tx.commit()?;
        Ok(version)
    }

    /// DeleteThingGroup (static groups). Deleting a group that does not
    /// exist succeeds, as in AWS; one with child groups is refused. Its
    /// things leave it, and so leave continuous jobs that reached them only
    /// through it.
    pub fn delete_thing_group(
        &mut self,
        name: &str,
        expected_version: Option<u64>,
        now: i64,
    ) -> Result<Changes, StoreError> {
        let tx = self.write_tx()?;
        if group_for_change(&tx, name, false, expected_version)?.is_none() {
            return Ok(Changes::none());
        }
        if children(&tx, name)? > 0 {
            return Err(StoreError::InvalidRequest(format!(
                "cannot delete thing group {name} while it has child groups: delete them first"
            )));
        }
        let members = members_recursive(&tx, name)?;
        tx.execute("DELETE FROM thing_groups WHERE group_name = ?1", [name])?;
        let mut effects = Effects::default();
        // A static membership freed a place for a dynamic group.
        things_changed(&tx, &members, now, &mut effects)?;
        tx.commit()?;
        Ok(self.after_commit(effects))
    }

    /// AddThingToThingGroup (static groups). Adding a member again changes
    /// nothing. A thing already in [`MAX_GROUPS_PER_THING`] groups is
    /// refused, unless `override_dynamic` and one of them is dynamic: it
    /// then leaves the newest dynamic group. Returns the things to notify.
    pub fn add_thing_to_thing_group(
        &mut self,
        thing: &str,
        group: &str,
        override_dynamic: bool,
        now: i64,
    ) -> Result<Changes, StoreError> {
        let tx = self.write_tx()?;
        let target = require_group(&tx, group)?;
        not_dynamic(
            &target,
            "have things added by hand (its query decides its members)",
        )?;
        require_thing(&tx, thing)?;
        let memberships = memberships(&tx, thing)?;
        if memberships.contains_key(group) {
            return Ok(Changes::none());
        }
        let root = target.ancestors.first().unwrap_or(&target.group_name);
        for (other, dynamic) in &memberships {
            if !dynamic && root_of(&tx, other)? == *root {
                return Err(StoreError::InvalidRequest(format!(
                    "thing {thing} is in thing group {other} already, in the same hierarchy as \
                     {group} (root {root}); a thing can be in one group of a hierarchy"
                )));
            }
        }
        if memberships.len() >= MAX_GROUPS_PER_THING
            && !(override_dynamic && memberships.values().any(|dynamic| *dynamic))
        {
            return Err(StoreError::InvalidRequest(format!(
                "thing {thing} is in {MAX_GROUPS_PER_THING} thing groups already, the most \
                 allowed (with overrideDynamicGroups it leaves its newest dynamic group instead)"
            )));
        }
        tx.execute(
            "INSERT INTO thing_group_members (group_name, thing_name) VALUES (?1, ?2)",
            params![group, thing],
        )?;
        let mut effects = Effects::default();
        // Re-evaluates its dynamic groups within the places left, which
        // drops the newest one when the thing was at the limit.
        thing_changed(&tx, thing, now, &mut effects)?;
        tx.commit()?;
        Ok(self.after_commit(effects))
    }

    /// RemoveThingFromThingGroup (static groups). Removing a thing that is
    /// not a member changes nothing.
    pub fn remove_thing_from_thing_group(
        &mut self,
        thing: &str,
        group: &str,
        now: i64,
    ) -> Result<Changes, StoreError> {
        let tx = self.write_tx()?;
        let target = require_group(&tx, group)?;
        not_dynamic(
            &target,
            "have things removed by hand (its query decides its members)",
        )?;
        require_thing(&tx, thing)?;
        let removed = tx.execute(
            "DELETE FROM thing_group_members WHERE group_name = ?1 AND thing_name = ?2",
            params![group, thing],
        )?;
        let mut effects = Effects::default();
        if removed > 0 {
            thing_changed(&tx, thing, now, &mut effects)?;
        }
        tx.commit()?;
        Ok(self.after_commit(effects))
    }

    /// ListThingsInThingGroup: thing names in order; with `recursive`, the
    /// things of its descendant groups too.
    pub fn list_things_in_thing_group(
        &self,
        group: &str,
        recursive: bool,
        page: &PageRequest<String>,
    ) -> Result<Page<String, String>, StoreError> {
        require_group(&self.conn, group)?;
        let scope = if recursive {
            "SELECT name FROM tree"
        } else {
            "SELECT ?1"
        };
        let sql = format!(
            "WITH RECURSIVE tree(name) AS ( \
                 SELECT group_name FROM thing_groups WHERE group_name = ?1 \
                 UNION SELECT g.group_name FROM thing_groups g JOIN tree ON g.parent_name = tree.name) \
             SELECT DISTINCT m.thing_name FROM thing_group_members m \
             WHERE m.group_name IN ({scope}) AND m.thing_name > ?2 \
             ORDER BY m.thing_name LIMIT ?3"
        );
        let mut stmt = self.conn.prepare_cached(&sql)?;
        let rows = stmt.query_map(params![group, after(page), page.sql_limit()], |r| r.get(0))?;
        let rows = rows.collect::<Result<Vec<String>, _>>()?;
        Ok(page.page(rows, String::clone))
    }

    /// ListThingGroupsForThing: the groups the thing is directly in
    /// (static and dynamic), by name.
    pub fn list_thing_groups_for_thing(
        &self,
        thing: &str,
        page: &PageRequest<String>,
    ) -> Result<Page<String, String>, StoreError> {
        require_thing(&self.conn, thing)?;
        let mut stmt = self.conn.prepare_cached(
            "SELECT group_name FROM thing_group_members WHERE thing_name = ?1 \
             AND group_name > ?2 ORDER BY group_name LIMIT ?3",
        )?;
        let rows = stmt.query_map(params![thing, after(page), page.sql_limit()], |r| r.get(0))?;
        let rows = rows.collect::<Result<Vec<String>, _>>()?;
        Ok(page.page(rows, String::clone))
    }
}

/// Refuses an operation on a dynamic group that only static groups have.
fn not_dynamic(group: &ThingGroup, what: &str) -> Result<(), StoreError> {
    if group.query_string.is_some() {
        return Err(StoreError::InvalidRequest(format!(
            "{} is a dynamic thing group, which cannot {what}",
            group.group_name
        )));
    }
    Ok(())
}

fn children(conn: &Connection, group: &str) -> Result<usize, StoreError> {
    count(
        conn,
        "SELECT COUNT(*) FROM thing_groups WHERE parent_name = ?1",
        [group],
    )
}

fn root_of(conn: &Connection, group: &str) -> Result<String, StoreError> {
    Ok(ancestors(conn, group)?
        .into_iter()
        .next()
        .unwrap_or_else(|| group.to_owned()))
}
