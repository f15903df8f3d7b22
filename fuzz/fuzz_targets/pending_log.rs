//! The pending log read back from disk after a restart: the input becomes a segment file
//! (`pending-0000000000000000`) in a fresh directory and `PendingLog::open` parses it (records
//! of `len u32 || check [8] || body`, a torn or corrupt record ending the segment), then
//! `PendingLog::read_all` must read the same groups back.
//!
//! The first byte picks how the rest becomes the file: even, as it is; odd, as
//! `length (u16 BE) || body` chunks that the harness frames into records with a correct
//! length and check (the check's domain is copied from `node/src/pending_log.rs`), so that
//! mutations reach the body parser rather than dying at the checksum.
//!
//! The directory is made under `/dev/shm` when it exists (the log syncs files and
//! directories; on tmpfs that costs nothing).
#![no_main]

use std::path::Path;

use libfuzzer_sys::fuzz_target;
use sha2::{Digest as _, Sha256};
use shroud_node::pending_log::PendingLog;

/// `node/src/pending_log.rs`'s `PENDING_DOMAIN`.
const PENDING_DOMAIN: &[u8] = b"SHROUD-V1-PENDING-GROUP";

fn framed(mut input: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    while input.len() >= 2 {
        let length = usize::from(u16::from_be_bytes([input[0], input[1]]));
        input = &input[2..];
        let body = &input[..length.min(input.len())];
        input = &input[body.len()..];
        let digest = Sha256::new()
            .chain_update(PENDING_DOMAIN)
            .chain_update(body)
            .finalize();
        out.extend_from_slice(&(body.len() as u32).to_be_bytes());
        out.extend_from_slice(&digest[..8]);
        out.extend_from_slice(body);
    }
    out
}

fuzz_target!(|data: &[u8]| {
    let Some((&mode, input)) = data.split_first() else {
        return;
    };
    let file = if mode % 2 == 0 {
        input.to_vec()
    } else {
        framed(input)
    };
    let shm = Path::new("/dev/shm");
    let dir = if shm.is_dir() {
        tempfile::tempdir_in(shm)
    } else {
        tempfile::tempdir()
    }
    .expect("a temporary directory");
    std::fs::write(dir.path().join("pending-0000000000000000"), &file).expect("write a segment");
    let (log, groups) =
        PendingLog::open(dir.path()).expect("the log opens whatever a segment holds");
    let again = log.read_all().expect("the log reads back");
    assert_eq!(again, groups, "read_all differs from what open read");
    for group in &groups {
        assert!(group
            .first
            .checked_add(group.transactions.len() as u64)
            .is_some());
    }
});
