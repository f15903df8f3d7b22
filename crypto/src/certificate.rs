//! Certificates: a signer bitmap plus one aggregate BLS signature.
//!
//! A certificate states that the committee members named in its bitmap signed one message. It
//! is verified by summing the named members' public keys and doing one pairing check, which is
//! sound because every committee key carries a verified proof of possession
//! ([`CommitteeKeys::new`] refuses a key without one): nobody can choose a key that cancels
//! another member's.
//!
//! Bitmap layout: bit `i % 8` (least significant first) of byte `i / 8` is set when member `i`
//! signed; the length is exactly `ceil(n / 8)` bytes and bits past `n` are zero. This is the
//! layout the L1 contract reads.

use crate::bls::{signing_message, ProofOfPossession, PublicKey, Signature, SIGNATURE_BYTES};
use crate::domains::SigningDomain;
use crate::error::{BlsError, CertificateError};

/// The largest committee a bitmap can name; it keeps every loop over signers bounded.
pub const COMMITTEE_SIZE_MAX: usize = 1024;

/// The public keys of a committee, in member order, each with a verified proof of possession.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CommitteeKeys {
    keys: Vec<PublicKey>,
}

impl CommitteeKeys {
    /// Accepts a committee only if every member's proof of possession verifies and no key is
    /// listed twice.
    pub fn new(members: &[(PublicKey, ProofOfPossession)]) -> Result<Self, CertificateError> {
        check_committee_size(members.len())?;
        for (index, (key, proof)) in members.iter().enumerate() {
            proof
                .verify(key)
                .map_err(|_| CertificateError::BadProofOfPossession { index })?;
        }
        let keys: Vec<PublicKey> = members.iter().map(|(key, _)| *key).collect();
        let mut sorted: Vec<(Vec<u8>, usize)> = keys
            .iter()
            .enumerate()
            .map(|(index, key)| (key.to_bytes().to_vec(), index))
            .collect();
        sorted.sort();
        for pair in sorted.windows(2) {
            if pair[0].0 == pair[1].0 {
                let (first, second) = (pair[0].1.min(pair[1].1), pair[0].1.max(pair[1].1));
                return Err(CertificateError::DuplicateKey { first, second });
            }
        }
        Ok(Self { keys })
    }

    /// Number of members.
    pub fn len(&self) -> usize {
        self.keys.len()
    }

    /// Always false: a committee has at least one member.
    pub fn is_empty(&self) -> bool {
        self.keys.is_empty()
    }

    /// The key of member `index`.
    pub fn get(&self, index: usize) -> Option<&PublicKey> {
        self.keys.get(index)
    }

    /// All keys in member order.
    pub fn keys(&self) -> &[PublicKey] {
        &self.keys
    }
}

fn check_committee_size(size: usize) -> Result<(), CertificateError> {
    if size == 0 || size > COMMITTEE_SIZE_MAX {
        return Err(CertificateError::CommitteeSize {
            size,
            max: COMMITTEE_SIZE_MAX,
        });
    }
    Ok(())
}

/// Which committee members signed.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct SignerBitmap {
    committee_size: usize,
    bytes: Vec<u8>,
}

impl SignerBitmap {
    /// An empty bitmap for a committee of `committee_size` members.
    pub fn new(committee_size: usize) -> Result<Self, CertificateError> {
        check_committee_size(committee_size)?;
        Ok(Self {
            committee_size,
            bytes: vec![0; committee_size.div_ceil(8)],
        })
    }

    /// Decodes a bitmap for a committee of `committee_size`: exact length, no bits past the
    /// last member.
    pub fn from_bytes(committee_size: usize, bytes: &[u8]) -> Result<Self, CertificateError> {
        let mut bitmap = Self::new(committee_size)?;
        if bytes.len() != bitmap.bytes.len() {
            return Err(CertificateError::BitmapLength {
                committee_size,
                expected: bitmap.bytes.len(),
                got: bytes.len(),
            });
        }
        bitmap.bytes.copy_from_slice(bytes);
        if let Some(index) = (committee_size..bytes.len() * 8).find(|index| bitmap.bit(*index)) {
            return Err(CertificateError::UnknownSigner {
                index,
                committee_size,
            });
        }
        Ok(bitmap)
    }

    /// The encoding: `ceil(n / 8)` bytes.
    pub fn as_bytes(&self) -> &[u8] {
        &self.bytes
    }

    /// The committee size this bitmap is for.
    pub fn committee_size(&self) -> usize {
        self.committee_size
    }

    fn bit(&self, index: usize) -> bool {
        self.bytes[index / 8] & (1 << (index % 8)) != 0
    }

    /// Whether member `index` is marked.
    pub fn contains(&self, index: usize) -> bool {
        index < self.committee_size && self.bit(index)
    }

    /// Marks member `index`; returns false if it was already marked.
    pub fn insert(&mut self, index: usize) -> Result<bool, CertificateError> {
        if index >= self.committee_size {
            return Err(CertificateError::UnknownSigner {
                index,
                committee_size: self.committee_size,
            });
        }
        let fresh = !self.bit(index);
        self.bytes[index / 8] |= 1 << (index % 8);
        Ok(fresh)
    }

    /// Number of marked members.
    pub fn count(&self) -> usize {
        self.bytes
            .iter()
            .map(|byte| byte.count_ones() as usize)
            .sum()
    }

    /// Marked members in increasing order.
    pub fn iter(&self) -> impl Iterator<Item = usize> + '_ {
        (0..self.committee_size).filter(|index| self.bit(*index))
    }
}

/// A certificate: which members signed, and the sum of their signatures.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Certificate {
    signers: SignerBitmap,
    signature: Signature,
}

impl Certificate {
    /// Builds a certificate from its parts (no check; see [`Certificate::verify`]).
    pub fn from_parts(signers: SignerBitmap, signature: Signature) -> Self {
        Self { signers, signature }
    }

    /// Decodes `bitmap || signature` for a committee of `committee_size`.
    pub fn from_bytes(committee_size: usize, bytes: &[u8]) -> Result<Self, CertificateError> {
        let bitmap_len = committee_size.div_ceil(8);
        let expected = bitmap_len + SIGNATURE_BYTES;
        if bytes.len() != expected {
            return Err(CertificateError::Encoding(BlsError::WrongLength {
                expected,
                got: bytes.len(),
            }));
        }
        let signers = SignerBitmap::from_bytes(committee_size, &bytes[..bitmap_len])?;
        let signature = Signature::from_bytes(&bytes[bitmap_len..])?;
        Ok(Self { signers, signature })
    }

    /// The encoding `bitmap || compressed signature`.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(self.signers.bytes.len() + SIGNATURE_BYTES);
        out.extend_from_slice(&self.signers.bytes);
        out.extend_from_slice(&self.signature.to_bytes());
        out
    }

    /// The signers.
    pub fn signers(&self) -> &SignerBitmap {
        &self.signers
    }

    /// The aggregate signature.
    pub fn signature(&self) -> &Signature {
        &self.signature
    }

    /// Checks that at least `threshold` members of `committee` signed the object of kind
    /// `domain` with canonical `encoding`: one aggregate key, one pairing check.
    pub fn verify(
        &self,
        committee: &CommitteeKeys,
        threshold: usize,
        domain: SigningDomain,
        encoding: &[u8],
    ) -> Result<(), CertificateError> {
        if self.signers.committee_size != committee.len() {
            return Err(CertificateError::BitmapLength {
                committee_size: committee.len(),
                expected: committee.len().div_ceil(8),
                got: self.signers.bytes.len(),
            });
        }
        let signers = self.signers.count();
        if signers < threshold || signers == 0 {
            return Err(CertificateError::BelowThreshold { signers, threshold });
        }
        let aggregate_key = PublicKey::aggregate(self.signers.iter().map(|i| &committee.keys[i]))
            .map_err(|_| CertificateError::BadSignature)?;
        aggregate_key
            .verify_raw(&signing_message(domain, encoding), &self.signature)
            .map_err(|_| CertificateError::BadSignature)
    }
}

/// Collects members' signatures over one message into a certificate.
#[derive(Debug)]
pub struct CertificateBuilder {
    committee: CommitteeKeys,
    domain: SigningDomain,
    message: [u8; 32],
    signers: SignerBitmap,
    signatures: Vec<Signature>,
    /// Signatures added but not checked yet, by member index (checked together by
    /// [`CertificateBuilder::check_pending`]).
    pending: Vec<(usize, Signature)>,
}

impl CertificateBuilder {
    /// A builder for the object of kind `domain` with canonical `encoding`.
    pub fn new(
        committee: &CommitteeKeys,
        domain: SigningDomain,
        encoding: &[u8],
    ) -> Result<Self, CertificateError> {
        Ok(Self {
            committee: committee.clone(),
            domain,
            message: signing_message(domain, encoding),
            signers: SignerBitmap::new(committee.len())?,
            signatures: Vec::new(),
            pending: Vec::new(),
        })
    }

    /// The kind of object being certified.
    pub fn domain(&self) -> SigningDomain {
        self.domain
    }

    /// Checks member `index`'s signature and adds it. Returns `Ok(false)` for a member that
    /// already signed (the first signature stays).
    pub fn add(&mut self, index: usize, signature: &Signature) -> Result<bool, CertificateError> {
        let Some(key) = self.new_member(index)? else {
            return Ok(false);
        };
        key.verify_raw(&self.message, signature)
            .map_err(|_| CertificateError::BadSignature)?;
        self.accept(index, signature)
    }

    /// Adds the builder's owner's own signature, made just now with its own key, without a
    /// pairing check (a fault there would show as a certificate that every verifier refuses).
    /// Returns `Ok(false)` if `index` already signed.
    pub fn add_own(
        &mut self,
        index: usize,
        signature: &Signature,
    ) -> Result<bool, CertificateError> {
        if self.new_member(index)?.is_none() {
            return Ok(false);
        }
        self.accept(index, signature)
    }

    /// Member `index`'s key if it has neither signed nor a signature pending; an error for an
    /// index outside the committee.
    fn new_member(&self, index: usize) -> Result<Option<&PublicKey>, CertificateError> {
        let key = self
            .committee
            .get(index)
            .ok_or(CertificateError::UnknownSigner {
                index,
                committee_size: self.committee.len(),
            })?;
        let new = !self.signers.contains(index) && self.pending.iter().all(|(i, _)| *i != index);
        Ok(new.then_some(key))
    }

    /// Adds a checked (or own) signature of a member new to the bitmap.
    fn accept(&mut self, index: usize, signature: &Signature) -> Result<bool, CertificateError> {
        let new = self.signers.insert(index)?;
        if new {
            self.signatures.push(*signature);
        }
        Ok(new)
    }

    /// Keeps member `index`'s signature to be checked later, together with others, by
    /// [`CertificateBuilder::check_pending`]: one hash to the curve and one pairing check for
    /// all of them when they are all good. Returns `Ok(false)` for a member that already
    /// signed or is already pending (the first signature stays).
    pub fn add_pending(
        &mut self,
        index: usize,
        signature: &Signature,
    ) -> Result<bool, CertificateError> {
        if self.new_member(index)?.is_none() {
            return Ok(false);
        }
        self.pending.push((index, *signature));
        Ok(true)
    }

    /// Number of signatures waiting for [`CertificateBuilder::check_pending`].
    pub fn pending_count(&self) -> usize {
        self.pending.len()
    }

    /// Checks every pending signature and adds the good ones. All signers sign one message, so
    /// their aggregate is checked against their aggregate key first (keys with proofs of
    /// possession, as in a certificate's own check); only if that fails is each checked alone.
    /// Returns the members whose signature failed, in the order they were added.
    pub fn check_pending(&mut self) -> Vec<usize> {
        let pending = std::mem::take(&mut self.pending);
        if pending.is_empty() {
            return Vec::new();
        }
        let together = PublicKey::aggregate(
            pending
                .iter()
                .filter_map(|(index, _)| self.committee.get(*index)),
        )
        .and_then(|key| {
            let signature = Signature::aggregate(pending.iter().map(|(_, signature)| signature))?;
            key.verify_raw(&self.message, &signature)
        });
        let mut bad = Vec::new();
        for (index, signature) in pending {
            let good = together.is_ok()
                || self
                    .committee
                    .get(index)
                    .is_some_and(|key| key.verify_raw(&self.message, &signature).is_ok());
            if !good || self.accept(index, &signature).is_err() {
                bad.push(index);
            }
        }
        bad
    }

    /// Number of signatures collected and checked.
    pub fn count(&self) -> usize {
        self.signatures.len()
    }

    /// The certificate, once at least `threshold` members signed.
    pub fn finish(&self, threshold: usize) -> Result<Certificate, CertificateError> {
        if self.signatures.len() < threshold || self.signatures.is_empty() {
            return Err(CertificateError::BelowThreshold {
                signers: self.signatures.len(),
                threshold,
            });
        }
        let signature = Signature::aggregate(&self.signatures)?;
        Ok(Certificate {
            signers: self.signers.clone(),
            signature,
        })
    }
}
