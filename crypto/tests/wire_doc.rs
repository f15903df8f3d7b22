//! `docs/wire.md` is enough to build a ciphertext: this test follows it step by step with
//! general-purpose primitives (arkworks for the curve, RFC 9380 hashing, HKDF, ChaCha20-Poly1305,
//! SHA-2), never calling the crate's encryption, and the crate's decoder, proof check and
//! threshold decryption accept what it built.

use ark_bls12_381::{g1, Fr, G1Affine, G1Projective};
use ark_ec::hashing::curve_maps::wb::WBMap;
use ark_ec::hashing::map_to_curve_hasher::MapToCurveBasedHasher;
use ark_ec::hashing::HashToCurve;
use ark_ec::{CurveGroup, PrimeGroup};
use ark_ff::field_hashers::DefaultFieldHasher;
use ark_ff::{BigInteger, PrimeField, UniformRand};
use ark_serialize::CanonicalSerialize;
use chacha20poly1305::aead::{Aead, KeyInit, Payload};
use chacha20poly1305::ChaCha20Poly1305;
use hkdf::Hkdf;
use rand_chacha::rand_core::SeedableRng;
use rand_chacha::ChaCha20Rng;
use sha2::{Digest, Sha256, Sha512};
use shroud_crypto::tdh2::{
    combine, create_share, trusted_dealer_for_local_testnet, verify_shares, Ciphertext, Context,
};

fn compressed(point: &G1Affine) -> Vec<u8> {
    let mut out = Vec::new();
    point.serialize_compressed(&mut out).expect("48 bytes");
    out
}

/// The ciphertext of `bundle` for key `h`, built from docs/wire.md §2 alone.
fn build_from_the_document(
    h: &G1Affine,
    chain_id: u64,
    epoch: u64,
    valid_through: u64,
    nonce: [u8; 32],
    bundle: &[u8],
    rng: &mut ChaCha20Rng,
) -> Vec<u8> {
    let mut label = Vec::new();
    label.extend_from_slice(&chain_id.to_be_bytes());
    label.extend_from_slice(&epoch.to_be_bytes());
    label.extend_from_slice(&valid_through.to_be_bytes());
    label.extend_from_slice(&nonce);
    assert_eq!(label.len(), 56);

    let hasher = MapToCurveBasedHasher::<
        G1Projective,
        DefaultFieldHasher<Sha256, 128>,
        WBMap<g1::Config>,
    >::new(b"SHROUD-V1-TDH2-GBAR_BLS12381G1_XMD:SHA-256_SSWU_RO_")
    .expect("hasher");
    let g_bar = hasher
        .hash(b"shroud tdh2 second generator")
        .expect("hash to curve");
    let g = G1Projective::generator();

    let (r, s) = (Fr::rand(rng), Fr::rand(rng));
    let u = (g * r).into_affine();
    let u_bar = (g_bar * r).into_affine();
    let w = (g * s).into_affine();
    let w_bar = (g_bar * s).into_affine();
    let shared = (*h * r).into_affine();

    let mut info = label.clone();
    info.extend_from_slice(&compressed(&u));
    let hkdf = Hkdf::<Sha256>::new(Some(b"SHROUD-V1-TDH2-AEAD-KEY"), &compressed(&shared));
    let mut okm = [0u8; 64];
    hkdf.expand(&info, &mut okm).expect("64 bytes");
    let (aead_key, key_commitment) = okm.split_at(32);

    let mut aad = b"SHROUD-V1-TDH2-LABEL".to_vec();
    aad.push(2);
    aad.extend_from_slice(&label);
    let payload = ChaCha20Poly1305::new(aead_key.into())
        .encrypt(
            &[0u8; 12].into(),
            Payload {
                msg: bundle,
                aad: &aad,
            },
        )
        .expect("encrypt");

    let tag = b"SHROUD-V1-TDH2-CIPHERTEXT-CHALLENGE";
    let mut transcript = Sha512::new();
    transcript.update([tag.len() as u8]);
    transcript.update(tag);
    transcript.update([2u8]);
    transcript.update(&label);
    for point in [h, &u, &u_bar, &w, &w_bar] {
        transcript.update(compressed(point));
    }
    transcript.update(key_commitment);
    transcript.update(Sha256::digest(&payload));
    let e = Fr::from_be_bytes_mod_order(&transcript.finalize());
    let f = s + r * e;

    let mut out = vec![2u8];
    out.extend_from_slice(&label);
    for point in [&u, &u_bar, &w, &w_bar] {
        out.extend_from_slice(&compressed(point));
    }
    let f_bytes = f.into_bigint().to_bytes_be();
    assert_eq!(f_bytes.len(), 32);
    out.extend_from_slice(&f_bytes);
    out.extend_from_slice(key_commitment);
    out.extend_from_slice(&(payload.len() as u32).to_be_bytes());
    out.extend_from_slice(&payload);
    out
}

#[test]
fn a_ciphertext_built_from_the_wire_document_is_accepted_and_decrypts() {
    let mut rng = ChaCha20Rng::seed_from_u64(2026);
    let (public, key_shares) =
        trusted_dealer_for_local_testnet(3, 4, &mut rng).expect("a dealt key");
    let h_bytes = public.encryption_key().to_bytes();
    let h = ark_serialize::CanonicalDeserialize::deserialize_compressed(&h_bytes[..])
        .expect("the key is a compressed G1 point");

    // §1: a two-item bundle.
    let mut bundle = vec![1u8];
    bundle.extend_from_slice(&2u16.to_be_bytes());
    for (namespace, data) in [(42u64, &b"leg a"[..]), (7u64, &b"leg b"[..])] {
        bundle.extend_from_slice(&namespace.to_be_bytes());
        bundle.extend_from_slice(&(data.len() as u32).to_be_bytes());
        bundle.extend_from_slice(data);
    }

    let bytes = build_from_the_document(&h, 77, 0, 1_000, [9; 32], &bundle, &mut rng);
    let ciphertext = Ciphertext::from_bytes(&bytes, 64 * 1024).expect("decodes");
    assert_eq!(ciphertext.to_bytes(), bytes, "the encoding is canonical");
    let context = Context {
        chain_id: 77,
        epoch: 0,
    };
    let verified = ciphertext
        .verify(public.encryption_key(), &context)
        .expect("the proof holds");

    let shares = key_shares
        .iter()
        .map(|share| (&verified, create_share(share, &verified, &mut rng)))
        .collect();
    let checked: Vec<_> = verify_shares(&public, shares, &mut rng)
        .into_iter()
        .map(|share| share.expect("honest share"))
        .collect();
    let opened = combine(&public, &verified, &checked[..3]).expect("three shares open it");
    assert_eq!(opened, bundle);
    let decoded = shroud_proofs_free_bundle_items(&opened);
    assert_eq!(
        decoded,
        vec![(42, b"leg a".to_vec()), (7, b"leg b".to_vec())]
    );

    // §3: the transaction id.
    let mut id = Sha256::new();
    id.update(b"SHROUD-V1-TX");
    id.update(&bytes);
    assert_eq!(id.finalize().len(), 32);

    // Another chain id in the context: refused (the label is bound).
    let again = Ciphertext::from_bytes(&bytes, 64 * 1024).expect("decodes");
    assert!(again
        .verify(
            public.encryption_key(),
            &Context {
                chain_id: 78,
                epoch: 0
            }
        )
        .is_err());
}

/// §1's bundle read back by hand (this crate does not depend on `shroud-proofs`).
fn shroud_proofs_free_bundle_items(bytes: &[u8]) -> Vec<(u64, Vec<u8>)> {
    assert_eq!(bytes[0], 1);
    let count = u16::from_be_bytes([bytes[1], bytes[2]]);
    let mut at = 3;
    let mut out = Vec::new();
    for _ in 0..count {
        let namespace = u64::from_be_bytes(bytes[at..at + 8].try_into().expect("8"));
        let length = u32::from_be_bytes(bytes[at + 8..at + 12].try_into().expect("4")) as usize;
        out.push((namespace, bytes[at + 12..at + 12 + length].to_vec()));
        at += 12 + length;
    }
    assert_eq!(at, bytes.len());
    out
}
