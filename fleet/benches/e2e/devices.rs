//! The three devices, each its own process, each with its own thing name,
//! directory and log (`<scratch>/<device>/device.log`).

use crate::options::Options;
use crate::plugins;
use crate::shell_device;
use crate::support::fatal;
use jobhost_fleet::server::Server;
use serde_json::{json, Value};
use std::fs::File;
use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DeviceKind {
    Jobhost,
    Python,
    Shell,
}

impl DeviceKind {
    pub const ALL: [DeviceKind; 3] = [DeviceKind::Jobhost, DeviceKind::Python, DeviceKind::Shell];

    pub fn name(self) -> &'static str {
        match self {
            DeviceKind::Jobhost => "jobhost",
            DeviceKind::Python => "python",
            DeviceKind::Shell => "shell",
        }
    }

    /// What the table calls it.
    pub fn describe(self) -> &'static str {
        match self {
            DeviceKind::Jobhost => "jobhost agent (download-file.wasm)",
            DeviceKind::Python => "Python, AWSIoTPythonSDK (reference architecture)",
            DeviceKind::Shell => "Device-Client-style, fork/exec'd shell handler",
        }
    }

    pub fn parse(name: &str) -> Result<DeviceKind, String> {
        DeviceKind::ALL
            .into_iter()
            .find(|kind| kind.name() == name)
            .ok_or_else(|| format!("unknown device `{name}` (jobhost, python, shell)"))
    }
}

/// What every job downloads.
#[derive(Clone)]
pub struct Job {
    /// The artifact's URL on the service, inside the presigned placeholder.
    pub url: String,
    pub sha256: String,
    /// The service's HTTP address, which the agent's grant names.
    pub http: SocketAddr,
}

impl Job {
    fn placeholder(&self) -> String {
        format!("${{aws:iot:s3-presigned-url:{}}}", self.url)
    }
}

/// A running device.
pub struct Device {
    pub kind: DeviceKind,
    thing: String,
    home: PathBuf,
    /// Where its downloads go.
    directory: PathBuf,
    log: PathBuf,
    child: Child,
}

impl Device {
    pub fn start(
        kind: DeviceKind,
        options: &Options,
        root: &Path,
        mqtt: SocketAddr,
        job: &Job,
    ) -> Device {
        let home = root.join(kind.name());
        let command = match kind {
            DeviceKind::Jobhost => {
                jobhost(options, &home, mqtt, job, &["download-file"]);
                agent(options, &home)
            }
            DeviceKind::Python => python(&thing(kind), mqtt),
            DeviceKind::Shell => shell(&home, &thing(kind), mqtt),
        };
        Device::spawn(kind, home, command)
    }

    /// The jobhost agent with `plugins` installed (signed, and those that
    /// need grants given only what loading needs), for the footprint part.
    pub fn start_agent(
        options: &Options,
        root: &Path,
        mqtt: SocketAddr,
        job: &Job,
        plugins: &[&str],
    ) -> Device {
        let home = root.join(DeviceKind::Jobhost.name());
        jobhost(options, &home, mqtt, job, plugins);
        Device::spawn(DeviceKind::Jobhost, home.clone(), agent(options, &home))
    }

    /// Stops the agent and starts it again on the same state (its compiled
    /// cache, journal and plugins): a warm start.
    pub fn restart(self, options: &Options) -> Device {
        assert_eq!(self.kind, DeviceKind::Jobhost, "only the agent restarts");
        let home = self.home.clone();
        self.stop();
        Device::spawn(DeviceKind::Jobhost, home.clone(), agent(options, &home))
    }

    fn spawn(kind: DeviceKind, home: PathBuf, mut command: Command) -> Device {
        let directory = home.join("downloads");
        std::fs::create_dir_all(&directory).expect("a device directory");
        let log = home.join("device.log");
        let stderr = File::create(&log).expect("a device log");
        let mut child = command
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::from(stderr))
            .spawn()
            .unwrap_or_else(|e| fatal(&format!("cannot start the {} device: {e}", kind.name())));
        if kind != DeviceKind::Jobhost {
            // These say "ready" once subscribed; the agent's first
            // (warm-up) job is its readiness.
            let stdout = child.stdout.take().expect("piped stdout");
            let mut line = String::new();
            if BufReader::new(stdout).read_line(&mut line).is_err() || line.trim() != "ready" {
                fatal(&format!(
                    "the {} device did not start; its log ({}):\n{}",
                    kind.name(),
                    log.display(),
                    tail(&log)
                ));
            }
        }
        Device {
            kind,
            thing: thing(kind),
            home,
            directory,
            log,
            child,
        }
    }

    /// The agent's log so far (it logs to stderr).
    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    pub fn thing(&self) -> &str {
        &self.thing
    }

    pub fn directory(&self) -> &Path {
        &self.directory
    }

    /// The job document that downloads the artifact to `file` in this
    /// device's directory, in the shape this device reads.
    pub fn document(&self, job: &Job, file: &str) -> String {
        let document = match self.kind {
            // The reference architecture's `download`, with the sha256
            // beside the url (both devices check it).
            DeviceKind::Jobhost | DeviceKind::Python => json!({
                "operation": "download",
                "version": "1.0",
                "directory": self.directory,
                "files": {"fileName": file, "url": job.placeholder(), "sha256": job.sha256},
            }),
            // The AWS IoT Device Client's schema: one step, a handler run
            // with arguments.
            DeviceKind::Shell => json!({
                "version": "1.0",
                "steps": [{"action": {
                    "name": "download-file",
                    "type": "runHandler",
                    "input": {
                        "handler": shell_device::HANDLER,
                        "args": [job.placeholder(), self.directory.join(file), job.sha256],
                    },
                    "runAsUser": "",
                }}],
            }),
        };
        document.to_string()
    }

    /// What to print when a job did not finish: the execution as the
    /// store has it, and the end of the device's log.
    pub fn diagnose(&self, server: &Server, job_id: &str) -> String {
        let execution = server
            .store
            .lock()
            .expect("store lock")
            .describe_execution(job_id, &self.thing, None)
            .map(|d| {
                let e = d.execution;
                let details: Value = serde_json::to_value(&e.status_details).unwrap_or_default();
                format!("execution {} v{} {details}", e.status, e.version_number)
            })
            .unwrap_or_else(|e| format!("no execution ({e})"));
        format!(
            "{execution}; the {} device's log ({}):\n{}",
            self.kind.name(),
            self.log.display(),
            tail(&self.log)
        )
    }

    pub fn stop(mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The thing name of a device of `kind`.
fn thing(kind: DeviceKind) -> String {
    format!("bench-{}", kind.name())
}

/// Provisions `jobhost agent` in `home`: `plugins` signed by a fresh
/// operator key, a config trusting that key, and `download-file` allowed
/// to write the device's `downloads` directory (its `/downloads`) and to
/// fetch from the service.
fn jobhost(options: &Options, home: &Path, mqtt: SocketAddr, job: &Job, plugins: &[&str]) {
    if !options.jobhost.is_file() {
        fatal(&format!(
            "{} is missing: cargo build --release -p jobhost (scripts/bench does), \
             or name the agent with --jobhost",
            options.jobhost.display()
        ));
    }
    std::fs::create_dir_all(home).expect("the device's home");
    let (key, _) = plugins::operator_key(home, "operator.key");
    plugins::provision(&home.join("plugins"), &key, plugins);
    let text = format!(
        "thing_name = \"{}\"\nstate_dir = \"state\"\nplugin_dir = \"plugins\"\n\
         [broker]\nhost = \"{}\"\nport = {}\n\
         [trust]\nkeys = [\"operator.key.pub\"]\n\
         [plugins.download-file]\ndirs = [\"{}:/downloads\"]\n\
         download_hosts = [\"{}\"]\nallow_http = true\n",
        thing(DeviceKind::Jobhost),
        mqtt.ip(),
        mqtt.port(),
        home.join("downloads").display(),
        job.http
    );
    std::fs::write(home.join("jobhost.toml"), text).expect("write the agent's config");
}

/// `jobhost agent` on the config [`jobhost`] wrote in `home`.
fn agent(options: &Options, home: &Path) -> Command {
    let mut command = Command::new(&options.jobhost);
    command
        .arg("agent")
        .arg("--config")
        .arg(home.join("jobhost.toml"));
    command
}

/// The reference architecture's Python device (`aws_device.py`).
fn python(thing: &str, mqtt: SocketAddr) -> Command {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let python = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| root.join("target"))
        .join("py-aws-sdk/bin/python");
    if !python.is_file() {
        fatal(&format!(
            "{} is missing: run scripts/setup-aws-sdk (scripts/bench does)",
            python.display()
        ));
    }
    let mut command = Command::new(python);
    command
        .arg(Path::new(env!("CARGO_MANIFEST_DIR")).join("benches/e2e/aws_device.py"))
        .args(["--host", &mqtt.ip().to_string()])
        .args(["--port", &mqtt.port().to_string()])
        .args(["--thing", thing]);
    command
}

/// This binary as the Device-Client-style device, its handler installed.
fn shell(home: &Path, thing: &str, mqtt: SocketAddr) -> Command {
    let handlers = home.join("handlers");
    shell_device::install_handler(&handlers);
    let exe = std::env::current_exe().expect("this benchmark's path");
    let mut command = Command::new(exe);
    command
        .arg(shell_device::FLAG)
        .args(["--host", &mqtt.ip().to_string()])
        .args(["--port", &mqtt.port().to_string()])
        .args(["--thing", thing])
        .arg("--handlers")
        .arg(handlers);
    command
}

/// The last lines of a log.
fn tail(path: &Path) -> String {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(20)..].join("\n")
}
