//! Debian's mosquitto as a second, independent real broker for the test
//! suite, configured with the same isolation rules as the embedded broker:
//! the service user may use `$aws/things/+/jobs/#`, every other client only
//! `$aws/things/<its client id>/#`.
//!
//! CI installs it (`apt-get install mosquitto`); each test starts its own
//! process on a free loopback port and the process is killed on drop.

use std::net::{Ipv4Addr, SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// Where Debian puts them, for when they are not on `PATH` (`/usr/sbin` is
/// not on an ordinary user's). `scripts/test` looks them up the same way:
/// `PATH` first, then here.
const MOSQUITTO: &str = "/usr/sbin/mosquitto";
const MOSQUITTO_PASSWD: &str = "/usr/bin/mosquitto_passwd";

/// `name` as `PATH` finds it, else `fallback` if that exists.
fn find(name: &str, fallback: &str) -> Option<PathBuf> {
    let on_path = std::env::var_os("PATH").and_then(|path| {
        std::env::split_paths(&path)
            .map(|dir| dir.join(name))
            .find(|candidate| is_executable(candidate))
    });
    on_path.or_else(|| Some(PathBuf::from(fallback)).filter(|p| is_executable(p)))
}

fn is_executable(path: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(path).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
}

/// Credentials of the privileged jobs-service user.
pub struct MosquittoOptions {
    pub service_username: String,
    pub service_password: String,
}

/// A running mosquitto, killed when dropped.
pub struct Mosquitto {
    pub port: u16,
    child: Child,
    dir: tempfile::TempDir,
}

impl Mosquitto {
    /// Writes the config, password and ACL files into a tempdir, starts
    /// mosquitto and returns once its port accepts connections.
    ///
    /// Panics with an install hint if mosquitto is missing, or with the
    /// broker's log if it does not come up.
    pub fn start(opts: MosquittoOptions) -> Mosquitto {
        let (Some(mosquitto), Some(mosquitto_passwd)) = (
            find("mosquitto", MOSQUITTO),
            find("mosquitto_passwd", MOSQUITTO_PASSWD),
        ) else {
            panic!(
                "mosquitto is not installed (neither on PATH nor {MOSQUITTO} and \
                 {MOSQUITTO_PASSWD}): run `apt-get install mosquitto` (scripts/test does)"
            );
        };
        let mut dir = tempfile::tempdir().expect("tempdir for mosquitto");
        let passwd = dir.path().join("passwd");
        let acl = dir.path().join("acl");
        let log = dir.path().join("mosquitto.log");
        let conf = dir.path().join("mosquitto.conf");

        let status = Command::new(&mosquitto_passwd)
            .arg("-c")
            .arg("-b")
            .arg(&passwd)
            .arg(&opts.service_username)
            .arg(&opts.service_password)
            .stdout(Stdio::null())
            .status()
            .expect("run mosquitto_passwd");
        assert!(status.success(), "mosquitto_passwd failed: {status}");

        write(
            &acl,
            &format!(
                "user {}\ntopic readwrite $aws/things/+/jobs/#\n\n\
                 # Every client (devices are anonymous) only under its own thing, by client id.\n\
                 pattern readwrite $aws/things/%c/#\n",
                opts.service_username
            ),
        );

        // The free port can be taken by a parallel test between our probe
        // and mosquitto's bind; then mosquitto exits, and we try another.
        for attempt in 1..=5 {
            let port = free_port();
            write(&conf, &config(port, &passwd, &acl, &log));
            let child = Command::new(&mosquitto)
                .arg("-c")
                .arg(&conf)
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .expect("spawn mosquitto");
            let mut this = Mosquitto { port, child, dir };
            match this.wait_ready() {
                Ok(()) => return this,
                Err(why) if attempt < 5 => {
                    eprintln!("mosquitto on port {port}: {why}; trying another port");
                    let _ = this.child.kill();
                    let _ = this.child.wait();
                    dir = std::mem::replace(&mut this.dir, tempfile::tempdir().expect("tempdir"));
                }
                Err(why) => panic!("mosquitto did not come up: {why}\n{}", this.log()),
            }
        }
        unreachable!("the last attempt panics")
    }

    /// `127.0.0.1:port`.
    pub fn addr(&self) -> SocketAddr {
        SocketAddr::from((Ipv4Addr::LOCALHOST, self.port))
    }

    /// The broker's log so far (`log_type all`), for failure messages.
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("mosquitto.log")).unwrap_or_default()
    }

    /// The readiness probe: the one acceptable polling loop. Ready means
    /// mosquitto's own log says it opened OUR port and the port accepts
    /// (a connect alone could reach another test's listener that took the
    /// port first); it fails when mosquitto exits or after 10 s.
    fn wait_ready(&mut self) -> Result<(), String> {
        let deadline = Instant::now() + Duration::from_secs(10);
        let opened = format!("listen socket on port {}", self.port);
        loop {
            if let Ok(Some(status)) = self.child.try_wait() {
                return Err(format!("mosquitto exited with {status} before listening"));
            }
            if self.log().contains(&opened) && TcpStream::connect(self.addr()).is_ok() {
                return Ok(());
            }
            if Instant::now() > deadline {
                return Err(format!(
                    "mosquitto did not listen on {} within 10 s",
                    self.addr()
                ));
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for Mosquitto {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A loopback port nobody listens on right now (the kernel picks it; there
/// is a small window before mosquitto binds it).
fn free_port() -> u16 {
    let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).expect("bind a free port");
    listener.local_addr().expect("local addr").port()
}

fn config(port: u16, passwd: &Path, acl: &Path, log: &Path) -> String {
    // `user root`: as root (CI), mosquitto 2.x otherwise switches to the
    // `mosquitto` user before reading files it cannot read then (a 0600
    // root-owned key fails with "Unable to load server key file ...
    // Permission denied"; `user` in
    // https://mosquitto.org/man/mosquitto-conf-5.html); as non-root the
    // setting has no effect.
    format!(
        "per_listener_settings false\n\
         user root\n\
         listener {port} 127.0.0.1\n\
         allow_anonymous true\n\
         password_file {passwd}\n\
         acl_file {acl}\n\
         persistence false\n\
         log_dest file {log}\n\
         log_type all\n",
        passwd = passwd.display(),
        acl = acl.display(),
        log = log.display(),
    )
}

fn write(path: &Path, text: &str) {
    std::fs::write(path, text).unwrap_or_else(|e| panic!("cannot write {}: {e}", path.display()));
}
