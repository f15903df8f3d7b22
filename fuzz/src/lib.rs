//! What the fuzz targets and the corpus generator share: one fixed, deterministic test
//! network (BLS committee, dealer key set, DKG keys, one decrypted height with its output and
//! certificates), so that seeds made by `make_corpus` carry signatures and proofs that the
//! targets' verifiers accept, and the fuzzer starts from inputs that reach the deepest checks.
//!
//! Everything is derived from fixed seeds: the same fixture on every run and every machine.

use std::net::SocketAddr;
use std::sync::OnceLock;

use rand_chacha::ChaCha20Rng;
use rand_core::SeedableRng;
use rkyv::rancor;
use rkyv::util::AlignedVec;
use shroud_consensus::{Committee, Epoch};
use shroud_crypto::dkg::{DkgParams, DkgSecretKey};
use shroud_crypto::tdh2::{
    self, trusted_dealer_for_local_testnet, Ciphertext, Context, KeyShare, Label, PublicKeySet,
    VerifiedCiphertext,
};
use shroud_crypto::{CertificateBuilder, CommitteeKeys, SecretKey, SigningDomain};
use shroud_proofs::output::HeightContext;
use shroud_proofs::{
    build_output, outcome_of_opened, BuiltOutput, Bundle, BundleLimits, CommitteeFile,
    FailureReason, Item, MemberEntry, NamespaceId, Outcome, OutputCertificate, PositionEntry, TxId,
};

/// The chain id of the fixture's network.
pub const CHAIN_ID: u64 = 7;
/// Its epoch.
pub const EPOCH: u64 = 1;
/// Its committee size.
pub const MEMBERS: usize = 4;
/// Its decryption threshold (`f + 1`).
pub const THRESHOLD: usize = 2;
/// The node's default ciphertext limit (`MempoolConfig::default().ciphertext_bytes_max`).
pub const CIPHERTEXT_BYTES_MAX: usize = 64 * 1024;
/// The DKG member bound the brief names for `DkgMessage::from_bytes`.
pub const DKG_MEMBERS_MAX: usize = 64;
/// The chain's `validity_heights` (the committee file's default).
pub const VALIDITY_HEIGHTS: u64 = 4_096;
/// The `valid_through` of the fixture's ciphertexts.
pub const VALID_THROUGH: u64 = 50;
/// The certified height of the fixture.
pub const HEIGHT: u64 = 1;
/// The block digest of that height.
pub const BLOCK_DIGEST: [u8; 32] = [3; 32];
/// The namespace the fixture's single-item bundle goes to.
pub const NAMESPACE: NamespaceId = NamespaceId(5);
/// The other namespace of the fixture's cross-rollup bundle.
pub const OTHER_NAMESPACE: NamespaceId = NamespaceId(9);
/// A namespace with no items at the fixture's height (absence proofs).
pub const EMPTY_NAMESPACE: NamespaceId = NamespaceId(7);

/// The fixed test network.
pub struct Fixture {
    /// BLS signing keys, by validator index.
    pub signers: Vec<SecretKey>,
    /// The committee's BLS keys.
    pub keys: CommitteeKeys,
    /// The consensus committee.
    pub committee: Committee,
    /// The dealer's threshold key set.
    pub public: PublicKeySet,
    /// The dealer's key shares, by validator index.
    pub shares: Vec<KeyShare>,
    /// DKG secret keys, by validator index.
    pub dkg_keys: Vec<DkgSecretKey>,
    /// The DKG parameters of the committee (threshold `f + 1`).
    pub dkg_params: DkgParams,
    /// The ciphertext label context.
    pub context: Context,
    /// The ordered transactions of the fixture's height (wire bytes), in position order:
    /// a one-item bundle, a two-item cross-namespace bundle, a plaintext that is not a
    /// bundle, and bytes that are not a ciphertext.
    pub transactions: Vec<Vec<u8>>,
    /// The positions that got decryption shares (all but the last).
    pub shared_positions: Vec<u32>,
    /// The verified ciphertexts of those positions, in order.
    pub verified: Vec<VerifiedCiphertext>,
    /// The true shared point `r·h` of each, compressed, in order.
    pub points: Vec<[u8; tdh2::POINT_BYTES]>,
    /// Every position's outcome.
    pub entries: Vec<PositionEntry>,
    /// The height's output.
    pub output: BuiltOutput,
    /// Its certificate, signed by validators 0, 1 and 2.
    pub certificate: OutputCertificate,
    /// A genesis committee file of the network (DKG keys, no key set).
    pub genesis_file: CommitteeFile,
    /// The same committee with the dealer's key set.
    pub dealer_file: CommitteeFile,
    /// The SDK's view of the genesis file (checked once: proofs of possession cost pairings).
    pub sdk_genesis: shroud_sdk::Committee,
}

fn build() -> Fixture {
    let mut rng = ChaCha20Rng::seed_from_u64(0x5eed);
    let signers: Vec<SecretKey> = (0..MEMBERS)
        .map(|index| SecretKey::from_seed(&[index as u8 + 1; 32]).expect("a 32-byte seed"))
        .collect();
    let members: Vec<_> = signers
        .iter()
        .map(|key| (key.public_key(), key.prove_possession()))
        .collect();
    let keys = CommitteeKeys::new(&members).expect("valid committee keys");
    let committee = Committee::new(CHAIN_ID, Epoch(EPOCH), keys.clone());
    let (public, shares) =
        trusted_dealer_for_local_testnet(THRESHOLD, MEMBERS, &mut rng).expect("dealer");
    let dkg_keys: Vec<DkgSecretKey> = (0..MEMBERS)
        .map(|_| DkgSecretKey::random(&mut rng))
        .collect();

    let entry = |index: usize, with_dkg: bool| MemberEntry {
        bls_public_key: hex::encode(signers[index].public_key().to_bytes()),
        proof_of_possession: hex::encode(signers[index].prove_possession().to_bytes()),
        tls_pin: hex::encode([index as u8 + 0x10; 32]),
        peer_address: address(9000 + index as u16),
        client_address: address(9100 + index as u16),
        http_address: address(9200 + index as u16),
        dkg_public_key: with_dkg.then(|| hex::encode(dkg_keys[index].public_key().to_bytes())),
    };
    let genesis_file = CommitteeFile {
        chain_id: CHAIN_ID,
        epoch: EPOCH,
        validity_heights: VALIDITY_HEIGHTS,
        ciphertext_bytes_max: CIPHERTEXT_BYTES_MAX as u64,
        public_key_set: None,
        dkg_window_heights: 100,
        validators: (0..MEMBERS).map(|index| entry(index, true)).collect(),
    };
    let dealer_file = CommitteeFile {
        public_key_set: Some(hex::encode(public.to_bytes())),
        validators: (0..MEMBERS).map(|index| entry(index, false)).collect(),
        ..genesis_file.clone()
    };
    let sdk_genesis =
        shroud_sdk::Committee::from_file(genesis_file.clone()).expect("the genesis file checks");
    let dkg_params = DkgParams::new(
        genesis_file.dkg_session(),
        THRESHOLD,
        dkg_keys.iter().map(DkgSecretKey::public_key).collect(),
        genesis_file.dkg_window_heights,
    )
    .expect("DKG parameters");

    let context = Context {
        chain_id: CHAIN_ID,
        epoch: EPOCH,
    };
    let label = |nonce: u8| Label {
        chain_id: CHAIN_ID,
        epoch: EPOCH,
        valid_through: VALID_THROUGH,
        nonce: [nonce; 32],
    };
    let single = Bundle::single(NAMESPACE, b"hello, rollup".to_vec());
    let cross = Bundle {
        items: vec![
            Item {
                namespace: NAMESPACE,
                data: b"swap leg one".to_vec(),
            },
            Item {
                namespace: OTHER_NAMESPACE,
                data: b"swap leg two".to_vec(),
            },
        ],
    };
    let plaintexts = [single.encode(), cross.encode(), b"not a bundle".to_vec()];
    let mut transactions: Vec<Vec<u8>> = plaintexts
        .iter()
        .enumerate()
        .map(|(index, plaintext)| {
            tdh2::encrypt(
                public.encryption_key(),
                label(index as u8),
                plaintext,
                &mut rng,
            )
            .to_bytes()
        })
        .collect();
    transactions.push(b"not a ciphertext".to_vec());
    let verified: Vec<VerifiedCiphertext> = transactions[..3]
        .iter()
        .map(|bytes| {
            Ciphertext::from_bytes(bytes, CIPHERTEXT_BYTES_MAX)
                .expect("decodes")
                .verify(public.encryption_key(), &context)
                .expect("verifies")
        })
        .collect();
    let shared_positions = vec![0, 1, 2];
    let refs: Vec<&VerifiedCiphertext> = verified.iter().collect();
    let batches: Vec<_> = shares[..THRESHOLD]
        .iter()
        .map(|share| tdh2::create_share_batch(share, &refs, &mut rng))
        .collect();
    let senders: Vec<_> = batches
        .iter()
        .map(|batch| (batch.index(), batch.values()))
        .collect();
    let combined = tdh2::combine_share_batches(&public, &refs, &senders, &mut rng)
        .expect("combines")
        .expect("honest shares");
    let points: Vec<_> = combined.iter().map(tdh2::encode_point).collect();
    let mut entries: Vec<PositionEntry> = verified
        .iter()
        .zip(&combined)
        .zip(&transactions)
        .map(|((ciphertext, point), bytes)| PositionEntry {
            tx_id: TxId::of(bytes),
            outcome: outcome_of_opened(
                ciphertext.open(point).ok().as_deref(),
                &BundleLimits::default(),
            ),
        })
        .collect();
    entries.push(PositionEntry {
        tx_id: TxId::of(&transactions[3]),
        outcome: Outcome::Failed(FailureReason::InvalidCiphertext),
    });
    let output = build_output(
        &HeightContext {
            chain_id: CHAIN_ID,
            epoch: EPOCH,
            height: HEIGHT,
            block_digest: BLOCK_DIGEST,
            parent_output: [0; 32],
        },
        &entries,
    );
    let (signers_bitmap, signature) = certify_with(
        &signers,
        &keys,
        SigningDomain::OutputHeader,
        &output.header.encoding(),
        &[0, 1, 2],
    );
    let certificate = OutputCertificate {
        header: output.header,
        signers: signers_bitmap,
        signature,
    };
    Fixture {
        signers,
        keys,
        committee,
        public,
        shares,
        dkg_keys,
        dkg_params,
        context,
        transactions,
        shared_positions,
        verified,
        points,
        entries,
        output,
        certificate,
        genesis_file,
        dealer_file,
        sdk_genesis,
    }
}

fn address(port: u16) -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], port))
}

/// The fixture, built on first use.
pub fn fixture() -> &'static Fixture {
    static FIXTURE: OnceLock<Fixture> = OnceLock::new();
    FIXTURE.get_or_init(build)
}

fn certify_with(
    signers: &[SecretKey],
    keys: &CommitteeKeys,
    domain: SigningDomain,
    encoding: &[u8],
    who: &[usize],
) -> (Vec<u8>, [u8; 96]) {
    let mut builder = CertificateBuilder::new(keys, domain, encoding).expect("builder");
    for index in who {
        builder
            .add_own(*index, &signers[*index].sign(domain, encoding))
            .expect("a member");
    }
    let certificate = builder.finish(who.len()).expect("enough signers");
    (
        certificate.signers().as_bytes().to_vec(),
        certificate.signature().to_bytes(),
    )
}

impl Fixture {
    /// `(signer bitmap, aggregate signature)` of validators `who` over `encoding` in `domain`.
    pub fn certify(
        &self,
        domain: SigningDomain,
        encoding: &[u8],
        who: &[usize],
    ) -> (Vec<u8>, [u8; 96]) {
        certify_with(&self.signers, &self.keys, domain, encoding, who)
    }

    /// The verified ciphertexts of the shared positions, by reference.
    pub fn verified_refs(&self) -> Vec<&VerifiedCiphertext> {
        self.verified.iter().collect()
    }
}

/// A deterministic RNG for the verifiers that take one (batch weights).
pub fn rng() -> ChaCha20Rng {
    ChaCha20Rng::seed_from_u64(0)
}

/// Decodes `bytes` as a `T` the way the node does everywhere (copied into an aligned buffer,
/// validated by bytecheck, then deserialized).
pub fn rkyv_decode<T>(bytes: &[u8]) -> Option<T>
where
    T: rkyv::Archive,
    T::Archived: for<'b> rkyv::bytecheck::CheckBytes<rkyv::api::high::HighValidator<'b, rancor::Error>>
        + rkyv::Deserialize<T, rkyv::api::high::HighDeserializer<rancor::Error>>,
{
    let mut aligned = AlignedVec::<16>::with_capacity(bytes.len());
    aligned.extend_from_slice(bytes);
    rkyv::from_bytes::<T, rancor::Error>(&aligned).ok()
}

/// rkyv archives are not canonical (padding, layout and unreferenced bytes may differ), so a
/// decoded value is checked by value: encoding it again and decoding that gives it back.
pub fn assert_rkyv_round_trip<T>(value: &T)
where
    T: rkyv::Archive + PartialEq + std::fmt::Debug,
    T: for<'a> rkyv::Serialize<
        rkyv::api::high::HighSerializer<
            AlignedVec,
            rkyv::ser::allocator::ArenaHandle<'a>,
            rancor::Error,
        >,
    >,
    T::Archived: for<'b> rkyv::bytecheck::CheckBytes<rkyv::api::high::HighValidator<'b, rancor::Error>>
        + rkyv::Deserialize<T, rkyv::api::high::HighDeserializer<rancor::Error>>,
{
    let bytes = rkyv::to_bytes::<rancor::Error>(value).expect("a decoded value encodes");
    let again: T = rkyv_decode(&bytes).expect("an encoded value decodes");
    assert_eq!(&again, value, "rkyv round trip changed the value");
}

/// Decodes `$input` as `$type` with rkyv's checked access and, if it decodes, asserts the value
/// round-trips through rkyv (the decoders' contract for records and certificates).
#[macro_export]
macro_rules! decoded_round_trip {
    ($input:expr, $type:ty) => {{
        let decoded: Option<$type> = $crate::rkyv_decode($input);
        if let Some(value) = &decoded {
            $crate::assert_rkyv_round_trip(value);
        }
        decoded
    }};
}
