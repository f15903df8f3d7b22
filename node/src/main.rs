//! The `shroud` command: `demo`, `keygen`, `testnet`, `run`, and the client commands `tx
//! submit`, `tx watch` and `tail`.

use std::path::PathBuf;

use anyhow::{bail, Context as _};
use clap::{Parser, Subcommand};
use shroud_crypto::SecretKey;
use shroud_network::Identity;
use shroud_node::config::{
    free_loopback_ports, write_testnet, ConsensusSection, MempoolSection, NodeConfig,
};

#[derive(Parser)]
#[command(
    name = "shroud",
    about = "Shroud: an encrypted shared sequencer",
    version
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
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
    /// Make a validator's keys (BLS and TLS) and print its committee entry.
    Keygen {
        /// Folder for the key files.
        #[arg(long)]
        dir: PathBuf,
    },
    /// Write a local test network: keys, committee and node files. Uses a trusted dealer for
    /// the threshold key: for local testing only.
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

#[derive(Subcommand)]
enum TxCommand {
    /// Encrypt a bundle (one item per --namespace, bytes from the matching --file, or stdin
    /// for a single item), submit it, print its id, and follow its receipt to certified.
    Submit {
        /// The committee file.
        #[arg(long)]
        committee: PathBuf,
        /// A namespace (decimal or 0x hex); repeat for a cross-rollup bundle.
        #[arg(long, required = true)]
        namespace: Vec<String>,
        /// The item's bytes, one file per namespace.
        #[arg(long)]
        file: Vec<PathBuf>,
        /// Validators to submit to (indices; all by default).
        #[arg(long, value_delimiter = ',')]
        validators: Vec<usize>,
        /// Print the id and stop.
        #[arg(long)]
        no_wait: bool,
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
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .with_writer(std::io::stderr)
        .init();
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
        Command::Keygen { dir } => keygen(dir),
        Command::Testnet {
            validators,
            dir,
            chain_id,
            timeout_ms,
        } => {
            if validators == 0 {
                bail!("--validators must be at least 1");
            }
            let ports = free_loopback_ports(validators)?;
            let consensus = ConsensusSection {
                base_timeout_ms: timeout_ms,
                ..ConsensusSection::default()
            };
            let paths =
                write_testnet(&dir, &ports, chain_id, consensus, MempoolSection::default())?;
            for path in paths {
                println!("{}", path.display());
            }
            Ok(())
        }
        Command::Tx { command } => match command {
            TxCommand::Submit {
                committee,
                namespace,
                file,
                validators,
                no_wait,
            } => {
                let namespaces = namespace
                    .iter()
                    .map(|text| shroud_node::cli::parse_namespace(text))
                    .collect::<anyhow::Result<Vec<_>>>()?;
                client_runtime()?.block_on(shroud_node::cli::submit(
                    &committee,
                    &validators,
                    &namespaces,
                    &file,
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
            let runtime = tokio::runtime::Builder::new_multi_thread()
                .enable_all()
                .build()
                .context("starting the runtime")?;
            runtime.block_on(async move {
                shroud_node::runtime::run(loaded, shutdown_signal()).await
            })?;
            Ok(())
        }
    }
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

fn keygen(dir: PathBuf) -> anyhow::Result<()> {
    use std::os::unix::fs::PermissionsExt;
    std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
    let signer = SecretKey::random();
    let identity = Identity::generate()?;
    let secret_path = dir.join("bls.key");
    std::fs::write(&secret_path, hex::encode(signer.to_bytes().as_ref()))?;
    std::fs::set_permissions(&secret_path, std::fs::Permissions::from_mode(0o600))?;
    std::fs::write(dir.join("tls.cert.der"), identity.certificate_der())?;
    let key_path = dir.join("tls.key.der");
    std::fs::write(&key_path, identity.key_der())?;
    std::fs::set_permissions(&key_path, std::fs::Permissions::from_mode(0o600))?;
    println!(
        "bls_public_key = \"{}\"",
        hex::encode(signer.public_key().to_bytes())
    );
    println!(
        "proof_of_possession = \"{}\"",
        hex::encode(signer.prove_possession().to_bytes())
    );
    println!("tls_pin = \"{}\"", identity.pin().to_hex());
    Ok(())
}
