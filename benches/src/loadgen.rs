//! The cluster load generator behind `shroud-bench`.
//!
//! A run: write a test network (trusted dealer, 127.0.0.1, sled in a temporary folder), start
//! each validator as a child process (this same binary, `validator` subcommand), connect the
//! clients, prepare every payload before the clock starts (encryption is the client's cost,
//! not the network's), then submit on a fixed schedule from several connections. Two
//! followers time each transaction: one reads validator 0's committed order over HTTP
//! (submit → ordered), one follows the namespaces through the SDK, verifying every output
//! (submit → certified). A sampler reads each validator's status and resident memory every
//! second. After the load window the run waits (bounded) for what was accepted to finish,
//! then reads CPU time and peak RSS from `/proc` and stops the validators.

use rayon::prelude::*;
use shroud_node::id_hash::IdMap;
use std::collections::BTreeMap;
use std::io::{Read as _, Write as _};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{bail, Context as _};
use hdrhistogram::Histogram;
use rand_chacha::rand_core::SeedableRng;
use rand_chacha::ChaCha8Rng;
use rand_core::{OsRng, RngCore};
use serde::Serialize;
use shroud_node::config::{
    free_loopback_ports, write_testnet, ConsensusSection, KeySource, MempoolSection, NodeConfig,
};
use shroud_node::demo::Processes;
use shroud_proofs::{Bundle, Item, NamespaceId, TxId};
use shroud_sdk::{Client, Committee, StreamReceipt};

/// Namespaces the generator writes to.
const NAMESPACES: [NamespaceId; 2] = [NamespaceId(1), NamespaceId(2)];
/// How long a run waits after the load window for accepted transactions to finish.
const DRAIN: Duration = Duration::from_secs(40);
/// Transactions a second a saturating run (`--rate 0`) plans for.
const SATURATING_PLAN_TPS: u64 = 200_000;
/// Transactions made ahead of a saturating run's schedule.
const SATURATING_AHEAD: usize = 65_536;
/// Transactions a saturating run hands to the streams between progress checks.
const SATURATING_STEP: usize = 256;
/// Transactions queued for one stream's writer at most.
const STREAM_QUEUE: usize = 4_096;

/// Seconds of a run's start that [`Stability`] does not judge when none is given.
pub const WARMUP_DEFAULT: Duration = Duration::from_secs(30);
/// A validator's resident-set bound when none is given, MiB: about twice what a validator
/// with the node's default caches was measured to settle at (BENCHMARKS.md).
pub const RSS_BOUND_MIB_DEFAULT: f64 = 96.0;

/// What one run does.
#[derive(Clone, Debug)]
pub struct RunOptions {
    /// Validators.
    pub validators: usize,
    /// Offered rate in tx/s (0: as fast as accepted).
    pub rate: u64,
    /// Load window.
    pub duration: Duration,
    /// Payload bytes per transaction.
    pub payload_bytes: usize,
    /// Percent cross-rollup bundles (encrypted mode).
    pub bundle_percent: u32,
    /// Client connections.
    pub clients: usize,
    /// Opaque payloads, decryption off.
    pub ordering_only: bool,
    /// `[storage] retain_heights` of every validator (`None`: the node's default). A short
    /// window shows a long run's memory with pruning in its steady state.
    pub retain_heights: Option<u64>,
    /// The committee's `validity_heights` (`None`: the default). It must stay below the
    /// retention window; ciphertexts are made valid through half of it above the latest
    /// certified height.
    pub validity_heights: Option<u64>,
    /// Seconds at the start of the load window not judged by [`Stability`] (caches filling).
    pub warmup: Duration,
    /// Validator 0's mempool bound (`None`: two seconds of the offered rate, at least 64).
    pub mempool_bound: Option<u64>,
    /// Every validator's resident-set bound, MiB.
    pub rss_bound_mib: f64,
    /// No progress line.
    pub quiet: bool,
}

impl RunOptions {
    /// The mempool bound the run is judged against.
    pub fn mempool_bound(&self) -> u64 {
        self.mempool_bound.unwrap_or((2 * self.rate).max(64))
    }
}

/// Latency percentiles, milliseconds.
#[derive(Clone, Debug, Default, Serialize)]
pub struct Latency {
    /// Samples.
    pub count: u64,
    /// Median.
    pub p50_ms: f64,
    /// 90th percentile.
    pub p90_ms: f64,
    /// 99th percentile.
    pub p99_ms: f64,
    /// Maximum.
    pub max_ms: f64,
}

impl Latency {
    fn of(histogram: &Histogram<u64>) -> Self {
        let ms = |micros: u64| micros as f64 / 1_000.0;
        Self {
            count: histogram.len(),
            p50_ms: ms(histogram.value_at_quantile(0.50)),
            p90_ms: ms(histogram.value_at_quantile(0.90)),
            p99_ms: ms(histogram.value_at_quantile(0.99)),
            max_ms: ms(histogram.max()),
        }
    }
}

/// One validator's resources.
#[derive(Clone, Debug, Default, Serialize)]
pub struct Resources {
    /// User + system CPU seconds.
    pub cpu_seconds: f64,
    /// Peak resident set, MiB.
    pub peak_rss_mib: f64,
}

/// One second of the run, as validator 0 and the processes saw it.
#[derive(Clone, Debug, Default, Serialize)]
pub struct Sample {
    /// Seconds since the load started.
    pub second: u64,
    /// Validator 0's mempool.
    pub mempool: u64,
    /// Validator 0's committed-order length.
    pub ordered: u64,
    /// Largest resident set among the validators, MiB.
    pub rss_mib_max: f64,
    /// Validator 0's certified height.
    pub certified_height: u64,
    /// Validator 0's lowest kept height (above 0 once it prunes).
    pub kept_from_height: u64,
    /// Every validator's resident set, MiB, in validator order.
    pub rss_mib: Vec<f64>,
    /// Every validator's certified height, in validator order (0 when it did not answer).
    pub certified_heights: Vec<u64>,
}

/// The bounds a run's mempool and memory are held to, and what the samples showed. It is
/// judged on the load window after a warm-up (sled's caches and the node's capped sets fill
/// in the first minutes, which is growth toward a bound, not past it).
#[derive(Clone, Debug, Default, Serialize)]
pub struct Stability {
    /// First sampled second judged.
    pub from_second: u64,
    /// Last sampled second judged (the end of the load window).
    pub to_second: u64,
    /// Validator 0's mempool may not exceed this.
    pub mempool_bound: u64,
    /// Validator 0's largest mempool in the judged seconds.
    pub mempool_max: u64,
    /// No validator's resident set may exceed this, MiB.
    pub rss_bound_mib: f64,
    /// The largest resident set in the judged seconds, MiB.
    pub rss_mib_max: f64,
    /// Least-squares slope of the largest resident set over the last half of the judged
    /// seconds, MiB per minute: what growth, if any, is left once caches are full.
    pub rss_slope_mib_per_min: f64,
    /// Largest gap between the most and the least advanced validator's certified height.
    pub certified_lag_max: u64,
    /// Every bound held.
    pub held: bool,
}

impl Stability {
    /// Judges `samples` (seconds `from_second..=to_second`) against the bounds.
    pub fn judge(
        samples: &[Sample],
        from_second: u64,
        to_second: u64,
        mempool_bound: u64,
        rss_bound_mib: f64,
    ) -> Self {
        let judged: Vec<&Sample> = samples
            .iter()
            .filter(|s| (from_second..=to_second).contains(&s.second))
            .collect();
        let mempool_max = judged.iter().map(|s| s.mempool).max().unwrap_or(0);
        let rss_mib_max = judged.iter().map(|s| s.rss_mib_max).fold(0.0, f64::max);
        let half = from_second + (to_second.saturating_sub(from_second)) / 2;
        let tail: Vec<(f64, f64)> = judged
            .iter()
            .filter(|s| s.second >= half)
            .map(|s| (s.second as f64 / 60.0, s.rss_mib_max))
            .collect();
        let certified_lag_max = judged
            .iter()
            .map(|s| {
                let max = s.certified_heights.iter().max().copied().unwrap_or(0);
                let min = s.certified_heights.iter().min().copied().unwrap_or(0);
                max - min
            })
            .max()
            .unwrap_or(0);
        Self {
            from_second,
            to_second,
            mempool_bound,
            mempool_max,
            rss_bound_mib,
            rss_mib_max,
            rss_slope_mib_per_min: slope(&tail),
            certified_lag_max,
            held: !judged.is_empty()
                && mempool_max <= mempool_bound
                && rss_mib_max <= rss_bound_mib,
        }
    }
}

/// The least-squares slope of `points` (0 for fewer than two distinct x).
fn slope(points: &[(f64, f64)]) -> f64 {
    let count = points.len() as f64;
    if points.len() < 2 {
        return 0.0;
    }
    let mean_x = points.iter().map(|p| p.0).sum::<f64>() / count;
    let mean_y = points.iter().map(|p| p.1).sum::<f64>() / count;
    let covariance: f64 = points.iter().map(|p| (p.0 - mean_x) * (p.1 - mean_y)).sum();
    let variance: f64 = points.iter().map(|p| (p.0 - mean_x).powi(2)).sum();
    if variance == 0.0 {
        0.0
    } else {
        covariance / variance
    }
}

/// What a run measured.
#[derive(Clone, Debug, Default, Serialize)]
pub struct Report {
    /// `encrypted` or `ordering-only`.
    pub mode: String,
    /// Validators.
    pub validators: usize,
    /// Payload bytes.
    pub payload_bytes: usize,
    /// Client connections.
    pub clients: usize,
    /// `[storage] retain_heights` if set for the run (else the node's default).
    pub retain_heights: Option<u64>,
    /// The committee's `validity_heights` if set for the run (else the default).
    pub validity_heights: Option<u64>,
    /// Load window, seconds.
    pub duration_s: f64,
    /// Transactions offered per second (submitted / window).
    pub offered_tps: f64,
    /// Accepted per second.
    pub accepted_tps: f64,
    /// Ordered per second (accepted ones ordered, over the window plus the drain they needed).
    pub ordered_tps: f64,
    /// Decrypted and certified per second (encrypted mode).
    pub certified_tps: f64,
    /// Submit → ordered.
    pub ordered_latency: Latency,
    /// Submit → certified (encrypted mode).
    pub certified_latency: Latency,
    /// Accepted transactions that never got ordered (or certified) within the drain.
    pub unfinished: u64,
    /// Rejections by label.
    pub rejects: BTreeMap<String, u64>,
    /// Accepted transactions ordered within the drain.
    pub ordered_count: u64,
    /// CPU over the load window and the drain: the validators' and the generator's.
    pub cpu: CpuReport,
    /// Per-stage means from validator 0's metrics.
    pub stages: StageTimings,
    /// Whether every payload was encrypted before the clock started (else just ahead of the
    /// schedule, on the generator's thread, inside the window).
    pub encrypted_before_clock: bool,
    /// Seconds spent preparing payloads before the clock started.
    pub preparation_seconds: f64,
    /// Seconds from starting the validators to a certified key (their DKG, no dealer).
    pub key_formed_seconds: f64,
    /// Per validator.
    pub resources: Vec<Resources>,
    /// The mempool and memory bounds, and whether they held.
    pub stability: Stability,
    /// Per second.
    pub samples: Vec<Sample>,
}

impl Report {
    /// A human-readable table.
    pub fn table(&self) -> String {
        let mut out = String::new();
        let line = |out: &mut String, name: &str, value: String| {
            out.push_str(&format!("{name:<28}{value}\n"));
        };
        line(
            &mut out,
            "mode",
            format!(
                "{} ({} validators, {} B payloads, {} clients)",
                self.mode, self.validators, self.payload_bytes, self.clients
            ),
        );
        let or_default =
            |value: Option<u64>| value.map_or("default".to_string(), |v| v.to_string());
        line(
            &mut out,
            "key (DKG, no dealer)",
            format!(
                "formed and certified {:.1} s after start",
                self.key_formed_seconds
            ),
        );
        line(
            &mut out,
            "windows (heights)",
            format!(
                "retain {}, validity {}",
                or_default(self.retain_heights),
                or_default(self.validity_heights)
            ),
        );
        line(
            &mut out,
            "offered",
            format!("{:.1} tx/s over {:.0} s", self.offered_tps, self.duration_s),
        );
        line(
            &mut out,
            "accepted",
            format!("{:.1} tx/s, rejects {:?}", self.accepted_tps, self.rejects),
        );
        line(&mut out, "ordered", format!("{:.1} tx/s", self.ordered_tps));
        if self.mode == "encrypted" {
            line(
                &mut out,
                "decrypted + certified",
                format!("{:.1} tx/s", self.certified_tps),
            );
        }
        let latency = |l: &Latency| {
            format!(
                "p50 {:.0} ms, p90 {:.0} ms, p99 {:.0} ms, max {:.0} ms ({} samples)",
                l.p50_ms, l.p90_ms, l.p99_ms, l.max_ms, l.count
            )
        };
        line(&mut out, "submit → ordered", latency(&self.ordered_latency));
        if self.mode == "encrypted" {
            line(
                &mut out,
                "submit → certified",
                latency(&self.certified_latency),
            );
        }
        line(
            &mut out,
            "unfinished after drain",
            self.unfinished.to_string(),
        );
        let cpu = &self.cpu;
        line(
            &mut out,
            "CPU per ordered tx",
            format!(
                "{:.1} µs per validator (mean of {:.1} validator CPU s over {:.1} s, {} ordered)",
                cpu.validator_us_per_ordered_tx,
                cpu.validator_seconds.iter().sum::<f64>()
                    / cpu.validator_seconds.len().max(1) as f64,
                cpu.wall_seconds,
                self.ordered_count
            ),
        );
        if self.mode == "encrypted" {
            line(
                &mut out,
                "CPU per certified tx",
                format!("{:.1} µs per validator", cpu.validator_us_per_certified_tx),
            );
        }
        line(
            &mut out,
            "  by stage",
            cpu.stage_us_per_tx
                .iter()
                .map(|(stage, us)| format!("{stage} {us:.0} µs"))
                .collect::<Vec<_>>()
                .join(", "),
        );
        line(
            &mut out,
            "generator CPU",
            format!(
                "{:.1} CPU s over the same {:.1} s (load, followers, sampler)",
                cpu.generator_seconds, cpu.wall_seconds
            ),
        );
        if self.mode == "encrypted" {
            line(
                &mut out,
                "encryption",
                if self.encrypted_before_clock {
                    format!(
                        "every payload before the clock ({:.1} s on every core)",
                        self.preparation_seconds
                    )
                } else {
                    "just ahead of the schedule, inside the window".to_string()
                },
            );
        }
        line(&mut out, "stages (validator 0)", self.stages.summary());
        for (index, resources) in self.resources.iter().enumerate() {
            line(
                &mut out,
                &format!("validator {index}"),
                format!(
                    "{:.1} CPU s, peak RSS {:.0} MiB",
                    resources.cpu_seconds, resources.peak_rss_mib
                ),
            );
        }
        let mempool_max = self.samples.iter().map(|s| s.mempool).max().unwrap_or(0);
        let rss: Vec<f64> = self.samples.iter().map(|s| s.rss_mib_max).collect();
        line(
            &mut out,
            "mempool (validator 0)",
            format!("max {mempool_max} over the run"),
        );
        if let (Some(first), Some(last)) = (rss.first(), rss.last()) {
            let peak = rss.iter().cloned().fold(0.0, f64::max);
            line(
                &mut out,
                "RSS (largest validator)",
                format!("{first:.0} MiB at 1 s, {last:.0} MiB at the end, peak {peak:.0} MiB"),
            );
        }
        let stability = &self.stability;
        line(
            &mut out,
            "bounds",
            format!(
                "{} over s {}..={}: mempool max {} (bound {}), RSS max {:.0} MiB (bound {:.0}), \
                 RSS slope {:+.2} MiB/min over the last half, certified lag max {} heights",
                if stability.held { "held" } else { "NOT held" },
                stability.from_second,
                stability.to_second,
                stability.mempool_max,
                stability.mempool_bound,
                stability.rss_mib_max,
                stability.rss_bound_mib,
                stability.rss_slope_mib_per_min,
                stability.certified_lag_max,
            ),
        );
        out
    }
}

/// Runs one validator in this process (the child side of a run).
pub fn run_validator(config: &Path) -> anyhow::Result<()> {
    let loaded =
        NodeConfig::load(config).with_context(|| format!("loading {}", config.display()))?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("starting the runtime")?;
    runtime.block_on(async move {
        let shutdown = async {
            use tokio::signal::unix::{signal, SignalKind};
            if let Ok(mut terminate) = signal(SignalKind::terminate()) {
                terminate.recv().await;
            }
        };
        shroud_node::runtime::run(loaded, shutdown).await
    })?;
    Ok(())
}

/// The run's validators and their HTTP addresses.
struct Network {
    processes: Processes,
    http: Vec<SocketAddr>,
}

fn start_network(folder: &Path, options: &RunOptions) -> anyhow::Result<Network> {
    let ports = free_loopback_ports(options.validators)?;
    // The node's defaults: what an operator runs.
    let configs = write_testnet(
        folder,
        &ports,
        1,
        ConsensusSection::default(),
        MempoolSection::default(),
        KeySource::Dkg,
    )?;
    if let Some(validity_heights) = options.validity_heights {
        shroud_node::config::set_validity_heights(folder, validity_heights)?;
    }
    let exe = std::env::current_exe().context("locating shroud-bench")?;
    let mut network = Network {
        processes: Processes::default(),
        http: ports.iter().map(|p| p.http).collect(),
    };
    for (index, path) in configs.iter().enumerate() {
        let mut config: NodeConfig = toml::from_str(&std::fs::read_to_string(path)?)?;
        config.ordering_only = options.ordering_only;
        if let Some(retain_heights) = options.retain_heights {
            config.storage.retain_heights = retain_heights;
        }
        std::fs::write(path, toml::to_string(&config)?)?;
        let log = std::fs::File::create(folder.join(format!("validator-{index}.log")))?;
        network.processes.children.push(
            Command::new(&exe)
                .args(["validator", "--config"])
                .arg(path)
                .env("RUST_LOG", "warn")
                .stdout(Stdio::null())
                .stderr(log)
                .spawn()
                .context("starting a validator")?,
        );
    }
    Ok(network)
}

/// GET over plain HTTP; the JSON body.
fn http_get(address: SocketAddr, path: &str) -> Option<serde_json::Value> {
    let mut stream = std::net::TcpStream::connect_timeout(&address, Duration::from_secs(2)).ok()?;
    stream.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
    write!(stream, "GET {path} HTTP/1.0\r\nHost: localhost\r\n\r\n").ok()?;
    let mut response = String::new();
    stream.read_to_string(&mut response).ok()?;
    serde_json::from_str(response.split("\r\n\r\n").nth(1)?).ok()
}

/// (utime + stime) seconds and peak RSS MiB of a process, from `/proc`.
fn resources(pid: u32) -> Resources {
    let cpu_seconds = std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .ok()
        .and_then(|stat| stat_cpu_seconds(&stat))
        .unwrap_or(0.0);
    let status_kib = |key: &str| -> f64 {
        std::fs::read_to_string(format!("/proc/{pid}/status"))
            .ok()
            .and_then(|status| {
                let line = status.lines().find(|line| line.starts_with(key))?;
                line.split_whitespace().nth(1)?.parse().ok()
            })
            .unwrap_or(0.0)
    };
    Resources {
        cpu_seconds,
        peak_rss_mib: status_kib("VmHWM:") / 1024.0,
    }
}

fn rss_mib(pid: u32) -> f64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|status| {
            let line = status.lines().find(|line| line.starts_with("VmRSS:"))?;
            line.split_whitespace().nth(1)?.parse::<f64>().ok()
        })
        .map_or(0.0, |kib| kib / 1024.0)
}

/// One planned transaction: its plaintext (a bundle's encoding, or opaque bytes in
/// ordering-only mode) and the namespaces it touches.
type Planned = (Vec<u8>, Vec<NamespaceId>);

/// The plaintext of transaction `i`: random bytes, in a bundle for one namespace or (for
/// `bundle_percent` of them) two.
fn payload(options: &RunOptions, i: usize, rng: &mut impl RngCore) -> Planned {
    let mut data = vec![0u8; options.payload_bytes];
    rng.fill_bytes(&mut data);
    if options.ordering_only {
        return (data, Vec::new());
    }
    let first = NAMESPACES[i % 2];
    let mut items = vec![Item {
        namespace: first,
        data: data.clone(),
    }];
    if rng.next_u32() % 100 < options.bundle_percent {
        items.push(Item {
            namespace: NAMESPACES[(i + 1) % 2],
            data: data[..data.len() / 2].to_vec(),
        });
    }
    let namespaces = items.iter().map(|item| item.namespace).collect();
    (Bundle { items }.encode(), namespaces)
}

/// Heights a second that no run is expected to pass (the ordering path's fastest pace under
/// load is about 16): what decides whether a run's ciphertexts can all be made before it.
const HEIGHTS_PER_SECOND_MAX: u64 = 20;

/// Whether every height of the run and its drain fits the chain's validity window, so that
/// every ciphertext can be made before the clock starts and still be valid at its turn.
fn fits_window(committee: &Committee, options: &RunOptions) -> bool {
    let seconds = options.duration.as_secs() + DRAIN.as_secs() + 1;
    seconds.saturating_mul(HEIGHTS_PER_SECOND_MAX) < committee.validity_heights()
}

/// Makes every one of `count` transactions before the clock starts, on every core, each
/// valid through the whole validity window above `anchor`; then hands them over in order.
fn encrypt_before_clock(
    committee: Committee,
    options: RunOptions,
    count: usize,
    anchor: u64,
) -> tokio::sync::mpsc::Receiver<Planned> {
    let (sender, receiver) = tokio::sync::mpsc::channel(count.max(1));
    std::thread::spawn(move || {
        let valid_through = anchor + committee.validity_heights();
        let made: Vec<Planned> = (0..count)
            .into_par_iter()
            .map_init(
                || ChaCha8Rng::from_rng(OsRng).expect("the OS has randomness"),
                |rng, i| {
                    let (plaintext, namespaces) = payload(&options, i, rng);
                    let bytes = shroud_sdk::encrypt_bytes(&committee, &plaintext, valid_through)
                        .expect("the committee's key is certified before encryption starts");
                    (bytes, namespaces)
                },
            )
            .collect();
        for planned in made {
            if sender.blocking_send(planned).is_err() {
                return;
            }
        }
    });
    receiver
}

/// Makes `count` transactions in submission order on a thread of its own, a little ahead of
/// the schedule (the channel holds `ahead` of them). Encrypted ones are valid through half
/// the chain's validity window above the latest certified height the sampler saw: a
/// ciphertext made at the start of a long run would have expired by the time its turn came.
fn encrypt_ahead(
    committee: Committee,
    options: RunOptions,
    count: usize,
    height: Arc<std::sync::atomic::AtomicU64>,
    ahead: usize,
) -> tokio::sync::mpsc::Receiver<Planned> {
    let (sender, receiver) = tokio::sync::mpsc::channel(ahead.max(1));
    std::thread::spawn(move || {
        let half_window = committee.validity_heights() / 2;
        let mut rng = ChaCha8Rng::from_rng(OsRng).expect("the OS has randomness");
        for i in 0..count {
            let (plaintext, namespaces) = payload(&options, i, &mut rng);
            let bytes = if options.ordering_only {
                plaintext
            } else {
                let anchor = height.load(std::sync::atomic::Ordering::Relaxed);
                shroud_sdk::encrypt_bytes(&committee, &plaintext, anchor + half_window)
                    .expect("the committee's key is certified before encryption starts")
            };
            if sender.blocking_send((bytes, namespaces)).is_err() {
                return;
            }
        }
    });
    receiver
}

#[derive(Default)]
struct Timings {
    submitted: IdMap<TxId, Instant>,
    needs: IdMap<TxId, usize>,
    ordered: IdMap<TxId, Instant>,
    certified: IdMap<TxId, (usize, Instant)>,
    rejects: BTreeMap<String, u64>,
    submitted_count: u64,
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// One run. A network whose validators cannot all start (a port taken between choosing it
/// and binding it) is started again, twice at most.
pub fn run(options: &RunOptions) -> anyhow::Result<Report> {
    let mut attempt = 0;
    loop {
        attempt += 1;
        match run_once(options) {
            Err(error) if attempt < 3 && error.to_string().contains("unreachable") => {
                eprintln!("a validator did not start ({error}); starting the network again");
            }
            result => return result,
        }
    }
}

fn run_once(options: &RunOptions) -> anyhow::Result<Report> {
    let folder = tempfile::Builder::new().prefix("shroud-bench-").tempdir()?;
    let network = start_network(folder.path(), options)?;
    let launched = Instant::now();
    let committee = Committee::load(&folder.path().join("committee.toml"))?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    let result = runtime.block_on(async {
        // The genesis file has no key: the validators form it with their DKG, and clients
        // encrypt only to the key the committee certified.
        let mut client = connect(&committee, &[0]).await?;
        client
            .wait_for_key(Duration::from_secs(120))
            .await
            .context("waiting for the validators' DKG")?;
        let key_formed_seconds = launched.elapsed().as_secs_f64();
        let committee = client.committee().clone();
        client.close();
        let mut report = drive(&committee, options, &network).await?;
        report.key_formed_seconds = key_formed_seconds;
        Ok(report)
    });
    if result.is_err() {
        for index in 0..options.validators {
            let path = folder.path().join(format!("validator-{index}.log"));
            if let Ok(text) = std::fs::read_to_string(path) {
                let head: Vec<&str> = text.lines().take(3).collect();
                eprintln!("--- validator {index} ---\n{}", head.join("\n"));
            }
        }
    }
    result
}

async fn connect(committee: &Committee, validators: &[usize]) -> anyhow::Result<Client> {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        match Client::connect(committee.clone(), validators).await {
            Ok(client) => return Ok(client),
            Err(error) if Instant::now() >= deadline => bail!("validators unreachable: {error}"),
            Err(_) => tokio::time::sleep(Duration::from_millis(200)).await,
        }
    }
}

async fn drive(
    committee: &Committee,
    options: &RunOptions,
    network: &Network,
) -> anyhow::Result<Report> {
    let rate = options.rate;
    // Saturating runs plan for more than the machine has been seen to take.
    let planned = if rate == 0 {
        usize::try_from(SATURATING_PLAN_TPS * options.duration.as_secs().max(1))
            .unwrap_or(usize::MAX)
    } else {
        (rate * options.duration.as_secs()).max(1) as usize
    };
    let mut clients = Vec::new();
    for index in 0..options.clients.max(1) {
        clients.push(Arc::new(
            connect(committee, &[index % options.validators]).await?,
        ));
    }
    let height = Arc::new(std::sync::atomic::AtomicU64::new(
        clients[0].learned_height(),
    ));
    // An encrypted run at a fixed rate whose heights fit the validity window has every
    // payload encrypted before the clock starts: encryption is the clients' cost, not the
    // validators'. Otherwise two seconds of the schedule (at least 16 transactions) are made
    // ahead of it: more would age the expiries (at ten heights a second, a short validity
    // window is seconds).
    let before_clock = !options.ordering_only && rate > 0 && fits_window(committee, options);
    let ahead = if before_clock {
        planned
    } else if rate == 0 {
        SATURATING_AHEAD
    } else {
        usize::try_from(rate.saturating_mul(2))
            .unwrap_or(usize::MAX)
            .max(16)
    };
    let encryption_started = Instant::now();
    let mut prepared = if before_clock {
        let anchor = height.load(std::sync::atomic::Ordering::Relaxed);
        encrypt_before_clock(committee.clone(), options.clone(), planned, anchor)
    } else {
        encrypt_ahead(
            committee.clone(),
            options.clone(),
            planned,
            height.clone(),
            ahead,
        )
    };
    // Fill the channel before the clock starts.
    while prepared.len() < ahead.min(planned) && !prepared.is_closed() {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let encryption_seconds = encryption_started.elapsed().as_secs_f64();
    let timings: Arc<Mutex<Timings>> = Arc::default();
    // One pipelined submission stream per client connection.
    let mut senders = Vec::new();
    let mut streams = tokio::task::JoinSet::new();
    for (index, client) in clients.iter().enumerate() {
        let (stream, receipts) = client.submission_stream(index % options.validators).await?;
        let (to_writer, from_scheduler) = tokio::sync::mpsc::channel::<Planned>(STREAM_QUEUE);
        let (sent, sent_order) = tokio::sync::mpsc::unbounded_channel();
        streams.spawn(write_stream(stream, from_scheduler, sent, timings.clone()));
        streams.spawn(read_receipts(receipts, sent_order, timings.clone()));
        senders.push(to_writer);
    }
    let cpu_before = CpuMark::take(network);
    let started = Instant::now();
    let followers = start_followers(
        committee,
        options,
        network,
        timings.clone(),
        started,
        height,
    )
    .await?;

    // Submit on schedule: transaction i leaves at start + i / rate (rate 0: as fast as the
    // streams take them).
    let mut i = 0usize;
    let mut last_progress = Instant::now();
    'schedule: while started.elapsed() < options.duration {
        let due = if rate > 0 {
            (started.elapsed().as_secs_f64() * rate as f64) as usize + 1
        } else {
            i + SATURATING_STEP
        };
        while i < due {
            let Some(next) = prepared.recv().await else {
                break 'schedule;
            };
            // A stream that failed (its error is counted among the rejects) leaves the
            // rotation; the load goes on over the others.
            let mut next = next;
            loop {
                let at = i % senders.len();
                match senders[at].send(next).await {
                    Ok(()) => break,
                    Err(tokio::sync::mpsc::error::SendError(back)) => {
                        senders.swap_remove(at);
                        if senders.is_empty() {
                            break 'schedule;
                        }
                        next = back;
                    }
                }
            }
            i += 1;
        }
        if !options.quiet && last_progress.elapsed() >= Duration::from_millis(500) {
            last_progress = Instant::now();
            progress(&timings, started, options);
        }
        if rate > 0 {
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
    }
    let window = started
        .elapsed()
        .min(options.duration.max(Duration::from_millis(1)));
    // Closing the schedule's side ends each stream; its receipts still come.
    drop(senders);
    while streams.join_next().await.is_some() {}
    // Drain: wait for what was accepted to finish (bounded).
    let drain_until = Instant::now() + DRAIN;
    while Instant::now() < drain_until && !finished(&timings, options) {
        if !options.quiet {
            progress(&timings, started, options);
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    let cpu_after = CpuMark::take(network);
    if !options.quiet {
        eprintln!();
    }
    let stages = http_text(network.http[0], "/metrics")
        .map(|text| StageTimings::parse(&text))
        .unwrap_or_default();
    let samples = followers.stop().await;
    for client in &clients {
        client.close();
    }
    let mut report = report(options, network, &timings, window, samples);
    let certified = report.certified_latency.count;
    report.cpu = cpu_after.since(&cpu_before, report.ordered_count, certified);
    report.stages = stages;
    report.encrypted_before_clock = before_clock;
    report.preparation_seconds = encryption_seconds;
    Ok(report)
}

/// Writes the planned transactions on one submission stream, noting each one's id and send
/// time for the receipt reader, in order.
async fn write_stream(
    mut stream: shroud_sdk::SubmitStream,
    mut planned: tokio::sync::mpsc::Receiver<Planned>,
    sent: tokio::sync::mpsc::UnboundedSender<(TxId, Instant, usize)>,
    timings: Arc<Mutex<Timings>>,
) {
    while let Some((bytes, namespaces)) = planned.recv().await {
        let at = Instant::now();
        match stream.send(&bytes).await {
            Ok(id) => {
                lock(&timings).submitted_count += 1;
                if sent.send((id, at, namespaces.len())).is_err() {
                    return;
                }
            }
            Err(error) => {
                *lock(&timings)
                    .rejects
                    .entry(format!("error: {error}"))
                    .or_default() += 1;
                return;
            }
        }
    }
    let _ = stream.finish();
}

/// Reads one stream's receipts, in the order its transactions were sent.
async fn read_receipts(
    mut receipts: shroud_sdk::ReceiptStream,
    mut sent: tokio::sync::mpsc::UnboundedReceiver<(TxId, Instant, usize)>,
    timings: Arc<Mutex<Timings>>,
) {
    loop {
        let receipt = match receipts.next().await {
            Ok(Some(receipt)) => receipt,
            Ok(None) => return,
            Err(error) => {
                *lock(&timings)
                    .rejects
                    .entry(format!("error: {error}"))
                    .or_default() += 1;
                return;
            }
        };
        let Some((id, at, needs)) = sent.recv().await else {
            return;
        };
        let mut timings = lock(&timings);
        match receipt {
            StreamReceipt::Accepted(accepted) if accepted == id => {
                timings.submitted.insert(id, at);
                timings.needs.insert(id, needs);
            }
            StreamReceipt::Accepted(_) => {
                *timings
                    .rejects
                    .entry("error: a receipt out of order".into())
                    .or_default() += 1;
            }
            StreamReceipt::Rejected { label, .. } => {
                *timings.rejects.entry(label).or_default() += 1;
            }
        }
    }
}

fn finished(timings: &Mutex<Timings>, options: &RunOptions) -> bool {
    let timings = lock(timings);
    timings.submitted.keys().all(|id| {
        if options.ordering_only {
            timings.ordered.contains_key(id)
        } else {
            timings
                .certified
                .get(id)
                .is_some_and(|(seen, _)| Some(seen) == timings.needs.get(id))
        }
    })
}

fn progress(timings: &Mutex<Timings>, started: Instant, options: &RunOptions) {
    let timings = lock(timings);
    let done = if options.ordering_only {
        timings.ordered.len()
    } else {
        timings.certified.len()
    };
    eprint!(
        "\r{:>5.1} s  submitted {:>7}  accepted {:>7}  {} {:>7}   ",
        started.elapsed().as_secs_f64(),
        timings.submitted_count,
        timings.submitted.len(),
        if options.ordering_only {
            "ordered"
        } else {
            "certified"
        },
        done
    );
    let _ = std::io::stderr().flush();
}

struct Followers {
    stop: Arc<std::sync::atomic::AtomicBool>,
    handles: Vec<tokio::task::JoinHandle<()>>,
    sampler: tokio::task::JoinHandle<Vec<Sample>>,
}

impl Followers {
    async fn stop(self) -> Vec<Sample> {
        self.stop.store(true, std::sync::atomic::Ordering::SeqCst);
        for handle in self.handles {
            let _ = handle.await;
        }
        self.sampler.await.unwrap_or_default()
    }
}

/// Ids per `/order` page (the node's most).
const ORDER_PAGE: usize = 10_000;

async fn start_followers(
    committee: &Committee,
    options: &RunOptions,
    network: &Network,
    timings: Arc<Mutex<Timings>>,
    started: Instant,
    height: Arc<std::sync::atomic::AtomicU64>,
) -> anyhow::Result<Followers> {
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let mut handles = Vec::new();
    // The committed order, from validator 0.
    let (order_stop, order_timings, http) = (stop.clone(), timings.clone(), network.http[0]);
    handles.push(tokio::spawn(async move {
        let mut next = 0u64;
        while !order_stop.load(std::sync::atomic::Ordering::SeqCst) {
            let path = format!("/order?from={next}&limit={ORDER_PAGE}");
            let page = tokio::task::spawn_blocking(move || http_get(http, &path))
                .await
                .ok()
                .flatten();
            let ids: Vec<String> = page
                .and_then(|value| value.as_array().cloned())
                .unwrap_or_default()
                .into_iter()
                .filter_map(|id| id.as_str().map(str::to_string))
                .collect();
            let now = Instant::now();
            let full = ids.len() >= ORDER_PAGE;
            next += ids.len() as u64;
            {
                let mut timings = lock(&order_timings);
                for id in ids {
                    if let Ok(bytes) = hex_id(&id) {
                        timings.ordered.entry(TxId(bytes)).or_insert(now);
                    }
                }
            }
            if !full {
                // Caught up: a full page means more is waiting, so only then ask again at once.
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        }
    }));
    // The namespaces, through the SDK (every output verified).
    if !options.ordering_only {
        let client = Arc::new(connect(committee, &[1 % options.validators]).await?);
        for namespace in NAMESPACES {
            let (client, stop, timings) = (client.clone(), stop.clone(), timings.clone());
            handles.push(tokio::spawn(async move {
                let mut subscription = client.subscribe(namespace, 1);
                while !stop.load(std::sync::atomic::Ordering::SeqCst) {
                    let Ok(outputs) = subscription.next(Duration::from_millis(500)).await else {
                        tokio::time::sleep(Duration::from_millis(200)).await;
                        continue;
                    };
                    let now = Instant::now();
                    let mut timings = lock(&timings);
                    for output in outputs {
                        for item in &output.items {
                            let entry = timings.certified.entry(item.tx_id).or_insert((0, now));
                            entry.0 += 1;
                            entry.1 = now;
                        }
                    }
                }
            }));
        }
    }
    // Once a second: validator 0's mempool and order, and every validator's RSS and certified
    // height (a validator falling behind its peers shows as lag before it shows as latency).
    let pids: Vec<u32> = network.processes.children.iter().map(Child::id).collect();
    let (sampler_stop, addresses) = (stop.clone(), network.http.clone());
    let sampler = tokio::spawn(async move {
        let mut samples = Vec::new();
        let mut second = 1;
        while !sampler_stop.load(std::sync::atomic::Ordering::SeqCst) {
            tokio::time::sleep_until((started + Duration::from_secs(second)).into()).await;
            let polled = addresses.clone();
            let statuses = tokio::task::spawn_blocking(move || {
                polled
                    .iter()
                    .map(|address| http_get(*address, "/v1/status"))
                    .collect::<Vec<_>>()
            })
            .await
            .unwrap_or_default();
            let field = |index: usize, name: &str| {
                statuses
                    .get(index)
                    .and_then(Option::as_ref)
                    .and_then(|s| s.get(name)?.as_str()?.parse().ok())
                    .unwrap_or(0)
            };
            let rss: Vec<f64> = pids.iter().map(|pid| rss_mib(*pid)).collect();
            let certified = (0..statuses.len())
                .map(|index| field(index, "certified_height"))
                .max()
                .unwrap_or(0);
            height.fetch_max(certified, std::sync::atomic::Ordering::Relaxed);
            samples.push(Sample {
                second,
                mempool: field(0, "mempool"),
                ordered: field(0, "ordered"),
                rss_mib_max: rss.iter().cloned().fold(0.0, f64::max),
                certified_height: field(0, "certified_height"),
                kept_from_height: field(0, "kept_from_height"),
                certified_heights: (0..statuses.len())
                    .map(|index| field(index, "certified_height"))
                    .collect(),
                rss_mib: rss,
            });
            second += 1;
        }
        samples
    });
    Ok(Followers {
        stop,
        handles,
        sampler,
    })
}

fn hex_id(text: &str) -> anyhow::Result<[u8; 32]> {
    let mut out = [0u8; 32];
    if text.len() != 64 {
        bail!("not a tx id");
    }
    for (i, byte) in out.iter_mut().enumerate() {
        *byte = u8::from_str_radix(&text[2 * i..2 * i + 2], 16)?;
    }
    Ok(out)
}

fn report(
    options: &RunOptions,
    network: &Network,
    timings: &Mutex<Timings>,
    window: Duration,
    samples: Vec<Sample>,
) -> Report {
    let timings = lock(timings);
    let mut ordered_histogram = Histogram::<u64>::new(3).expect("3 significant figures is valid");
    let mut certified_histogram = Histogram::<u64>::new(3).expect("3 significant figures is valid");
    let mut last_ordered = None::<Instant>;
    let mut last_certified = None::<Instant>;
    let first_submit = timings.submitted.values().min().copied();
    let mut unfinished = 0;
    for (id, at) in &timings.submitted {
        match timings.ordered.get(id) {
            Some(ordered) => {
                let _ = ordered_histogram
                    .record(ordered.saturating_duration_since(*at).as_micros() as u64);
                last_ordered = last_ordered.max(Some(*ordered));
            }
            None => unfinished += 1,
        }
        if options.ordering_only {
            continue;
        }
        match timings.certified.get(id) {
            Some((seen, certified)) if Some(seen) == timings.needs.get(id) => {
                let _ = certified_histogram
                    .record(certified.saturating_duration_since(*at).as_micros() as u64);
                last_certified = last_certified.max(Some(*certified));
            }
            _ => unfinished += 1,
        }
    }
    let rate_until = |last: Option<Instant>, count: u64| -> f64 {
        match (first_submit, last) {
            (Some(first), Some(last)) => {
                count as f64
                    / last
                        .duration_since(first)
                        .as_secs_f64()
                        .max(window.as_secs_f64())
            }
            _ => 0.0,
        }
    };
    let seconds = window.as_secs_f64().max(1e-3);
    let stability = Stability::judge(
        &samples,
        options.warmup.min(window / 2).as_secs() + 1,
        window.as_secs(),
        options.mempool_bound(),
        options.rss_bound_mib,
    );
    Report {
        mode: if options.ordering_only {
            "ordering-only"
        } else {
            "encrypted"
        }
        .into(),
        validators: options.validators,
        payload_bytes: options.payload_bytes,
        clients: options.clients,
        retain_heights: options.retain_heights,
        validity_heights: options.validity_heights,
        duration_s: seconds,
        offered_tps: timings.submitted_count as f64 / seconds,
        accepted_tps: timings.submitted.len() as f64 / seconds,
        ordered_tps: rate_until(last_ordered, ordered_histogram.len()),
        ordered_count: ordered_histogram.len(),
        cpu: CpuReport::default(),
        stages: StageTimings::default(),
        encrypted_before_clock: false,
        preparation_seconds: 0.0,
        key_formed_seconds: 0.0,
        certified_tps: rate_until(last_certified, certified_histogram.len()),
        ordered_latency: Latency::of(&ordered_histogram),
        certified_latency: Latency::of(&certified_histogram),
        unfinished,
        rejects: timings.rejects.clone(),
        resources: network
            .processes
            .children
            .iter()
            .map(|child| resources(child.id()))
            .collect(),
        stability,
        samples,
    }
}

/// What a sweep does.
#[derive(Clone, Debug)]
pub struct SweepOptions {
    /// Encrypted-mode rates.
    pub encrypted_rates: Vec<u64>,
    /// Ordering-only rates.
    pub ordering_rates: Vec<u64>,
    /// Runs per point.
    pub repeats: usize,
    /// Load window per run.
    pub duration: Duration,
    /// Output folder.
    pub out: PathBuf,
}

/// One point of the curve: medians over the repeats.
#[derive(Clone, Debug, Serialize)]
pub struct Point {
    /// Mode.
    pub mode: String,
    /// Offered rate asked for.
    pub rate: u64,
    /// Median offered tx/s.
    pub offered_tps: f64,
    /// Median of the mode's throughput (ordered, or certified).
    pub throughput_tps: f64,
    /// Median p50 latency of the mode (submit → ordered, or → certified), ms.
    pub p50_ms: f64,
    /// Median p99 latency, ms.
    pub p99_ms: f64,
    /// Every run's report.
    pub runs: Vec<Report>,
}

/// A run's throughput, p50 and p99 in its mode (ordered, or certified).
fn pick(report: &Report, ordering_only: bool) -> (f64, f64, f64) {
    if ordering_only {
        (
            report.ordered_tps,
            report.ordered_latency.p50_ms,
            report.ordered_latency.p99_ms,
        )
    } else {
        (
            report.certified_tps,
            report.certified_latency.p50_ms,
            report.certified_latency.p99_ms,
        )
    }
}

fn median(mut values: Vec<f64>) -> f64 {
    values.sort_by(f64::total_cmp);
    values.get(values.len() / 2).copied().unwrap_or(0.0)
}

/// Runs the sweep and writes `sweep.json` and `curve.svg` into the output folder.
pub fn sweep(options: &SweepOptions) -> anyhow::Result<()> {
    std::fs::create_dir_all(&options.out)?;
    let mut points = Vec::new();
    for (ordering_only, rates) in [
        (false, &options.encrypted_rates),
        (true, &options.ordering_rates),
    ] {
        for rate in rates {
            let mut runs = Vec::new();
            for repeat in 0..options.repeats {
                let run_options = RunOptions {
                    validators: 4,
                    rate: *rate,
                    duration: options.duration,
                    payload_bytes: 512,
                    bundle_percent: 10,
                    clients: 8,
                    ordering_only,
                    retain_heights: None,
                    validity_heights: None,
                    warmup: WARMUP_DEFAULT,
                    mempool_bound: None,
                    rss_bound_mib: RSS_BOUND_MIB_DEFAULT,
                    quiet: true,
                };
                let report = run(&run_options)?;
                eprintln!(
                    "{} rate {rate} run {}: offered {:.0}, ordered {:.0}, certified {:.0} tx/s",
                    report.mode,
                    repeat + 1,
                    report.offered_tps,
                    report.ordered_tps,
                    report.certified_tps
                );
                runs.push(report);
            }
            points.push(Point {
                mode: runs[0].mode.clone(),
                rate: *rate,
                offered_tps: median(runs.iter().map(|r| r.offered_tps).collect()),
                throughput_tps: median(runs.iter().map(|r| pick(r, ordering_only).0).collect()),
                p50_ms: median(runs.iter().map(|r| pick(r, ordering_only).1).collect()),
                p99_ms: median(runs.iter().map(|r| pick(r, ordering_only).2).collect()),
                runs,
            });
        }
    }
    std::fs::write(
        options.out.join("sweep.json"),
        serde_json::to_string_pretty(&points)?,
    )?;
    plot(&points, &options.out.join("curve.svg"))?;
    println!("| mode | offered (tx/s) | throughput (tx/s) | p50 (ms) | p99 (ms) |");
    println!("|---|---|---|---|---|");
    for point in &points {
        println!(
            "| {} | {:.0} | {:.0} | {:.0} | {:.0} |",
            point.mode, point.offered_tps, point.throughput_tps, point.p50_ms, point.p99_ms
        );
    }
    Ok(())
}

fn plot(points: &[Point], path: &Path) -> anyhow::Result<()> {
    use plotters::prelude::*;
    let root = SVGBackend::new(path, (900, 560)).into_drawing_area();
    root.fill(&WHITE).map_err(|e| anyhow::anyhow!("{e}"))?;
    let x_max = points.iter().map(|p| p.throughput_tps).fold(10.0, f64::max) * 1.15;
    let y_max = points.iter().map(|p| p.p50_ms).fold(10.0, f64::max) * 1.15;
    let mut chart = ChartBuilder::on(&root)
        .caption(
            "Shroud, 4 validators, 512-byte transactions: median latency vs throughput",
            ("sans-serif", 18),
        )
        .margin(20)
        .x_label_area_size(45)
        .y_label_area_size(60)
        .build_cartesian_2d(0.0..x_max, (1.0f64..y_max).log_scale())
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    chart
        .configure_mesh()
        .x_desc("throughput (tx/s): certified (encrypted) or ordered (ordering-only)")
        .y_desc("p50 latency from submit (ms, log scale)")
        .draw()
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    for (mode, color) in [("encrypted", RED), ("ordering-only", BLUE)] {
        let series: Vec<(f64, f64)> = points
            .iter()
            .filter(|p| p.mode == mode)
            .map(|p| (p.throughput_tps, p.p50_ms.max(1.0)))
            .collect();
        chart
            .draw_series(LineSeries::new(series.clone(), color.stroke_width(2)))
            .map_err(|e| anyhow::anyhow!("{e}"))?
            .label(mode)
            .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], color));
        chart
            .draw_series(
                series
                    .into_iter()
                    .map(|point| Circle::new(point, 4, color.filled())),
            )
            .map_err(|e| anyhow::anyhow!("{e}"))?;
    }
    chart
        .configure_series_labels()
        .border_style(BLACK)
        .background_style(WHITE.mix(0.8))
        .draw()
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    root.present().map_err(|e| anyhow::anyhow!("{e}"))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample(second: u64, mempool: u64, rss: f64, certified: &[u64]) -> Sample {
        Sample {
            second,
            mempool,
            rss_mib_max: rss,
            rss_mib: vec![rss],
            certified_heights: certified.to_vec(),
            ..Sample::default()
        }
    }

    #[test]
    fn a_slope_is_the_least_squares_fit() {
        assert_eq!(slope(&[]), 0.0);
        assert_eq!(slope(&[(1.0, 5.0)]), 0.0);
        assert_eq!(slope(&[(2.0, 1.0), (2.0, 3.0)]), 0.0);
        let line: Vec<(f64, f64)> = (0..10).map(|x| (x as f64, 3.0 + 0.5 * x as f64)).collect();
        assert!((slope(&line) - 0.5).abs() < 1e-12);
    }

    #[test]
    fn stability_judges_only_the_window_after_warm_up() {
        // A warm-up spike (second 1) and the drain (second 20) are outside the judged seconds.
        let mut samples = vec![sample(1, 500, 200.0, &[1, 1])];
        samples.extend((2..=10).map(|second| sample(second, 3, 40.0, &[second, second - 2])));
        samples.push(sample(20, 900, 300.0, &[50, 10]));
        let stability = Stability::judge(&samples, 2, 10, 64, 96.0);
        assert!(stability.held);
        assert_eq!(stability.mempool_max, 3);
        assert_eq!(stability.rss_mib_max, 40.0);
        assert_eq!(stability.rss_slope_mib_per_min, 0.0);
        assert_eq!(stability.certified_lag_max, 2);
    }

    #[test]
    fn stability_fails_on_either_bound_and_on_no_samples() {
        let growing: Vec<Sample> = (1..=120)
            .map(|second| sample(second, second, 30.0 + second as f64 / 60.0, &[]))
            .collect();
        let judged = Stability::judge(&growing, 1, 120, 100, 96.0);
        assert!(!judged.held, "the mempool passes its bound");
        assert!((judged.rss_slope_mib_per_min - 1.0).abs() < 1e-9);
        assert!(!Stability::judge(&growing, 1, 120, 200, 31.0).held);
        assert!(Stability::judge(&growing, 1, 120, 200, 96.0).held);
        assert!(!Stability::judge(&growing, 200, 300, 200, 96.0).held);
    }
}

/// CPU over the load window and the drain.
#[derive(Clone, Debug, Default, Serialize)]
pub struct CpuReport {
    /// Wall-clock seconds measured over.
    pub wall_seconds: f64,
    /// CPU seconds of each validator.
    pub validator_seconds: Vec<f64>,
    /// CPU seconds of the generator process (its clients, followers and sampler).
    pub generator_seconds: f64,
    /// Mean validator CPU per ordered transaction, microseconds.
    pub validator_us_per_ordered_tx: f64,
    /// Mean validator CPU per certified transaction, microseconds (encrypted mode).
    pub validator_us_per_certified_tx: f64,
    /// The same by stage: mean validator CPU per certified (encrypted) or ordered transaction,
    /// microseconds, by the thread that spent it (`decryption`, `ingress`, `tokio` workers
    /// with QUIC and HTTP, `sled` I/O, and `loop` for the validator loop and the rest).
    pub stage_us_per_tx: BTreeMap<String, f64>,
}

/// CPU seconds of every process at one moment, and of each validator's threads by stage.
struct CpuMark {
    at: Instant,
    validators: Vec<f64>,
    stages: Vec<BTreeMap<String, f64>>,
    generator: f64,
}

/// The stage a validator thread serves, from its name.
fn stage_of(thread_name: &str) -> &'static str {
    match thread_name {
        name if name.starts_with("decryption") => "decryption",
        name if name.starts_with("ingress") => "ingress",
        name if name.starts_with("check") => "check",
        name if name.starts_with("tokio") => "tokio",
        name if name.starts_with("sled") => "sled",
        _ => "loop",
    }
}

/// (utime + stime) seconds from a `/proc` `stat` line (of a process or of one thread).
fn stat_cpu_seconds(stat: &str) -> Option<f64> {
    let ticks_per_second = 100.0; // Linux USER_HZ
                                  // Fields after the command name (which may hold spaces) start after the last ')'.
    let rest = stat.rsplit_once(')')?.1;
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let utime: f64 = fields.get(11)?.parse().ok()?;
    let stime: f64 = fields.get(12)?.parse().ok()?;
    Some((utime + stime) / ticks_per_second)
}

/// (utime + stime) seconds of a process's live threads, summed by stage.
fn thread_cpu(pid: u32) -> BTreeMap<String, f64> {
    let mut stages = BTreeMap::new();
    let Ok(tasks) = std::fs::read_dir(format!("/proc/{pid}/task")) else {
        return stages;
    };
    for task in tasks.flatten() {
        let path = task.path();
        let (Ok(name), Ok(stat)) = (
            std::fs::read_to_string(path.join("comm")),
            std::fs::read_to_string(path.join("stat")),
        ) else {
            continue;
        };
        let seconds = stat_cpu_seconds(&stat).unwrap_or(0.0);
        *stages
            .entry(stage_of(name.trim()).to_string())
            .or_insert(0.0) += seconds;
    }
    stages
}

impl CpuMark {
    fn take(network: &Network) -> Self {
        Self {
            at: Instant::now(),
            validators: network
                .processes
                .children
                .iter()
                .map(|child| resources(child.id()).cpu_seconds)
                .collect(),
            stages: network
                .processes
                .children
                .iter()
                .map(|child| thread_cpu(child.id()))
                .collect(),
            generator: resources(std::process::id()).cpu_seconds,
        }
    }

    /// CPU between two marks; per-stage figures are per certified transaction when any was
    /// certified (encrypted mode), else per ordered one.
    fn since(&self, before: &CpuMark, ordered: u64, certified: u64) -> CpuReport {
        let validator_seconds: Vec<f64> = self
            .validators
            .iter()
            .zip(&before.validators)
            .map(|(after, before)| after - before)
            .collect();
        let mean = validator_seconds.iter().sum::<f64>() / validator_seconds.len().max(1) as f64;
        let per = |seconds: f64, count: u64| {
            if count == 0 {
                0.0
            } else {
                seconds * 1e6 / count as f64
            }
        };
        let divisor = if certified > 0 { certified } else { ordered };
        let mut stage_seconds: BTreeMap<String, f64> = BTreeMap::new();
        for (after, before) in self.stages.iter().zip(&before.stages) {
            for (stage, seconds) in after {
                let earlier = before.get(stage).copied().unwrap_or(0.0);
                *stage_seconds.entry(stage.clone()).or_insert(0.0) += seconds - earlier;
            }
        }
        let validators = self.stages.len().max(1) as f64;
        let stage_us_per_tx = stage_seconds
            .into_iter()
            .map(|(stage, seconds)| (stage, per(seconds / validators, divisor)))
            .collect();
        CpuReport {
            validator_us_per_certified_tx: per(mean, certified),
            stage_us_per_tx,
            wall_seconds: self.at.duration_since(before.at).as_secs_f64(),
            generator_seconds: self.generator - before.generator,
            validator_us_per_ordered_tx: if ordered == 0 {
                0.0
            } else {
                mean * 1e6 / ordered as f64
            },
            validator_seconds,
        }
    }
}

/// Means of the node's per-stage histograms (sum over count), from its `/metrics`.
#[derive(Clone, Debug, Default, Serialize)]
pub struct StageTimings {
    /// Admission: one group commit (checks, one write, one flush), ms.
    pub admission_group_ms: f64,
    /// Submissions per group commit.
    pub admission_group_size: f64,
    /// Transactions per own batch.
    pub batch_transactions: f64,
    /// An own batch from cut to certificate, ms.
    pub batch_certificate_ms: f64,
    /// Turning one committed block into the committed order, ms.
    pub ordering_ms: f64,
}

impl StageTimings {
    /// Reads the means from Prometheus text.
    pub fn parse(text: &str) -> Self {
        let mean = |name: &str| -> f64 {
            let value = |suffix: &str| -> Option<f64> {
                let key = format!("{name}_{suffix} ");
                let line = text.lines().find(|line| line.starts_with(&key))?;
                line[key.len()..].trim().parse().ok()
            };
            match (value("sum"), value("count")) {
                (Some(sum), Some(count)) if count > 0.0 => sum / count,
                _ => 0.0,
            }
        };
        Self {
            admission_group_ms: mean("shroud_ingress_group_seconds") * 1e3,
            admission_group_size: mean("shroud_ingress_group_size"),
            batch_transactions: mean("shroud_batch_transactions"),
            batch_certificate_ms: mean("shroud_batch_certificate_seconds") * 1e3,
            ordering_ms: mean("shroud_commit_process_seconds") * 1e3,
        }
    }

    fn summary(&self) -> String {
        format!(
            "admission group {:.2} ms ({:.0} tx), batch {:.0} tx cut→certified {:.1} ms, \
             ordering {:.2} ms per block",
            self.admission_group_ms,
            self.admission_group_size,
            self.batch_transactions,
            self.batch_certificate_ms,
            self.ordering_ms
        )
    }
}

/// GET over plain HTTP; the body as text.
fn http_text(address: SocketAddr, path: &str) -> Option<String> {
    let mut stream = std::net::TcpStream::connect_timeout(&address, Duration::from_secs(2)).ok()?;
    stream.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
    write!(stream, "GET {path} HTTP/1.0\r\nHost: localhost\r\n\r\n").ok()?;
    let mut response = String::new();
    stream.read_to_string(&mut response).ok()?;
    Some(response.split_once("\r\n\r\n")?.1.to_string())
}
