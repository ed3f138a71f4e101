//! Write-ahead log: checksummed records in numbered segment files.
//!
//! Frame: `len: u32 LE | crc32(payload): u32 LE | payload` where the payload is a postcard
//! [`WalRecord`]. Segment files are named by the first LSN they may hold, so dropping
//! checkpointed history is a file delete.
//!
//! One rule for faults: a record that was not written whole, or whose fsync failed, is cut
//! back off the file and its LSN is not used; after a failed fsync (or a failed cut) the log
//! refuses every later write until the database is reopened. A record written whole is kept,
//! whatever happens to the segment rotation after it. Replay checks that LSNs are contiguous.

use crate::error::{AuroraError, Result};
use parking_lot::Mutex;
use serde::{Deserialize, Serialize};
use std::fs::{File, OpenOptions};
use std::io::Read;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

/// Segments rotate once they pass this size (unless configured otherwise).
pub const DEFAULT_SEGMENT_BYTES: u64 = 64 * 1024 * 1024;
/// A record larger than this is treated as damage, not as data; a commit that would encode to
/// more is refused before anything is written.
pub const MAX_RECORD_BYTES: u32 = 1 << 30;
/// In fsync modes a segment grows in zero-filled steps of this size ahead of the records:
/// overwriting allocated blocks lets `fdatasync` skip the file-size metadata update that an
/// append needs, which is most of a small commit's fsync cost.
const PREALLOCATE_BYTES: u64 = 1024 * 1024;

/// One write inside a record. Document writes are logical: replay derives the index entries
/// from them, as the commit did.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum WalOp {
    /// A field-dictionary name a later op of the record uses (replayed first).
    Field {
        /// Collection id.
        coll: u32,
        /// The name's id.
        id: u16,
        /// The name.
        name: String,
    },
    /// A document inserted or replaced at a row: its stored bytes (system id and fields).
    PutDoc {
        /// Collection id.
        coll: u32,
        /// Row id.
        rowid: u32,
        /// The stored document (shared with the commit that wrote it, not copied).
        #[serde(with = "arc_bytes")]
        doc: std::sync::Arc<[u8]>,
    },
    /// A document removed.
    DeleteDoc {
        /// Collection id.
        coll: u32,
        /// Row id.
        rowid: u32,
    },
    /// A raw key write (the job queue): `None` deletes.
    Raw {
        /// The key.
        key: Vec<u8>,
        /// The new value.
        value: Option<Vec<u8>>,
    },
}

/// `Arc<[u8]>` as serde bytes: postcard writes them as a length and the raw bytes, the same
/// encoding as a sequence of `u8`, so records written either way read the same.
mod arc_bytes {
    use serde::de::{self, SeqAccess, Visitor};
    use serde::{Deserializer, Serializer};
    use std::sync::Arc;

    pub fn serialize<S: Serializer>(b: &Arc<[u8]>, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_bytes(b)
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Arc<[u8]>, D::Error> {
        struct Bytes;
        impl<'de> Visitor<'de> for Bytes {
            type Value = Arc<[u8]>;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("bytes")
            }
            fn visit_bytes<E: de::Error>(self, v: &[u8]) -> Result<Self::Value, E> {
                Ok(Arc::from(v))
            }
            fn visit_byte_buf<E: de::Error>(self, v: Vec<u8>) -> Result<Self::Value, E> {
                Ok(Arc::from(v))
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
                let mut out = Vec::with_capacity(seq.size_hint().unwrap_or(0).min(1 << 16));
                while let Some(b) = seq.next_element::<u8>()? {
                    out.push(b);
                }
                Ok(Arc::from(out))
            }
        }
        d.deserialize_bytes(Bytes)
    }
}

/// One atomic unit of the log: every op of a commit, under one LSN.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct WalRecord {
    /// Commit sequence number.
    pub lsn: u64,
    /// The writes, applied together or not at all.
    pub ops: Vec<WalOp>,
}

#[derive(Serialize)]
struct WalRecordRef<'a> {
    lsn: u64,
    ops: &'a [WalOp],
}

/// What the log shares with the background syncer (WAL mode syncs on a timer): the current
/// segment, how far it is written and synced, and whether the log has failed.
pub struct WalShared {
    current: Mutex<(Arc<File>, PathBuf)>,
    written_lsn: AtomicU64,
    synced_lsn: AtomicU64,
    failed: Mutex<Option<String>>,
}

impl WalShared {
    /// fsyncs the current segment (everything written before the call). A failure marks the
    /// log failed: no later write is accepted until the database is reopened.
    pub fn sync_now(&self) -> Result<()> {
        if let Some(f) = self.failed.lock().clone() {
            return Err(failed_error(&f));
        }
        let lsn = self.written_lsn.load(Ordering::Acquire);
        if self.synced_lsn.load(Ordering::Acquire) >= lsn {
            return Ok(());
        }
        let (file, path) = self.current.lock().clone();
        match sync_data(&file) {
            Ok(()) => {
                self.synced_lsn.fetch_max(lsn, Ordering::AcqRel);
                Ok(())
            }
            Err(e) => {
                let msg = format!("fsync of {} failed: {e}", path.display());
                *self.failed.lock() = Some(msg.clone());
                Err(failed_error(&msg))
            }
        }
    }

    /// Highest LSN known fsynced.
    pub fn synced_lsn(&self) -> u64 {
        self.synced_lsn.load(Ordering::Acquire)
    }

    /// Why the log refuses writes, if it does.
    pub fn failure(&self) -> Option<String> {
        self.failed.lock().clone()
    }
}

fn failed_error(why: &str) -> AuroraError {
    AuroraError::Storage(format!(
        "the WAL refuses writes after an earlier failure ({why}); every write acknowledged before it is safe: \
         close and reopen the database"
    ))
}

/// `fdatasync`, or an injected failure (see [`super::faults`]).
fn sync_data(file: &File) -> std::io::Result<()> {
    super::faults::check(super::faults::Point::WalSync)?;
    file.sync_data()
}

/// The appending side of the log. Owned by the commit path.
pub struct Wal {
    dir: PathBuf,
    file: Arc<File>,
    path: PathBuf,
    /// Bytes of records in the current segment; the next record is written here.
    size: u64,
    /// Length of the segment file: `size` plus zero-filled space ahead of it.
    allocated: u64,
    /// Zero-fill ahead of the records (fsync modes, until growing the file once fails).
    preallocate: bool,
    seg_start: u64,
    last_lsn: u64,
    /// fsync every record before its append returns (Strict and Synchronous modes).
    fsync: bool,
    /// Rotate once a segment passes this size.
    segment_bytes: u64,
    /// A rotation failed after its record was written: try again on the next append.
    rotate_pending: bool,
    shared: Arc<WalShared>,
    buf: Vec<u8>,
}

fn segment_name(start_lsn: u64) -> String {
    format!("{start_lsn:020}.wal")
}

/// Segment files of `dir`, ordered by their first LSN.
pub fn list_segments(dir: &Path) -> Result<Vec<(u64, PathBuf)>> {
    let mut segs = Vec::new();
    let rd = match std::fs::read_dir(dir) {
        Ok(rd) => rd,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(segs),
        Err(e) => return Err(AuroraError::io(dir, e)),
    };
    for entry in rd {
        let entry = entry.map_err(|e| AuroraError::io(dir, e))?;
        let name = entry.file_name().to_string_lossy().to_string();
        if let Some(n) = name.strip_suffix(".wal").and_then(|s| s.parse::<u64>().ok()) {
            segs.push((n, entry.path()));
        }
    }
    segs.sort();
    Ok(segs)
}

/// Decodes one segment's bytes. Returns the records and, if the tail is torn, the offset to cut at.
///
/// Damage in the last segment that no intact record follows is a torn tail (a write cut short
/// by a crash) and is cut off. Damage followed by an intact record is in the middle of the log —
/// a damaged length field must not pass for a torn tail and silently drop the records after
/// it — and is an error naming the file and offset, as is any damage in an earlier segment.
pub fn decode_segment(path: &Path, bytes: &[u8], is_last: bool) -> Result<(Vec<WalRecord>, Option<u64>)> {
    let mut out: Vec<WalRecord> = Vec::new();
    let mut off = 0usize;
    while off < bytes.len() {
        let reason = match frame_at(bytes, off) {
            Ok((record, end)) => {
                if let Some(prev) = out.last().map(|r| r.lsn) {
                    if record.lsn != prev.wrapping_add(1) {
                        return Err(AuroraError::Corruption {
                            file: path.to_path_buf(),
                            offset: off as u64,
                            reason: format!(
                                "record with LSN {} follows LSN {prev}: LSNs must be consecutive",
                                record.lsn
                            ),
                        });
                    }
                }
                out.push(record);
                off = end;
                continue;
            }
            Err(reason) => reason,
        };
        let last_lsn = out.last().map_or(0, |r| r.lsn);
        if is_last && !intact_record_after(bytes, off, last_lsn) {
            return Ok((out, Some(off as u64)));
        }
        return Err(AuroraError::Corruption { file: path.to_path_buf(), offset: off as u64, reason });
    }
    Ok((out, None))
}

/// The record framed at `off` and the offset after it, or why there is none.
fn frame_at(bytes: &[u8], off: usize) -> std::result::Result<(WalRecord, usize), String> {
    let end = frame_end(bytes, off)?;
    postcard::from_bytes::<WalRecord>(&bytes[off + 8..end])
        .map(|r| (r, end))
        .map_err(|e| format!("undecodable record: {e}"))
}

/// End of the frame at `off` if its header fits, its length is plausible and its checksum matches.
fn frame_end(bytes: &[u8], off: usize) -> std::result::Result<usize, String> {
    if bytes.len() - off < 8 {
        return Err("truncated record header".into());
    }
    let len = u32::from_le_bytes([bytes[off], bytes[off + 1], bytes[off + 2], bytes[off + 3]]);
    let crc = u32::from_le_bytes([bytes[off + 4], bytes[off + 5], bytes[off + 6], bytes[off + 7]]);
    let end = off + 8 + len as usize;
    if len > MAX_RECORD_BYTES || end > bytes.len() {
        return Err("record length runs past the end of the segment".into());
    }
    if crc32fast::hash(&bytes[off + 8..end]) != crc {
        return Err("checksum mismatch".into());
    }
    Ok(end)
}

/// True when an intact record (checksum valid, decodable, LSN after `last_lsn`) starts
/// anywhere after the damage at `off`. Only runs on damaged segments.
fn intact_record_after(bytes: &[u8], off: usize, last_lsn: u64) -> bool {
    // A record holds at least its 8-byte header and 2 payload bytes, which bounds the LSNs
    // that can still follow; checking the LSN first keeps the scan cheap.
    let max_lsn = last_lsn.saturating_add((bytes.len() - off) as u64);
    (off + 1..bytes.len().saturating_sub(9)).any(|p| {
        let len = u32::from_le_bytes([bytes[p], bytes[p + 1], bytes[p + 2], bytes[p + 3]]) as usize;
        if len < 2 || len > bytes.len() - p - 8 {
            return false;
        }
        match postcard::take_from_bytes::<u64>(&bytes[p + 8..p + 8 + len]) {
            Ok((lsn, _)) if lsn > last_lsn && lsn <= max_lsn => {}
            _ => return false,
        }
        frame_at(bytes, p).is_ok_and(|(r, _)| r.lsn > last_lsn)
    })
}

/// Reads every record of the log in `dir`, cutting off a torn tail of the last segment.
pub fn replay(dir: &Path) -> Result<Vec<WalRecord>> {
    let segs = list_segments(dir)?;
    let mut records = Vec::new();
    for (i, (_, path)) in segs.iter().enumerate() {
        let is_last = i + 1 == segs.len();
        let mut bytes = Vec::new();
        File::open(path).and_then(|mut f| f.read_to_end(&mut bytes)).map_err(|e| AuroraError::io(path, e))?;
        let (recs, cut) = decode_segment(path, &bytes, is_last)?;
        if let Some(cut) = cut {
            if bytes[cut as usize..].iter().all(|&b| b == 0) {
                tracing::debug!("dropping the preallocated tail of {} at offset {cut}", path.display());
            } else {
                tracing::warn!("discarding torn WAL tail of {} at offset {cut}", path.display());
            }
            let f = OpenOptions::new().write(true).open(path).map_err(|e| AuroraError::io(path, e))?;
            f.set_len(cut).map_err(|e| AuroraError::io(path, e))?;
            f.sync_all().map_err(|e| AuroraError::io(path, e))?;
        }
        if let (Some(prev), Some(first)) = (records.last().map(|r: &WalRecord| r.lsn), recs.first()) {
            if first.lsn != prev.wrapping_add(1) {
                return Err(AuroraError::Corruption {
                    file: path.clone(),
                    offset: 0,
                    reason: format!(
                        "the segment starts at LSN {} but the one before it ends at LSN {prev}: LSNs must be consecutive",
                        first.lsn
                    ),
                });
            }
        }
        records.extend(recs);
    }
    Ok(records)
}

impl Wal {
    /// Starts a fresh segment at `next_lsn` in `dir`. With `fsync`, every append is fsynced
    /// before it returns.
    pub fn create(dir: &Path, next_lsn: u64, fsync: bool, segment_bytes: u64) -> Result<Wal> {
        std::fs::create_dir_all(dir).map_err(|e| AuroraError::io(dir, e))?;
        let path = dir.join(segment_name(next_lsn));
        let file = Arc::new(open_segment(&path)?);
        let size = file.metadata().map_err(|e| AuroraError::io(&path, e))?.len();
        let last = next_lsn.saturating_sub(1);
        let shared = Arc::new(WalShared {
            current: Mutex::new((file.clone(), path.clone())),
            written_lsn: AtomicU64::new(last),
            synced_lsn: AtomicU64::new(last),
            failed: Mutex::new(None),
        });
        Ok(Wal {
            dir: dir.to_path_buf(),
            file,
            path,
            size,
            allocated: size,
            preallocate: fsync,
            seg_start: next_lsn,
            last_lsn: last,
            fsync,
            segment_bytes: segment_bytes.max(1),
            rotate_pending: false,
            shared,
            buf: Vec::with_capacity(4096),
        })
    }

    /// The state shared with the background syncer.
    pub fn shared(&self) -> &Arc<WalShared> {
        &self.shared
    }

    /// Appends one record with a single `write` (and, in fsync modes, one `fdatasync`).
    ///
    /// On `Ok` the record is in the file whole (and synced in fsync modes): its LSN is used.
    /// On `Err` it is not in the file: a write cut short or a record whose fsync failed is
    /// cut back off. A failed fsync or a failed cut also fails the log for every later write.
    pub fn append(&mut self, lsn: u64, ops: &[WalOp]) -> Result<()> {
        if let Some(f) = self.shared.failure() {
            return Err(failed_error(&f));
        }
        self.buf.clear();
        self.buf.extend_from_slice(&[0u8; 8]);
        let payload = postcard::to_extend(&WalRecordRef { lsn, ops }, std::mem::take(&mut self.buf))?;
        self.buf = payload;
        let payload_len = self.buf.len() - 8;
        let len = match u32::try_from(payload_len) {
            Ok(l) if l <= MAX_RECORD_BYTES => l,
            _ => {
                return Err(AuroraError::limit(
                    "max_commit_bytes",
                    MAX_RECORD_BYTES,
                    format!(
                    "the commit encodes to {payload_len} bytes, more than one WAL record holds; nothing was written"
                ),
                ))
            }
        };
        let crc = crc32fast::hash(&self.buf[8..]);
        self.buf[0..4].copy_from_slice(&len.to_le_bytes());
        self.buf[4..8].copy_from_slice(&crc.to_le_bytes());
        let end = self.size + self.buf.len() as u64;
        if self.preallocate && end > self.allocated {
            self.grow(end);
        }
        if let Err(e) = write_at(&self.file, &self.buf, self.size) {
            self.cut_back(&format!("write failed: {e}"), false);
            return Err(AuroraError::io(&self.path, e));
        }
        if self.fsync {
            if let Err(e) = sync_data(&self.file) {
                // The record may or may not have reached the disk: cut it off so it is never
                // replayed, and refuse further writes (the page cache may have dropped data).
                self.cut_back(&format!("fsync failed: {e}"), true);
                return Err(failed_error(&format!("fsync of {} failed: {e}", self.path.display())));
            }
        }
        self.size = end;
        self.allocated = self.allocated.max(end);
        self.last_lsn = lsn;
        self.shared.written_lsn.store(lsn, Ordering::Release);
        if self.fsync {
            self.shared.synced_lsn.fetch_max(lsn, Ordering::AcqRel);
        }
        if self.size >= self.segment_bytes || self.rotate_pending {
            // The record is written: a failed rotation does not undo it, it is tried again.
            if let Err(e) = self.rotate() {
                tracing::warn!("WAL segment rotation failed (tried again on the next write): {e}");
                self.rotate_pending = true;
            }
        }
        Ok(())
    }

    /// Cuts the file back to the last whole record (and its zero-filled space). A failed cut,
    /// or `fail` (a failed fsync), fails the log for every later write.
    fn cut_back(&mut self, why: &str, fail: bool) {
        let cut = self.file.set_len(self.size).and_then(|_| self.file.sync_all());
        self.allocated = self.size;
        let failure = match (cut, fail) {
            (Err(e), _) => Some(format!("{why}; cutting the partial record off failed: {e}")),
            (Ok(()), true) => Some(why.to_string()),
            (Ok(()), false) => None,
        };
        if let Some(f) = failure {
            tracing::error!("WAL {}: {f}", self.path.display());
            *self.shared.failed.lock() = Some(f);
        }
    }

    /// Closes the current segment (fsynced, so a later sync of the next one never covers an
    /// unsynced earlier one) and starts the next. Returns the first LSN of the new segment:
    /// every earlier segment holds only lower LSNs. On error nothing changes.
    pub fn rotate(&mut self) -> Result<u64> {
        if self.size == 0 {
            return Ok(self.seg_start);
        }
        // Only the last segment may end in zero-filled space: cut it before the next one exists.
        if self.allocated > self.size {
            self.file.set_len(self.size).map_err(|e| AuroraError::io(&self.path, e))?;
            self.allocated = self.size;
        }
        sync_data(&self.file).map_err(|e| AuroraError::io(&self.path, e))?;
        self.shared.synced_lsn.fetch_max(self.last_lsn, Ordering::AcqRel);
        let next = self.last_lsn + 1;
        let path = self.dir.join(segment_name(next));
        super::faults::check(super::faults::Point::WalRotate).map_err(|e| AuroraError::io(&path, e))?;
        let file = Arc::new(open_segment(&path)?);
        self.file = file.clone();
        self.path = path.clone();
        self.size = 0;
        self.allocated = 0;
        self.preallocate = self.fsync;
        self.seg_start = next;
        self.rotate_pending = false;
        *self.shared.current.lock() = (file, path);
        Ok(next)
    }

    /// Deletes the segments that end before `segment_start` (all their records are checkpointed).
    pub fn remove_segments_before(&self, segment_start: u64) -> Result<usize> {
        let mut removed = 0;
        for (start, path) in list_segments(&self.dir)? {
            if start < segment_start && start != self.seg_start {
                std::fs::remove_file(&path).map_err(|e| AuroraError::io(&path, e))?;
                removed += 1;
            }
        }
        Ok(removed)
    }

    /// fsyncs the current segment now (used at close).
    pub fn sync(&self) -> Result<()> {
        self.shared.sync_now()
    }

    /// Zero-fills the segment to at least `end` plus one step. Best effort: on a full disk the
    /// space written so far is given back and records are appended as they come.
    fn grow(&mut self, end: u64) {
        let target = end.div_ceil(PREALLOCATE_BYTES).saturating_add(1).saturating_mul(PREALLOCATE_BYTES);
        let zeros = vec![0u8; 64 * 1024];
        let mut at = self.allocated.max(self.size);
        while at < target {
            let n = (target - at).min(zeros.len() as u64) as usize;
            if let Err(e) = write_at(&self.file, &zeros[..n], at) {
                tracing::debug!("WAL preallocation stopped ({e}); appending without it");
                let _ = self.file.set_len(self.size);
                self.allocated = self.size;
                self.preallocate = false;
                return;
            }
            at += n as u64;
        }
        self.allocated = target;
    }
}

impl Drop for Wal {
    /// A clean close gives back the zero-filled space (recovery would cut it anyway).
    fn drop(&mut self) {
        if self.allocated > self.size {
            let _ = self.file.set_len(self.size);
        }
    }
}

/// Writes all of `buf` at `offset`.
#[cfg(unix)]
fn write_at(file: &File, buf: &[u8], offset: u64) -> std::io::Result<()> {
    std::os::unix::fs::FileExt::write_all_at(file, buf, offset)
}

/// Writes all of `buf` at `offset`.
#[cfg(not(unix))]
fn write_at(mut file: &File, buf: &[u8], offset: u64) -> std::io::Result<()> {
    use std::io::{Seek, Write};
    file.seek(std::io::SeekFrom::Start(offset))?;
    file.write_all(buf)
}

fn open_segment(path: &Path) -> Result<File> {
    let f =
        OpenOptions::new().create(true).write(true).truncate(false).open(path).map_err(|e| AuroraError::io(path, e))?;
    if let Some(dir) = path.parent() {
        // Make the new file's directory entry durable.
        if let Ok(d) = File::open(dir) {
            let _ = d.sync_all();
        }
    }
    Ok(f)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rec(lsn: u64) -> Vec<WalOp> {
        vec![WalOp::Raw { key: lsn.to_be_bytes().to_vec(), value: Some(vec![1, 2, 3]) }]
    }

    /// The op as records before `doc` was shared wrote it: a plain `Vec<u8>`.
    #[derive(Serialize)]
    enum OldOp {
        _Field { coll: u32, id: u16, name: String },
        PutDoc { coll: u32, rowid: u32, doc: Vec<u8> },
    }

    #[test]
    fn document_bytes_are_encoded_as_before() {
        let doc: Vec<u8> = (0..300u16).map(|i| i as u8).collect();
        let old = postcard::to_allocvec(&OldOp::PutDoc { coll: 7, rowid: 9, doc: doc.clone() }).unwrap();
        let new = WalOp::PutDoc { coll: 7, rowid: 9, doc: doc.into() };
        assert_eq!(postcard::to_allocvec(&new).unwrap(), old);
        assert_eq!(postcard::from_bytes::<WalOp>(&old).unwrap(), new);
    }

    #[test]
    fn torn_tail_is_cut_and_middle_damage_is_an_error() {
        let dir = tempfile::tempdir().unwrap();
        {
            let mut w = Wal::create(dir.path(), 1, false, DEFAULT_SEGMENT_BYTES).unwrap();
            for l in 1..=5 {
                w.append(l, &rec(l)).unwrap();
            }
        }
        let seg = list_segments(dir.path()).unwrap()[0].1.clone();
        let bytes = std::fs::read(&seg).unwrap();
        // Torn tail: chop 3 bytes off the last record.
        std::fs::write(&seg, &bytes[..bytes.len() - 3]).unwrap();
        let recs = replay(dir.path()).unwrap();
        assert_eq!(recs.iter().map(|r| r.lsn).collect::<Vec<_>>(), vec![1, 2, 3, 4]);
        // Damage in the middle: flip a payload byte of record 2.
        let mut bytes = std::fs::read(&seg).unwrap();
        let one = bytes.len() / 4;
        bytes[one + 10] ^= 0xff;
        std::fs::write(&seg, &bytes).unwrap();
        match replay(dir.path()) {
            Err(AuroraError::Corruption { file, offset, .. }) => {
                assert_eq!(file, seg);
                assert_eq!(offset, one as u64);
            }
            other => panic!("expected corruption error, got {other:?}"),
        }
    }

    #[test]
    fn damaged_length_in_the_middle_of_the_last_segment_is_not_a_torn_tail() {
        let dir = tempfile::tempdir().unwrap();
        {
            let mut w = Wal::create(dir.path(), 1, false, DEFAULT_SEGMENT_BYTES).unwrap();
            for l in 1..=5 {
                w.append(l, &rec(l)).unwrap();
            }
        }
        let seg = list_segments(dir.path()).unwrap()[0].1.clone();
        let mut bytes = std::fs::read(&seg).unwrap();
        let one = bytes.len() / 5;
        // Record 2's length now runs past the end of the file: records 3..5 follow intact.
        bytes[one + 3] = 0x7f;
        match decode_segment(&seg, &bytes, true) {
            Err(AuroraError::Corruption { offset, .. }) => assert_eq!(offset, one as u64),
            other => panic!("expected corruption error, got {other:?}"),
        }
        // The same damage to the last record is a torn tail.
        let mut bytes = std::fs::read(&seg).unwrap();
        bytes[4 * one + 3] = 0x7f;
        let (recs, cut) = decode_segment(&seg, &bytes, true).unwrap();
        assert_eq!((recs.len(), cut), (4, Some(4 * one as u64)));
        // A zero-filled tail (file grown, data never written) is torn too.
        let mut bytes = std::fs::read(&seg).unwrap();
        bytes.extend_from_slice(&[0u8; 64]);
        let (recs, cut) = decode_segment(&seg, &bytes, true).unwrap();
        assert_eq!((recs.len(), cut), (5, Some(5 * one as u64)));
    }

    #[test]
    fn fsync_segments_are_preallocated_and_never_leave_zeros_behind() {
        let dir = tempfile::tempdir().unwrap();
        let seg_len = |start: u64| std::fs::metadata(dir.path().join(segment_name(start))).unwrap().len();
        let mut w = Wal::create(dir.path(), 1, true, DEFAULT_SEGMENT_BYTES).unwrap();
        for l in 1..=5 {
            w.append(l, &rec(l)).unwrap();
        }
        let data = w.size;
        assert!(seg_len(1) >= PREALLOCATE_BYTES && data < 200, "zero-filled ahead: {} bytes", seg_len(1));
        // A crash (no drop): recovery keeps every record and cuts the zero-filled space.
        let crashed = std::mem::ManuallyDrop::new(w);
        let recs = replay(dir.path()).unwrap();
        assert_eq!(recs.iter().map(|r| r.lsn).collect::<Vec<_>>(), vec![1, 2, 3, 4, 5]);
        assert_eq!(seg_len(1), data);
        drop(std::mem::ManuallyDrop::into_inner(crashed));

        // Rotation cuts the old segment to its records, so only the last one ends in zeros.
        let mut w = Wal::create(dir.path(), 6, true, DEFAULT_SEGMENT_BYTES).unwrap();
        w.append(6, &rec(6)).unwrap();
        let next = w.rotate().unwrap();
        assert_eq!(next, 7);
        w.append(7, &rec(7)).unwrap();
        let segs = list_segments(dir.path()).unwrap();
        assert_eq!(segs.len(), 3);
        let bytes = std::fs::read(&segs[1].1).unwrap();
        assert_eq!(decode_segment(&segs[1].1, &bytes, false).unwrap().1, None, "no zero tail before the last segment");
        // A clean close gives the space back.
        let last = w.size;
        drop(w);
        assert_eq!(seg_len(7), last);
        let recs = replay(dir.path()).unwrap();
        assert_eq!(recs.iter().map(|r| r.lsn).collect::<Vec<_>>(), (1..=7).collect::<Vec<_>>());
    }

    #[test]
    fn records_written_into_preallocated_space_survive_a_torn_write() {
        let dir = tempfile::tempdir().unwrap();
        let w = {
            let mut w = Wal::create(dir.path(), 1, true, DEFAULT_SEGMENT_BYTES).unwrap();
            for l in 1..=3 {
                w.append(l, &rec(l)).unwrap();
            }
            std::mem::ManuallyDrop::new(w)
        };
        // Half of a fourth record reached the disk, inside the zero-filled space.
        let seg = dir.path().join(segment_name(1));
        let mut bytes = std::fs::read(&seg).unwrap();
        let at = w.size as usize;
        bytes[at..at + 6].copy_from_slice(&[40, 0, 0, 0, 0xAB, 0xCD]);
        std::fs::write(&seg, &bytes).unwrap();
        let recs = replay(dir.path()).unwrap();
        assert_eq!(recs.len(), 3);
        assert_eq!(std::fs::metadata(&seg).unwrap().len(), w.size);
        drop(std::mem::ManuallyDrop::into_inner(w));
    }

    #[test]
    fn replay_refuses_repeated_or_missing_lsns() {
        for (lsns, bad) in [(vec![1, 2, 2, 3], 2), (vec![1, 2, 4], 4), (vec![3, 2], 2)] {
            let dir = tempfile::tempdir().unwrap();
            {
                let mut w = Wal::create(dir.path(), 1, false, DEFAULT_SEGMENT_BYTES).unwrap();
                for &l in &lsns {
                    w.append(l, &rec(l)).unwrap();
                }
            }
            match replay(dir.path()) {
                Err(AuroraError::Corruption { reason, offset, .. }) => {
                    assert!(reason.contains(&format!("LSN {bad}")) && offset > 0, "{lsns:?}: {reason}")
                }
                other => panic!("{lsns:?}: expected corruption, got {other:?}"),
            }
        }
        // Across segments too: a segment must start right after the one before it.
        let dir = tempfile::tempdir().unwrap();
        {
            let mut w = Wal::create(dir.path(), 1, false, DEFAULT_SEGMENT_BYTES).unwrap();
            w.append(1, &rec(1)).unwrap();
            w.rotate().unwrap();
            w.append(3, &rec(3)).unwrap();
        }
        assert!(matches!(replay(dir.path()), Err(AuroraError::Corruption { offset: 0, .. })));
    }
}
