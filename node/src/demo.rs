//! `shroud demo`: a 4-validator network on 127.0.0.1 (real QUIC, sled in a temporary folder
//! that is removed at the end), driven through the SDK with encrypted traffic for two rollups,
//! cross-rollup bundles included; every certified output is verified as a rollup would, and a
//! summary says what was ordered, decrypted, failed (by reason) and certified.

use std::collections::{BTreeMap, HashMap};
use std::io::{Read as _, Write as _};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{bail, Context as _};
use rand_core::{OsRng, RngCore};
use shroud_proofs::{Bundle, Item, NamespaceId, NamespaceOutput, TxId};
use shroud_sdk::{Client, Committee};

use crate::config::{
    free_loopback_ports, write_testnet, ConsensusSection, KeySource, MempoolSection,
};

/// The two rollups of the demo.
const ROLLUP_A: NamespaceId = NamespaceId(0xA);
const ROLLUP_B: NamespaceId = NamespaceId(0xB);

/// What the demo does.
#[derive(Clone, Debug)]
pub struct DemoOptions {
    /// Transactions to send (bundles count once).
    pub transactions: usize,
    /// Share of them that are cross-rollup bundles, in percent.
    pub bundle_percent: u32,
    /// Extra ciphertexts whose plaintext is not a bundle (to show a failure outcome).
    pub malformed: usize,
    /// Concurrent client connections.
    pub clients: usize,
    /// Give up after this long.
    pub deadline: Duration,
}

impl Default for DemoOptions {
    fn default() -> Self {
        Self {
            transactions: 2_400,
            bundle_percent: 10,
            malformed: 12,
            clients: 8,
            deadline: Duration::from_secs(100),
        }
    }
}

/// One sent transaction.
#[derive(Clone, Debug)]
struct Sent {
    at: Instant,
    namespaces: Vec<NamespaceId>,
}

/// What the followers saw.
#[derive(Debug, Default)]
struct Seen {
    /// tx → (namespace → (height, time first seen)).
    items: HashMap<TxId, BTreeMap<NamespaceId, (u64, Instant)>>,
    outputs_verified: u64,
    example: BTreeMap<NamespaceId, NamespaceOutput>,
}

/// Child processes (validators) that are stopped when dropped: SIGTERM to each (they flush
/// and exit), then SIGKILL to any still running after 10 s. Shared by the demo and the load
/// generator.
#[derive(Debug, Default)]
pub struct Processes {
    /// The children, in validator order.
    pub children: Vec<Child>,
}

impl Drop for Processes {
    fn drop(&mut self) {
        for child in &mut self.children {
            let _ = Command::new("kill")
                .arg("-TERM")
                .arg(child.id().to_string())
                .status();
        }
        let until = Instant::now() + Duration::from_secs(10);
        for child in &mut self.children {
            while Instant::now() < until && !matches!(child.try_wait(), Ok(Some(_))) {
                std::thread::sleep(Duration::from_millis(50));
            }
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// The demo's validators and their log files.
struct Network {
    processes: Processes,
    logs: Vec<PathBuf>,
}

/// Runs the demo; an error says what did not hold.
pub fn run(options: DemoOptions) -> anyhow::Result<()> {
    let folder = tempfile::Builder::new()
        .prefix("shroud-demo-")
        .tempdir()
        .context("creating a temporary folder")?;
    println!(
        "shroud demo: 4 validators on 127.0.0.1, data in {}",
        folder.path().display()
    );
    let ports = free_loopback_ports(4)?;
    let consensus = ConsensusSection {
        base_timeout_ms: 1_000,
        ..ConsensusSection::default()
    };
    let configs = write_testnet(
        folder.path(),
        &ports,
        1,
        consensus,
        MempoolSection::default(),
        KeySource::Dkg,
    )?;
    let network = start(&configs, folder.path())?;
    let launched = Instant::now();
    let committee = Committee::load(&folder.path().join("committee.toml"))?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .context("starting the runtime")?;
    let http: Vec<SocketAddr> = ports.iter().map(|p| p.http).collect();
    let result = runtime.block_on(async {
        let committee = form_key(committee, launched).await?;
        drive(committee, &options, &http).await
    });
    if result.is_err() {
        for log in &network.logs {
            if let Ok(text) = std::fs::read_to_string(log) {
                let tail: Vec<&str> = text.lines().rev().take(5).collect();
                eprintln!("--- {} (last lines) ---", log.display());
                for line in tail.into_iter().rev() {
                    eprintln!("{line}");
                }
            }
        }
    }
    drop(network);
    drop(folder);
    result
}

fn start(configs: &[PathBuf], folder: &Path) -> anyhow::Result<Network> {
    let exe = std::env::current_exe().context("locating the shroud binary")?;
    let mut network = Network {
        processes: Processes::default(),
        logs: Vec::new(),
    };
    for (index, config) in configs.iter().enumerate() {
        let log = folder.join(format!("validator-{index}.log"));
        let file = std::fs::File::create(&log)?;
        let child = Command::new(&exe)
            .arg("run")
            .arg("--config")
            .arg(config)
            .env("RUST_LOG", "warn")
            .stdout(Stdio::null())
            .stderr(file)
            .spawn()
            .context("starting a validator")?;
        network.processes.children.push(child);
        network.logs.push(log);
    }
    Ok(network)
}

async fn connect(committee: &Committee, validators: &[usize]) -> anyhow::Result<Client> {
    let until = Instant::now() + Duration::from_secs(30);
    loop {
        match Client::connect(committee.clone(), validators).await {
            Ok(client) => return Ok(client),
            Err(error) if Instant::now() >= until => bail!("validators unreachable: {error}"),
            Err(_) => tokio::time::sleep(Duration::from_millis(200)).await,
        }
    }
}

/// Waits for the validators' DKG: the genesis file has no key, and a wallet encrypts only to
/// the key 2f+1 validators certify.
async fn form_key(committee: Committee, launched: Instant) -> anyhow::Result<Committee> {
    let mut client = connect(&committee, &[0, 1, 2, 3]).await?;
    client
        .wait_for_key(Duration::from_secs(120))
        .await
        .context("waiting for the validators' DKG to form and certify the key")?;
    println!(
        "key formed by the validators' DKG (no dealer) and certified {:.1} s after they started",
        launched.elapsed().as_secs_f64()
    );
    let committee = client.committee().clone();
    client.close();
    Ok(committee)
}

fn demo_bundle(sequence: usize, cross: bool) -> Bundle {
    let mut items = Vec::new();
    let (first, second) = if sequence % 2 == 0 {
        (ROLLUP_A, ROLLUP_B)
    } else {
        (ROLLUP_B, ROLLUP_A)
    };
    items.push(Item {
        namespace: first,
        data: format!(
            "tx {sequence}: transfer {} to account {}",
            sequence % 97,
            sequence % 13
        )
        .into_bytes(),
    });
    if cross {
        items.push(Item {
            namespace: second,
            data: format!("tx {sequence}: bridge leg to rollup {}", second.0).into_bytes(),
        });
    }
    Bundle { items }
}

async fn drive(
    committee: Committee,
    options: &DemoOptions,
    http: &[SocketAddr],
) -> anyhow::Result<()> {
    let sent: Arc<Mutex<HashMap<TxId, Sent>>> = Arc::default();
    let seen: Arc<Mutex<Seen>> = Arc::default();
    let rejected: Arc<Mutex<BTreeMap<String, u64>>> = Arc::default();
    let follower_client = Arc::new(connect(&committee, &[0, 1, 2, 3]).await?);
    let started = Instant::now();
    let mut followers = Vec::new();
    for namespace in [ROLLUP_A, ROLLUP_B] {
        followers.push(tokio::spawn(follow(
            follower_client.clone(),
            namespace,
            seen.clone(),
            started + options.deadline,
        )));
    }
    let mut senders = Vec::new();
    let clients = options.clients.max(1);
    for task in 0..clients {
        let client = connect(&committee, &[task % 4]).await?;
        let (sent, rejected, options) = (sent.clone(), rejected.clone(), options.clone());
        senders.push(tokio::spawn(async move {
            send_share(client, task, clients, &options, sent, rejected).await
        }));
    }
    let expected = options.transactions;
    let deadline = started + options.deadline;
    loop {
        let (submitted, accepted) = {
            let sent = lock(&sent);
            (
                sent.len(),
                sent.values().filter(|s| !s.namespaces.is_empty()).count(),
            )
        };
        let complete = complete_count(&sent, &seen);
        progress(
            submitted.min(expected + options.malformed),
            expected + options.malformed,
            complete,
            accepted,
        );
        if senders.iter().all(|task| task.is_finished()) && complete >= accepted {
            break;
        }
        if Instant::now() >= deadline {
            eprintln!();
            bail!("deadline passed: {complete} of {accepted} accepted transactions certified");
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    eprintln!();
    for task in senders {
        task.await.context("a sender task")??;
    }
    let elapsed = started.elapsed();
    // Let the followers catch the last heights, then stop them.
    tokio::time::sleep(Duration::from_millis(300)).await;
    for follower in followers {
        follower.abort();
    }
    summary(&committee, &sent, &seen, &rejected, http, elapsed).await
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// Accepted transactions whose every item was seen certified in its namespace.
fn complete_count(sent: &Mutex<HashMap<TxId, Sent>>, seen: &Mutex<Seen>) -> usize {
    let sent = lock(sent);
    let seen = lock(seen);
    sent.iter()
        .filter(|(_, s)| !s.namespaces.is_empty())
        .filter(|(id, s)| {
            seen.items
                .get(id)
                .is_some_and(|found| s.namespaces.iter().all(|ns| found.contains_key(ns)))
        })
        .count()
}

fn progress(submitted: usize, total: usize, certified: usize, accepted: usize) {
    const WIDTH: usize = 40;
    let filled = if accepted == 0 {
        0
    } else {
        certified * WIDTH / accepted.max(1)
    }
    .min(WIDTH);
    eprint!(
        "\r[{}{}] submitted {submitted}/{total}  certified {certified}/{accepted}   ",
        "#".repeat(filled),
        "-".repeat(WIDTH - filled)
    );
    let _ = std::io::stderr().flush();
}

async fn send_share(
    client: Client,
    task: usize,
    tasks: usize,
    options: &DemoOptions,
    sent: Arc<Mutex<HashMap<TxId, Sent>>>,
    rejected: Arc<Mutex<BTreeMap<String, u64>>>,
) -> anyhow::Result<()> {
    let mut sequence = task;
    while sequence < options.transactions + options.malformed {
        let (ciphertext, namespaces) = if sequence < options.transactions {
            let cross = OsRng.next_u32() % 100 < options.bundle_percent;
            let bundle = demo_bundle(sequence, cross);
            let namespaces = bundle.items.iter().map(|item| item.namespace).collect();
            (client.encrypt(&bundle)?, namespaces)
        } else {
            (malformed(&client)?, Vec::new())
        };
        let at = Instant::now();
        match client.submit(&ciphertext).await {
            Ok(submitted) => {
                lock(&sent).insert(submitted.tx_id, Sent { at, namespaces });
            }
            Err(shroud_sdk::SdkError::Rejected { label, .. }) => {
                *lock(&rejected).entry(label.clone()).or_default() += 1;
                if label == "full" {
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
            }
            Err(error) => return Err(error.into()),
        }
        sequence += tasks;
    }
    client.close();
    Ok(())
}

/// A valid ciphertext whose plaintext is not a bundle: ordered, decrypted, and then failed as
/// `malformed_bundle` by every validator alike.
fn malformed(client: &Client) -> Result<Vec<u8>, shroud_sdk::SdkError> {
    shroud_sdk::encrypt_bytes(client.committee(), b"not a bundle", client.valid_through())
}

async fn follow(
    client: Arc<Client>,
    namespace: NamespaceId,
    seen: Arc<Mutex<Seen>>,
    deadline: Instant,
) -> anyhow::Result<()> {
    let mut subscription = client.subscribe(namespace, 1);
    while Instant::now() < deadline {
        let outputs = subscription.next(Duration::from_secs(1)).await?;
        let now = Instant::now();
        let mut seen = lock(&seen);
        for output in outputs {
            let height = output.certificate.header.height;
            seen.outputs_verified += 1;
            for item in &output.items {
                seen.items
                    .entry(item.tx_id)
                    .or_default()
                    .entry(namespace)
                    .or_insert((height, now));
            }
            if output.items.len() >= 2 {
                seen.example.entry(namespace).or_insert(output);
            }
        }
    }
    Ok(())
}

fn percentile(sorted: &[Duration], percent: usize) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    sorted[(sorted.len() * percent / 100).min(sorted.len() - 1)]
}

async fn summary(
    committee: &Committee,
    sent: &Mutex<HashMap<TxId, Sent>>,
    seen: &Mutex<Seen>,
    rejected: &Mutex<BTreeMap<String, u64>>,
    http: &[SocketAddr],
    elapsed: Duration,
) -> anyhow::Result<()> {
    let status = fetch_status(http[0]).await?;
    let sent = lock(sent);
    let seen = lock(seen);
    let mut latencies = Vec::new();
    let mut split_bundles = 0;
    let mut bundles = 0;
    for (id, s) in sent.iter().filter(|(_, s)| !s.namespaces.is_empty()) {
        let Some(found) = seen.items.get(id) else {
            continue;
        };
        let heights: Vec<u64> = found.values().map(|(h, _)| *h).collect();
        if s.namespaces.len() > 1 {
            bundles += 1;
            if heights.windows(2).any(|pair| pair[0] != pair[1]) {
                split_bundles += 1;
            }
        }
        if let Some(last) = found.values().map(|(_, at)| *at).max() {
            latencies.push(last.duration_since(s.at));
        }
    }
    latencies.sort();
    let accepted = sent.len();
    println!("\n== summary ({:.1} s) ==", elapsed.as_secs_f64());
    println!(
        "accepted          {accepted} (rejected at submission: {:?})",
        *lock(rejected)
    );
    // 64-bit counts are decimal strings in the API's JSON.
    let text = |value: &serde_json::Value| {
        value
            .as_str()
            .map_or_else(|| value.to_string(), str::to_string)
    };
    println!(
        "ordered           {} (validator 0, all heights)",
        text(&status["ordered"])
    );
    println!(
        "decrypted         {}",
        text(&status["outcomes"]["decrypted"])
    );
    println!("failed by reason  {}", status["outcomes"]["failed"]);
    println!("certified height  {}", text(&status["certified_height"]));
    println!(
        "outputs verified  {} namespace outputs, each certificate and proof checked by the SDK",
        seen.outputs_verified
    );
    println!(
        "bundles           {bundles} cross-rollup bundles, {split_bundles} split across heights"
    );
    println!(
        "latency           submit → certified: p50 {} ms, p99 {} ms ({} transactions)",
        percentile(&latencies, 50).as_millis(),
        percentile(&latencies, 99).as_millis(),
        latencies.len()
    );
    for (namespace, output) in &seen.example {
        print_output(committee, *namespace, output);
    }
    let expected = sent.values().filter(|s| !s.namespaces.is_empty()).count();
    if latencies.len() != expected || split_bundles != 0 {
        bail!(
            "{} of {expected} transactions certified, {split_bundles} bundles split",
            latencies.len()
        );
    }
    Ok(())
}

fn print_output(committee: &Committee, namespace: NamespaceId, output: &NamespaceOutput) {
    let header = &output.certificate.header;
    let verified = output
        .verify(committee.keys(), committee.chain_id(), committee.epoch())
        .is_ok();
    let signers = output
        .certificate
        .signers
        .iter()
        .map(|b| b.count_ones())
        .sum::<u32>();
    println!("\nrollup {:#x} at height {}: {} items, certificate by {signers} of {} validators, verified: {verified}", namespace.0, header.height, output.items.len(), committee.size());
    println!("  payload root   0x{}", hex::encode(header.payload_root));
    println!("  block digest   0x{}", hex::encode(header.block_digest));
    for item in output.items.iter().take(3) {
        println!(
            "  position {:>4}.{}  {}",
            item.position,
            item.item_index,
            String::from_utf8_lossy(&item.data)
        );
    }
}

/// GET /status over plain HTTP/1.0 (the validator's operator API).
async fn fetch_status(address: SocketAddr) -> anyhow::Result<serde_json::Value> {
    tokio::task::spawn_blocking(move || -> anyhow::Result<serde_json::Value> {
        let mut stream = std::net::TcpStream::connect_timeout(&address, Duration::from_secs(5))?;
        stream.set_read_timeout(Some(Duration::from_secs(5)))?;
        stream.write_all(b"GET /status HTTP/1.0\r\nHost: localhost\r\n\r\n")?;
        let mut response = String::new();
        stream.read_to_string(&mut response)?;
        let body = response.split("\r\n\r\n").nth(1).context("an HTTP body")?;
        Ok(serde_json::from_str(body)?)
    })
    .await?
}
