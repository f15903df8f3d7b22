//! Distributed key generation: the committee forms its TDH2 key with no dealer.
//!
//! # Protocol
//! Joint-Feldman (Pedersen's DKG as analysed by Gennaro, Jarecki, Krawczyk and Rabin, GJKR99
//! §3) among the `n = 3f + 1` validators, threshold `t = f + 1`, with consensus as the
//! arbiter: every message below is signed by its sender (domain `SHROUD-V1-SIG-DKG`, bound to
//! the chain id and epoch), carried in a block, and read by this state machine in committed
//! order. Every validator therefore sees the same transcript and derives the same qualified set,
//! the same exclusions with the same reasons, and the same key.
//!
//! 1. **Dealing** (committed heights `from + 1 ..= from + W`). Dealer `i` picks `a_i(z)` of
//!    degree `t - 1` and posts a [`Dealing`]: Feldman commitments `A_ik = a_ik·g`, the constant
//!    term in G2 (`a_i0·g₂`), an ephemeral `R_i = ρ_i·g` with a Schnorr proof that the dealer
//!    knows `ρ_i` (bound to the session, round and dealer), and for every member `j` the share
//!    `a_i(j + 1)` encrypted under `ρ_i·E_j` (`E_j` the member's DKG key from the genesis file;
//!    the pad is a hash of that point and the context). Anyone checks the counts and
//!    `e(A_i0, g₂) = e(g, a_i0·g₂)` and the proof of `ρ_i`; a dealing that fails is *malformed*. Member `j` decrypts
//!    its share with `sk_j·R_i` and checks `s_ij·g = Σ_k A_ik (j+1)^k`. The phase closes when
//!    every eligible dealer's dealing is committed, or after `W` heights; a dealer with none is
//!    excluded for this round (*no dealing*).
//! 2. **Response** (the next `W` heights). Every member posts one [`DkgBody::Response`]: a
//!    [`Complaint`] for each dealer whose share to it failed, carrying `K = sk_j·R_i` with a
//!    Chaum–Pedersen proof that `log_g E_j = log_{R_i} K`. Every validator checks the proof,
//!    decrypts the share itself and checks it: a wrong share excludes the dealer (*bad share*),
//!    a right one refuses the complaint. GJKR's reveal step is not needed: the complaint
//!    carries what anyone needs to judge it, and the dealer need not be online. The phase
//!    closes when all `n` responses are committed, or after `W` heights.
//! 3. **Result.** `QUAL` is every dealer with an accepted dealing that was not excluded. The
//!    round succeeds if at least `n - f` members responded and `|QUAL| >= t` (so at least one
//!    honest dealer is in it): `x = Σ_{i∈QUAL} a_i0`, `h = Σ A_i0`, `x·g₂ = Σ a_i0·g₂`,
//!    `h_j = Σ_{i∈QUAL} Σ_k A_ik (j+1)^k`, and member `j`'s share `x_j = Σ_{i∈QUAL} s_ij`.
//!    [`crate::tdh2::PublicKeySet::new`] checks the result like any key set.
//!
//! # Failure rules
//! - A dealer that posts two different dealings in a round (*equivocated*), a malformed one,
//!   or a wrong share shown by a complaint is excluded, and because the signed transcript
//!   proves it, from every later round too. Reasons are [`Exclusion`]s, the same on every node.
//! - A round with too few responses or too few qualified dealers fails with a message that
//!   names whom it waited for ([`DkgEvent::RoundFailed`]); the next round starts at once, with
//!   the provably bad dealers excluded. If fewer dealers than the threshold remain eligible
//!   (more than `f` misbehaved), the DKG ends in a `failed` phase that says so. Nothing waits without a deadline measured in committed
//!   heights; if no height commits at all (fewer than `2f + 1` validators online), consensus is
//!   what stalls, and [`Dkg::status`] names the members the phase waits for.
//! - A duplicate of an accepted message, a message of another round and a late dealing are
//!   ignored ([`DkgEvent::Ignored`]); leaders may propose a message twice.
//!
//! # Safety argument
//! - Secrecy: `x` is the sum of the qualified constant terms; at least one qualified dealer is
//!   honest and its `a_i0` is known to nobody else, since at most `f = t - 1` shares of it reach
//!   Byzantine members and its encrypted shares are pads under `ρ_i·E_j` (CDH in G1). A
//!   complaint reveals `sk_j·R` for the accused dealer's `R` only, which opens only the share
//!   meant for the complainer: a dealer must prove it knows `ρ` for its own `R`, so it cannot
//!   post an honest dealer's `R` (or a multiple of it) and have honest members' complaints about
//!   it reveal the honest dealer's pads (the test
//!   `a_dealing_that_copies_another_dealers_ephemeral_point_is_malformed`). The adversary can bias the key
//!   by choosing its dealings after seeing honest ones (GJKR's point about Joint-Feldman);
//!   Gennaro, Jarecki, Krawczyk and Rabin (2007, "Secure applications of Pedersen's DKG")
//!   show that this does not weaken threshold schemes of the Diffie–Hellman kind such as TDH2.
//! - Agreement: the state machine is a pure function of the committed transcript and the
//!   committed heights; phases end at heights, never at wall-clock times.
//! - Correct shares: every honest member that responded in time holds a verified share from
//!   every qualified dealer (it complained about every other one, and its complaint excludes
//!   a dealer whose share is wrong). At least `n - f` responded, so at least `f + 1 = t` honest
//!   members hold correct shares: decryption works.
//! - Crash safety: a dealing's polynomial and ephemeral, and a complaint's nonce, are derived
//!   from the DKG secret key, the session digest, the round and the indices: a restarted
//!   validator re-derives the same bytes, so it never deals twice with different polynomials,
//!   and replaying the stored transcript restores its state.
//!
//! # Deviations from GJKR
//! Shares travel encrypted inside committed messages instead of over private channels, so
//! complaints are judged from the transcript alone (no reveal phase), and the Pedersen-VSS
//! first phase of GJKR's New-DKG is not run (Joint-Feldman, as the design allows).

mod message;
mod state;

pub use message::{
    Complaint, Dealing, DkgBody, DkgError, DkgMessage, DkgParams, DkgPublicKey, DkgSecretKey,
    DKG_MESSAGE_VERSION,
};
pub use state::{Dkg, DkgEvent, DkgOutput, DkgStatus, Exclusion};
