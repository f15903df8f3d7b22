//! Criterion benchmarks of `shroud-crypto`, beside the primitives they are built from (G1
//! scalar multiplication in blst and in arkworks, one pairing), so the overhead over the
//! primitive is visible. Run: `cargo bench -p shroud-benches --bench crypto`.

use std::time::Duration;

use ark_bls12_381::{Bls12_381, Fr, G1Affine, G1Projective, G2Projective};
use ark_ec::pairing::Pairing;
use ark_ec::{CurveGroup, PrimeGroup, VariableBaseMSM};
use ark_std::UniformRand;
use criterion::{black_box, criterion_group, criterion_main, BenchmarkId, Criterion};
use rand_chacha::rand_core::SeedableRng;
use rand_chacha::ChaCha20Rng;
use shroud_crypto::bls::{verify_batch, BatchItem};
use shroud_crypto::tdh2::{
    combine, combine_many_optimistic, combine_optimistic, combine_share_batches, create_share,
    create_share_batch, encrypt, trusted_dealer_for_local_testnet, verify_ciphertexts,
    verify_share, verify_share_batch, verify_shares, Ciphertext, Context, DecryptionShare,
    KeyShare, Label, PublicKeySet, ShareBatch, VerifiedCiphertext, VerifiedShare,
};
use shroud_crypto::{
    CertificateBuilder, CommitteeKeys, ProofOfPossession, PublicKey, SecretKey, Signature,
    SigningDomain,
};

fn rng() -> ChaCha20Rng {
    ChaCha20Rng::seed_from_u64(0xbe9c)
}

const CONTEXT: Context = Context {
    chain_id: 1,
    epoch: 1,
};

fn label(i: u64) -> Label {
    Label {
        chain_id: 1,
        epoch: 1,
        valid_through: 1_000,
        nonce: [(i % 251) as u8; 32],
    }
}

fn primitives(c: &mut Criterion) {
    let mut rng = rng();
    let scalar = Fr::rand(&mut rng);
    let point = (G1Projective::generator() * Fr::rand(&mut rng)).into_affine();
    c.bench_function("primitive::g1_mul/lib=arkworks", |b| {
        b.iter(|| black_box(point) * black_box(scalar))
    });
    // What every multiplication by a secret scalar costs: blst's constant-time multiplication
    // with the points and the scalar carried over from arkworks and back.
    let secret = shroud_crypto::secret_scalar::Secret::new(scalar);
    c.bench_function("primitive::g1_mul/lib=blst-secret", |b| {
        b.iter(|| black_box(&secret).g1(black_box(&point)))
    });

    // blst: one variable-base multiplication through the safe API (a one-term
    // multi-scalar multiplication with a full 255-bit scalar).
    let key = SecretKey::generate(&mut rng).public_key();
    let blst_key = blst::min_pk::PublicKey::from_bytes(&key.to_bytes()).expect("valid key");
    let scalar_bytes: Vec<u8> = (0..32).map(|i| (i * 7 + 3) as u8 & 0x3f).collect();
    c.bench_function("primitive::g1_mul/lib=blst", |b| {
        b.iter(|| {
            blst::min_pk::AggregatePublicKey::aggregate_with_randomness(
                black_box(&[blst_key]),
                black_box(&scalar_bytes),
                255,
                false,
            )
        })
    });

    let g2 = (G2Projective::generator() * Fr::rand(&mut rng)).into_affine();
    c.bench_function("primitive::pairing/lib=arkworks", |b| {
        b.iter(|| Bls12_381::pairing(black_box(point), black_box(g2)))
    });
    let signature = SecretKey::generate(&mut rng).sign(SigningDomain::Vote, b"x");
    let blst_signature =
        blst::min_pk::Signature::from_bytes(&signature.to_bytes()).expect("valid signature");
    let p1 = blst::blst_p1_affine::from(blst_key);
    let p2 = blst::blst_p2_affine::from(blst_signature);
    c.bench_function("primitive::pairing/lib=blst", |b| {
        b.iter(|| blst::blst_fp12::miller_loop(black_box(&p2), black_box(&p1)).final_exp())
    });

    let mut group = c.benchmark_group("primitive::g1_msm/lib=arkworks");
    for size in [100usize, 1000] {
        let bases: Vec<G1Affine> = G1Projective::normalize_batch(
            &(0..size)
                .map(|_| G1Projective::generator() * Fr::rand(&mut rng))
                .collect::<Vec<_>>(),
        );
        let scalars: Vec<Fr> = (0..size).map(|_| Fr::rand(&mut rng)).collect();
        group.bench_function(BenchmarkId::from_parameter(format!("points={size}")), |b| {
            b.iter(|| G1Projective::msm(black_box(&bases), black_box(&scalars)))
        });
    }
    group.finish();
}

fn committee(size: usize) -> (Vec<SecretKey>, CommitteeKeys) {
    let mut rng = rng();
    let secrets: Vec<SecretKey> = (0..size).map(|_| SecretKey::generate(&mut rng)).collect();
    let members: Vec<(PublicKey, ProofOfPossession)> = secrets
        .iter()
        .map(|secret| (secret.public_key(), secret.prove_possession()))
        .collect();
    (secrets, CommitteeKeys::new(&members).expect("committee"))
}

fn bls(c: &mut Criterion) {
    let mut rng = rng();
    let secret = SecretKey::generate(&mut rng);
    let public = secret.public_key();
    let encoding = [7u8; 120];
    c.bench_function("bls::sign", |b| {
        b.iter(|| secret.sign(SigningDomain::Vote, black_box(&encoding)))
    });
    let signature = secret.sign(SigningDomain::Vote, &encoding);
    c.bench_function("bls::verify", |b| {
        b.iter(|| public.verify(SigningDomain::Vote, black_box(&encoding), &signature))
    });

    let mut group = c.benchmark_group("bls::certificate_verify");
    for size in [4usize, 16, 100] {
        let (secrets, keys) = committee(size);
        let threshold = 2 * ((size - 1) / 3) + 1;
        let mut builder =
            CertificateBuilder::new(&keys, SigningDomain::OutputHeader, &encoding).expect("new");
        for (index, secret) in secrets.iter().enumerate().take(threshold) {
            let vote = secret.sign(SigningDomain::OutputHeader, &encoding);
            builder.add(index, &vote).expect("valid vote");
        }
        let certificate = builder.finish(threshold).expect("quorum");
        group.bench_function(
            BenchmarkId::from_parameter(format!("signers={threshold}/n={size}")),
            |b| {
                b.iter(|| {
                    certificate
                        .verify(
                            &keys,
                            threshold,
                            SigningDomain::OutputHeader,
                            black_box(&encoding),
                        )
                        .expect("valid")
                })
            },
        );
    }
    group.finish();

    let secrets: Vec<SecretKey> = (0..100).map(|_| SecretKey::generate(&mut rng)).collect();
    let keys: Vec<PublicKey> = secrets.iter().map(SecretKey::public_key).collect();
    let encodings: Vec<[u8; 8]> = (0..100u64).map(u64::to_be_bytes).collect();
    let signatures: Vec<Signature> = secrets
        .iter()
        .zip(&encodings)
        .map(|(secret, encoding)| secret.sign(SigningDomain::Vote, encoding))
        .collect();
    let items: Vec<BatchItem<'_>> = (0..100)
        .map(|i| BatchItem {
            public_key: &keys[i],
            domain: SigningDomain::Vote,
            encoding: &encodings[i],
            signature: &signatures[i],
        })
        .collect();
    c.bench_function("bls::batch_verify/votes=100", |b| {
        b.iter(|| verify_batch(black_box(&items), &mut rng).expect("valid"))
    });
}

struct Setup {
    public: PublicKeySet,
    key_shares: Vec<KeyShare>,
}

fn setup(threshold: usize, share_count: usize) -> Setup {
    let (public, key_shares) =
        trusted_dealer_for_local_testnet(threshold, share_count, &mut rng()).expect("dealer");
    Setup { public, key_shares }
}

fn verified(setup: &Setup, count: u64, rng: &mut ChaCha20Rng) -> Vec<VerifiedCiphertext> {
    (0..count)
        .map(|i| {
            encrypt(setup.public.encryption_key(), label(i), &[1u8; 1024], rng)
                .verify(setup.public.encryption_key(), &CONTEXT)
                .expect("valid")
        })
        .collect()
}

fn threshold_encryption(c: &mut Criterion) {
    let mut rng = rng();
    let four = setup(2, 4);
    let key = *four.public.encryption_key();
    let payload = vec![0x5au8; 1024];
    c.bench_function("tdh2::encrypt/payload=1KiB", |b| {
        b.iter(|| encrypt(&key, label(1), black_box(&payload), &mut rng))
    });
    // What a client pays for one transaction, as the SDK's `encrypt_bytes` does it: a 512 B
    // one-item bundle encoded, encrypted, and written out. Its primitives are five
    // constant-time multiplications (`primitive::g1_mul/lib=blst-secret`), two hashes to a
    // scalar, HKDF and the AEAD over about 530 bytes.
    let bundle = shroud_proofs::Bundle {
        items: vec![shroud_proofs::Item {
            namespace: shroud_proofs::NamespaceId(0xa),
            data: vec![0x5a; 512],
        }],
    };
    c.bench_function("client::encrypt_bundle/payload=512", |b| {
        b.iter(|| encrypt(&key, label(1), &black_box(&bundle).encode(), &mut rng).to_bytes())
    });
    let ciphertext = encrypt(&key, label(1), &payload, &mut rng);
    c.bench_function("tdh2::ciphertext_verify", |b| {
        b.iter(|| ciphertext.clone().verify(&key, &CONTEXT).expect("valid"))
    });
    let block: Vec<_> = (0..100)
        .map(|i| encrypt(&key, label(i), &payload, &mut rng))
        .collect();
    c.bench_function("tdh2::ciphertext_verify_batch/ciphertexts=100", |b| {
        b.iter(|| verify_ciphertexts(block.clone(), &key, &CONTEXT, &mut rng))
    });

    // Decoding checks every point (on the curve, in the subgroup, canonical): four points in
    // a ciphertext, three in a share.
    let ciphertext_bytes = ciphertext.to_bytes();
    c.bench_function("tdh2::ciphertext_decode/payload=1KiB", |b| {
        b.iter(|| Ciphertext::from_bytes(black_box(&ciphertext_bytes), 4096).expect("decodes"))
    });
    // What classification decodes of a certified batch's ciphertext: the label and `u` only.
    c.bench_function("tdh2::ciphertext_decode_vouched/payload=1KiB", |b| {
        b.iter(|| {
            VerifiedCiphertext::vouched(black_box(&ciphertext_bytes), 4096, &key).expect("decodes")
        })
    });

    let verified_one = ciphertext.clone().verify(&key, &CONTEXT).expect("valid");
    c.bench_function("tdh2::share_create", |b| {
        b.iter(|| create_share(&four.key_shares[0], black_box(&verified_one), &mut rng))
    });
    let share = create_share(&four.key_shares[0], &verified_one, &mut rng);
    let share_bytes = share.to_bytes();
    c.bench_function("tdh2::share_decode", |b| {
        b.iter(|| DecryptionShare::from_bytes(black_box(&share_bytes)).expect("decodes"))
    });
    c.bench_function("tdh2::share_verify", |b| {
        b.iter(|| verify_share(&four.public, &verified_one, share.clone()).expect("valid"))
    });

    // One validator's shares of a 1,000-ciphertext block, checked as one batch.
    let block = verified(&four, 1000, &mut rng);
    let shares: Vec<DecryptionShare> = block
        .iter()
        .map(|ciphertext| create_share(&four.key_shares[1], ciphertext, &mut rng))
        .collect();
    let mut group = c.benchmark_group("tdh2::share_verify_batch");
    group.sample_size(10);
    group.bench_function(BenchmarkId::from_parameter("shares=1000"), |b| {
        b.iter(|| {
            let items = block.iter().zip(shares.iter().cloned()).collect();
            verify_shares(&four.public, items, &mut rng)
        })
    });
    group.finish();

    let mut group = c.benchmark_group("tdh2::combine");
    for (threshold, share_count) in [(2usize, 4usize), (34, 100)] {
        let setup = setup(threshold, share_count);
        let ciphertext = verified(&setup, 1, &mut rng).remove(0);
        let shares: Vec<VerifiedShare> = setup.key_shares[..threshold]
            .iter()
            .map(|key_share| {
                let share = create_share(key_share, &ciphertext, &mut rng);
                verify_share(&setup.public, &ciphertext, share).expect("valid")
            })
            .collect();
        group.bench_function(BenchmarkId::from_parameter(format!("t={threshold}")), |b| {
            b.iter(|| combine(&setup.public, &ciphertext, black_box(&shares)).expect("decrypts"))
        });
    }
    group.finish();

    // The decryption stage's path: unverified shares, optimistic combine with the pairing
    // check, for a 100-ciphertext block at t = 2 of 4: one by one, and as one batch.
    let block = verified(&four, 100, &mut rng);
    let block_shares: Vec<Vec<DecryptionShare>> = block
        .iter()
        .map(|ciphertext| {
            four.key_shares[..2]
                .iter()
                .map(|key_share| create_share(key_share, ciphertext, &mut rng))
                .collect()
        })
        .collect();
    let mut group = c.benchmark_group("tdh2::combine_optimistic");
    group.sample_size(10);
    group.bench_function(BenchmarkId::from_parameter("each/ciphertexts=100"), |b| {
        b.iter(|| {
            for (ciphertext, shares) in block.iter().zip(&block_shares) {
                combine_optimistic(&four.public, ciphertext, shares.clone(), &mut rng)
                    .expect("decided");
            }
        })
    });
    group.bench_function(BenchmarkId::from_parameter("block/ciphertexts=100"), |b| {
        b.iter(|| {
            let items = block.iter().zip(block_shares.iter().cloned()).collect();
            combine_many_optimistic(&four.public, items, &mut rng)
        })
    });
    group.finish();

    // The decryption stage's path since ADR 0011: a validator's shares of a 100-ciphertext
    // block with one proof; the proof checked; the block combined from two senders' values
    // (with the pairing check) and every payload opened.
    let refs: Vec<&VerifiedCiphertext> = block.iter().collect();
    let mut group = c.benchmark_group("tdh2::share_batch");
    group.sample_size(10);
    // On a pool of one worker and of one per core: the per-position multiplications spread.
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    let pools: Vec<(usize, rayon::ThreadPool)> = [1, cores]
        .into_iter()
        .map(|workers| {
            let pool = rayon::ThreadPoolBuilder::new()
                .num_threads(workers)
                .build()
                .expect("a pool");
            (workers, pool)
        })
        .collect();
    for (workers, pool) in &pools {
        group.bench_function(
            BenchmarkId::from_parameter(format!("create/ciphertexts=100,workers={workers}")),
            |b| {
                b.iter(|| {
                    pool.install(|| {
                        create_share_batch(&four.key_shares[0], black_box(&refs), &mut rng)
                    })
                })
            },
        );
    }
    let batches: Vec<ShareBatch> = four.key_shares[..2]
        .iter()
        .map(|key_share| create_share_batch(key_share, &refs, &mut rng))
        .collect();
    group.bench_function(BenchmarkId::from_parameter("verify/ciphertexts=100"), |b| {
        b.iter(|| verify_share_batch(&four.public, &refs, &batches[0]).expect("valid"))
    });
    for (workers, pool) in &pools {
        group.bench_function(
            BenchmarkId::from_parameter(format!(
                "combine_and_open/t=2,ciphertexts=100,workers={workers}"
            )),
            |b| {
                b.iter(|| {
                    pool.install(|| {
                        let senders: Vec<_> = batches
                            .iter()
                            .map(|batch| (batch.index(), batch.values()))
                            .collect();
                        let points = combine_share_batches(&four.public, &refs, &senders, &mut rng)
                            .expect("enough")
                            .expect("honest");
                        for (ciphertext, point) in refs.iter().zip(&points) {
                            ciphertext.open(point).expect("opens");
                        }
                    })
                })
            },
        );
    }
    group.finish();
}

fn config() -> Criterion {
    Criterion::default()
        .sample_size(20)
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(2))
}

criterion_group! {
    name = benches;
    config = config();
    targets = primitives, bls, threshold_encryption
}
criterion_main!(benches);
