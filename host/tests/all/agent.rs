//! The agent's reliability promises (docs/agent.md, "How the agent runs a
//! job", steps 5-6),
//! each pinned by a test that fails when the promise is broken:
//!
//! - `reliability`: the terminal status is journaled before it is
//!   published, re-sent with the same clientToken on reconnect and after
//!   10 s of silence; only InternalError/RequestThrottled are retried, with
//!   growing delays; a permanent rejection ends the resending; claims and
//!   dedupe on (jobId, executionNumber);
//! - `crash`: SIGKILL at chosen points, then a restart: the journal's status
//!   is the one sent, the journal's checkpoint is the one handed back, a run
//!   whose status was journaled is not run again;
//!   The same against the real jobs service: nothing is left IN_PROGRESS;
//! - `cancel`: every way the agent learns that its job is over interrupts
//!   the plugin and publishes nothing more for it.
//!
//! - `start`: `jobhost init`'s config runs as written once named.
//! - `hostile`: what a hostile plugin, broker or download host can make the
//!   agent send or wait for (checkpoint floods, invalid job ids, forged
//!   statusDetails keys, a trickling install) is bounded.
//!
//! Everything runs through the real `jobhost agent` binary, a real broker
//! (embedded rmqtt) and the `test-probe` plugin built from source. The jobs
//! service is [`scripted::ScriptedService`], which the test plays message
//! by message: what the agent publishes is observed on the broker, never
//! inferred from a service's store.

mod device;
mod link;
mod scripted;
#[allow(dead_code)] // shared with the fleet tests, which use more of it
#[path = "../../../fleet/tests/all/support/service.rs"]
mod service;

mod cancel;
mod crash;
mod hostile;
mod reliability;
mod start;

use device::Device;
use link::Link;
use scripted::ScriptedService;

/// A scripted service, a link the test can cut, and a device behind it
/// whose agent is running.
pub struct Rig {
    pub service: ScriptedService,
    pub link: Link,
    pub device: Device,
}

impl Rig {
    /// The rig with the default device, its agent started.
    pub async fn start(thing: &str) -> Rig {
        let mut rig = Rig::prepare(thing, |link| Device::new(thing, link)).await;
        rig.device.start();
        rig
    }

    /// The rig with the device `make` prepares for the link's address; its
    /// agent is not started yet.
    pub async fn prepare(thing: &str, make: impl FnOnce(std::net::SocketAddr) -> Device) -> Rig {
        let service = ScriptedService::start(thing).await;
        let link = Link::start(service.addr()).await;
        let device = make(link.addr());
        Rig {
            service,
            link,
            device,
        }
    }
}

/// A `test-probe` document: `fields` plus the operation.
pub fn probe(fields: serde_json::Value) -> serde_json::Value {
    let mut doc = fields;
    doc["operation"] = "test-probe".into();
    doc
}
