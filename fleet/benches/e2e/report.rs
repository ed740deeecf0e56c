//! What the benchmark prints: the set-up, each broker's figures as they
//! come, and one markdown table at the end (for BENCHMARKS.md).

use crate::brokers::BrokerKind;
use crate::devices::DeviceKind;
use crate::observer::Seen;
use crate::options::Options;
use std::time::{Duration, Instant};

/// One job's span, CreateJob → SUCCEEDED accepted, and its phases as the
/// observer saw them on the broker (when the device claims its jobs).
pub struct Timed {
    pub total: Duration,
    pub phases: Option<[Duration; 4]>,
}

/// What each of [`Timed::phases`] holds, and whose work it is.
const PHASES: [&str; 4] = [
    "create -> claim (service: CreateJob, notify; device: claim)",
    "claim accepted (service)",
    "run -> SUCCEEDED (device: the job, the journal)",
    "SUCCEEDED accepted (service)",
];

impl Timed {
    pub fn new(created: Instant, seen: &Seen) -> Timed {
        // The observer gets a request and its reply by different paths, so
        // a reply can be seen a hair before its request: saturate.
        let phases = seen.claim.map(|(claimed, claim_accepted)| {
            [
                claimed.saturating_duration_since(created),
                claim_accepted.saturating_duration_since(claimed),
                seen.reported.saturating_duration_since(claim_accepted),
                seen.accepted.saturating_duration_since(seen.reported),
            ]
        });
        Timed {
            total: seen.accepted.saturating_duration_since(created),
            phases,
        }
    }
}

/// One device's timed jobs on one broker.
#[derive(Default)]
pub struct Samples {
    totals: Vec<Duration>,
    phases: Vec<[Duration; 4]>,
}

impl Samples {
    pub fn push(&mut self, timed: Timed) {
        self.totals.push(timed.total);
        self.phases.extend(timed.phases);
    }

    fn sorted(&self) -> Vec<Duration> {
        let mut sorted = self.totals.clone();
        sorted.sort_unstable();
        sorted
    }

    /// The median of each phase, over the jobs that had them all.
    fn phase_medians(&self) -> Option<[Duration; 4]> {
        if self.phases.is_empty() {
            return None;
        }
        Some(std::array::from_fn(|i| {
            let mut one: Vec<Duration> = self.phases.iter().map(|p| p[i]).collect();
            one.sort_unstable();
            percentile(&one, 50.0)
        }))
    }
}

/// Nearest-rank percentile of sorted, non-empty samples.
fn percentile(sorted: &[Duration], p: f64) -> Duration {
    let rank = (p / 100.0 * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

pub fn setup(options: &Options) {
    let cores = std::thread::available_parallelism().map_or(0, |n| n.get());
    let dir = options
        .dir
        .clone()
        .unwrap_or_else(std::env::temp_dir)
        .display()
        .to_string();
    println!(
        "e2e bench: {cores} cores; {} timed jobs per device and broker after {} warm-up; \
         a {} byte artifact; state under {dir}; agent {}",
        options.rounds,
        options.warm_up,
        options.size,
        options.jobhost.display()
    );
}

pub fn broker(broker: BrokerKind, samples: &[(DeviceKind, Samples)]) {
    println!("\n{}: CreateJob -> SUCCEEDED accepted", broker.name());
    for (device, samples) in samples {
        let sorted = samples.sorted();
        if sorted.is_empty() {
            continue;
        }
        println!(
            "   {:<8} p50 {:>7.2} ms   p90 {:>7.2} ms   p99 {:>7.2} ms   max {:>7.2} ms   (min {:.2} ms)",
            device.name(),
            ms(percentile(&sorted, 50.0)),
            ms(percentile(&sorted, 90.0)),
            ms(percentile(&sorted, 99.0)),
            ms(sorted[sorted.len() - 1]),
            ms(sorted[0]),
        );
        if let Some(medians) = samples.phase_medians() {
            for (name, median) in PHASES.iter().zip(medians) {
                println!("              p50 {:>7.2} ms   {name}", ms(median));
            }
        }
    }
}

/// The markdown table, with jobhost's p50 against the others'.
pub fn table(options: &Options, all: &[(BrokerKind, Vec<(DeviceKind, Samples)>)]) {
    println!(
        "\n| broker | device | p50 | p90 | p99 | max | p50 vs jobhost |\n|---|---|---|---|---|---|---|"
    );
    for (broker, samples) in all {
        let jobhost = samples
            .iter()
            .find(|(d, _)| *d == DeviceKind::Jobhost)
            .map(|(_, s)| percentile(&s.sorted(), 50.0));
        for (device, samples) in samples {
            let sorted = samples.sorted();
            if sorted.is_empty() {
                continue;
            }
            let p50 = percentile(&sorted, 50.0);
            let ratio = match jobhost {
                Some(j) if *device != DeviceKind::Jobhost && !j.is_zero() => {
                    format!("{:.1}×", p50.as_secs_f64() / j.as_secs_f64())
                }
                _ => "—".to_owned(),
            };
            println!(
                "| {} | {} | {:.2} ms | {:.2} ms | {:.2} ms | {:.2} ms | {ratio} |",
                broker.name(),
                device.describe(),
                ms(p50),
                ms(percentile(&sorted, 90.0)),
                ms(percentile(&sorted, 99.0)),
                ms(sorted[sorted.len() - 1]),
            );
        }
    }
    println!(
        "\n({} jobs per row; the devices took turns, one job at a time)",
        options.rounds
    );
}
