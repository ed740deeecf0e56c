//! The real agent (`jobhost::agent::run`), in-process, for end-to-end
//! tests: started from a config file, stopped on request (the test's
//! stand-in for the device shutting down) or when dropped.

use std::path::Path;
use tokio::sync::watch;

/// Writes `dir/jobhost.toml` for thing `thing` on the broker at
/// 127.0.0.1:`mqtt_port`, with state and plugins under `dir`, trusting
/// `dir/operator.key.pub`, and `extra` appended; returns its path.
pub fn write_config(dir: &Path, thing: &str, mqtt_port: u16, extra: &str) -> std::path::PathBuf {
    let path = dir.join("jobhost.toml");
    let text = format!(
        "thing_name = \"{thing}\"\nstate_dir = \"state\"\nplugin_dir = \"plugins\"\n\
         [broker]\nhost = \"127.0.0.1\"\nport = {mqtt_port}\n\
         [trust]\nkeys = [\"operator.key.pub\"]\n{extra}"
    );
    std::fs::write(&path, text).expect("write the agent config");
    path
}

/// A running agent.
pub struct Agent {
    stop: watch::Sender<bool>,
    done: Option<tokio::task::JoinHandle<()>>,
}

impl Agent {
    /// Loads `config` and starts the agent on the current tokio runtime.
    pub fn start(config: &Path) -> Agent {
        let config = jobhost::config::Config::load(config).expect("agent config");
        let (stop, stopped) = watch::channel(false);
        let done = tokio::spawn(async move {
            jobhost::agent::run(config, stopped)
                .await
                .expect("the agent runs until stopped")
        });
        Agent {
            stop,
            done: Some(done),
        }
    }

    /// Stops it and waits until it has stopped.
    pub async fn stop(mut self) {
        let _ = self.stop.send(true);
        if let Some(done) = self.done.take() {
            done.await.expect("the agent task");
        }
    }
}

impl Drop for Agent {
    fn drop(&mut self) {
        let _ = self.stop.send(true);
    }
}

/// Waits for `path` to appear: the trace a stand-in program leaves when
/// the agent runs it (a process outside the test's reach has no event to
/// await). A bound for a failure, not a sleep.
pub async fn wait_for_file(path: &Path) {
    let start = std::time::Instant::now();
    let mut tick = tokio::time::interval(std::time::Duration::from_millis(20));
    while !path.exists() {
        assert!(
            start.elapsed() < std::time::Duration::from_secs(60),
            "{} never appeared",
            path.display()
        );
        tick.tick().await;
    }
}
