//! `shroud-bench`: the cluster load generator. It starts an N-validator network on 127.0.0.1
//! as separate processes, drives transactions at a fixed offered rate (or as fast as they are
//! accepted), and reports throughput, latency (HDR histograms), CPU seconds and peak RSS per
//! validator, rejects by reason, and the mempool and memory over time.
//!
//! ```sh
//! cargo run --release -p shroud-benches --bin shroud-bench -- run --rate 100 --duration-s 30
//! cargo run --release -p shroud-benches --bin shroud-bench -- run --ordering-only --rate 2000
//! cargo run --release -p shroud-benches --bin shroud-bench -- sweep
//! ```

use std::path::PathBuf;
use std::time::Duration;

use clap::{Parser, Subcommand};
use shroud_benches::loadgen::{self, RunOptions};

#[derive(Parser)]
#[command(name = "shroud-bench", about = "Shroud's cluster load generator")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// One run: start a network, drive load, report.
    Run {
        #[command(flatten)]
        options: Options,
        /// Write the report as JSON here too.
        #[arg(long)]
        json: Option<PathBuf>,
    },
    /// The throughput–latency curve: runs at several rates in both modes, medians of
    /// `--repeats` runs, a JSON file and an SVG plot.
    Sweep {
        /// Offered rates of the encrypted mode (tx/s).
        #[arg(long, value_delimiter = ',', default_value = "25,50,100,150,200")]
        encrypted_rates: Vec<u64>,
        /// Offered rates of the ordering-only mode (tx/s).
        #[arg(long, value_delimiter = ',', default_value = "250,500,1000,2000,4000")]
        ordering_rates: Vec<u64>,
        /// Runs per point.
        #[arg(long, default_value_t = 3)]
        repeats: usize,
        /// Seconds of load per run.
        #[arg(long, default_value_t = 20)]
        duration_s: u64,
        /// Output folder.
        #[arg(long, default_value = "benches/results")]
        out: PathBuf,
    },
    /// Runs one validator (the generator starts its network with this).
    #[command(hide = true)]
    Validator {
        /// The node file.
        #[arg(long)]
        config: PathBuf,
    },
}

#[derive(clap::Args, Clone)]
struct Options {
    /// Validators.
    #[arg(long, default_value_t = 4)]
    validators: usize,
    /// Offered rate in tx/s (0: as fast as accepted).
    #[arg(long, default_value_t = 100)]
    rate: u64,
    /// Seconds of load.
    #[arg(long, default_value_t = 30)]
    duration_s: u64,
    /// Bytes of each transaction's payload (before encryption).
    #[arg(long, default_value_t = 512)]
    payload_bytes: usize,
    /// Percent of transactions that are cross-rollup bundles (encrypted mode).
    #[arg(long, default_value_t = 10)]
    bundle_percent: u32,
    /// Client connections.
    #[arg(long, default_value_t = 8)]
    clients: usize,
    /// Order opaque payloads with decryption off.
    #[arg(long)]
    ordering_only: bool,
    /// Heights each validator retains before pruning (default: the node's).
    #[arg(long)]
    retain_heights: Option<u64>,
    /// The committee's validity window in heights (default: the chain default, 4,096).
    #[arg(long)]
    validity_heights: Option<u64>,
    /// Seconds at the start not judged against the bounds (caches filling).
    #[arg(long, default_value_t = loadgen::WARMUP_DEFAULT.as_secs())]
    warmup_s: u64,
    /// Validator 0's mempool bound (default: two seconds of the offered rate, at least 64).
    #[arg(long)]
    mempool_bound: Option<u64>,
    /// Every validator's resident-set bound, MiB.
    #[arg(long, default_value_t = loadgen::RSS_BOUND_MIB_DEFAULT)]
    rss_bound_mib: f64,
}

impl From<Options> for RunOptions {
    fn from(options: Options) -> Self {
        RunOptions {
            validators: options.validators,
            rate: options.rate,
            duration: Duration::from_secs(options.duration_s),
            payload_bytes: options.payload_bytes,
            bundle_percent: options.bundle_percent,
            clients: options.clients,
            ordering_only: options.ordering_only,
            retain_heights: options.retain_heights,
            validity_heights: options.validity_heights,
            warmup: Duration::from_secs(options.warmup_s),
            mempool_bound: options.mempool_bound,
            rss_bound_mib: options.rss_bound_mib,
            quiet: false,
        }
    }
}

fn main() -> anyhow::Result<()> {
    match Cli::parse().command {
        Command::Validator { config } => {
            // As `shroud run` does (the validators measured are the ones operators run).
            if let shroud_node::malloc::Thresholds::Dynamic(error) =
                shroud_node::malloc::fix_thresholds()
            {
                eprintln!("could not fix the allocator's thresholds: {error}");
            }
            loadgen::run_validator(&config)
        }
        Command::Run { options, json } => {
            let report = loadgen::run(&options.into())?;
            println!("{}", report.table());
            if let Some(path) = json {
                std::fs::write(&path, serde_json::to_string_pretty(&report)?)?;
                println!("report written to {}", path.display());
            }
            Ok(())
        }
        Command::Sweep {
            encrypted_rates,
            ordering_rates,
            repeats,
            duration_s,
            out,
        } => loadgen::sweep(&loadgen::SweepOptions {
            encrypted_rates,
            ordering_rates,
            repeats,
            duration: Duration::from_secs(duration_s),
            out,
        }),
    }
}
