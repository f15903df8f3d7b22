//! The contract and the Rust verifier a rollup links agree: over random signer sets and random
//! single-byte changes to a certified header or its signature, the contract accepts exactly
//! the certificates `OutputCertificate::verify` accepts (with the header extending the last).

mod common;

use common::{Committee, Outputs, CHAIN_ID};
use proptest::prelude::*;
use shroud_l1::calldata::Anchor;
use shroud_l1::evm::LightClient;
use shroud_proofs::OutputHeader;

fn header_from(bytes: &[u8; OutputHeader::ENCODED_BYTES]) -> OutputHeader {
    let u64_at = |at: usize| u64::from_be_bytes(bytes[at..at + 8].try_into().expect("8 bytes"));
    let hash_at = |at: usize| -> [u8; 32] { bytes[at..at + 32].try_into().expect("32 bytes") };
    OutputHeader {
        chain_id: u64_at(0),
        epoch: u64_at(8),
        height: u64_at(16),
        block_digest: hash_at(24),
        ciphertexts_root: hash_at(56),
        payload_root: hash_at(88),
        parent_output: hash_at(120),
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 48, ..ProptestConfig::default() })]

    #[test]
    fn the_contract_accepts_what_the_rust_verifier_accepts(
        signed in 1u8..=0x7f,
        claimed_extra in prop_oneof![3 => Just(0u8), 1 => 1u8..=0x7f],
        header_byte in proptest::option::of(0usize..OutputHeader::ENCODED_BYTES),
        flip in 1u8..=255,
    ) {
        let committee = Committee::new(9, 7, 2);
        let signers: Vec<usize> = (0..7).filter(|i| signed & (1 << i) != 0).collect();
        let output = Outputs::new(committee.epoch).next();
        let mut certificate = committee.certify(&output, &signers);
        // Claim members who did not sign, or change one byte of the header after signing.
        certificate.signers[0] |= claimed_extra;
        if let Some(at) = header_byte {
            let mut bytes = certificate.header.encoding();
            bytes[at] ^= flip;
            certificate.header = header_from(&bytes);
        }
        let rust = certificate.verify(&committee.keys, CHAIN_ID, committee.epoch).is_ok()
            && certificate.header.height == 1
            && certificate.header.parent_output == [0; 32];
        let mut client = LightClient::deploy(
            CHAIN_ID,
            committee.epoch,
            &committee.keys,
            Anchor { height: 0, output: [0; 32] },
            8,
        )
        .expect("evm")
        .expect("deployed");
        let contract = client.submit_output(&certificate).expect("evm");
        prop_assert_eq!(rust, contract.is_ok(), "rust {} contract {:?}", rust, contract);
    }
}
