//! The `shroud` command: `demo`, `keygen`, `genesis`, `testnet`, `run`, and the client
//! commands `tx submit`, `tx watch` and `tail`.

use std::path::PathBuf;

use anyhow::{bail, Context as _};
use clap::{Parser, Subcommand};
use shroud_node::config::{
    free_loopback_ports, genesis, write_member_keys, write_public_file, write_testnet,
    ConsensusSection, KeySource, MemberEntry, MempoolSection, NodeConfig, Ports,
};

#[derive(Parser)]
#[command(
    name = "shroud",
    about = "Shroud: an encrypted shared sequencer",
    version
)]
struct Cli {
    /// Log lines as plain text (colour only on a terminal) or as one JSON object each, for
    /// log collectors. Also `SHROUD_LOG_FORMAT`. What is logged is chosen with `RUST_LOG`
    /// (default `info`; e.g. `RUST_LOG=shroud_node=debug,info`).
    #[arg(
        long,
        global = true,
        value_enum,
        env = "SHROUD_LOG_FORMAT",
        default_value = "text"
    )]
    log_format: LogFormat,
    #[command(subcommand)]
    command: Command,
}

/// How log lines are written.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
enum LogFormat {
    /// Plain text.
    Text,
    /// One JSON object per line.
    Json,
}

#[derive(Subcommand)]
enum Command {
    /// Run a 4-validator network on 127.0.0.1 and drive encrypted traffic for two rollups
    /// through it (data in a temporary folder, removed at the end).
    Demo {
        /// Transactions to send (a cross-rollup bundle counts once).
        #[arg(long, default_value_t = 2_400)]
        transactions: usize,
        /// Percent of them that are cross-rollup bundles.
        #[arg(long, default_value_t = 10)]
        bundle_percent: u32,
        /// Concurrent client connections.
        #[arg(long, default_value_t = 8)]
        clients: usize,
    },
    /// Make one operator's keys (BLS, TLS, and the DKG key dealers encrypt its shares to,
    /// secret files 0600) and its public entry `member.toml` for the genesis file.
    Keygen {
        /// Folder for the key files.
        #[arg(long)]
        dir: PathBuf,
        /// Where validators reach it (QUIC).
        #[arg(long)]
        peer_address: std::net::SocketAddr,
        /// Where clients reach it (QUIC).
        #[arg(long)]
        client_address: std::net::SocketAddr,
        /// Where operators reach its HTTP API.
        #[arg(long)]
        http_address: std::net::SocketAddr,
    },
    /// Assemble a genesis committee file from the operators' `member.toml` entries (in index
    /// order). It holds no secret and no threshold key: the validators form the key with
    /// their DKG when they start.
    Genesis {
        /// The members' entries, in index order.
        #[arg(required = true)]
        members: Vec<PathBuf>,
        /// Chain id.
        #[arg(long)]
        chain_id: u64,
        /// How many committed heights each DKG phase lasts at most.
        #[arg(long, default_value_t = shroud_proofs::DKG_WINDOW_HEIGHTS_DEFAULT)]
        dkg_window_heights: u64,
        /// The committee file to write.
        #[arg(long)]
        out: PathBuf,
    },
    /// Write a local test network: keys, committee and node files. The validators form the
    /// threshold key with their DKG when they start, unless `--dealer` is given.
    Testnet {
        /// Number of validators.
        #[arg(long, default_value_t = 4)]
        validators: usize,
        /// Output folder.
        #[arg(long)]
        dir: PathBuf,
        /// Chain id.
        #[arg(long, default_value_t = 1)]
        chain_id: u64,
        /// Base consensus timeout.
        #[arg(long, default_value_t = 1_000)]
        timeout_ms: u64,
        /// Deal the threshold key with a trusted dealer instead of the DKG. **For local
        /// testing only**: whoever runs the dealer can read every transaction early.
        #[arg(long)]
        dealer: bool,
        /// Replace an existing folder: its keys, committee and every validator's data are
        /// deleted first (without it, an existing non-empty folder is refused).
        #[arg(long)]
        force: bool,
    },
    /// Run one validator.
    Run {
        /// The node file.
        #[arg(long)]
        config: PathBuf,
    },
    /// Submit and follow transactions against a running network.
    Tx {
        #[command(subcommand)]
        command: TxCommand,
    },
    /// Follow a namespace: print each certified item, verified, from a height on.
    Tail {
        /// The committee file.
        #[arg(long)]
        committee: PathBuf,
        /// The namespace (decimal or 0x hex).
        #[arg(long)]
        namespace: String,
        /// First height.
        #[arg(long, default_value_t = 1)]
        from: u64,
        /// Stop after this many heights.
        #[arg(long)]
        heights: Option<u64>,
        /// Validators to read from (indices; all by default).
        #[arg(long, value_delimiter = ',')]
        validators: Vec<usize>,
    },
}

/// What `tx submit` and `tx encrypt` read: the bundle and whom to ask.
#[derive(clap::Args)]
struct BundleArgs {
    /// The committee file.
    #[arg(long)]
    committee: PathBuf,
    /// A namespace (decimal or 0x hex); repeat for a cross-rollup bundle.
    #[arg(long, required = true)]
    namespace: Vec<String>,
    /// The item's bytes, one file per namespace.
    #[arg(long)]
    file: Vec<PathBuf>,
    /// Validators to talk to (indices; all by default).
    #[arg(long, value_delimiter = ',')]
    validators: Vec<usize>,
}

impl BundleArgs {
    fn namespaces(&self) -> anyhow::Result<Vec<shroud_proofs::NamespaceId>> {
        self.namespace
            .iter()
            .map(|text| shroud_node::cli::parse_namespace(text))
            .collect()
    }
}

#[derive(Subcommand)]
enum TxCommand {
    /// Encrypt a bundle (one item per --namespace, bytes from the matching --file, or stdin
    /// for a single item), submit it, print its id, and follow its receipt to certified.
    Submit {
        #[command(flatten)]
        bundle: BundleArgs,
        /// Print the id and stop.
        #[arg(long)]
        no_wait: bool,
    },
    /// Encrypt a bundle (one item per --namespace, bytes from the matching --file, or stdin
    /// for a single item) to the committee's certified key and print the ciphertext as 0x hex
    /// (the body of `POST /v1/tx` is `{"ciphertext": "<it>"}`), without submitting it. The
    /// transaction id goes to stderr. Any language can then submit it (docs/wire.md).
    Encrypt {
        #[command(flatten)]
        bundle: BundleArgs,
        /// Print 0x hex (the only output format; the flag documents it in scripts).
        #[arg(long, default_value_t = true)]
        hex: bool,
    },
    /// Follow a transaction's receipt until it is certified.
    Watch {
        /// The transaction id (hex).
        id: String,
        /// The committee file.
        #[arg(long)]
        committee: PathBuf,
        /// Validators to ask (indices; all by default).
        #[arg(long, value_delimiter = ',')]
        validators: Vec<usize>,
        /// Give up after this many seconds.
        #[arg(long, default_value_t = 120)]
        timeout_s: u64,
    },
}

fn client_runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .context("starting the runtime")
}

fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    // A validator runs for months: glibc's thresholds are fixed before anything allocates
    // much (this executes the program again, once).
    let thresholds =
        matches!(cli.command, Command::Run { .. }).then(shroud_node::malloc::fix_thresholds);
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let logs = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    match cli.log_format {
        // Colour codes only on a terminal: a log file or journal gets plain text.
        LogFormat::Text => logs
            .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
            .init(),
        LogFormat::Json => logs.json().flatten_event(true).with_ansi(false).init(),
    }
    if let Some(shroud_node::malloc::Thresholds::Dynamic(error)) = thresholds {
        tracing::warn!(%error, "could not fix the allocator's thresholds; running with glibc's defaults");
    }
    match cli.command {
        Command::Demo {
            transactions,
            bundle_percent,
            clients,
        } => shroud_node::demo::run(shroud_node::demo::DemoOptions {
            transactions,
            bundle_percent,
            clients,
            ..shroud_node::demo::DemoOptions::default()
        }),
        Command::Keygen {
            dir,
            peer_address,
            client_address,
            http_address,
        } => keygen(
            dir,
            Ports {
                peer: peer_address,
                client: client_address,
                http: http_address,
            },
        ),
        Command::Genesis {
            members,
            chain_id,
            dkg_window_heights,
            out,
        } => write_genesis(&members, chain_id, dkg_window_heights, &out),
        Command::Testnet {
            validators,
            dir,
            chain_id,
            timeout_ms,
            dealer,
            force,
        } => {
            if validators == 0 {
                bail!("--validators must be at least 1");
            }
            let occupied =
                std::fs::read_dir(&dir).is_ok_and(|mut entries| entries.next().is_some());
            // --force deletes only what `testnet` writes: a folder without a committee file
            // is somebody's other data.
            if occupied && force && !dir.join("committee.toml").exists() {
                bail!(
                    "{} is not empty and holds no committee.toml: refusing to delete a folder \
                     that is not a test network, even with --force",
                    dir.display()
                );
            }
            if occupied && !force {
                bail!(
                    "{} is not empty: refusing to overwrite a network's keys and leave its old \
                     data behind (validators would start on data of another committee); give \
                     --force to delete the folder and write a new network",
                    dir.display()
                );
            }
            if occupied {
                std::fs::remove_dir_all(&dir)
                    .with_context(|| format!("removing {}", dir.display()))?;
            }
            let ports = free_loopback_ports(validators)?;
            let consensus = ConsensusSection {
                base_timeout_ms: timeout_ms,
                ..ConsensusSection::default()
            };
            let keys = if dealer {
                eprintln!(
                    "warning: a trusted dealer makes the threshold key; it can read every \
                     transaction early (local testing only)"
                );
                KeySource::TrustedDealer
            } else {
                KeySource::Dkg
            };
            let paths = write_testnet(
                &dir,
                &ports,
                chain_id,
                consensus,
                MempoolSection::default(),
                keys,
            )?;
            for path in paths {
                println!("{}", path.display());
            }
            Ok(())
        }
        Command::Tx { command } => match command {
            TxCommand::Encrypt { bundle, hex: _ } => {
                let namespaces = bundle.namespaces()?;
                client_runtime()?.block_on(shroud_node::cli::encrypt(
                    &bundle.committee,
                    &bundle.validators,
                    &namespaces,
                    &bundle.file,
                ))
            }
            TxCommand::Submit { bundle, no_wait } => {
                let namespaces = bundle.namespaces()?;
                client_runtime()?.block_on(shroud_node::cli::submit(
                    &bundle.committee,
                    &bundle.validators,
                    &namespaces,
                    &bundle.file,
                    no_wait,
                ))
            }
            TxCommand::Watch {
                id,
                committee,
                validators,
                timeout_s,
            } => client_runtime()?.block_on(shroud_node::cli::watch(
                &committee,
                &validators,
                &id,
                std::time::Duration::from_secs(timeout_s),
            )),
        },
        Command::Tail {
            committee,
            namespace,
            from,
            heights,
            validators,
        } => {
            let namespace = shroud_node::cli::parse_namespace(&namespace)?;
            client_runtime()?.block_on(shroud_node::cli::tail(
                &committee,
                &validators,
                namespace,
                from,
                heights,
            ))
        }
        Command::Run { config } => {
            let loaded = NodeConfig::load(&config)
                .with_context(|| format!("loading {}", config.display()))?;
            let data_dir = loaded.config.data_dir.clone();
            stop_on_panic(data_dir.clone());
            let runtime = tokio::runtime::Builder::new_multi_thread()
                .enable_all()
                .build()
                .context("starting the runtime")?;
            runtime
                .block_on(async move { shroud_node::runtime::run(loaded, shutdown_signal()).await })
                .with_context(|| {
                    format!("the validator stopped (data folder {})", data_dir.display())
                })?;
            Ok(())
        }
    }
}

/// A panic anywhere in a running validator stops the process at once, after one log line
/// that says what and where: a task or thread that died alone would leave a validator that
/// looks alive and does nothing. A panic inside the storage library means a damaged store or
/// a failing disk far more often than a bug, and the line names the data folder.
fn stop_on_panic(data_dir: std::path::PathBuf) {
    std::panic::set_hook(Box::new(move |info| {
        let message = info
            .payload()
            .downcast_ref::<&str>()
            .map(|text| (*text).to_string())
            .or_else(|| info.payload().downcast_ref::<String>().cloned())
            .unwrap_or_else(|| "(no message)".into());
        let location = info
            .location()
            .map(|at| format!("{}:{}", at.file(), at.line()))
            .unwrap_or_default();
        if location.contains("sled") {
            tracing::error!(
                %message,
                %location,
                data_dir = %data_dir.display(),
                "the storage library failed: a store in the data folder is damaged or the disk \
                 is failing (check the disk, then restore the data folder from a backup or \
                 remove it to rejoin from the peers); the validator stops"
            );
        } else {
            tracing::error!(
                %message,
                %location,
                "the validator hit a bug and stops (please report this line); its stores are \
                 consistent, and it can be started again"
            );
        }
        std::process::exit(70);
    }));
}

/// Resolves on SIGINT or SIGTERM.
async fn shutdown_signal() {
    use tokio::signal::unix::{signal, SignalKind};
    let mut terminate = match signal(SignalKind::terminate()) {
        Ok(stream) => stream,
        Err(_) => {
            let _ = tokio::signal::ctrl_c().await;
            return;
        }
    };
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = terminate.recv() => {}
    }
}

fn keygen(dir: PathBuf, ports: Ports) -> anyhow::Result<()> {
    for name in ["bls.key", "tls.key.der", "dkg.key"] {
        if dir.join(name).exists() {
            bail!(
                "{} exists: refusing to replace a validator's keys",
                dir.join(name).display()
            );
        }
    }
    let entry = write_member_keys(&dir, &ports)?;
    let path = dir.join("member.toml");
    write_public_file(&path, &toml::to_string(&entry)?)?;
    println!("{}", path.display());
    Ok(())
}

fn write_genesis(
    members: &[PathBuf],
    chain_id: u64,
    dkg_window_heights: u64,
    out: &std::path::Path,
) -> anyhow::Result<()> {
    let entries = members
        .iter()
        .map(|path| {
            let text = std::fs::read_to_string(path)
                .with_context(|| format!("reading {}", path.display()))?;
            toml::from_str::<MemberEntry>(&text)
                .with_context(|| format!("parsing {}", path.display()))
        })
        .collect::<anyhow::Result<Vec<_>>>()?;
    let file = genesis(chain_id, entries, dkg_window_heights)?;
    write_public_file(out, &toml::to_string(&file)?)?;
    println!("{}", out.display());
    Ok(())
}
