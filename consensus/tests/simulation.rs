//! Consensus under the deterministic simulator: random seeds across committee sizes and fault
//! mixes, plus targeted scenarios. A failure prints its seed; replay one with
//! `SHROUD_SIM_SEED=<seed> cargo test -p shroud-consensus --test simulation`.

mod sim;

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha20Rng;
use sim::{Behaviour, Crash, NodeId, OneWay, Partition, Report, SimConfig, Simulation};

fn node(slot: usize) -> NodeId {
    NodeId { slot, twin: 0 }
}

fn check(report: &Report, config: &SimConfig) {
    if let Err(failure) = verdict(report, config) {
        panic!("{failure}");
    }
}

/// Why a run failed, if it did.
fn verdict(report: &Report, config: &SimConfig) -> Result<(), String> {
    if !report.violations.is_empty() {
        return Err(format!(
            "seed {} (n={}, faults {:?}, crashes {:?}): safety violations: {:?}",
            report.seed, config.n, config.byzantine, config.crashes, report.violations
        ));
    }
    if !report.live {
        return Err(format!(
            "seed {} (n={}, faults {:?}, crashes {:?}, partitions {}): not live within {} ms of healing: {}",
            report.seed,
            config.n,
            config.byzantine,
            config.crashes,
            config.partitions.len(),
            config.liveness_bound_ms,
            report.liveness_detail
        ));
    }
    Ok(())
}

/// A random fault mix within the bound f: crashes with restarts, partitions that heal, loss,
/// and Byzantine behaviours, all drawn from the seed.
fn random_config(seed: u64) -> SimConfig {
    let mut rng = ChaCha20Rng::seed_from_u64(seed ^ 0x5eed_5eed);
    let n = [4, 7, 10][(seed % 3) as usize];
    let f = (n - 1) / 3;
    let mut config = SimConfig::new(seed, n);
    config.loss = [0.0, 0.0, 0.02, 0.05][rng.gen_range(0..4)];
    // Every other seed paces its leaders (taken from the seed, so the draws below, and with
    // them every other seed's faults, stay as they were).
    config.proposal_interval_min_ms = [0, 40][((seed / 3) % 2) as usize];
    // One seed in four keeps few committed blocks in memory and makes its crashes outlast
    // them many times over, so the restarted node must catch up by state sync (also from the
    // seed, leaving the draws below as they were).
    let long_outages = (seed / 6) % 4 == 0;
    if long_outages {
        config.committed_blocks_kept = 16;
    }
    let mut slots: Vec<usize> = (0..n).collect();
    // Shuffle the slots deterministically and take the first `faults` as faulty.
    for i in (1..slots.len()).rev() {
        let j = rng.gen_range(0..=i);
        slots.swap(i, j);
    }
    let faults = rng.gen_range(0..=f);
    let behaviours = [
        Behaviour::Equivocator,
        Behaviour::ConflictingVoter,
        Behaviour::Withholder,
        Behaviour::EarlyRevealer,
        Behaviour::Twins,
    ];
    for slot in slots.iter().take(faults) {
        if rng.gen_bool(0.3) {
            let at_ms = rng.gen_range(500..4_000);
            let outage_ms = rng.gen_range(200..3_000);
            config.crashes.push(Crash {
                slot: *slot,
                at_ms,
                restart_ms: at_ms
                    + if long_outages {
                        8 * outage_ms
                    } else {
                        outage_ms
                    },
            });
        } else {
            config
                .byzantine
                .push((*slot, behaviours[rng.gen_range(0..behaviours.len())]));
        }
    }
    if rng.gen_bool(0.5) {
        let start_ms = rng.gen_range(300..3_000);
        let cut = rng.gen_range(1..n);
        let mut groups = vec![Vec::new(), Vec::new()];
        for (position, slot) in slots.iter().enumerate() {
            let side = usize::from(position >= cut);
            groups[side].push(node(*slot));
            // A Twins pair is split across the two sides, so each half sees one instance.
            let twins = config.behaviour_of(*slot) == Some(Behaviour::Twins);
            groups[if twins { 1 - side } else { side }].push(NodeId {
                slot: *slot,
                twin: 1,
            });
        }
        config.partitions.push(Partition {
            start_ms,
            end_ms: start_ms + rng.gen_range(500..4_000),
            groups,
        });
    }
    // Faults of the links and the nodes' pace, each in one seed of four (drawn last, so the
    // draws above stay as they were).
    if rng.gen_bool(0.25) {
        config.duplicate = 0.05;
    }
    if rng.gen_bool(0.25) {
        let from = rng.gen_range(0..n);
        let to = (from + rng.gen_range(1..n)) % n;
        let start_ms = rng.gen_range(300..3_000);
        config.one_way.push(OneWay {
            from,
            to,
            start_ms,
            end_ms: start_ms + rng.gen_range(500..4_000),
        });
    }
    if rng.gen_bool(0.25) {
        config
            .slow
            .push((rng.gen_range(0..n), rng.gen_range(50..200)));
    }
    config
}

/// The seeds to run: `SHROUD_SIM_SEED` alone, or `SHROUD_SIM_SEEDS` of them (210 by default)
/// from `SHROUD_SIM_SEED_OFFSET + 1` on, so that a long run can be split into shards.
fn seeds() -> Vec<u64> {
    if let Ok(value) = std::env::var("SHROUD_SIM_SEED") {
        return vec![value.parse().expect("SHROUD_SIM_SEED is a u64")];
    }
    let number = |name: &str, default: u64| -> u64 {
        std::env::var(name).map_or(default, |value| {
            value.parse().unwrap_or_else(|_| panic!("{name} is a u64"))
        })
    };
    let count = number("SHROUD_SIM_SEEDS", 210);
    let offset = number("SHROUD_SIM_SEED_OFFSET", 0);
    (offset + 1..=offset + count).collect()
}

#[test]
fn random_seeds_are_safe_and_live() {
    let mut by_size = [0usize; 3];
    let mut faults: std::collections::BTreeMap<String, usize> = Default::default();
    let mut failures = Vec::new();
    let seeds = seeds();
    for seed in &seeds {
        let seed = *seed;
        let config = random_config(seed);
        let report = Simulation::new(config.clone()).run();
        // Every seed runs; all failures are reported together.
        if let Err(failure) = verdict(&report, &config) {
            failures.push(failure);
        }
        by_size[(seed % 3) as usize] += 1;
        for (_, behaviour) in &config.byzantine {
            *faults.entry(format!("{behaviour:?}")).or_default() += 1;
        }
        *faults.entry("crash".into()).or_default() += config.crashes.len();
        if config.committed_blocks_kept < 100 {
            *faults.entry("long outage".into()).or_default() += config.crashes.len();
            *faults.entry("sync answers".into()).or_default() += report.sync_answers as usize;
        }
        *faults.entry("partition".into()).or_default() += config.partitions.len();
        *faults.entry("lossy links".into()).or_default() += usize::from(config.loss > 0.0);
        *faults.entry("duplication".into()).or_default() += usize::from(config.duplicate > 0.0);
        *faults.entry("one-way link".into()).or_default() += config.one_way.len();
        *faults.entry("slow node".into()).or_default() += config.slow.len();
        // A long run says how far it got, so that a shard stopped early still reports.
        let done = by_size.iter().sum::<usize>();
        if seeds.len() > 1_000 && done % 250 == 0 {
            eprintln!(
                "{done} of {} seeds run (through seed {seed}), {} failed",
                seeds.len(),
                failures.len()
            );
        }
    }
    eprintln!(
        "simulated seeds {}..={}: runs by committee size (4, 7, 10): {by_size:?}; faults: {faults:?}",
        seeds.first().copied().unwrap_or(0),
        seeds.last().copied().unwrap_or(0)
    );
    assert!(
        failures.is_empty(),
        "{} of {} seeds failed:\n{}",
        failures.len(),
        seeds.len(),
        failures.join("\n")
    );
}

#[test]
fn same_seed_gives_same_trace() {
    let config = random_config(42);
    let first = Simulation::new(config.clone()).run();
    let second = Simulation::new(config).run();
    assert_eq!(first.trace_hash, second.trace_hash);
    let other = Simulation::new(random_config(43)).run();
    assert_ne!(first.trace_hash, other.trace_hash);
}

#[test]
fn happy_path_commits_steadily() {
    let mut config = SimConfig::new(7, 4);
    config.target_commits_after_heal = 20;
    let report = Simulation::new(config.clone()).run();
    check(&report, &config);
    assert!(report.committed.values().all(|height| *height >= 20));
    assert_eq!(report.rejected, 0);
}

#[test]
fn each_byzantine_behaviour_at_the_bound() {
    for (seed, behaviour) in [
        (11, Behaviour::Equivocator),
        (12, Behaviour::ConflictingVoter),
        (13, Behaviour::Withholder),
        (14, Behaviour::EarlyRevealer),
        (15, Behaviour::Twins),
    ] {
        let mut config = SimConfig::new(seed, 7);
        config.byzantine = vec![(1, behaviour), (4, behaviour)];
        if behaviour == Behaviour::Twins {
            // Split each twin pair across a healing partition.
            let (left, right): (Vec<_>, Vec<_>) = (0..7).partition(|slot| slot % 2 == 0);
            let mut a: Vec<NodeId> = left.iter().map(|s| node(*s)).collect();
            let mut b: Vec<NodeId> = right.iter().map(|s| node(*s)).collect();
            a.extend([NodeId { slot: 1, twin: 1 }, NodeId { slot: 4, twin: 1 }]);
            b.retain(|id| id.slot != 1);
            b.push(node(1));
            a.retain(|id| *id != node(4));
            b.push(node(4));
            config.partitions.push(Partition {
                start_ms: 0,
                end_ms: 3_000,
                groups: vec![a, b],
            });
        }
        let report = Simulation::new(config.clone()).run();
        check(&report, &config);
        if behaviour == Behaviour::EarlyRevealer {
            assert!(report.early_share_notes > 0);
        }
    }
}

#[test]
fn crash_and_restart_keeps_voting_safe() {
    let mut config = SimConfig::new(21, 4);
    config.crashes = vec![Crash {
        slot: 2,
        at_ms: 700,
        restart_ms: 1_500,
    }];
    let report = Simulation::new(config.clone()).run();
    check(&report, &config);
}

/// A validator down for far longer than the blocks its peers keep in memory comes back by
/// state sync: it commits the missed heights from its peers' stores, proven by QCs, and takes
/// part again; the oracle checks its chain like any other.
#[test]
fn an_outage_longer_than_the_block_tree_catches_up_by_sync() {
    let mut config = SimConfig::new(31, 4);
    config.committed_blocks_kept = 16;
    config.crashes = vec![Crash {
        slot: 3,
        at_ms: 1_000,
        restart_ms: 40_000,
    }];
    config.target_commits_after_heal = 40;
    let report = Simulation::new(config.clone()).run();
    check(&report, &config);
    let heights = &report.committed;
    assert!(
        heights[&0] > 3 * config.committed_blocks_kept as u64 + 40,
        "the others moved far ahead during the outage: {heights:?}"
    );
    assert!(
        report.sync_answers > 0,
        "the restarted node caught up by state sync"
    );
    assert!(
        heights[&3] + 20 >= heights[&0],
        "the restarted node is with the others again: {heights:?}"
    );
}

/// With one validator of four down, leader reputation stops electing it: views no longer wait
/// for its timeout every fourth view, and commits keep at least half their all-up pace (in
/// virtual time: the simulator's clock, not the machine's).
#[test]
fn one_validator_down_costs_less_than_half_the_commit_rate() {
    let run = |down_ms: u64| {
        let mut config = SimConfig::new(41, 4);
        config.crashes = vec![Crash {
            slot: 3,
            at_ms: 20_000 - down_ms,
            restart_ms: 20_000,
        }];
        let report = Simulation::new(config.clone()).run();
        check(&report, &config);
        report.at_heal[&0]
    };
    let all_up = run(1);
    let one_down = run(19_000);
    eprintln!("heights in 20 s of virtual time: all up {all_up}, one down for 19 s {one_down}");
    assert!(
        2 * one_down >= all_up,
        "one down: {one_down} heights, all up: {all_up}"
    );
}

/// Beyond the fault bound (f + 1 = 2 twinned validators in a committee of 4), the adversary
/// can certify two chains; the oracle must see the fork. This shows the oracle can fail.
#[test]
fn oracle_reports_a_fork_beyond_the_fault_bound() {
    let mut found = false;
    for seed in 100..110 {
        let mut config = SimConfig::new(seed, 4);
        config.byzantine = vec![(0, Behaviour::Twins), (1, Behaviour::Twins)];
        config.partitions.push(Partition {
            start_ms: 0,
            end_ms: 20_000,
            groups: vec![
                vec![node(0), node(1), node(2)],
                vec![
                    NodeId { slot: 0, twin: 1 },
                    NodeId { slot: 1, twin: 1 },
                    node(3),
                ],
            ],
        });
        config.liveness_bound_ms = 5_000;
        let report = Simulation::new(config).run();
        if report
            .violations
            .iter()
            .any(|v| v.contains("two different blocks committed"))
        {
            found = true;
            break;
        }
    }
    assert!(found, "f+1 colluding twins never forked the honest nodes");
}
