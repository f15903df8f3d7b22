//! A validator's frame as the node's peer reader takes it: `shroud_node::runtime::decode_peer`,
//! then the checks the validator runs on each message before acting on it, against the
//! fixture's committee: consensus `verify_message` (and, for a proposal, the block payload's
//! decode and certificate checks), a batch's digest, summary and vouching check, an
//! acknowledgement through an `AckCollector`, a batch certificate's `verify`, decryption
//! shares (value decoding, the batch proof, `verify_share_batch`), combined points
//! (`are_shared_points`), output and epoch-key votes (through a `CertificateBuilder`), an
//! output certificate's `verify`, and a DKG post's `verify` (and a dealing's `check`).
#![no_main]

use libfuzzer_sys::fuzz_target;
use shroud_consensus::{verify_message, Limits as ConsensusLimits, Message};
use shroud_crypto::dkg::DkgBody;
use shroud_crypto::tdh2::{
    all_valid, decode_share_values, share_batch_from_parts, verify_share_batch, ShareBatchProof,
};
use shroud_crypto::{CertificateBuilder, Signature, SigningDomain};
use shroud_fuzz::{fixture, rng, CHAIN_ID, CIPHERTEXT_BYTES_MAX, EPOCH};
use shroud_network::Limits;
use shroud_node::batch::{AckCollector, Batch, BatchSummary, BlockPayload};
use shroud_node::decrypt::DecryptMessage;
use shroud_node::runtime::{decode_peer, PeerMessage};

fn check_vote(domain: SigningDomain, encoding: &[u8], signer: u16, signature: &[u8; 96]) {
    let f = fixture();
    let mut builder = CertificateBuilder::new(&f.keys, domain, encoding).expect("builder");
    if let Ok(signature) = Signature::from_bytes(signature) {
        let _ = builder.add(usize::from(signer), &signature);
    }
}

fuzz_target!(|data: &[u8]| {
    let f = fixture();
    let Ok(message) = decode_peer(data, &Limits::default()) else {
        return;
    };
    match message {
        PeerMessage::Consensus(message) | PeerMessage::ConsensusBulk(message) => {
            let payload = match &*message {
                Message::Proposal(proposal) => Some(proposal.block.payload.clone()),
                _ => None,
            };
            let _ = verify_message(&f.committee, &ConsensusLimits::default(), *message);
            if let Some(payload) = payload {
                if let Ok(decoded) = BlockPayload::from_payload(&payload, &f.committee, 64) {
                    let _ = decoded.check_dkg_posts(&f.committee, CHAIN_ID, |_| false);
                }
            }
        }
        PeerMessage::Batch(batch) => {
            let _ = batch.digest();
            let summary = BatchSummary::of(&batch);
            assert_eq!(summary.ids.len(), batch.transactions.len());
            let items: Vec<&[u8]> = batch.transactions.iter().map(Vec::as_slice).collect();
            let _ = all_valid(
                &items,
                CIPHERTEXT_BYTES_MAX,
                f.public.encryption_key(),
                &f.context,
                &mut rng(),
            );
        }
        PeerMessage::BatchAck(ack) => {
            let batch = Batch {
                epoch: EPOCH,
                author: 1,
                sequence: 0,
                valid_through: ack.valid_through,
                transactions: f.transactions.clone(),
            };
            let mut collector =
                AckCollector::new(&f.committee, &batch, ack.digest, 1).expect("collector");
            let _ = collector.add(&ack);
        }
        PeerMessage::BatchRequest(_) => {}
        PeerMessage::BatchCertificate(certificate) => {
            let _ = certificate.verify(&f.committee);
            let _ = certificate.signer_indices(f.committee.size());
        }
        PeerMessage::Decryption(DecryptMessage::Shares(shares)) => {
            let Ok(values) = decode_share_values(&shares.values) else {
                return;
            };
            let proof = if shares.proof.is_empty() {
                None
            } else {
                match ShareBatchProof::from_bytes(&shares.proof) {
                    Ok(proof) => Some(proof),
                    Err(_) => return,
                }
            };
            let batch = share_batch_from_parts(shares.sender.saturating_add(1), values, proof);
            let _ = verify_share_batch(&f.public, &f.verified_refs(), &batch);
        }
        PeerMessage::Decryption(DecryptMessage::Combined(combined)) => {
            let Ok(points) = decode_share_values(&combined.points) else {
                return;
            };
            if points.len() == f.verified.len() {
                let pairs: Vec<_> = f
                    .verified
                    .iter()
                    .zip(points)
                    .map(|(ciphertext, point)| (*ciphertext.u(), point))
                    .collect();
                let _ = f.public.are_shared_points(&pairs, &mut rng());
            }
        }
        PeerMessage::Decryption(DecryptMessage::Vote(vote)) => check_vote(
            SigningDomain::OutputHeader,
            &f.output.header.encoding(),
            vote.signer,
            &vote.signature,
        ),
        PeerMessage::Decryption(DecryptMessage::Certificate(certificate)) => {
            let _ = certificate.verify(&f.keys, CHAIN_ID, EPOCH);
        }
        PeerMessage::Decryption(DecryptMessage::Request(_)) => {}
        PeerMessage::EpochKeyVote(vote) => check_vote(
            SigningDomain::EpochKey,
            &shroud_crypto::encodings::epoch_key(CHAIN_ID, vote.epoch, &f.public.to_bytes()),
            vote.signer,
            &vote.signature,
        ),
        PeerMessage::DkgPost(post) => {
            if let Ok(message) = post.verify(&f.committee, CHAIN_ID) {
                assert_eq!(message.sender, post.sender);
                if let DkgBody::Dealing(dealing) = &message.body {
                    let _ = dealing.check(&f.dkg_params, message.round, message.sender);
                }
            }
        }
    }
});
