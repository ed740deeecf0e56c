//! A large download (`--only download`, default 1 GiB): the jobhost
//! agent's download-file job against curl fetching the same presigned URL
//! from the same service, on loopback. The agent's figure is the whole job
//! (CreateJob → SUCCEEDED accepted: the download, its sha256 computed as
//! the bytes arrive, the fsync, the rename, the reports). curl's is given
//! twice: the transfer into the page cache (`curl -o FILE URL`, no
//! checksum, nothing on disk yet), and the same followed by an fsync of
//! the file, the durability the agent gives before it reports SUCCEEDED
//! (on a disk slower than loopback, that is what bounds both). The agent's
//! resident memory is sampled from `/proc/<pid>/status` every 10 ms while
//! the job runs.

use crate::brokers::{Broker, BrokerKind};
use crate::devices::{Device, DeviceKind, Job};
use crate::observer::Observer;
use crate::options::Options;
use crate::support::fatal;
use std::process::Command;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

const NAME: &str = "large-artifact.bin";
/// Each tool's transfer is run this many times; the median is reported.
const RUNS: usize = 3;

pub async fn run(options: &Options) {
    let scratch = options.scratch_dir();
    let dir = scratch.path();
    let broker = Broker::start(BrokerKind::Embedded, dir);
    let server = crate::start_server(dir, &broker).await;
    let info = write_artifact(&server, options.download_size);
    let job = Job {
        url: info.url.clone(),
        sha256: info.sha256.clone(),
        http: server.http_addr,
    };
    let size = options.download_size as f64;
    let mib_s = |d: Duration| size / d.as_secs_f64() / f64::from(1 << 20);

    let mut curl = Vec::new();
    let mut curl_synced = Vec::new();
    for run in 0..RUNS {
        let url = server
            .artifacts
            .presign(&info.url, unix_now())
            .unwrap_or_else(|| fatal("the artifact's URL cannot be presigned"));
        let out = dir.join(format!("curl-{run}.bin"));
        let started = Instant::now();
        let status = Command::new("curl")
            .args(["-sS", "--fail", "-o"])
            .arg(&out)
            .arg(&url)
            .status()
            .unwrap_or_else(|e| fatal(&format!("cannot run curl: {e}")));
        curl.push(started.elapsed());
        let got = std::fs::metadata(&out).map(|m| m.len()).unwrap_or(0);
        if !status.success() || got != options.download_size as u64 {
            fatal(&format!("curl: {status}, {got} bytes"));
        }
        if let Err(e) = std::fs::File::open(&out).and_then(|f| f.sync_all()) {
            fatal(&format!("fsync of curl's file: {e}"));
        }
        curl_synced.push(started.elapsed());
        let _ = std::fs::remove_file(&out);
    }

    let mqtt = server.mqtt_addr;
    let mut observer = Observer::connect(broker.observer_options(&server, mqtt)).await;
    let mut device = Device::start(DeviceKind::Jobhost, options, dir, mqtt, &job);
    let http = reqwest::Client::builder()
        .no_proxy()
        .build()
        .expect("an HTTP client");
    let mut agent = Vec::new();
    let mut peaks = Vec::new();
    let mut before = None;
    for run in 0..RUNS {
        // After the first job the agent is warm: its plugin is loaded.
        if run == 1 {
            before = rss_kib(device.pid());
        }
        let sampler = RssSampler::start(device.pid());
        let took = crate::one_job(
            &server,
            &http,
            &mut observer,
            &mut device,
            &job,
            &format!("large-{run}"),
            Check::Size(options.download_size as u64),
        )
        .await;
        agent.push(took.total);
        peaks.push(sampler.stop());
    }
    let after = rss_kib(device.pid()).unwrap_or(0);
    device.stop();
    drop(observer);
    server.stop().await;

    curl.sort_unstable();
    curl_synced.sort_unstable();
    agent.sort_unstable();
    let (curl, curl_synced, agent) = (curl[RUNS / 2], curl_synced[RUNS / 2], agent[RUNS / 2]);
    let peak = peaks.iter().max().copied().unwrap_or(0);
    println!(
        "\nlarge download: {} MiB over loopback, median of {RUNS} runs each",
        options.download_size >> 20
    );
    println!(
        "   curl -o FILE URL          {:>8.0} ms  {:>6.0} MiB/s",
        curl.as_secs_f64() * 1e3,
        mib_s(curl)
    );
    println!(
        "   curl, then fsync          {:>8.0} ms  {:>6.0} MiB/s",
        curl_synced.as_secs_f64() * 1e3,
        mib_s(curl_synced)
    );
    println!(
        "   jobhost download-file job {:>8.0} ms  {:>6.0} MiB/s  \
         ({:.0} % of curl's speed, {:.0} % of curl-then-fsync's)",
        agent.as_secs_f64() * 1e3,
        mib_s(agent),
        100.0 * curl.as_secs_f64() / agent.as_secs_f64(),
        100.0 * curl_synced.as_secs_f64() / agent.as_secs_f64()
    );
    let mib = |kib: u64| kib as f64 / 1024.0;
    println!(
        "   the agent's VmRSS: {:.1} MiB warm before a job, at most {:.1} MiB during the jobs, \
         {:.1} MiB after",
        mib(before.unwrap_or(0)),
        mib(peak),
        mib(after)
    );
}

/// How a job's result is checked after it.
pub enum Check<'a> {
    /// These bytes, exactly.
    Content(&'a [u8]),
    /// This many bytes (the sha256 was checked by the agent, against the
    /// service's record of the artifact).
    Size(u64),
}

/// `size` bytes written through the service's artifact store, 1 MiB at a
/// time.
fn write_artifact(
    server: &jobhost_fleet::server::Server,
    size: usize,
) -> jobhost_fleet::artifacts::ArtifactInfo {
    let piece: Vec<u8> = crate::artifact(1 << 20);
    let mut writer = server
        .artifacts
        .create(NAME)
        .unwrap_or_else(|e| fatal(&format!("cannot stage the artifact: {e}")));
    let mut left = size;
    while left > 0 {
        let n = left.min(piece.len());
        writer
            .write(&piece[..n])
            .unwrap_or_else(|e| fatal(&format!("cannot write the artifact: {e}")));
        left -= n;
    }
    let sealed = writer
        .seal()
        .unwrap_or_else(|e| fatal(&format!("cannot seal the artifact: {e}")));
    server
        .artifacts
        .commit(sealed, None)
        .unwrap_or_else(|e| fatal(&format!("cannot store the artifact: {e}")))
}

fn unix_now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64)
}

/// VmRSS of `pid`, in KiB.
fn rss_kib(pid: u32) -> Option<u64> {
    crate::support::proc_status_kib(pid, "VmRSS:")
}

/// Samples a process's VmRSS every 10 ms on a thread of its own.
struct RssSampler {
    stop: Arc<AtomicBool>,
    thread: std::thread::JoinHandle<u64>,
}

impl RssSampler {
    fn start(pid: u32) -> RssSampler {
        let stop = Arc::new(AtomicBool::new(false));
        let flag = Arc::clone(&stop);
        let thread = std::thread::spawn(move || {
            let mut peak = 0;
            while !flag.load(Ordering::Relaxed) {
                peak = peak.max(rss_kib(pid).unwrap_or(0));
                std::thread::sleep(Duration::from_millis(10));
            }
            peak
        });
        RssSampler { stop, thread }
    }

    /// The largest VmRSS seen, in KiB.
    fn stop(self) -> u64 {
        self.stop.store(true, Ordering::Relaxed);
        self.thread.join().unwrap_or(0)
    }
}
