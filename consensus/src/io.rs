//! What goes into and comes out of the state machine.

use crate::safety::SafetyState;
use crate::types::{Block, BlockDigest, Height, Message, Payload, ValidatorIndex};
use crate::verify::Verified;

/// An event for the state machine.
// Inputs are handled one at a time and never stored in bulk, so the size of the message
// variant costs nothing worth a box.
#[allow(clippy::large_enum_variant)]
#[derive(Clone, Debug)]
pub enum Input {
    /// Begin (after construction, fresh or recovered): enter the first view.
    Start,
    /// The deadline from [`crate::Consensus::next_deadline`] passed (or any wake-up).
    Tick,
    /// A verified message from a peer.
    Message {
        /// The sender, as authenticated by the transport.
        from: ValidatorIndex,
        /// The message, with its signatures checked.
        message: Verified<Message>,
    },
}

/// A write to durable storage.
// Writes are consumed one by one by the driver; boxing the large variant would only add an
// allocation per write.
#[allow(clippy::large_enum_variant)]
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum PersistOp {
    /// The safety state (replaces the previous one).
    Safety(SafetyState),
    /// A block that extends the held tree.
    Block(Block),
    /// The block at `height` is committed.
    Committed {
        /// Its height.
        height: Height,
        /// Its digest.
        block: BlockDigest,
    },
}

/// An action for the driver, in order.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Output {
    /// Write to the store. Every `Persist` must be flushed before the driver performs a later
    /// `Send`, `Broadcast`, `Committed` or `ReleaseDecryptionShares` of the same batch (persist
    /// before you speak, and before anyone acts on a commit).
    Persist(PersistOp),
    /// Send to one validator (possibly this one: the driver hands such a message back as an
    /// input).
    Send {
        /// The recipient.
        to: ValidatorIndex,
        /// The message.
        message: Message,
    },
    /// Send to every other validator.
    Broadcast(Message),
    /// Wake the machine with [`Input::Tick`] at this time.
    Deadline {
        /// Milliseconds on the driver's clock.
        at_ms: u64,
    },
    /// The block at `height` is final.
    Committed {
        /// Its height.
        height: Height,
        /// The block.
        block: Block,
    },
    /// The order of `height` is final and this node may release its decryption shares for it.
    /// Emitted only after `Committed` for that height, and never in the step that first
    /// learned of the block.
    ReleaseDecryptionShares {
        /// The committed height.
        height: Height,
        /// The committed block.
        block: BlockDigest,
    },
    /// Answer a peer's state-sync request from the store: the committed blocks from `from`
    /// on, at most `count` (and what fits one frame), with the lowest committed height still
    /// stored and the committed head, as [`crate::Message::SyncResponse`]. The driver bounds
    /// what it answers per peer.
    ServeSync {
        /// The requester.
        to: ValidatorIndex,
        /// The first height wanted.
        from: Height,
        /// At most this many blocks.
        count: u16,
    },
    /// A peer keeps no committed block as old as this node needs to catch up: this node
    /// cannot catch up from it (an operator must restore it from a recent copy of a peer's
    /// stores, or the peer must keep more). Emitted once per peer and height needed.
    SyncStranded {
        /// The peer that answered.
        peer: ValidatorIndex,
        /// The first height this node needs.
        needed: Height,
        /// The lowest height the peer still keeps.
        kept_from: Height,
    },
    /// An invariant that only more than f faults can break was found broken; the node
    /// refused to act on it. Operators must be alerted.
    SafetyViolation {
        /// What was seen.
        detail: &'static str,
    },
}

/// State read back from the store after a restart.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Recovered {
    /// The last flushed safety state.
    pub safety: SafetyState,
    /// Stored blocks above (and near) the committed head.
    pub blocks: Vec<Block>,
    /// Committed heights and digests still stored (at least the head).
    pub committed: Vec<(Height, BlockDigest)>,
}

/// The node's side of block content: consensus orders payloads without reading them.
pub trait PayloadSource {
    /// The payload of a new block at `height` (batch digests with availability certificates).
    fn propose(&mut self, height: Height) -> Payload;

    /// Whether a proposed payload is acceptable: well formed, certificates valid. An `Err`
    /// explains the refusal; the node does not vote for the block.
    fn verify(&mut self, payload: &Payload) -> Result<(), String>;

    /// Whether [`Self::propose`] would return content now (without taking it). Used only to
    /// pace empty blocks (`Config::empty_block_delay_ms`); the default always says yes.
    fn has_payload(&self) -> bool {
        true
    }
}
