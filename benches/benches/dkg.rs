//! Criterion benchmarks of the distributed key generation, run in process with every
//! validator's state machine reading the same committed transcript (honest committee, two
//! heights: dealings, then responses). Before timing it prints the DKG's message and byte
//! counts for n = 4, 16, 64 (what the committed transcript carries). Run:
//! `cargo bench -p shroud-benches --bench dkg`.

use criterion::{black_box, criterion_group, criterion_main, BenchmarkId, Criterion};
use rand_chacha::rand_core::SeedableRng;
use rand_chacha::ChaCha20Rng;
use shroud_crypto::dkg::{Dkg, DkgBody, DkgEvent, DkgMessage, DkgParams, DkgSecretKey};

fn committee(n: usize) -> (DkgParams, Vec<DkgSecretKey>) {
    let mut rng = ChaCha20Rng::seed_from_u64(n as u64);
    let keys: Vec<DkgSecretKey> = (0..n).map(|_| DkgSecretKey::random(&mut rng)).collect();
    let params = DkgParams::new(
        [7; 32],
        (n - 1) / 3 + 1,
        keys.iter().map(DkgSecretKey::public_key).collect(),
        100,
    )
    .expect("parameters");
    (params, keys)
}

fn copy(key: &DkgSecretKey) -> DkgSecretKey {
    DkgSecretKey::from_bytes(key.to_bytes().as_slice()).expect("key")
}

/// The committed transcript of an honest run: every dealing at height 1, every response at 2.
fn transcript(params: &DkgParams, keys: &[DkgSecretKey]) -> Vec<(u64, DkgMessage)> {
    let mut nodes: Vec<Dkg> = keys
        .iter()
        .enumerate()
        .map(|(me, key)| Dkg::new(params.clone(), me as u16, copy(key), 0).expect("member"))
        .collect();
    let mut out = Vec::new();
    for height in 1..=2 {
        let posts: Vec<DkgMessage> = nodes.iter_mut().flat_map(Dkg::pending_posts).collect();
        for message in &posts {
            for node in &mut nodes {
                node.on_message(height, message);
            }
            out.push((height, message.clone()));
        }
        for node in &mut nodes {
            node.on_height(height);
        }
    }
    assert!(nodes.iter().all(Dkg::is_complete));
    out
}

/// One validator reads the whole transcript and forms its share: its CPU cost of the DKG
/// (dealing excluded).
fn read(params: &DkgParams, key: &DkgSecretKey, transcript: &[(u64, DkgMessage)]) -> bool {
    let mut node = Dkg::new(params.clone(), 0, copy(key), 0).expect("member");
    let mut complete = false;
    let mut last = 0;
    for (height, message) in transcript {
        if *height != last && last != 0 {
            node.on_height(last);
        }
        last = *height;
        node.on_message(*height, message);
    }
    for event in node.on_height(last) {
        complete |= matches!(event, DkgEvent::Complete(_));
    }
    complete
}

fn sizes() {
    eprintln!("| n | t | messages | dealing bytes | response bytes | transcript bytes | per validator sent |");
    eprintln!("|---|---|---|---|---|---|---|");
    for n in [4usize, 16, 64] {
        let (params, keys) = committee(n);
        let transcript = transcript(&params, &keys);
        let bytes = |dealing: bool| -> Vec<usize> {
            transcript
                .iter()
                .filter(|(_, m)| matches!(m.body, DkgBody::Dealing(_)) == dealing)
                .map(|(_, m)| m.to_bytes().len())
                .collect()
        };
        let (dealings, responses) = (bytes(true), bytes(false));
        let total: usize = dealings.iter().chain(&responses).sum();
        // Each post travels with a 2-byte sender and a 96-byte signature, once to each peer
        // and once in a block.
        eprintln!(
            "| {n} | {} | {} | {} | {} | {} | {} |",
            params.threshold(),
            transcript.len(),
            dealings[0],
            responses[0],
            total,
            (dealings[0] + responses[0] + 2 * 98) * (n - 1),
        );
    }
}

fn dkg(c: &mut Criterion) {
    sizes();
    let mut group = c.benchmark_group("dkg");
    group.sample_size(10);
    for n in [4usize, 16] {
        let (params, keys) = committee(n);
        group.bench_with_input(
            BenchmarkId::new("committee_run", format!("n={n}")),
            &n,
            |b, _| b.iter(|| black_box(transcript(&params, &keys))),
        );
    }
    for n in [4usize, 16, 64] {
        let (params, keys) = committee(n);
        let transcript = transcript(&params, &keys);
        group.bench_with_input(
            BenchmarkId::new("validator_reads_transcript", format!("n={n}")),
            &n,
            |b, _| b.iter(|| assert!(read(&params, &keys[0], black_box(&transcript)))),
        );
        group.bench_with_input(BenchmarkId::new("deal", format!("n={n}")), &n, |b, _| {
            b.iter(|| black_box(shroud_crypto::dkg::Dealing::deal(&params, 0, 0, &keys[0])))
        });
    }
    group.finish();
}

criterion_group!(benches, dkg);
criterion_main!(benches);
