//! `shroud-consensus`: 2-chain HotStuff (the Jolteon / DiemBFT v4 family) as a sans-IO state
//! machine that orders batch digests and releases decryption shares only after commit.
//!
//! # Shape
//! [`Consensus::handle`] takes the time and one [`Input`] and returns [`Output`]s for the driver
//! (persist, send, broadcast, deadline, committed, release shares); [`Consensus::next_deadline`]
//! says when to wake it. No I/O, no clock, no threads: the node and the simulator drive it.
//! Messages reach it only as [`Verified`] values ([`verify::verify_message`]).
//!
//! # Protocol (Jolteon, Gelashvili et al. 2022, Algorithms 1–3)
//! - One leader per view, round-robin. The leader of view `v` proposes a block extending the
//!   highest QC it knows; if that QC is not from `v - 1`, it attaches the TC of `v - 1`.
//! - A validator votes for the proposal of its current view if [`SafetyState::safe_to_vote`]
//!   holds (the view is new; the block extends the QC of `v - 1`, or follows the TC of `v - 1`
//!   and extends a QC at least as high as every highest QC in it), and sends the vote to the
//!   leader of `v + 1`, who aggregates 2f+1 votes into the QC of `v` and proposes in `v + 1`.
//! - **Commit rule (2-chain):** when block `B` is certified and `B`'s own QC is from the view
//!   directly before `B`'s view, `B`'s parent and all its ancestors are committed.
//! - When a view's timer expires, a validator signs a timeout for `(epoch, view, view of its
//!   highest QC)` if [`SafetyState::safe_to_timeout`] holds, stops voting in that view, and
//!   broadcasts it; 2f+1 timeouts aggregate into a TC (one aggregate signature over the
//!   distinct messages) that moves everyone to `v + 1`. Timeouts are re-sent at every deadline
//!   of the same view; each consecutive timed-out view doubles the next timeout (bounded).
//! - Votes, timeouts and proposals are made durable before they are sent: the safety state is
//!   emitted as [`Output::Persist`] before the message in the same output batch, and the driver
//!   flushes before sending.
//! - [`Output::ReleaseDecryptionShares`] for a height follows [`Output::Committed`] for it, and
//!   is deferred to the next step when the block was first learned in the committing step.
//!
//! # Deviations from the paper
//! - The highest TC and the last proposed view are part of the durable safety state, so a
//!   restarted validator re-enters the right view and a restarted leader never proposes twice
//!   in one view.
//! - Validators broadcast a TC when they form one, so that laggards catch up without waiting
//!   for the next proposal.
//! - Missing blocks are fetched explicitly: a request names a digest from a verified QC (or a
//!   proposal's parent), and a response is accepted only along the hash chain from a requested
//!   digest, so a responder cannot inject blocks.
//!
//! # Safety argument
//! Two QCs of the same view certify the same block: any two quorums of `n - f` intersect in an
//! honest validator, which votes at most once per view (`last_voted_view` is durable before the
//! vote leaves). Suppose `B` (view `v`) is committed because `B` and its child `C` (view `v+1`)
//! are certified. Any certified block `D` of view `w > v+1` extends `B`: by induction on `w`,
//! `D`'s QC has view at least `v` ... the honest majority of `C`'s quorum holds a QC of view
//! ≥ `v` (they saw `B`'s QC in `C`), so a TC of any later view carries a highest-QC view ≥ `v`,
//! and `safe_to_vote` refuses blocks extending a QC below that; a block extending a QC of view
//! ≥ `v` extends `B` because the only certified block of view `v` is `B` and views at or above
//! `v+1` already extend it. Hence no two honest validators commit different blocks at one
//! height. The simulator's oracle checks this independently on every run.

mod block_tree;
pub mod committee;
pub mod config;
pub mod error;
mod io;
pub mod safety;
mod state;
pub mod types;
pub mod verify;

pub use committee::Committee;
pub use config::{Config, ConfigError, Limits};
pub use error::ConsensusError;
pub use io::{Input, Output, PayloadSource, PersistOp, Recovered};
pub use safety::SafetyState;
pub use state::Consensus;
pub use types::{
    Block, BlockDigest, BlockRequest, Epoch, Height, Message, Payload, Proposal, QuorumCertificate,
    Timeout, TimeoutCertificate, ValidatorIndex, View, Vote,
};
pub use verify::{verify_message, Verified};
