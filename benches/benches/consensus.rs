//! Criterion benchmarks of the consensus state machine: whole views of an in-memory cluster
//! (every message verified by its receiver, as real validators do: proposal with its QC, votes,
//! QC aggregation), and QC/TC verification alone. Run:
//! `cargo bench -p shroud-benches --bench consensus`.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use criterion::{black_box, criterion_group, criterion_main, BenchmarkId, Criterion};
use rand_chacha::rand_core::SeedableRng;
use rand_chacha::ChaCha20Rng;
use shroud_consensus::types::timeout_encoding;
use shroud_consensus::verify::{verify_qc, verify_tc};
use shroud_consensus::{
    verify_message, Committee, Config, Consensus, Epoch, Height, Input, Limits, Message, Output,
    Payload, PayloadSource, QuorumCertificate, TimeoutCertificate, ValidatorIndex, View,
};
use shroud_crypto::{CommitteeKeys, SecretKey, Signature, SignerBitmap, SigningDomain};

const EPOCH: Epoch = Epoch(1);
/// The chain every test committee signs for.
const CHAIN_ID: u64 = 7;

struct FixedPayload;

impl PayloadSource for FixedPayload {
    fn propose(&mut self, height: Height) -> Payload {
        Payload(height.0.to_be_bytes().to_vec())
    }

    fn verify(&mut self, _payload: &Payload) -> Result<(), String> {
        Ok(())
    }
}

fn committee(n: usize) -> (Vec<SecretKey>, Committee) {
    let mut rng = ChaCha20Rng::seed_from_u64(n as u64);
    let keys: Vec<SecretKey> = (0..n).map(|_| SecretKey::generate(&mut rng)).collect();
    let members: Vec<_> = keys
        .iter()
        .map(|key| (key.public_key(), key.prove_possession()))
        .collect();
    (
        keys.clone(),
        Committee::new(
            CHAIN_ID,
            EPOCH,
            CommitteeKeys::new(&members).expect("committee"),
        ),
    )
}

/// n validators exchanging messages through an instant, lossless in-memory queue.
struct Cluster {
    committee: Committee,
    nodes: Vec<Consensus<FixedPayload>>,
    queue: VecDeque<(usize, usize, Message)>,
    steps: u64,
}

impl Cluster {
    fn new(n: usize) -> Self {
        let (keys, committee) = committee(n);
        let nodes = (0..n)
            .map(|index| {
                Consensus::new(
                    Config::default(),
                    committee.clone(),
                    ValidatorIndex(index as u16),
                    keys[index].clone(),
                    FixedPayload,
                    None,
                )
                .expect("valid node")
            })
            .collect();
        let mut cluster = Self {
            committee,
            nodes,
            queue: VecDeque::new(),
            steps: 0,
        };
        for index in 0..n {
            let outputs = cluster.nodes[index].handle(0, Input::Start);
            cluster.route(index, outputs);
        }
        cluster
    }

    fn route(&mut self, from: usize, outputs: Vec<Output>) {
        for output in outputs {
            match output {
                Output::Send { to, message } => {
                    self.queue.push_back((from, to.as_usize(), message))
                }
                Output::Broadcast(message) => {
                    for to in (0..self.nodes.len()).filter(|to| *to != from) {
                        self.queue.push_back((from, to, message.clone()));
                    }
                }
                _ => {}
            }
        }
    }

    /// Runs until the committed height of node 0 grows by `blocks`.
    fn run_blocks(&mut self, blocks: u64) {
        let target = self.nodes[0].committed_head().0 .0 + blocks;
        while self.nodes[0].committed_head().0 .0 < target {
            let (from, to, message) = self.queue.pop_front().expect("the cluster makes progress");
            let verified = verify_message(&self.committee, &Limits::default(), message)
                .expect("honest messages verify");
            let outputs = self.nodes[to].handle(
                1,
                Input::Message {
                    from: ValidatorIndex(from as u16),
                    message: verified,
                },
            );
            self.steps += 1;
            self.route(to, outputs);
        }
    }
}

fn views(c: &mut Criterion) {
    let mut group = c.benchmark_group("consensus::commit_block");
    group.sample_size(10);
    group.measurement_time(Duration::from_secs(5));
    for n in [4usize, 100] {
        group.bench_function(BenchmarkId::from_parameter(format!("n={n}")), |b| {
            b.iter_custom(|iterations| {
                let mut cluster = Cluster::new(n);
                cluster.run_blocks(2);
                let steps_before = cluster.steps;
                let start = Instant::now();
                cluster.run_blocks(iterations);
                let elapsed = start.elapsed();
                let steps = cluster.steps - steps_before;
                eprintln!(
                    "n={n}: {steps} steps for {iterations} blocks, {:.0} steps/s",
                    steps as f64 / elapsed.as_secs_f64()
                );
                elapsed
            })
        });
    }
    group.finish();
}

fn certificate(keys: &[SecretKey], signers: usize, view: u64) -> QuorumCertificate {
    let block = shroud_consensus::BlockDigest([7; 32]);
    let encoding =
        shroud_consensus::types::vote_encoding(CHAIN_ID, EPOCH, View(view), &block, Height(5));
    let mut bitmap = SignerBitmap::new(keys.len()).expect("bitmap");
    let signatures: Vec<Signature> = keys
        .iter()
        .take(signers)
        .enumerate()
        .map(|(index, key)| {
            bitmap.insert(index).expect("in range");
            key.sign(SigningDomain::Vote, &encoding)
        })
        .collect();
    QuorumCertificate {
        epoch: EPOCH,
        view: View(view),
        block,
        height: Height(5),
        signers: bitmap.as_bytes().to_vec(),
        signature: Signature::aggregate(&signatures)
            .expect("quorum")
            .to_bytes(),
    }
}

/// A TC of view 9 whose signers report `distinct` different highest-QC views.
fn timeout_certificate(keys: &[SecretKey], signers: usize, distinct: u64) -> TimeoutCertificate {
    let mut bitmap = SignerBitmap::new(keys.len()).expect("bitmap");
    let mut views = Vec::new();
    let signatures: Vec<Signature> = keys
        .iter()
        .take(signers)
        .enumerate()
        .map(|(index, key)| {
            bitmap.insert(index).expect("in range");
            let high_qc_view = View(8 - (index as u64 % distinct));
            views.push(high_qc_view);
            key.sign(
                SigningDomain::Timeout,
                &timeout_encoding(CHAIN_ID, EPOCH, View(9), high_qc_view),
            )
        })
        .collect();
    TimeoutCertificate {
        epoch: EPOCH,
        view: View(9),
        signers: bitmap.as_bytes().to_vec(),
        high_qc_views: views,
        signature: Signature::aggregate(&signatures)
            .expect("quorum")
            .to_bytes(),
        high_qc: certificate(keys, signers, 8),
    }
}

fn certificates(c: &mut Criterion) {
    for n in [4usize, 100] {
        let (keys, committee) = committee(n);
        let quorum = committee.quorum();
        let qc = certificate(&keys, quorum, 5);
        c.bench_function(&format!("consensus::verify_qc/n={n}"), |b| {
            b.iter(|| verify_qc(&committee, black_box(&qc)).expect("valid"))
        });
        for distinct in [1u64, 4] {
            let tc = timeout_certificate(&keys, quorum, distinct);
            c.bench_function(
                &format!("consensus::verify_tc/n={n}/high_qc_views={distinct}"),
                |b| b.iter(|| verify_tc(&committee, black_box(&tc)).expect("valid")),
            );
        }
    }
}

criterion_group!(benches, certificates, views);
criterion_main!(benches);
