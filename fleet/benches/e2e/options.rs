//! The benchmark's flags.

use crate::brokers::BrokerKind;
use crate::devices::DeviceKind;
use std::path::{Path, PathBuf};

pub const USAGE: &str = "usage: cargo bench -p jobhost-fleet --bench e2e -- [OPTIONS]
  --rounds N        timed jobs per device and broker (default 200)
  --warm-up N       untimed jobs per device first (default 10)
  --brokers LIST    of embedded, mosquitto, mosquitto-nodelay (default: all three)
  --devices LIST    of jobhost, python, shell (default: all three)
  --size BYTES      artifact size (default 102400)
  --only PART       `latency` (the side-by-side table), `download` (the large
                    download against curl) or `footprint` (the agent's memory
                    with every first-party plugin, and over --soak-jobs jobs);
                    default: latency and download
  --soak-jobs N     jobs of the footprint part's soak (default 10000)
  --download-size BYTES   the large download (default 1073741824)
  --jobhost PATH    the agent binary (default: target/release/jobhost beside this bench)
  --dir PATH        where the service's store and the devices' state live (default: temp dir)
  --keep            keep that directory (logs of each device) and print where it is";

/// One part of the benchmark.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Part {
    Latency,
    Download,
    Footprint,
}

impl Part {
    fn parse(value: &str) -> Result<Part, String> {
        match value {
            "latency" => Ok(Part::Latency),
            "download" => Ok(Part::Download),
            "footprint" => Ok(Part::Footprint),
            _ => Err(format!(
                "--only takes `latency`, `download` or `footprint`, not `{value}`"
            )),
        }
    }
}

#[derive(Debug)]
pub struct Options {
    pub rounds: usize,
    pub warm_up: usize,
    pub brokers: Vec<BrokerKind>,
    pub devices: Vec<DeviceKind>,
    pub size: usize,
    pub only: Option<Part>,
    pub download_size: usize,
    pub soak_jobs: usize,
    pub jobhost: PathBuf,
    pub dir: Option<PathBuf>,
    pub keep: bool,
}

impl Options {
    /// Parses the flags after `--`; cargo's own `--bench` is ignored.
    pub fn parse(mut args: impl Iterator<Item = String>) -> Result<Options, String> {
        let mut options = Options {
            rounds: 200,
            warm_up: 10,
            brokers: BrokerKind::ALL.to_vec(),
            devices: DeviceKind::ALL.to_vec(),
            size: 100 * 1024,
            only: None,
            download_size: 1 << 30,
            soak_jobs: 10_000,
            jobhost: default_jobhost(),
            dir: None,
            keep: false,
        };
        while let Some(arg) = args.next() {
            let mut value = || args.next().ok_or(format!("{arg} needs a value"));
            match arg.as_str() {
                "--bench" => {}
                "--rounds" => options.rounds = count(&arg, &value()?)?,
                "--warm-up" => options.warm_up = count(&arg, &value()?)?,
                "--size" => options.size = count(&arg, &value()?)?,
                "--download-size" => options.download_size = count(&arg, &value()?)?,
                "--soak-jobs" => options.soak_jobs = count(&arg, &value()?)?,
                "--only" => options.only = Some(Part::parse(&value()?)?),
                "--brokers" => options.brokers = list(&value()?, BrokerKind::parse)?,
                "--devices" => options.devices = list(&value()?, DeviceKind::parse)?,
                "--jobhost" => options.jobhost = PathBuf::from(value()?),
                "--dir" => options.dir = Some(PathBuf::from(value()?)),
                "--keep" => options.keep = true,
                "-h" | "--help" => return Err(String::new()),
                other => return Err(format!("unknown argument `{other}`")),
            }
        }
        Ok(options)
    }

    /// A fresh directory for one broker's run, removed afterwards unless
    /// `--keep`.
    pub fn scratch_dir(&self) -> Scratch {
        let dir = match &self.dir {
            Some(dir) => tempfile::tempdir_in(dir),
            None => tempfile::tempdir(),
        }
        .expect("a scratch directory for the store and the devices");
        if self.keep {
            let path = dir.keep();
            println!("   logs and state kept in {}", path.display());
            return Scratch { path, _temp: None };
        }
        Scratch {
            path: dir.path().to_owned(),
            _temp: Some(dir),
        }
    }
}

/// A broker run's directory.
pub struct Scratch {
    path: PathBuf,
    _temp: Option<tempfile::TempDir>,
}

impl Scratch {
    pub fn path(&self) -> &Path {
        &self.path
    }
}

/// `target/release/jobhost`: this bench runs from `target/release/deps`.
fn default_jobhost() -> PathBuf {
    let exe = std::env::current_exe().unwrap_or_default();
    exe.parent()
        .and_then(|deps| deps.parent())
        .map(|profile| profile.join("jobhost"))
        .unwrap_or_else(|| PathBuf::from("target/release/jobhost"))
}

fn count(flag: &str, value: &str) -> Result<usize, String> {
    match value.parse() {
        Ok(n) if n > 0 || flag == "--warm-up" => Ok(n),
        _ => Err(format!("{flag} takes a positive integer, not `{value}`")),
    }
}

fn list<T>(value: &str, parse: fn(&str) -> Result<T, String>) -> Result<Vec<T>, String> {
    value.split(',').map(str::trim).map(parse).collect()
}
