//! Batches of ciphertexts, acknowledgements, batch certificates, and the block payload that
//! lists certified batches.
//!
//! A validator packs accepted ciphertexts into a [`Batch`] and broadcasts it; a peer that has
//! stored it (durably) answers with a [`BatchAck`], a BLS signature over the batch digest under
//! the `BatchAck` domain. `f + 1` acknowledgements aggregate into a [`BatchCertificate`]: at
//! least one honest validator holds the data, so a block may order the batch by digest alone.

use rand_chacha::rand_core::SeedableRng as _;
use rkyv::{Archive, Deserialize, Serialize};
use sha2::{Digest as _, Sha256};
use shroud_consensus::{Committee, Payload};
use shroud_crypto::bls::{verify_batch, BatchItem};
use shroud_crypto::{
    Certificate, CertificateBuilder, CertificateError, PublicKey, SecretKey, Signature,
    SignerBitmap, SigningDomain,
};
use thiserror::Error;

/// Domain tag of batch digests.
const BATCH_DIGEST_TAG: &[u8] = b"SHROUD-V1-BATCH";
pub use shroud_proofs::TxId;

/// A batch digest.
#[derive(Archive, Serialize, Deserialize, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[rkyv(derive(Debug))]
pub struct BatchDigest(pub [u8; 32]);

impl std::fmt::Debug for BatchDigest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "BatchDigest(")?;
        for byte in &self.0[..6] {
            write!(f, "{byte:02x}")?;
        }
        write!(f, ")")
    }
}

/// Ciphertexts packed by one validator, in the order it accepted them.
#[derive(Archive, Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
#[rkyv(derive(Debug))]
pub struct Batch {
    /// The epoch.
    pub epoch: u64,
    /// The validator that made it.
    pub author: u16,
    /// The author's batch counter (makes equal contents at different times distinct).
    pub sequence: u64,
    /// The last height at which the batch may be ordered: the latest expiry among its
    /// transactions. A block at a later height (or one too far below it) skips the batch
    /// without fetching it, so validators need remember a committed batch only that long.
    pub valid_through: u64,
    /// Ciphertext wire bytes.
    pub transactions: Vec<Vec<u8>>,
}

impl Batch {
    /// `SHA-256(tag || epoch || author || sequence || valid_through || count ||
    /// (len || bytes)*)`.
    pub fn digest(&self) -> BatchDigest {
        let mut hasher = Sha256::new();
        hasher.update(BATCH_DIGEST_TAG);
        hasher.update(self.epoch.to_be_bytes());
        hasher.update(self.author.to_be_bytes());
        hasher.update(self.sequence.to_be_bytes());
        hasher.update(self.valid_through.to_be_bytes());
        hasher.update((self.transactions.len() as u64).to_be_bytes());
        for transaction in &self.transactions {
            hasher.update((transaction.len() as u64).to_be_bytes());
            hasher.update(transaction);
        }
        BatchDigest(hasher.finalize().into())
    }

    /// Total ciphertext bytes.
    pub fn size_bytes(&self) -> usize {
        self.transactions.iter().map(Vec::len).sum()
    }
}

/// What the order rule needs of a batch: each transaction's id and the expiry its label
/// names (none for bytes that are not a ciphertext), computed once per batch.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BatchSummary {
    /// Transaction ids, in batch order.
    pub ids: Vec<TxId>,
    /// Each transaction's `valid_through`, in batch order.
    pub valid_through: Vec<Option<u64>>,
}

impl BatchSummary {
    /// Summarises a batch.
    pub fn of(batch: &Batch) -> Self {
        Self::with_ids(
            batch,
            batch.transactions.iter().map(|t| TxId::of(t)).collect(),
        )
    }

    /// Summarises a batch whose transaction ids are known already (in batch order).
    pub fn with_ids(batch: &Batch, ids: Vec<TxId>) -> Self {
        debug_assert_eq!(
            ids.len(),
            batch.transactions.len(),
            "one id per transaction"
        );
        Self {
            ids,
            valid_through: batch
                .transactions
                .iter()
                .map(|t| shroud_crypto::tdh2::Label::peek(t).map(|label| label.valid_through))
                .collect(),
        }
    }
}

/// An own batch as the ingress stage cut it: the batch, its digest and its ids (each computed
/// once).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CutBatch {
    /// The batch.
    pub batch: Batch,
    /// Its digest.
    pub digest: BatchDigest,
    /// Its transactions' ids, in order.
    pub ids: Vec<TxId>,
}

/// What an acknowledgement and a batch certificate sign: the chain id, the epoch, the
/// batch's expiry and the digest.
pub fn ack_encoding(
    chain_id: u64,
    epoch: u64,
    valid_through: u64,
    digest: &BatchDigest,
) -> Vec<u8> {
    shroud_crypto::encodings::batch_ack(chain_id, epoch, valid_through, &digest.0)
}

/// A validator's signed statement that it durably stored a batch.
#[derive(Archive, Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
#[rkyv(derive(Debug))]
pub struct BatchAck {
    /// The epoch.
    pub epoch: u64,
    /// The stored batch's expiry ([`Batch::valid_through`]).
    pub valid_through: u64,
    /// The stored batch.
    pub digest: BatchDigest,
    /// The acknowledging validator.
    pub signer: u16,
    /// Signature over [`ack_encoding`] (domain `BatchAck`).
    pub signature: [u8; 96],
}

impl BatchAck {
    /// Signs an acknowledgement for chain `chain_id`. The caller must have flushed the batch
    /// to disk first.
    pub fn sign(
        chain_id: u64,
        batch: &Batch,
        digest: BatchDigest,
        signer: u16,
        key: &SecretKey,
    ) -> Self {
        let (epoch, valid_through) = (batch.epoch, batch.valid_through);
        debug_assert_eq!(batch.digest(), digest, "the digest is the batch's");
        let encoding = ack_encoding(chain_id, epoch, valid_through, &digest);
        let signature = key.sign(SigningDomain::BatchAck, &encoding);
        Self {
            epoch,
            valid_through,
            digest,
            signer,
            signature: signature.to_bytes(),
        }
    }
}

/// `f + 1` acknowledgements of one batch, aggregated.
#[derive(Archive, Serialize, Deserialize, Clone, Debug, PartialEq, Eq, Hash)]
#[rkyv(derive(Debug))]
pub struct BatchCertificate {
    /// The epoch.
    pub epoch: u64,
    /// The batch's expiry ([`Batch::valid_through`]), signed with the digest so that a block
    /// listing the batch past it is skipped without the payload.
    pub valid_through: u64,
    /// The certified batch.
    pub digest: BatchDigest,
    /// Who made the batch (whom to ask first for it).
    pub author: u16,
    /// Signer bitmap.
    pub signers: Vec<u8>,
    /// Aggregate signature.
    pub signature: [u8; 96],
}

/// Why a batch certificate or acknowledgement was refused.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum BatchError {
    /// Another epoch.
    #[error("batch for epoch {got}, expected {expected}")]
    WrongEpoch { expected: u64, got: u64 },
    /// A signer or author outside the committee.
    #[error("validator {0} is not in the committee")]
    UnknownValidator(u16),
    /// A bad signature or certificate.
    #[error("bad certificate: {0}")]
    Certificate(#[from] CertificateError),
    /// A payload that does not decode.
    #[error("bad payload: {0}")]
    Payload(String),
    /// A payload listing too many batches.
    #[error("payload lists {got} batches, at most {max}")]
    TooManyBatches { max: usize, got: usize },
    /// A DKG post that is not one (bad sender, size, encoding or signature).
    #[error("bad DKG post from {sender}: {reason}")]
    DkgPost { sender: u16, reason: String },
    /// A payload carrying too many DKG posts.
    #[error("payload carries {got} DKG posts, at most {max}")]
    TooManyDkgPosts { max: usize, got: usize },
}

/// DKG posts a block carries at most (a round has one dealing and one response per member;
/// a block may list each twice, when a proposal is repeated).
pub const DKG_POSTS_PER_BLOCK_MAX: usize = 512;
/// The largest DKG message accepted (a dealing of a committee of a few hundred members).
pub const DKG_MESSAGE_BYTES_MAX: usize = 64 * 1024;
/// DKG posts of one sender in one block at most (an honest member has at most two pending:
/// its dealing and its response; a node queues at most this many per sender).
pub const DKG_POSTS_PER_SENDER_MAX: usize = 4;
/// DKG message bytes in one block at most (an honest DKG of 64 members is about 210 KB in
/// all), so that a proposal stays far inside the frame limit whatever members post.
pub const DKG_BYTES_PER_BLOCK_MAX: usize = 512 * 1024;

/// A DKG message as a validator posts it: the sender's index, the message's canonical bytes
/// (`shroud_crypto::dkg::DkgMessage`), and the sender's signature over them (domain `Dkg`,
/// bound to the chain id and epoch). Blocks carry posts so that consensus orders the DKG's
/// transcript.
#[derive(Archive, Serialize, Deserialize, Clone, Debug, PartialEq, Eq, Hash)]
#[rkyv(derive(Debug))]
pub struct DkgPost {
    /// The sender's validator index.
    pub sender: u16,
    /// The message's canonical encoding.
    pub message: Vec<u8>,
    /// The sender's BLS signature.
    pub signature: [u8; 96],
}

impl DkgPost {
    /// Signs `message` (canonical bytes) as validator `sender`.
    pub fn sign(
        sender: u16,
        message: Vec<u8>,
        signer: &SecretKey,
        chain_id: u64,
        epoch: u64,
    ) -> Self {
        let encoding = shroud_crypto::encodings::dkg_message(chain_id, epoch, &message);
        let signature = signer.sign(SigningDomain::Dkg, &encoding).to_bytes();
        Self {
            sender,
            message,
            signature,
        }
    }

    /// Checks the post: a member's, within the size limit, a DKG message from that member
    /// (validated decode), signed by it for this chain and epoch. Returns the message.
    pub fn verify(
        &self,
        committee: &Committee,
        chain_id: u64,
    ) -> Result<shroud_crypto::dkg::DkgMessage, BatchError> {
        let bad = |reason: String| BatchError::DkgPost {
            sender: self.sender,
            reason,
        };
        let key = committee
            .keys()
            .get(usize::from(self.sender))
            .ok_or(BatchError::UnknownValidator(self.sender))?;
        if self.message.len() > DKG_MESSAGE_BYTES_MAX {
            return Err(bad(format!("{} bytes", self.message.len())));
        }
        let message = shroud_crypto::dkg::DkgMessage::from_bytes(&self.message, committee.size())
            .map_err(|error| bad(error.to_string()))?;
        if message.sender != self.sender {
            return Err(bad(format!("a message of validator {}", message.sender)));
        }
        let signature =
            Signature::from_bytes(&self.signature).map_err(|error| bad(error.to_string()))?;
        let encoding =
            shroud_crypto::encodings::dkg_message(chain_id, committee.epoch().0, &self.message);
        key.verify(SigningDomain::Dkg, &encoding, &signature)
            .map_err(|error| bad(error.to_string()))?;
        Ok(message)
    }

    /// A digest of the whole post, to tell posts apart.
    pub fn digest(&self) -> [u8; 32] {
        let mut hasher = Sha256::new();
        hasher.update(b"SHROUD-V1-LOCAL-DKG-POST");
        hasher.update(self.sender.to_be_bytes());
        hasher.update((self.message.len() as u64).to_be_bytes());
        hasher.update(&self.message);
        hasher.update(self.signature);
        hasher.finalize().into()
    }
}

/// `f + 1`: acknowledgements that prove availability.
pub fn availability_threshold(committee: &Committee) -> usize {
    committee.fault_bound() + 1
}

/// What a certificate's pairing check needs: the signers' key, the message, the signature.
type CertificateParts = (PublicKey, Vec<u8>, Signature);

impl BatchCertificate {
    /// Checks the certificate: `f + 1` committee members signed the digest.
    pub fn verify(&self, committee: &Committee) -> Result<(), BatchError> {
        if self.epoch != committee.epoch().0 {
            return Err(BatchError::WrongEpoch {
                expected: committee.epoch().0,
                got: self.epoch,
            });
        }
        if usize::from(self.author) >= committee.size() {
            return Err(BatchError::UnknownValidator(self.author));
        }
        let signers = SignerBitmap::from_bytes(committee.size(), &self.signers)?;
        let signature = Signature::from_bytes(&self.signature).map_err(CertificateError::from)?;
        Certificate::from_parts(signers, signature).verify(
            committee.keys(),
            availability_threshold(committee),
            SigningDomain::BatchAck,
            &ack_encoding(
                committee.chain_id(),
                self.epoch,
                self.valid_through,
                &self.digest,
            ),
        )?;
        Ok(())
    }

    /// The checks of [`BatchCertificate::verify`] short of the pairing: the key that must
    /// have signed, the message and the signature.
    fn parts(&self, committee: &Committee) -> Result<CertificateParts, BatchError> {
        if self.epoch != committee.epoch().0 {
            return Err(BatchError::WrongEpoch {
                expected: committee.epoch().0,
                got: self.epoch,
            });
        }
        if usize::from(self.author) >= committee.size() {
            return Err(BatchError::UnknownValidator(self.author));
        }
        let signers = SignerBitmap::from_bytes(committee.size(), &self.signers)?;
        let threshold = availability_threshold(committee);
        if signers.count() < threshold {
            return Err(BatchError::Certificate(CertificateError::BelowThreshold {
                signers: signers.count(),
                threshold,
            }));
        }
        let signature = Signature::from_bytes(&self.signature).map_err(CertificateError::from)?;
        let key = PublicKey::aggregate(signers.iter().map(|index| &committee.keys().keys()[index]))
            .map_err(CertificateError::from)?;
        let encoding = ack_encoding(
            committee.chain_id(),
            self.epoch,
            self.valid_through,
            &self.digest,
        );
        Ok((key, encoding, signature))
    }

    /// Checks many certificates at once: one multi-pairing for all of them (random linear
    /// combination, [`shroud_crypto::bls::verify_batch`]) and, only if that fails, one check
    /// each to find the bad ones. The verdicts are in the order of `certificates`, each the
    /// same as [`BatchCertificate::verify`]'s (except with probability about 2^-64).
    pub fn verify_many<R: rand_core::RngCore + rand_core::CryptoRng>(
        certificates: &[BatchCertificate],
        committee: &Committee,
        rng: &mut R,
    ) -> Vec<Result<(), BatchError>> {
        let parts: Vec<Result<CertificateParts, BatchError>> = certificates
            .iter()
            .map(|certificate| certificate.parts(committee))
            .collect();
        let items: Vec<BatchItem<'_>> = parts
            .iter()
            .filter_map(|part| part.as_ref().ok())
            .map(|(key, encoding, signature)| BatchItem {
                public_key: key,
                domain: SigningDomain::BatchAck,
                encoding,
                signature,
            })
            .collect();
        let all_good = !items.is_empty() && verify_batch(&items, rng).is_ok();
        parts
            .into_iter()
            .map(|part| {
                let (key, encoding, signature) = part?;
                if all_good {
                    return Ok(());
                }
                key.verify(SigningDomain::BatchAck, &encoding, &signature)
                    .map_err(|_| BatchError::Certificate(CertificateError::BadSignature))
            })
            .collect()
    }

    /// The validators that signed (and so hold the batch).
    pub fn signer_indices(&self, committee_size: usize) -> Vec<u16> {
        SignerBitmap::from_bytes(committee_size, &self.signers)
            .map(|bitmap| {
                bitmap
                    .iter()
                    .filter_map(|index| u16::try_from(index).ok())
                    .collect()
            })
            .unwrap_or_default()
    }
}

/// Collects acknowledgements of one of this validator's batches.
#[derive(Debug)]
pub struct AckCollector {
    epoch: u64,
    valid_through: u64,
    digest: BatchDigest,
    author: u16,
    builder: CertificateBuilder,
    threshold: usize,
}

impl AckCollector {
    /// A collector for `batch` (digest `digest`), authored by `author`.
    pub fn new(
        committee: &Committee,
        batch: &Batch,
        digest: BatchDigest,
        author: u16,
    ) -> Result<Self, BatchError> {
        let epoch = committee.epoch().0;
        let valid_through = batch.valid_through;
        Ok(Self {
            epoch,
            valid_through,
            digest,
            author,
            builder: CertificateBuilder::new(
                committee.keys(),
                SigningDomain::BatchAck,
                &ack_encoding(committee.chain_id(), epoch, valid_through, &digest),
            )?,
            threshold: availability_threshold(committee),
        })
    }

    /// Adds a peer's acknowledgement, verified on entry; returns the certificate once `f + 1`
    /// agree.
    pub fn add(&mut self, ack: &BatchAck) -> Result<Option<BatchCertificate>, BatchError> {
        self.add_checked(ack, true)
    }

    /// Adds this validator's own acknowledgement (signed just now with its own key: no
    /// pairing check).
    pub fn add_own(&mut self, ack: &BatchAck) -> Result<Option<BatchCertificate>, BatchError> {
        self.add_checked(ack, false)
    }

    fn add_checked(
        &mut self,
        ack: &BatchAck,
        verify: bool,
    ) -> Result<Option<BatchCertificate>, BatchError> {
        if ack.epoch != self.epoch {
            return Err(BatchError::WrongEpoch {
                expected: self.epoch,
                got: ack.epoch,
            });
        }
        let signature = Signature::from_bytes(&ack.signature).map_err(CertificateError::from)?;
        if verify {
            self.builder.add(usize::from(ack.signer), &signature)?;
        } else {
            self.builder.add_own(usize::from(ack.signer), &signature)?;
        }
        if self.builder.count() < self.threshold {
            return Ok(None);
        }
        let certificate = self.builder.finish(self.threshold)?;
        Ok(Some(BatchCertificate {
            epoch: self.epoch,
            valid_through: self.valid_through,
            digest: self.digest,
            author: self.author,
            signers: certificate.signers().as_bytes().to_vec(),
            signature: certificate.signature().to_bytes(),
        }))
    }
}

/// The block payload: certified batches in proposal order, and DKG posts (the distributed
/// key generation's transcript, ordered by consensus).
#[derive(Archive, Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq)]
#[rkyv(derive(Debug))]
pub struct BlockPayload {
    /// The batches, in order.
    pub batches: Vec<BatchCertificate>,
    /// DKG posts, in order.
    pub dkg: Vec<DkgPost>,
}

impl BlockPayload {
    /// The consensus payload bytes (rkyv).
    pub fn to_payload(&self) -> Payload {
        // No content is the empty payload (consensus paces empty blocks by it).
        if self.batches.is_empty() && self.dkg.is_empty() {
            return Payload(Vec::new());
        }
        let bytes = rkyv::to_bytes::<rkyv::rancor::Error>(self)
            .expect("a payload of certificates always encodes");
        Payload(bytes.to_vec())
    }

    /// Decodes (validated) and checks every certificate and the count limit (not the DKG
    /// posts: see [`Self::check_dkg_posts`]).
    pub fn from_payload(
        payload: &Payload,
        committee: &Committee,
        batches_max: usize,
    ) -> Result<Self, BatchError> {
        Self::from_payload_skipping(payload, committee, batches_max, |_| false)
    }

    /// Checks every DKG post (see [`DkgPost::verify`]) but those `verified` says were checked
    /// before, and their count.
    pub fn check_dkg_posts(
        &self,
        committee: &Committee,
        chain_id: u64,
        verified: impl Fn(&DkgPost) -> bool,
    ) -> Result<(), BatchError> {
        if self.dkg.len() > DKG_POSTS_PER_BLOCK_MAX {
            return Err(BatchError::TooManyDkgPosts {
                max: DKG_POSTS_PER_BLOCK_MAX,
                got: self.dkg.len(),
            });
        }
        let bytes: usize = self.dkg.iter().map(|post| post.message.len()).sum();
        if bytes > DKG_BYTES_PER_BLOCK_MAX {
            return Err(BatchError::DkgPost {
                sender: self.dkg.first().map_or(0, |post| post.sender),
                reason: format!("the block's DKG posts hold {bytes} bytes"),
            });
        }
        let mut per_sender = std::collections::HashMap::new();
        for post in &self.dkg {
            let count = per_sender.entry(post.sender).or_insert(0usize);
            *count += 1;
            if *count > DKG_POSTS_PER_SENDER_MAX {
                return Err(BatchError::DkgPost {
                    sender: post.sender,
                    reason: format!("more than {DKG_POSTS_PER_SENDER_MAX} posts in one block"),
                });
            }
        }
        for post in &self.dkg {
            if !verified(post) {
                post.verify(committee, chain_id)?;
            }
        }
        Ok(())
    }

    /// [`Self::from_payload`], skipping the check of certificates for which `verified` says
    /// this exact certificate (same digest, signers and signature) was checked before.
    pub fn from_payload_skipping(
        payload: &Payload,
        committee: &Committee,
        batches_max: usize,
        verified: impl Fn(&BatchCertificate) -> bool,
    ) -> Result<Self, BatchError> {
        let decoded = Self::decode(payload)?;
        if decoded.batches.len() > batches_max {
            return Err(BatchError::TooManyBatches {
                max: batches_max,
                got: decoded.batches.len(),
            });
        }
        // The certificates not seen before are checked together: one multi-pairing.
        let unchecked: Vec<BatchCertificate> = decoded
            .batches
            .iter()
            .filter(|certificate| !verified(certificate))
            .cloned()
            .collect();
        if !unchecked.is_empty() {
            let mut rng = rand_chacha::ChaCha20Rng::from_entropy();
            for verdict in BatchCertificate::verify_many(&unchecked, committee, &mut rng) {
                verdict?;
            }
        }
        Ok(decoded)
    }

    /// Decodes without checking certificates (for payloads of committed blocks, which 2f+1
    /// validators checked before voting).
    pub fn decode(payload: &Payload) -> Result<Self, BatchError> {
        if payload.0.is_empty() {
            return Ok(Self::default());
        }
        let mut aligned = rkyv::util::AlignedVec::<16>::with_capacity(payload.0.len());
        aligned.extend_from_slice(&payload.0);
        rkyv::from_bytes::<Self, rkyv::rancor::Error>(&aligned)
            .map_err(|error| BatchError::Payload(error.to_string()))
    }
}

#[cfg(test)]
mod tests {
    use rand_chacha::rand_core::SeedableRng;
    use rand_chacha::ChaCha20Rng;
    use shroud_consensus::Epoch;
    use shroud_crypto::CommitteeKeys;

    use super::*;

    fn committee(n: usize) -> (Vec<SecretKey>, Committee) {
        let mut rng = ChaCha20Rng::seed_from_u64(5);
        let keys: Vec<SecretKey> = (0..n).map(|_| SecretKey::generate(&mut rng)).collect();
        let members: Vec<_> = keys
            .iter()
            .map(|key| (key.public_key(), key.prove_possession()))
            .collect();
        let committee = Committee::new(9, Epoch(3), CommitteeKeys::new(&members).expect("valid"));
        (keys, committee)
    }

    fn batch() -> Batch {
        Batch {
            epoch: 3,
            author: 1,
            sequence: 9,
            valid_through: 77,
            transactions: vec![b"one".to_vec(), b"two".to_vec()],
        }
    }

    /// A response with no complaint from `sender` (a well-formed DKG message).
    fn dkg_response(sender: u16, round: u32) -> Vec<u8> {
        shroud_crypto::dkg::DkgMessage {
            round,
            sender,
            body: shroud_crypto::dkg::DkgBody::Response(Vec::new()),
        }
        .to_bytes()
    }

    #[test]
    fn dkg_posts_are_checked_for_sender_signature_chain_and_bounds() {
        let (keys, committee) = committee(4);
        let post = DkgPost::sign(2, dkg_response(2, 0), &keys[2], 9, 3);
        assert_eq!(post.verify(&committee, 9).expect("valid").sender, 2);
        // Another chain, another signer, a message of another member, a stranger.
        assert!(post.verify(&committee, 10).is_err());
        let forged = DkgPost::sign(2, dkg_response(2, 0), &keys[1], 9, 3);
        assert!(forged.verify(&committee, 9).is_err());
        let relabelled = DkgPost::sign(2, dkg_response(1, 0), &keys[2], 9, 3);
        assert!(relabelled.verify(&committee, 9).is_err());
        let stranger = DkgPost::sign(7, dkg_response(7, 0), &keys[2], 9, 3);
        assert!(matches!(
            stranger.verify(&committee, 9),
            Err(BatchError::UnknownValidator(7))
        ));
        let garbage = DkgPost::sign(2, vec![1, 2, 3], &keys[2], 9, 3);
        assert!(garbage.verify(&committee, 9).is_err());
        // A block: within the bounds it checks; past the per-sender bound it is refused.
        let posts: Vec<DkgPost> = (0..DKG_POSTS_PER_SENDER_MAX as u32 + 1)
            .map(|round| DkgPost::sign(2, dkg_response(2, round), &keys[2], 9, 3))
            .collect();
        let within = BlockPayload {
            batches: Vec::new(),
            dkg: posts[..DKG_POSTS_PER_SENDER_MAX].to_vec(),
        };
        let decoded = BlockPayload::decode(&within.to_payload()).expect("decodes");
        assert_eq!(decoded, within);
        assert!(decoded.check_dkg_posts(&committee, 9, |_| false).is_ok());
        let past = BlockPayload {
            batches: Vec::new(),
            dkg: posts,
        };
        assert!(past.check_dkg_posts(&committee, 9, |_| false).is_err());
        let mut forged_block = within.clone();
        forged_block
            .dkg
            .push(DkgPost::sign(1, dkg_response(1, 0), &keys[2], 9, 3));
        assert!(forged_block
            .check_dkg_posts(&committee, 9, |_| false)
            .is_err());
    }

    #[test]
    fn f_plus_one_acks_make_a_certificate_that_verifies() {
        let (keys, committee) = committee(4);
        let batch = batch();
        let digest = batch.digest();
        let mut collector = AckCollector::new(&committee, &batch, digest, 1).expect("collector");
        let first = BatchAck::sign(9, &batch, digest, 0, &keys[0]);
        assert_eq!(collector.add(&first), Ok(None));
        // A repeated ack does not count twice.
        assert_eq!(collector.add(&first), Ok(None));
        let second = BatchAck::sign(9, &batch, digest, 2, &keys[2]);
        let certificate = collector
            .add(&second)
            .expect("valid ack")
            .expect("f + 1 = 2 acks certify");
        certificate.verify(&committee).expect("verifies");
        assert_eq!(certificate.signer_indices(4), vec![0, 2]);

        // An ack by the wrong key, or for another digest, is refused.
        let forged = BatchAck {
            signer: 3,
            ..BatchAck::sign(9, &batch, digest, 3, &keys[0])
        };
        let mut fresh = AckCollector::new(&committee, &batch, digest, 1).expect("collector");
        assert!(fresh.add(&forged).is_err());
        // An ack over another expiry is over another statement.
        let later = Batch {
            valid_through: 78,
            ..batch.clone()
        };
        assert!(fresh
            .add(&BatchAck::sign(9, &later, later.digest(), 2, &keys[2]))
            .is_err());
        // A certificate whose expiry was moved no longer verifies.
        let mut moved = certificate.clone();
        moved.valid_through += 1;
        assert!(moved.verify(&committee).is_err());
        let mut other = certificate.clone();
        other.digest = Batch {
            sequence: 10,
            ..batch.clone()
        }
        .digest();
        assert!(other.verify(&committee).is_err());
    }

    fn certify(keys: &[SecretKey], committee: &Committee, batch: &Batch) -> BatchCertificate {
        let digest = batch.digest();
        let mut collector = AckCollector::new(committee, batch, digest, 1).expect("collector");
        collector
            .add_own(&BatchAck::sign(9, batch, digest, 1, &keys[1]))
            .expect("own ack");
        collector
            .add(&BatchAck::sign(9, batch, digest, 3, &keys[3]))
            .expect("valid ack")
            .expect("f + 1 = 2 acks certify")
    }

    #[test]
    fn certificates_checked_together_get_the_verdicts_of_one_by_one() {
        let (keys, committee) = committee(4);
        let mut certificates: Vec<BatchCertificate> = (0..6)
            .map(|sequence| {
                let batch = Batch {
                    sequence,
                    ..batch()
                };
                certify(&keys, &committee, &batch)
            })
            .collect();
        let mut rng = ChaCha20Rng::seed_from_u64(8);
        let verdicts = BatchCertificate::verify_many(&certificates, &committee, &mut rng);
        assert!(verdicts.iter().all(Result::is_ok), "{verdicts:?}");
        // A moved expiry, a signature from another certificate, and a lone signer among good
        // ones: each is refused, and only it.
        certificates[1].valid_through += 1;
        certificates[3].signature = certificates[4].signature;
        certificates[5].signers = vec![0b0010];
        let verdicts = BatchCertificate::verify_many(&certificates, &committee, &mut rng);
        for (index, (certificate, verdict)) in certificates.iter().zip(&verdicts).enumerate() {
            assert_eq!(
                verdict.is_ok(),
                certificate.verify(&committee).is_ok(),
                "certificate {index}"
            );
            assert_eq!(
                verdict.is_ok(),
                [0, 2, 4].contains(&index),
                "certificate {index}"
            );
        }
        assert!(BatchCertificate::verify_many(&[], &committee, &mut rng).is_empty());
    }

    #[test]
    fn a_certificate_below_f_plus_one_is_refused() {
        let (keys, committee) = committee(7);
        let digest = batch().digest();
        let ack = BatchAck::sign(9, &batch(), digest, 4, &keys[4]);
        let mut bitmap = SignerBitmap::new(7).expect("bitmap");
        bitmap.insert(4).expect("in range");
        let lonely = BatchCertificate {
            epoch: 3,
            valid_through: 77,
            digest,
            author: 1,
            signers: bitmap.as_bytes().to_vec(),
            signature: ack.signature,
        };
        assert!(matches!(
            lonely.verify(&committee),
            Err(BatchError::Certificate(
                CertificateError::BelowThreshold { .. }
            ))
        ));
    }

    #[test]
    fn payloads_round_trip_and_garbage_is_an_error() {
        let (keys, committee) = committee(4);
        let batch = batch();
        let digest = batch.digest();
        let mut collector = AckCollector::new(&committee, &batch, digest, 1).expect("collector");
        collector
            .add(&BatchAck::sign(9, &batch, digest, 0, &keys[0]))
            .expect("ack");
        let certificate = collector
            .add(&BatchAck::sign(9, &batch, digest, 1, &keys[1]))
            .expect("ack")
            .expect("certificate");
        let payload = BlockPayload {
            batches: vec![certificate.clone(), certificate],
            dkg: Vec::new(),
        };
        let bytes = payload.to_payload();
        assert_eq!(
            BlockPayload::from_payload(&bytes, &committee, 10),
            Ok(payload)
        );
        assert!(matches!(
            BlockPayload::from_payload(&bytes, &committee, 1),
            Err(BatchError::TooManyBatches { max: 1, got: 2 })
        ));
        assert!(BlockPayload::from_payload(&Payload(vec![0xff; 40]), &committee, 10).is_err());
        assert_eq!(
            BlockPayload::from_payload(&Payload(Vec::new()), &committee, 10),
            Ok(BlockPayload::default())
        );
    }

    #[test]
    fn digests_bind_every_field() {
        let base = batch();
        let variants = [
            Batch {
                epoch: 4,
                ..base.clone()
            },
            Batch {
                author: 2,
                ..base.clone()
            },
            Batch {
                sequence: 10,
                ..base.clone()
            },
            Batch {
                valid_through: 78,
                ..base.clone()
            },
            Batch {
                transactions: vec![b"onetwo".to_vec()],
                ..base.clone()
            },
            Batch {
                transactions: vec![b"two".to_vec(), b"one".to_vec()],
                ..base.clone()
            },
        ];
        for variant in variants {
            assert_ne!(variant.digest(), base.digest(), "{variant:?}");
        }
    }
}
