//! Criterion benchmarks of the committed-transaction index (`shroud_node::committed`): the
//! order rule's lookup of a fresh transaction and of a committed one in a full window, and
//! recording one merge interval of heights (the inserts and one merge of the sorted run). The
//! shape is the 55,000 tx/s run of BENCHMARKS.md: a 600-height window of 3,300 placements a
//! height, about 2 million entries. Run: `cargo bench -p shroud-benches --bench committed`.

use criterion::{black_box, criterion_group, criterion_main, BatchSize, BenchmarkId, Criterion};
use rand_chacha::rand_core::{RngCore, SeedableRng};
use rand_chacha::ChaCha20Rng;
use shroud_node::batch::{BatchDigest, TxId};
use shroud_node::committed::{CommittedIndex, MERGE_DIVISOR};
use shroud_node::store::{HeightRecord, OrderedTx};

const VALIDITY_HEIGHTS: u64 = 600;
const PER_HEIGHT: usize = 3_300;

fn record(rng: &mut ChaCha20Rng, height: u64) -> HeightRecord {
    HeightRecord {
        block_digest: [0; 32],
        first_position: height * PER_HEIGHT as u64,
        transactions: (0..PER_HEIGHT as u32)
            .map(|index| {
                let mut id = [0u8; 32];
                rng.fill_bytes(&mut id);
                OrderedTx {
                    tx_id: TxId(id),
                    batch: BatchDigest([1; 32]),
                    index,
                    expiry: Some(height + VALIDITY_HEIGHTS / 2),
                }
            })
            .collect(),
    }
}

/// An index whose window is full, the height it recorded last, and its last record.
fn full_index(rng: &mut ChaCha20Rng) -> (CommittedIndex, u64, HeightRecord) {
    let mut index = CommittedIndex::new(VALIDITY_HEIGHTS);
    let mut last = record(rng, 1);
    let last_height = VALIDITY_HEIGHTS + VALIDITY_HEIGHTS / MERGE_DIVISOR;
    for height in 1..=last_height {
        last = record(rng, height);
        index.record_height(&last, height);
    }
    (index, last_height, last)
}

fn committed(c: &mut Criterion) {
    let mut rng = ChaCha20Rng::seed_from_u64(7);
    let (index, height, last) = full_index(&mut rng);
    let entries = index.len();
    let mut group = c.benchmark_group("committed");
    // Many more ids than the caches hold, as the order rule meets them.
    let fresh: Vec<TxId> = (0..1 << 20)
        .map(|_| {
            let mut id = [0u8; 32];
            rng.fill_bytes(&mut id);
            TxId(id)
        })
        .collect();
    group.bench_with_input(
        BenchmarkId::new("is_live_fresh", format!("entries={entries}")),
        &fresh,
        |b, ids| {
            let mut at = 0;
            b.iter(|| {
                at = (at + 1) % ids.len();
                black_box(index.is_live(&ids[at], height + 1))
            })
        },
    );
    let placed: Vec<TxId> = last
        .transactions
        .iter()
        .map(|placed| placed.tx_id)
        .collect();
    group.bench_with_input(
        BenchmarkId::new("is_live_committed", format!("entries={entries}")),
        &placed,
        |b, ids| {
            let mut at = 0;
            b.iter(|| {
                at = (at + 1) % ids.len();
                black_box(index.is_live(&ids[at], height + 1))
            })
        },
    );
    // One merge interval of heights: its inserts and the merge that takes them in.
    let interval = VALIDITY_HEIGHTS / MERGE_DIVISOR;
    let records: Vec<HeightRecord> = (1..=interval)
        .map(|step| record(&mut rng, height + step))
        .collect();
    group.sample_size(10);
    group.bench_function(
        BenchmarkId::new(
            "record_interval",
            format!("heights={interval}/placements={PER_HEIGHT}"),
        ),
        |b| {
            b.iter_batched_ref(
                || full_index(&mut ChaCha20Rng::seed_from_u64(7)).0,
                |index| {
                    for (step, record) in (1..=interval).zip(&records) {
                        index.record_height(record, height + step);
                    }
                },
                BatchSize::PerIteration,
            )
        },
    );
    group.finish();
}

criterion_group!(benches, committed);
criterion_main!(benches);
