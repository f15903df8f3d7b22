//! Four `shroud run` processes on 127.0.0.1, made by the test-network generator, ordering
//! encrypted transactions submitted over QUIC from several client connections; one validator
//! is killed with SIGKILL and restarted and must catch up. Every process the test starts is
//! killed by the test (also when it fails).

use std::collections::HashSet;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use rand_chacha::rand_core::{RngCore, SeedableRng};
use rand_chacha::ChaCha20Rng;
use serde_json::Value;
use shroud_crypto::tdh2::{encrypt, Label};
use shroud_network::frame::{self, parse};
use shroud_network::{ClientSession, FrameKind, Limits};
use shroud_node::config::{
    free_loopback_ports, write_testnet, CommitteeFile, ConsensusSection, LoadedCommittee,
    MempoolSection,
};
use shroud_node::wire::{Receipt, SubmitRequest};

const CHAIN_ID: u64 = 77;

struct Cluster {
    _dir: tempfile::TempDir,
    configs: Vec<PathBuf>,
    logs: PathBuf,
    children: Vec<Option<Child>>,
    committee: LoadedCommittee,
}

impl Cluster {
    fn start(validators: usize) -> Self {
        let dir = tempfile::tempdir().expect("temporary directory");
        let ports = free_loopback_ports(validators).expect("free ports");
        let consensus = ConsensusSection {
            base_timeout_ms: 600,
            backoff_exponent_max: 3,
        };
        let mempool = MempoolSection {
            batch_interval_ms: 20,
            ..MempoolSection::default()
        };
        let configs =
            write_testnet(dir.path(), &ports, CHAIN_ID, consensus, mempool).expect("testnet");
        let committee =
            CommitteeFile::load(&dir.path().join("committee.toml")).expect("committee file");
        let logs = dir.path().join("logs");
        std::fs::create_dir_all(&logs).expect("log folder");
        let mut cluster = Self {
            _dir: dir,
            configs,
            logs,
            children: (0..validators).map(|_| None).collect(),
            committee,
        };
        for index in 0..validators {
            cluster.launch(index);
        }
        cluster
    }

    fn launch(&mut self, index: usize) {
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

    fn kill(&mut self, index: usize) {
        if let Some(mut child) = self.children[index].take() {
            child.kill().expect("SIGKILL");
            child.wait().expect("reap");
        }
    }

    fn http(&self, index: usize) -> SocketAddr {
        self.committee.file.validators[index].http_address
    }

    fn get(&self, index: usize, path: &str) -> Option<Value> {
        let mut stream =
            TcpStream::connect_timeout(&self.http(index), Duration::from_secs(2)).ok()?;
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

    fn ordered(&self, index: usize) -> Option<u64> {
        self.get(index, "/status")?.get("ordered")?.as_u64()
    }

    fn order(&self, index: usize) -> Vec<String> {
        let mut out = Vec::new();
        loop {
            let page = self
                .get(index, &format!("/order?from={}&limit=1000", out.len()))
                .expect("order page");
            let ids: Vec<String> = page
                .as_array()
                .expect("array")
                .iter()
                .map(|id| id.as_str().expect("hex").to_string())
                .collect();
            if ids.is_empty() {
                return out;
            }
            out.extend(ids);
        }
    }

    /// Waits until every listed validator has ordered at least `count` transactions.
    fn wait_ordered(&self, validators: &[usize], count: u64, within: Duration) {
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

/// Submits `count` fresh ciphertexts spread over `validators`, from two connections per
/// validator, and returns the accepted transaction ids.
async fn submit(
    committee: &LoadedCommittee,
    validators: &[usize],
    count: usize,
    seed: u64,
) -> Vec<String> {
    let key = *committee.public_key_set.encryption_key();
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
            let session =
                ClientSession::connect(local, member.client_address, pin, Limits::default())
                    .await
                    .expect("client connection");
            let mut rng = ChaCha20Rng::seed_from_u64(seed * 1_000 + connection as u64);
            let mut accepted = Vec::with_capacity(share);
            for _ in 0..share {
                let mut nonce = [0u8; 32];
                rng.fill_bytes(&mut nonce);
                let label = Label {
                    chain_id: CHAIN_ID,
                    epoch,
                    nonce,
                };
                let ciphertext = encrypt(&key, label, b"swap on rollup A", &mut rng).to_bytes();
                let request = frame::encode(
                    FrameKind::Submit,
                    &SubmitRequest { ciphertext },
                    &Limits::default(),
                )
                .expect("encode");
                let answer = session.request(&request).await.expect("receipt");
                let receipt: Receipt = parse(&answer, &Limits::default())
                    .expect("frame")
                    .decode(FrameKind::Receipt)
                    .expect("receipt body");
                match receipt {
                    Receipt::Accepted { tx_id } => accepted.push(hex::encode(tx_id)),
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

fn assert_exactly_once(order: &[String], accepted: &HashSet<String>) {
    let unique: HashSet<&String> = order.iter().collect();
    assert_eq!(
        unique.len(),
        order.len(),
        "a transaction was committed twice"
    );
    let ordered: HashSet<String> = order.iter().cloned().collect();
    assert_eq!(
        &ordered, accepted,
        "committed and accepted transactions differ"
    );
}

#[test]
fn four_processes_order_the_same_sequence_and_a_killed_one_catches_up() {
    let mut cluster = Cluster::start(4);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");

    // Phase 1: 5,000 ciphertexts through all four validators.
    let mut accepted: Vec<String> =
        runtime.block_on(submit(&cluster.committee, &[0, 1, 2, 3], 5_000, 1));
    assert_eq!(accepted.len(), 5_000);
    cluster.wait_ordered(&[0, 1, 2, 3], 5_000, Duration::from_secs(180));
    let reference = cluster.order(0);
    for index in 1..4 {
        assert_eq!(
            cluster.order(index),
            reference,
            "validator {index} ordered differently"
        );
    }
    assert_exactly_once(&reference, &accepted.iter().cloned().collect());

    // Phase 2: kill validator 3; the others keep ordering new submissions.
    cluster.kill(3);
    let more = runtime.block_on(submit(&cluster.committee, &[0, 1, 2], 600, 2));
    accepted.extend(more);
    cluster.wait_ordered(&[0, 1, 2], accepted.len() as u64, Duration::from_secs(120));

    // Phase 3: restart it; it catches up to the same sequence.
    cluster.launch(3);
    cluster.wait_ordered(
        &[0, 1, 2, 3],
        accepted.len() as u64,
        Duration::from_secs(180),
    );
    let reference = cluster.order(0);
    for index in 1..4 {
        assert_eq!(
            cluster.order(index),
            reference,
            "validator {index} ordered differently"
        );
    }
    assert_exactly_once(&reference, &accepted.iter().cloned().collect());
    assert!(Path::new(&cluster.configs[0]).exists());
}
