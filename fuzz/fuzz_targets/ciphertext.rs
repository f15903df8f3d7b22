//! A client's ciphertext: `Ciphertext::from_bytes` with the node's limit. The wire format is
//! canonical (canonical points and scalar, exact length), so a decoded ciphertext must encode
//! back to the same bytes. The cheap readers (`Label::peek`, `Ciphertext::peek_encapsulation`)
//! must agree with the decode, `VerifiedCiphertext::vouched` must accept what decodes (it
//! checks less), and the validity proof is checked against the fixture's key
//! (`Ciphertext::verify` and the batched `verify_ciphertexts` must agree).
#![no_main]

use libfuzzer_sys::fuzz_target;
use shroud_crypto::tdh2::{verify_ciphertexts, Ciphertext, Label, VerifiedCiphertext};
use shroud_fuzz::{fixture, rng, CIPHERTEXT_BYTES_MAX};

fuzz_target!(|data: &[u8]| {
    let f = fixture();
    let key = f.public.encryption_key();
    let vouched = VerifiedCiphertext::vouched(data, CIPHERTEXT_BYTES_MAX, key);
    let Ok(ciphertext) = Ciphertext::from_bytes(data, CIPHERTEXT_BYTES_MAX) else {
        return;
    };
    assert_eq!(
        ciphertext.to_bytes(),
        data,
        "ciphertext encoding is not canonical"
    );
    assert_eq!(Label::peek(data).as_ref(), Some(ciphertext.label()));
    assert_eq!(
        Ciphertext::peek_encapsulation(data),
        Some(ciphertext.encapsulation_bytes())
    );
    let vouched = vouched.expect("what decodes is accepted as vouched for");
    assert_eq!(
        vouched.encapsulation_bytes(),
        ciphertext.encapsulation_bytes()
    );
    assert_eq!(vouched.payload(), ciphertext.payload());

    let single = ciphertext.clone().verify(key, &f.context);
    if let Ok(verified) = &single {
        assert_eq!(verified.payload(), ciphertext.payload());
    }
    // Batched with a valid ciphertext of the fixture, the verdicts are the single ones.
    let good = Ciphertext::from_bytes(&f.transactions[0], CIPHERTEXT_BYTES_MAX).expect("decodes");
    let verdicts = verify_ciphertexts(vec![ciphertext, good], key, &f.context, &mut rng());
    assert_eq!(verdicts.len(), 2);
    assert_eq!(
        verdicts[0].is_ok(),
        single.is_ok(),
        "batched and single verdicts differ"
    );
    assert!(
        verdicts[1].is_ok(),
        "a valid ciphertext was refused in a batch"
    );
});
