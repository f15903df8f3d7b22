//! Accepted, not yet batched ciphertexts in an append-only log beside the node's sled store.
//!
//! The ingress stage makes each group commit durable before any of its receipts leave. Kept in
//! sled, a group cost an insert, a removal once batched, and a sled flush (its page cache,
//! its log writer and its threads) per group; under load that was a fifth of a validator's
//! CPU (ADR 0009). Here a group is one record appended to the current segment and one
//! `fdatasync`: [`PendingLog::append`] returns once the record is durable.
//!
//! Record: `len u32 || check [8] || body`, with `check` the first 8 bytes of
//! SHA-256(`PENDING_DOMAIN` || body) and `body = first u64 || count u32 || (len u32 || bytes)*`,
//! integers big-endian. The bytes read back are hostile like any disk read: a record whose
//! length runs past the file, whose check fails or whose body does not parse ends that
//! segment's reading (a torn tail; it was never acknowledged, since receipts wait for the
//! sync), and the reader says so.
//!
//! Which groups still matter is decided by the store's durable batched-through mark (every
//! ciphertext numbered below it is in a durable batch): a closed segment whose groups all end
//! at or below the mark is deleted ([`PendingLog::reclaim`]), once the caller has made the
//! mark durable. A restart opens a new segment rather than appending to a possibly torn one.

use std::collections::BTreeMap;
use std::fs::{self, File, OpenOptions};
use std::io::Write as _;
use std::path::{Path, PathBuf};

use sha2::{Digest as _, Sha256};
use tracing::warn;

use crate::store::{PendingGroup, StoreError};

/// A segment is closed and a new one opened past this size.
const SEGMENT_BYTES: u64 = 16 << 20;
/// Domain of a record's check.
const PENDING_DOMAIN: &[u8] = b"SHROUD-V1-PENDING-GROUP";
/// Bytes before a record's body.
const RECORD_HEADER_BYTES: usize = 12;

fn io(path: &Path, error: std::io::Error) -> StoreError {
    StoreError::Log(format!("{}: {error}", path.display()))
}

fn check(body: &[u8]) -> [u8; 8] {
    let digest = Sha256::new()
        .chain_update(PENDING_DOMAIN)
        .chain_update(body)
        .finalize();
    let mut out = [0u8; 8];
    out.copy_from_slice(&digest[..8]);
    out
}

/// See the module documentation.
#[derive(Debug)]
pub struct PendingLog {
    dir: PathBuf,
    file: File,
    segment: u64,
    len: u64,
    /// The end (one past the last admission number) of the newest group in the current segment.
    current_end: u64,
    /// Closed segments and the end of their newest group.
    closed: BTreeMap<u64, u64>,
    buffer: Vec<u8>,
}

impl PendingLog {
    /// Opens the log in `dir` (created if missing): the groups in its segments, and a new
    /// segment after the highest one there.
    pub fn open(dir: &Path) -> Result<(Self, Vec<PendingGroup>), StoreError> {
        fs::create_dir_all(dir).map_err(|error| io(dir, error))?;
        let mut segments = segments_in(dir)?;
        segments.sort_unstable();
        let mut groups = Vec::new();
        let mut closed = BTreeMap::new();
        for segment in &segments {
            let path = segment_path(dir, *segment);
            let bytes = fs::read(&path).map_err(|error| io(&path, error))?;
            let (read, end) = parse(&bytes, &path);
            closed.insert(*segment, end);
            groups.extend(read);
        }
        let segment = segments.last().map_or(0, |highest| highest + 1);
        let file = create(dir, segment)?;
        Ok((
            Self {
                dir: dir.to_path_buf(),
                file,
                segment,
                len: 0,
                current_end: 0,
                closed,
                buffer: Vec::new(),
            },
            groups,
        ))
    }

    /// Appends the group of ciphertexts numbered `first..` and makes it durable.
    pub fn append(&mut self, first: u64, transactions: &[&[u8]]) -> Result<(), StoreError> {
        let count = u32::try_from(transactions.len())
            .map_err(|_| StoreError::Log("a pending group of 2^32 ciphertexts".into()))?;
        self.buffer.clear();
        self.buffer.extend_from_slice(&[0u8; RECORD_HEADER_BYTES]);
        self.buffer.extend_from_slice(&first.to_be_bytes());
        self.buffer.extend_from_slice(&count.to_be_bytes());
        for transaction in transactions {
            let len = u32::try_from(transaction.len())
                .map_err(|_| StoreError::Log("a ciphertext of 4 GiB".into()))?;
            self.buffer.extend_from_slice(&len.to_be_bytes());
            self.buffer.extend_from_slice(transaction);
        }
        let body_len = u32::try_from(self.buffer.len() - RECORD_HEADER_BYTES)
            .map_err(|_| StoreError::Log("a pending group of 4 GiB".into()))?;
        let sum = check(&self.buffer[RECORD_HEADER_BYTES..]);
        self.buffer[..4].copy_from_slice(&body_len.to_be_bytes());
        self.buffer[4..RECORD_HEADER_BYTES].copy_from_slice(&sum);
        if self.len > 0 && self.len + self.buffer.len() as u64 > SEGMENT_BYTES {
            self.rotate()?;
        }
        let path = segment_path(&self.dir, self.segment);
        self.file
            .write_all(&self.buffer)
            .and_then(|()| self.file.sync_data())
            .map_err(|error| io(&path, error))?;
        self.len += self.buffer.len() as u64;
        self.current_end = self.current_end.max(first + u64::from(count));
        Ok(())
    }

    fn rotate(&mut self) -> Result<(), StoreError> {
        let next = self.segment + 1;
        let file = create(&self.dir, next)?;
        // Every append to the old segment was synced when it was made.
        drop(std::mem::replace(&mut self.file, file));
        self.closed.insert(self.segment, self.current_end);
        self.segment = next;
        self.len = 0;
        self.current_end = 0;
        Ok(())
    }

    /// Deletes the closed segments whose every group ends at or below `batched_through`. The
    /// caller has made that mark durable.
    pub fn reclaim(&mut self, batched_through: u64) -> Result<(), StoreError> {
        let done: Vec<u64> = self
            .closed
            .iter()
            .filter(|(_, end)| **end <= batched_through)
            .map(|(segment, _)| *segment)
            .collect();
        for segment in done {
            let path = segment_path(&self.dir, segment);
            match fs::remove_file(&path) {
                Ok(()) => {}
                Err(error) if error.kind() == std::io::ErrorKind::NotFound => {}
                Err(error) => return Err(io(&path, error)),
            }
            self.closed.remove(&segment);
        }
        Ok(())
    }

    /// Every group in every segment on disk, oldest first (each append was durable whole, so
    /// this is what a crash would leave).
    pub fn read_all(&self) -> Result<Vec<PendingGroup>, StoreError> {
        let mut segments = segments_in(&self.dir)?;
        segments.sort_unstable();
        let mut groups = Vec::new();
        for segment in segments {
            let path = segment_path(&self.dir, segment);
            let bytes = match fs::read(&path) {
                Ok(bytes) => bytes,
                Err(error) if error.kind() == std::io::ErrorKind::NotFound => continue,
                Err(error) => return Err(io(&path, error)),
            };
            groups.extend(parse(&bytes, &path).0);
        }
        Ok(groups)
    }

    /// Segment files on disk (the current one included).
    pub fn segments(&self) -> usize {
        self.closed.len() + 1
    }
}

fn segment_path(dir: &Path, segment: u64) -> PathBuf {
    dir.join(format!("pending-{segment:016}"))
}

fn create(dir: &Path, segment: u64) -> Result<File, StoreError> {
    let path = segment_path(dir, segment);
    let file = OpenOptions::new()
        .create_new(true)
        .append(true)
        .open(&path)
        .map_err(|error| io(&path, error))?;
    // The new file's directory entry must survive a crash too.
    File::open(dir)
        .and_then(|directory| directory.sync_all())
        .map_err(|error| io(dir, error))?;
    Ok(file)
}

fn segments_in(dir: &Path) -> Result<Vec<u64>, StoreError> {
    let mut out = Vec::new();
    for entry in fs::read_dir(dir).map_err(|error| io(dir, error))? {
        let entry = entry.map_err(|error| io(dir, error))?;
        if let Some(number) = entry
            .file_name()
            .to_str()
            .and_then(|name| name.strip_prefix("pending-"))
            .and_then(|number| number.parse::<u64>().ok())
        {
            out.push(number);
        }
    }
    Ok(out)
}

/// The groups of one segment, up to its first bad record, and the end of the newest.
fn parse(bytes: &[u8], path: &Path) -> (Vec<PendingGroup>, u64) {
    let mut groups = Vec::new();
    let mut end = 0u64;
    let mut rest = bytes;
    while !rest.is_empty() {
        let Some(group) = parse_record(&mut rest) else {
            metrics::counter!("shroud_pending_log_torn_records_total").increment(1);
            warn!(
                path = %path.display(),
                bytes = rest.len(),
                "a pending log segment ends in a torn or corrupt record; read up to it"
            );
            break;
        };
        end = end.max(group.first + group.transactions.len() as u64);
        groups.push(group);
    }
    (groups, end)
}

fn take<'a>(rest: &mut &'a [u8], n: usize) -> Option<&'a [u8]> {
    if rest.len() < n {
        return None;
    }
    let (head, tail) = rest.split_at(n);
    *rest = tail;
    Some(head)
}

fn take_u32(rest: &mut &[u8]) -> Option<u32> {
    take(rest, 4).map(|bytes| u32::from_be_bytes(bytes.try_into().expect("4 bytes")))
}

fn parse_record(rest: &mut &[u8]) -> Option<PendingGroup> {
    let len = take_u32(rest)? as usize;
    let sum = take(rest, 8)?;
    let mut body = take(rest, len)?;
    if check(body) != sum {
        return None;
    }
    let first = u64::from_be_bytes(take(&mut body, 8)?.try_into().ok()?);
    let count = take_u32(&mut body)? as usize;
    // Each ciphertext takes at least its 4-byte length: a count the body cannot hold is bad.
    if count > body.len() / 4 {
        return None;
    }
    let mut transactions = Vec::with_capacity(count);
    for _ in 0..count {
        let len = take_u32(&mut body)? as usize;
        transactions.push(take(&mut body, len)?.to_vec());
    }
    if !body.is_empty() || first.checked_add(count as u64).is_none() {
        return None;
    }
    Some(PendingGroup {
        first,
        transactions,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn group(first: u64, transactions: &[&[u8]]) -> PendingGroup {
        PendingGroup {
            first,
            transactions: transactions.iter().map(|t| t.to_vec()).collect(),
        }
    }

    #[test]
    fn groups_read_back_after_a_reopen_and_a_torn_tail_is_dropped() {
        let dir = tempfile::tempdir().expect("temporary directory");
        let (mut log, groups) = PendingLog::open(dir.path()).expect("open");
        assert!(groups.is_empty());
        log.append(0, &[b"one", b"two"]).expect("append");
        log.append(2, &[b""]).expect("append");
        log.append(3, &[b"four"]).expect("append");
        let path = segment_path(dir.path(), 0);
        drop(log);
        // A crash in the middle of a fourth append: half a record at the end.
        let mut file = OpenOptions::new().append(true).open(&path).expect("open");
        file.write_all(&[0, 0, 0, 40, 1, 2, 3]).expect("write");
        drop(file);
        let (log, groups) = PendingLog::open(dir.path()).expect("reopen");
        assert_eq!(
            groups,
            vec![
                group(0, &[b"one", b"two"]),
                group(2, &[b""]),
                group(3, &[b"four"])
            ]
        );
        assert_eq!(log.segments(), 2, "a reopen starts a new segment");
    }

    #[test]
    fn a_flipped_byte_ends_the_segment_there_and_nothing_panics() {
        let dir = tempfile::tempdir().expect("temporary directory");
        let (mut log, _) = PendingLog::open(dir.path()).expect("open");
        log.append(0, &[b"alpha"]).expect("append");
        log.append(1, &[b"beta", b"gamma"]).expect("append");
        drop(log);
        let path = segment_path(dir.path(), 0);
        let clean = fs::read(&path).expect("read");
        for at in 0..clean.len() {
            let mut bytes = clean.clone();
            bytes[at] ^= 0x40;
            let (groups, _) = parse(&bytes, &path);
            let first_record = RECORD_HEADER_BYTES + 8 + 4 + 4 + 5;
            if at < first_record {
                assert!(groups.is_empty(), "byte {at} is in the first record");
            } else {
                assert_eq!(groups, vec![group(0, &[b"alpha"])], "byte {at}");
            }
        }
    }

    #[test]
    fn reclaim_deletes_closed_segments_wholly_batched_only() {
        let dir = tempfile::tempdir().expect("temporary directory");
        let (mut log, _) = PendingLog::open(dir.path()).expect("open");
        let big = vec![9u8; (SEGMENT_BYTES / 2) as usize];
        log.append(0, &[&big]).expect("append"); // segment 0
        log.append(1, &[&big]).expect("append"); // segment 1
        log.append(2, &[b"small"]).expect("append"); // segment 1
        log.append(3, &[&big]).expect("append"); // segment 2 (current)
        assert_eq!(log.segments(), 3);
        log.reclaim(1).expect("reclaim");
        assert_eq!(log.segments(), 2, "segment 0 ended at 1");
        log.reclaim(2).expect("reclaim");
        assert_eq!(log.segments(), 2, "segment 1 still holds number 2");
        log.reclaim(10).expect("reclaim");
        assert_eq!(log.segments(), 1, "the current segment stays");
        drop(log);
        let (_, groups) = PendingLog::open(dir.path()).expect("reopen");
        assert_eq!(groups.len(), 1);
        assert_eq!(groups[0].first, 3);
    }
}
