//! Consensus messages survive rkyv encoding and validated decoding.

use shroud_consensus::{Epoch, Message, QuorumCertificate, Timeout, ValidatorIndex, View};

#[test]
fn messages_round_trip() {
    let timeout = Timeout {
        epoch: Epoch(1),
        view: View(3),
        high_qc: QuorumCertificate::genesis(Epoch(1)),
        last_tc: None,
        signer: ValidatorIndex(2),
        signature: [7; 96],
    };
    let bytes = rkyv::to_bytes::<rkyv::rancor::Error>(&timeout).expect("encode");
    let back = rkyv::from_bytes::<Timeout, rkyv::rancor::Error>(&bytes);
    assert_eq!(back.as_ref().ok(), Some(&timeout), "{back:?}");
    let message = Message::Timeout(timeout);
    let bytes = rkyv::to_bytes::<rkyv::rancor::Error>(&message).expect("encode");
    let back = rkyv::from_bytes::<Message, rkyv::rancor::Error>(&bytes);
    assert_eq!(back.as_ref().ok(), Some(&message), "{back:?}");
}
