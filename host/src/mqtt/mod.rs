//! The MQTT transport of the agent (thin-edge's `mqtt_channel`): one task
//! owns the rumqttc event loop and turns it into a stream of
//! [`MqttEvent`]s; everything else sends [`MqttRequest`]s through a cheap
//! [`MqttHandle`]. Both ends are plain channels, so the agent's tests play
//! the connection without a broker ([`channel`]).

mod backoff;
mod connection;

pub use backoff::Backoff;
pub use connection::{
    channel, low_latency_tcp, mqtt_options, spawn, MqttError, MqttEvent, MqttHandle, MqttRequest,
    MqttRequests,
};
