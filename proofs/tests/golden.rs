//! Golden tests: they freeze the bundle encoding, the output header encoding and digest, every
//! Merkle leaf and node construction, and the hash tags behind them. The L1 contract and every
//! rollup verifier depend on these bytes.
//!
//! A failure here means a format changed. Regenerating the constants (run
//! `cargo test -p shroud-proofs --test golden -- --ignored --nocapture print_golden`) is a
//! deliberate, reviewed format change, never a way to make a test pass.

use sha2::{Digest, Sha256};
use shroud_crypto::domains;
use shroud_proofs::merkle;
use shroud_proofs::namespace::namespace_leaf;
use shroud_proofs::output::{ciphertext_leaf, HeightContext};
use shroud_proofs::{
    build_output, Bundle, FailureReason, Item, NamespaceId, NamespaceItem, Outcome, OutputHeader,
    PositionEntry, TxId,
};

fn hex_hash(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

fn bundle() -> Bundle {
    Bundle {
        items: vec![
            Item {
                namespace: NamespaceId(0xA),
                data: b"swap 10 for 3".to_vec(),
            },
            Item {
                namespace: NamespaceId(0xB),
                data: b"bridge leg".to_vec(),
            },
        ],
    }
}

fn header() -> OutputHeader {
    OutputHeader {
        chain_id: 0x5348_524f_5544,
        epoch: 2,
        height: 77,
        block_digest: [1; 32],
        ciphertexts_root: [2; 32],
        payload_root: [3; 32],
        parent_output: [4; 32],
    }
}

fn item() -> NamespaceItem {
    NamespaceItem {
        tx_id: TxId::of(b"ciphertext"),
        position: 9,
        item_index: 1,
        bundle_digest: bundle().digest(),
        data: b"bridge leg".to_vec(),
    }
}

fn output_header() -> OutputHeader {
    let entries = vec![
        PositionEntry {
            tx_id: TxId::of(b"one"),
            outcome: Outcome::Decrypted(bundle()),
        },
        PositionEntry {
            tx_id: TxId::of(b"two"),
            outcome: Outcome::Failed(FailureReason::Undecryptable),
        },
    ];
    let context = HeightContext {
        chain_id: 1,
        epoch: 1,
        height: 5,
        block_digest: [7; 32],
        parent_output: [8; 32],
    };
    build_output(&context, &entries).header
}

fn tags() -> Vec<u8> {
    [
        domains::TX_ID,
        domains::BUNDLE_DIGEST,
        domains::OUTPUT_HEADER_DIGEST,
        domains::MERKLE_CIPHERTEXT_LEAF,
        domains::MERKLE_ITEM_LEAF,
        domains::MERKLE_NAMESPACE_LEAF,
        domains::MERKLE_NODE,
        domains::MERKLE_EMPTY,
        domains::MERKLE_SIZED_ROOT,
        domains::ITEM_DATA,
    ]
    .join(&b"|"[..])
}

fn values() -> Vec<(&'static str, String)> {
    let leaves: Vec<[u8; 32]> = (0u8..5).map(|i| [i; 32]).collect();
    vec![
        ("tags", hex_hash(&tags())),
        ("bundle encoding", hex_hash(&bundle().encode())),
        ("bundle digest", hex::encode(bundle().digest())),
        ("header encoding", hex_hash(&header().encoding())),
        ("header digest", hex::encode(header().digest())),
        ("item leaf", hex::encode(item().leaf())),
        (
            "namespace leaf",
            hex::encode(namespace_leaf(NamespaceId(0xB), &[item()])),
        ),
        (
            "ciphertext leaf",
            hex::encode(ciphertext_leaf(
                3,
                &PositionEntry {
                    tx_id: TxId::of(b"x"),
                    outcome: Outcome::Failed(FailureReason::Duplicate),
                },
            )),
        ),
        ("sized root of 5", hex::encode(merkle::sized_root(&leaves))),
        ("empty root", hex::encode(merkle::empty_root())),
        ("built header", hex::encode(output_header().encoding())),
    ]
}

const GOLDEN: &[(&str, &str)] = &[
    ("tags", "aa70725a476a91cab34a0ee3bbf3ab0946c215aae82690a0ce0f96b1a036f226"),
    ("bundle encoding", "5b647675cb41af126c9cfd0c95e6574994a90af258e3cbe52d32f6b205d01c04"),
    ("bundle digest", "8e7931f19fa6288295211fd74f2a19de7ff9766c549319488da9fc56c84c381f"),
    ("header encoding", "63821a4d74f2f20aeb80f7551d712c525fe9a606b52c38ee3f121cd72b689c70"),
    ("header digest", "c6c081c42ed6d8d1630bee63e4864960603804eba242eab22057e1f3f465ffdc"),
    ("item leaf", "cb9d9825ef23f43ae9cd6c2958f4c7dabbc1d12ff6051f30c85810007fb2464f"),
    ("namespace leaf", "9d70cb5b0d94deaa68b1938167e4b86fc28dae9c8fab941c64b84a32dc1a6c3a"),
    ("ciphertext leaf", "5e7edcfd577a737c7db7ce6f280a59284958ea459751734bd5c886e8fd4ae5a2"),
    ("sized root of 5", "ada27206741c41a88d9ac6a2e08237956c9f3e9446a9953fcb63fc7df8465ca9"),
    ("empty root", "f131feda8f4cbfb6f9c4a88f7042a294f6e497d482e26594a28ad77884db2cf0"),
    ("built header", "0000000000000001000000000000000100000000000000050707070707070707070707070707070707070707070707070707070707070707ac044bf47ca23f1aa766a905679f7c241d4937f99c240d34b994f6cb2b41228f0afec2cfdef98f12fbd0b686857e0433105dcfafb7366979e49761947e4997b40808080808080808080808080808080808080808080808080808080808080808"),
];

#[test]
#[ignore = "prints the golden values; run only to review a deliberate format change"]
fn print_golden() {
    for (name, value) in values() {
        println!("    (\"{name}\", \"{value}\"),");
    }
}

#[test]
fn formats_are_frozen() {
    let values = values();
    assert_eq!(values.len(), GOLDEN.len(), "every golden value is listed");
    for ((name, value), (golden_name, golden)) in values.iter().zip(GOLDEN) {
        assert_eq!(name, golden_name);
        assert_eq!(value, golden, "{name} changed: a format change");
    }
}
