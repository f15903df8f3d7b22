//! Committee handover: the outgoing committee vouches for the next epoch's keys.
//!
//! A light client (a rollup node, or the L1 contract) knows one committee. It learns the next
//! one only from a [`HandoverCertificate`]: 2f+1 members of the current committee signed, under
//! the `CommitteeHandover` domain, the next epoch's key digest together with the last output of
//! their own epoch. Naming that last output pins where the old epoch ends, so a client switches
//! committees exactly at the boundary and the output chain continues across it.
//!
//! The signers vouch for the keys' proofs of possession (honest members check them before
//! signing); a client that cannot check a proof of possession itself, such as the contract,
//! relies on that.

use sha2::{Digest as _, Sha256};
use shroud_crypto::{domains, CommitteeKeys, SigningDomain};

use crate::evidence::check_quorum;
use crate::output::ProofError;

/// What the outgoing committee signs.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CommitteeHandover {
    /// The chain.
    pub chain_id: u64,
    /// The outgoing epoch; the next one is `epoch + 1`.
    pub epoch: u64,
    /// The height of the outgoing epoch's last output.
    pub last_height: u64,
    /// That output's header digest.
    pub last_output: [u8; 32],
    /// The next committee's keys, each with a verified proof of possession.
    pub next_keys: CommitteeKeys,
}

impl CommitteeHandover {
    /// Bytes of [`Self::encoding`].
    pub const ENCODED_BYTES: usize = 4 * 8 + 2 * 32;

    /// The epoch that takes over, or `None` past `u64::MAX`.
    pub fn next_epoch(&self) -> Option<u64> {
        self.epoch.checked_add(1)
    }

    /// The canonical encoding, signed under `CommitteeHandover`: chain id, epoch, next epoch,
    /// last height (big-endian), last output digest, next keys digest.
    pub fn encoding(&self) -> Option<[u8; Self::ENCODED_BYTES]> {
        let mut out = [0u8; Self::ENCODED_BYTES];
        out[0..8].copy_from_slice(&self.chain_id.to_be_bytes());
        out[8..16].copy_from_slice(&self.epoch.to_be_bytes());
        out[16..24].copy_from_slice(&self.next_epoch()?.to_be_bytes());
        out[24..32].copy_from_slice(&self.last_height.to_be_bytes());
        out[32..64].copy_from_slice(&self.last_output);
        out[64..96].copy_from_slice(&keys_digest(&self.next_keys));
        Some(out)
    }
}

/// `SHA-256(COMMITTEE_KEYS || n as u16 || EIP-2537 key_0 || … || key_{n-1})`.
pub fn keys_digest(keys: &CommitteeKeys) -> [u8; 32] {
    let mut hasher = Sha256::new();
    hasher.update(domains::COMMITTEE_KEYS);
    // `CommitteeKeys` holds at most `COMMITTEE_SIZE_MAX` (1024) members.
    hasher.update((keys.len() as u16).to_be_bytes());
    for key in keys.keys() {
        hasher.update(key.to_eip2537());
    }
    hasher.finalize().into()
}

/// A handover signed by 2f+1 of the outgoing committee.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HandoverCertificate {
    /// What was signed.
    pub handover: CommitteeHandover,
    /// Signer bitmap over the outgoing committee (LSB first).
    pub signers: Vec<u8>,
    /// Aggregate signature.
    pub signature: [u8; 96],
}

impl HandoverCertificate {
    /// Checks the certificate against the outgoing committee of `chain_id`/`epoch`. On success
    /// the handover's `next_keys` are the committee of `epoch + 1`.
    pub fn verify(
        &self,
        keys: &CommitteeKeys,
        chain_id: u64,
        epoch: u64,
    ) -> Result<(), ProofError> {
        // An epoch of u64::MAX has no next epoch to hand over to.
        let encoding = self.handover.encoding().ok_or(ProofError::WrongEpoch {
            expected: epoch,
            got: self.handover.epoch,
        })?;
        check_quorum(
            keys,
            (chain_id, epoch),
            (self.handover.chain_id, self.handover.epoch),
            SigningDomain::CommitteeHandover,
            &encoding,
            &self.signers,
            &self.signature,
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use shroud_crypto::{CertificateBuilder, SecretKey};

    fn committee(seed: u8, n: usize) -> (Vec<SecretKey>, CommitteeKeys) {
        let secrets: Vec<SecretKey> = (0..n)
            .map(|i| {
                let mut seed_bytes = [7u8; 32];
                seed_bytes[0] = seed;
                seed_bytes[1] = i as u8;
                SecretKey::from_seed(&seed_bytes).expect("seed")
            })
            .collect();
        let members: Vec<_> = secrets
            .iter()
            .map(|s| (s.public_key(), s.prove_possession()))
            .collect();
        (secrets, CommitteeKeys::new(&members).expect("committee"))
    }

    fn certify(
        secrets: &[SecretKey],
        keys: &CommitteeKeys,
        handover: CommitteeHandover,
        signers: &[usize],
    ) -> HandoverCertificate {
        let encoding = handover.encoding().expect("epoch");
        let mut builder =
            CertificateBuilder::new(keys, SigningDomain::CommitteeHandover, &encoding)
                .expect("builder");
        for &i in signers {
            builder
                .add(
                    i,
                    &secrets[i].sign(SigningDomain::CommitteeHandover, &encoding),
                )
                .expect("add");
        }
        let certificate = builder.finish(signers.len()).expect("finish");
        HandoverCertificate {
            handover,
            signers: certificate.signers().as_bytes().to_vec(),
            signature: certificate.signature().to_bytes(),
        }
    }

    #[test]
    fn a_quorum_of_the_outgoing_committee_hands_over_and_nothing_else_does() {
        let (old_secrets, old_keys) = committee(1, 4);
        let (_, new_keys) = committee(2, 7);
        let handover = CommitteeHandover {
            chain_id: 9,
            epoch: 3,
            last_height: 120,
            last_output: [5; 32],
            next_keys: new_keys.clone(),
        };
        let good = certify(&old_secrets, &old_keys, handover.clone(), &[0, 1, 3]);
        good.verify(&old_keys, 9, 3)
            .expect("2f+1 of the outgoing committee");
        assert!(good.verify(&old_keys, 9, 4).is_err(), "wrong epoch");
        assert!(good.verify(&old_keys, 8, 3).is_err(), "wrong chain");
        assert!(
            good.verify(&new_keys, 9, 3).is_err(),
            "the incoming committee cannot hand over to itself"
        );
        let short = certify(&old_secrets, &old_keys, handover.clone(), &[0, 1]);
        assert!(short.verify(&old_keys, 9, 3).is_err(), "below 2f+1");
        let mut moved = good.clone();
        moved.handover.last_height += 1;
        assert!(moved.verify(&old_keys, 9, 3).is_err(), "another boundary");
        let mut swapped = good;
        swapped.handover.next_keys = old_keys.clone();
        assert!(swapped.verify(&old_keys, 9, 3).is_err(), "other keys");
        assert_ne!(keys_digest(&old_keys), keys_digest(&new_keys));
    }
}
