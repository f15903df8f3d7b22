//! Large records in append-only segment files beside the node's sled store: batch payloads
//! (`batch-log/`) and committed heights' records (`height-log/`).
//!
//! A batch is hundreds of KiB, and a height record under load tens to hundreds of KiB (one
//! entry per ordered transaction). Kept as a sled value such a record sits in a tree node with
//! its neighbours: every insert into that node rewrites all of them, every read of one
//! deserialises all of them, and sled keeps them in its buffers far past its configured cache
//! (measured: most of a validator's heap and of its kernel time in page-cache copies at 16,000
//! tx/s for batches; 61 MB of a validator's heap for height records at 24,000 tx/s, ADR 0009).
//! Here a record is written once, sequentially, to the current segment; sled keeps only its
//! [`Location`] (20 bytes).
//!
//! Durability: [`SegmentLog::append`] writes and the caller makes the bytes durable with
//! [`SegmentLog::sync`] *before* the sled entry that points at them is written, so no durable
//! entry ever points at bytes a crash can lose. A crash after the append and before the entry
//! leaves unreferenced bytes at the end of a segment, never read. A restart opens a new
//! segment rather than appending to a possibly torn one.
//!
//! Reads are hostile input like any disk read: a location past the end of its segment, or a
//! segment that is gone, reads as absent; the caller validates the bytes (rkyv) and checks
//! them against a digest it kept (the batch digest, or a height record's checksum).
//!
//! Reclaiming is the caller's: for each segment the store records the latest height at which
//! a record in it can still be needed (a batch's expiry, a height record's height); once every
//! height up to that one is pruned, the file is deleted.

use std::fs::{self, File, OpenOptions};
use std::io::Write as _;
use std::os::unix::fs::FileExt as _;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use crate::store::StoreError;

/// A segment is closed and a new one opened past this size.
const SEGMENT_BYTES: u64 = 64 << 20;
/// Encoded size of a [`Location`].
pub const LOCATION_BYTES: usize = 20;

/// Where a record's bytes are: segment, offset, length.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Location {
    /// Segment number.
    pub segment: u64,
    /// Byte offset in the segment.
    pub offset: u64,
    /// Length in bytes.
    pub len: u32,
}

impl Location {
    /// `segment || offset || len`, big-endian.
    pub fn to_bytes(self) -> [u8; LOCATION_BYTES] {
        let mut out = [0u8; LOCATION_BYTES];
        out[..8].copy_from_slice(&self.segment.to_be_bytes());
        out[8..16].copy_from_slice(&self.offset.to_be_bytes());
        out[16..].copy_from_slice(&self.len.to_be_bytes());
        out
    }

    /// The inverse of [`Location::to_bytes`]; `None` for bytes of another length.
    pub fn from_bytes(bytes: &[u8]) -> Option<Self> {
        if bytes.len() != LOCATION_BYTES {
            return None;
        }
        Some(Self {
            segment: u64::from_be_bytes(bytes[..8].try_into().ok()?),
            offset: u64::from_be_bytes(bytes[8..16].try_into().ok()?),
            len: u32::from_be_bytes(bytes[16..].try_into().ok()?),
        })
    }
}

#[derive(Debug)]
struct Current {
    file: File,
    segment: u64,
    len: u64,
    /// Segments closed since the last sync (their tails still need one).
    unsynced: Vec<File>,
    dirty: bool,
}

/// See the module documentation.
#[derive(Debug)]
pub struct SegmentLog {
    dir: PathBuf,
    current: Mutex<Current>,
}

fn io(path: &Path, error: std::io::Error) -> StoreError {
    StoreError::Log(format!("{}: {error}", path.display()))
}

impl SegmentLog {
    /// Opens the log in `dir` (created if missing) and starts a new segment after the
    /// highest one there.
    pub fn open(dir: &Path) -> Result<Self, StoreError> {
        fs::create_dir_all(dir).map_err(|error| io(dir, error))?;
        let highest = Self::segments_in(dir)?.into_iter().max();
        let segment = highest.map_or(0, |highest| highest + 1);
        let file = Self::create(dir, segment)?;
        Ok(Self {
            dir: dir.to_path_buf(),
            current: Mutex::new(Current {
                file,
                segment,
                len: 0,
                unsynced: Vec::new(),
                dirty: false,
            }),
        })
    }

    fn path(dir: &Path, segment: u64) -> PathBuf {
        dir.join(format!("segment-{segment:016}"))
    }

    fn create(dir: &Path, segment: u64) -> Result<File, StoreError> {
        let path = Self::path(dir, segment);
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

    /// The segment numbers present in `dir`.
    fn segments_in(dir: &Path) -> Result<Vec<u64>, StoreError> {
        let mut out = Vec::new();
        for entry in fs::read_dir(dir).map_err(|error| io(dir, error))? {
            let entry = entry.map_err(|error| io(dir, error))?;
            let name = entry.file_name();
            if let Some(number) = name
                .to_str()
                .and_then(|name| name.strip_prefix("segment-"))
                .and_then(|number| number.parse::<u64>().ok())
            {
                out.push(number);
            }
        }
        Ok(out)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Current> {
        self.current
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Appends `bytes` to the current segment (not yet durable: see [`SegmentLog::sync`]).
    pub fn append(&self, bytes: &[u8]) -> Result<Location, StoreError> {
        let len = u32::try_from(bytes.len())
            .map_err(|_| StoreError::Log("a record of 4 GiB or more".into()))?;
        let mut current = self.lock();
        if current.len > 0 && current.len + bytes.len() as u64 > SEGMENT_BYTES {
            let next = current.segment + 1;
            let file = Self::create(&self.dir, next)?;
            let closed = std::mem::replace(&mut current.file, file);
            current.unsynced.push(closed);
            current.segment = next;
            current.len = 0;
        }
        let location = Location {
            segment: current.segment,
            offset: current.len,
            len,
        };
        let path = Self::path(&self.dir, current.segment);
        current
            .file
            .write_all(bytes)
            .map_err(|error| io(&path, error))?;
        current.len += bytes.len() as u64;
        current.dirty = true;
        Ok(location)
    }

    /// Makes every append so far durable (fdatasync of the current segment and of any closed
    /// since the last sync).
    pub fn sync(&self) -> Result<(), StoreError> {
        let mut current = self.lock();
        for closed in current.unsynced.drain(..) {
            closed.sync_data().map_err(|error| io(&self.dir, error))?;
        }
        if current.dirty {
            let path = Self::path(&self.dir, current.segment);
            current.file.sync_data().map_err(|error| io(&path, error))?;
            current.dirty = false;
        }
        Ok(())
    }

    /// The segment appends go to now.
    pub fn current_segment(&self) -> u64 {
        self.lock().segment
    }

    /// The bytes at `location`; `None` if the segment is gone or shorter (never durable, or
    /// reclaimed).
    pub fn read(&self, location: Location) -> Result<Option<Vec<u8>>, StoreError> {
        let path = Self::path(&self.dir, location.segment);
        let file = match File::open(&path) {
            Ok(file) => file,
            Err(error) if error.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(error) => return Err(io(&path, error)),
        };
        let mut bytes = vec![0u8; location.len as usize];
        match file.read_exact_at(&mut bytes, location.offset) {
            Ok(()) => Ok(Some(bytes)),
            Err(error) if error.kind() == std::io::ErrorKind::UnexpectedEof => Ok(None),
            Err(error) => Err(io(&path, error)),
        }
    }

    /// Deletes closed segment `segment` (never the current one).
    pub fn remove(&self, segment: u64) -> Result<(), StoreError> {
        if segment >= self.current_segment() {
            return Ok(());
        }
        let path = Self::path(&self.dir, segment);
        match fs::remove_file(&path) {
            Ok(()) => Ok(()),
            Err(error) if error.kind() == std::io::ErrorKind::NotFound => Ok(()),
            Err(error) => Err(io(&path, error)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn appends_read_back_across_segments_and_a_reopen_starts_a_new_segment() {
        let dir = tempfile::tempdir().expect("temporary directory");
        let log = SegmentLog::open(dir.path()).expect("open");
        let big = vec![7u8; (SEGMENT_BYTES / 2 + 1) as usize];
        let first = log.append(b"first").expect("append");
        let second = log.append(&big).expect("append");
        let third = log.append(&big).expect("append");
        log.sync().expect("sync");
        assert_eq!(first.segment, second.segment);
        assert_eq!(
            third.segment,
            first.segment + 1,
            "rotated past the segment size"
        );
        assert_eq!(log.read(first).expect("read"), Some(b"first".to_vec()));
        assert_eq!(log.read(third).expect("read"), Some(big.clone()));
        assert_eq!(Location::from_bytes(&third.to_bytes()), Some(third));
        drop(log);
        let log = SegmentLog::open(dir.path()).expect("reopen");
        assert_eq!(log.current_segment(), third.segment + 1);
        assert_eq!(log.read(second).expect("read"), Some(big));
        // Past the end of a segment, or in a removed one, reads as absent.
        let past = Location {
            offset: 1 << 40,
            ..first
        };
        assert_eq!(log.read(past).expect("read"), None);
        log.remove(first.segment).expect("remove");
        assert_eq!(log.read(first).expect("read"), None);
        log.remove(log.current_segment())
            .expect("the current one stays");
        let fourth = log.append(b"fourth").expect("append");
        assert_eq!(log.read(fourth).expect("read"), Some(b"fourth".to_vec()));
    }
}
