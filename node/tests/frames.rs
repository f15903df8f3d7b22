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
