//! A Byzantine validator against three honest processes. Validator 3's process is stopped and
//! the test takes its place with its keys: it floods the others with block, sync and batch
//! requests (answered within each validator's per-peer budget), then sends batch certificates
//! whose signatures do not verify. The honest validators ban it (its connections closed, its
//! reconnections refused), and through it all they keep committing with bounded memory. Every
//! process the test starts is killed by the test (also when it fails).

mod common;

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::{committed_height, metric, runtime, Cluster};
use shroud_consensus::{BlockDigest, BlockRequest, Height, Message, SyncRequest};
use shroud_network::{frame, FrameKind, Limits, PeerConnection, PeerEndpoint};
use shroud_node::batch::{BatchCertificate, BatchDigest};
use shroud_node::config::NodeConfig;
use shroud_node::wire::BatchRequest;

const HONEST: [usize; 3] = [0, 1, 2];
const BYZANTINE: usize = 3;
const FLOOD: Duration = Duration::from_secs(20);

fn heights(cluster: &Cluster) -> Vec<u64> {
    HONEST
        .iter()
        .map(|&index| committed_height(cluster.http(index)).unwrap_or(0))
        .collect()
}

/// The lowest committed height among the honest validators.
fn lowest(cluster: &Cluster) -> u64 {
    heights(cluster).into_iter().min().unwrap_or(0)
}

/// Resident memory of validator `index`'s process, in bytes.
fn rss(cluster: &Cluster, index: usize) -> u64 {
    let pid = cluster.children[index].as_ref().expect("running").id();
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).expect("proc status");
    status
        .lines()
        .find_map(|line| line.strip_prefix("VmRSS:"))
        .and_then(|rest| {
            rest.trim()
                .trim_end_matches("kB")
                .trim()
                .parse::<u64>()
                .ok()
        })
        .expect("VmRSS")
        * 1024
}

/// Heights the honest validators commit in `window` (the lowest of them).
fn commits_in(cluster: &Cluster, window: Duration) -> u64 {
    let start = lowest(cluster);
    std::thread::sleep(window);
    lowest(cluster).saturating_sub(start)
}

fn random_digest(counter: u64) -> [u8; 32] {
    let mut bytes = [0x5a; 32];
    bytes[..8].copy_from_slice(&counter.to_le_bytes());
    bytes
}

/// Requests of every kind, as fast as the connection takes them, until `stop`.
async fn flood_requests(connection: PeerConnection, stop: Arc<AtomicBool>, sent: Arc<AtomicU64>) {
    let limits = Limits::default();
    let mut counter = 0u64;
    while !stop.load(Ordering::Relaxed) {
        counter += 1;
        let frame = match counter % 3 {
            0 => frame::encode(
                FrameKind::Consensus,
                &Message::BlockRequest(BlockRequest {
                    digest: BlockDigest(random_digest(counter)),
                    count: 64,
                }),
                &limits,
            ),
            1 => frame::encode(
                FrameKind::ConsensusBulk,
                &Message::SyncRequest(SyncRequest {
                    from: Height(1 + counter % 50),
                    count: 256,
                }),
                &limits,
            ),
            _ => frame::encode(
                FrameKind::BatchRequest,
                &BatchRequest {
                    digest: BatchDigest(random_digest(counter)),
                },
                &limits,
            ),
        }
        .expect("encode");
        if connection.send(&frame).await.is_err() {
            return;
        }
        sent.fetch_add(1, Ordering::Relaxed);
    }
}

/// Batch certificates "by" validator 3 whose signatures do not verify.
fn forged_certificates(epoch: u64, count: u64) -> Vec<Vec<u8>> {
    (0..count)
        .map(|n| {
            let certificate = BatchCertificate {
                epoch,
                valid_through: 1_000_000,
                digest: BatchDigest(random_digest(1 << 40 | n)),
                author: BYZANTINE as u16,
                signers: vec![0b0111],
                signature: [0xab; 96],
            };
            frame::encode(
                FrameKind::BatchCertificate,
                &certificate,
                &Limits::default(),
            )
            .expect("encode")
        })
        .collect()
}

#[test]
fn a_flooding_forging_peer_is_banned_and_the_others_commit_with_bounded_memory() {
    let mut cluster = Cluster::start(4);
    cluster.kill(BYZANTINE);
    let deadline = Instant::now() + Duration::from_secs(120);
    while lowest(&cluster) < 20 {
        assert!(
            Instant::now() < deadline,
            "no commits:\n{}",
            cluster.logs_tail()
        );
        std::thread::sleep(Duration::from_millis(200));
    }

    // Three honest validators, the fourth silent: the rate the flood must not break.
    let baseline = commits_in(&cluster, FLOOD);
    let rss_before: Vec<u64> = HONEST.iter().map(|&i| rss(&cluster, i)).collect();
    assert!(baseline > 0, "no commits with one validator silent");

    let loaded = NodeConfig::load(&cluster.configs[BYZANTINE]).expect("validator 3's files");
    let epoch = cluster.committee.file.epoch;
    let own_address = cluster.committee.file.validators[BYZANTINE].peer_address;
    let runtime = runtime();
    let endpoint = runtime.block_on(async {
        // In validator 3's place: its address, so the answers come here and are read.
        Arc::new(
            PeerEndpoint::bind(
                own_address,
                loaded.identity.clone(),
                cluster.committee.pins.clone(),
                Limits::default(),
            )
            .expect("bind validator 3's address"),
        )
    });
    let answers = Arc::new(AtomicU64::new(0));
    {
        let endpoint = endpoint.clone();
        let answers = answers.clone();
        runtime.spawn(async move {
            while let Some(Ok(connection)) = endpoint.accept().await {
                let answers = answers.clone();
                tokio::spawn(async move {
                    while let Ok(bytes) = connection.receive().await {
                        answers.fetch_add(bytes.len() as u64, Ordering::Relaxed);
                    }
                });
            }
        });
    }
    let connect = |peer: usize| {
        let endpoint = endpoint.clone();
        let address = cluster.committee.file.validators[peer].peer_address;
        async move { endpoint.connect(address, peer).await }
    };
    let connections: Vec<PeerConnection> = runtime.block_on(async {
        let mut out = Vec::new();
        for &peer in &HONEST {
            out.push(connect(peer).await.expect("connect as validator 3"));
        }
        out
    });

    // Phase 1: requests of every kind, as fast as the connections take them.
    let stop = Arc::new(AtomicBool::new(false));
    let sent = Arc::new(AtomicU64::new(0));
    for connection in &connections {
        for _ in 0..4 {
            runtime.spawn(flood_requests(
                connection.clone(),
                stop.clone(),
                sent.clone(),
            ));
        }
    }
    let during = commits_in(&cluster, FLOOD);
    stop.store(true, Ordering::Relaxed);
    let sent = sent.load(Ordering::Relaxed);
    let answered = answers.load(Ordering::Relaxed);
    let refused: f64 = HONEST
        .iter()
        .map(|&i| metric(&cluster, i, "shroud_peer_answers_refused_total"))
        .sum::<f64>()
        + 0.0;
    println!(
        "flood: {sent} requests in {FLOOD:?}, {answered} bytes answered, {refused} refused; \
         {during} heights against {baseline} without it"
    );
    // The answers are what the budgets allow (1 MiB/s of blocks and 8 MiB/s of batches per
    // peer), with a second's burst each; only blocks are there to answer.
    let allowed = 3 * (1 << 20) * (FLOOD.as_secs() + 4);
    assert!(
        answered <= allowed,
        "answered {answered} bytes, over the budgets' {allowed}"
    );
    assert!(refused > 0.0, "the budgets refused nothing");
    assert!(
        during * 3 >= baseline,
        "the flood cut commits from {baseline} to {during} heights in {FLOOD:?}"
    );

    // Phase 2: forged signatures. Four of them ban the sender.
    let bans_before: f64 = HONEST
        .iter()
        .map(|&i| metric(&cluster, i, "shroud_peer_bans_total"))
        .sum();
    assert_eq!(bans_before, 0.0, "banned for requests alone");
    runtime.block_on(async {
        for connection in &connections {
            for frame in forged_certificates(epoch, 8) {
                let _ = connection.send(&frame).await;
            }
        }
    });
    let deadline = Instant::now() + Duration::from_secs(30);
    for &index in &HONEST {
        while metric(&cluster, index, "shroud_peer_bans_total") < 1.0 {
            assert!(
                Instant::now() < deadline,
                "validator {index} did not ban the forger:\n{}",
                cluster.logs_tail()
            );
            // Frames keep coming (a ban closes the connection at the next frame).
            runtime.block_on(async {
                let _ = connections[index]
                    .send(&forged_certificates(epoch, 1)[0])
                    .await;
            });
            std::thread::sleep(Duration::from_millis(200));
        }
    }
    // Its connections are closed, and a new one is refused while the ban lasts.
    runtime.block_on(async {
        for connection in &connections {
            let _ = connection.send(&forged_certificates(epoch, 1)[0]).await;
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
        for connection in &connections {
            assert!(
                connection.close_reason().is_some(),
                "validator {} still reads the banned peer",
                connection.peer()
            );
        }
        for &peer in &HONEST {
            if let Ok(again) = connect(peer).await {
                let _ = again.send(&forged_certificates(epoch, 1)[0]).await;
                tokio::time::sleep(Duration::from_millis(300)).await;
                assert!(again.close_reason().is_some(), "a banned peer reconnected");
            }
        }
    });
    for &index in &HONEST {
        assert!(
            metric(&cluster, index, "shroud_peer_connections_refused_total") >= 1.0,
            "validator {index} counted no refused reconnection"
        );
    }

    // The honest validators go on, and their memory stayed bounded.
    let after = commits_in(&cluster, Duration::from_secs(10));
    assert!(
        after > 0,
        "no commits after the ban:\n{}",
        cluster.logs_tail()
    );
    for (slot, &index) in HONEST.iter().enumerate() {
        let now = rss(&cluster, index);
        let before = rss_before[slot];
        println!("validator {index}: RSS {before} → {now} bytes");
        assert!(
            now <= before + before / 2 + (64 << 20),
            "validator {index}'s memory grew from {before} to {now} bytes"
        );
    }
    endpoint.close();
    drop(runtime);
}
