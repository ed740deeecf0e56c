//! The MQTT side of the agent: one task owns the rumqttc event loop and
//! turns it into a stream of [`MqttEvent`]s; everything else publishes
//! through a cheap [`MqttHandle`].

mod backoff;
mod connection;

pub use backoff::Backoff;
pub use connection::{mqtt_options, spawn, MqttEvent, MqttHandle};
