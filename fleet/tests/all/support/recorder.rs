//! A broker-side witness: an MQTT session with the service's privileges
//! that records every message on a filter, in the order the broker
//! delivered them. It is how a test shows what a device *published*, not
//! only what the store accepted: the store refuses an update to a terminal
//! execution, so "the store still says TIMED_OUT" cannot show that the
//! agent sent nothing.
//!
//! Unlike [`super::TestClient`], which a test reads one packet at a time
//! with a short guard, the recorder keeps listening in its own task while
//! the test waits on the store or on jobs, and the test looks at (or waits
//! for) the whole log.

use std::time::{Duration, Instant};

use rumqttc::{AsyncClient, Event, MqttOptions, Packet, QoS, SubscribeReasonCode};
use tokio::sync::watch;
use tokio::task::JoinHandle;

/// Failure guard for [`Recorder::wait_for`]: as long as a job may take
/// ([`super::service::JOB_WAIT`]).
pub const RECORD_WAIT: Duration = super::service::JOB_WAIT;

/// One message the broker delivered.
#[derive(Debug, Clone)]
pub struct Message {
    pub topic: String,
    pub payload: Vec<u8>,
}

impl Message {
    /// The payload as JSON (`Null` if it is not JSON).
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.payload).unwrap_or(serde_json::Value::Null)
    }
}

#[derive(Default)]
struct Log {
    subscribed: bool,
    messages: Vec<Message>,
    /// The session ended: what follows was not recorded, so the log can no
    /// longer show that something was *not* sent.
    broken: Option<String>,
}

/// The recording session; it stops when dropped.
pub struct Recorder {
    log: watch::Receiver<Log>,
    task: JoinHandle<()>,
    _client: AsyncClient,
}

impl Recorder {
    /// Connects with `options` (e.g. `Server::service_mqtt_options`),
    /// subscribes to `filter` and returns once the broker granted it, so
    /// that everything published afterwards is recorded.
    pub async fn start(options: MqttOptions, filter: &str) -> Recorder {
        let (client, mut eventloop) = AsyncClient::new(options, 64);
        client
            .subscribe(filter, QoS::AtLeastOnce)
            .await
            .expect("queue the recorder's SUBSCRIBE");
        let (tx, log) = watch::channel(Log::default());
        let task = tokio::spawn(async move {
            loop {
                match eventloop.poll().await {
                    Ok(Event::Incoming(Packet::SubAck(ack))) => {
                        let granted = matches!(
                            ack.return_codes.first(),
                            Some(SubscribeReasonCode::Success(_))
                        );
                        tx.send_modify(|l| {
                            if granted {
                                l.subscribed = true;
                            } else {
                                l.broken = Some("the broker refused the subscription".into());
                            }
                        });
                    }
                    Ok(Event::Incoming(Packet::Publish(p))) => tx.send_modify(|l| {
                        l.messages.push(Message {
                            topic: p.topic.clone(),
                            payload: p.payload.to_vec(),
                        })
                    }),
                    Ok(_) => {}
                    Err(e) => {
                        // rumqttc would reconnect on the next poll, but what
                        // was published meanwhile is lost: stop, and say so.
                        tx.send_modify(|l| l.broken = Some(e.to_string()));
                        return;
                    }
                }
            }
        });
        let mut this = Recorder {
            log,
            task,
            _client: client,
        };
        let ready = tokio::time::timeout(
            super::WAIT,
            this.log.wait_for(|l| l.subscribed || l.broken.is_some()),
        )
        .await
        .unwrap_or_else(|_| {
            panic!(
                "the recorder got no SUBACK for {filter} within {:?}",
                super::WAIT
            )
        })
        .map(|l| l.broken.clone())
        .expect("the recorder task");
        if let Some(why) = ready {
            panic!("the recorder could not subscribe to {filter}: {why}");
        }
        this
    }

    /// Every message so far. Panics if the session broke: the log would
    /// then have a hole.
    pub fn messages(&self) -> Vec<Message> {
        let log = self.log.borrow();
        if let Some(why) = &log.broken {
            panic!("the recorder's session ended ({why}); its log is incomplete");
        }
        log.messages.clone()
    }

    /// Waits until `done` holds for the log (polling the log on every new
    /// message, guarded by [`RECORD_WAIT`]); returns the log then.
    pub async fn wait_for(&self, what: &str, done: impl Fn(&[Message]) -> bool) -> Vec<Message> {
        let start = Instant::now();
        let mut log = self.log.clone();
        // The `Ref` that `wait_for` returns holds the log's read lock: drop
        // it before `self.messages()` takes that lock again. Held, the second
        // read waits behind the recorder task's pending write (the lock
        // prefers writers), which waits for the first read: both threads
        // of the test's runtime stop for good, and no guard can fire.
        let outcome = tokio::time::timeout(RECORD_WAIT, async {
            log.wait_for(|l| l.broken.is_some() || done(&l.messages))
                .await
                .map(drop)
        })
        .await;
        match outcome {
            Ok(Ok(())) => self.messages(),
            Ok(Err(_)) => panic!("the recorder task ended"),
            Err(_) => panic!(
                "waited {:?} for {what}; the broker delivered:\n{}",
                start.elapsed(),
                describe(&self.messages())
            ),
        }
    }
}

impl Drop for Recorder {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// The log, one message a line, for failure messages.
pub fn describe(messages: &[Message]) -> String {
    messages
        .iter()
        .enumerate()
        .map(|(i, m)| format!("{i:3} {} {}", m.topic, String::from_utf8_lossy(&m.payload)))
        .collect::<Vec<_>>()
        .join("\n")
}
