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
//! - One leader per view. The leader of view `v` proposes a block extending the highest QC it
//!   knows; if that QC is not from `v - 1`, it attaches the TC of `v - 1`. Leaders follow
//!   reputation (DiemBFT v4 §5): after a 2-chain, the leader of `v` is picked among the
//!   validators whose votes are in the QCs of the last committed blocks, so one that is down
//!   stops costing a timeout every `n` views; after a timeout, round-robin (see
//!   [`leader_after`]).
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
//!   digest, so a responder cannot inject blocks. A request unanswered expires after
//!   `sync_timeout_ms` (never at a view change, which under load comes before the answer).
//! - **State sync.** A validator whose committed head is more than [`Limits::sync_gap`]
//!   heights below a verified QC stops fetching ancestors (peers keep only
//!   `committed_blocks_kept` of them in memory) and asks one peer at a time for committed
//!   blocks by height ([`SyncRequest`]), which peers serve from their stores
//!   ([`Output::ServeSync`]). Nothing in an answer is trusted: the blocks must hash-chain from
//!   this node's committed head, and a block `b` is taken as committed only when the answer
//!   also holds its child `c` with `c.view = b.view + 1` and `c`'s child, whose QC for `c` is
//!   then verified: that is the 2-chain rule's own evidence, so one signature check per answer
//!   proves every block below it. Blocks not yet proven wait (at most twice
//!   `sync_blocks_max`); a broken chain, a bad QC, or a request unanswered in
//!   `sync_timeout_ms` drops them and moves to the next peer. The driver paces it with
//!   [`Consensus::set_processed`], so the committed blocks handed over but not yet processed
//!   stay bounded. A peer that no longer keeps the heights needed says so
//!   ([`Output::SyncStranded`]).
//!
//! # Safety argument
//! *Unique certification.* Two QCs of one view certify one block: two quorums of `n - f`
//! intersect in at least `f + 1` validators, so in an honest one, which votes at most once per
//! view (`last_voted_view` is durable before the vote leaves, so this holds across restarts).
//!
//! *Lock.* Let an honest node commit `B` (view `v`) because `B` and its child `C` (view `v+1`)
//! are certified. At least `f + 1` honest validators voted for `C`; each first recorded `C`'s QC
//! of `B` (view `v`) as its highest QC and could not have timed out view `v+1` before voting in
//! it (a timeout raises `last_voted_view`).
//!
//! *Every later certified block extends `B`* (induction on its view `w > v+1`). A certified `D`
//! got an honest vote under `safe_to_vote`: either `D` extends the QC of view `w-1`, whose block
//! is `C` (`w-1 = v+1`, unique certification) or extends `B` by induction; or `D` follows a TC of
//! view `w-1` and extends a QC at least as high as every highest QC in it. That TC's `n - f`
//! signers include one of `C`'s honest voters, who timed out after voting for `C`, so with a
//! highest QC of view ≥ `v`. `D`'s QC therefore certifies a block of view `u` in `[v, w-1]`:
//! `B` itself (`u = v`), `C` (`u = v+1`), or by induction a block extending `B`.
//!
//! *Agreement.* If honest nodes commit `B` and `B'` at one height with views `v ≤ v'`:
//! `v' = v` gives `B = B'`; `v' = v+1` makes `B'` the certified block of view `v+1`, which is
//! `C` at the next height; `v' > v+1` makes `B'` extend `B`, at a greater height. So one
//! height has one committed block. The simulator's oracle checks this independently on every
//! run, and shows a fork once `f + 1` validators collude.

mod block_tree;
pub mod committee;
pub mod config;
pub mod error;
mod io;
pub mod leader;
pub mod safety;
mod state;
pub mod types;
pub mod verify;

pub use committee::Committee;
pub use config::{Config, ConfigError, Limits};
pub use error::ConsensusError;
pub use io::{Input, Output, PayloadSource, PersistOp, Recovered};
pub use leader::{leader_after, REPUTATION_WINDOW};
pub use safety::SafetyState;
pub use state::Consensus;
pub use types::{
    Block, BlockDigest, BlockRequest, Epoch, Height, Message, Payload, Proposal, QuorumCertificate,
    SyncRequest, SyncResponse, Timeout, TimeoutCertificate, ValidatorIndex, View, Vote,
};
pub use verify::{verify_message, verify_votes, Verified};
