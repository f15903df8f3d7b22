//! What a validator can say about a transaction, with evidence (receipts), and the pieces of
//! certified outputs that clients read. Everything here reads the store only, so the client
//! and HTTP APIs call it off the validator loop.

use shroud_network::client::{Batched, Certified, Ordered, TxStatus};
use shroud_proofs::output::HeightContext;
use shroud_proofs::{
    build_output, got_shares, AvailabilityCertificate, BuiltOutput, DecryptionEvidence, Outcome,
    SharedPosition, TxId,
};

use crate::batch::BatchCertificate;
use crate::committed::SharedCommitted;
use crate::ingress::HeldIds;
use crate::store::{NodeStore, OutputRecord, StoreError};

impl From<&BatchCertificate> for AvailabilityCertificate {
    fn from(certificate: &BatchCertificate) -> Self {
        Self {
            epoch: certificate.epoch,
            valid_through: certificate.valid_through,
            digest: certificate.digest.0,
            author: certificate.author,
            signers: certificate.signers.clone(),
            signature: certificate.signature,
        }
    }
}

/// Rebuilds a stored output's trees (to serve proofs).
pub fn rebuild(record: &OutputRecord) -> BuiltOutput {
    let context = HeightContext {
        chain_id: record.header.chain_id,
        epoch: record.header.epoch,
        height: record.header.height,
        block_digest: record.header.block_digest,
        parent_output: record.header.parent_output,
    };
    build_output(&context, &record.entries)
}

/// Where a transaction stands here.
pub fn tx_status(
    store: &NodeStore,
    held: &HeldIds,
    committed: &SharedCommitted,
    tx_id: TxId,
) -> Result<TxStatus, StoreError> {
    let status = read_status(store, held, committed, tx_id)?;
    // The reads above are not one snapshot: a height pruned while they ran gives a partial
    // answer, which must say "pruned" rather than stop at an earlier step.
    let Some(height) = status.ordered.as_ref().map(|ordered| ordered.height) else {
        return Ok(status);
    };
    if height < store.kept_from_height()? {
        return Ok(pruned(tx_id, height));
    }
    Ok(status)
}

/// A transaction committed at a pruned height.
fn pruned(tx_id: TxId, height: u64) -> TxStatus {
    TxStatus {
        tx_id: tx_id.0,
        known: true,
        batched: None,
        ordered: None,
        outcome: None,
        certified: None,
        pruned_at: Some(height),
    }
}

/// The `batched` step: the batch and its availability certificate, if known here.
fn batched(store: &NodeStore, digest: &crate::batch::BatchDigest) -> Result<Batched, StoreError> {
    Ok(Batched {
        digest: digest.0,
        certificate: store
            .batch_certificate(digest)?
            .as_ref()
            .map(AvailabilityCertificate::from),
    })
}

fn read_status(
    store: &NodeStore,
    held: &HeldIds,
    committed: &SharedCommitted,
    tx_id: TxId,
) -> Result<TxStatus, StoreError> {
    let mut status = TxStatus {
        tx_id: tx_id.0,
        known: held.contains(&tx_id),
        batched: None,
        ordered: None,
        outcome: None,
        certified: None,
        pruned_at: None,
    };
    if let Some(digest) = held.batch_of(&tx_id) {
        status.batched = Some(batched(store, &digest)?);
    }
    let found = committed.read().committed_at(&tx_id);
    let Some((height, position)) = found else {
        return Ok(status);
    };
    status.known = true;
    let Some(record) = store.height(height)? else {
        // The committed index outlives the height's records, which the pruner drops (possibly
        // between the two reads above); a missing record of an unpruned height is corruption.
        if height < store.kept_from_height()? {
            return Ok(pruned(tx_id, height));
        }
        return Err(StoreError::Corrupt("heights"));
    };
    let placed = record
        .transactions
        .get(position as usize)
        .ok_or(StoreError::Corrupt("heights"))?;
    status.batched = Some(batched(store, &placed.batch)?);
    status.ordered = Some(Ordered {
        height,
        position,
        block_digest: record.block_digest,
        block_certificate: store.block_certificate(height)?,
    });
    let Some(output) = store.output(height)? else {
        return Ok(status);
    };
    let entry = output
        .entries
        .get(position as usize)
        .ok_or(StoreError::Corrupt("outputs"))?;
    status.outcome = Some(match &entry.outcome {
        Outcome::Decrypted(_) => None,
        Outcome::Failed(reason) => Some(*reason),
    });
    let Some(certificate) = store.output_certificate(height)? else {
        return Ok(status);
    };
    let built = rebuild(&output);
    let position_proof = built
        .position_proof(position)
        .ok_or(StoreError::Corrupt("outputs"))?;
    let mut namespaces = Vec::new();
    if let Outcome::Decrypted(bundle) = &entry.outcome {
        let mut seen = Vec::new();
        for item in &bundle.items {
            if seen.contains(&item.namespace) {
                continue;
            }
            seen.push(item.namespace);
            namespaces.push(
                built
                    .namespace_output(item.namespace, certificate.clone())
                    .ok_or(StoreError::Corrupt("outputs"))?,
            );
        }
    }
    status.certified = Some(Certified {
        certificate,
        position: position_proof,
        namespaces,
    });
    Ok(status)
}

/// A certified height's decryption evidence: its certificate and entries, and for each
/// position that got shares its ciphertext (read from its batch) and combined point. `None`
/// when the height is not certified here (or its records are pruned).
pub fn decryption_evidence(
    store: &NodeStore,
    height: u64,
) -> Result<Option<DecryptionEvidence>, StoreError> {
    let (Some(record), Some(certificate), Some(order)) = (
        store.output(height)?,
        store.output_certificate(height)?,
        store.height(height)?,
    ) else {
        return Ok(None);
    };
    let corrupt = || StoreError::Corrupt("outputs");
    let mut batches: std::collections::HashMap<crate::batch::BatchDigest, crate::batch::Batch> =
        std::collections::HashMap::new();
    let mut points = record.points.iter();
    let mut shared = Vec::with_capacity(record.points.len());
    for (position, entry) in record.entries.iter().enumerate() {
        if !got_shares(&entry.outcome) {
            continue;
        }
        let point = points.next().ok_or_else(corrupt)?;
        let placed = order.transactions.get(position).ok_or_else(corrupt)?;
        if let std::collections::hash_map::Entry::Vacant(vacant) = batches.entry(placed.batch) {
            let Some(batch) = store.batch(&placed.batch)? else {
                return Ok(None);
            };
            vacant.insert(batch);
        }
        let ciphertext = batches
            .get(&placed.batch)
            .and_then(|batch| batch.transactions.get(placed.index as usize))
            .ok_or_else(corrupt)?
            .clone();
        shared.push(SharedPosition {
            position: u32::try_from(position).map_err(|_| corrupt())?,
            ciphertext,
            point: *point,
        });
    }
    if points.next().is_some() {
        return Err(corrupt());
    }
    Ok(Some(DecryptionEvidence {
        certificate,
        entries: record.entries,
        shared,
    }))
}
