//! Receipts: one transaction followed through `accepted → batched → ordered(height, position)
//! → decrypted | failed(reason) → certified(height)`, each step with the evidence that proves
//! it, checked against the committee before it is returned.

use std::time::{Duration, Instant};

use shroud_network::client::TxStatus;
use shroud_proofs::{
    AvailabilityCertificate, BlockCertificate, FailureReason, NamespaceOutput, OutputCertificate,
    PositionProof, TxId,
};

use crate::client::Client;
use crate::committee::Committee;
use crate::SdkError;

/// One step of a transaction's life, with its evidence.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Step {
    /// Durable in at least one validator (its word: the receipt of the submission).
    Accepted,
    /// In a batch; the availability certificate (f+1 signatures) once known.
    Batched {
        /// The batch digest.
        digest: [u8; 32],
        /// f+1 validators stored it.
        certificate: Option<AvailabilityCertificate>,
    },
    /// In the committed order.
    Ordered {
        /// The height.
        height: u64,
        /// The position in the height.
        position: u32,
        /// The block's quorum certificate, once the next block committed.
        certificate: Option<BlockCertificate>,
    },
    /// Decrypted into a bundle.
    Decrypted,
    /// Not decrypted, and why.
    Failed(FailureReason),
    /// In a certified output: the certificate, the position's proof, and each namespace's
    /// output holding the bundle's items (empty for a failure).
    Certified {
        /// The height.
        height: u64,
        /// The output certificate.
        certificate: Box<OutputCertificate>,
        /// The position's transaction and outcome.
        position: PositionProof,
        /// The namespaces' outputs.
        namespaces: Vec<NamespaceOutput>,
    },
}

impl Step {
    /// A short name (`accepted`, `batched`, ...).
    pub fn name(&self) -> &'static str {
        match self {
            Step::Accepted => "accepted",
            Step::Batched { .. } => "batched",
            Step::Ordered { .. } => "ordered",
            Step::Decrypted => "decrypted",
            Step::Failed(_) => "failed",
            Step::Certified { .. } => "certified",
        }
    }
}

/// The steps a verified status shows, in order.
fn steps(status: &TxStatus) -> Vec<Step> {
    let mut out = Vec::new();
    if !status.known {
        return out;
    }
    out.push(Step::Accepted);
    if let Some(batched) = &status.batched {
        out.push(Step::Batched {
            digest: batched.digest,
            certificate: batched.certificate.clone(),
        });
    }
    let Some(ordered) = &status.ordered else {
        return out;
    };
    out.push(Step::Ordered {
        height: ordered.height,
        position: ordered.position,
        certificate: ordered.block_certificate.clone(),
    });
    match status.outcome {
        Some(None) => out.push(Step::Decrypted),
        Some(Some(reason)) => out.push(Step::Failed(reason)),
        None => return out,
    }
    if let Some(certified) = &status.certified {
        out.push(Step::Certified {
            height: ordered.height,
            certificate: Box::new(certified.certificate.clone()),
            position: certified.position.clone(),
            namespaces: certified.namespaces.clone(),
        });
    }
    out
}

/// A transaction's receipt stream.
#[derive(Debug)]
pub struct Receipts<'a> {
    client: &'a Client,
    tx_id: TxId,
    delivered: usize,
    poll: Duration,
}

impl<'a> Receipts<'a> {
    pub(crate) fn new(client: &'a Client, tx_id: TxId) -> Self {
        Self {
            client,
            tx_id,
            delivered: 0,
            poll: Duration::from_millis(100),
        }
    }

    /// The next step (each once, in order), waiting up to `timeout` for it.
    pub async fn next(&mut self, timeout: Duration) -> Result<Step, SdkError> {
        let deadline = Instant::now() + timeout;
        loop {
            let status = self.client.status(self.tx_id).await?;
            let steps = steps(&status);
            if let Some(step) = steps.into_iter().nth(self.delivered) {
                self.delivered += 1;
                return Ok(step);
            }
            if Instant::now() + self.poll >= deadline {
                return Err(SdkError::Timeout);
            }
            tokio::time::sleep(self.poll).await;
        }
    }

    /// Follows the receipt until it is certified (or the timeout passes), returning every
    /// step in order.
    pub async fn until_certified(&mut self, timeout: Duration) -> Result<Vec<Step>, SdkError> {
        let deadline = Instant::now() + timeout;
        let mut out = Vec::new();
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            let step = self.next(left).await?;
            let done = matches!(step, Step::Certified { .. });
            out.push(step);
            if done {
                return Ok(out);
            }
        }
    }
}

/// Checks every piece of evidence in a status against the committee; a status whose evidence
/// does not hold is refused as a whole.
pub(crate) fn verify_status(
    committee: &Committee,
    validator: usize,
    status: &TxStatus,
) -> Result<(), SdkError> {
    let (keys, chain_id, epoch) = (committee.keys(), committee.chain_id(), committee.epoch());
    let bad = |height: u64, error| SdkError::InvalidOutput {
        validator,
        height,
        error,
    };
    if let Some(certificate) = status.batched.as_ref().and_then(|b| b.certificate.as_ref()) {
        if certificate.digest != status.batched.as_ref().map_or([0; 32], |b| b.digest) {
            return Err(SdkError::BadEvidence {
                validator,
                what: "batch certificate for another batch",
            });
        }
        certificate
            .verify(keys, chain_id, epoch)
            .map_err(|error| bad(0, error))?;
    }
    let Some(ordered) = &status.ordered else {
        return Ok(());
    };
    if let Some(certificate) = &ordered.block_certificate {
        if certificate.height != ordered.height || certificate.block != ordered.block_digest {
            return Err(SdkError::BadEvidence {
                validator,
                what: "block certificate for another block",
            });
        }
        certificate
            .verify(keys, chain_id, epoch)
            .map_err(|error| bad(ordered.height, error))?;
    }
    let Some(certified) = &status.certified else {
        return Ok(());
    };
    let header = &certified.certificate.header;
    if header.height != ordered.height || header.block_digest != ordered.block_digest {
        return Err(SdkError::BadEvidence {
            validator,
            what: "output of another height",
        });
    }
    certified
        .certificate
        .verify(keys, chain_id, epoch)
        .map_err(|error| bad(header.height, error))?;
    let position = &certified.position;
    position
        .verify(header)
        .map_err(|error| bad(header.height, error))?;
    let failure = status.outcome.flatten();
    if position.tx_id.0 != status.tx_id
        || position.position != ordered.position
        || position.failure() != failure
    {
        return Err(SdkError::BadEvidence {
            validator,
            what: "position proof for another transaction or outcome",
        });
    }
    for output in &certified.namespaces {
        if output.certificate.header != *header {
            return Err(SdkError::BadEvidence {
                validator,
                what: "namespace output of another header",
            });
        }
        output
            .verify_proofs()
            .map_err(|error| bad(header.height, error))?;
        if !output.items.iter().any(|item| item.tx_id.0 == status.tx_id) {
            return Err(SdkError::BadEvidence {
                validator,
                what: "namespace output without the transaction",
            });
        }
    }
    if failure.is_none() && certified.namespaces.is_empty() {
        return Err(SdkError::BadEvidence {
            validator,
            what: "a decrypted transaction without its items",
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    //! A status whose evidence does not fit together is refused as a whole.

    use rand_core::OsRng;
    use shroud_crypto::tdh2::trusted_dealer_for_local_testnet;
    use shroud_crypto::{CertificateBuilder, SecretKey, SigningDomain};
    use shroud_network::client::{Certified, Ordered, TxStatus};
    use shroud_proofs::output::HeightContext;
    use shroud_proofs::{
        build_output, Bundle, CommitteeFile, Item, MemberEntry, NamespaceId, Outcome,
        OutputCertificate, PositionEntry, TxId,
    };

    use super::verify_status;
    use crate::{Committee, SdkError};

    fn setup() -> (Committee, TxStatus) {
        let secrets: Vec<SecretKey> = (0..4u8)
            .map(|i| SecretKey::from_seed(&[i + 60; 32]).expect("seed"))
            .collect();
        let (public, _) = trusted_dealer_for_local_testnet(2, 4, &mut OsRng).expect("dealer");
        let address = "127.0.0.1:1".parse().expect("address");
        let file = CommitteeFile {
            chain_id: 9,
            epoch: 2,
            validity_heights: 64,
            public_key_set: Some(hex::encode(public.to_bytes())),
            dkg_window_heights: shroud_proofs::DKG_WINDOW_HEIGHTS_DEFAULT,
            ciphertext_bytes_max: shroud_proofs::CIPHERTEXT_BYTES_MAX_DEFAULT,
            validators: secrets
                .iter()
                .enumerate()
                .map(|(i, secret)| MemberEntry {
                    bls_public_key: hex::encode(secret.public_key().to_bytes()),
                    proof_of_possession: hex::encode(secret.prove_possession().to_bytes()),
                    tls_pin: hex::encode([i as u8 + 1; 32]),
                    peer_address: address,
                    client_address: address,
                    http_address: address,
                    dkg_public_key: None,
                })
                .collect(),
        };
        let committee = Committee::from_file(file).expect("committee");
        let bundle = Bundle {
            items: vec![
                Item {
                    namespace: NamespaceId(1),
                    data: b"a".to_vec(),
                },
                Item {
                    namespace: NamespaceId(2),
                    data: b"b".to_vec(),
                },
            ],
        };
        let tx_id = TxId::of(b"ciphertext");
        let entries = vec![
            PositionEntry {
                tx_id: TxId::of(b"other"),
                outcome: Outcome::Decrypted(Bundle::single(NamespaceId(1), b"x".to_vec())),
            },
            PositionEntry {
                tx_id,
                outcome: Outcome::Decrypted(bundle),
            },
        ];
        let context = HeightContext {
            chain_id: 9,
            epoch: 2,
            height: 4,
            block_digest: [4; 32],
            parent_output: [3; 32],
        };
        let built = build_output(&context, &entries);
        let encoding = built.header.encoding();
        let mut builder =
            CertificateBuilder::new(committee.keys(), SigningDomain::OutputHeader, &encoding)
                .expect("builder");
        for (index, secret) in secrets.iter().enumerate().take(3) {
            builder
                .add(index, &secret.sign(SigningDomain::OutputHeader, &encoding))
                .expect("signature");
        }
        let aggregate = builder.finish(3).expect("quorum");
        let certificate = OutputCertificate {
            header: built.header,
            signers: aggregate.signers().as_bytes().to_vec(),
            signature: aggregate.signature().to_bytes(),
        };
        let namespaces = [NamespaceId(1), NamespaceId(2)]
            .into_iter()
            .map(|ns| {
                built
                    .namespace_output(ns, certificate.clone())
                    .expect("served")
            })
            .collect();
        let status = TxStatus {
            tx_id: tx_id.0,
            known: true,
            batched: None,
            ordered: Some(Ordered {
                height: 4,
                position: 1,
                block_digest: [4; 32],
                block_certificate: None,
            }),
            outcome: Some(None),
            certified: Some(Certified {
                certificate,
                position: built.position_proof(1).expect("position"),
                namespaces,
            }),
            pruned_at: None,
        };
        (committee, status)
    }

    fn certified(status: &mut TxStatus) -> &mut Certified {
        status.certified.as_mut().expect("certified")
    }

    #[test]
    fn consistent_evidence_is_accepted_and_each_inconsistency_refused() {
        let (committee, status) = setup();
        verify_status(&committee, 0, &status).expect("consistent");
        let refused = |edit: &dyn Fn(&mut TxStatus)| {
            let mut copy = status.clone();
            edit(&mut copy);
            verify_status(&committee, 0, &copy).expect_err("inconsistent evidence accepted")
        };

        assert!(matches!(
            refused(&|s| s.tx_id = [1; 32]),
            SdkError::BadEvidence { .. }
        ));
        assert!(matches!(
            refused(&|s| s.outcome = Some(Some(shroud_proofs::FailureReason::Undecryptable))),
            SdkError::BadEvidence { .. }
        ));
        assert!(matches!(
            refused(&|s| s.ordered.as_mut().expect("ordered").position = 0),
            SdkError::BadEvidence { .. }
        ));
        assert!(matches!(
            refused(&|s| s.ordered.as_mut().expect("ordered").height = 5),
            SdkError::BadEvidence { .. }
        ));
        assert!(matches!(
            refused(&|s| certified(s).certificate.signature[3] ^= 1),
            SdkError::InvalidOutput { .. }
        ));
        assert!(matches!(
            refused(&|s| certified(s).position.siblings[0][0] ^= 1),
            SdkError::InvalidOutput { .. }
        ));
        assert!(matches!(
            refused(&|s| certified(s).namespaces[0].items[0].data.push(1)),
            SdkError::InvalidOutput { .. }
        ));
        assert!(matches!(
            refused(&|s| {
                certified(s).namespaces.clear();
            }),
            SdkError::BadEvidence { .. }
        ));
        assert!(matches!(
            refused(&|s| certified(s).namespaces[1].bundles.clear()),
            SdkError::InvalidOutput { .. }
        ));
    }
}
