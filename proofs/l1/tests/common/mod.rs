//! Fixtures for the light-client tests and the gas table: committees from fixed seeds, real
//! outputs built by `shroud-proofs`, and certificates aggregated from real BLS signatures.

#![allow(dead_code)]

use shroud_crypto::{CommitteeKeys, SecretKey, Signature, SignerBitmap, SigningDomain};
use shroud_proofs::{
    build_output, BuiltOutput, Bundle, CommitteeHandover, HandoverCertificate, HeightContext, Item,
    NamespaceId, Outcome, OutputCertificate, PositionEntry, TxId,
};

pub const CHAIN_ID: u64 = 7;

/// A committee whose secret keys the test holds.
pub struct Committee {
    pub secrets: Vec<SecretKey>,
    pub keys: CommitteeKeys,
    pub epoch: u64,
}

impl Committee {
    pub fn new(seed: u8, size: usize, epoch: u64) -> Self {
        let secrets: Vec<SecretKey> = (0..size)
            .map(|index| {
                let mut bytes = [0x42u8; 32];
                bytes[0] = seed;
                bytes[1..3].copy_from_slice(&(index as u16).to_be_bytes());
                SecretKey::from_seed(&bytes).expect("seed")
            })
            .collect();
        let members: Vec<_> = secrets
            .iter()
            .map(|secret| (secret.public_key(), secret.prove_possession()))
            .collect();
        let keys = CommitteeKeys::new(&members).expect("committee");
        Self {
            secrets,
            keys,
            epoch,
        }
    }

    pub fn size(&self) -> usize {
        self.secrets.len()
    }

    /// 2f+1.
    pub fn quorum(&self) -> usize {
        shroud_proofs::output_quorum(self.size())
    }

    /// Bitmap and aggregate signature of `signers` over `encoding` in `domain`.
    pub fn sign(
        &self,
        domain: SigningDomain,
        encoding: &[u8],
        signers: &[usize],
    ) -> (Vec<u8>, [u8; 96]) {
        let mut bitmap = SignerBitmap::new(self.size()).expect("bitmap");
        let mut signatures = Vec::new();
        for &index in signers {
            bitmap.insert(index).expect("member");
            signatures.push(self.secrets[index].sign(domain, encoding));
        }
        let aggregate = Signature::aggregate(&signatures).expect("aggregate");
        (bitmap.as_bytes().to_vec(), aggregate.to_bytes())
    }

    pub fn certify(&self, output: &BuiltOutput, signers: &[usize]) -> OutputCertificate {
        let header = output.header;
        let (signers, signature) =
            self.sign(SigningDomain::OutputHeader, &header.encoding(), signers);
        OutputCertificate {
            header,
            signers,
            signature,
        }
    }

    pub fn all(&self) -> Vec<usize> {
        (0..self.size()).collect()
    }

    /// The first 2f+1 members.
    pub fn first_quorum(&self) -> Vec<usize> {
        (0..self.quorum()).collect()
    }

    pub fn hand_over(
        &self,
        next: &Committee,
        last_height: u64,
        last_output: [u8; 32],
        signers: &[usize],
    ) -> HandoverCertificate {
        let handover = CommitteeHandover {
            chain_id: CHAIN_ID,
            epoch: self.epoch,
            last_height,
            last_output,
            next_keys: next.keys.clone(),
        };
        let (signers, signature) = self.sign(
            SigningDomain::CommitteeHandover,
            &handover.encoding().expect("epoch"),
            signers,
        );
        HandoverCertificate {
            handover,
            signers,
            signature,
        }
    }
}

/// Builds a chain of outputs: each height holds a few single-item transactions to rollups 10,
/// 20 and 30 (not every rollup at every height, so absence proofs have all shapes) and a
/// cross-rollup bundle to 10 and 30 at every third height.
pub struct Outputs {
    pub epoch: u64,
    pub height: u64,
    pub parent: [u8; 32],
}

impl Outputs {
    pub fn new(epoch: u64) -> Self {
        Self {
            epoch,
            height: 0,
            parent: [0; 32],
        }
    }

    pub fn next(&mut self) -> BuiltOutput {
        self.height += 1;
        let height = self.height;
        let mut entries = Vec::new();
        let mut push = |bundle: Bundle| {
            let tx_id = TxId::of(&[height.to_be_bytes().as_slice(), &bundle.encode()].concat());
            entries.push(PositionEntry {
                tx_id,
                outcome: Outcome::Decrypted(bundle),
            });
        };
        for namespace in [10u64, 20, 30] {
            if (height + namespace / 10) % 4 != 0 {
                push(Bundle::single(
                    NamespaceId(namespace),
                    format!("tx for {namespace} at {height}").into_bytes(),
                ));
            }
        }
        if height % 3 == 0 {
            push(Bundle {
                items: vec![
                    Item {
                        namespace: NamespaceId(10),
                        data: b"swap leg on 10".to_vec(),
                    },
                    Item {
                        namespace: NamespaceId(30),
                        data: b"swap leg on 30".to_vec(),
                    },
                ],
            });
        }
        let context = HeightContext {
            chain_id: CHAIN_ID,
            epoch: self.epoch,
            height,
            block_digest: [height as u8; 32],
            parent_output: self.parent,
        };
        let output = build_output(&context, &entries);
        self.parent = output.header.digest();
        output
    }
}
