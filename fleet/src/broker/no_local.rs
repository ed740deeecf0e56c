//! The service is not sent back what it publishes itself: MQTT 5's
//! "No Local", for the service's MQTT 3.1.1 session.
//!
//! The service subscribes to `$aws/things/+/jobs/#`: it must see every
//! topic of the jobs namespace to answer the ones that map to no API with
//! `InvalidTopic`. That filter matches its own replies and notifications
//! too, so every message it published came back to it, to be read,
//! acknowledged and ignored (`device_api::handler`): in the fleet
//! benchmark 7 of the 9 messages the broker delivered to the service per
//! job execution, each a write, a read and a PUBACK over loopback TCP.
//! MQTT 5 lets a subscriber ask for No Local; rumqttc's 3.1.1 session
//! cannot. rmqtt asks one hook before each delivery, the message-expiry
//! check; [`NoLocalHook`] answers "expired" for a message on its way back
//! to the service session that published it, and rmqtt drops it before
//! writing it (a `message_dropped` hook call, which nothing here handles).
//!
//! Only the service's own session is spared its own messages: a device, or
//! a second session with the service's identity (a test's witness), gets
//! everything its subscriptions match, as from any MQTT 3.1.1 broker. With
//! an external broker the messages still come back and the handler still
//! ignores them.

use std::sync::Arc;

use async_trait::async_trait;
use rmqtt::hook::{Handler, HookResult, Parameter, ReturnType};

use super::hooks::{Role, Rules};

#[derive(Clone, Debug)]
pub(crate) struct NoLocalHook(pub(crate) Arc<Rules>);

#[async_trait]
impl Handler for NoLocalHook {
    async fn hook(&self, param: &Parameter, acc: Option<HookResult>) -> ReturnType {
        if let Parameter::MessageExpiryCheck(to, from, _) = param {
            if from.id.client_id == to.id.client_id && self.0.role(to) == Role::Service {
                return (false, Some(HookResult::MessageExpiry));
            }
        }
        (true, acc)
    }
}
