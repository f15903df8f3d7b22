//! Retention: a background task that drops the records of heights far below the certified
//! head, so that what a validator keeps per height (on disk, and in sled's in-memory page
//! bookkeeping) is bounded under sustained traffic (ADR 0007), ordering entries included
//! (ADR 0008).
//!
//! A height becomes prunable once it is `retain_heights` below the certified height. Pruning
//! never touches what a validator's own progress depends on: the decryption stage works only
//! above the certified height, consensus keeps `committed_blocks_kept` committed blocks in
//! memory (a lagging peer can catch up only within that window; the node warns when
//! `retain_heights` is under twice it), and the ordering entries made at a pruned height
//! (committed transaction ids, committed batch digests, encapsulations), on which every
//! validator's order and duplicate outcomes depend, have all expired by then: a validator
//! starts only with `retain_heights > validity_heights`. Readers of a pruned height get an
//! explicit "pruned" answer, never a silent gap.

use metrics::{counter, gauge};
use shroud_consensus::Height;
use shroud_storage::BlockPruner;
use tokio::sync::watch;
use tracing::debug;

use super::NodeError;
use crate::store::NodeStore;

/// Heights pruned in one blocking step (the loop yields between steps).
const HEIGHTS_PER_STEP: u64 = 256;

/// Prunes as the final height advances, until its channel closes: the certified height, or,
/// with `ordering_only`, the processed height (such a validator makes no outputs, and its
/// records would otherwise grow for good).
pub async fn run(
    store: NodeStore,
    blocks: BlockPruner,
    retain_heights: u64,
    mut certified: watch::Receiver<u64>,
    ordering_only: bool,
) -> Result<(), NodeError> {
    loop {
        let head = *certified.borrow_and_update();
        let below = head.saturating_sub(retain_heights);
        let ceiling = ordering_only.then_some(head);
        loop {
            let store = store.clone();
            let blocks = blocks.clone();
            let (before, after) =
                tokio::task::spawn_blocking(move || step(&store, &blocks, below, ceiling))
                    .await
                    .map_err(|_| NodeError::Invariant("the pruning step does not panic"))??;
            if after >= below || after == before {
                break;
            }
        }
        if certified.changed().await.is_err() {
            return Ok(());
        }
    }
}

/// One bounded step: returns the kept-from height before and after. `ceiling` replaces the
/// certified height as the bound when given (ordering only).
fn step(
    store: &NodeStore,
    blocks: &BlockPruner,
    below: u64,
    ceiling: Option<u64>,
) -> Result<(u64, u64), NodeError> {
    let before = store.kept_from_height()?;
    if below <= before {
        return Ok((before, before));
    }
    let after = match ceiling {
        Some(ceiling) => store.prune_below_final(below, HEIGHTS_PER_STEP, ceiling)?,
        None => store.prune_below(below, HEIGHTS_PER_STEP)?,
    };
    let removed = blocks.prune_below(Height(after))?;
    counter!("shroud_storage_pruned_heights_total").increment(after - before);
    gauge!("shroud_storage_kept_from_height").set(after as f64);
    debug!(
        from = before,
        to = after,
        blocks = removed,
        "pruned heights"
    );
    Ok((before, after))
}
