//! Certificates that a receipt carries as evidence, each checkable with the committee's keys
//! alone: a batch's availability certificate (f+1), a block's quorum certificate (2f+1), and
//! the committee's certificate of its epoch encryption key (2f+1).

use rkyv::{Archive, Deserialize, Serialize};
use shroud_crypto::{
    encodings, Certificate, CertificateError, CommitteeKeys, Signature, SignerBitmap, SigningDomain,
};

use crate::output::{output_quorum, ProofError};

/// Checks an aggregate signature of at least `threshold` committee members over `encoding`.
pub(crate) fn check(
    keys: &CommitteeKeys,
    threshold: usize,
    domain: SigningDomain,
    encoding: &[u8],
    signers: &[u8],
    signature: &[u8; 96],
) -> Result<(), ProofError> {
    let signers = SignerBitmap::from_bytes(keys.len(), signers)?;
    let signature = Signature::from_bytes(signature).map_err(CertificateError::from)?;
    Certificate::from_parts(signers, signature).verify(keys, threshold, domain, encoding)?;
    Ok(())
}

fn check_epoch(expected: u64, got: u64) -> Result<(), ProofError> {
    if expected == got {
        Ok(())
    } else {
        Err(ProofError::WrongEpoch { expected, got })
    }
}

/// Checks a certified object's chain id and epoch against the ones expected.
pub(crate) fn check_context(
    (chain_id, epoch): (u64, u64),
    (got_chain_id, got_epoch): (u64, u64),
) -> Result<(), ProofError> {
    if chain_id != got_chain_id {
        return Err(ProofError::WrongChain {
            expected: chain_id,
            got: got_chain_id,
        });
    }
    check_epoch(epoch, got_epoch)
}

/// Checks a certified object's chain id and epoch, then 2f+1 signatures of the committee over
/// its `encoding` in `domain`: what every 2f+1 certificate of a chain and epoch checks.
pub(crate) fn check_quorum(
    keys: &CommitteeKeys,
    expected: (u64, u64),
    got: (u64, u64),
    domain: SigningDomain,
    encoding: &[u8],
    signers: &[u8],
    signature: &[u8; 96],
) -> Result<(), ProofError> {
    check_context(expected, got)?;
    check(
        keys,
        output_quorum(keys.len()),
        domain,
        encoding,
        signers,
        signature,
    )
}

/// f+1 validators stored a batch (at least one honest one holds it).
#[derive(Archive, Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
#[rkyv(derive(Debug))]
pub struct AvailabilityCertificate {
    /// The epoch.
    pub epoch: u64,
    /// The last height at which the batch may be ordered.
    pub valid_through: u64,
    /// The batch digest.
    pub digest: [u8; 32],
    /// The batch's author.
    pub author: u16,
    /// Signer bitmap.
    pub signers: Vec<u8>,
    /// Aggregate signature over the batch-ack encoding.
    pub signature: [u8; 96],
}

impl AvailabilityCertificate {
    /// Checks f+1 signatures of the committee of chain `chain_id`.
    pub fn verify(
        &self,
        keys: &CommitteeKeys,
        chain_id: u64,
        epoch: u64,
    ) -> Result<(), ProofError> {
        check_epoch(epoch, self.epoch)?;
        let threshold = keys.len().saturating_sub(1) / 3 + 1;
        check(
            keys,
            threshold,
            SigningDomain::BatchAck,
            &encodings::batch_ack(chain_id, self.epoch, self.valid_through, &self.digest),
            &self.signers,
            &self.signature,
        )
    }
}

/// 2f+1 validators voted for a block.
#[derive(Archive, Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
#[rkyv(derive(Debug))]
pub struct BlockCertificate {
    /// The epoch.
    pub epoch: u64,
    /// The view the block was proposed in.
    pub view: u64,
    /// The block digest.
    pub block: [u8; 32],
    /// The block height.
    pub height: u64,
    /// Signer bitmap.
    pub signers: Vec<u8>,
    /// Aggregate signature over the vote encoding.
    pub signature: [u8; 96],
}

impl BlockCertificate {
    /// Checks 2f+1 votes of the committee of chain `chain_id`.
    pub fn verify(
        &self,
        keys: &CommitteeKeys,
        chain_id: u64,
        epoch: u64,
    ) -> Result<(), ProofError> {
        check_epoch(epoch, self.epoch)?;
        check(
            keys,
            output_quorum(keys.len()),
            SigningDomain::Vote,
            &encodings::vote(chain_id, self.epoch, self.view, &self.block, self.height),
            &self.signers,
            &self.signature,
        )
    }
}

/// 2f+1 validators vouch for the epoch's threshold key set.
#[derive(Archive, Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
#[rkyv(derive(Debug))]
pub struct EpochKeyCertificate {
    /// The chain.
    pub chain_id: u64,
    /// The epoch.
    pub epoch: u64,
    /// The key set (`PublicKeySet::to_bytes`).
    pub key_set: Vec<u8>,
    /// Signer bitmap.
    pub signers: Vec<u8>,
    /// Aggregate signature over the epoch-key encoding.
    pub signature: [u8; 96],
}

impl EpochKeyCertificate {
    /// Checks 2f+1 signatures of the committee for `chain_id` and `epoch`.
    pub fn verify(
        &self,
        keys: &CommitteeKeys,
        chain_id: u64,
        epoch: u64,
    ) -> Result<(), ProofError> {
        check_quorum(
            keys,
            (chain_id, epoch),
            (self.chain_id, self.epoch),
            SigningDomain::EpochKey,
            &encodings::epoch_key(self.chain_id, self.epoch, &self.key_set),
            &self.signers,
            &self.signature,
        )
    }
}
