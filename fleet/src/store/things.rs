//! The thing registry, as AWS IoT's CreateThing, DescribeThing, ListThings,
//! UpdateThing and DeleteThing keep it
//! (<https://docs.aws.amazon.com/iot/latest/developerguide/thing-registry.html>),
//! and connectivity: a device that connects to the embedded broker is
//! registered under its client id if it was not, and its connection state
//! is kept as the broker reports it ([`Presence`]).
//!
//! Every change that a dynamic group's query can see (attributes,
//! connectivity, the thing appearing or going) re-evaluates the thing's
//! dynamic groups and the continuous jobs that target its groups.

use super::dynamic::{thing_changed, things_changed};
use super::events::Effects;
use super::lists::{Page, PageRequest};
use super::registry::{
    after, check_name, check_version, load_thing, require_thing, thing_from_row, AttributePayload,
    Thing, ThingFilter, THING_COLUMNS,
};
use super::targets;
use super::types::Changes;
use super::{Store, StoreError};
use rusqlite::{params, Connection, OptionalExtension};
use std::collections::BTreeMap;

/// A device's connection opening or closing, as the embedded broker
/// reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Presence {
    /// The thing: the MQTT client id (with mTLS, the certificate's CN).
    pub thing: String,
    /// Connected (true) or disconnected.
    pub connected: bool,
    /// When the broker started the session this is about (ms since the
    /// epoch). Reports about one client id can arrive out of order when a
    /// new connection takes an old one's place; an older session's report
    /// never overrides a newer one's.
    pub session_ms: i64,
    /// When it happened (ms since the epoch): `connectivity.timestamp`.
    pub at_ms: i64,
    /// Why the session ended, as AWS's `DisconnectReasonValue`
    /// (`CLIENT_INITIATED_DISCONNECT`, `MQTT_KEEP_ALIVE_TIMEOUT`, ...).
    pub disconnect_reason: Option<String>,
}

/// What a restart of the embedded broker did to every open session.
const BROKER_RESTART_REASON: &str = "SERVER_INITIATED_DISCONNECT";

impl Store {
    /// CreateThing. Creating a thing that exists with the same attributes
    /// succeeds and changes nothing; with other attributes it is
    /// AlreadyExists, as in AWS (UpdateThing changes attributes). Returns
    /// the thing, and the things to notify: continuous jobs that target it
    /// by name, or a dynamic group it now matches, queue executions.
    pub fn create_thing(
        &mut self,
        name: &str,
        payload: Option<&AttributePayload>,
        now: i64,
    ) -> Result<(Thing, Changes), StoreError> {
        check_name("thing name", name)?;
        let attributes = match payload {
            // `merge` means nothing on create.
            Some(p) => AttributePayload {
                attributes: p.attributes.clone(),
                merge: false,
            }
            .apply(&BTreeMap::new())?,
            None => BTreeMap::new(),
        };
        let tx = self.write_tx()?;
        if let Some(existing) = load_thing(&tx, name)? {
            if existing.attributes == attributes {
                return Ok((existing, Changes::none()));
            }
            return Err(StoreError::AlreadyExists(format!(
                "thing {name} exists with other attributes (UpdateThing changes them)"
            )));
        }
        insert_thing(&tx, name, &attributes, now)?;
        let mut effects = Effects::default();
        thing_changed(&tx, name, now, &mut effects)?;
        let thing = require_thing(&tx, name)?;
        tx.commit()?;
        Ok((thing, self.after_commit(effects)))
    }

    /// DescribeThing.
    pub fn describe_thing(&self, name: &str) -> Result<Thing, StoreError> {
        require_thing(&self.conn, name)
    }

    /// ListThings, by name, with AWS's attribute filters.
    pub fn list_things(
        &self,
        filter: &ThingFilter,
        page: &PageRequest<String>,
    ) -> Result<Page<Thing, String>, StoreError> {
        if filter.attribute_value.is_some() && filter.attribute_name.is_none() {
            return Err(StoreError::InvalidRequest(
                "attributeValue needs attributeName".into(),
            ));
        }
        if filter.use_prefix && filter.attribute_value.is_none() {
            return Err(StoreError::InvalidRequest(
                "usePrefixAttributeValue needs attributeValue".into(),
            ));
        }
        let mut stmt = self.conn.prepare_cached(&format!(
            "SELECT {THING_COLUMNS} FROM things t WHERE t.thing_name > ?1 \
             AND (?2 IS NULL OR EXISTS (SELECT 1 FROM json_each(t.attributes) a \
                 WHERE a.key = ?2 AND (?3 IS NULL OR a.value = ?3 \
                     OR (?4 AND substr(a.value, 1, length(?3)) = ?3)))) \
             ORDER BY t.thing_name LIMIT ?5"
        ))?;
        let rows = stmt.query_map(
            params![
                after(page),
                filter.attribute_name,
                filter.attribute_value,
                filter.use_prefix,
                page.sql_limit()
            ],
            thing_from_row,
        )?;
        let rows = rows.collect::<Result<Vec<_>, _>>()?;
        Ok(page.page(rows, |t| t.thing_name.clone()))
    }

    /// UpdateThing: the attributes (replaced, or merged with
    /// `payload.merge`; an empty value removes one), version + 1. A stale
    /// `expected_version` is a VersionConflict. Returns the things to
    /// notify (the thing, if its dynamic groups and so its continuous jobs
    /// changed).
    pub fn update_thing(
        &mut self,
        name: &str,
        payload: Option<&AttributePayload>,
        expected_version: Option<u64>,
        now: i64,
    ) -> Result<Changes, StoreError> {
        let tx = self.write_tx()?;
        let thing = require_thing(&tx, name)?;
        check_version(&format!("thing {name}"), expected_version, thing.version)?;
        let attributes = match payload {
            Some(p) => p.apply(&thing.attributes)?,
            None => thing.attributes.clone(),
        };
        tx.execute(
            "UPDATE things SET attributes = ?2, version = version + 1 WHERE thing_name = ?1",
            params![name, serde_json::to_string(&attributes)?],
        )?;
        let mut effects = Effects::default();
        thing_changed(&tx, name, now, &mut effects)?;
        tx.commit()?;
        Ok(self.after_commit(effects))
    }

    /// DeleteThing. Deleting a thing that does not exist succeeds, as in
    /// AWS. The thing leaves its groups, and its QUEUED executions of every
    /// job become REMOVED; IN_PROGRESS ones run on.
    pub fn delete_thing(
        &mut self,
        name: &str,
        expected_version: Option<u64>,
        now: i64,
    ) -> Result<Changes, StoreError> {
        let tx = self.write_tx()?;
        let Some(thing) = load_thing(&tx, name)? else {
            return Ok(Changes::none());
        };
        check_version(&format!("thing {name}"), expected_version, thing.version)?;
        // Its memberships go with it (ON DELETE CASCADE).
        tx.execute("DELETE FROM things WHERE thing_name = ?1", [name])?;
        let mut effects = Effects::default();
        targets::remove_thing(&tx, name, now, &mut effects)?;
        tx.commit()?;
        Ok(self.after_commit(effects))
    }

    /// Records a connection opening or closing. A device seen for the
    /// first time is registered (no attributes). A report about a session
    /// older than the last one recorded is ignored, and so is the
    /// disconnection of a thing that is not registered (deleted while
    /// connected).
    pub fn record_presence(&mut self, p: &Presence, now: i64) -> Result<Changes, StoreError> {
        check_name("thing name", &p.thing)?;
        let tx = self.write_tx()?;
        // None: not registered; Some(None): registered, never seen.
        let last_session: Option<Option<i64>> = tx
            .query_row(
                "SELECT session_ms FROM things WHERE thing_name = ?1",
                [&p.thing],
                |r| r.get(0),
            )
            .optional()?;
        match last_session {
            None if !p.connected => return Ok(Changes::none()),
            None => insert_thing(&tx, &p.thing, &BTreeMap::new(), now)?,
            Some(Some(last)) if last > p.session_ms => return Ok(Changes::none()),
            Some(_) => {}
        }
        let reason = if p.connected {
            None
        } else {
            p.disconnect_reason.as_deref()
        };
        tx.execute(
            "UPDATE things SET connected = ?2, connectivity_ms = ?3, session_ms = ?4, \
             disconnect_reason = ?5 WHERE thing_name = ?1",
            params![p.thing, p.connected, p.at_ms, p.session_ms, reason],
        )?;
        let mut effects = Effects::default();
        thing_changed(&tx, &p.thing, now, &mut effects)?;
        tx.commit()?;
        Ok(self.after_commit(effects))
    }

    /// Marks every thing recorded as connected disconnected at `at_ms`
    /// (`SERVER_INITIATED_DISCONNECT`): for a service whose embedded broker
    /// is starting, since no session outlives the broker that held it.
    pub fn reset_connectivity(&mut self, at_ms: i64, now: i64) -> Result<Changes, StoreError> {
        let tx = self.write_tx()?;
        let connected: Vec<String> = {
            let mut stmt =
                tx.prepare_cached("SELECT thing_name FROM things WHERE connected = 1")?;
            let rows = stmt.query_map([], |r| r.get(0))?;
            rows.collect::<Result<_, _>>()?
        };
        tx.execute(
            "UPDATE things SET connected = 0, connectivity_ms = ?1, session_ms = ?1, \
             disconnect_reason = ?2 WHERE connected = 1",
            params![at_ms, BROKER_RESTART_REASON],
        )?;
        let mut effects = Effects::default();
        things_changed(&tx, &connected, now, &mut effects)?;
        tx.commit()?;
        Ok(self.after_commit(effects))
    }
}

/// Inserts a new thing, version 1, with a fresh id.
fn insert_thing(
    conn: &Connection,
    name: &str,
    attributes: &BTreeMap<String, String>,
    now: i64,
) -> Result<(), StoreError> {
    let id = super::registry::new_id(conn)?;
    conn.execute(
        "INSERT INTO things (thing_name, thing_id, attributes, version, created_at) \
         VALUES (?1, ?2, ?3, 1, ?4)",
        params![name, id, serde_json::to_string(attributes)?, now],
    )?;
    Ok(())
}
