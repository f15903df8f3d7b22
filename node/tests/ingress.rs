//! The ingress stage on a running network of four `shroud run` processes on 127.0.0.1:
//! accepted transactions that were not yet batched survive a SIGKILL, a submission stream
//! carries many transactions with their receipts in order, and a flood of connections and
//! submissions past the caps is refused as `overloaded` while consensus keeps committing.
//! Every process the test starts is killed by the test (also when it fails).

use std::collections::HashSet;
use std::time::{Duration, Instant};

use rand_chacha::rand_core::{RngCore, SeedableRng};
use rand_chacha::ChaCha20Rng;
use shroud_crypto::tdh2::{encrypt, Label};
use shroud_network::client::EpochKeyRequest;
use shroud_network::frame;
use shroud_network::{ClientSession, FrameKind, Limits};
use shroud_sdk::StreamReceipt;

mod common;

use common::{connect_sdk, metric, runtime, sdk_committee, submit, Cluster, CHAIN_ID};

/// Fresh ciphertexts for the cluster's key, valid through [`common::VALID_THROUGH`].
fn ciphertexts(cluster: &Cluster, count: usize, seed: u64) -> Vec<Vec<u8>> {
    let key = *cluster
        .committee
        .public_key_set
        .as_ref()
        .expect("dealt")
        .encryption_key();
    let mut rng = ChaCha20Rng::seed_from_u64(seed);
    (0..count)
        .map(|_| {
            let mut nonce = [0u8; 32];
            rng.fill_bytes(&mut nonce);
            let label = Label {
                chain_id: CHAIN_ID,
                epoch: cluster.committee.file.epoch,
                valid_through: common::VALID_THROUGH,
                nonce,
            };
            encrypt(&key, label, b"swap on rollup B", &mut rng).to_bytes()
        })
        .collect()
}

fn status_field(cluster: &Cluster, index: usize, field: &str) -> Option<u64> {
    // Queue lengths are numbers, 64-bit counts decimal strings (docs/openapi.json).
    let value = cluster.get(index, "/v1/status")?.get(field)?.clone();
    value.as_u64().or_else(|| common::u64_of(&value))
}

/// Sets `key = value` in a node file's `[section]` (the generator writes every key).
fn set(text: &mut String, section: &str, key: &str, value: &str) {
    let header = format!("[{section}]");
    let start = text.find(&header).expect("section") + header.len();
    let end = text[start..]
        .find("\n[")
        .map_or(text.len(), |at| start + at);
    let body = &text[start..end];
    let line_start = body
        .find(&format!("\n{key} = "))
        .map(|at| start + at + 1)
        .expect("key");
    let line_end = text[line_start..]
        .find('\n')
        .map_or(text.len(), |at| line_start + at);
    text.replace_range(line_start..line_end, &format!("{key} = {value}"));
}

#[test]
fn accepted_transactions_not_yet_batched_survive_a_kill_and_are_ordered_once() {
    // Validator 3 holds what it accepts for a minute before batching it, so a kill finds it
    // accepted (durable) and not in any batch.
    let mut cluster = Cluster::start_with(4, |index, text| {
        if index == 3 {
            set(text, "mempool", "batch_interval_ms", "60000");
        }
    });
    let runtime = runtime();
    let accepted = runtime.block_on(submit(&cluster.committee, &[3], 300, 11));
    assert_eq!(accepted.len(), 300);
    assert_eq!(
        status_field(&cluster, 3, "mempool"),
        Some(300),
        "accepted and not batched"
    );
    cluster.kill(3);
    let mut text = std::fs::read_to_string(&cluster.configs[3]).expect("node file");
    set(&mut text, "mempool", "batch_interval_ms", "20");
    std::fs::write(&cluster.configs[3], text).expect("node file");
    cluster.launch(3);
    cluster.wait_ordered(&[0, 1, 2, 3], 300, Duration::from_secs(120));
    cluster.assert_ordered_exactly_once(&accepted);
}

#[test]
fn a_flood_past_the_caps_is_refused_as_overloaded_and_ordering_goes_on() {
    // Validator 0 takes few connections and a short admission queue.
    let cluster = Cluster::start_with(4, |index, text| {
        if index == 0 {
            for (key, value) in [
                ("queue_max", "64"),
                ("group_max", "64"),
                ("connections_max", "16"),
                ("connections_per_address_max", "16"),
                ("in_flight_per_stream_max", "512"),
            ] {
                set(text, "ingress", key, value);
            }
        }
    });
    let runtime = runtime();
    let committee = sdk_committee(&cluster);
    let pool = ciphertexts(&cluster, 400, 12);
    runtime.block_on(async {
        // The network is up: one client reaches validator 0 before the flood.
        let client = connect_sdk(&committee, &[0]).await;
        client.close();
    });
    let height = |index| status_field(&cluster, index, "committed_height").unwrap_or(0);
    // The unloaded pace, measured in this run, to compare the flood's with (printed, not
    // asserted: no timing is asserted in a test).
    let unloaded = (height(1), Instant::now());
    std::thread::sleep(Duration::from_secs(4));
    let unloaded_per_s = (height(1) - unloaded.0) as f64 / unloaded.1.elapsed().as_secs_f64();
    let before = (height(1), Instant::now());

    let (overloaded, accepted_ids, refused_connections) = runtime.block_on(async {
        // 1,000 connections to validator 0, past its cap of 16.
        let member = cluster.committee.file.validators[0].clone();
        let pin = cluster.committee.pins[0];
        let mut sessions = Vec::new();
        for _ in 0..1_000 {
            let local = "127.0.0.1:0".parse().expect("address");
            if let Ok(session) =
                ClientSession::connect(local, member.client_address, pin, Limits::default()).await
            {
                sessions.push(session);
            }
        }
        // The ones past the cap are closed at once: a request on them fails.
        let ask = frame::encode(
            FrameKind::EpochKeyRequest,
            &EpochKeyRequest {
                epoch: cluster.committee.file.epoch,
            },
            &Limits::default(),
        )
        .expect("encode");
        let mut refused = 0;
        for session in &sessions {
            if session.request(&ask).await.is_err() {
                refused += 1;
            }
        }
        for session in &sessions {
            session.close();
        }
        // Sixteen SDK clients flood validator 0 over submission streams: the same 400
        // ciphertexts each, far faster than one admission queue of 64 takes them.
        let mut tasks = Vec::new();
        for flooder in 0..16 {
            let committee = committee.clone();
            let pool = pool.clone();
            tasks.push(tokio::spawn(async move {
                let client = connect_sdk(&committee, &[0]).await;
                let (mut stream, mut receipts) = client.submission_stream(0).await.expect("stream");
                let reader = tokio::spawn(async move {
                    let mut overloaded = 0u64;
                    let mut accepted = Vec::new();
                    while let Ok(Some(receipt)) = receipts.next().await {
                        match receipt {
                            StreamReceipt::Accepted(id) => accepted.push(hex::encode(id.0)),
                            StreamReceipt::Rejected { label, .. } if label == "overloaded" => {
                                overloaded += 1
                            }
                            StreamReceipt::Rejected { label, .. } => {
                                assert_eq!(label, "duplicate", "flooder {flooder}")
                            }
                        }
                    }
                    (overloaded, accepted)
                });
                for ciphertext in &pool {
                    stream.send(ciphertext).await.expect("send");
                }
                stream.finish().expect("finish");
                let result = reader.await.expect("receipts");
                client.close();
                result
            }));
        }
        let mut overloaded = 0;
        let mut accepted = HashSet::new();
        for task in tasks {
            let (count, ids) = task.await.expect("flooder");
            overloaded += count;
            accepted.extend(ids);
        }
        (overloaded, accepted, refused)
    });
    let after = (height(1), Instant::now());
    let flood_s = after.1.duration_since(before.1).as_secs_f64();
    let flood_per_s = (after.0 - before.0) as f64 / flood_s;
    println!(
        "flood: {refused_connections} of 1000 connections refused, {overloaded} submissions \
         overloaded, {} accepted; validator 1 committed {} heights in {flood_s:.1} s \
         ({flood_per_s:.1} a second; {unloaded_per_s:.1} a second unloaded, just before: \
         {:.2}x)",
        accepted_ids.len(),
        after.0 - before.0,
        unloaded_per_s / flood_per_s.max(f64::MIN_POSITIVE),
    );
    assert!(
        refused_connections >= 1_000 - 16,
        "only {refused_connections} connections refused"
    );
    assert!(overloaded > 0, "no submission was refused as overloaded");
    assert!(metric(&cluster, 0, "shroud_client_connections_refused_total") >= 984.0);
    assert!(
        metric(
            &cluster,
            0,
            "shroud_admission_rejected_total{reason=\"overloaded\"}"
        ) > 0.0
    );
    // Consensus kept committing through the flood, and what was accepted is ordered.
    assert!(after.0 > before.0, "no height committed during the flood");
    cluster.wait_ordered(
        &[0, 1, 2, 3],
        accepted_ids.len() as u64,
        Duration::from_secs(120),
    );
    let ordered: HashSet<String> = cluster.order(1).into_iter().collect();
    assert!(
        accepted_ids.is_subset(&ordered),
        "an accepted transaction was lost"
    );
    // And a client at another validator is served as usual.
    let more = runtime.block_on(submit(&cluster.committee, &[2], 50, 13));
    cluster.wait_ordered(
        &[0, 1, 2, 3],
        (accepted_ids.len() + more.len()) as u64,
        Duration::from_secs(120),
    );
}
