//! The blocks a validator holds: the committed chain's tail and the uncommitted tree above it.

use std::collections::BTreeMap;

use crate::types::{Block, BlockDigest, Epoch, Height};

/// Blocks by digest, with the committed head. Every stored block's parent is stored too (or
/// was pruned below the committed head), so commits always find their ancestors.
#[derive(Debug)]
pub struct BlockTree {
    blocks: BTreeMap<BlockDigest, Block>,
    committed: BTreeMap<Height, BlockDigest>,
    committed_head: (Height, BlockDigest),
    committed_kept: usize,
}

impl BlockTree {
    /// A tree holding the genesis block of `epoch`, committed.
    pub fn new(epoch: Epoch, committed_kept: usize) -> Self {
        let genesis = Block::genesis(epoch);
        let digest = genesis.digest();
        let mut blocks = BTreeMap::new();
        blocks.insert(digest, genesis);
        let mut committed = BTreeMap::new();
        committed.insert(Height(0), digest);
        Self {
            blocks,
            committed,
            committed_head: (Height(0), digest),
            committed_kept,
        }
    }

    /// The block with `digest`, if held.
    pub fn get(&self, digest: &BlockDigest) -> Option<&Block> {
        self.blocks.get(digest)
    }

    /// Whether the block is held.
    pub fn contains(&self, digest: &BlockDigest) -> bool {
        self.blocks.contains_key(digest)
    }

    /// The committed head: height and digest.
    pub fn committed_head(&self) -> (Height, BlockDigest) {
        self.committed_head
    }

    /// Adds a block whose parent is held. Returns false (and stores nothing) otherwise, or if the
    /// block is at or below the committed height (it can no longer matter).
    pub fn insert(&mut self, block: Block) -> bool {
        if block.height <= self.committed_head.0 || !self.blocks.contains_key(&block.parent()) {
            return false;
        }
        let parent_height = self.blocks[&block.parent()].height;
        assert_eq!(
            parent_height.next(),
            block.height,
            "verified blocks are one above their QC's height"
        );
        self.blocks.insert(block.digest(), block);
        true
    }

    /// Commits the held block `digest` and its uncommitted ancestors. Returns the newly
    /// committed blocks in height order, or `None` if the block is not held or conflicts with
    /// the committed chain (which the protocol rules out among honest nodes; it is reported to
    /// the caller as a broken invariant).
    pub fn commit(&mut self, digest: BlockDigest) -> Option<Vec<Block>> {
        let target = self.blocks.get(&digest)?;
        if target.height <= self.committed_head.0 {
            return (self.committed.get(&target.height) == Some(&digest)).then(Vec::new);
        }
        let mut chain = Vec::new();
        let mut cursor = digest;
        while cursor != self.committed_head.1 {
            let block = self.blocks.get(&cursor)?;
            if block.height <= self.committed_head.0 {
                return None;
            }
            chain.push(block.clone());
            cursor = block.parent();
        }
        chain.reverse();
        for block in &chain {
            self.committed.insert(block.height, block.digest());
        }
        let last = chain.last().expect("the target is above the head");
        self.committed_head = (last.height, last.digest());
        self.prune();
        Some(chain)
    }

    /// Up to `count` blocks ending at `digest`, newest first.
    pub fn ancestors(&self, digest: BlockDigest, count: usize) -> Vec<Block> {
        let mut out = Vec::new();
        let mut cursor = digest;
        while out.len() < count {
            let Some(block) = self.blocks.get(&cursor) else {
                break;
            };
            out.push(block.clone());
            if block.height == Height(0) {
                break;
            }
            cursor = block.parent();
        }
        out
    }

    /// Drops uncommitted blocks that no longer extend the committed head, and committed blocks
    /// beyond the number kept.
    fn prune(&mut self) {
        let (head_height, _) = self.committed_head;
        let committed = &self.committed;
        self.blocks.retain(|digest, block| {
            if block.height <= head_height {
                committed.get(&block.height) == Some(digest)
            } else {
                true
            }
        });
        // Uncommitted blocks whose ancestry does not reach the head are on dead forks.
        let dead: Vec<BlockDigest> = self
            .blocks
            .iter()
            .filter(|(_, block)| block.height > head_height)
            .filter(|(digest, _)| !self.extends_head(**digest))
            .map(|(digest, _)| *digest)
            .collect();
        for digest in dead {
            self.blocks.remove(&digest);
        }
        while self.committed.len() > self.committed_kept {
            let (height, digest) = self
                .committed
                .pop_first()
                .expect("more than committed_kept >= 1 entries");
            if height < head_height {
                self.blocks.remove(&digest);
            } else {
                self.committed.insert(height, digest);
                break;
            }
        }
    }

    fn extends_head(&self, digest: BlockDigest) -> bool {
        let (head_height, head_digest) = self.committed_head;
        let mut cursor = digest;
        loop {
            let Some(block) = self.blocks.get(&cursor) else {
                return false;
            };
            if block.height == head_height {
                return cursor == head_digest;
            }
            if block.height < head_height {
                return false;
            }
            cursor = block.parent();
        }
    }

    /// Rebuilds a tree from stored blocks and the committed head (after a restart).
    pub fn restore(
        epoch: Epoch,
        committed_kept: usize,
        mut blocks: Vec<Block>,
        committed: &[(Height, BlockDigest)],
    ) -> Self {
        let mut tree = Self::new(epoch, committed_kept);
        blocks.sort_by_key(|block| block.height);
        for block in blocks {
            let digest = block.digest();
            let parent_known = tree.blocks.contains_key(&block.parent());
            if parent_known || committed.iter().any(|(_, d)| *d == digest) {
                tree.blocks.insert(digest, block);
            }
        }
        for (height, digest) in committed {
            tree.committed.insert(*height, *digest);
            if *height > tree.committed_head.0 {
                tree.committed_head = (*height, *digest);
            }
        }
        tree
    }
}
