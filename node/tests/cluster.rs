//! Four `shroud run` processes on 127.0.0.1, made by the test-network generator, ordering
//! encrypted transactions submitted over QUIC from several client connections; one validator
//! is killed with SIGKILL and restarted and must catch up. Every process the test starts is
//! killed by the test (also when it fails).

use std::collections::HashSet;
use std::net::SocketAddr;
use std::process::Command;
use std::time::Duration;

use rand_chacha::rand_core::SeedableRng;
use rand_chacha::ChaCha20Rng;
use shroud_crypto::tdh2::{encrypt, Label};
use shroud_network::frame::{self, parse};
use shroud_network::{ClientSession, FrameKind, Limits};
use shroud_node::config::LoadedCommittee;
use shroud_node::wire::{Receipt, SubmitRequest};

mod common;

use common::{metric, submit, Cluster, CHAIN_ID};

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
}

async fn raw_request(committee: &LoadedCommittee, index: usize, bytes: &[u8]) -> Option<Receipt> {
    let member = &committee.file.validators[index];
    let local: SocketAddr = "127.0.0.1:0".parse().expect("address");
    let session = ClientSession::connect(
        local,
        member.client_address,
        committee.pins[index],
        Limits::default(),
    )
    .await
    .expect("client connection");
    let answer = session.request(bytes).await.ok();
    session.close();
    let answer = answer?;
    parse(&answer, &Limits::default())
        .ok()?
        .decode(FrameKind::Receipt)
        .ok()
}

fn submit_frame(ciphertext: Vec<u8>) -> Vec<u8> {
    frame::encode(
        FrameKind::Submit,
        &SubmitRequest { ciphertext },
        &Limits::default(),
    )
    .expect("encode")
}

fn label(receipt: Option<Receipt>) -> String {
    match receipt {
        Some(Receipt::Rejected { label, .. }) => label,
        other => format!("{other:?}"),
    }
}

#[test]
fn bad_input_over_quic_is_refused_counted_and_ordering_goes_on() {
    let mut cluster = Cluster::start(4);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    let committee = &cluster.committee.clone();
    let key = *committee
        .public_key_set
        .as_ref()
        .expect("dealt")
        .encryption_key();
    let mut rng = ChaCha20Rng::seed_from_u64(9);
    let label_for = |epoch: u64, nonce: u8| Label {
        chain_id: CHAIN_ID,
        epoch,
        valid_through: common::VALID_THROUGH,
        nonce: [nonce; 32],
    };

    runtime.block_on(async {
        // Unknown protocol version.
        let mut bad_version = submit_frame(vec![1, 2, 3]);
        bad_version[0] = 99;
        assert_eq!(
            label(raw_request(committee, 0, &bad_version).await),
            "unknown_version"
        );
        // Garbage bytes where a frame should be.
        let mut short = vec![shroud_network::PROTOCOL_VERSION, 0x10];
        short.extend_from_slice(b"garbage");
        assert_eq!(
            label(raw_request(committee, 0, &short).await),
            "length_mismatch"
        );
        let mut garbage_body = vec![shroud_network::PROTOCOL_VERSION, FrameKind::Submit as u8];
        garbage_body.extend_from_slice(&40u32.to_be_bytes());
        garbage_body.extend_from_slice(&[0xff; 40]);
        assert_eq!(
            label(raw_request(committee, 0, &garbage_body).await),
            "invalid_body"
        );
        // An oversized frame is not read past the limit: no receipt, and it is counted.
        assert!(raw_request(committee, 0, &vec![0u8; 3 << 20])
            .await
            .is_none());
        // A ciphertext for another epoch, and a mauled one.
        let other_epoch = encrypt(&key, label_for(committee.file.epoch + 1, 1), b"x", &mut rng);
        assert_eq!(
            label(raw_request(committee, 0, &submit_frame(other_epoch.to_bytes())).await),
            "wrong_epoch"
        );
        let mut mauled =
            encrypt(&key, label_for(committee.file.epoch, 2), b"x", &mut rng).to_bytes();
        let last = mauled.len() - 1;
        mauled[last] ^= 0x40;
        assert_eq!(
            label(raw_request(committee, 0, &submit_frame(mauled)).await),
            "invalid_ciphertext"
        );
    });

    // A client that keeps sending invalid frames is disconnected.
    runtime.block_on(async {
        let member = &committee.file.validators[1];
        let session = ClientSession::connect(
            "127.0.0.1:0".parse().expect("address"),
            member.client_address,
            committee.pins[1],
            Limits::default(),
        )
        .await
        .expect("client connection");
        let mut answered = 0;
        for _ in 0..40 {
            if session.request(b"\x07not a frame").await.is_err() {
                break;
            }
            answered += 1;
        }
        assert!(
            answered < 40,
            "the validator kept serving a client that sends garbage"
        );
        session.close();
    });

    // A validator that is not in the committee cannot even connect.
    runtime.block_on(async {
        let outsider = shroud_network::Identity::generate().expect("identity");
        let endpoint = shroud_network::PeerEndpoint::bind(
            "127.0.0.1:0".parse().expect("address"),
            outsider,
            committee.pins.clone(),
            Limits::default(),
        )
        .expect("bind");
        let outcome = endpoint
            .connect(committee.file.validators[0].peer_address, 0)
            .await;
        if let Ok(connection) = outcome {
            let _ = connection.send(b"hello").await;
            let _ = connection.receive().await;
        }
        endpoint.close();
    });
    // A member's connection carrying a timeout signed by a key outside the committee:
    // validator 3 is stopped and its TLS identity reused, so only the BLS signature is wrong.
    cluster.kill(3);
    let home = cluster.configs[3]
        .parent()
        .expect("validator folder")
        .to_path_buf();
    runtime.block_on(async {
        let identity = shroud_network::Identity::from_der(
            std::fs::read(home.join("tls.cert.der")).expect("certificate"),
            std::fs::read(home.join("tls.key.der")).expect("key"),
        );
        let endpoint = shroud_network::PeerEndpoint::bind(
            "127.0.0.1:0".parse().expect("address"),
            identity,
            committee.pins.clone(),
            Limits::default(),
        )
        .expect("bind");
        let connection = endpoint
            .connect(committee.file.validators[0].peer_address, 0)
            .await
            .expect("a member's certificate is accepted");
        let impostor = shroud_crypto::SecretKey::random();
        let epoch = shroud_consensus::Epoch(committee.file.epoch);
        // A timeout (always checked: a vote for an old view would be dropped unchecked by a
        // leader that holds its QC already).
        let view = shroud_consensus::View(1_000);
        let high_qc = shroud_consensus::QuorumCertificate::genesis(epoch);
        let encoding = shroud_consensus::types::timeout_encoding(
            committee.file.chain_id,
            epoch,
            view,
            high_qc.view,
        );
        let vote = shroud_consensus::Message::Timeout(shroud_consensus::Timeout {
            epoch,
            view,
            high_qc,
            last_tc: None,
            signer: shroud_consensus::ValidatorIndex(3),
            signature: impostor
                .sign(shroud_crypto::SigningDomain::Timeout, &encoding)
                .to_bytes(),
        });
        let bytes = frame::encode(FrameKind::Consensus, &vote, &Limits::default()).expect("encode");
        connection.send(&bytes).await.expect("send");
        tokio::time::sleep(Duration::from_millis(300)).await;
        endpoint.close();
    });
    cluster.launch(3);
    std::thread::sleep(Duration::from_millis(500));
    assert!(metric(&cluster, 0, "shroud_consensus_messages_rejected_total") >= 1.0);

    let rejected = |reason: &str| {
        metric(
            &cluster,
            0,
            &format!("shroud_frames_rejected_total{{reason=\"{reason}\"}}"),
        )
    };
    assert!(rejected("unknown_version") >= 1.0);
    assert!(rejected("length_mismatch") >= 1.0);
    assert!(rejected("invalid_body") >= 1.0);
    assert!(rejected("too_large") >= 1.0);
    let admission = |reason: &str| {
        metric(
            &cluster,
            0,
            &format!("shroud_admission_rejected_total{{reason=\"{reason}\"}}"),
        )
    };
    assert!(admission("wrong_epoch") >= 1.0);
    assert!(admission("invalid_ciphertext") >= 1.0);
    assert!(metric(&cluster, 0, "shroud_peer_handshakes_refused_total") >= 1.0);

    // And the validators keep ordering.
    let accepted = runtime.block_on(submit(committee, &[0, 1, 2, 3], 200, 3));
    cluster.wait_ordered(&[0, 1, 2, 3], 200, Duration::from_secs(90));
    let order = cluster.order(0);
    assert_exactly_once(&order, &accepted.into_iter().collect());

    // SIGTERM: the validator flushes and exits cleanly.
    let child = cluster.children[0].take().expect("running");
    let status = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .expect("kill -TERM");
    assert!(status.success());
    let output = child.wait_with_output().expect("exit");
    assert!(output.status.success(), "exit status {:?}", output.status);
}

fn processed_height(cluster: &Cluster, index: usize) -> Option<u64> {
    common::u64_of(cluster.get(index, "/v1/status")?.get("processed_height")?)
}

fn wait_processed(cluster: &Cluster, index: usize, height: u64) {
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    while processed_height(cluster, index).is_none_or(|processed| processed < height) {
        assert!(
            std::time::Instant::now() < deadline,
            "validator {index} did not reach height {height}"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

fn copy_dir(from: &std::path::Path, to: &std::path::Path) {
    std::fs::create_dir_all(to).expect("folder");
    for entry in std::fs::read_dir(from).expect("read folder") {
        let entry = entry.expect("entry");
        let target = to.join(entry.file_name());
        if entry.file_type().expect("type").is_dir() {
            copy_dir(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), &target).expect("copy");
        }
    }
}

/// A consensus store restored from an older copy (its safety state is older than the votes
/// the validator sent since) is refused at start, with both heights named; the validator
/// starts again once the store that belongs with its node store is back.
#[test]
fn a_consensus_store_restored_from_an_older_copy_is_refused() {
    let mut cluster = Cluster::start(4);
    wait_processed(&cluster, 1, 3);
    cluster.kill(1);
    let data = cluster.dir.path().join("validator-1/data");
    let old = cluster.dir.path().join("old-consensus");
    copy_dir(&data.join("consensus"), &old);
    cluster.launch(1);
    let later = processed_height(&cluster, 0).unwrap_or(0) + 30;
    wait_processed(&cluster, 1, later);
    cluster.kill(1);
    let current = cluster.dir.path().join("current-consensus");
    std::fs::rename(data.join("consensus"), &current).expect("move");
    copy_dir(&old, &data.join("consensus"));
    cluster.launch(1);
    let status = cluster.wait_exit(1);
    assert!(!status.success());
    let log = std::fs::read_to_string(cluster.logs.join("validator-1.log")).expect("log");
    assert!(
        log.contains("stores disagree") && log.contains("restored from an older copy"),
        "{log}"
    );
    // The store that belongs with it: the validator runs and catches up.
    std::fs::remove_dir_all(data.join("consensus")).expect("remove");
    std::fs::rename(&current, data.join("consensus")).expect("restore");
    cluster.launch(1);
    let now = processed_height(&cluster, 0).unwrap_or(0);
    wait_processed(&cluster, 1, now);
}

/// A validator killed with SIGKILL and started again is heard at once: it answers its peers'
/// packets on the connections it lost with a stateless reset (keys derived from its TLS key),
/// so they reconnect instead of sending into the dead connection until its 30 s idle timeout.
#[test]
fn a_validator_restarted_after_sigkill_commits_again_within_seconds() {
    let mut cluster = Cluster::start(4);
    wait_processed(&cluster, 2, 5);
    cluster.kill(2);
    let restarted = std::time::Instant::now();
    cluster.launch(2);
    // It votes again within 5 s of its start (its metrics begin at zero).
    let deadline = restarted + Duration::from_secs(5);
    loop {
        if common::try_metric(&cluster, 2, "shroud_votes_total").is_some_and(|votes| votes > 0.0) {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the restarted validator did not vote within 5 s:\n{}",
            cluster.logs_tail()
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    eprintln!(
        "restarted validator voted {:.1} s after its restart",
        restarted.elapsed().as_secs_f64()
    );
    let target = common::committed_height(cluster.http(0)).unwrap_or(0) + 3;
    let deadline = restarted + Duration::from_secs(20);
    loop {
        if common::committed_height(cluster.http(2)).is_some_and(|height| height >= target) {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the restarted validator did not commit height {target} within 20 s (a stale \
             connection waits out its 30 s idle timeout)"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    eprintln!(
        "restarted validator committed height {target} {:.1} s after its restart",
        restarted.elapsed().as_secs_f64()
    );
}

/// A damaged store stops the validator at start with an error that names the store and its
/// path, and says what to do (no panic from the storage library).
#[test]
fn a_damaged_store_is_refused_naming_the_store_and_its_path() {
    let mut cluster = Cluster::start(1);
    wait_processed(&cluster, 0, 2);
    cluster.kill(0);
    let node_store = cluster.dir.path().join("validator-0/data/node");
    std::fs::write(node_store.join("conf"), "not sled's configuration\n").expect("damage");
    cluster.launch(0);
    let status = cluster.wait_exit(0);
    assert!(!status.success());
    let log = std::fs::read_to_string(cluster.logs.join("validator-0.log")).expect("log");
    assert!(
        log.contains(&format!(
            "cannot open the node store at {}",
            node_store.display()
        )) && log.contains("restore this validator's data folder")
            && !log.contains("panicked"),
        "{log}"
    );
}

/// `--log-format json` (or `SHROUD_LOG_FORMAT=json`) writes one JSON object per line, with the
/// level, the message and the fields, and no colour codes.
#[test]
fn json_logs_are_one_object_per_line() {
    use std::io::BufRead;
    let mut cluster = Cluster::start(1);
    cluster.kill(0);
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_shroud"))
        .args(["run", "--config"])
        .arg(&cluster.configs[0])
        .env("SHROUD_LOG_FORMAT", "json")
        .env("RUST_LOG", "info")
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("start a validator");
    let stderr = child.stderr.take().expect("stderr");
    let mut lines = std::io::BufReader::new(stderr).lines();
    let mut running = None;
    for line in lines.by_ref().take(20) {
        let line = line.expect("text");
        assert!(!line.contains('\u{1b}'), "colour codes in {line}");
        let object: serde_json::Value = serde_json::from_str(&line).expect("one JSON object");
        assert!(
            object["level"].is_string() && object["target"].is_string(),
            "{line}"
        );
        if object["message"] == "validator running" {
            running = Some(object);
            break;
        }
    }
    child.kill().expect("SIGKILL");
    child.wait().expect("reap");
    let running = running.expect("the start line");
    assert_eq!(running["level"], "INFO", "{running}");
    assert_eq!(running["index"], 0, "{running}");
}
