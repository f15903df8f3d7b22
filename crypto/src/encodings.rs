//! The canonical encodings that committee signatures cover, in one place so that the crates
//! that sign (consensus, the node) and the ones that only verify (proofs, the SDK, the L1
//! contract) build the same bytes. Each is signed under its own [`crate::SigningDomain`].

/// What a consensus vote signs (domain `Vote`): chain id, epoch, view, block digest, height.
pub fn vote(chain_id: u64, epoch: u64, view: u64, block: &[u8; 32], height: u64) -> Vec<u8> {
    let mut out = Vec::with_capacity(8 + 8 + 8 + 32 + 8);
    out.extend_from_slice(&chain_id.to_be_bytes());
    out.extend_from_slice(&epoch.to_be_bytes());
    out.extend_from_slice(&view.to_be_bytes());
    out.extend_from_slice(block);
    out.extend_from_slice(&height.to_be_bytes());
    out
}

/// What a batch acknowledgement signs (domain `BatchAck`): chain id, epoch, the last height at
/// which the batch may be ordered (so a block listing it later is skipped without its
/// payload), and the batch digest.
pub fn batch_ack(chain_id: u64, epoch: u64, valid_through: u64, digest: &[u8; 32]) -> Vec<u8> {
    let mut out = Vec::with_capacity(56);
    out.extend_from_slice(&chain_id.to_be_bytes());
    out.extend_from_slice(&epoch.to_be_bytes());
    out.extend_from_slice(&valid_through.to_be_bytes());
    out.extend_from_slice(digest);
    out
}

/// What a validator signs to vouch for its epoch's key set (domain `EpochKey`): chain id,
/// epoch, and the key set's encoding (`PublicKeySet::to_bytes`).
pub fn epoch_key(chain_id: u64, epoch: u64, key_set: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(16 + 8 + key_set.len());
    out.extend_from_slice(&chain_id.to_be_bytes());
    out.extend_from_slice(&epoch.to_be_bytes());
    out.extend_from_slice(&(key_set.len() as u64).to_be_bytes());
    out.extend_from_slice(key_set);
    out
}

/// What a validator signs to post a DKG message (domain `Dkg`): chain id, epoch, and the
/// message's canonical encoding (`DkgMessage::to_bytes`).
pub fn dkg_message(chain_id: u64, epoch: u64, message: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(24 + message.len());
    out.extend_from_slice(&chain_id.to_be_bytes());
    out.extend_from_slice(&epoch.to_be_bytes());
    out.extend_from_slice(&(message.len() as u64).to_be_bytes());
    out.extend_from_slice(message);
    out
}
