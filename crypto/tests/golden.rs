//! Golden tests: they freeze the domain tags, the signing-message construction, the ciphertext
//! format (version 1), the decryption-share format and the DKG message format.
//!
//! A failure here means a wire or signing format changed. Regenerating the constants (run
//! `cargo test -p shroud-crypto --test golden -- --ignored --nocapture print_golden`) is a
//! deliberate, reviewed format change with a new version byte, never a way to make a test pass.

use ark_bls12_381::{Fr, G1Projective, G2Projective};
use ark_ec::{CurveGroup, PrimeGroup};
use ark_serialize::CanonicalSerialize;
use rand_chacha::rand_core::SeedableRng;
use rand_chacha::ChaCha20Rng;
use sha2::{Digest, Sha256};
use shroud_crypto::bls::signing_message;
use shroud_crypto::domains;
use shroud_crypto::tdh2::{
    combine, create_share, create_share_batch, encrypt, verify_share, Ciphertext, Context,
    DecryptionShare, EncryptionKey, KeyShare, Label, PublicKeySet,
};
use shroud_crypto::{SecretKey, SigningDomain};

/// Fixed polynomial `p(x) = 1234567 + 89·x` (threshold 2), shares at 1..=4.
fn fixed_key() -> (PublicKeySet, Vec<KeyShare>) {
    let evaluate = |x: u64| Fr::from(1_234_567u64) + Fr::from(89u64) * Fr::from(x);
    let generator = G1Projective::generator();
    let mut key_bytes = Vec::new();
    (generator * evaluate(0))
        .into_affine()
        .serialize_compressed(&mut key_bytes)
        .expect("serialize");
    let encryption_key = EncryptionKey::from_bytes(&key_bytes).expect("valid key");
    let shares: Vec<KeyShare> = (1..=4u16)
        .map(|index| KeyShare::new(index, evaluate(u64::from(index))).expect("index"))
        .collect();
    let verification_keys = shares.iter().map(KeyShare::verification_key).collect();
    let key_g2 = (G2Projective::generator() * evaluate(0)).into_affine();
    let public =
        PublicKeySet::new(2, encryption_key, key_g2, verification_keys).expect("consistent");
    (public, shares)
}

fn fixed_label() -> Label {
    Label {
        chain_id: 0x5348_524f_5544,
        epoch: 1,
        valid_through: 4_096,
        nonce: [0xab; 32],
    }
}

const CONTEXT: Context = Context {
    chain_id: 0x5348_524f_5544,
    epoch: 1,
};

const PLAINTEXT: &[u8] = b"golden plaintext for ciphertext format v1";
// Version 2 (ADR 0008) added `valid_through` to the label; the plaintext stays as it was.

fn fixed_ciphertext() -> Ciphertext {
    let (public, _) = fixed_key();
    let mut rng = ChaCha20Rng::seed_from_u64(0x601d);
    encrypt(public.encryption_key(), fixed_label(), PLAINTEXT, &mut rng)
}

fn fixed_shares(ciphertext: &Ciphertext) -> Vec<DecryptionShare> {
    let (public, key_shares) = fixed_key();
    let verified = ciphertext
        .clone()
        .verify(public.encryption_key(), &CONTEXT)
        .expect("valid");
    let mut rng = ChaCha20Rng::seed_from_u64(0x5ba4e);
    key_shares
        .iter()
        .map(|key_share| create_share(key_share, &verified, &mut rng))
        .collect()
}

/// Validator 1's share batch of the fixed ciphertext (twice, so the weights matter), with the
/// batch's domain tags in front: values then proof.
fn share_batch_bytes() -> Vec<u8> {
    let (public, key_shares) = fixed_key();
    let verified = fixed_ciphertext()
        .verify(public.encryption_key(), &CONTEXT)
        .expect("valid");
    let mut rng = ChaCha20Rng::seed_from_u64(0xba7c4);
    let batch = create_share_batch(&key_shares[0], &[&verified, &verified], &mut rng);
    let mut out = Vec::new();
    for tag in [
        domains::TDH2_SHARE_BATCH_SEED,
        domains::TDH2_SHARE_BATCH_WEIGHT,
        domains::TDH2_SHARE_BATCH_CHALLENGE,
    ] {
        out.extend_from_slice(&(tag.len() as u32).to_be_bytes());
        out.extend_from_slice(tag);
    }
    for value in batch.value_bytes() {
        out.extend_from_slice(&value);
    }
    out.extend_from_slice(&batch.proof().expect("a proof").to_bytes());
    out
}

/// A fixed committee's dealing and a complaint, as DKG messages (both are deterministic in
/// the key, the session and the round).
fn dkg_messages_bytes() -> Vec<u8> {
    use shroud_crypto::dkg::{Complaint, Dealing, DkgBody, DkgMessage, DkgParams, DkgSecretKey};
    let keys: Vec<DkgSecretKey> = (1..=4u8)
        .map(|seed| {
            let mut bytes = [0u8; 32];
            bytes[31] = seed;
            DkgSecretKey::from_bytes(&bytes).expect("key")
        })
        .collect();
    let params = DkgParams::new(
        [0x5e; 32],
        2,
        keys.iter().map(DkgSecretKey::public_key).collect(),
        10,
    )
    .expect("params");
    let dealing = DkgMessage {
        round: 0,
        sender: 1,
        body: DkgBody::Dealing(Box::new(Dealing::deal(&params, 1, 0, &keys[1]))),
    };
    let mut out = dealing.to_bytes();
    let ephemeral_at = 8 + 2 + 48 * 2 + 96;
    let ephemeral =
        <ark_bls12_381::G1Affine as ark_serialize::CanonicalDeserialize>::deserialize_compressed(
            &out[ephemeral_at..ephemeral_at + 48],
        )
        .expect("point");
    let response = DkgMessage {
        round: 0,
        sender: 2,
        body: DkgBody::Response(vec![Complaint::make(
            &params, 0, 1, 2, &keys[2], &ephemeral,
        )
        .expect("member")]),
    };
    out.extend_from_slice(&response.to_bytes());
    out
}

fn digest(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

fn tags_digest() -> String {
    let mut all = Vec::new();
    for tag in [
        domains::BLS_SIG_CIPHERSUITE,
        domains::BLS_POP_CIPHERSUITE,
        domains::TDH2_SECOND_GENERATOR,
        domains::TDH2_SECOND_GENERATOR_MESSAGE,
        domains::TDH2_CIPHERTEXT_CHALLENGE,
        domains::TDH2_SHARE_CHALLENGE,
        domains::TDH2_AEAD_KEY,
        domains::TDH2_LABEL,
        domains::DKG_DEAL_SEED,
        domains::DKG_SHARE_PAD,
        domains::DKG_COMPLAINT_NONCE,
        domains::DKG_COMPLAINT_CHALLENGE,
        domains::DKG_SESSION,
        domains::DKG_EPHEMERAL_CHALLENGE,
        domains::DKG_DEAL_STREAM,
        domains::QUIC_RESET_KEY_PEER,
        domains::QUIC_RESET_KEY_CLIENT_FACING,
    ] {
        all.extend_from_slice(&(tag.len() as u32).to_be_bytes());
        all.extend_from_slice(tag);
    }
    for domain in SigningDomain::ALL {
        all.extend_from_slice(&signing_message(domain, b"golden"));
    }
    digest(&all)
}

fn bls_signature_hex() -> String {
    let secret = SecretKey::from_seed(&[0x42; 32]).expect("seed");
    hex::encode(
        secret
            .sign(SigningDomain::OutputHeader, b"golden header")
            .to_bytes(),
    )
}

// Changed deliberately (ADR 0011, third pass): a batch acknowledgement attests a check of
// every ciphertext, under SHROUD-V1-SIG-BATCH-CHECKED (was SHROUD-V1-SIG-BATCH-ACK).
const TAGS_DIGEST: &str = "871cbc0d9720422b730c6817f8c3f79c29ccf892afb4c64b644abd377a7523bf";
const BLS_SIGNATURE: &str = "a44604c7385374e0ef7af4b837717f0e097643c0190b35346b9829c43014e52a526e7a5edffebe76572c8daaffd62ad70974ea6227ad9c3488ebadfb540c59cf4b431ce9a2b8452a0bb6778ca82904e8e6071d03a029b3c75a4bfdbc395aafcb";
const CIPHERTEXT_HEX: &str = concat!(
    "0200005348524f554400000000000000010000000000001000ababababababababababababababababababab",
    "abababababababababababababaa99b66241d8ceee0b57657a495f98c87015d0c8d90e8649a9d371d7bad13f",
    "9033e37bacbc793f941a3d9d30d7b9b5dab51972caf10dcd6a0f86a31d407ca798e01279d88f6245edc0b1a5",
    "996d2d0ffa7725cda13a2c5f429ccfadf323d1f1b4a68d60e2bded575166c850e54261e0d19f5bbf441ca09e",
    "b61f6440ab3f016e264f5230a9a159d4a746199701b68e9d30b2c3c003151a165f2365bc663c61b213b25bc9",
    "392a95a20bcef7adb1199755d0f65a3fb7cccd8d41468a0db705f56c6d352639817cdefa84dd2510a9918528",
    "841767207a9ca4fe16c86d9d668f96c7897b27fb1413e5ef171a708304a6d143da9bae22ebf4e4b635aab827",
    "2893ef222200000039725550b67babfaa2df3ed61e4abee661ef87e010747692e871e0452301ed70af9e25bb",
    "057e45218b9a05b2b2a5878c1050bf32ea1d65cc724d",
);
const SHARES_DIGEST: &str = "a6c71280c6e8c408d2563361fb5760abaabba137fdec0b44be0e3877f526a44e";
const DKG_MESSAGES_DIGEST: &str =
    "0c7cc48bf381e7a17e7eb9003768ec6c50c91ed684e2e43094b198d36fc8eadf";
const SHARE_BATCH_DIGEST: &str = "aa69236527617f1ecec28d63e7675741540a8e8015838e7fc25ca26e5d757df1";

#[test]
#[ignore = "prints the golden values; run by hand for a deliberate format change"]
fn print_golden() {
    let ciphertext = fixed_ciphertext();
    let shares: Vec<u8> = fixed_shares(&ciphertext)
        .iter()
        .flat_map(|share| share.to_bytes())
        .collect();
    println!("const TAGS_DIGEST: &str = \"{}\";", tags_digest());
    println!(
        "const DKG_MESSAGES_DIGEST: &str = \"{}\";",
        digest(&dkg_messages_bytes())
    );
    println!("const BLS_SIGNATURE: &str = \"{}\";", bls_signature_hex());
    println!(
        "const CIPHERTEXT_HEX: &str = \"{}\";",
        hex::encode(ciphertext.to_bytes())
    );
    println!("const SHARES_DIGEST: &str = \"{}\";", digest(&shares));
    println!(
        "const SHARE_BATCH_DIGEST: &str = \"{}\";",
        digest(&share_batch_bytes())
    );
}

#[test]
fn domain_tags_are_frozen() {
    assert_eq!(tags_digest(), TAGS_DIGEST);
}

#[test]
fn dkg_message_encoding_is_frozen() {
    assert_eq!(digest(&dkg_messages_bytes()), DKG_MESSAGES_DIGEST);
}

#[test]
fn bls_signature_is_frozen() {
    assert_eq!(bls_signature_hex(), BLS_SIGNATURE);
}

#[test]
fn ciphertext_encoding_is_frozen() {
    assert_eq!(hex::encode(fixed_ciphertext().to_bytes()), CIPHERTEXT_HEX);
}

#[test]
fn share_encoding_is_frozen() {
    let shares: Vec<u8> = fixed_shares(&fixed_ciphertext())
        .iter()
        .flat_map(|share| share.to_bytes())
        .collect();
    assert_eq!(digest(&shares), SHARES_DIGEST);
}

#[test]
fn share_batch_encoding_is_frozen() {
    assert_eq!(digest(&share_batch_bytes()), SHARE_BATCH_DIGEST);
}

/// A version-2 ciphertext written by an earlier build still decodes, verifies and decrypts.
#[test]
fn frozen_ciphertext_still_decrypts() {
    let (public, key_shares) = fixed_key();
    let bytes = hex::decode(CIPHERTEXT_HEX).expect("hex");
    let ciphertext = Ciphertext::from_bytes(&bytes, 1024)
        .expect("decodes")
        .verify(public.encryption_key(), &CONTEXT)
        .expect("verifies");
    assert_eq!(ciphertext.label(), &fixed_label());
    let mut rng = ChaCha20Rng::seed_from_u64(1);
    let shares: Vec<_> = key_shares[2..]
        .iter()
        .map(|key_share| {
            let share = create_share(key_share, &ciphertext, &mut rng);
            verify_share(&public, &ciphertext, share).expect("valid share")
        })
        .collect();
    assert_eq!(
        combine(&public, &ciphertext, &shares).expect("decrypts"),
        PLAINTEXT
    );
}
