//! Process faults on a real network: every validator killed at once under load, and the
//! leader paused (SIGSTOP) for half a minute. Every process the test starts is killed by the
//! test (also when it fails).

mod common;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::{committed_height, metric, runtime, submit_until, Cluster, Submitted};

fn wait_until(cluster: &Cluster, within: Duration, what: &str, check: impl Fn() -> bool) {
    let deadline = Instant::now() + within;
    while !check() {
        assert!(
            Instant::now() < deadline,
            "{what} within {within:?}:\n{}",
            cluster.logs_tail()
        );
        std::thread::sleep(Duration::from_millis(200));
    }
}

fn height(cluster: &Cluster, index: usize) -> u64 {
    committed_height(cluster.http(index)).unwrap_or(0)
}

fn signal(cluster: &Cluster, index: usize, signal: &str) {
    let pid = cluster.children[index].as_ref().expect("running").id();
    let status = std::process::Command::new("kill")
        .args([signal, &pid.to_string()])
        .status()
        .expect("kill");
    assert!(status.success(), "kill {signal} {pid}");
}

#[test]
fn all_four_killed_at_once_under_load_resume_and_lose_nothing_accepted() {
    let mut cluster = Cluster::start(4);
    wait_until(&cluster, Duration::from_secs(60), "first commits", || {
        (0..4).all(|index| height(&cluster, index) >= 3)
    });
    let runtime = runtime();
    let stop = Arc::new(AtomicBool::new(false));
    let submitted = Arc::new(Mutex::new(Submitted::default()));
    let submitters: Vec<_> = (0..4)
        .map(|index| {
            runtime.spawn(submit_until(
                cluster.committee.clone(),
                index,
                100 + index as u64,
                stop.clone(),
                submitted.clone(),
            ))
        })
        .collect();
    wait_until(&cluster, Duration::from_secs(60), "load accepted", || {
        submitted.lock().expect("lock").accepted.len() >= 200
    });
    // SIGKILL to all four at once, mid-load: whatever each had accepted, batched or not,
    // certified or not, committed or not.
    let before = submitted.lock().expect("lock").accepted.len();
    for index in 0..4 {
        cluster.kill(index);
    }
    std::thread::sleep(Duration::from_secs(1));
    for index in 0..4 {
        cluster.launch(index);
    }
    let restarted = Instant::now();
    // The network resumes: new submissions are accepted and ordered.
    wait_until(
        &cluster,
        Duration::from_secs(120),
        "accepting again",
        || submitted.lock().expect("lock").accepted.len() >= before + 200,
    );
    eprintln!(
        "{before} accepted before the kill; accepting again {:.1} s after the restart",
        restarted.elapsed().as_secs_f64()
    );
    stop.store(true, Ordering::Relaxed);
    runtime.block_on(async {
        for submitter in submitters {
            submitter.await.expect("submitter");
        }
    });
    let Submitted { sent, accepted } = std::mem::take(&mut *submitted.lock().expect("lock"));
    cluster.wait_ordered(
        &[0, 1, 2, 3],
        accepted.len() as u64,
        Duration::from_secs(180),
    );
    // Settled: every validator holds the same count, and it no longer moves.
    let counts = || -> Vec<Option<u64>> { (0..4).map(|index| cluster.ordered(index)).collect() };
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let first = counts();
        std::thread::sleep(Duration::from_secs(2));
        if first == counts() && first.iter().all(|count| *count == first[0]) {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the order never settled: {first:?}"
        );
    }
    cluster.assert_ordered_once_within(&accepted, &sent);
    eprintln!(
        "{} sent, {} accepted, {} ordered",
        sent.len(),
        accepted.len(),
        cluster.ordered(0).unwrap_or(0)
    );
}

#[test]
fn a_leader_paused_for_30_s_is_routed_around_and_rejoins() {
    let cluster = Cluster::start(4);
    wait_until(&cluster, Duration::from_secs(60), "first commits", || {
        (0..4).all(|index| height(&cluster, index) >= 5)
    });
    // The leader of the current view, as validator 0 sees it.
    let leader = cluster
        .get(0, "/status")
        .and_then(|status| status.get("leader")?.as_u64())
        .expect("a leader") as usize;
    let others: Vec<usize> = (0..4).filter(|index| *index != leader).collect();
    let votes_before = metric(&cluster, leader, "shroud_votes_total");
    signal(&cluster, leader, "-STOP");
    let paused_at = height(&cluster, others[0]);
    let paused = Instant::now();
    // The others change views past it and go on committing through the pause.
    let mut mid = 0;
    while paused.elapsed() < Duration::from_secs(30) {
        std::thread::sleep(Duration::from_secs(1));
        if paused.elapsed() >= Duration::from_secs(15) && mid == 0 {
            mid = others
                .iter()
                .map(|&i| height(&cluster, i))
                .min()
                .unwrap_or(0);
        }
    }
    let during = others
        .iter()
        .map(|&i| height(&cluster, i))
        .min()
        .unwrap_or(0);
    signal(&cluster, leader, "-CONT");
    eprintln!(
        "validator {leader} paused 30 s: the others went from height {paused_at} to {mid} \
         (15 s) and {during} (30 s)"
    );
    assert!(
        mid > paused_at + 5 && during > mid + 5,
        "commits stalled while validator {leader} was paused: {paused_at} → {mid} → {during}"
    );
    // It catches up and votes again.
    let resumed = Instant::now();
    wait_until(
        &cluster,
        Duration::from_secs(60),
        "the paused validator rejoins",
        || {
            height(&cluster, leader) >= during
                && metric(&cluster, leader, "shroud_votes_total") > votes_before + 3.0
        },
    );
    eprintln!(
        "validator {leader} level and voting {:.1} s after SIGCONT",
        resumed.elapsed().as_secs_f64()
    );
}
