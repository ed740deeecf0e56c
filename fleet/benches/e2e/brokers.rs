//! The three brokers: the service's embedded rmqtt, and Debian's mosquitto
//! as an operator would run it — stock, and with Nagle's algorithm off.

use crate::support::fatal;
use jobhost_fleet::server::{BrokerChoice, Server};
use rumqttc::MqttOptions;
use std::io::{BufRead, BufReader};
use std::net::{Ipv4Addr, SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// Where Debian puts it when `/usr/sbin` is not on `PATH`.
const MOSQUITTO: &str = "/usr/sbin/mosquitto";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BrokerKind {
    /// rmqtt inside the service (it sets `TCP_NODELAY` on its sockets).
    Embedded,
    /// mosquitto 2 with `allow_anonymous true` and nothing else: Nagle on.
    Mosquitto,
    /// The same with `set_tcp_nodelay true`.
    MosquittoNodelay,
}

impl BrokerKind {
    pub const ALL: [BrokerKind; 3] = [
        BrokerKind::Embedded,
        BrokerKind::Mosquitto,
        BrokerKind::MosquittoNodelay,
    ];

    pub fn name(self) -> &'static str {
        match self {
            BrokerKind::Embedded => "embedded",
            BrokerKind::Mosquitto => "mosquitto",
            BrokerKind::MosquittoNodelay => "mosquitto-nodelay",
        }
    }

    pub fn parse(name: &str) -> Result<BrokerKind, String> {
        BrokerKind::ALL
            .into_iter()
            .find(|kind| kind.name() == name)
            .ok_or_else(|| {
                format!("unknown broker `{name}` (embedded, mosquitto, mosquitto-nodelay)")
            })
    }
}

/// A broker for one run; a mosquitto process is killed when dropped.
pub struct Broker {
    kind: BrokerKind,
    mosquitto: Option<(Child, SocketAddr)>,
}

impl Broker {
    pub fn start(kind: BrokerKind, dir: &Path) -> Broker {
        let mosquitto = match kind {
            BrokerKind::Embedded => None,
            BrokerKind::Mosquitto => Some(mosquitto(dir, "")),
            BrokerKind::MosquittoNodelay => Some(mosquitto(dir, "set_tcp_nodelay true\n")),
        };
        Broker { kind, mosquitto }
    }

    /// How the service reaches it.
    pub fn choice(&self) -> BrokerChoice {
        match &self.mosquitto {
            None => BrokerChoice::Embedded {
                listen: "127.0.0.1:0".parse().expect("loopback address"),
                allow_plain_mqtt: false,
            },
            Some((_, addr)) => BrokerChoice::External {
                host: addr.ip().to_string(),
                port: addr.port(),
                credentials: None,
            },
        }
    }

    /// The address of a mosquitto; the embedded one's is the server's.
    pub fn addr(&self) -> Option<SocketAddr> {
        self.mosquitto.as_ref().map(|(_, addr)| *addr)
    }

    /// A session that may subscribe to every thing's jobs topics: the
    /// service's identity on the embedded broker (which isolates things);
    /// anyone on a mosquitto that has no ACL.
    pub fn observer_options(&self, server: &Server, addr: SocketAddr) -> MqttOptions {
        const ID: &str = "bench-observer";
        match self.kind {
            BrokerKind::Embedded => server.service_mqtt_options(ID),
            _ => MqttOptions::new(ID, addr.ip().to_string(), addr.port()),
        }
    }
}

impl Drop for Broker {
    fn drop(&mut self) {
        if let Some((child, _)) = &mut self.mosquitto {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// Starts mosquitto on a free loopback port with `extra` configuration;
/// returns once it listens.
fn mosquitto(dir: &Path, extra: &str) -> (Child, SocketAddr) {
    let binary = find_mosquitto().unwrap_or_else(|| {
        fatal("mosquitto is not installed (apt-get install mosquitto; scripts/bench does)")
    });
    let port = free_port();
    let config = dir.join("mosquitto.conf");
    let text = format!("listener {port} 127.0.0.1\nallow_anonymous true\n{extra}");
    std::fs::write(&config, text).expect("write mosquitto.conf");
    let log = std::fs::File::create(dir.join("mosquitto.log")).expect("mosquitto.log");
    let mut child = Command::new(binary)
        .arg("-c")
        .arg(&config)
        .stdout(Stdio::null())
        .stderr(Stdio::from(log))
        .spawn()
        .unwrap_or_else(|e| fatal(&format!("cannot start mosquitto: {e}")));
    let addr = SocketAddr::from((Ipv4Addr::LOCALHOST, port));
    let deadline = Instant::now() + Duration::from_secs(10);
    while TcpStream::connect(addr).is_err() {
        if let Ok(Some(status)) = child.try_wait() {
            let log = std::fs::File::open(dir.join("mosquitto.log")).map(BufReader::new);
            let text: Vec<String> = log
                .map(|l| l.lines().map_while(Result::ok).collect())
                .unwrap_or_default();
            fatal(&format!("mosquitto exited ({status}): {}", text.join("\n")));
        }
        if Instant::now() > deadline {
            fatal("mosquitto did not listen within 10 s");
        }
        // A process outside this one has no event to await: poll its port.
        std::thread::sleep(Duration::from_millis(10));
    }
    (child, addr)
}

fn find_mosquitto() -> Option<PathBuf> {
    let on_path = std::env::var_os("PATH").and_then(|path| {
        std::env::split_paths(&path)
            .map(|dir| dir.join("mosquitto"))
            .find(|candidate| candidate.is_file())
    });
    on_path.or_else(|| Some(PathBuf::from(MOSQUITTO)).filter(|p| p.is_file()))
}

fn free_port() -> u16 {
    TcpListener::bind((Ipv4Addr::LOCALHOST, 0))
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .unwrap_or_else(|e| fatal(&format!("no free port: {e}")))
}
