//! Devices' connections opening and closing, reported to whoever keeps the
//! thing registry ([`BrokerConfig::presence`](super::BrokerConfig::presence)):
//! the service registers a thing the first time its client id connects and
//! keeps its connectivity for dynamic thing groups
//! (`connectivity.connected`, as AWS's fleet indexing does).
//!
//! The service's own session is not a device and is never reported.

use std::sync::Arc;

use async_trait::async_trait;
use rmqtt::hook::{Handler, HookResult, Parameter, ReturnType};
use rmqtt::session::Session;
use rmqtt::types::Reason;
use tokio::sync::mpsc::UnboundedSender;

use super::hooks::{Role, Rules};
use crate::store::Presence;

/// Where the broker sends [`Presence`] reports.
pub type PresenceSender = UnboundedSender<Presence>;

#[derive(Clone, Debug)]
pub(crate) struct PresenceHook {
    pub(crate) rules: Arc<Rules>,
    pub(crate) reports: PresenceSender,
}

impl PresenceHook {
    fn report(&self, s: &Session, connected: bool, reason: Option<&Reason>) {
        let Role::Device(thing) = self.rules.role(s) else {
            return;
        };
        let presence = Presence {
            thing: thing.to_owned(),
            connected,
            session_ms: s.id.create_time,
            at_ms: wall_ms(),
            disconnect_reason: reason.map(|r| aws_reason(r).to_owned()),
        };
        // The receiver is gone only while the service stops; its next
        // start resets connectivity anyway.
        let _ = self.reports.send(presence);
    }
}

#[async_trait]
impl Handler for PresenceHook {
    async fn hook(&self, param: &Parameter, acc: Option<HookResult>) -> ReturnType {
        match param {
            Parameter::ClientConnected(s) => self.report(s, true, None),
            Parameter::ClientDisconnected(s, reason) => self.report(s, false, Some(reason)),
            _ => {}
        }
        (true, acc)
    }
}

/// The wall clock in milliseconds since the epoch, as the broker stamps
/// sessions (`session_ms`) and reports (`at_ms`).
pub fn wall_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
        .unwrap_or(0)
}

/// rmqtt's reason in AWS's `DisconnectReasonValue` terms
/// (<https://docs.aws.amazon.com/iot/latest/apireference/API_GetThingConnectivityData.html>).
fn aws_reason(reason: &Reason) -> &'static str {
    match reason {
        Reason::ConnectDisconnect(_) => "CLIENT_INITIATED_DISCONNECT",
        Reason::ConnectKeepaliveTimeout => "MQTT_KEEP_ALIVE_TIMEOUT",
        Reason::ConnectReadWriteTimeout
        | Reason::ConnectReadWriteError
        | Reason::ConnectRemoteClose => "CONNECTION_LOST",
        // A session kicked by an administrator: here only at shutdown.
        Reason::ConnectKicked(true) => "SERVER_INITIATED_DISCONNECT",
        // Taken over by a new connection with the same client id.
        Reason::ConnectKicked(false) => "DUPLICATE_CLIENTID",
        Reason::SubscribeRefused | Reason::DelayedPublishRefused | Reason::PublishResult(_) => {
            "FORBIDDEN_ACCESS"
        }
        Reason::ProtocolError(_) | Reason::MqttError(_) => "CLIENT_ERROR",
        Reason::Reasons(all) => all.first().map_or("UNKNOWN", aws_reason),
        _ => "UNKNOWN",
    }
}
