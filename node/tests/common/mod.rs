//! Helpers shared by the multi-process tests: a local network of `shroud run` processes made
//! by the test-network generator, HTTP reads of their status and metrics, and submitters.
//! Every process a test starts is killed by the test (also when it fails).

#![allow(dead_code)]

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use rand_chacha::rand_core::{RngCore, SeedableRng};
use rand_chacha::ChaCha20Rng;
use serde_json::Value;
use shroud_crypto::tdh2::{encrypt, Label};
use shroud_network::frame::{self, parse};
use shroud_network::{ClientSession, FrameKind, Limits};
use shroud_node::config::{
    free_loopback_ports, load_committee, write_testnet, ConsensusSection, KeySource,
    LoadedCommittee, MempoolSection,
};
use shroud_node::wire::{Receipt, SubmitRequest};

pub const CHAIN_ID: u64 = 77;
/// The expiry of ciphertexts the tests build by hand: within the default validity window
/// of a new network (4,096 heights) for its first 2,000 heights, far longer than any test.
pub const VALID_THROUGH: u64 = 2_000;

pub struct Cluster {
    pub dir: tempfile::TempDir,
    pub configs: Vec<PathBuf>,
    pub logs: PathBuf,
    pub children: Vec<Option<Child>>,
    pub committee: LoadedCommittee,
}

impl Cluster {
    pub fn start(validators: usize) -> Self {
        Self::start_with(validators, |_, _| {})
    }

    /// Starts a network after `edit(index, node file text)` had its say on each node file.
    pub fn start_with(validators: usize, edit: impl Fn(usize, &mut String)) -> Self {
        Self::start_with_validity(validators, None, edit)
    }

    /// [`Cluster::start_with`], with the committee's `validity_heights` set when given (a
    /// short retention window needs a shorter validity window). The key comes from the
    /// test-network dealer, so that tests of other parts start at once.
    pub fn start_with_validity(
        validators: usize,
        validity_heights: Option<u64>,
        edit: impl Fn(usize, &mut String),
    ) -> Self {
        Self::start_keyed(
            validators,
            KeySource::TrustedDealer,
            validity_heights,
            None,
            edit,
        )
    }

    /// A network with no key: its validators run the DKG when they start, with DKG phases of
    /// at most `dkg_window_heights`. `launch_now` says which validators start at once (the
    /// others with [`Cluster::launch`]).
    pub fn start_dkg(
        validators: usize,
        dkg_window_heights: u64,
        launch_now: impl Fn(usize) -> bool,
        edit: impl Fn(usize, &mut String),
    ) -> Self {
        let mut cluster = Self::start_keyed(
            validators,
            KeySource::Dkg,
            None,
            Some(dkg_window_heights),
            |_, _| {},
        );
        for (index, path) in cluster.configs.iter().enumerate() {
            let mut text = std::fs::read_to_string(path).expect("node file");
            edit(index, &mut text);
            std::fs::write(path, text).expect("node file");
        }
        for index in 0..validators {
            if launch_now(index) {
                cluster.launch(index);
            }
        }
        cluster
    }

    fn start_keyed(
        validators: usize,
        keys: KeySource,
        validity_heights: Option<u64>,
        dkg_window_heights: Option<u64>,
        edit: impl Fn(usize, &mut String),
    ) -> Self {
        let dir = tempfile::tempdir().expect("temporary directory");
        let ports = free_loopback_ports(validators).expect("free ports");
        let consensus = ConsensusSection {
            base_timeout_ms: 600,
            backoff_exponent_max: 3,
            ..ConsensusSection::default()
        };
        let mempool = MempoolSection {
            batch_interval_ms: 20,
            ..MempoolSection::default()
        };
        let configs =
            write_testnet(dir.path(), &ports, CHAIN_ID, consensus, mempool, keys).expect("testnet");
        if let Some(validity_heights) = validity_heights {
            shroud_node::config::set_validity_heights(dir.path(), validity_heights)
                .expect("validity window");
        }
        if let Some(window) = dkg_window_heights {
            let path = dir.path().join("committee.toml");
            let text = std::fs::read_to_string(&path).expect("committee file");
            let mut file: shroud_node::config::CommitteeFile =
                toml::from_str(&text).expect("committee file");
            file.dkg_window_heights = window;
            std::fs::write(&path, toml::to_string(&file).expect("toml")).expect("write");
        }
        for (index, path) in configs.iter().enumerate() {
            let mut text = std::fs::read_to_string(path).expect("node file");
            edit(index, &mut text);
            std::fs::write(path, text).expect("node file");
        }
        let committee = load_committee(&dir.path().join("committee.toml")).expect("committee file");
        let logs = dir.path().join("logs");
        std::fs::create_dir_all(&logs).expect("log folder");
        let mut cluster = Self {
            dir,
            configs,
            logs,
            children: (0..validators).map(|_| None).collect(),
            committee,
        };
        if keys == KeySource::TrustedDealer {
            for index in 0..validators {
                cluster.launch(index);
            }
        }
        cluster
    }

    /// Waits until the committee certified its key (through the SDK, which checks the
    /// certificate against the committee's BLS keys), and keeps it for the helpers that
    /// encrypt. Returns the key set.
    pub async fn learn_key(
        &mut self,
        validators: &[usize],
        timeout: Duration,
    ) -> shroud_crypto::tdh2::PublicKeySet {
        let committee =
            shroud_sdk::Committee::load(&self.dir.path().join("committee.toml")).expect("load");
        let deadline = Instant::now() + timeout;
        let mut client = loop {
            match shroud_sdk::Client::connect(committee.clone(), validators).await {
                Ok(client) => break client,
                Err(error) if Instant::now() >= deadline => panic!("unreachable: {error}"),
                Err(_) => tokio::time::sleep(Duration::from_millis(200)).await,
            }
        };
        client
            .wait_for_key(deadline.saturating_duration_since(Instant::now()))
            .await
            .unwrap_or_else(|error| panic!("no certified key: {error}\n{}", self.logs_tail()));
        let public = client.committee().public_key_set().expect("key").clone();
        client.close();
        self.committee.public_key_set = Some(public.clone());
        public
    }

    /// The last lines of every validator's log (for failure messages).
    pub fn logs_tail(&self) -> String {
        let mut out = String::new();
        for index in 0..self.children.len() {
            let path = self.logs.join(format!("validator-{index}.log"));
            let text = std::fs::read_to_string(&path).unwrap_or_default();
            let lines: Vec<&str> = text.lines().collect();
            let tail = &lines[lines.len().saturating_sub(12)..];
            out.push_str(&format!("--- validator {index} ---\n{}\n", tail.join("\n")));
        }
        out
    }

    pub fn launch(&mut self, index: usize) {
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.logs.join(format!("validator-{index}.log")))
            .expect("log file");
        let child = Command::new(env!("CARGO_BIN_EXE_shroud"))
            .args(["run", "--config"])
            .arg(&self.configs[index])
            .env("RUST_LOG", "warn")
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .expect("start a validator");
        self.children[index] = Some(child);
    }

    /// Waits (at most 30 s) for validator `index`'s process to exit by itself, as a node that
    /// refuses to start does; its exit status.
    pub fn wait_exit(&mut self, index: usize) -> std::process::ExitStatus {
        let mut child = self.children[index].take().expect("launched");
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if let Some(status) = child.try_wait().expect("wait") {
                return status;
            }
            assert!(
                Instant::now() < deadline,
                "validator {index} kept running:\n{}",
                self.logs_tail()
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    pub fn kill(&mut self, index: usize) {
        if let Some(mut child) = self.children[index].take() {
            child.kill().expect("SIGKILL");
            child.wait().expect("reap");
        }
    }

    pub fn http(&self, index: usize) -> SocketAddr {
        self.committee.file.validators[index].http_address
    }

    pub fn get(&self, index: usize, path: &str) -> Option<Value> {
        get_json(self.http(index), path)
    }

    pub fn ordered(&self, index: usize) -> Option<u64> {
        u64_of(self.get(index, "/status")?.get("ordered")?)
    }

    pub fn order(&self, index: usize) -> Vec<String> {
        let mut out = Vec::new();
        loop {
            let page = self
                .get(index, &format!("/order?from={}&limit=1000", out.len()))
                .expect("order page");
            let ids: Vec<String> = page
                .as_array()
                .expect("array")
                .iter()
                .map(|id| {
                    let id = id.as_str().expect("hex");
                    id.strip_prefix("0x").expect("0x-prefixed").to_string()
                })
                .collect();
            if ids.is_empty() {
                return out;
            }
            out.extend(ids);
        }
    }

    /// Every validator ordered the same sequence, and it holds each `accepted` transaction
    /// exactly once (and nothing else).
    pub fn assert_ordered_exactly_once(&self, accepted: &[String]) {
        self.assert_ordered_once_within(accepted, accepted);
    }

    /// Every validator ordered the same sequence, with no transaction twice; it holds each
    /// `accepted` transaction, and nothing that was not `sent` (a submission whose receipt was
    /// lost to a kill may or may not be ordered).
    pub fn assert_ordered_once_within(&self, accepted: &[String], sent: &[String]) {
        let order = self.order(0);
        let ordered: std::collections::HashSet<&String> = order.iter().collect();
        assert_eq!(
            ordered.len(),
            order.len(),
            "a transaction was ordered twice"
        );
        let lost: Vec<&String> = accepted
            .iter()
            .filter(|id| !ordered.contains(id))
            .take(5)
            .collect();
        assert!(
            lost.is_empty(),
            "accepted transactions were not ordered, e.g. {lost:?}"
        );
        let sent: std::collections::HashSet<&String> = sent.iter().collect();
        assert!(
            ordered.iter().all(|id| sent.contains(id)),
            "a transaction nobody sent was ordered"
        );
        for index in 1..self.children.len() {
            assert_eq!(
                self.order(index),
                order,
                "validator {index} ordered differently"
            );
        }
    }

    /// Waits until every listed validator has ordered at least `count` transactions.
    pub fn wait_ordered(&self, validators: &[usize], count: u64, within: Duration) {
        let deadline = Instant::now() + within;
        loop {
            let heights: Vec<Option<u64>> = validators
                .iter()
                .map(|index| self.ordered(*index))
                .collect();
            if heights.iter().all(|h| h.is_some_and(|h| h >= count)) {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "validators {validators:?} ordered {heights:?}, expected {count}; logs in {}",
                self.logs.display()
            );
            std::thread::sleep(Duration::from_millis(200));
        }
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        for index in 0..self.children.len() {
            self.kill(index);
        }
    }
}

/// Sets `line` (e.g. `dkg_equivocate = true`) in the `[faults]` table of a node file's
/// text, adding the table if the file has none.
pub fn set_fault(text: &mut String, line: &str) {
    if text.contains("[faults]\n") {
        *text = text.replacen("[faults]\n", &format!("[faults]\n{line}\n"), 1);
    } else {
        text.push_str(&format!("\n[faults]\n{line}\n"));
    }
}

/// How far above the current height [`submit`] makes its ciphertexts valid: half the
/// default validity window, longer than any test.
pub const VALID_FOR: u64 = 2_000;

/// GET `path` from a validator's HTTP address; the JSON body, if it answers.
/// A 64-bit integer of the API's JSON: a decimal string (`docs/openapi.json`).
pub fn u64_of(value: &Value) -> Option<u64> {
    value.as_str()?.parse().ok()
}

pub fn get_json(address: SocketAddr, path: &str) -> Option<Value> {
    let mut stream = TcpStream::connect_timeout(&address, Duration::from_secs(2)).ok()?;
    stream.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
    write!(
        stream,
        "GET {path} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n"
    )
    .ok()?;
    let mut response = String::new();
    stream.read_to_string(&mut response).ok()?;
    let body = response.split("\r\n\r\n").nth(1)?;
    serde_json::from_str(body).ok()
}

/// The committed height the validator at HTTP `address` reports, if it answers.
pub fn committed_height(address: SocketAddr) -> Option<u64> {
    u64_of(get_json(address, "/v1/status")?.get("committed_height")?)
}

/// When the ciphertexts of a submitter expire.
#[derive(Clone, Copy, Debug)]
pub enum Expiry {
    /// At this height.
    Through(u64),
    /// This many heights above the committed height the submitting connection's validator
    /// reports, asked again every few ciphertexts (a long run outlives any fixed expiry).
    For(u64),
}

/// Submits `count` fresh ciphertexts spread over `validators`, from two connections per
/// validator, each valid for [`VALID_FOR`] heights above the committed height when it is
/// made, and returns the accepted transaction ids.
pub async fn submit(
    committee: &LoadedCommittee,
    validators: &[usize],
    count: usize,
    seed: u64,
) -> Vec<String> {
    submit_expiring(committee, validators, count, seed, Expiry::For(VALID_FOR)).await
}

/// The committed height at HTTP `address`, read off the async workers.
async fn read_height(address: SocketAddr) -> Option<u64> {
    tokio::task::spawn_blocking(move || committed_height(address))
        .await
        .expect("height reader")
}

/// A fresh ciphertext (a fixed payload, a random nonce) valid through `valid_through`, as its
/// hex id and the `Submit` frame that carries it.
fn submission(
    key: &shroud_crypto::tdh2::EncryptionKey,
    epoch: u64,
    valid_through: u64,
    rng: &mut ChaCha20Rng,
) -> (String, Vec<u8>) {
    let mut nonce = [0u8; 32];
    rng.fill_bytes(&mut nonce);
    let label = Label {
        chain_id: CHAIN_ID,
        epoch,
        valid_through,
        nonce,
    };
    let ciphertext = encrypt(key, label, b"swap on rollup A", rng).to_bytes();
    let id = hex::encode(shroud_proofs::TxId::of(&ciphertext).0);
    let request = frame::encode(
        FrameKind::Submit,
        &SubmitRequest { ciphertext },
        &Limits::default(),
    )
    .expect("encode");
    (id, request)
}

/// What [`submit_until`] sent and what was accepted (hex ids).
#[derive(Debug, Default)]
pub struct Submitted {
    pub sent: Vec<String>,
    pub accepted: Vec<String>,
}

/// Submits fresh ciphertexts to `validator`, one at a time, until `stop`; a lost connection
/// (its validator killed, say) is retried every 200 ms. Every id sent is recorded, and those
/// with an `accepted` receipt (a duplicate of one sent before counts).
pub async fn submit_until(
    committee: LoadedCommittee,
    validator: usize,
    seed: u64,
    stop: std::sync::Arc<std::sync::atomic::AtomicBool>,
    out: std::sync::Arc<std::sync::Mutex<Submitted>>,
) {
    use std::sync::atomic::Ordering;
    let key = *committee
        .public_key_set
        .as_ref()
        .expect("the key is known")
        .encryption_key();
    let member = committee.file.validators[validator].clone();
    let pin = committee.pins[validator];
    let epoch = committee.file.epoch;
    let local: SocketAddr = "127.0.0.1:0".parse().expect("address");
    let mut rng = ChaCha20Rng::seed_from_u64(seed);
    let mut session = None;
    let mut height = 0;
    let mut sent = 0u64;
    while !stop.load(Ordering::Relaxed) {
        if session.is_none() {
            match ClientSession::connect(local, member.client_address, pin, Limits::default()).await
            {
                Ok(connected) => session = Some(connected),
                Err(_) => {
                    tokio::time::sleep(Duration::from_millis(200)).await;
                    continue;
                }
            }
        }
        if sent % 32 == 0 {
            height = read_height(member.http_address).await.unwrap_or(height);
        }
        sent += 1;
        let (id, request) = submission(&key, epoch, height + VALID_FOR, &mut rng);
        out.lock().expect("lock").sent.push(id.clone());
        let Some(open) = session.as_ref() else {
            continue;
        };
        let answer = match open.request(&request).await {
            Ok(answer) => answer,
            Err(_) => {
                session = None;
                continue;
            }
        };
        let receipt: Receipt = parse(&answer, &Limits::default())
            .expect("frame")
            .decode(FrameKind::Receipt)
            .expect("receipt body");
        if let Receipt::Accepted { tx_id } = receipt {
            out.lock().expect("lock").accepted.push(hex::encode(tx_id));
        }
    }
    if let Some(open) = session {
        open.close();
    }
}

/// [`submit`] with ciphertexts valid through height `valid_through`.
pub async fn submit_valid_through(
    committee: &LoadedCommittee,
    validators: &[usize],
    count: usize,
    seed: u64,
    valid_through: u64,
) -> Vec<String> {
    submit_expiring(
        committee,
        validators,
        count,
        seed,
        Expiry::Through(valid_through),
    )
    .await
}

/// [`submit`] with the expiry given.
pub async fn submit_expiring(
    committee: &LoadedCommittee,
    validators: &[usize],
    count: usize,
    seed: u64,
    expiry: Expiry,
) -> Vec<String> {
    let key = *committee
        .public_key_set
        .as_ref()
        .expect("the key is known (dealt, or learned with Cluster::learn_key)")
        .encryption_key();
    let mut tasks = Vec::new();
    let connections = validators.len() * 2;
    for connection in 0..connections {
        let index = validators[connection % validators.len()];
        let member = committee.file.validators[index].clone();
        let pin = committee.pins[index];
        let share = count / connections + usize::from(connection < count % connections);
        let epoch = committee.file.epoch;
        tasks.push(tokio::spawn(async move {
            let local: SocketAddr = "127.0.0.1:0".parse().expect("address");
            let connect = || async {
                ClientSession::connect(local, member.client_address, pin, Limits::default())
                    .await
                    .expect("client connection")
            };
            let mut session = connect().await;
            let mut rng = ChaCha20Rng::seed_from_u64(seed * 1_000 + connection as u64);
            let mut accepted = Vec::with_capacity(share);
            let mut height = 0;
            for sent in 0..share {
                let valid_through = match expiry {
                    Expiry::Through(through) => through,
                    Expiry::For(heights) => {
                        if sent % 32 == 0 {
                            height = read_height(member.http_address).await.unwrap_or(height);
                        }
                        height + heights
                    }
                };
                let (id, request) = submission(&key, epoch, valid_through, &mut rng);
                // A client whose connection is lost (a validator too busy to answer within the
                // idle timeout on a loaded 2-core machine) reconnects and submits again, as
                // the SDK does; a resubmission it already took is a duplicate, i.e. accepted.
                let mut attempts = 0;
                let answer = loop {
                    match session.request(&request).await {
                        Ok(answer) => break answer,
                        Err(error) => {
                            attempts += 1;
                            assert!(attempts < 3, "receipt: {error:?}");
                            session.close();
                            session = connect().await;
                        }
                    }
                };
                let receipt: Receipt = parse(&answer, &Limits::default())
                    .expect("frame")
                    .decode(FrameKind::Receipt)
                    .expect("receipt body");
                match receipt {
                    Receipt::Accepted { tx_id } => accepted.push(hex::encode(tx_id)),
                    Receipt::Rejected { label, .. } if label == "duplicate" && attempts > 0 => {
                        accepted.push(id)
                    }
                    Receipt::Rejected { reason, .. } => {
                        panic!("a valid ciphertext was refused: {reason}")
                    }
                }
            }
            session.close();
            accepted
        }));
    }
    let mut all = Vec::with_capacity(count);
    for task in tasks {
        all.extend(task.await.expect("submitter"));
    }
    all
}

pub fn metric(cluster: &Cluster, index: usize, name: &str) -> f64 {
    try_metric(cluster, index, name).expect("metrics")
}

/// The sum of a metric's series at validator `index`, if it answers.
pub fn try_metric(cluster: &Cluster, index: usize, name: &str) -> Option<f64> {
    let mut stream =
        TcpStream::connect_timeout(&cluster.http(index), Duration::from_secs(2)).ok()?;
    stream.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
    write!(
        stream,
        "GET /metrics HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n"
    )
    .ok()?;
    let mut response = String::new();
    stream.read_to_string(&mut response).ok()?;
    Some(
        response
            .lines()
            .filter(|line| line.starts_with(name))
            .filter_map(|line| line.rsplit(' ').next()?.parse::<f64>().ok())
            .sum::<f64>()
            + 0.0,
    )
}

/// A two-thread tokio runtime for the SDK side of a test.
pub fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime")
}

/// The cluster's committee file, as the SDK loads it.
pub fn sdk_committee(cluster: &Cluster) -> shroud_sdk::Committee {
    shroud_sdk::Committee::load(&cluster.dir.path().join("committee.toml")).expect("committee")
}

/// An SDK client of `validators`, retried for up to 30 s while the validators start.
pub async fn connect_sdk(
    committee: &shroud_sdk::Committee,
    validators: &[usize],
) -> shroud_sdk::Client {
    let until = Instant::now() + Duration::from_secs(30);
    loop {
        match shroud_sdk::Client::connect(committee.clone(), validators).await {
            Ok(client) => return client,
            Err(error) => {
                assert!(Instant::now() < until, "validators unreachable: {error}");
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
        }
    }
}
