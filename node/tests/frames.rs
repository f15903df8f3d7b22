//! Every peer message survives the frame encoding.

use shroud_consensus::{Epoch, Message, QuorumCertificate, Timeout, ValidatorIndex, View};
use shroud_network::frame;
use shroud_network::{FrameKind, Limits};
use shroud_node::runtime::{decode_peer, PeerMessage};

#[test]
fn consensus_messages_round_trip_through_frames() {
    let limits = Limits::default();
    let timeout = Message::Timeout(Timeout {
        epoch: Epoch(1),
        view: View(3),
        high_qc: QuorumCertificate::genesis(Epoch(1)),
        last_tc: None,
        signer: ValidatorIndex(2),
        signature: [7; 96],
    });
    let bytes = frame::encode(FrameKind::Consensus, &timeout, &limits).expect("encode");
    match decode_peer(&bytes, &limits) {
        Ok(PeerMessage::Consensus(message)) => assert_eq!(*message, timeout),
        other => panic!("{other:?}"),
    }
}

#[test]
fn decryption_stage_messages_round_trip_through_frames() {
    use shroud_node::decrypt::DecryptMessage;
    use shroud_node::wire::{DecryptionRequest, OutputVote, SharesMessage};
    let limits = Limits::default();
    let shares = SharesMessage {
        epoch: 1,
        height: 9,
        block_digest: [3; 32],
        sender: 2,
        positions: vec![0, 4],
        values: vec![[5; shroud_crypto::tdh2::POINT_BYTES]; 2],
        proof: vec![6; shroud_crypto::tdh2::SHARE_BATCH_PROOF_BYTES],
    };
    let bytes = frame::encode(FrameKind::DecryptionShares, &shares, &limits).expect("encode");
    match decode_peer(&bytes, &limits) {
        Ok(PeerMessage::Decryption(DecryptMessage::Shares(decoded))) => assert_eq!(decoded, shares),
        other => panic!("{other:?}"),
    }
    let vote = OutputVote {
        epoch: 1,
        height: 9,
        header_digest: [8; 32],
        signer: 3,
        signature: [9; 96],
    };
    let bytes = frame::encode(FrameKind::OutputVote, &vote, &limits).expect("encode");
    match decode_peer(&bytes, &limits) {
        Ok(PeerMessage::Decryption(DecryptMessage::Vote(decoded))) => assert_eq!(decoded, vote),
        other => panic!("{other:?}"),
    }
    let request = DecryptionRequest {
        epoch: 1,
        height: 9,
        count: 4,
    };
    let bytes = frame::encode(FrameKind::DecryptionRequest, &request, &limits).expect("encode");
    match decode_peer(&bytes, &limits) {
        Ok(PeerMessage::Decryption(DecryptMessage::Request(decoded))) => {
            assert_eq!(decoded, request)
        }
        other => panic!("{other:?}"),
    }
    // A vote's body under the shares kind is refused, not misread.
    let bytes = frame::encode(FrameKind::DecryptionShares, &vote, &limits).expect("encode");
    assert!(decode_peer(&bytes, &limits).is_err());
}
