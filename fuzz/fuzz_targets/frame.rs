//! Every frame a peer or a client can send, and every answer a client reads:
//! `shroud_network::frame::parse` (header: limits, version, kind, length), then
//! `Frame::decode` of the body as the message type of the frame's kind, as the validator's
//! peer and client endpoints and the SDK decode them. A decoded body is encoded again with
//! `frame::encode` and must parse and decode to the same value (rkyv is not canonical, so the
//! round trip is by value, not by bytes).
#![no_main]

use libfuzzer_sys::fuzz_target;
use shroud_network::client::{
    DecryptionEvidenceRequest, DecryptionEvidenceResponse, EpochKeyRequest, EpochKeyResponse,
    OutputsRequest, OutputsResponse, Receipt, SubmitRequest, SubmitStreamOpen, TxStatus,
    TxStatusRequest,
};
use shroud_network::frame::{self, parse, Frame, FrameKind, Limits};
use shroud_node::batch::{Batch, BatchAck, BatchCertificate, DkgPost};
use shroud_node::wire::{
    BatchRequest, CombinedMessage, DecryptionRequest, EpochKeyVote, OutputVote, SharesMessage,
};
use shroud_proofs::OutputCertificate;

fn round_trip<T>(parsed: &Frame<'_>, limits: &Limits)
where
    T: rkyv::Archive + PartialEq + std::fmt::Debug,
    T: for<'a> rkyv::Serialize<
        rkyv::api::high::HighSerializer<
            rkyv::util::AlignedVec,
            rkyv::ser::allocator::ArenaHandle<'a>,
            rkyv::rancor::Error,
        >,
    >,
    T::Archived: for<'b> rkyv::bytecheck::CheckBytes<rkyv::api::high::HighValidator<'b, rkyv::rancor::Error>>
        + rkyv::Deserialize<T, rkyv::api::high::HighDeserializer<rkyv::rancor::Error>>,
{
    let Ok(value) = parsed.decode::<T>(parsed.kind) else {
        return;
    };
    // Any other expected kind is refused before the body is looked at.
    let other = if parsed.kind == FrameKind::Consensus {
        FrameKind::Batch
    } else {
        FrameKind::Consensus
    };
    assert!(matches!(
        parsed.decode::<T>(other),
        Err(shroud_network::FrameError::UnexpectedKind { .. })
    ));
    let Ok(bytes) = frame::encode(parsed.kind, &value, limits) else {
        return;
    };
    let again = parse(&bytes, limits).expect("an encoded frame parses");
    assert_eq!(again.kind, parsed.kind);
    let decoded: T = again.decode(parsed.kind).expect("an encoded frame decodes");
    assert_eq!(decoded, value, "frame round trip changed the value");
}

fuzz_target!(|data: &[u8]| {
    let limits = Limits::default();
    let Ok(parsed) = parse(data, &limits) else {
        return;
    };
    assert_eq!(parsed.body.len() + frame::HEADER_BYTES, data.len());
    match parsed.kind {
        FrameKind::Consensus | FrameKind::ConsensusBulk => {
            round_trip::<shroud_consensus::Message>(&parsed, &limits)
        }
        FrameKind::Batch => round_trip::<Batch>(&parsed, &limits),
        FrameKind::BatchAck => round_trip::<BatchAck>(&parsed, &limits),
        FrameKind::BatchRequest => round_trip::<BatchRequest>(&parsed, &limits),
        FrameKind::BatchCertificate => round_trip::<BatchCertificate>(&parsed, &limits),
        FrameKind::DecryptionShares => round_trip::<SharesMessage>(&parsed, &limits),
        FrameKind::OutputVote => round_trip::<OutputVote>(&parsed, &limits),
        FrameKind::OutputCertificate => round_trip::<OutputCertificate>(&parsed, &limits),
        FrameKind::DecryptionRequest => round_trip::<DecryptionRequest>(&parsed, &limits),
        FrameKind::EpochKeyVote => round_trip::<EpochKeyVote>(&parsed, &limits),
        FrameKind::DecryptionCombined => round_trip::<CombinedMessage>(&parsed, &limits),
        FrameKind::DkgPost => round_trip::<DkgPost>(&parsed, &limits),
        FrameKind::Submit => round_trip::<SubmitRequest>(&parsed, &limits),
        FrameKind::Receipt => round_trip::<Receipt>(&parsed, &limits),
        FrameKind::OutputsRequest => round_trip::<OutputsRequest>(&parsed, &limits),
        FrameKind::Outputs => round_trip::<OutputsResponse>(&parsed, &limits),
        FrameKind::TxStatusRequest => round_trip::<TxStatusRequest>(&parsed, &limits),
        FrameKind::TxStatus => round_trip::<TxStatus>(&parsed, &limits),
        FrameKind::EpochKeyRequest => round_trip::<EpochKeyRequest>(&parsed, &limits),
        FrameKind::EpochKey => round_trip::<EpochKeyResponse>(&parsed, &limits),
        FrameKind::SubmitStream => round_trip::<SubmitStreamOpen>(&parsed, &limits),
        FrameKind::DecryptionEvidenceRequest => {
            round_trip::<DecryptionEvidenceRequest>(&parsed, &limits)
        }
        FrameKind::DecryptionEvidence => round_trip::<DecryptionEvidenceResponse>(&parsed, &limits),
    }
});
