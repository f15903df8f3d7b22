//! Pipelined submission: many ciphertexts on one QUIC stream to one validator, receipts back
//! in the same order, without waiting for one receipt before sending the next. This is what an
//! aggregator, a relayer of many wallets or the load generator uses; a wallet sending one
//! transaction at a time uses [`crate::Client::submit`].
//!
//! Flow control: the validator holds a bounded number of a stream's submissions waiting for
//! receipts (`[ingress] in_flight_per_stream_max`) and stops reading past it, so
//! [`SubmitStream::send`] waits when the validator is behind. A validator whose admission
//! queue is full answers `overloaded` for the submissions it could not take: send them again
//! later or elsewhere.

use shroud_network::client::{Receipt, SubmitRequest};
use shroud_network::frame::{self, parse};
use shroud_network::{FrameKind, Limits, StreamReader, StreamWriter};
use shroud_proofs::TxId;

use crate::SdkError;

/// A validator's answer to one submission of a stream.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum StreamReceipt {
    /// Durable in that validator.
    Accepted(TxId),
    /// Refused, with the stable label (`overloaded`, `duplicate`, `wrong_epoch`, ...) and a
    /// reason.
    Rejected {
        /// The label.
        label: String,
        /// A human-readable reason.
        reason: String,
    },
}

/// The sending half of a submission stream.
#[derive(Debug)]
pub struct SubmitStream {
    pub(crate) writer: StreamWriter,
    pub(crate) limits: Limits,
    pub(crate) validator: usize,
}

impl SubmitStream {
    /// Sends one ciphertext; its receipt comes later on the [`ReceiptStream`], in order. The
    /// returned id is the hash of the ciphertext (what the receipt will name).
    pub async fn send(&mut self, ciphertext: &[u8]) -> Result<TxId, SdkError> {
        let request = SubmitRequest {
            ciphertext: ciphertext.to_vec(),
        };
        let bytes = frame::encode(FrameKind::Submit, &request, &self.limits).map_err(|error| {
            SdkError::BadAnswer {
                validator: self.validator,
                error,
            }
        })?;
        self.writer.write(&bytes).await?;
        Ok(TxId::of(ciphertext))
    }

    /// Ends the stream: the receipts of what was sent still come.
    pub fn finish(self) -> Result<(), SdkError> {
        Ok(self.writer.finish()?)
    }
}

/// The receiving half of a submission stream: one receipt per ciphertext sent, in order.
#[derive(Debug)]
pub struct ReceiptStream {
    pub(crate) reader: StreamReader,
    pub(crate) limits: Limits,
    pub(crate) validator: usize,
}

impl ReceiptStream {
    /// The next receipt, or `None` once the validator ended the stream (after the last
    /// receipt of a finished stream).
    pub async fn next(&mut self) -> Result<Option<StreamReceipt>, SdkError> {
        let Some(bytes) = self.reader.read().await? else {
            return Ok(None);
        };
        let receipt = parse(&bytes, &self.limits)
            .and_then(|parsed| parsed.decode::<Receipt>(FrameKind::Receipt))
            .map_err(|error| SdkError::BadAnswer {
                validator: self.validator,
                error,
            })?;
        Ok(Some(match receipt {
            Receipt::Accepted { tx_id } => StreamReceipt::Accepted(TxId(tx_id)),
            Receipt::Rejected { label, reason } => StreamReceipt::Rejected { label, reason },
        }))
    }
}
