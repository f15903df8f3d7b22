//! `shroud-storage`: durable storage for Shroud behind a small trait, with a sled
//! implementation for validators and an in-memory one for the simulator.
//!
//! # Contract
//! [`ConsensusStore::apply`] stages a [`PersistOp`] from the consensus state machine;
//! [`ConsensusStore::flush`] makes every staged write durable (sled `flush`, an fsync). The
//! node calls `flush` before any message that depends on a staged write leaves it. After a
//! crash, [`ConsensusStore::recover`] returns exactly the state as of the last flush (the
//! in-memory store drops unflushed writes on [`MemoryStore::crash`] to model this).
//!
//! # Layout (sled)
//! - tree `safety`, key `state`: the [`SafetyState`] (rkyv).
//! - tree `blocks`, key `height (u64 BE) || digest`: a block (rkyv). Big-endian heights make a
//!   range scan run in height order.
//! - tree `committed`, key `height (u64 BE)`: the committed digest.
//!
//! Every value read back is decoded with rkyv's validated access (bytecheck), never the
//! unchecked calls; a record that fails validation is a [`StorageError::Corrupt`].

use std::collections::BTreeMap;
use std::path::Path;

use rkyv::rancor;
use rkyv::util::AlignedVec;
use shroud_consensus::{Block, BlockDigest, Height, PersistOp, Recovered, SafetyState};
use thiserror::Error;

/// A storage failure. Any of these is fatal for a validator: it must stop rather than carry on
/// with a store of unknown state.
#[derive(Debug, Error)]
pub enum StorageError {
    /// The backend failed.
    #[error("storage backend: {0}")]
    Backend(#[from] sled::Error),
    /// A record that does not decode.
    #[error("corrupt record in {tree}: {detail}")]
    Corrupt { tree: &'static str, detail: String },
    /// Encoding failed.
    #[error("encoding: {0}")]
    Encode(String),
}

/// Durable consensus state.
pub trait ConsensusStore {
    /// Stages a write.
    fn apply(&mut self, op: &PersistOp) -> Result<(), StorageError>;
    /// Makes every staged write durable.
    fn flush(&mut self) -> Result<(), StorageError>;
    /// The durable state, or `None` for an empty store.
    fn recover(&self) -> Result<Option<Recovered>, StorageError>;
    /// Committed blocks from height `from` on, in height order: at most `count`, and no more
    /// than about `bytes_max` of block content (at least one block when any is stored), with
    /// the lowest committed height still stored (state sync: [`shroud_consensus::Output::ServeSync`]).
    fn committed_blocks(
        &self,
        from: Height,
        count: usize,
        bytes_max: usize,
    ) -> Result<CommittedBlocks, StorageError>;
}

/// Committed blocks read for a peer's state sync.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct CommittedBlocks {
    /// The blocks, in height order from the height asked for.
    pub blocks: Vec<Block>,
    /// The lowest committed height stored (0 when none is).
    pub kept_from: Height,
    /// The highest committed height stored.
    pub committed: Height,
}

/// The size a block takes in a sync answer, roughly: its payload and a fixed part.
fn block_bytes(block: &Block) -> usize {
    block
        .payload
        .0
        .len()
        .saturating_add(block.justify.signers.len())
        .saturating_add(256)
}

/// The durable content, shared by both stores' recovery.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
struct Content {
    safety: Option<SafetyState>,
    blocks: BTreeMap<(Height, BlockDigest), Block>,
    committed: BTreeMap<Height, BlockDigest>,
}

impl Content {
    fn apply(&mut self, op: &PersistOp) {
        match op {
            PersistOp::Safety(state) => self.safety = Some(state.clone()),
            PersistOp::Block(block) => {
                self.blocks
                    .insert((block.height, block.digest()), block.clone());
            }
            PersistOp::Committed { height, block } => {
                self.committed.insert(*height, *block);
            }
        }
    }

    fn committed_blocks(&self, from: Height, count: usize, bytes_max: usize) -> CommittedBlocks {
        let mut out = CommittedBlocks {
            kept_from: self.committed.keys().next().copied().unwrap_or(Height(0)),
            committed: self
                .committed
                .keys()
                .next_back()
                .copied()
                .unwrap_or(Height(0)),
            blocks: Vec::new(),
        };
        let mut bytes = 0usize;
        for (height, digest) in self.committed.range(from..).take(count) {
            let Some(block) = self.blocks.get(&(*height, *digest)) else {
                break;
            };
            bytes = bytes.saturating_add(block_bytes(block));
            if bytes > bytes_max && !out.blocks.is_empty() {
                break;
            }
            out.blocks.push(block.clone());
        }
        out
    }

    /// `None` when no safety state was ever made durable: such a validator never voted, and
    /// starts from genesis.
    fn recovered(&self) -> Option<Recovered> {
        Some(Recovered {
            safety: self.safety.clone()?,
            blocks: self.blocks.values().cloned().collect(),
            committed: self
                .committed
                .iter()
                .map(|(height, digest)| (*height, *digest))
                .collect(),
        })
    }
}

/// An in-memory store that models a disk: writes are staged until [`ConsensusStore::flush`],
/// and [`MemoryStore::crash`] loses whatever was not flushed.
#[derive(Clone, Debug, Default)]
pub struct MemoryStore {
    durable: Content,
    staged: Vec<PersistOp>,
    flushes: u64,
}

impl MemoryStore {
    /// An empty store.
    pub fn new() -> Self {
        Self::default()
    }

    /// Drops every write not yet flushed, as a power cut would.
    pub fn crash(&mut self) {
        self.staged.clear();
    }

    /// Whether every write is durable.
    pub fn is_flushed(&self) -> bool {
        self.staged.is_empty()
    }

    /// The durable safety state (what a restart would see).
    pub fn durable_safety(&self) -> Option<&SafetyState> {
        self.durable.safety.as_ref()
    }

    /// Number of flushes so far.
    pub fn flush_count(&self) -> u64 {
        self.flushes
    }
}

impl ConsensusStore for MemoryStore {
    fn apply(&mut self, op: &PersistOp) -> Result<(), StorageError> {
        self.staged.push(op.clone());
        Ok(())
    }

    fn flush(&mut self) -> Result<(), StorageError> {
        for op in self.staged.drain(..) {
            self.durable.apply(&op);
        }
        self.flushes += 1;
        Ok(())
    }

    fn recover(&self) -> Result<Option<Recovered>, StorageError> {
        Ok(self.durable.recovered())
    }

    fn committed_blocks(
        &self,
        from: Height,
        count: usize,
        bytes_max: usize,
    ) -> Result<CommittedBlocks, StorageError> {
        Ok(self.durable.committed_blocks(from, count, bytes_max))
    }
}

/// The sled store of a validator.
#[derive(Debug)]
pub struct SledStore {
    db: sled::Db,
    safety: sled::Tree,
    blocks: sled::Tree,
    committed: sled::Tree,
}

const SAFETY_KEY: &[u8] = b"state";

fn encode<T>(value: &T) -> Result<AlignedVec, StorageError>
where
    T: for<'a> rkyv::Serialize<
        rkyv::api::high::HighSerializer<
            AlignedVec,
            rkyv::ser::allocator::ArenaHandle<'a>,
            rancor::Error,
        >,
    >,
{
    rkyv::to_bytes::<rancor::Error>(value).map_err(|error| StorageError::Encode(error.to_string()))
}

/// Validated decode of a stored record (copied into an aligned buffer first: sled's values
/// carry no alignment guarantee).
fn decode<T>(tree: &'static str, bytes: &[u8]) -> Result<T, StorageError>
where
    T: rkyv::Archive,
    T::Archived: for<'a> rkyv::bytecheck::CheckBytes<rkyv::api::high::HighValidator<'a, rancor::Error>>
        + rkyv::Deserialize<T, rkyv::api::high::HighDeserializer<rancor::Error>>,
{
    let mut aligned = AlignedVec::<16>::with_capacity(bytes.len());
    aligned.extend_from_slice(bytes);
    rkyv::from_bytes::<T, rancor::Error>(&aligned).map_err(|error| StorageError::Corrupt {
        tree,
        detail: error.to_string(),
    })
}

/// sled's page cache for the consensus store when none is given.
pub const CACHE_BYTES_DEFAULT: u64 = 4 << 20;

/// The height a `committed` entry's key names.
fn committed_height(key: &[u8]) -> Result<Height, StorageError> {
    let bytes: [u8; 8] = key.try_into().map_err(|_| StorageError::Corrupt {
        tree: "committed",
        detail: "key is not a height".into(),
    })?;
    Ok(Height(u64::from_be_bytes(bytes)))
}

/// The block digest a `committed` entry holds.
fn committed_digest(value: &[u8]) -> Result<BlockDigest, StorageError> {
    let bytes: [u8; 32] = value.try_into().map_err(|_| StorageError::Corrupt {
        tree: "committed",
        detail: "value is not a digest".into(),
    })?;
    Ok(BlockDigest(bytes))
}

fn block_key(height: Height, digest: &BlockDigest) -> [u8; 40] {
    let mut key = [0u8; 40];
    key[..8].copy_from_slice(&height.0.to_be_bytes());
    key[8..].copy_from_slice(&digest.0);
    key
}

impl SledStore {
    /// Opens (or creates) the store in `path` with the default page cache.
    pub fn open(path: &Path) -> Result<Self, StorageError> {
        Self::open_with_cache(path, CACHE_BYTES_DEFAULT)
    }

    /// Opens (or creates) the store in `path` with a page cache of `cache_bytes`.
    pub fn open_with_cache(path: &Path, cache_bytes: u64) -> Result<Self, StorageError> {
        // A bounded page cache keeps memory flat as the chain grows (sled's default is 1 GiB).
        let db = sled::Config::new()
            .path(path)
            .cache_capacity(cache_bytes)
            .open()?;
        Ok(Self {
            safety: db.open_tree("safety")?,
            blocks: db.open_tree("blocks")?,
            committed: db.open_tree("committed")?,
            db,
        })
    }
}

impl SledStore {
    /// A handle that prunes old blocks from this store, for a background task.
    pub fn pruner(&self) -> BlockPruner {
        BlockPruner {
            blocks: self.blocks.clone(),
            committed: self.committed.clone(),
        }
    }
}

/// Removes blocks and committed digests below a height from a [`SledStore`]. Consensus keeps
/// only a bounded window of committed blocks in memory and restarts from the committed head,
/// so blocks far below it are never read again; without pruning the store (and what a restart
/// scans) grows with the chain.
#[derive(Clone, Debug)]
pub struct BlockPruner {
    blocks: sled::Tree,
    committed: sled::Tree,
}

impl BlockPruner {
    /// Removes every block and committed digest at a height below `below`; returns how many
    /// records went. The caller keeps `below` well under the committed head (a restart needs
    /// the committed head's block and everything above it).
    pub fn prune_below(&self, below: Height) -> Result<u64, StorageError> {
        let end = below.0.to_be_bytes();
        let mut removed = 0;
        for tree in [&self.blocks, &self.committed] {
            for key in tree.range(..end.as_slice()).keys() {
                tree.remove(key?)?;
                removed += 1;
            }
        }
        Ok(removed)
    }
}

impl ConsensusStore for SledStore {
    fn apply(&mut self, op: &PersistOp) -> Result<(), StorageError> {
        match op {
            PersistOp::Safety(state) => {
                self.safety.insert(SAFETY_KEY, encode(state)?.as_slice())?;
            }
            PersistOp::Block(block) => {
                let key = block_key(block.height, &block.digest());
                self.blocks.insert(key, encode(block)?.as_slice())?;
            }
            PersistOp::Committed { height, block } => {
                self.committed.insert(height.0.to_be_bytes(), &block.0)?;
            }
        }
        Ok(())
    }

    fn flush(&mut self) -> Result<(), StorageError> {
        self.db.flush()?;
        Ok(())
    }

    fn recover(&self) -> Result<Option<Recovered>, StorageError> {
        let mut content = Content::default();
        if let Some(bytes) = self.safety.get(SAFETY_KEY)? {
            content.safety = Some(decode::<SafetyState>("safety", &bytes)?);
        }
        for entry in self.blocks.iter() {
            let (key, value) = entry?;
            let block = decode::<Block>("blocks", &value)?;
            if key.as_ref() != block_key(block.height, &block.digest()) {
                return Err(StorageError::Corrupt {
                    tree: "blocks",
                    detail: "key does not match the block".into(),
                });
            }
            content.blocks.insert((block.height, block.digest()), block);
        }
        for entry in self.committed.iter() {
            let (key, value) = entry?;
            content
                .committed
                .insert(committed_height(&key)?, committed_digest(&value)?);
        }
        Ok(content.recovered())
    }

    fn committed_blocks(
        &self,
        from: Height,
        count: usize,
        bytes_max: usize,
    ) -> Result<CommittedBlocks, StorageError> {
        let mut out = CommittedBlocks::default();
        if let Some((key, _)) = self.committed.first()? {
            out.kept_from = committed_height(&key)?;
        }
        if let Some((key, _)) = self.committed.last()? {
            out.committed = committed_height(&key)?;
        }
        let mut bytes = 0usize;
        let start = from.0.to_be_bytes();
        for entry in self.committed.range(start.as_slice()..).take(count) {
            let (key, value) = entry?;
            let height = committed_height(&key)?;
            let digest = committed_digest(&value)?;
            let Some(value) = self.blocks.get(block_key(height, &digest))? else {
                // Pruned between the two reads: what was read so far is the answer.
                break;
            };
            let block = decode::<Block>("blocks", &value)?;
            if block.height != height || block.digest() != digest {
                return Err(StorageError::Corrupt {
                    tree: "blocks",
                    detail: format!(
                        "the block stored for committed height {} is another",
                        height.0
                    ),
                });
            }
            bytes = bytes.saturating_add(block_bytes(&block));
            if bytes > bytes_max && !out.blocks.is_empty() {
                break;
            }
            out.blocks.push(block);
        }
        Ok(out)
    }
}
