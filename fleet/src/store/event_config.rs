//! Which AWS events the service publishes on the broker
//! (UpdateEventConfigurations / DescribeEventConfigurations,
//! <https://docs.aws.amazon.com/iot/latest/developerguide/iot-events.html>): the
//! two types it has, JOB and JOB_EXECUTION, each disabled until an operator
//! enables it, as in AWS. Kept in the database so that a restart keeps
//! them; a change is sent to [`Store::subscribe`]rs in commit order with
//! the job changes, so that a publisher applies it exactly from the
//! changes committed after it.

use super::{ExecutionChange, Store, StoreError};
use jobhost_protocol::Timestamp;
use rusqlite::params;

/// The event types this service publishes, with AWS's names.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum EventType {
    /// `JOB`: `$aws/events/job/...`.
    Job,
    /// `JOB_EXECUTION`: `$aws/events/jobExecution/...`.
    JobExecution,
}

impl EventType {
    /// Every type this service publishes.
    pub const ALL: [EventType; 2] = [Self::Job, Self::JobExecution];

    /// AWS's name (and the database's).
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Job => "JOB",
            Self::JobExecution => "JOB_EXECUTION",
        }
    }
}

/// The configuration in force.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct EventConfigurations {
    /// JOB events are published.
    pub job: bool,
    /// JOB_EXECUTION events are published.
    pub job_execution: bool,
    /// When a type was first configured (epoch seconds); None while
    /// nothing ever was.
    pub created_at: Option<Timestamp>,
    /// When a type was last configured.
    pub last_modified_at: Option<Timestamp>,
}

impl EventConfigurations {
    /// Whether `event_type` is published.
    pub fn enabled(&self, event_type: EventType) -> bool {
        match event_type {
            EventType::Job => self.job,
            EventType::JobExecution => self.job_execution,
        }
    }
}

impl Store {
    /// DescribeEventConfigurations.
    pub fn event_configurations(&self) -> Result<EventConfigurations, StoreError> {
        let mut config = EventConfigurations::default();
        let mut stmt = self.conn.prepare_cached(
            "SELECT event_type, enabled, created_at, last_modified_at FROM event_configurations",
        )?;
        let rows = stmt.query_map([], |r| {
            Ok((
                r.get::<_, String>(0)?,
                r.get::<_, bool>(1)?,
                r.get::<_, i64>(2)?,
                r.get::<_, i64>(3)?,
            ))
        })?;
        for row in rows {
            let (name, enabled, created, modified) = row?;
            if name == EventType::Job.as_str() {
                config.job = enabled;
            } else if name == EventType::JobExecution.as_str() {
                config.job_execution = enabled;
            }
            config.created_at = Some(config.created_at.map_or(created, |c| c.min(created)));
            config.last_modified_at = Some(
                config
                    .last_modified_at
                    .map_or(modified, |m| m.max(modified)),
            );
        }
        Ok(config)
    }

    /// UpdateEventConfigurations: sets each given type, keeps the others.
    /// Returns the configuration now in force, which is also sent to
    /// subscribers.
    pub fn update_event_configurations(
        &mut self,
        changes: &[(EventType, bool)],
        now: i64,
    ) -> Result<EventConfigurations, StoreError> {
        let tx = self.write_tx()?;
        for (event_type, enabled) in changes {
            tx.prepare_cached(
                "INSERT INTO event_configurations (event_type, enabled, created_at, last_modified_at) \
                 VALUES (?1, ?2, ?3, ?3) ON CONFLICT (event_type) DO UPDATE SET \
                 enabled = excluded.enabled, last_modified_at = excluded.last_modified_at",
            )?
            .execute(params![event_type.as_str(), enabled, now])?;
        }
        tx.commit()?;
        let config = self.event_configurations()?;
        if !changes.is_empty() {
            self.publish([ExecutionChange::EventConfigurations(config)]);
        }
        Ok(config)
    }
}
