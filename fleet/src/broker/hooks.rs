//! rmqtt hook handler that enforces [`policy`](super::policy): who may
//! connect, and which topics each connected client may use.
//!
//! Our own hook rather than the `rmqtt-acl` plugin, so that the rules are
//! Rust we test ([`policy`](super::policy)) rather than a config file: three
//! hook points, no plugin. rmqtt calls `ClientAuthenticate` for every
//! CONNECT because the listener has `allow_anonymous(false)`; when no handler
//! answers, rmqtt refuses, so a bug here fails closed. Sessions are never
//! marked superuser, so the ACL hooks see every subscribe and publish.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use async_trait::async_trait;
use rmqtt::codec::v5::SubscribeAckReason;
use rmqtt::hook::{Handler, HookResult, Parameter, ReturnType};
use rmqtt::session::Session;
use rmqtt::types::{
    AuthResult, ConnectInfo, LastWill, ListenerId, PublishAclResult, SubscribeAclResult,
};

use super::config::OperatorCredentials;
use super::policy::{
    device_may_use, is_valid_thing_name, operator_may_subscribe, secrets_equal,
    service_may_publish, service_may_use,
};

/// What the hook needs to decide; shared by all hook registrations and by
/// [`Broker`](super::Broker), which flips `closed` on shutdown.
#[derive(Debug)]
pub(crate) struct Rules {
    pub(crate) service_username: String,
    pub(crate) service_password: String,
    /// With mTLS the identity on the public listener is the client
    /// certificate's CN, not whatever the client put in CONNECT.
    pub(crate) mtls: bool,
    /// The listener reserved for the service, if any: the service identity
    /// is then accepted there only, and nobody else is.
    pub(crate) service_listener: Option<ListenerId>,
    /// The operator identity (monitoring applications), if configured.
    pub(crate) operator: Option<OperatorCredentials>,
    /// Set by shutdown: refuse every CONNECT, SUBSCRIBE and PUBLISH from then
    /// on, because rmqtt keeps existing sessions alive after the listener
    /// task is aborted.
    pub(crate) closed: AtomicBool,
}

/// Who a connected (or connecting) client is, as far as topics are concerned.
#[derive(Debug, PartialEq, Eq)]
pub(super) enum Role<'a> {
    Service,
    /// A monitoring application: subscribes to `$aws/events/…` only.
    Operator,
    Device(&'a str),
}

/// What a client does with a topic: the rules differ for the service and
/// the operator. A last will is a publish.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Access {
    Subscribe,
    Publish,
}

#[derive(Clone, Debug)]
pub(crate) struct AccessHook(pub(crate) Arc<Rules>);

impl Rules {
    fn closed(&self) -> bool {
        self.closed.load(Ordering::Acquire)
    }

    /// Decides a CONNECT: the service needs its password (and, if there is
    /// one, the service listener), a device a usable identity on the public
    /// listener. The last-will topic is checked here too, because rmqtt
    /// publishes a will without running the publish ACL hook: a device could
    /// otherwise leave a message on another thing's topic.
    fn authenticate(&self, ci: &ConnectInfo) -> AuthResult {
        if self.closed() {
            return AuthResult::NotAuthorized;
        }
        let client_id: &str = ci.client_id();
        let Some(role) = self.claimed_role(ci) else {
            return AuthResult::NotAuthorized;
        };
        let on_service_listener = self.service_listener == Some(ci.id().lid());
        match role {
            Role::Service => {
                if self.service_listener.is_some() && !on_service_listener {
                    // Not even with the password: the service never comes
                    // this way, so whoever does is not the service.
                    tracing::warn!(
                        client_id,
                        "MQTT CONNECT refused: the service identity on the public listener"
                    );
                    return AuthResult::NotAuthorized;
                }
                let given = ci.password().map(|p| p.as_ref()).unwrap_or_default();
                if !secrets_equal(given, self.service_password.as_bytes()) {
                    tracing::info!(client_id, "MQTT CONNECT refused: wrong service password");
                    return AuthResult::NotAuthorized;
                }
            }
            Role::Operator => {
                if on_service_listener {
                    tracing::warn!(
                        client_id,
                        "MQTT CONNECT refused: the operator identity on the service listener"
                    );
                    return AuthResult::NotAuthorized;
                }
                let expected = self.operator.as_ref().map(|o| o.password.as_bytes());
                let given = ci.password().map(|p| p.as_ref()).unwrap_or_default();
                if !expected.is_some_and(|e| secrets_equal(given, e)) {
                    tracing::info!(client_id, "MQTT CONNECT refused: wrong operator password");
                    return AuthResult::NotAuthorized;
                }
            }
            Role::Device(thing) => {
                if on_service_listener {
                    // Plain TCP without a certificate: a device here could
                    // claim any thing's identity.
                    tracing::warn!(
                        client_id,
                        "MQTT CONNECT refused: a device on the service listener"
                    );
                    return AuthResult::NotAuthorized;
                }
                if !is_valid_thing_name(thing) || thing == self.service_username {
                    tracing::info!(
                        client_id,
                        thing,
                        "MQTT CONNECT refused: not a usable thing name"
                    );
                    return AuthResult::NotAuthorized;
                }
            }
        }
        if let Some(will) = ci.last_will() {
            let topic: &str = match will {
                LastWill::V3(w) => &w.topic,
                LastWill::V5(w) => &w.topic,
            };
            if !self.may_use(&role, Access::Publish, topic) {
                tracing::info!(
                    client_id,
                    topic,
                    "MQTT CONNECT refused: last-will topic not allowed"
                );
                return AuthResult::NotAuthorized;
            }
        }
        AuthResult::Allow(false, None)
    }

    /// Who a CONNECT claims to be, before any check of the claim: on the
    /// service listener (plain TCP) the username decides; on the public
    /// listener the certificate CN with mTLS, else username then client id.
    /// `None`: refused already (an mTLS certificate without a CN, or a
    /// client id that differs from the CN).
    fn claimed_role<'c>(&self, ci: &'c ConnectInfo) -> Option<Role<'c>> {
        let client_id: &str = ci.client_id();
        let service_username = ci.username().is_some_and(|u| **u == *self.service_username);
        let on_service_listener = self.service_listener == Some(ci.id().lid());
        if !self.mtls || on_service_listener {
            // Any other username (AWS SDKs send `?SDK=...` metrics there) is
            // ignored: on plain TCP a device is its client id.
            return Some(if service_username {
                Role::Service
            } else {
                self.device_or_operator(client_id)
            });
        }
        // rmqtt copies the CN into the username only when the certificate
        // has one, so read it from the certificate itself.
        let Some(cn) = ci.cert().and_then(|c| c.common_name.as_deref()) else {
            tracing::info!(
                client_id,
                "MQTT CONNECT refused: client certificate has no CN"
            );
            return None;
        };
        if cn == self.service_username {
            Some(Role::Service)
        } else if client_id != cn {
            // Like an AWS policy on iot:Connect with client/${ThingName}:
            // otherwise a device could take over another thing's session.
            tracing::info!(
                client_id,
                cn,
                "MQTT CONNECT refused: client id is not the certificate CN"
            );
            None
        } else {
            Some(self.device_or_operator(cn))
        }
    }

    /// A client that is not the service, by its identity (client id, or
    /// certificate CN): the operator's client id makes it the operator,
    /// which must then prove it with the password; any other is a thing.
    fn device_or_operator<'c>(&self, identity: &'c str) -> Role<'c> {
        if self
            .operator
            .as_ref()
            .is_some_and(|o| o.client_id == identity)
        {
            Role::Operator
        } else {
            Role::Device(identity)
        }
    }

    /// The role of an authenticated session. Only the service may carry the
    /// service username past `authenticate` (it needs the password, and the
    /// service listener if there is one; with mTLS rmqtt sets the username to
    /// the certificate CN), and a device's client id is its identity (with
    /// mTLS it was checked to equal the CN).
    pub(super) fn role<'s>(&self, s: &'s Session) -> Role<'s> {
        // The listener test is defence in depth: `authenticate` already
        // keeps the service username off the public listener.
        let right_listener = self
            .service_listener
            .is_none_or(|service| s.id.lid() == service);
        if right_listener && s.id.username.as_deref() == Some(self.service_username.as_str()) {
            Role::Service
        } else {
            // The operator's client id passed `authenticate` only with the
            // operator's password (with mTLS: and a certificate with that
            // CN, since the client id must equal the CN).
            self.device_or_operator(&s.id.client_id)
        }
    }

    fn may_use(&self, role: &Role<'_>, access: Access, topic_or_filter: &str) -> bool {
        !self.closed()
            && match (role, access) {
                (Role::Service, Access::Subscribe) => service_may_use(topic_or_filter),
                (Role::Service, Access::Publish) => service_may_publish(topic_or_filter),
                (Role::Operator, Access::Subscribe) => operator_may_subscribe(topic_or_filter),
                (Role::Operator, Access::Publish) => false,
                (Role::Device(thing), _) => device_may_use(thing, topic_or_filter),
            }
    }
}

#[async_trait]
impl Handler for AccessHook {
    async fn hook(&self, param: &Parameter, acc: Option<HookResult>) -> ReturnType {
        let rules = &self.0;
        match param {
            Parameter::ClientAuthenticate(ci) => {
                (false, Some(HookResult::AuthResult(rules.authenticate(ci))))
            }
            Parameter::ClientSubscribeCheckAcl(s, sub) => {
                if rules.may_use(&rules.role(s), Access::Subscribe, &sub.topic_filter) {
                    (true, acc)
                } else {
                    tracing::info!(client_id = %s.id.client_id, filter = %sub.topic_filter, "MQTT SUBSCRIBE refused");
                    let refused =
                        SubscribeAclResult::new_failure(SubscribeAckReason::NotAuthorized);
                    (false, Some(HookResult::SubscribeAclResult(refused)))
                }
            }
            Parameter::MessagePublishCheckAcl(s, publish) => {
                if rules.may_use(&rules.role(s), Access::Publish, &publish.topic) {
                    (true, acc)
                } else {
                    // MQTT 3.1.1 has no negative PUBACK; like AWS IoT on a
                    // policy violation, drop the message and the connection.
                    tracing::info!(client_id = %s.id.client_id, topic = %publish.topic, "MQTT PUBLISH refused, disconnecting");
                    let refused = PublishAclResult::rejected(true, None);
                    (false, Some(HookResult::PublishAclResult(refused)))
                }
            }
            _ => (true, acc),
        }
    }
}
