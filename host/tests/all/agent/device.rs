//! The device: the real `jobhost agent` binary as a process, with its own
//! directory (config, trust key, signed plugins, state), that a test starts,
//! kills with SIGKILL and starts again, as power cuts and OOM kills do.
//!
//! Plugins are `test-probe` and `echo`, built from source by
//! `scripts/build-plugins` and signed here as an operator would.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use jobhost::agent::journal::{Journal, JournalState};

#[allow(dead_code)] // shared with the fleet tests, which use more of it
#[path = "../../../../fleet/tests/all/support/plugins.rs"]
mod plugins;

/// The probe's wall-clock limit: long, so that only cancellation (never
/// the deadline) can end a held run within a test's guard.
pub const PROBE_TIMEOUT_SECS: u64 = 3600;

/// A device and its agent process (if running).
pub struct Device {
    dir: tempfile::TempDir,
    thing: String,
    child: Option<Child>,
    /// `child` is strace, and the agent its child.
    traced: bool,
    starts: u32,
}

impl Device {
    /// Prepares a device for `thing` connecting to `broker` (the agent is
    /// not started yet).
    pub fn new(thing: &str, broker: std::net::SocketAddr) -> Device {
        Device::with_probe_timeout(thing, broker, PROBE_TIMEOUT_SECS)
    }

    /// The same, with the probe's wall-clock limit `timeout_secs`.
    pub fn with_probe_timeout(
        thing: &str,
        broker: std::net::SocketAddr,
        timeout_secs: u64,
    ) -> Device {
        Device::configured(thing, broker, timeout_secs, "", "")
    }

    /// [`Device::new`] with `trust` and `limits` added to the config's
    /// `[trust]` and `[limits]` tables (`key = value` lines).
    pub fn with_settings(
        thing: &str,
        broker: std::net::SocketAddr,
        trust: &str,
        limits: &str,
    ) -> Device {
        Device::configured(thing, broker, PROBE_TIMEOUT_SECS, trust, limits)
    }

    fn configured(
        thing: &str,
        broker: std::net::SocketAddr,
        timeout_secs: u64,
        trust: &str,
        limits: &str,
    ) -> Device {
        let dir = tempfile::tempdir().expect("temp dir");
        let root = dir.path();
        std::fs::create_dir_all(root.join("data")).expect("data dir");
        let (key, _) = plugins::operator_key(root, "operator.key");
        plugins::provision(&root.join("plugins"), &key, &["echo", "test-probe"]);
        let config = format!(
            r#"thing_name = "{thing}"
state_dir = "state"
plugin_dir = "plugins"
[broker]
host = "127.0.0.1"
port = {port}
[trust]
keys = ["operator.key.pub"]
{trust}
[limits]
progress_interval_secs = 1
{limits}
[plugins.test-probe]
dirs = ["data:/data"]
[plugins.test-probe.limits]
timeout_secs = {timeout_secs}
"#,
            port = broker.port()
        );
        std::fs::write(root.join("jobhost.toml"), config).expect("write the config");
        Device {
            dir,
            thing: thing.to_owned(),
            child: None,
            traced: false,
            starts: 0,
        }
    }

    /// Starts `jobhost agent`; its log goes to `agent-<n>.log`.
    pub fn start(&mut self) {
        self.start_with(None);
    }

    /// Starts it under `strace -f -y`, recording to `trace` the syscalls
    /// that make a file durable and those that send bytes on a socket, with
    /// their data: the order in which the kernel saw them.
    pub fn start_traced(&mut self, trace: &Path) {
        self.start_with(Some(trace));
    }

    fn start_with(&mut self, trace: Option<&Path>) {
        assert!(
            self.child.is_none(),
            "{}: the agent is already running",
            self.thing
        );
        self.starts += 1;
        let log = std::fs::File::create(self.log_path(self.starts)).expect("log file");
        let mut command = match trace {
            None => crate::support::jobhost_command(),
            Some(trace) => {
                let mut strace = Command::new("strace");
                strace
                    .args(["-f", "-y", "-qq", "-s", "4096", "-e"])
                    .arg("trace=fsync,fdatasync,rename,renameat,renameat2,write,writev,pwrite64,sendto,sendmsg")
                    .arg("-o")
                    .arg(trace)
                    .arg(env!("CARGO_BIN_EXE_jobhost"));
                strace
            }
        };
        self.traced = trace.is_some();
        let child = command
            .arg("agent")
            .arg("--config")
            .arg(self.dir.path().join("jobhost.toml"))
            .current_dir(self.dir.path())
            .env("JOBHOST_LOG", "info,agent=debug,mqtt=debug")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .expect("start jobhost agent");
        self.child = Some(child);
    }

    /// SIGKILL: no handler runs, nothing is flushed, as in a power cut
    /// (minus the page cache, which is why the journal fsyncs).
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            if self.traced {
                // The agent is strace's child; killing strace alone would
                // detach it and leave it running.
                let pid = child.id();
                let children = std::fs::read_to_string(format!("/proc/{pid}/task/{pid}/children"))
                    .unwrap_or_default();
                for agent in children.split_whitespace() {
                    let _ = Command::new("kill").args(["-KILL", agent]).status();
                }
            }
            let _ = child.kill();
            child.wait().expect("reap the agent");
        }
    }

    /// SIGTERM, as systemd stops the service; returns how it exited.
    pub async fn terminate(&mut self) -> std::process::ExitStatus {
        let mut child = self.child.take().expect("the agent is running");
        let pid = child.id().to_string();
        let sent = Command::new("kill").args(["-TERM", &pid]).status();
        assert!(sent.expect("run kill").success(), "SIGTERM {pid}");
        let deadline = Instant::now() + super::scripted::WAIT;
        loop {
            if let Some(status) = child.try_wait().expect("wait for the agent") {
                return status;
            }
            if Instant::now() >= deadline {
                let _ = child.kill();
                panic!(
                    "{}: still running after SIGTERM\n{}",
                    self.thing,
                    self.log()
                );
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }

    /// The host directory the probe sees as `/data`.
    pub fn data(&self) -> PathBuf {
        self.dir.path().join("data")
    }

    /// The agent's state directory.
    pub fn state_dir(&self) -> PathBuf {
        self.dir.path().join("state")
    }

    /// The journal as it is on disk now.
    pub fn journal(&self) -> JournalState {
        Journal::read(&self.state_dir()).expect("the journal reads")
    }

    /// Waits until the journal on disk satisfies `test` (polled: the agent
    /// announces nothing when it writes; the guard fails the test).
    pub async fn journal_until(&self, what: &str, test: impl Fn(&JournalState) -> bool) {
        let deadline = Instant::now() + super::scripted::WAIT;
        while !test(&self.journal()) {
            assert!(
                Instant::now() < deadline,
                "{}: the journal never showed {what}: {:?}\n{}",
                self.thing,
                self.journal(),
                self.log()
            );
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }

    /// The lines the probe appended to `/data/<name>` (`"started"`), one
    /// per run: `checkpoint=<what the run was handed>`.
    pub fn lines(&self, name: &str) -> Vec<String> {
        std::fs::read_to_string(self.data().join(name))
            .map(|s| s.lines().map(str::to_owned).collect())
            .unwrap_or_default()
    }

    /// Waits until the probe has appended `n` lines to `/data/<name>`
    /// (polled with the guard, like the journal).
    pub async fn lines_until(&self, name: &str, n: usize) {
        let deadline = Instant::now() + super::scripted::WAIT;
        while self.lines(name).len() < n {
            assert!(
                Instant::now() < deadline,
                "{}: the plugin never wrote {n} lines to /data/{name}\n{}",
                self.thing,
                self.log()
            );
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }

    /// Lets a probe waiting for `/data/<name>` go on.
    pub fn release(&self, name: &str) {
        std::fs::write(self.data().join(name), b"go").expect("release file");
    }

    /// Makes a probe waiting for `/data/<name>` wait again.
    pub fn hold(&self, name: &str) {
        match std::fs::remove_file(self.data().join(name)) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => panic!("remove the release file: {e}"),
        }
    }

    /// Every log the agent wrote so far, for failure messages.
    pub fn log(&self) -> String {
        (1..=self.starts)
            .map(|n| std::fs::read_to_string(self.log_path(n)).unwrap_or_default())
            .collect::<Vec<_>>()
            .join("\n--- restart ---\n")
    }

    fn log_path(&self, n: u32) -> PathBuf {
        self.dir.path().join(format!("agent-{n}.log"))
    }

    /// The device's directory.
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }
}

impl Drop for Device {
    fn drop(&mut self) {
        self.kill();
    }
}
