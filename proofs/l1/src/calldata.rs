//! Calldata for the light-client contract, from `shroud-proofs` types.
//!
//! The ABI encoding here covers what the contract's functions take: `uint64`, `bytes32` and
//! `bytes` arguments (Solidity ABI spec: static arguments in the head, each `bytes` as an
//! offset in the head and a length-prefixed, zero-padded tail).

use shroud_crypto::{CommitteeKeys, Signature};
use shroud_proofs::merkle::Hash;
use shroud_proofs::{HandoverCertificate, NamespaceProof, NeighbourLeaf, OutputCertificate};

use crate::{Artefact, L1Error};

/// One ABI argument.
#[derive(Clone, Debug)]
pub enum Token {
    /// A `uint64` (or any unsigned integer up to 64 bits).
    Uint(u64),
    /// A `bytes32`.
    Word([u8; 32]),
    /// A dynamic `bytes`.
    Bytes(Vec<u8>),
}

/// ABI-encodes a list of arguments (no selector).
pub fn encode(tokens: &[Token]) -> Vec<u8> {
    let head_len = 32 * tokens.len();
    let mut head = Vec::with_capacity(head_len);
    let mut tail = Vec::new();
    for token in tokens {
        match token {
            Token::Uint(value) => head.extend_from_slice(&word_u64(*value)),
            Token::Word(word) => head.extend_from_slice(word),
            Token::Bytes(bytes) => {
                head.extend_from_slice(&word_u64((head_len + tail.len()) as u64));
                tail.extend_from_slice(&word_u64(bytes.len() as u64));
                tail.extend_from_slice(bytes);
                tail.resize(tail.len().div_ceil(32) * 32, 0);
            }
        }
    }
    head.extend_from_slice(&tail);
    head
}

fn word_u64(value: u64) -> [u8; 32] {
    let mut word = [0u8; 32];
    word[24..].copy_from_slice(&value.to_be_bytes());
    word
}

/// `selector || encode(tokens)`.
pub fn call(artefact: &Artefact, signature: &str, tokens: &[Token]) -> Result<Vec<u8>, L1Error> {
    let mut data = artefact.selector(signature)?.to_vec();
    data.extend_from_slice(&encode(tokens));
    Ok(data)
}

/// The committee's keys as the contract takes them: EIP-2537 G1 encodings, concatenated.
pub fn committee_keys(keys: &CommitteeKeys) -> Vec<u8> {
    keys.keys()
        .iter()
        .flat_map(|key| key.to_eip2537())
        .collect()
}

/// Where the contract starts following the chain.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Anchor {
    /// The height after which outputs are submitted (0 for a new chain).
    pub height: u64,
    /// That height's header digest (zero for a new chain).
    pub output: [u8; 32],
}

/// Deployment code: the creation bytecode followed by the constructor's arguments.
pub fn deployment(
    artefact: &Artefact,
    chain_id: u64,
    epoch: u64,
    keys: &CommitteeKeys,
    anchor: Anchor,
    ring_size: u64,
) -> Vec<u8> {
    let mut code = artefact.bytecode.clone();
    code.extend_from_slice(&encode(&[
        Token::Uint(chain_id),
        Token::Uint(epoch),
        Token::Bytes(committee_keys(keys)),
        Token::Uint(anchor.height),
        Token::Word(anchor.output),
        Token::Uint(ring_size),
    ]));
    code
}

fn signature_eip2537(signature: &[u8; 96]) -> Result<Vec<u8>, L1Error> {
    let signature =
        Signature::from_bytes(signature).map_err(|e| L1Error::Encode(format!("signature: {e}")))?;
    Ok(signature.to_eip2537().to_vec())
}

/// `submitOutput(header, signers, signature)` for a certificate.
pub fn submit_output(
    artefact: &Artefact,
    certificate: &OutputCertificate,
) -> Result<Vec<u8>, L1Error> {
    call(
        artefact,
        "submitOutput(bytes,bytes,bytes)",
        &[
            Token::Bytes(certificate.header.encoding().to_vec()),
            Token::Bytes(certificate.signers.clone()),
            Token::Bytes(signature_eip2537(&certificate.signature)?),
        ],
    )
}

/// `handOver(handover, nextKeys, signers, signature)` for a handover certificate.
pub fn hand_over(
    artefact: &Artefact,
    certificate: &HandoverCertificate,
) -> Result<Vec<u8>, L1Error> {
    let encoding = certificate
        .handover
        .encoding()
        .ok_or_else(|| L1Error::Encode("the epoch after u64::MAX".into()))?;
    call(
        artefact,
        "handOver(bytes,bytes,bytes,bytes)",
        &[
            Token::Bytes(encoding.to_vec()),
            Token::Bytes(committee_keys(&certificate.handover.next_keys)),
            Token::Bytes(certificate.signers.clone()),
            Token::Bytes(signature_eip2537(&certificate.signature)?),
        ],
    )
}

/// The contract's compact encoding of a namespace proof (see `verifyNamespace` in the
/// contract). `item_count` is the namespace's item count for an inclusion proof.
pub fn namespace_proof(proof: &NamespaceProof, item_count: u64) -> Result<Vec<u8>, L1Error> {
    let mut out = Vec::new();
    match proof {
        NamespaceProof::Inclusion {
            leaf_index,
            leaf_count,
            siblings,
        } => {
            out.push(0x00);
            out.extend_from_slice(&item_count.to_be_bytes());
            out.extend_from_slice(&leaf_index.to_be_bytes());
            out.extend_from_slice(&leaf_count.to_be_bytes());
            for sibling in siblings {
                out.extend_from_slice(sibling);
            }
        }
        NamespaceProof::Absence {
            leaf_count,
            left,
            right,
        } => {
            out.push(0x01);
            out.extend_from_slice(&leaf_count.to_be_bytes());
            for neighbour in [left, right] {
                put_neighbour(&mut out, neighbour.as_ref())?;
            }
        }
    }
    Ok(out)
}

fn put_neighbour(out: &mut Vec<u8>, neighbour: Option<&NeighbourLeaf>) -> Result<(), L1Error> {
    let Some(leaf) = neighbour else {
        out.push(0x00);
        return Ok(());
    };
    let sibling_count = u8::try_from(leaf.siblings.len())
        .map_err(|_| L1Error::Encode("a path longer than 255 hashes".into()))?;
    out.push(0x01);
    out.extend_from_slice(&leaf.leaf_index.to_be_bytes());
    out.extend_from_slice(&leaf.namespace.0.to_be_bytes());
    out.extend_from_slice(&leaf.item_count.to_be_bytes());
    out.extend_from_slice(&leaf.items_root);
    out.push(sibling_count);
    for sibling in &leaf.siblings {
        out.extend_from_slice(sibling);
    }
    Ok(())
}

/// `verifyNamespace(height, namespace, itemsRoot, proof)`.
pub fn verify_namespace(
    artefact: &Artefact,
    height: u64,
    namespace: u64,
    items_root: Hash,
    proof: Vec<u8>,
) -> Result<Vec<u8>, L1Error> {
    call(
        artefact,
        "verifyNamespace(uint64,uint64,bytes32,bytes)",
        &[
            Token::Uint(height),
            Token::Uint(namespace),
            Token::Word(items_root),
            Token::Bytes(proof),
        ],
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bytes_arguments_follow_the_abi_layout() {
        // f(uint64 1, bytes "ab", bytes32 0x11..) → head: 1, offset 96, word; tail: 2, "ab".
        let data = encode(&[
            Token::Uint(1),
            Token::Bytes(b"ab".to_vec()),
            Token::Word([0x11; 32]),
        ]);
        assert_eq!(data.len(), 5 * 32);
        assert_eq!(data[31], 1);
        assert_eq!(data[63], 96);
        assert_eq!(&data[64..96], &[0x11; 32]);
        assert_eq!(data[127], 2);
        assert_eq!(&data[128..130], b"ab");
        assert!(data[130..].iter().all(|b| *b == 0));
    }
}
