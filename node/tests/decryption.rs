//! The decryption stage over real processes: four `shroud run` validators decrypt what they
//! ordered, certify per-namespace outputs, and agree byte for byte; garbage that a Byzantine
//! batch author gets ordered fails the same way everywhere; a validator that sends invalid
//! shares does not stop the others. Each node's own records are read back from its store.

mod common;

use std::collections::{BTreeMap, HashMap};
use std::time::{Duration, Instant};

use common::{connect_sdk as connect, metric, runtime, sdk_committee, Cluster};
use rand_chacha::rand_core::SeedableRng;
use rand_chacha::ChaCha20Rng;
use shroud_crypto::tdh2::{encrypt, Label};
use shroud_node::config::NodeConfig;
use shroud_node::store::NodeStore;
use shroud_proofs::{Bundle, FailureReason, Item, NamespaceId, Outcome, TxId};
use shroud_sdk::Client;

const ROLLUP_A: NamespaceId = NamespaceId(1);
const ROLLUP_B: NamespaceId = NamespaceId(2);

/// Bundles sent: single-rollup transactions and every fifth a cross-rollup bundle.
fn bundles(count: usize, tag: &str) -> Vec<Bundle> {
    (0..count)
        .map(|i| {
            let mut items = vec![Item {
                namespace: if i % 2 == 0 { ROLLUP_A } else { ROLLUP_B },
                data: format!("{tag} {i}").into_bytes(),
            }];
            if i % 5 == 0 {
                items.push(Item {
                    namespace: if i % 2 == 0 { ROLLUP_B } else { ROLLUP_A },
                    data: format!("{tag} {i} second leg").into_bytes(),
                });
            }
            Bundle { items }
        })
        .collect()
}

async fn submit_all(client: &Client, bundles: &[Bundle]) -> HashMap<TxId, Bundle> {
    let mut sent = HashMap::new();
    for bundle in bundles {
        let submitted = client.submit_bundle(bundle).await.expect("accepted");
        sent.insert(submitted.tx_id, bundle.clone());
    }
    sent
}

fn status_u64(cluster: &Cluster, index: usize, field: &str) -> Option<u64> {
    common::u64_of(cluster.get(index, "/status")?.get(field)?)
}

fn outcomes_total(cluster: &Cluster, index: usize) -> Option<u64> {
    let status = cluster.get(index, "/status")?;
    let outcomes = status.get("outcomes")?;
    let failed: u64 = outcomes
        .get("failed")?
        .as_object()?
        .values()
        .filter_map(common::u64_of)
        .sum();
    Some(common::u64_of(outcomes.get("decrypted")?)? + failed)
}

/// Waits until every listed validator has an outcome for at least `count` positions, then
/// until each has certified every height up to the highest output built at that moment (the
/// heights holding the transactions; later, empty heights keep coming and are not awaited).
fn wait_certified(cluster: &Cluster, validators: &[usize], count: u64, within: Duration) -> u64 {
    let deadline = Instant::now() + within;
    let target = loop {
        let done: Vec<Option<u64>> = validators
            .iter()
            .map(|index| outcomes_total(cluster, *index))
            .collect();
        if done.iter().all(|d| d.is_some_and(|d| d >= count)) {
            break validators
                .iter()
                .filter_map(|index| status_u64(cluster, *index, "output_height"))
                .max()
                .unwrap_or(0);
        }
        assert!(
            Instant::now() < deadline,
            "validators {validators:?} decided {done:?} positions, expected {count}; logs in {}",
            cluster.logs.display()
        );
        std::thread::sleep(Duration::from_millis(250));
    };
    loop {
        let certified: Vec<Option<u64>> = validators
            .iter()
            .map(|index| status_u64(cluster, *index, "certified_height"))
            .collect();
        if certified.iter().all(|h| h.is_some_and(|h| h >= target)) {
            return target;
        }
        assert!(
            Instant::now() < deadline,
            "validators {validators:?} certified {certified:?}, expected {target}; logs in {}",
            cluster.logs.display()
        );
        std::thread::sleep(Duration::from_millis(250));
    }
}

/// Stops a validator with SIGTERM (it flushes) and opens its node store.
fn stop_and_open(cluster: &mut Cluster, index: usize) -> NodeStore {
    let child = cluster.children[index].take().expect("running");
    std::process::Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .expect("kill -TERM");
    let output = child.wait_with_output().expect("exit");
    assert!(
        output.status.success(),
        "validator {index} exited with {:?}",
        output.status
    );
    let text = std::fs::read_to_string(&cluster.configs[index]).expect("node file");
    let config: NodeConfig = toml::from_str(&text).expect("node file parses");
    NodeStore::open(&config.data_dir.join("node")).expect("node store")
}

#[test]
fn validators_decrypt_certify_and_agree_and_garbage_fails_alike() {
    // Validator 3 is a Byzantine batch author: it admits bytes without checking them. What
    // it batches with a valid proof is ordered and fails alike everywhere; a batch with an
    // invalid ciphertext gets no honest acknowledgement and is never ordered.
    let mut cluster = Cluster::start_with(4, |index, text| {
        if index == 3 {
            common::set_fault(text, "admit_unchecked_ciphertexts = true");
        }
    });
    let committee = sdk_committee(&cluster);
    let runtime = runtime();
    let mut rng = ChaCha20Rng::seed_from_u64(5);
    let key = *committee.encryption_key().expect("dealt");
    let label = |epoch: u64, nonce: u8| Label {
        chain_id: committee.chain_id(),
        epoch,
        valid_through: common::VALID_THROUGH,
        nonce: [nonce; 32],
    };
    let mut mauled = encrypt(&key, label(committee.epoch(), 1), b"x", &mut rng).to_bytes();
    let last = mauled.len() - 1;
    mauled[last] ^= 0x40;
    let wrong_epoch = encrypt(&key, label(committee.epoch() + 1, 2), b"y", &mut rng).to_bytes();
    let not_a_bundle = encrypt(&key, label(committee.epoch(), 3), b"no", &mut rng).to_bytes();
    let garbage = b"definitely not a ciphertext".to_vec();
    // Past its expiry, and valid further ahead than the chain's window: both fail as expired.
    let expiring = |valid_through: u64, nonce: u8| Label {
        valid_through,
        ..label(committee.epoch(), nonce)
    };
    let single = Bundle::single(ROLLUP_A, b"too late".to_vec()).encode();
    let expired = encrypt(&key, expiring(0, 4), &single, &mut rng).to_bytes();
    let too_far = encrypt(&key, expiring(u64::MAX, 5), &single, &mut rng).to_bytes();
    // A past expiry is not submitted through the Byzantine author: alone in a batch it
    // would give the batch that expiry, and honest validators refuse to store a batch that
    // no block can order any more (the decryption-state test covers it failing as expired).
    let expected_failures: Vec<(TxId, FailureReason)> = vec![
        (TxId::of(&not_a_bundle), FailureReason::MalformedBundle),
        (TxId::of(&too_far), FailureReason::Expired),
    ];
    let never_ordered = [
        TxId::of(&mauled),
        TxId::of(&wrong_epoch),
        TxId::of(&garbage),
    ];

    let (sent, streams) = runtime.block_on(async {
        let mut sent = HashMap::new();
        for validator in 0..3 {
            let client = connect(&committee, &[validator]).await;
            sent.extend(submit_all(&client, &bundles(60, &format!("v{validator}"))).await);
            client.close();
        }
        // An honest validator refuses both expiries at admission, with their reasons.
        let honest = connect(&committee, &[0]).await;
        for (bytes, reason) in [(&expired, "expired"), (&too_far, "expiry_too_far")] {
            match honest.submit(bytes).await {
                Err(shroud_sdk::SdkError::Rejected { label, .. }) => assert_eq!(label, reason),
                other => panic!("expected {reason}, got {other:?}"),
            }
        }
        honest.close();
        let byzantine = connect(&committee, &[3]).await;
        // Valid proofs first, alone in their batches: ordered before the invalid ones come.
        for bytes in [&not_a_bundle, &too_far] {
            byzantine.submit(bytes).await.expect("admitted unchecked");
        }
        let deadline = Instant::now() + Duration::from_secs(60);
        for bytes in [&not_a_bundle, &too_far] {
            while byzantine
                .status(TxId::of(bytes))
                .await
                .map_or(true, |status| status.ordered.is_none())
            {
                assert!(Instant::now() < deadline, "valid proofs are ordered");
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
        for bytes in [&mauled, &wrong_epoch, &garbage] {
            byzantine.submit(bytes).await.expect("admitted unchecked");
        }
        byzantine.close();
        // A rollup follower reads both namespaces, verifying every output.
        let follower = connect(&committee, &[1]).await;
        let deadline = Instant::now() + Duration::from_secs(150);
        let mut streams: BTreeMap<NamespaceId, HashMap<TxId, u64>> = BTreeMap::new();
        for namespace in [ROLLUP_A, ROLLUP_B] {
            let mut subscription = follower.subscribe(namespace, 1);
            let wanted = sent
                .values()
                .filter(|b: &&Bundle| b.items.iter().any(|i| i.namespace == namespace))
                .count();
            let seen = streams.entry(namespace).or_default();
            while seen.len() < wanted {
                assert!(
                    Instant::now() < deadline,
                    "{namespace} saw {} of {wanted}",
                    seen.len()
                );
                for output in subscription
                    .next(Duration::from_secs(2))
                    .await
                    .expect("verified")
                {
                    for item in &output.items {
                        seen.insert(item.tx_id, output.certificate.header.height);
                    }
                }
            }
        }
        // The SDK's wait for one cross-rollup bundle finds both legs at one height.
        let (bundle_id, _) = sent
            .iter()
            .find(|(_, bundle)| bundle.items.len() == 2)
            .expect("a cross-rollup bundle was sent");
        let found = follower
            .wait_for(
                *bundle_id,
                &[ROLLUP_A, ROLLUP_B],
                1,
                Duration::from_secs(30),
            )
            .await
            .expect("found");
        assert_eq!(found.outputs.len(), 2);
        assert!(found
            .outputs
            .iter()
            .all(|output| output.certificate.header.height == found.height));
        follower.close();
        (sent, streams)
    });
    // Every bundle's items were served, verified, at one height in both namespaces.
    for (tx_id, bundle) in &sent {
        let heights: Vec<u64> = bundle
            .items
            .iter()
            .map(|item| streams[&item.namespace][tx_id])
            .collect();
        assert!(
            heights.windows(2).all(|pair| pair[0] == pair[1]),
            "bundle split: {heights:?}"
        );
    }

    let total = (sent.len() + expected_failures.len()) as u64;
    let top = wait_certified(&cluster, &[0, 1, 2, 3], total, Duration::from_secs(120));
    // Validator 0 checks validator 3's batches at once (the one after it); the others check
    // a batch themselves when no certificate came within a second. A refused batch is never
    // acknowledged by an honest validator.
    let deadline = Instant::now() + Duration::from_secs(30);
    while (0..3).any(|index| metric(&cluster, index, "shroud_batches_refused_total") < 1.0) {
        assert!(
            Instant::now() < deadline,
            "every honest validator refuses the invalid batch"
        );
        std::thread::sleep(Duration::from_millis(250));
    }
    // Anyone can check every decryption: the SDK verifies each height's evidence (the
    // certificate, every shared position's ciphertext and combined point, one batched pairing
    // check against x·g2, and each payload re-opened to its certified outcome). Every
    // decrypted position and the one that opened to something not a bundle got shares.
    let shared = runtime.block_on(async {
        let client = connect(&committee, &[1]).await;
        let mut shared = 0;
        for height in 1..=top {
            let evidence = client
                .decryption_evidence(height)
                .await
                .expect("verified decryption evidence");
            shared += evidence.shared.len();
        }
        client.close();
        shared
    });
    assert_eq!(shared, sent.len() + 1);
    // The same evidence over HTTP, for clients without the SDK.
    let over_http: usize = (1..=top)
        .map(|height| {
            let body =
                common::get_json(cluster.http(2), &format!("/v1/outputs/{height}/decryption"))
                    .expect("evidence over HTTP");
            assert_eq!(common::u64_of(&body["height"]), Some(height));
            let positions = body["positions"].as_array().expect("positions");
            for position in positions {
                for field in ["tx_id", "ciphertext", "point"] {
                    assert!(position[field]
                        .as_str()
                        .is_some_and(|hex| hex.starts_with("0x")));
                }
                assert_eq!(position["point"].as_str().map(str::len), Some(2 + 96));
            }
            positions.len()
        })
        .sum();
    assert_eq!(over_http, shared);
    let stores: Vec<NodeStore> = (0..4)
        .map(|index| stop_and_open(&mut cluster, index))
        .collect();
    check_records(&stores, top, &sent, &expected_failures);
    let index = shroud_node::committed::rebuild(&stores[0], 1 << 20).expect("rebuild");
    for tx_id in never_ordered {
        assert!(
            index.committed_at(&tx_id).is_none(),
            "an invalid ciphertext was ordered"
        );
    }
}

/// What each validator recorded: identical certified headers per height, every transaction
/// exactly once at its ciphertext's position, the same failures, and no share made or
/// accepted for a height before that validator had committed it.
fn check_records(
    stores: &[NodeStore],
    top: u64,
    sent: &HashMap<TxId, Bundle>,
    failures: &[(TxId, FailureReason)],
) {
    let mut found: HashMap<TxId, Vec<(u64, usize, Outcome)>> = HashMap::new();
    // The committed-transaction index as a restart rebuilds it from the height records.
    let index = shroud_node::committed::rebuild(&stores[0], 1 << 20).expect("rebuild");
    for height in 1..=top {
        let reference = stores[0].output(height).expect("read").expect("output");
        for (index, store) in stores.iter().enumerate() {
            let record = store.output(height).expect("read").expect("output");
            assert_eq!(
                record.header.encoding(),
                reference.header.encoding(),
                "validator {index}, height {height}"
            );
            assert_eq!(
                record.entries, reference.entries,
                "validator {index}, height {height}"
            );
            let certificate = store
                .output_certificate(height)
                .expect("read")
                .expect("certified");
            assert_eq!(certificate.header, reference.header);
            let log = store.decryption_log(height).expect("log");
            if store.own_shares(height).expect("read").is_some() {
                assert!(
                    log.made_at_committed >= height,
                    "validator {index} made shares of {height} at commit {}",
                    log.made_at_committed
                );
            }
            for (sender, committed) in &log.accepted {
                assert!(*committed >= height, "validator {index} accepted shares of {height} from {sender} at commit {committed}");
            }
        }
        let order = stores[0].height(height).expect("read").expect("order");
        assert_eq!(order.transactions.len(), reference.entries.len());
        for (position, entry) in reference.entries.iter().enumerate() {
            assert_eq!(
                order.transactions[position].tx_id, entry.tx_id,
                "position {position} of {height}"
            );
            let placed = index.committed_at(&entry.tx_id).expect("ordered");
            assert_eq!(placed, (height, position as u32));
            found
                .entry(entry.tx_id)
                .or_default()
                .push((height, position, entry.outcome.clone()));
        }
    }
    for (tx_id, bundle) in sent {
        let places = found
            .get(tx_id)
            .expect("every accepted transaction is in the output");
        assert_eq!(places.len(), 1, "{tx_id:?} appears {} times", places.len());
        assert_eq!(places[0].2, Outcome::Decrypted(bundle.clone()));
    }
    for (tx_id, reason) in failures {
        let places = found.get(tx_id).expect("a garbage transaction was ordered");
        assert_eq!(places.len(), 1);
        assert_eq!(places[0].2, Outcome::Failed(*reason));
    }
}

#[test]
fn a_validator_sending_invalid_shares_does_not_stop_decryption() {
    let mut cluster = Cluster::start_with(4, |index, text| {
        if index == 0 {
            common::set_fault(text, "invalid_decryption_shares = true");
        }
    });
    let committee = sdk_committee(&cluster);
    let runtime = runtime();
    let honest = [1, 2, 3];
    let invalid = |cluster: &Cluster| -> f64 {
        honest
            .iter()
            .map(|index| metric(cluster, *index, "shroud_decryption_shares_invalid_total"))
            .sum()
    };
    // An honest validator combines the first t shares it has; the faulty one's are checked
    // only when they are among them, which depends on who answers first. Rounds of traffic
    // go on (eight at most) until an honest validator has met a faulty share.
    let mut sent = HashMap::new();
    let mut top = 0;
    for round in 0..8 {
        sent.extend(runtime.block_on(async {
            let mut sent = HashMap::new();
            for validator in 1..4 {
                let client = connect(&committee, &[validator]).await;
                let tag = format!("b{validator} round {round}");
                sent.extend(submit_all(&client, &bundles(40, &tag)).await);
                client.close();
            }
            sent
        }));
        top = wait_certified(
            &cluster,
            &honest,
            sent.len() as u64,
            Duration::from_secs(150),
        );
        if invalid(&cluster) >= 1.0 {
            break;
        }
    }
    assert!(invalid(&cluster) >= 1.0, "no invalid share was detected");
    cluster.kill(0);
    let stores: Vec<NodeStore> = honest
        .iter()
        .map(|index| stop_and_open(&mut cluster, *index))
        .collect();
    check_records(&stores, top, &sent, &[]);
}
