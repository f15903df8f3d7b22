//! Leader election: reputation from the committed chain (after DiemBFT v4 §5), round-robin
//! after a timeout. A pure function of the chain, so that every validator holding the block a
//! view extends names the same leader, and drivers and tests can compute it from their own
//! blocks.

use shroud_crypto::SignerBitmap;

use crate::committee::Committee;
use crate::types::{Block, BlockDigest, Height, ValidatorIndex, View};

/// Committed blocks whose QC signers count as active for leader reputation;
/// `Limits::committed_blocks_kept` must be at least this.
pub const REPUTATION_WINDOW: usize = 10;

/// The leader of `view` when it extends `extended`, the block certified in the view before;
/// `block` looks up `extended`'s ancestors.
///
/// If `extended` is itself certified by the QC of the view before it, the QC of `extended`
/// commits its parent `X`: the leader is then picked, by `view`, among the validators that
/// signed the QCs of the [`REPUTATION_WINDOW`] committed blocks ending at `X`, less the
/// proposers of the last `f` of them and less the leaders of the views those blocks skipped
/// (they timed out). Validators that are down sign no QC and are not picked, so views stop
/// waiting for their timeouts; one that comes back is picked again once its votes are in QCs
/// and its failed views have left the window. Otherwise (a view entered by a timeout), or when
/// no validator qualifies, the leader is round-robin. Every validator holding `extended` (and
/// the window below it) agrees; leaders do not bear on safety (an honest validator votes once
/// per view whoever proposes), only on liveness.
pub fn leader_after<'a, F>(
    committee: &Committee,
    view: View,
    extended: &'a Block,
    block: &F,
) -> ValidatorIndex
where
    F: Fn(&BlockDigest) -> Option<&'a Block>,
{
    elect(committee, view, extended, block, true)
}

/// [`leader_after`]; with `judge_failures`, the leaders of views that the chain in the window
/// skipped are passed over too, judged by this same rule without that step (the first view
/// after a block) or round-robin (the views after it, entered by timeouts).
fn elect<'a, F>(
    committee: &Committee,
    view: View,
    extended: &'a Block,
    block: &F,
    judge_failures: bool,
) -> ValidatorIndex
where
    F: Fn(&BlockDigest) -> Option<&'a Block>,
{
    let round_robin = committee.leader(view);
    if extended.view.next() != view
        || extended.height == Height(0)
        || extended.justify.view.next() != extended.view
    {
        return round_robin;
    }
    let size = committee.size();
    let exclude = committee.fault_bound().min(REPUTATION_WINDOW / 2);
    let mut active = std::collections::BTreeSet::new();
    let mut recent_authors = std::collections::BTreeSet::new();
    let mut failed = std::collections::BTreeSet::new();
    let mut cursor = block(&extended.parent());
    for walked in 0..REPUTATION_WINDOW {
        let Some(current) = cursor else {
            break;
        };
        if current.height == Height(0) {
            break;
        }
        if let Ok(signers) = SignerBitmap::from_bytes(size, &current.justify.signers) {
            active.extend(signers.iter());
        }
        if walked < exclude {
            recent_authors.insert(current.proposer.as_usize());
        }
        let parent = block(&current.parent());
        if let (true, Some(parent)) = (judge_failures, parent) {
            let skipped = (parent.view.0 + 1..current.view.0).take(size);
            for skipped_view in skipped {
                let leader = if skipped_view == parent.view.0 + 1 {
                    elect(committee, View(skipped_view), parent, block, false)
                } else {
                    committee.leader(View(skipped_view))
                };
                failed.insert(leader.as_usize());
            }
        }
        cursor = parent;
    }
    let eligible: Vec<usize> = active.difference(&recent_authors).copied().collect();
    let reliable: Vec<usize> = eligible
        .iter()
        .copied()
        .filter(|index| !failed.contains(index))
        .collect();
    let candidates = if reliable.is_empty() {
        eligible
    } else {
        reliable
    };
    if candidates.is_empty() {
        return round_robin;
    }
    let pick = (view.0 % candidates.len() as u64) as usize;
    ValidatorIndex(u16::try_from(candidates[pick]).unwrap_or(round_robin.0))
}
