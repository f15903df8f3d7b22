//! Verification: from a decoded message to a [`Verified`] one.
//!
//! Decoding checked structure only; here every signature, QC and TC is checked against the
//! committee. Only verified messages reach the state machine ([`crate::Input`] takes
//! `Verified<Message>`). Verification is pure and deterministic, so a driver may cache results
//! or batch the signature checks.

use std::collections::BTreeMap;
use std::ops::Deref;

use shroud_crypto::bls::verify_aggregate;
use shroud_crypto::{Certificate, PublicKey, Signature, SignerBitmap, SigningDomain};

use crate::committee::Committee;
use crate::config::Limits;
use crate::error::ConsensusError;
use crate::types::{
    proposal_encoding, timeout_encoding, vote_encoding, Epoch, Message, Proposal,
    QuorumCertificate, Timeout, TimeoutCertificate, ValidatorIndex, View, Vote, VIEW_MAX,
};

/// A value whose signatures were checked. Only this module makes one.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Verified<T>(T);

impl<T> Verified<T> {
    /// The checked value.
    pub fn into_inner(self) -> T {
        self.0
    }

    /// Marks a value this node made itself (its own signatures) as verified.
    pub(crate) fn own(value: T) -> Self {
        Self(value)
    }
}

impl<T> Deref for Verified<T> {
    type Target = T;

    fn deref(&self) -> &T {
        &self.0
    }
}

fn check_epoch(committee: &Committee, got: Epoch) -> Result<(), ConsensusError> {
    if got != committee.epoch() {
        return Err(ConsensusError::WrongEpoch {
            expected: committee.epoch(),
            got,
        });
    }
    Ok(())
}

/// Views and heights from peers are bounded so that arithmetic on them cannot overflow.
fn check_range(value: u64, what: &'static str) -> Result<(), ConsensusError> {
    if value > VIEW_MAX {
        return Err(ConsensusError::TooLarge {
            what,
            max: VIEW_MAX as usize,
            got: usize::try_from(value).unwrap_or(usize::MAX),
        });
    }
    Ok(())
}

fn member_key(committee: &Committee, index: ValidatorIndex) -> Result<&PublicKey, ConsensusError> {
    committee
        .keys()
        .get(index.as_usize())
        .ok_or(ConsensusError::UnknownValidator { index })
}

fn check_signature(
    key: &PublicKey,
    domain: SigningDomain,
    encoding: &[u8],
    signature: &[u8],
    kind: &'static str,
) -> Result<(), ConsensusError> {
    let signature = Signature::from_bytes(signature)
        .map_err(|source| ConsensusError::BadSignature { kind, source })?;
    key.verify(domain, encoding, &signature)
        .map_err(|source| ConsensusError::BadSignature { kind, source })
}

/// Checks a QC: the genesis QC of the epoch, or 2f+1 votes aggregated.
pub fn verify_qc(committee: &Committee, qc: &QuorumCertificate) -> Result<(), ConsensusError> {
    check_epoch(committee, qc.epoch)?;
    check_range(qc.view.0, "QC view")?;
    check_range(qc.height.0, "QC height")?;
    if qc.is_genesis(committee.epoch()) {
        return Ok(());
    }
    if qc.view == View(0) {
        return Err(ConsensusError::BadView {
            detail: "only the genesis QC has view 0",
        });
    }
    let kind = "quorum";
    let signers = SignerBitmap::from_bytes(committee.size(), &qc.signers)
        .map_err(|source| ConsensusError::BadCertificate { kind, source })?;
    let signature = Signature::from_bytes(&qc.signature)
        .map_err(|source| ConsensusError::BadSignature { kind, source })?;
    Certificate::from_parts(signers, signature)
        .verify(
            committee.keys(),
            committee.quorum(),
            SigningDomain::Vote,
            &vote_encoding(
                committee.chain_id(),
                qc.epoch,
                qc.view,
                &qc.block,
                qc.height,
            ),
        )
        .map_err(|source| ConsensusError::BadCertificate { kind, source })
}

/// Checks a TC: 2f+1 distinct signers, each signer's highest-QC view below the TC's view, and
/// one aggregate signature over the distinct (view, highest-QC view) messages.
pub fn verify_tc(committee: &Committee, tc: &TimeoutCertificate) -> Result<(), ConsensusError> {
    check_epoch(committee, tc.epoch)?;
    check_range(tc.view.0, "TC view")?;
    let kind = "timeout";
    let signers = SignerBitmap::from_bytes(committee.size(), &tc.signers)
        .map_err(|source| ConsensusError::BadCertificate { kind, source })?;
    if signers.count() != tc.high_qc_views.len() {
        return Err(ConsensusError::TimeoutViewsMismatch {
            views: tc.high_qc_views.len(),
            signers: signers.count(),
        });
    }
    if signers.count() < committee.quorum() {
        return Err(ConsensusError::BadCertificate {
            kind,
            source: shroud_crypto::CertificateError::BelowThreshold {
                signers: signers.count(),
                threshold: committee.quorum(),
            },
        });
    }
    if tc.high_qc_views.iter().any(|view| *view >= tc.view) {
        return Err(ConsensusError::BadView {
            detail: "a timeout's highest QC is not below its view",
        });
    }
    if tc.high_qc.view != tc.max_high_qc_view() {
        return Err(ConsensusError::BadView {
            detail: "a TC's QC is not its highest claimed QC",
        });
    }
    let mut groups: BTreeMap<View, Vec<&PublicKey>> = BTreeMap::new();
    for (index, high_qc_view) in signers.iter().zip(&tc.high_qc_views) {
        let key = committee
            .keys()
            .get(index)
            .expect("bitmap was decoded for this committee size");
        groups.entry(*high_qc_view).or_default().push(key);
    }
    let encodings: Vec<(PublicKey, Vec<u8>)> = groups
        .into_iter()
        .map(|(high_qc_view, keys)| {
            let key = PublicKey::aggregate(keys)
                .map_err(|source| ConsensusError::BadSignature { kind, source })?;
            Ok((
                key,
                timeout_encoding(committee.chain_id(), tc.epoch, tc.view, high_qc_view),
            ))
        })
        .collect::<Result<_, ConsensusError>>()?;
    let items: Vec<(PublicKey, &[u8])> = encodings
        .iter()
        .map(|(key, encoding)| (*key, encoding.as_slice()))
        .collect();
    let signature = Signature::from_bytes(&tc.signature)
        .map_err(|source| ConsensusError::BadSignature { kind, source })?;
    verify_aggregate(SigningDomain::Timeout, &items, &signature)
        .map_err(|source| ConsensusError::BadSignature { kind, source })?;
    verify_qc(committee, &tc.high_qc)
}

/// Checks a vote's signature.
pub fn verify_vote(committee: &Committee, vote: &Vote) -> Result<(), ConsensusError> {
    check_epoch(committee, vote.epoch)?;
    check_range(vote.view.0, "vote view")?;
    check_range(vote.height.0, "vote height")?;
    let key = member_key(committee, vote.signer)?;
    check_signature(
        key,
        SigningDomain::Vote,
        &vote_encoding(
            committee.chain_id(),
            vote.epoch,
            vote.view,
            &vote.block,
            vote.height,
        ),
        &vote.signature,
        "vote",
    )
}

/// Checks votes over one statement (same epoch, view, block and height, distinct signers) at
/// once: the sum of their signatures against the sum of their signers' keys, one pairing check
/// where one by one takes one each (a leader's quorum). Committee keys carry proofs of
/// possession, so the sum cannot be forged by a rogue key. If it fails, at least one vote is
/// bad: check them one by one with [`verify_message`] to find it.
///
/// A passing sum guarantees only that the sum is valid, not each summand, so the caller must
/// hand the state machine the whole set or none of it before a QC forms: a QC is then the sum
/// of a checked set and of votes checked alone, which verifies.
pub fn verify_votes(
    committee: &Committee,
    votes: Vec<Vote>,
) -> Result<Vec<Verified<Message>>, ConsensusError> {
    let kind = "vote";
    let Some(first) = votes.first() else {
        return Err(ConsensusError::BadSignature {
            kind,
            source: shroud_crypto::BlsError::EmptyAggregate,
        });
    };
    check_epoch(committee, first.epoch)?;
    check_range(first.view.0, "vote view")?;
    check_range(first.height.0, "vote height")?;
    let mut keys = Vec::with_capacity(votes.len());
    let mut signatures = Vec::with_capacity(votes.len());
    let mut signers = std::collections::BTreeSet::new();
    for vote in &votes {
        if (vote.epoch, vote.view, vote.block, vote.height)
            != (first.epoch, first.view, first.block, first.height)
        {
            return Err(ConsensusError::BadView {
                detail: "votes checked together sign different statements",
            });
        }
        if !signers.insert(vote.signer) {
            return Err(ConsensusError::BadView {
                detail: "votes checked together repeat a signer",
            });
        }
        keys.push(member_key(committee, vote.signer)?);
        signatures.push(
            Signature::from_bytes(&vote.signature)
                .map_err(|source| ConsensusError::BadSignature { kind, source })?,
        );
    }
    let key = PublicKey::aggregate(keys)
        .map_err(|source| ConsensusError::BadSignature { kind, source })?;
    let signature = Signature::aggregate(&signatures)
        .map_err(|source| ConsensusError::BadSignature { kind, source })?;
    key.verify(
        SigningDomain::Vote,
        &vote_encoding(
            committee.chain_id(),
            first.epoch,
            first.view,
            &first.block,
            first.height,
        ),
        &signature,
    )
    .map_err(|source| ConsensusError::BadSignature { kind, source })?;
    Ok(votes
        .into_iter()
        .map(|vote| Verified(Message::Vote(vote)))
        .collect())
}

/// Checks a timeout's signature and the QC it carries.
pub fn verify_timeout(committee: &Committee, timeout: &Timeout) -> Result<(), ConsensusError> {
    check_epoch(committee, timeout.epoch)?;
    check_range(timeout.view.0, "timeout view")?;
    if timeout.high_qc.view >= timeout.view {
        return Err(ConsensusError::BadView {
            detail: "a timeout's highest QC is not below its view",
        });
    }
    let key = member_key(committee, timeout.signer)?;
    check_signature(
        key,
        SigningDomain::Timeout,
        &timeout_encoding(
            committee.chain_id(),
            timeout.epoch,
            timeout.view,
            timeout.high_qc.view,
        ),
        &timeout.signature,
        "timeout",
    )?;
    if let Some(tc) = &timeout.last_tc {
        if tc.view >= timeout.view {
            return Err(ConsensusError::BadView {
                detail: "a timeout's last TC is not below its view",
            });
        }
        verify_tc(committee, tc)?;
    }
    verify_qc(committee, &timeout.high_qc)
}

/// Checks a proposal: sent by the view's leader, well-formed against its QC, signed, with a
/// valid QC and (if present) a valid TC of the previous view.
pub fn verify_proposal(
    committee: &Committee,
    limits: &Limits,
    proposal: &Proposal,
) -> Result<(), ConsensusError> {
    let block = &proposal.block;
    check_epoch(committee, block.epoch)?;
    check_range(block.view.0, "block view")?;
    check_range(block.height.0, "block height")?;
    check_range(block.justify.height.0, "QC height")?;
    if let Some(tc) = &proposal.timeout_certificate {
        check_range(tc.view.0, "TC view")?;
    }
    if block.payload.0.len() > limits.payload_bytes_max {
        return Err(ConsensusError::TooLarge {
            what: "payload",
            max: limits.payload_bytes_max,
            got: block.payload.0.len(),
        });
    }
    // Who leads the view depends on the chain the block extends (leader reputation): the
    // state machine checks it once it holds the parent. Here: a member signed it.
    if block.view <= block.justify.view {
        return Err(ConsensusError::BadView {
            detail: "a block's view is not above its QC's view",
        });
    }
    if block.height != block.justify.height.next() {
        return Err(ConsensusError::BadHeight {
            parent: block.justify.height,
            got: block.height,
        });
    }
    check_signature(
        member_key(committee, block.proposer)?,
        SigningDomain::Proposal,
        &proposal_encoding(
            committee.chain_id(),
            block.epoch,
            block.view,
            &block.digest(),
        ),
        &proposal.signature,
        "proposal",
    )?;
    verify_qc(committee, &block.justify)?;
    if let Some(tc) = &proposal.timeout_certificate {
        if tc.view.next() != block.view {
            return Err(ConsensusError::BadView {
                detail: "a proposal's TC is not of the previous view",
            });
        }
        verify_tc(committee, tc)?;
    }
    Ok(())
}

/// Checks any message. Block and sync requests and responses carry no signatures: a block
/// response is checked against the digests that certified QCs name when it is used, a sync
/// response along the hash chain from the committed head up to a QC that is checked then.
pub fn verify_message(
    committee: &Committee,
    limits: &Limits,
    message: Message,
) -> Result<Verified<Message>, ConsensusError> {
    match &message {
        Message::Proposal(proposal) => verify_proposal(committee, limits, proposal)?,
        Message::Vote(vote) => verify_vote(committee, vote)?,
        Message::Timeout(timeout) => verify_timeout(committee, timeout)?,
        Message::TimeoutCertificate(tc) => verify_tc(committee, tc)?,
        Message::BlockRequest(request) => {
            if usize::from(request.count) > limits.fetch_blocks_max {
                return Err(ConsensusError::TooLarge {
                    what: "block request",
                    max: limits.fetch_blocks_max,
                    got: usize::from(request.count),
                });
            }
        }
        Message::BlockResponse(blocks) => {
            if blocks.len() > limits.fetch_blocks_max {
                return Err(ConsensusError::TooLarge {
                    what: "block response",
                    max: limits.fetch_blocks_max,
                    got: blocks.len(),
                });
            }
            for block in blocks {
                check_epoch(committee, block.epoch)?;
            }
        }
        Message::SyncRequest(request) => {
            if usize::from(request.count) > limits.sync_blocks_max {
                return Err(ConsensusError::TooLarge {
                    what: "sync request",
                    max: limits.sync_blocks_max,
                    got: usize::from(request.count),
                });
            }
        }
        Message::SyncResponse(response) => {
            if response.blocks.len() > limits.sync_blocks_max {
                return Err(ConsensusError::TooLarge {
                    what: "sync response",
                    max: limits.sync_blocks_max,
                    got: response.blocks.len(),
                });
            }
            for block in &response.blocks {
                check_epoch(committee, block.epoch)?;
            }
        }
    }
    Ok(Verified(message))
}
