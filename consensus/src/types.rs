//! Protocol quantities and messages.
//!
//! Messages hold signatures and bitmaps as raw bytes: decoding (rkyv with validation) checks
//! only structure, and [`crate::verify`] turns a message into a [`crate::Verified`] one after
//! checking its signatures against the committee. Every signed or hashed object has a
//! canonical encoding (`*_encoding` functions: fixed-width big-endian fields), independent of
//! the wire format.

// rkyv's derive generates resolver types without `Debug` for tuple structs.
#![allow(missing_debug_implementations)]

use rkyv::{Archive, Deserialize, Serialize};
use sha2::{Digest as _, Sha256};

/// Length of a BLS signature.
pub const SIGNATURE_BYTES: usize = 96;

/// The largest view or height a message may carry. Verification refuses anything above, so
/// `next()` on a verified value never overflows (a view a second would take 10^11 years).
pub const VIEW_MAX: u64 = 1 << 62;

/// Domain tag of block digests.
const BLOCK_DIGEST_TAG: &[u8] = b"SHROUD-V1-BLOCK";

macro_rules! counter {
    ($(#[$doc:meta])* $name:ident($inner:ty)) => {
        $(#[$doc])*
        #[derive(
            Archive, Serialize, Deserialize, Clone, Copy, Debug, Default, PartialEq, Eq, Hash,
            PartialOrd, Ord,
        )]
#[rkyv(derive(Debug))]
        pub struct $name(pub $inner);

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                write!(f, "{}", self.0)
            }
        }
    };
}

counter!(
    /// A consensus view (round). One block per view at most from its leader.
    View(u64)
);
counter!(
    /// A block's height: its distance from genesis in the block tree.
    Height(u64)
);
counter!(
    /// A committee epoch. Every message carries it.
    Epoch(u64)
);
counter!(
    /// A validator's position in the committee.
    ValidatorIndex(u16)
);

impl View {
    /// The next view.
    pub fn next(self) -> View {
        View(self.0.checked_add(1).expect("views do not reach 2^64"))
    }
}

impl Height {
    /// The next height.
    pub fn next(self) -> Height {
        Height(self.0.checked_add(1).expect("heights do not reach 2^64"))
    }
}

impl ValidatorIndex {
    /// As a `usize` index into committee arrays.
    pub fn as_usize(self) -> usize {
        usize::from(self.0)
    }
}

/// SHA-256 digest of a block's canonical encoding.
#[derive(Archive, Serialize, Deserialize, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[rkyv(derive(Debug))]
pub struct BlockDigest(pub [u8; 32]);

impl std::fmt::Debug for BlockDigest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "BlockDigest(")?;
        for byte in &self.0[..6] {
            write!(f, "{byte:02x}")?;
        }
        write!(f, ")")
    }
}

/// The opaque content of a block: the node's encoding of batch digests with their
/// availability certificates. Consensus never looks inside; the node's
/// [`crate::PayloadSource`] makes and checks it.
#[derive(Archive, Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, Hash)]
#[rkyv(derive(Debug))]
pub struct Payload(pub Vec<u8>);

/// A certificate that 2f+1 validators voted for `block` in `view`.
#[derive(Archive, Serialize, Deserialize, Clone, Debug, PartialEq, Eq, Hash)]
#[rkyv(derive(Debug))]
pub struct QuorumCertificate {
    /// The epoch of the votes.
    pub epoch: Epoch,
    /// The view of the certified block.
    pub view: View,
    /// The certified block.
    pub block: BlockDigest,
    /// The certified block's height.
    pub height: Height,
    /// Signer bitmap (see `shroud_crypto::SignerBitmap`); empty for the genesis QC.
    pub signers: Vec<u8>,
    /// Aggregate signature of the signers' votes; zero for the genesis QC.
    pub signature: [u8; SIGNATURE_BYTES],
}

impl QuorumCertificate {
    /// The QC of the genesis block, which every node holds without signatures.
    pub fn genesis(epoch: Epoch) -> Self {
        Self {
            epoch,
            view: View(0),
            block: Block::genesis(epoch).digest(),
            height: Height(0),
            signers: Vec::new(),
            signature: [0; SIGNATURE_BYTES],
        }
    }

    /// Whether this is the genesis QC of `epoch`.
    pub fn is_genesis(&self, epoch: Epoch) -> bool {
        *self == Self::genesis(epoch)
    }
}

/// The canonical encoding that a vote signs (and a QC's aggregate signature covers).
pub fn vote_encoding(
    chain_id: u64,
    epoch: Epoch,
    view: View,
    block: &BlockDigest,
    height: Height,
) -> Vec<u8> {
    shroud_crypto::encodings::vote(chain_id, epoch.0, view.0, &block.0, height.0)
}

/// The canonical encoding that a timeout signs: the chain id, the epoch, the view that timed
/// out, and the view of the signer's highest QC.
pub fn timeout_encoding(chain_id: u64, epoch: Epoch, view: View, high_qc_view: View) -> Vec<u8> {
    let mut out = Vec::with_capacity(32);
    out.extend_from_slice(&chain_id.to_be_bytes());
    out.extend_from_slice(&epoch.0.to_be_bytes());
    out.extend_from_slice(&view.0.to_be_bytes());
    out.extend_from_slice(&high_qc_view.0.to_be_bytes());
    out
}

/// The canonical encoding that a proposal signature covers: chain id, epoch, view, block.
pub fn proposal_encoding(chain_id: u64, epoch: Epoch, view: View, block: &BlockDigest) -> Vec<u8> {
    let mut out = Vec::with_capacity(56);
    out.extend_from_slice(&chain_id.to_be_bytes());
    out.extend_from_slice(&epoch.0.to_be_bytes());
    out.extend_from_slice(&view.0.to_be_bytes());
    out.extend_from_slice(&block.0);
    out
}

/// A block: one per view from that view's leader, extending the block its QC certifies.
#[derive(Archive, Serialize, Deserialize, Clone, Debug, PartialEq, Eq, Hash)]
#[rkyv(derive(Debug))]
pub struct Block {
    /// The committee epoch.
    pub epoch: Epoch,
    /// The view it was proposed in.
    pub view: View,
    /// `justify.height + 1`.
    pub height: Height,
    /// The proposer (the leader of `view`).
    pub proposer: ValidatorIndex,
    /// The QC of the parent block; its `block` field is the parent's digest.
    pub justify: QuorumCertificate,
    /// The ordered content.
    pub payload: Payload,
}

impl Block {
    /// The genesis block of `epoch`: view 0, height 0, no parent.
    pub fn genesis(epoch: Epoch) -> Self {
        Self {
            epoch,
            view: View(0),
            height: Height(0),
            proposer: ValidatorIndex(0),
            justify: QuorumCertificate {
                epoch,
                view: View(0),
                block: BlockDigest([0; 32]),
                height: Height(0),
                signers: Vec::new(),
                signature: [0; SIGNATURE_BYTES],
            },
            payload: Payload::default(),
        }
    }

    /// The parent's digest.
    pub fn parent(&self) -> BlockDigest {
        self.justify.block
    }

    /// The canonical encoding: every field, fixed-width big-endian, lengths before variable
    /// parts.
    pub fn canonical_encoding(&self) -> Vec<u8> {
        let qc = &self.justify;
        let mut out = Vec::with_capacity(200 + qc.signers.len() + self.payload.0.len());
        out.extend_from_slice(&self.epoch.0.to_be_bytes());
        out.extend_from_slice(&self.view.0.to_be_bytes());
        out.extend_from_slice(&self.height.0.to_be_bytes());
        out.extend_from_slice(&self.proposer.0.to_be_bytes());
        // The QC's vote statement without the chain id (the digest is the block's, whatever
        // chain signs it; the QC's signature binds the chain).
        out.extend_from_slice(&qc.epoch.0.to_be_bytes());
        out.extend_from_slice(&qc.view.0.to_be_bytes());
        out.extend_from_slice(&qc.block.0);
        out.extend_from_slice(&qc.height.0.to_be_bytes());
        out.extend_from_slice(&(qc.signers.len() as u64).to_be_bytes());
        out.extend_from_slice(&qc.signers);
        out.extend_from_slice(&qc.signature);
        out.extend_from_slice(&(self.payload.0.len() as u64).to_be_bytes());
        out.extend_from_slice(&self.payload.0);
        out
    }

    /// `SHA-256(tag || canonical encoding)`.
    pub fn digest(&self) -> BlockDigest {
        let mut hasher = Sha256::new();
        hasher.update(BLOCK_DIGEST_TAG);
        hasher.update(self.canonical_encoding());
        BlockDigest(hasher.finalize().into())
    }
}

/// A leader's proposal: the block, its signature over the block digest, and the TC of the
/// previous view when the block's QC is not from the previous view.
#[derive(Archive, Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
#[rkyv(derive(Debug))]
pub struct Proposal {
    /// The proposed block.
    pub block: Block,
    /// Proof that the view before `block.view` timed out, when the leader extends an older QC.
    pub timeout_certificate: Option<TimeoutCertificate>,
    /// The proposer's signature over the block digest (domain `Proposal`).
    pub signature: [u8; SIGNATURE_BYTES],
}

/// A vote for a block, sent to the leader of the next view.
#[derive(Archive, Serialize, Deserialize, Clone, Debug, PartialEq, Eq, Hash)]
#[rkyv(derive(Debug))]
pub struct Vote {
    /// The epoch.
    pub epoch: Epoch,
    /// The block's view.
    pub view: View,
    /// The block voted for.
    pub block: BlockDigest,
    /// The block's height.
    pub height: Height,
    /// The voter.
    pub signer: ValidatorIndex,
    /// Signature over [`vote_encoding`] (domain `Vote`).
    pub signature: [u8; SIGNATURE_BYTES],
}

/// A validator's statement that `view` timed out, with its highest QC.
#[derive(Archive, Serialize, Deserialize, Clone, Debug, PartialEq, Eq, Hash)]
#[rkyv(derive(Debug))]
pub struct Timeout {
    /// The epoch.
    pub epoch: Epoch,
    /// The view that timed out.
    pub view: View,
    /// The signer's highest QC.
    pub high_qc: QuorumCertificate,
    /// The TC of the previous view, when the signer entered this view through it (DiemBFT v4's
    /// `last_round_tc`): lets a validator that missed the TC catch up from any timeout. Not
    /// covered by the timeout's signature; it carries its own.
    pub last_tc: Option<TimeoutCertificate>,
    /// The signer.
    pub signer: ValidatorIndex,
    /// Signature over [`timeout_encoding`] with `high_qc.view` (domain `Timeout`).
    pub signature: [u8; SIGNATURE_BYTES],
}

/// 2f+1 timeouts of one view, aggregated: the signers, each signer's highest-QC view (in
/// bitmap order), and one aggregate signature over the distinct messages.
#[derive(Archive, Serialize, Deserialize, Clone, Debug, PartialEq, Eq, Hash)]
#[rkyv(derive(Debug))]
pub struct TimeoutCertificate {
    /// The epoch.
    pub epoch: Epoch,
    /// The view that timed out.
    pub view: View,
    /// Signer bitmap.
    pub signers: Vec<u8>,
    /// Highest-QC view of each signer, in increasing signer order.
    pub high_qc_views: Vec<View>,
    /// Aggregate signature.
    pub signature: [u8; SIGNATURE_BYTES],
    /// The QC whose view is the highest of `high_qc_views`: proof that the claimed maximum
    /// exists (without it, a Byzantine signer could claim a QC nobody holds and make the next
    /// leader's proposal unvotable).
    pub high_qc: QuorumCertificate,
}

impl TimeoutCertificate {
    /// The highest of the signers' highest-QC views: a proposal after this TC must extend a
    /// QC at least this high.
    pub fn max_high_qc_view(&self) -> View {
        self.high_qc_views.iter().copied().max().unwrap_or(View(0))
    }
}

/// A request for a block and up to `count` of its ancestors.
#[derive(Archive, Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
#[rkyv(derive(Debug))]
pub struct BlockRequest {
    /// The newest block wanted.
    pub digest: BlockDigest,
    /// How many blocks back, at most.
    pub count: u16,
}

/// A request for committed blocks by height, served from the responder's store: up to `count`
/// blocks from height `from` on, in height order (state sync, for a validator too far behind
/// for [`BlockRequest`]).
#[derive(Archive, Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
#[rkyv(derive(Debug))]
pub struct SyncRequest {
    /// The first height wanted.
    pub from: Height,
    /// How many heights, at most.
    pub count: u16,
}

/// Committed blocks answering a [`SyncRequest`], in height order. The requester trusts none of
/// it: the blocks must hash-chain from its own committed head, and only those below a block
/// whose child carries a consecutive-view QC that verifies (the 2-chain commit rule) are
/// committed (see `Consensus`'s state sync).
#[derive(Archive, Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
#[rkyv(derive(Debug))]
pub struct SyncResponse {
    /// The blocks, from the requested height on (possibly fewer than asked for).
    pub blocks: Vec<Block>,
    /// The lowest committed height the responder still stores: a requester below it cannot
    /// catch up from this responder.
    pub kept_from: Height,
    /// The responder's committed head.
    pub committed: Height,
}

/// Every consensus message.
#[derive(Archive, Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
#[rkyv(derive(Debug))]
pub enum Message {
    /// A leader's block proposal.
    Proposal(Proposal),
    /// A vote, to the next leader.
    Vote(Vote),
    /// A timeout, to everyone.
    Timeout(Timeout),
    /// A timeout certificate, to everyone (helps laggards advance).
    TimeoutCertificate(TimeoutCertificate),
    /// A request for missing blocks.
    BlockRequest(BlockRequest),
    /// Blocks answering a request, newest first.
    BlockResponse(Vec<Block>),
    /// A request for committed blocks by height (state sync).
    SyncRequest(SyncRequest),
    /// Committed blocks answering a sync request.
    SyncResponse(SyncResponse),
}

impl Message {
    /// The message's epoch, when it carries one.
    pub fn epoch(&self) -> Option<Epoch> {
        match self {
            Message::Proposal(proposal) => Some(proposal.block.epoch),
            Message::Vote(vote) => Some(vote.epoch),
            Message::Timeout(timeout) => Some(timeout.epoch),
            Message::TimeoutCertificate(certificate) => Some(certificate.epoch),
            Message::BlockRequest(_)
            | Message::BlockResponse(_)
            | Message::SyncRequest(_)
            | Message::SyncResponse(_) => None,
        }
    }
}
