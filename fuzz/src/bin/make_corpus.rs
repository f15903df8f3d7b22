//! Writes the seed corpus of every fuzz target: a few valid inputs each, made with the
//! project's own encoders over the fixture of `shroud_fuzz` (so signatures, proofs and
//! certificates in them verify, and the fuzzer starts from inputs that reach the deepest
//! checks). Deterministic: running it again writes the same bytes.
//!
//! Usage: `make_corpus [DIR]` (default: `corpus/` beside this crate's `Cargo.toml`). Each
//! target's directory is emptied of the files this program names and written again; files
//! other programs put there are left alone.

use std::collections::BTreeMap;
use std::path::PathBuf;

use rand_chacha::ChaCha20Rng;
use rand_core::SeedableRng;
use shroud_consensus::types::{proposal_encoding, timeout_encoding, vote_encoding};
use shroud_consensus::{
    Block, BlockRequest, Epoch, Height, Message, Payload, Proposal, QuorumCertificate, SafetyState,
    SyncRequest, SyncResponse, Timeout, TimeoutCertificate, ValidatorIndex, View, Vote,
};
use shroud_crypto::dkg::{Complaint, Dealing, DkgBody, DkgMessage};
use shroud_crypto::tdh2::{self, decode_share_value, Label, POINT_BYTES};
use shroud_crypto::{encodings, Certificate, Signature, SignerBitmap, SigningDomain};
use shroud_fuzz::{
    fixture, Fixture, BLOCK_DIGEST, CHAIN_ID, EMPTY_NAMESPACE, EPOCH, HEIGHT, NAMESPACE, THRESHOLD,
    VALID_THROUGH,
};
use shroud_network::client::{
    Batched, Certified, DecryptionEvidenceRequest, DecryptionEvidenceResponse, EpochKeyRequest,
    EpochKeyResponse, Ordered, OutputsRequest, OutputsResponse, Receipt, SubmitRequest,
    SubmitStreamOpen, TxStatus, TxStatusRequest,
};
use shroud_network::frame::{self, FrameKind, Limits};
use shroud_node::batch::{AckCollector, Batch, BatchAck, BatchCertificate, BlockPayload, DkgPost};
use shroud_node::config::NodeConfig;
use shroud_node::segment_log::Location;
use shroud_node::store::{
    DecryptionLog, DkgRecord, HeightRecord, OrderedTx, OutcomeCounts, OutputRecord,
};
use shroud_node::wire::{
    BatchRequest, CombinedMessage, DecryptionRequest, EpochKeyVote, OutputVote, SharesMessage,
};
use shroud_proofs::{
    merkle, AvailabilityCertificate, BlockCertificate, Bundle, DecryptionEvidence,
    EpochKeyCertificate, SharedPosition, TxId,
};

/// Seeds by target, each a list of (file name, bytes).
#[derive(Default)]
struct Corpus(BTreeMap<&'static str, Vec<(String, Vec<u8>)>>);

impl Corpus {
    fn add(&mut self, target: &'static str, name: &str, bytes: Vec<u8>) {
        self.0
            .entry(target)
            .or_default()
            .push((name.to_string(), bytes));
    }

    /// A seed for a target whose first input byte picks the decoder.
    fn add_selected(&mut self, target: &'static str, selector: u8, name: &str, bytes: &[u8]) {
        let mut input = vec![selector];
        input.extend_from_slice(bytes);
        self.add(target, name, input);
    }
}

fn rkyv_bytes<T>(value: &T) -> Vec<u8>
where
    T: for<'a> rkyv::Serialize<
        rkyv::api::high::HighSerializer<
            rkyv::util::AlignedVec,
            rkyv::ser::allocator::ArenaHandle<'a>,
            rkyv::rancor::Error,
        >,
    >,
{
    rkyv::to_bytes::<rkyv::rancor::Error>(value)
        .expect("encodes")
        .to_vec()
}

fn encode<T>(kind: FrameKind, body: &T) -> Vec<u8>
where
    T: for<'a> rkyv::Serialize<
        rkyv::api::high::HighSerializer<
            rkyv::util::AlignedVec,
            rkyv::ser::allocator::ArenaHandle<'a>,
            rkyv::rancor::Error,
        >,
    >,
{
    frame::encode(kind, body, &Limits::default()).expect("a frame within limits")
}

/// Everything the seeds are made of, beyond the fixture.
struct Material {
    batch: Batch,
    batch_certificate: BatchCertificate,
    dkg_posts: Vec<DkgPost>,
    payload: BlockPayload,
    proposal: Proposal,
    proposal_with_qc: Proposal,
    timeout: Timeout,
    timeout_certificate: TimeoutCertificate,
    vote: Vote,
    shares: SharesMessage,
    status: TxStatus,
    outputs: OutputsResponse,
    absent: OutputsResponse,
    epoch_key: EpochKeyCertificate,
    evidence: DecryptionEvidence,
    block_certificate: BlockCertificate,
    dealing: DkgMessage,
    complaint_response: DkgMessage,
    honest_transcript: Transcript,
    complaint_transcript: Transcript,
}

/// A DKG transcript as `dkg_transcript` reads it: (height step, message bytes) records.
type Transcript = Vec<(u8, Vec<u8>)>;

/// A dealing, a response with a complaint, an honest transcript, and one with a complaint.
fn dkg_messages(f: &Fixture) -> (DkgMessage, DkgMessage, Transcript, Transcript) {
    let params = &f.dkg_params;
    let members = params.member_count() as u16;
    let dealing = |dealer: u16| DkgMessage {
        round: 0,
        sender: dealer,
        body: DkgBody::Dealing(Box::new(Dealing::deal(
            params,
            dealer,
            0,
            &f.dkg_keys[usize::from(dealer)],
        ))),
    };
    let response = |sender: u16, complaints: Vec<Complaint>| DkgMessage {
        round: 0,
        sender,
        body: DkgBody::Response(complaints),
    };
    let mut honest = Vec::new();
    for dealer in 0..members {
        honest.push((u8::from(dealer == 0), dealing(dealer).to_bytes()));
    }
    for member in 0..members {
        honest.push((
            u8::from(member == 0),
            response(member, Vec::new()).to_bytes(),
        ));
    }
    // Dealer 1 sends validator 0 a wrong share; validator 0 complains with its proof.
    let bad = DkgMessage {
        round: 0,
        sender: 1,
        body: DkgBody::Dealing(Box::new(
            Dealing::deal(params, 1, 0, &f.dkg_keys[1]).with_wrong_share(0),
        )),
    };
    let bad_bytes = bad.to_bytes();
    let start = 1 + 4 + 2 + 1 + 2 + THRESHOLD * POINT_BYTES + 96;
    let ephemeral = decode_share_value(&bad_bytes[start..start + POINT_BYTES]).expect("R decodes");
    let complaint =
        Complaint::make(params, 0, 1, 0, &f.dkg_keys[0], &ephemeral).expect("complaint");
    let complaint_response = response(0, vec![complaint]);
    let mut with_complaint = Vec::new();
    for dealer in 0..members {
        let bytes = if dealer == 1 {
            bad_bytes.clone()
        } else {
            dealing(dealer).to_bytes()
        };
        with_complaint.push((u8::from(dealer == 0), bytes));
    }
    with_complaint.push((1, complaint_response.to_bytes()));
    for member in 1..members {
        with_complaint.push((0, response(member, Vec::new()).to_bytes()));
    }
    (dealing(1), complaint_response, honest, with_complaint)
}

fn material(f: &Fixture) -> Material {
    let mut rng = ChaCha20Rng::seed_from_u64(0xc0ffee);
    let epoch = Epoch(EPOCH);

    // A certified batch of the height's transactions.
    let batch = Batch {
        epoch: EPOCH,
        author: 1,
        sequence: 0,
        valid_through: VALID_THROUGH,
        transactions: f.transactions.clone(),
    };
    let digest = batch.digest();
    let mut collector = AckCollector::new(&f.committee, &batch, digest, 1).expect("collector");
    collector
        .add_own(&BatchAck::sign(CHAIN_ID, &batch, digest, 1, &f.signers[1]))
        .expect("own ack");
    let batch_certificate = collector
        .add(&BatchAck::sign(CHAIN_ID, &batch, digest, 2, &f.signers[2]))
        .expect("ack")
        .expect("f + 1 acknowledgements certify");

    let (dealing, complaint_response, honest_transcript, complaint_transcript) = dkg_messages(f);
    let dkg_posts = vec![
        DkgPost::sign(1, dealing.to_bytes(), &f.signers[1], CHAIN_ID, EPOCH),
        DkgPost::sign(
            0,
            complaint_response.to_bytes(),
            &f.signers[0],
            CHAIN_ID,
            EPOCH,
        ),
    ];
    let payload = BlockPayload {
        batches: vec![batch_certificate.clone()],
        dkg: dkg_posts.clone(),
    };

    let propose = |view: u64, justify: QuorumCertificate, payload: Payload| {
        let block = Block {
            epoch,
            view: View(view),
            height: justify.height.next(),
            proposer: f.committee.leader(View(view)),
            justify,
            payload,
        };
        let signer = &f.signers[usize::from(block.proposer.0)];
        let signature = signer
            .sign(
                SigningDomain::Proposal,
                &proposal_encoding(CHAIN_ID, epoch, block.view, &block.digest()),
            )
            .to_bytes();
        Proposal {
            block,
            timeout_certificate: None,
            signature,
        }
    };
    let proposal = propose(1, QuorumCertificate::genesis(epoch), payload.to_payload());
    let first = proposal.block.digest();
    let vote_bytes = vote_encoding(CHAIN_ID, epoch, View(1), &first, Height(1));
    let (signers, signature) = f.certify(SigningDomain::Vote, &vote_bytes, &[0, 1, 2]);
    let qc = QuorumCertificate {
        epoch,
        view: View(1),
        block: first,
        height: Height(1),
        signers,
        signature,
    };
    let proposal_with_qc = propose(2, qc, Payload(Vec::new()));
    let vote = Vote {
        epoch,
        view: View(1),
        block: first,
        height: Height(1),
        signer: ValidatorIndex(3),
        signature: f.signers[3]
            .sign(SigningDomain::Vote, &vote_bytes)
            .to_bytes(),
    };
    let timeout_bytes = timeout_encoding(CHAIN_ID, epoch, View(2), View(0));
    let timeout = Timeout {
        epoch,
        view: View(2),
        high_qc: QuorumCertificate::genesis(epoch),
        last_tc: None,
        signer: ValidatorIndex(1),
        signature: f.signers[1]
            .sign(SigningDomain::Timeout, &timeout_bytes)
            .to_bytes(),
    };
    let (signers, signature) = f.certify(SigningDomain::Timeout, &timeout_bytes, &[0, 1, 2]);
    let timeout_certificate = TimeoutCertificate {
        epoch,
        view: View(2),
        signers,
        high_qc_views: vec![View(0); 3],
        signature,
        high_qc: QuorumCertificate::genesis(epoch),
    };

    // Validator 1's shares of the height (share index 2), with their batched proof.
    let batch_of_shares = tdh2::create_share_batch(&f.shares[1], &f.verified_refs(), &mut rng);
    let shares = SharesMessage {
        epoch: EPOCH,
        height: HEIGHT,
        block_digest: BLOCK_DIGEST,
        sender: 1,
        positions: f.shared_positions.clone(),
        values: batch_of_shares.value_bytes(),
        proof: batch_of_shares
            .proof()
            .expect("a non-empty batch has a proof")
            .to_bytes()
            .to_vec(),
    };

    let block_vote = encodings::vote(CHAIN_ID, EPOCH, 1, &BLOCK_DIGEST, HEIGHT);
    let (signers, signature) = f.certify(SigningDomain::Vote, &block_vote, &[0, 1, 3]);
    let block_certificate = BlockCertificate {
        epoch: EPOCH,
        view: 1,
        block: BLOCK_DIGEST,
        height: HEIGHT,
        signers,
        signature,
    };
    let namespace_output = f
        .output
        .namespace_output(NAMESPACE, f.certificate.clone())
        .expect("the namespace's output");
    let tx_id = TxId::of(&f.transactions[0]);
    let status = TxStatus {
        tx_id: tx_id.0,
        known: true,
        batched: Some(Batched {
            digest: digest.0,
            certificate: Some(AvailabilityCertificate {
                epoch: batch_certificate.epoch,
                valid_through: batch_certificate.valid_through,
                digest: batch_certificate.digest.0,
                author: batch_certificate.author,
                signers: batch_certificate.signers.clone(),
                signature: batch_certificate.signature,
            }),
        }),
        ordered: Some(Ordered {
            height: HEIGHT,
            position: 0,
            block_digest: BLOCK_DIGEST,
            block_certificate: Some(block_certificate.clone()),
        }),
        outcome: Some(None),
        certified: Some(Certified {
            certificate: f.certificate.clone(),
            position: f.output.position_proof(0).expect("position 0"),
            namespaces: vec![namespace_output.clone()],
        }),
        pruned_at: None,
    };
    let outputs = OutputsResponse {
        outputs: vec![namespace_output],
        next_height: HEIGHT + 1,
        certified_height: HEIGHT,
        kept_from_height: 1,
    };
    let absent = OutputsResponse {
        outputs: vec![f
            .output
            .namespace_output(EMPTY_NAMESPACE, f.certificate.clone())
            .expect("an absence proof")],
        ..outputs.clone()
    };
    let key_set = f.public.to_bytes();
    let (signers, signature) = f.certify(
        SigningDomain::EpochKey,
        &encodings::epoch_key(CHAIN_ID, EPOCH, &key_set),
        &[1, 2, 3],
    );
    let epoch_key = EpochKeyCertificate {
        chain_id: CHAIN_ID,
        epoch: EPOCH,
        key_set,
        signers,
        signature,
    };
    let evidence = DecryptionEvidence {
        certificate: f.certificate.clone(),
        entries: f.entries.clone(),
        shared: f
            .shared_positions
            .iter()
            .zip(&f.points)
            .map(|(position, point)| SharedPosition {
                position: *position,
                ciphertext: f.transactions[*position as usize].clone(),
                point: *point,
            })
            .collect(),
    };
    Material {
        batch,
        batch_certificate,
        dkg_posts,
        payload,
        proposal,
        proposal_with_qc,
        timeout,
        timeout_certificate,
        vote,
        shares,
        status,
        outputs,
        absent,
        epoch_key,
        evidence,
        block_certificate,
        dealing,
        complaint_response,
        honest_transcript,
        complaint_transcript,
    }
}

fn frames(f: &Fixture, m: &Material) -> Vec<(&'static str, FrameKind, Vec<u8>)> {
    let header = f.output.header;
    let consensus = |message: Message| encode(FrameKind::Consensus, &message);
    vec![
        (
            "consensus-proposal",
            FrameKind::Consensus,
            consensus(Message::Proposal(m.proposal.clone())),
        ),
        (
            "consensus-proposal-qc",
            FrameKind::Consensus,
            consensus(Message::Proposal(m.proposal_with_qc.clone())),
        ),
        (
            "consensus-vote",
            FrameKind::Consensus,
            consensus(Message::Vote(m.vote.clone())),
        ),
        (
            "consensus-timeout",
            FrameKind::Consensus,
            consensus(Message::Timeout(m.timeout.clone())),
        ),
        (
            "consensus-tc",
            FrameKind::Consensus,
            consensus(Message::TimeoutCertificate(m.timeout_certificate.clone())),
        ),
        (
            "consensus-block-request",
            FrameKind::Consensus,
            consensus(Message::BlockRequest(BlockRequest {
                digest: m.proposal.block.digest(),
                count: 4,
            })),
        ),
        (
            "consensus-block-response",
            FrameKind::Consensus,
            consensus(Message::BlockResponse(vec![m.proposal.block.clone()])),
        ),
        (
            "consensus-sync-request",
            FrameKind::ConsensusBulk,
            encode(
                FrameKind::ConsensusBulk,
                &Message::SyncRequest(SyncRequest {
                    from: Height(1),
                    count: 64,
                }),
            ),
        ),
        (
            "consensus-sync-response",
            FrameKind::ConsensusBulk,
            encode(
                FrameKind::ConsensusBulk,
                &Message::SyncResponse(SyncResponse {
                    blocks: vec![m.proposal.block.clone()],
                    kept_from: Height(1),
                    committed: Height(2),
                }),
            ),
        ),
        (
            "batch",
            FrameKind::Batch,
            encode(FrameKind::Batch, &m.batch),
        ),
        (
            "batch-ack",
            FrameKind::BatchAck,
            encode(
                FrameKind::BatchAck,
                &BatchAck::sign(CHAIN_ID, &m.batch, m.batch.digest(), 3, &f.signers[3]),
            ),
        ),
        (
            "batch-request",
            FrameKind::BatchRequest,
            encode(
                FrameKind::BatchRequest,
                &BatchRequest {
                    digest: m.batch.digest(),
                },
            ),
        ),
        (
            "batch-certificate",
            FrameKind::BatchCertificate,
            encode(FrameKind::BatchCertificate, &m.batch_certificate),
        ),
        (
            "decryption-shares",
            FrameKind::DecryptionShares,
            encode(FrameKind::DecryptionShares, &m.shares),
        ),
        (
            "output-vote",
            FrameKind::OutputVote,
            encode(
                FrameKind::OutputVote,
                &OutputVote {
                    epoch: EPOCH,
                    height: HEIGHT,
                    header_digest: header.digest(),
                    signer: 1,
                    signature: f.signers[1]
                        .sign(SigningDomain::OutputHeader, &header.encoding())
                        .to_bytes(),
                },
            ),
        ),
        (
            "output-certificate",
            FrameKind::OutputCertificate,
            encode(FrameKind::OutputCertificate, &f.certificate),
        ),
        (
            "decryption-request",
            FrameKind::DecryptionRequest,
            encode(
                FrameKind::DecryptionRequest,
                &DecryptionRequest {
                    epoch: EPOCH,
                    height: HEIGHT,
                    count: 1,
                },
            ),
        ),
        (
            "epoch-key-vote",
            FrameKind::EpochKeyVote,
            encode(
                FrameKind::EpochKeyVote,
                &EpochKeyVote {
                    epoch: EPOCH,
                    signer: 2,
                    signature: f.signers[2]
                        .sign(
                            SigningDomain::EpochKey,
                            &encodings::epoch_key(CHAIN_ID, EPOCH, &f.public.to_bytes()),
                        )
                        .to_bytes(),
                    answer: false,
                },
            ),
        ),
        (
            "decryption-combined",
            FrameKind::DecryptionCombined,
            encode(
                FrameKind::DecryptionCombined,
                &CombinedMessage {
                    epoch: EPOCH,
                    height: HEIGHT,
                    block_digest: BLOCK_DIGEST,
                    sender: (HEIGHT % f.committee.size() as u64) as u16,
                    points: f.points.clone(),
                },
            ),
        ),
        (
            "dkg-post",
            FrameKind::DkgPost,
            encode(FrameKind::DkgPost, &m.dkg_posts[0]),
        ),
        (
            "submit",
            FrameKind::Submit,
            encode(
                FrameKind::Submit,
                &SubmitRequest {
                    ciphertext: f.transactions[0].clone(),
                },
            ),
        ),
        (
            "receipt-accepted",
            FrameKind::Receipt,
            encode(
                FrameKind::Receipt,
                &Receipt::Accepted {
                    tx_id: TxId::of(&f.transactions[0]).0,
                },
            ),
        ),
        (
            "receipt-rejected",
            FrameKind::Receipt,
            encode(
                FrameKind::Receipt,
                &Receipt::Rejected {
                    label: "wrong_epoch".into(),
                    reason: "labelled for epoch 2".into(),
                },
            ),
        ),
        (
            "outputs-request",
            FrameKind::OutputsRequest,
            encode(
                FrameKind::OutputsRequest,
                &OutputsRequest {
                    namespace: NAMESPACE,
                    from_height: 1,
                    heights_max: 16,
                    wait_ms: 1000,
                },
            ),
        ),
        (
            "outputs",
            FrameKind::Outputs,
            encode(FrameKind::Outputs, &m.outputs),
        ),
        (
            "outputs-absent",
            FrameKind::Outputs,
            encode(FrameKind::Outputs, &m.absent),
        ),
        (
            "tx-status-request",
            FrameKind::TxStatusRequest,
            encode(
                FrameKind::TxStatusRequest,
                &TxStatusRequest {
                    tx_id: TxId::of(&f.transactions[0]).0,
                },
            ),
        ),
        (
            "tx-status",
            FrameKind::TxStatus,
            encode(FrameKind::TxStatus, &m.status),
        ),
        (
            "epoch-key-request",
            FrameKind::EpochKeyRequest,
            encode(
                FrameKind::EpochKeyRequest,
                &EpochKeyRequest { epoch: EPOCH },
            ),
        ),
        (
            "epoch-key",
            FrameKind::EpochKey,
            encode(
                FrameKind::EpochKey,
                &EpochKeyResponse {
                    certificate: Some(m.epoch_key.clone()),
                },
            ),
        ),
        (
            "submit-stream",
            FrameKind::SubmitStream,
            encode(FrameKind::SubmitStream, &SubmitStreamOpen { epoch: EPOCH }),
        ),
        (
            "decryption-evidence-request",
            FrameKind::DecryptionEvidenceRequest,
            encode(
                FrameKind::DecryptionEvidenceRequest,
                &DecryptionEvidenceRequest { height: HEIGHT },
            ),
        ),
        (
            "decryption-evidence",
            FrameKind::DecryptionEvidence,
            encode(
                FrameKind::DecryptionEvidence,
                &DecryptionEvidenceResponse {
                    evidence: Some(m.evidence.clone()),
                },
            ),
        ),
    ]
}

/// A pending-log record body: `first u64 || count u32 || (len u32 || bytes)*`.
fn pending_body(first: u64, transactions: &[&[u8]]) -> Vec<u8> {
    let mut body = first.to_be_bytes().to_vec();
    body.extend_from_slice(&(transactions.len() as u32).to_be_bytes());
    for transaction in transactions {
        body.extend_from_slice(&(transaction.len() as u32).to_be_bytes());
        body.extend_from_slice(transaction);
    }
    body
}

fn build(f: &Fixture) -> Corpus {
    let m = material(f);
    let mut corpus = Corpus::default();

    // Frames: every kind for `frame`, the peer kinds for `peer_message`, the answers the SDK
    // reads for `client_answer`.
    let peer_kinds = [
        FrameKind::Consensus,
        FrameKind::Batch,
        FrameKind::BatchAck,
        FrameKind::BatchRequest,
        FrameKind::BatchCertificate,
        FrameKind::DecryptionShares,
        FrameKind::OutputVote,
        FrameKind::OutputCertificate,
        FrameKind::DecryptionRequest,
        FrameKind::EpochKeyVote,
        FrameKind::DecryptionCombined,
        FrameKind::DkgPost,
    ];
    let answer_kinds = [
        FrameKind::Receipt,
        FrameKind::Outputs,
        FrameKind::TxStatus,
        FrameKind::EpochKey,
        FrameKind::DecryptionEvidence,
    ];
    for (name, kind, bytes) in frames(f, &m) {
        if !name.starts_with("consensus-") || name == "consensus-vote" {
            corpus.add("frame", name, bytes.clone());
        }
        if peer_kinds.contains(&kind) {
            corpus.add("peer_message", name, bytes.clone());
        }
        if answer_kinds.contains(&kind) {
            corpus.add("client_answer", name, bytes);
        }
    }

    // Ciphertexts and the HTTP body.
    for (index, bytes) in f.transactions[..3].iter().enumerate() {
        corpus.add("ciphertext", &format!("valid-{index}"), bytes.clone());
    }
    let mut rng = ChaCha20Rng::seed_from_u64(0xbeef);
    let other_epoch = tdh2::encrypt(
        f.public.encryption_key(),
        Label {
            chain_id: CHAIN_ID,
            epoch: EPOCH + 1,
            valid_through: VALID_THROUGH,
            nonce: [9; 32],
        },
        &Bundle::single(NAMESPACE, b"late".to_vec()).encode(),
        &mut rng,
    )
    .to_bytes();
    corpus.add("ciphertext", "other-epoch", other_epoch);
    corpus.add(
        "http_submit",
        "prefixed",
        format!(
            "{{\"ciphertext\": \"0x{}\"}}",
            hex::encode(&f.transactions[0])
        )
        .into_bytes(),
    );
    corpus.add(
        "http_submit",
        "bare",
        format!(
            "{{\"ciphertext\":\"{}\"}}\n",
            hex::encode(&f.transactions[1])
        )
        .into_bytes(),
    );

    // Shares.
    let share = tdh2::create_share(&f.shares[0], &f.verified[0], &mut rng);
    corpus.add_selected("tdh2_share", 0, "share", &share.to_bytes());
    let proof = m.shares.proof.clone();
    corpus.add_selected("tdh2_share", 1, "batch-proof", &proof);
    corpus.add_selected("tdh2_share", 2, "value", &m.shares.values[0]);
    corpus.add_selected("tdh2_share", 3, "values", &m.shares.values.concat());

    // Keys and key files.
    corpus.add_selected("keys", 0, "public-key-set", &f.public.to_bytes());
    corpus.add_selected(
        "keys",
        1,
        "encryption-key",
        &f.public.encryption_key().to_bytes(),
    );
    corpus.add_selected(
        "keys",
        2,
        "dkg-public-key",
        &f.dkg_keys[0].public_key().to_bytes(),
    );
    let key_file = |bytes: &[u8]| format!("{}\n", hex::encode(bytes)).into_bytes();
    corpus.add_selected(
        "keys",
        3,
        "bls-key-file",
        &key_file(f.signers[0].to_bytes().as_slice()),
    );
    corpus.add_selected(
        "keys",
        4,
        "key-share-file",
        &key_file(f.shares[0].secret_bytes().as_slice()),
    );
    corpus.add_selected(
        "keys",
        5,
        "dkg-key-file",
        &key_file(f.dkg_keys[0].to_bytes().as_slice()),
    );

    // DKG.
    corpus.add("dkg_message", "dealing", m.dealing.to_bytes());
    corpus.add(
        "dkg_message",
        "response-empty",
        DkgMessage {
            round: 0,
            sender: 2,
            body: DkgBody::Response(Vec::new()),
        }
        .to_bytes(),
    );
    corpus.add(
        "dkg_message",
        "response-complaint",
        m.complaint_response.to_bytes(),
    );
    let transcript = |records: &[(u8, Vec<u8>)]| {
        let mut out = Vec::new();
        for (step, bytes) in records {
            out.push(*step);
            out.extend_from_slice(&(bytes.len() as u16).to_be_bytes());
            out.extend_from_slice(bytes);
        }
        out
    };
    corpus.add("dkg_transcript", "honest", transcript(&m.honest_transcript));
    corpus.add(
        "dkg_transcript",
        "complaint",
        transcript(&m.complaint_transcript),
    );

    // BLS.
    let validator = &f.signers[0];
    let public_key = validator.public_key();
    let signature = validator.sign(SigningDomain::Vote, b"fuzz");
    corpus.add_selected("bls", 0, "public-key", &public_key.to_bytes());
    corpus.add_selected("bls", 1, "signature", &signature.to_bytes());
    corpus.add_selected(
        "bls",
        2,
        "proof-of-possession",
        &validator.prove_possession().to_bytes(),
    );
    let mut bitmap = vec![0u8, 4];
    bitmap.extend_from_slice(&f.certificate.signers);
    corpus.add_selected("bls", 3, "bitmap", &bitmap);
    let certificate = Certificate::from_parts(
        SignerBitmap::from_bytes(4, &f.certificate.signers).expect("bitmap"),
        Signature::from_bytes(&f.certificate.signature).expect("signature"),
    );
    corpus.add_selected("bls", 4, "certificate", &certificate.to_bytes());
    corpus.add_selected("bls", 5, "public-key-eip2537", &public_key.to_eip2537());
    corpus.add_selected("bls", 6, "signature-eip2537", &signature.to_eip2537());

    // Block payloads.
    corpus.add("block_payload", "batches-and-dkg", m.payload.to_payload().0);
    corpus.add(
        "block_payload",
        "dkg-only",
        BlockPayload {
            batches: Vec::new(),
            dkg: m.dkg_posts.clone(),
        }
        .to_payload()
        .0,
    );
    corpus.add("block_payload", "empty", Vec::new());

    // Store records.
    let tx_ids: Vec<TxId> = f.transactions.iter().map(|t| TxId::of(t)).collect();
    let height_record = HeightRecord {
        block_digest: BLOCK_DIGEST,
        first_position: 0,
        transactions: tx_ids
            .iter()
            .enumerate()
            .map(|(index, tx_id)| OrderedTx {
                tx_id: *tx_id,
                batch: m.batch.digest(),
                index: index as u32,
                expiry: (index < 3).then_some(VALID_THROUGH),
            })
            .collect(),
    };
    let output_record = OutputRecord {
        header: f.output.header,
        entries: f.entries.clone(),
        signature: f.signers[0]
            .sign(SigningDomain::OutputHeader, &f.output.header.encoding())
            .to_bytes(),
        points: f.points.clone(),
    };
    let dkg_record = DkgRecord {
        round: 0,
        height: 3,
        qualified: vec![0, 2, 3],
        excluded: vec![(
            1,
            "bad_share".into(),
            "a wrong share for validator 0".into(),
        )],
        share_problem: None,
    };
    let mut counts = OutcomeCounts {
        decrypted: 2,
        ..OutcomeCounts::default()
    };
    counts.failed[5] = 1;
    let mut safety = SafetyState::genesis(Epoch(EPOCH));
    safety.last_voted_view = View(2);
    safety.highest_tc = Some(m.timeout_certificate.clone());
    let location = Location {
        segment: 3,
        offset: 4096,
        len: 512,
    };
    let records: Vec<(u8, &str, Vec<u8>)> = vec![
        (0, "batch", rkyv_bytes(&m.batch)),
        (1, "batch-certificate", rkyv_bytes(&m.batch_certificate)),
        (2, "height-record", rkyv_bytes(&height_record)),
        (3, "output-record", rkyv_bytes(&output_record)),
        (4, "dkg-record", rkyv_bytes(&dkg_record)),
        (
            5,
            "decryption-log",
            rkyv_bytes(&DecryptionLog {
                made_at_committed: 1,
                accepted: vec![(1, 1), (2, 1)],
            }),
        ),
        (6, "outcome-counts", rkyv_bytes(&counts)),
        (7, "own-shares", rkyv_bytes(&m.shares)),
        (8, "output-certificate", rkyv_bytes(&f.certificate)),
        (9, "block-certificate", rkyv_bytes(&m.block_certificate)),
        (10, "epoch-key-certificate", rkyv_bytes(&m.epoch_key)),
        (11, "safety-state", rkyv_bytes(&safety)),
        (12, "block", rkyv_bytes(&m.proposal.block)),
        (13, "location", location.to_bytes().to_vec()),
    ];
    for (selector, name, bytes) in records {
        corpus.add_selected("store_records", selector, name, &bytes);
    }

    // The pending log: two groups, as written (raw) and as chunks the harness frames.
    let bodies = [
        pending_body(0, &[&f.transactions[0], &f.transactions[1]]),
        pending_body(2, &[b"", &f.transactions[2]]),
    ];
    let mut raw = Vec::new();
    let mut chunks = Vec::new();
    for body in &bodies {
        use sha2::Digest as _;
        let digest = sha2::Sha256::new()
            .chain_update(b"SHROUD-V1-PENDING-GROUP")
            .chain_update(body)
            .finalize();
        raw.extend_from_slice(&(body.len() as u32).to_be_bytes());
        raw.extend_from_slice(&digest[..8]);
        raw.extend_from_slice(body);
        chunks.extend_from_slice(&(body.len() as u16).to_be_bytes());
        chunks.extend_from_slice(body);
    }
    corpus.add_selected("pending_log", 0, "raw-segment", &raw);
    corpus.add_selected("pending_log", 1, "framed-groups", &chunks);

    // Bundles.
    corpus.add(
        "bundle",
        "single",
        Bundle::single(NAMESPACE, b"hello, rollup".to_vec()).encode(),
    );
    corpus.add(
        "bundle",
        "cross",
        Bundle {
            items: vec![
                shroud_proofs::Item {
                    namespace: NAMESPACE,
                    data: b"leg one".to_vec(),
                },
                shroud_proofs::Item {
                    namespace: EMPTY_NAMESPACE,
                    data: Vec::new(),
                },
            ],
        }
        .encode(),
    );

    // Proofs.
    corpus.add_selected(
        "proofs",
        0,
        "output-certificate",
        &rkyv_bytes(&f.certificate),
    );
    corpus.add_selected(
        "proofs",
        1,
        "namespace-inclusion",
        &rkyv_bytes(&m.outputs.outputs[0]),
    );
    corpus.add_selected(
        "proofs",
        1,
        "namespace-absence",
        &rkyv_bytes(&m.absent.outputs[0]),
    );
    corpus.add_selected(
        "proofs",
        2,
        "position-proof",
        &rkyv_bytes(&f.output.position_proof(1).expect("position 1")),
    );
    corpus.add_selected("proofs", 3, "decryption-evidence", &rkyv_bytes(&m.evidence));
    corpus.add_selected(
        "proofs",
        4,
        "epoch-key-certificate",
        &rkyv_bytes(&m.epoch_key),
    );
    if let Some(Batched {
        certificate: Some(availability),
        ..
    }) = &m.status.batched
    {
        corpus.add_selected(
            "proofs",
            5,
            "availability-certificate",
            &rkyv_bytes(availability),
        );
    }
    corpus.add_selected(
        "proofs",
        6,
        "block-certificate",
        &rkyv_bytes(&m.block_certificate),
    );
    let leaves: Vec<[u8; 32]> = (0..5u8).map(|i| [i; 32]).collect();
    let mut path_input = 3u64.to_be_bytes().to_vec();
    path_input.extend_from_slice(&5u64.to_be_bytes());
    path_input.extend_from_slice(&leaves[3]);
    for hash in merkle::proof(&leaves, 3).expect("in range") {
        path_input.extend_from_slice(&hash);
    }
    corpus.add_selected("proofs", 7, "merkle-path", &path_input);

    // Committee and node files.
    corpus.add(
        "committee_toml",
        "genesis",
        toml::to_string(&f.genesis_file)
            .expect("serializes")
            .into_bytes(),
    );
    corpus.add(
        "committee_toml",
        "dealer",
        toml::to_string(&f.dealer_file)
            .expect("serializes")
            .into_bytes(),
    );
    corpus.add(
        "committee_toml",
        "member",
        toml::to_string(&f.genesis_file.validators[0])
            .expect("serializes")
            .into_bytes(),
    );
    let node = NodeConfig {
        index: Some(0),
        committee_file: "committee.toml".into(),
        data_dir: "data".into(),
        bls_secret_key_file: "bls.key".into(),
        tls_certificate_file: "tls.der".into(),
        tls_key_file: "tls.key".into(),
        key_share_file: Some("key-share.hex".into()),
        dkg_key_file: None,
        ordering_only: false,
        consensus: Default::default(),
        mempool: Default::default(),
        storage: Default::default(),
        ingress: Default::default(),
        faults: Default::default(),
    };
    corpus.add(
        "node_toml",
        "full",
        toml::to_string(&node).expect("serializes").into_bytes(),
    );
    corpus.add(
        "node_toml",
        "minimal",
        b"committee_file = \"committee.toml\"\ndata_dir = \"data\"\nbls_secret_key_file = \"bls.key\"\ntls_certificate_file = \"tls.der\"\ntls_key_file = \"tls.key\"\ndkg_key_file = \"dkg.key\"\n\n[storage]\nretain_heights = 4096\n".to_vec(),
    );
    corpus
}

/// Checks that the seeds are what they claim: every signature, certificate and proof in them
/// passes the verifier its target runs, so the fuzzer starts past every check.
fn self_check(f: &Fixture) {
    use shroud_consensus::verify_message;
    let m = material(f);
    let limits = shroud_consensus::Limits::default();
    for message in [
        Message::Proposal(m.proposal.clone()),
        Message::Proposal(m.proposal_with_qc.clone()),
        Message::Vote(m.vote.clone()),
        Message::Timeout(m.timeout.clone()),
        Message::TimeoutCertificate(m.timeout_certificate.clone()),
    ] {
        verify_message(&f.committee, &limits, message).expect("a consensus seed verifies");
    }
    let payload = BlockPayload::from_payload(&m.payload.to_payload(), &f.committee, 64)
        .expect("the payload seed checks");
    payload
        .check_dkg_posts(&f.committee, CHAIN_ID, |_| false)
        .expect("the DKG posts check");
    m.batch_certificate
        .verify(&f.committee)
        .expect("the batch certificate verifies");
    let values = tdh2::decode_share_values(&m.shares.values).expect("share values decode");
    let proof = tdh2::ShareBatchProof::from_bytes(&m.shares.proof).expect("the proof decodes");
    let batch = tdh2::share_batch_from_parts(m.shares.sender + 1, values, Some(proof));
    tdh2::verify_share_batch(&f.public, &f.verified_refs(), &batch).expect("the shares verify");
    f.certificate
        .verify(&f.keys, CHAIN_ID, EPOCH)
        .expect("the output certificate verifies");
    for output in m.outputs.outputs.iter().chain(&m.absent.outputs) {
        output
            .verify(&f.keys, CHAIN_ID, EPOCH)
            .expect("a namespace output verifies");
    }
    m.block_certificate
        .verify(&f.keys, CHAIN_ID, EPOCH)
        .expect("the block certificate verifies");
    let certified = m.status.certified.as_ref().expect("certified");
    certified
        .position
        .verify(&f.output.header)
        .expect("the position proof verifies");
    f.sdk_genesis
        .clone()
        .with_certified_key(&m.epoch_key, 0)
        .expect("the epoch key certificate verifies");
    m.evidence
        .verify(
            &f.keys,
            &f.public,
            (CHAIN_ID, EPOCH),
            shroud_fuzz::CIPHERTEXT_BYTES_MAX,
            &shroud_proofs::BundleLimits::default(),
        )
        .expect("the decryption evidence verifies");
    if let DkgBody::Dealing(dealing) = &m.dealing.body {
        dealing
            .check(&f.dkg_params, m.dealing.round, m.dealing.sender)
            .expect("the dealing checks");
    }
    let mut dkg = shroud_crypto::dkg::Dkg::new(
        f.dkg_params.clone(),
        0,
        shroud_crypto::dkg::DkgSecretKey::from_bytes(f.dkg_keys[0].to_bytes().as_slice())
            .expect("key"),
        0,
    )
    .expect("member 0");
    let mut height = 0;
    for (step, bytes) in &m.honest_transcript {
        if *step > 0 && height > 0 {
            dkg.on_height(height);
        }
        height += u64::from(*step);
        let message = DkgMessage::from_bytes(bytes, f.dkg_params.member_count()).expect("decodes");
        dkg.on_message(height, &message);
    }
    dkg.on_height(height);
    assert!(
        dkg.is_complete(),
        "the honest transcript forms the key: {:?}",
        dkg.status()
    );
    shroud_node::config::check_committee(f.genesis_file.clone()).expect("the genesis file checks");
    shroud_node::config::check_committee(f.dealer_file.clone()).expect("the dealer file checks");
}

fn main() {
    self_check(fixture());
    let dir = std::env::args()
        .nth(1)
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("corpus"));
    let corpus = build(fixture());
    for (target, seeds) in &corpus.0 {
        let target_dir = dir.join(target);
        std::fs::create_dir_all(&target_dir).expect("create the corpus directory");
        let mut total = 0;
        for (name, bytes) in seeds {
            std::fs::write(target_dir.join(format!("seed-{name}")), bytes).expect("write a seed");
            total += bytes.len();
        }
        println!("{target}: {} seeds, {total} bytes", seeds.len());
    }
}
