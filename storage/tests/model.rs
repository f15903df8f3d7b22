//! Model-based tests of the stores: random sequences of writes, flushes and reboots, checked
//! against a model of what must be durable.

use std::collections::BTreeMap;

use proptest::prelude::*;
use shroud_consensus::{
    Block, BlockDigest, Epoch, Height, Payload, PersistOp, QuorumCertificate, SafetyState,
    ValidatorIndex, View,
};
use shroud_storage::{ConsensusStore, MemoryStore, SledStore};

const EPOCH: Epoch = Epoch(1);

#[derive(Clone, Debug)]
enum Step {
    Vote(u64),
    Block(u8),
    Commit(u8),
    Flush,
    Reboot,
}

/// Reopens a store just dropped. sled's background flusher thread can still hold the
/// folder's lock for a moment after the last handle is dropped (seen once in CI on a loaded
/// machine), which a real restart never meets; any other error fails the test.
fn reopen(path: &std::path::Path) -> SledStore {
    let mut attempts = 0;
    loop {
        match SledStore::open(path) {
            Ok(store) => return store,
            Err(error)
                if attempts < 100 && format!("{error:?}").contains("could not acquire lock") =>
            {
                attempts += 1;
                std::thread::sleep(std::time::Duration::from_millis(20));
            }
            Err(error) => panic!("reopen: {error:?}"),
        }
    }
}

fn step() -> impl Strategy<Value = Step> {
    prop_oneof![
        (1u64..50).prop_map(Step::Vote),
        (1u8..20).prop_map(Step::Block),
        (1u8..20).prop_map(Step::Commit),
        Just(Step::Flush),
        Just(Step::Reboot),
    ]
}

fn block(height: u8) -> Block {
    let mut justify = QuorumCertificate::genesis(EPOCH);
    justify.height = Height(u64::from(height) - 1);
    justify.view = View(u64::from(height) - 1);
    justify.block = BlockDigest([height; 32]);
    Block {
        epoch: EPOCH,
        view: View(u64::from(height)),
        height: Height(u64::from(height)),
        proposer: ValidatorIndex(u16::from(height) % 4),
        justify,
        payload: Payload(vec![height; usize::from(height)]),
    }
}

fn op(step: &Step, safety: &mut SafetyState) -> Option<PersistOp> {
    match step {
        Step::Vote(view) => {
            safety.record_voted(View(*view));
            Some(PersistOp::Safety(safety.clone()))
        }
        Step::Block(height) => Some(PersistOp::Block(block(*height))),
        Step::Commit(height) => Some(PersistOp::Committed {
            height: Height(u64::from(*height)),
            block: block(*height).digest(),
        }),
        Step::Flush | Step::Reboot => None,
    }
}

/// What must be durable: the state as of the last flush.
#[derive(Clone, Debug, Default, PartialEq)]
struct Model {
    safety: Option<SafetyState>,
    blocks: BTreeMap<u64, BlockDigest>,
    committed: BTreeMap<u64, BlockDigest>,
}

impl Model {
    fn apply(&mut self, op: &PersistOp) {
        match op {
            PersistOp::Safety(state) => self.safety = Some(state.clone()),
            PersistOp::Block(block) => {
                self.blocks.insert(block.height.0, block.digest());
            }
            PersistOp::Committed { height, block } => {
                self.committed.insert(height.0, *block);
            }
        }
    }

    fn of(store: &impl ConsensusStore) -> Model {
        let mut model = Model::default();
        if let Some(recovered) = store.recover().expect("recover") {
            model.safety = Some(recovered.safety);
            for block in recovered.blocks {
                model.blocks.insert(block.height.0, block.digest());
            }
            for (height, digest) in recovered.committed {
                model.committed.insert(height.0, digest);
            }
        }
        model
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(48))]

    /// The memory store keeps exactly what was flushed across a reboot.
    #[test]
    fn memory_store_matches_the_model(steps in proptest::collection::vec(step(), 1..40)) {
        let mut store = MemoryStore::new();
        let mut safety = SafetyState::genesis(EPOCH);
        let mut durable = Model::default();
        let mut staged = Vec::new();
        for step in &steps {
            if let Some(op) = op(step, &mut safety) {
                store.apply(&op).expect("apply");
                staged.push(op);
            }
            match step {
                Step::Flush => {
                    store.flush().expect("flush");
                    for op in staged.drain(..) {
                        durable.apply(&op);
                    }
                }
                Step::Reboot => {
                    store.crash();
                    staged.clear();
                    // The node restarts from what the store recovers.
                    safety = durable.safety.clone().unwrap_or_else(|| SafetyState::genesis(EPOCH));
                    let recovered = Model::of(&store);
                    let expected = if durable.safety.is_some() { durable.clone() } else { Model::default() };
                    prop_assert_eq!(recovered, expected);
                }
                _ => {}
            }
        }
    }

    /// Sled keeps at least everything flushed across a reboot (it may keep more: it also
    /// writes in the background), and the safety state never goes back past a flushed one.
    #[test]
    fn sled_store_keeps_what_was_flushed(steps in proptest::collection::vec(step(), 1..30)) {
        let dir = tempfile::tempdir().expect("temporary directory");
        let mut store = SledStore::open(dir.path()).expect("open");
        let mut safety = SafetyState::genesis(EPOCH);
        let mut durable = Model::default();
        let mut staged = Vec::new();
        for step in &steps {
            if let Some(op) = op(step, &mut safety) {
                store.apply(&op).expect("apply");
                staged.push(op);
            }
            match step {
                Step::Flush => {
                    store.flush().expect("flush");
                    for op in staged.drain(..) {
                        durable.apply(&op);
                    }
                }
                Step::Reboot => {
                    drop(store);
                    store = reopen(dir.path());
                    let recovered = Model::of(&store);
                    if let Some(flushed) = &durable.safety {
                        let got = recovered.safety.as_ref().expect("flushed safety state survives");
                        prop_assert!(got.last_voted_view >= flushed.last_voted_view);
                        for (height, digest) in &durable.blocks {
                            prop_assert_eq!(recovered.blocks.get(height), Some(digest));
                        }
                        for (height, digest) in &durable.committed {
                            prop_assert_eq!(recovered.committed.get(height), Some(digest));
                        }
                    }
                    safety = recovered.safety.unwrap_or_else(|| SafetyState::genesis(EPOCH));
                    // What survived is now the floor.
                    durable = Model::of(&store);
                    staged.clear();
                }
                _ => {}
            }
        }
    }
}

#[test]
fn corrupt_records_are_typed_errors() {
    let dir = tempfile::tempdir().expect("temporary directory");
    {
        let db = sled::open(dir.path()).expect("open raw sled");
        let tree = db.open_tree("safety").expect("tree");
        tree.insert(b"state", &b"not an rkyv record"[..])
            .expect("insert");
        db.flush().expect("flush");
    }
    // The raw handle above was just dropped: its flusher may hold the lock a moment longer.
    let store = reopen(dir.path());
    let error = store.recover().expect_err("garbage must not decode");
    assert!(
        error.to_string().contains("corrupt record in safety"),
        "{error}"
    );
}

#[test]
fn pruning_removes_old_blocks_and_keeps_the_rest_recoverable() {
    let dir = tempfile::tempdir().expect("temporary directory");
    let mut safety = SafetyState::genesis(EPOCH);
    safety.record_voted(View(20));
    {
        let mut store = SledStore::open(dir.path()).expect("open");
        store
            .apply(&PersistOp::Safety(safety.clone()))
            .expect("safety");
        for height in 1..=20u8 {
            store
                .apply(&PersistOp::Block(block(height)))
                .expect("block");
            store
                .apply(&PersistOp::Committed {
                    height: Height(u64::from(height)),
                    block: block(height).digest(),
                })
                .expect("commit");
        }
        let removed = store
            .pruner()
            .prune_below(Height(15))
            .expect("prune below 15");
        assert_eq!(removed, 2 * 14, "14 blocks and 14 committed digests go");
        store.flush().expect("flush");
    }
    let store = reopen(dir.path());
    let recovered = store.recover().expect("recover").expect("state");
    assert_eq!(recovered.safety, safety);
    let heights: Vec<u64> = recovered.blocks.iter().map(|b| b.height.0).collect();
    assert_eq!(heights, (15..=20).collect::<Vec<_>>());
    let committed: Vec<u64> = recovered.committed.iter().map(|(h, _)| h.0).collect();
    assert_eq!(committed, (15..=20).collect::<Vec<_>>());
    assert_eq!(
        store.pruner().prune_below(Height(15)).expect("again"),
        0,
        "pruning is idempotent"
    );
}

/// State sync reads committed blocks by height: the same answer from both stores, in height
/// order from the height asked for, at most `count`, cut by bytes (always at least one block),
/// with the lowest and highest committed heights kept; after pruning, `kept_from` moves up.
#[test]
fn committed_blocks_are_served_by_height_from_both_stores() {
    let dir = tempfile::tempdir().expect("temporary directory");
    let mut sled = SledStore::open(dir.path()).expect("open");
    let mut memory = MemoryStore::new();
    for height in 1..=20u8 {
        for op in [
            PersistOp::Block(block(height)),
            PersistOp::Committed {
                height: Height(u64::from(height)),
                block: block(height).digest(),
            },
        ] {
            sled.apply(&op).expect("sled write");
            memory.apply(&op).expect("memory write");
        }
    }
    // An uncommitted block is never served.
    sled.apply(&PersistOp::Block(block(21)))
        .expect("sled write");
    memory
        .apply(&PersistOp::Block(block(21)))
        .expect("memory write");
    sled.flush().expect("flush");
    memory.flush().expect("flush");
    let heights = |served: &shroud_storage::CommittedBlocks| -> Vec<u64> {
        served.blocks.iter().map(|block| block.height.0).collect()
    };
    for store in [&sled as &dyn ConsensusStore, &memory as &dyn ConsensusStore] {
        let served = store.committed_blocks(Height(5), 4, 1 << 20).expect("read");
        assert_eq!(heights(&served), vec![5, 6, 7, 8]);
        assert_eq!(
            (served.kept_from, served.committed),
            (Height(1), Height(20))
        );
        let tail = store
            .committed_blocks(Height(18), 100, 1 << 20)
            .expect("read");
        assert_eq!(heights(&tail), vec![18, 19, 20]);
        // Each block counts its payload plus a fixed 256 bytes: two fit in 600 bytes.
        let cut = store.committed_blocks(Height(1), 100, 600).expect("read");
        assert_eq!(heights(&cut), vec![1, 2]);
        let one = store.committed_blocks(Height(3), 100, 1).expect("read");
        assert_eq!(heights(&one), vec![3], "at least one block");
        let none = store
            .committed_blocks(Height(25), 10, 1 << 20)
            .expect("read");
        assert!(none.blocks.is_empty());
    }
    sled.pruner().prune_below(Height(10)).expect("prune");
    let pruned = sled.committed_blocks(Height(5), 4, 1 << 20).expect("read");
    assert_eq!(pruned.kept_from, Height(10));
    assert_eq!(heights(&pruned), vec![10, 11, 12, 13]);
}
