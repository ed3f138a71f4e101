//! How the job queue lives in the keyspace: a record per job and, next to it, index keys that
//! order and count jobs, all under the job-queue prefix and written in the commit that changes
//! the job. Nothing about jobs is held in memory, so a million pending jobs cost disk, not RAM,
//! and every queue operation is a few ordered reads.
//!
//! | key (after `JOBS`) | value | for |
//! |---|---|---|
//! | `01` id | the job (JSON) | the record |
//! | `02` (3 − priority) seq id | job type | ready order: priority, then FIFO |
//! | `03` run_at id | — | delayed (and retrying) jobs, by due time |
//! | `04` finished_at id | — | completed jobs, by age (retention) |
//! | `05` seq id | — | dead letters |
//! | `06` id | — | running jobs (returned to pending by the next open) |
//! | `07` status | count (u64) | per-status counts |
//! | `08` `indexed` | version | the index keys above exist for every record |
//!
//! Numbers are big-endian so keys sort by them; `id` is the 16 bytes of a UUID id, else the
//! id's text.

use super::job::{now_ms, Job, JobStatus};
use crate::db::{Inner, WriteOp};
use crate::error::{AuroraError, Result};
use crate::storage::keys::{prefix_end, JOBS};
use crate::storage::memtable::{Found, Snapshot};

const RECORD: u8 = 0x01;
const READY: u8 = 0x02;
const DELAYED: u8 = 0x03;
const DONE: u8 = 0x04;
const DEAD: u8 = 0x05;
const RUNNING: u8 = 0x06;
const COUNT: u8 = 0x07;
const META: u8 = 0x08;

/// Version of the index layout recorded under `08 indexed`.
const INDEX_VERSION: u8 = 1;

/// Every status, in counter order.
pub(super) const STATUSES: [JobStatus; 5] =
    [JobStatus::Pending, JobStatus::Running, JobStatus::Completed, JobStatus::Failed, JobStatus::DeadLetter];

fn status_byte(s: JobStatus) -> u8 {
    match s {
        JobStatus::Pending => 0,
        JobStatus::Running => 1,
        JobStatus::Completed => 2,
        JobStatus::Failed => 3,
        JobStatus::DeadLetter => 4,
    }
}

fn key(kind: u8, parts: &[&[u8]]) -> Vec<u8> {
    let mut k = Vec::with_capacity(2 + parts.iter().map(|p| p.len()).sum::<usize>());
    k.push(JOBS);
    k.push(kind);
    parts.iter().for_each(|p| k.extend_from_slice(p));
    k
}

/// The id part of a job's keys.
pub(super) fn id_bytes(id: &str) -> Vec<u8> {
    match uuid::Uuid::parse_str(id) {
        Ok(u) => u.as_bytes().to_vec(),
        Err(_) => id.as_bytes().to_vec(),
    }
}

/// The key of a job's record, from the id part of any of its keys.
fn record_key(id: &[u8]) -> Vec<u8> {
    key(RECORD, &[id])
}

fn ready_key(job: &Job, id: &[u8]) -> Vec<u8> {
    key(READY, &[&[3 - job.priority as u8], &job.seq.to_be_bytes(), id])
}

fn delayed_key(run_at: u64, id: &[u8]) -> Vec<u8> {
    key(DELAYED, &[&run_at.to_be_bytes(), id])
}

fn count_key(s: JobStatus) -> Vec<u8> {
    key(COUNT, &[&[status_byte(s)]])
}

fn marker_key() -> Vec<u8> {
    key(META, &[b"indexed"])
}

/// The index keys of a job in its state (a pending job is in the ready order; the delayed
/// index holds it only while it waits, see [`Batch::put`]).
fn index_keys(job: &Job, id: &[u8]) -> Vec<(Vec<u8>, Vec<u8>)> {
    match job.status {
        JobStatus::Pending | JobStatus::Failed if job.run_at_ms > now_ms() => {
            vec![(delayed_key(job.run_at_ms, id), Vec::new())]
        }
        JobStatus::Pending | JobStatus::Failed => vec![(ready_key(job, id), job.job_type.as_bytes().to_vec())],
        JobStatus::Running => vec![(key(RUNNING, &[id]), Vec::new())],
        JobStatus::Completed => vec![(key(DONE, &[&job.finished_at_ms.unwrap_or(0).to_be_bytes(), id]), Vec::new())],
        JobStatus::DeadLetter => vec![(key(DEAD, &[&job.seq.to_be_bytes(), id]), Vec::new())],
    }
}

/// Every key an index may hold for a job in its state: a pending job may be in either the
/// ready or the delayed index, depending on when it was written.
fn possible_index_keys(job: &Job, id: &[u8]) -> Vec<Vec<u8>> {
    match job.status {
        JobStatus::Pending | JobStatus::Failed => vec![delayed_key(job.run_at_ms, id), ready_key(job, id)],
        _ => index_keys(job, id).into_iter().map(|(k, _)| k).collect(),
    }
}

fn corrupt(inner: &Inner, what: String) -> AuroraError {
    AuroraError::Corruption { file: inner.config.db_path.join("data"), offset: 0, reason: what }
}

fn bytes_of(found: Option<Found>) -> Option<std::sync::Arc<[u8]>> {
    match found {
        Some(Found::Bytes(b)) => Some(b),
        _ => None,
    }
}

/// The indexes of the queue.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Index {
    /// Runnable jobs, by priority then sequence number (value: the job type).
    Ready,
    /// Waiting jobs, by due time.
    Delayed,
    /// Completed jobs, by finish time.
    Done,
    /// Dead letters, by sequence number.
    Dead,
    /// Running jobs.
    Running,
}

impl Index {
    /// The kind byte and the width of the fixed fields before the id.
    fn layout(self) -> (u8, usize) {
        match self {
            Index::Ready => (READY, 9),
            Index::Delayed => (DELAYED, 8),
            Index::Done => (DONE, 8),
            Index::Dead => (DEAD, 8),
            Index::Running => (RUNNING, 0),
        }
    }
}

/// Per scanned index (ready, delayed): a key no entry is below, so a scan can start there
/// instead of walking over the tombstones of the entries taken since the last flush. Scans
/// raise it to the first entry they see; every write of an entry lowers it to that entry. Both
/// happen under the commit lock.
#[derive(Default)]
pub(super) struct Floors {
    keys: parking_lot::Mutex<[Option<Vec<u8>>; 2]>,
}

impl Floors {
    fn slot(index: Index) -> Option<usize> {
        match index {
            Index::Ready => Some(0),
            Index::Delayed => Some(1),
            _ => None,
        }
    }

    /// Where a scan of `index` may start.
    pub fn get(&self, index: Index) -> Option<Vec<u8>> {
        Self::slot(index).and_then(|i| self.keys.lock()[i].clone())
    }

    /// A scan found `first` to be the lowest entry of `index` (`None`: the index is empty).
    pub fn raise(&self, index: Index, first: Option<Vec<u8>>) {
        if let Some(i) = Self::slot(index) {
            let (kind, _) = index.layout();
            self.keys.lock()[i] = Some(first.unwrap_or_else(|| prefix_end(&key(kind, &[])).unwrap_or_default()));
        }
    }

    fn lower(&self, index: Index, written: &[u8]) {
        if let Some(i) = Self::slot(index) {
            let mut g = self.keys.lock();
            if g[i].as_deref().is_some_and(|f| written < f) {
                g[i] = Some(written.to_vec());
            }
        }
    }
}

/// One index entry.
pub(super) struct Entry {
    /// The whole key (to drop a dangling entry).
    pub key: Vec<u8>,
    /// The fixed fields after the kind byte (a time, or priority and sequence number).
    pub fixed: Vec<u8>,
    /// The id part: the record is under it.
    pub id: Vec<u8>,
    /// The value.
    pub value: Vec<u8>,
}

impl Entry {
    /// The time in `fixed` (delayed and completed entries).
    pub fn time(&self) -> u64 {
        self.fixed.get(..8).and_then(|t| <[u8; 8]>::try_from(t).ok()).map_or(0, u64::from_be_bytes)
    }
}

/// Reads of the queue's keys through one snapshot.
pub(super) struct View<'a> {
    pub inner: &'a Inner,
    pub snap: Snapshot,
}

impl<'a> View<'a> {
    /// A view of the queue as of now (under the commit lock: as of the last commit).
    pub fn new(inner: &'a Inner) -> View<'a> {
        View { inner, snap: inner.snapshot() }
    }

    /// The job whose keys end in `id`.
    pub fn job(&self, id: &[u8]) -> Result<Option<Job>> {
        let Some(bytes) = bytes_of(self.snap.get(&record_key(id))?) else { return Ok(None) };
        serde_json::from_slice(&bytes).map(Some).map_err(|e| corrupt(self.inner, format!("unreadable job record: {e}")))
    }

    /// The count of jobs with status `s`.
    pub fn count(&self, s: JobStatus) -> Result<u64> {
        Ok(bytes_of(self.snap.get(&count_key(s))?)
            .and_then(|b| <[u8; 8]>::try_from(&b[..]).ok())
            .map_or(0, u64::from_be_bytes))
    }

    /// True once every record has its index keys.
    pub fn indexed(&self) -> Result<bool> {
        Ok(bytes_of(self.snap.get(&marker_key())?).is_some_and(|b| b.first() == Some(&INDEX_VERSION)))
    }

    /// Visits the entries of `index` in order, from `from` (a whole key; the start of the
    /// index when `None`), while `f` returns true.
    pub fn each(&self, index: Index, from: Option<&[u8]>, mut f: impl FnMut(Entry) -> Result<bool>) -> Result<()> {
        let (kind, width) = index.layout();
        let prefix = key(kind, &[]);
        let end = prefix_end(&prefix);
        let start = from.filter(|k| *k > prefix.as_slice()).unwrap_or(&prefix);
        if end.as_deref().is_some_and(|e| start >= e) {
            return Ok(());
        }
        for item in self.snap.range(start, end.as_deref(), false)? {
            let (k, v) = item?;
            let Some(v) = bytes_of(Some(v)) else { continue };
            if k.len() <= prefix.len() + width {
                return Err(corrupt(self.inner, format!("job index key of kind {kind} is too short")));
            }
            let fixed = k[prefix.len()..prefix.len() + width].to_vec();
            let id = k[prefix.len() + width..].to_vec();
            if !f(Entry { key: k, fixed, id, value: v.to_vec() })? {
                break;
            }
        }
        Ok(())
    }

    /// Every entry of `index`.
    pub fn all(&self, index: Index) -> Result<Vec<Entry>> {
        let mut out = Vec::new();
        self.each(index, None, |e| {
            out.push(e);
            Ok(true)
        })?;
        Ok(out)
    }

    /// The largest sequence number in the ready order (a floor for new jobs' numbers).
    pub fn last_ready_seq(&self) -> Result<u64> {
        let mut last = 0;
        for p in 0..4u8 {
            let prefix = key(READY, &[&[p]]);
            if let Some(item) = self.snap.range(&prefix, prefix_end(&prefix).as_deref(), true)?.next() {
                let (k, _) = item?;
                if let Some(seq) = k.get(prefix.len()..prefix.len() + 8).and_then(|s| <[u8; 8]>::try_from(s).ok()) {
                    last = last.max(u64::from_be_bytes(seq));
                }
            }
        }
        Ok(last)
    }

    /// Every record, in key order, from `after` (exclusive), up to `limit`.
    pub fn records(&self, after: Option<&[u8]>, limit: usize) -> Result<Vec<(Vec<u8>, Job)>> {
        let prefix = key(RECORD, &[]);
        let from = after.map_or(prefix.clone(), |a| {
            let mut k = record_key(a);
            k.push(0);
            k
        });
        let mut out = Vec::new();
        for item in self.snap.range(&from, prefix_end(&prefix).as_deref(), false)? {
            if out.len() >= limit {
                break;
            }
            let (k, v) = item?;
            let Some(v) = bytes_of(Some(v)) else { continue };
            let job: Job =
                serde_json::from_slice(&v).map_err(|e| corrupt(self.inner, format!("unreadable job record: {e}")))?;
            out.push((k[prefix.len()..].to_vec(), job));
        }
        Ok(out)
    }
}

/// The writes of one commit to the queue: records, index keys and count changes.
#[derive(Default)]
pub(super) struct Batch {
    ops: Vec<WriteOp>,
    counts: [i64; 5],
    /// Entries written to the scanned indexes (they lower the floors).
    entered: Vec<(Index, Vec<u8>)>,
}

impl Batch {
    /// Writes `job` in its new state, replacing `old` (its previous state, `None` for a new job).
    pub fn put(&mut self, old: Option<&Job>, job: &Job) -> Result<()> {
        let id = id_bytes(&job.id);
        if let Some(old) = old {
            self.unindex(old, &id);
        }
        for (k, v) in index_keys(job, &id) {
            self.enter(&k);
            self.ops.push(WriteOp::Raw { key: k, value: Some(v) });
        }
        self.counts[status_byte(job.status) as usize] += 1;
        self.ops.push(WriteOp::Raw { key: record_key(&id), value: Some(serde_json::to_vec(job)?) });
        Ok(())
    }

    /// Removes `job` (record and index keys).
    pub fn delete(&mut self, job: &Job) {
        let id = id_bytes(&job.id);
        self.unindex(job, &id);
        self.ops.push(WriteOp::Raw { key: record_key(&id), value: None });
    }

    fn unindex(&mut self, job: &Job, id: &[u8]) {
        for k in possible_index_keys(job, id) {
            self.ops.push(WriteOp::Raw { key: k, value: None });
        }
        self.counts[status_byte(job.status) as usize] -= 1;
    }

    /// Moves a due delayed job into the ready order (its record does not change).
    pub fn promote(&mut self, job: &Job) {
        let id = id_bytes(&job.id);
        self.ops.push(WriteOp::Raw { key: delayed_key(job.run_at_ms, &id), value: None });
        let k = ready_key(job, &id);
        self.enter(&k);
        self.ops.push(WriteOp::Raw { key: k, value: Some(job.job_type.as_bytes().to_vec()) });
    }

    fn enter(&mut self, k: &[u8]) {
        match k.get(1) {
            Some(&READY) => self.entered.push((Index::Ready, k.to_vec())),
            Some(&DELAYED) => self.entered.push((Index::Delayed, k.to_vec())),
            _ => {}
        }
    }

    /// Drops a dangling index entry (its record is gone or says otherwise).
    pub fn drop_entry(&mut self, e: &Entry) {
        self.ops.push(WriteOp::Raw { key: e.key.clone(), value: None });
    }

    /// Records that every record has its index keys.
    pub fn mark_indexed(&mut self) {
        self.ops.push(WriteOp::Raw { key: marker_key(), value: Some(vec![INDEX_VERSION]) });
    }

    /// Sets the counts outright (when the index is built from the records).
    pub fn set_counts(&mut self, counts: [u64; 5]) {
        for (s, n) in STATUSES.iter().zip(counts) {
            self.ops.push(WriteOp::Raw { key: count_key(*s), value: Some(n.to_be_bytes().to_vec()) });
        }
        self.counts = [0; 5];
    }

    /// The writes as they are (the counts are set outright or not at all); the entries
    /// written lower `floors`.
    pub fn into_ops(self, floors: &Floors) -> Vec<WriteOp> {
        for (index, k) in &self.entered {
            floors.lower(*index, k);
        }
        self.ops
    }

    /// The writes, with the counters brought up to date against `view` (read under the
    /// commit lock, so no other commit changes them in between); the entries written lower
    /// `floors`.
    pub fn finish(mut self, view: &View<'_>, floors: &Floors) -> Result<Vec<WriteOp>> {
        for (s, d) in STATUSES.iter().zip(self.counts) {
            if d != 0 {
                let n = (view.count(*s)? as i64).saturating_add(d).max(0) as u64;
                self.ops.push(WriteOp::Raw { key: count_key(*s), value: Some(n.to_be_bytes().to_vec()) });
            }
        }
        self.counts = [0; 5];
        Ok(self.into_ops(floors))
    }

    /// True when nothing is written.
    pub fn is_empty(&self) -> bool {
        self.ops.is_empty() && self.counts.iter().all(|c| *c == 0)
    }
}
