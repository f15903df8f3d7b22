//! State sync across real processes: one validator of four is stopped while the others, under
//! load, move more than 5,000 heights past it, far beyond the committed blocks its peers keep in
//! memory (`committed_blocks_kept = 64`; leaders do not pace blocks with content, so heights
//! come fast under load, while empty heights keep their default pace). Restarted, it syncs the committed blocks from its
//! peers' stores by height (proven by QCs), fetches the batches, decrypts and certifies every
//! height, and takes part again: it votes, and transactions submitted through it are ordered.
//! Every accepted transaction is ordered exactly once, the same at every validator. Every process
//! the test starts is killed by the test (also when it fails).

mod common;

use std::time::{Duration, Instant};

use common::{metric, Cluster};

const KEPT: usize = 64;
const BEHIND: u64 = 5_000;
/// Transactions submitted per round while validator 3 is down (rounds follow each other).
const LOAD_PER_ROUND: usize = 24;

fn height(cluster: &Cluster, index: usize, field: &str) -> Option<u64> {
    common::u64_of(cluster.get(index, "/status")?.get(field)?)
}

/// Waits until `check` holds, or fails after `within` with what the validators report.
fn wait(cluster: &Cluster, within: Duration, what: &str, check: impl Fn() -> bool) {
    let deadline = Instant::now() + within;
    while !check() {
        assert!(
            Instant::now() < deadline,
            "{what}: not within {within:?}; heights {:?}; logs in {}",
            (0..4)
                .map(|index| height(cluster, index, "certified_height"))
                .collect::<Vec<_>>(),
            cluster.logs.display()
        );
        std::thread::sleep(Duration::from_millis(250));
    }
}

#[test]
fn a_validator_thousands_of_heights_behind_catches_up_by_state_sync() {
    let mut cluster = Cluster::start_with(4, |_, text| {
        for (from, to) in [
            (
                "proposal_interval_min_ms = 100",
                "proposal_interval_min_ms = 0".to_string(),
            ),
            (
                "committed_blocks_kept = 1024",
                format!("committed_blocks_kept = {KEPT}"),
            ),
        ] {
            assert!(text.contains(from), "{from} in {text}");
            *text = text.replace(from, &to);
        }
    });
    let runtime = common::runtime();
    let mut accepted = runtime.block_on(common::submit(&cluster.committee, &[0, 1, 2, 3], 100, 1));
    cluster.wait_ordered(
        &[0, 1, 2, 3],
        accepted.len() as u64,
        Duration::from_secs(120),
    );

    cluster.kill(3);
    let stopped_at = height(&cluster, 0, "committed_height").expect("status");
    let started = Instant::now();
    let mut round = 2;
    while height(&cluster, 0, "committed_height").unwrap_or(0) < stopped_at + BEHIND {
        accepted.extend(runtime.block_on(common::submit(
            &cluster.committee,
            &[0, 1, 2],
            LOAD_PER_ROUND,
            round,
        )));
        round += 1;
        assert!(
            started.elapsed() < Duration::from_secs(900),
            "the others did not move {BEHIND} heights ahead: {:?}",
            height(&cluster, 0, "committed_height")
        );
    }
    cluster.wait_ordered(&[0, 1, 2], accepted.len() as u64, Duration::from_secs(120));
    let target = height(&cluster, 0, "committed_height").expect("status");
    wait(
        &cluster,
        Duration::from_secs(120),
        "validator 0 certifies the heights",
        || height(&cluster, 0, "certified_height").is_some_and(|certified| certified >= target),
    );
    eprintln!(
        "{} heights committed without validator 3 in {:.0} s, {} transactions accepted",
        target - stopped_at,
        started.elapsed().as_secs_f64(),
        accepted.len()
    );

    let restarted = Instant::now();
    cluster.launch(3);
    wait(
        &cluster,
        Duration::from_secs(600),
        "validator 3 certifies every height it missed",
        || height(&cluster, 3, "certified_height").is_some_and(|certified| certified >= target),
    );
    eprintln!(
        "validator 3 caught up {} heights in {:.0} s",
        target - stopped_at,
        restarted.elapsed().as_secs_f64()
    );
    assert!(metric(&cluster, 3, "shroud_sync_requests_total") > 0.0);
    let answers: f64 = (0..3)
        .map(|index| metric(&cluster, index, "shroud_sync_answers_total"))
        .sum();
    assert!(answers > 0.0, "its peers answered from their stores");

    // It takes part again: level with the others (they keep committing empty heights), it
    // votes, and what it admits is ordered everywhere.
    wait(
        &cluster,
        Duration::from_secs(300),
        "validator 3 is level with the others",
        || match (
            height(&cluster, 0, "committed_height"),
            height(&cluster, 3, "processed_height"),
        ) {
            (Some(others), Some(own)) => own + 100 >= others,
            _ => false,
        },
    );
    let votes = metric(&cluster, 3, "shroud_votes_total");
    let late = runtime.block_on(common::submit(&cluster.committee, &[3], 20, round + 1));
    accepted.extend(late);
    cluster.wait_ordered(
        &[0, 1, 2, 3],
        accepted.len() as u64,
        Duration::from_secs(120),
    );
    wait(
        &cluster,
        Duration::from_secs(60),
        "validator 3 votes again",
        || metric(&cluster, 3, "shroud_votes_total") > votes,
    );

    cluster.assert_ordered_exactly_once(&accepted);
}
