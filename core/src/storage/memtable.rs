//! Committed writes not yet in the cold store, kept as versions tagged with their LSN, and the
//! snapshots that read through them.
//!
//! A commit applies its key writes to the active generation under the commit lock; readers
//! take a [`Snapshot`] (an LSN, the generations and a cold-store view) and never hold a lock
//! longer than one probe, so a long query never stalls a commit. A flush freezes the active
//! generation, writes its newest versions to the cold store in one atomic batch (with the LSN
//! it reaches), and drops it; a snapshot taken before keeps it alive, and its cold view
//! (a redb read transaction) predates the write, so what it reads stays consistent.

use super::index_cache::IndexCache;
use super::kv::{ColdStore, ColdView, KvOp};
use crate::error::Result;
use parking_lot::{Mutex, RwLock};
use roaring::RoaringBitmap;
use std::collections::BTreeMap;
use std::ops::Bound;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;

/// A pending value.
#[derive(Debug, Clone)]
pub enum Pending {
    /// The key holds these bytes.
    Put(Arc<[u8]>),
    /// The key was removed.
    Delete,
    /// A posting or live-rows chunk, decoded (serialized when flushed).
    Chunk(Arc<RoaringBitmap>),
}

impl Pending {
    /// Approximate memory held, for the memtable's byte budget.
    fn weight(&self) -> usize {
        match self {
            Pending::Put(b) => b.len() + 16,
            Pending::Delete => 8,
            Pending::Chunk(c) => c.serialized_size() + 32,
        }
    }
}

struct Version {
    lsn: u64,
    value: Pending,
}

/// A key's versions, oldest first; almost always exactly one.
type Versions = smallvec::SmallVec<[Version; 1]>;

/// One generation of pending writes: versions per key, oldest first.
#[derive(Default)]
pub struct Generation {
    entries: RwLock<BTreeMap<Vec<u8>, Versions>>,
    bytes: AtomicUsize,
    /// Entries applied (document and raw writes).
    docs: AtomicUsize,
    /// Once frozen: the LSN it holds every commit up to.
    frozen_at: AtomicU64,
}

impl Generation {
    /// The newest version of `key` visible at `lsn`.
    fn get(&self, key: &[u8], lsn: u64) -> Option<Pending> {
        let e = self.entries.read();
        e.get(key).and_then(|vs| vs.iter().rev().find(|v| v.lsn <= lsn)).map(|v| v.value.clone())
    }

    /// The newest visible version of up to `limit` keys within `(lo, hi)`, from the low end
    /// (or the high end when `reverse`), into `out` (keys already there keep their value: the
    /// newer generation is read first). Returns the last key examined when it stopped at the
    /// limit, `None` when the range is exhausted.
    fn range_chunk(
        &self,
        lo: Bound<&[u8]>,
        hi: Bound<&[u8]>,
        lsn: u64,
        reverse: bool,
        limit: usize,
        out: &mut BTreeMap<Vec<u8>, Pending>,
    ) -> Option<Vec<u8>> {
        let e = self.entries.read();
        let mut visible = 0;
        let mut take = |(k, vs): (&Vec<u8>, &Versions)| -> Option<Vec<u8>> {
            if let Some(v) = vs.iter().rev().find(|v| v.lsn <= lsn) {
                out.entry(k.clone()).or_insert_with(|| v.value.clone());
                visible += 1;
            }
            (visible >= limit).then(|| k.clone())
        };
        let iter = e.range::<[u8], _>((lo, hi));
        if reverse {
            iter.rev().find_map(&mut take)
        } else {
            iter.into_iter().find_map(&mut take)
        }
    }

    /// Approximate bytes held.
    pub fn bytes(&self) -> usize {
        self.bytes.load(Ordering::Relaxed)
    }

    /// Number of keys.
    pub fn len(&self) -> usize {
        self.entries.read().len()
    }

    /// True when nothing is pending.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

struct Gens {
    active: Arc<Generation>,
    frozen: Option<Arc<Generation>>,
}

/// The pending writes of a database and the bookkeeping of its snapshots.
pub struct Memtable {
    gens: RwLock<Gens>,
    /// The newest LSN whose writes are all applied (what a new snapshot sees).
    visible: AtomicU64,
    /// LSNs of live snapshots (a version older than every reader's view can be dropped).
    readers: Mutex<BTreeMap<u64, usize>>,
    flush_lock: Mutex<()>,
    /// Flushed generations some snapshot may still read; freed by [`Memtable::reap`] on the
    /// flushing thread, so a committing or querying thread never pays for freeing one.
    retired: Mutex<Vec<Arc<Generation>>>,
}

impl Memtable {
    /// An empty memtable whose writes so far reach `lsn`.
    pub fn new(lsn: u64) -> Arc<Memtable> {
        Arc::new(Memtable {
            gens: RwLock::new(Gens { active: Arc::new(Generation::default()), frozen: None }),
            visible: AtomicU64::new(lsn),
            readers: Mutex::new(BTreeMap::new()),
            flush_lock: Mutex::new(()),
            retired: Mutex::new(Vec::new()),
        })
    }

    /// The newest LSN visible to new snapshots.
    pub fn visible_lsn(&self) -> u64 {
        self.visible.load(Ordering::Acquire)
    }

    /// Bytes pending in the active generation (the frozen one is on its way out).
    pub fn active_bytes(&self) -> usize {
        self.gens.read().active.bytes()
    }

    /// Approximate bytes pending in both generations.
    pub fn pending_bytes(&self) -> usize {
        let g = self.gens.read();
        g.active.bytes() + g.frozen.as_ref().map_or(0, |f| f.bytes())
    }

    /// Keys pending in both generations.
    pub fn pending_keys(&self) -> usize {
        let g = self.gens.read();
        g.active.len() + g.frozen.as_ref().map_or(0, |f| f.len())
    }

    /// Entries (document and raw writes) pending in both generations: what the write-buffer
    /// size counts.
    pub fn pending_docs(&self) -> usize {
        let g = self.gens.read();
        g.active.docs.load(Ordering::Relaxed) + g.frozen.as_ref().map_or(0, |f| f.docs.load(Ordering::Relaxed))
    }

    /// Applies one commit's writes (of `docs` document changes) at `lsn` and makes them
    /// visible. Called under the commit lock, in LSN order.
    pub fn apply(&self, lsn: u64, writes: Vec<(Vec<u8>, Pending)>, docs: usize) {
        let active = self.gens.read().active.clone();
        active.docs.fetch_add(docs, Ordering::Relaxed);
        // Held while versions are dropped, so no snapshot registers in between.
        let readers = self.readers.lock();
        {
            let mut e = active.entries.write();
            let mut grown = 0isize;
            for (k, value) in writes {
                grown += value.weight() as isize;
                let versions = e.entry(k).or_default();
                // Keep only the versions some snapshot still reads: the newest at or below its
                // LSN. New snapshots will see this commit's version.
                let mut i = 0;
                while i < versions.len() {
                    let from = versions[i].lsn;
                    let to = versions.get(i + 1).map_or(lsn, |n| n.lsn);
                    if readers.range(from..to).next().is_some() {
                        i += 1;
                    } else {
                        grown -= versions.remove(i).value.weight() as isize;
                    }
                }
                versions.push(Version { lsn, value });
            }
            if grown >= 0 {
                active.bytes.fetch_add(grown as usize, Ordering::Relaxed);
            } else {
                active.bytes.fetch_sub(((-grown) as usize).min(active.bytes()), Ordering::Relaxed);
            }
        }
        self.visible.store(lsn, Ordering::Release);
        drop(readers);
    }

    /// A consistent read view as of the newest visible LSN, over the current cold view of
    /// `cache`.
    pub fn snapshot(self: &Arc<Self>, cache: &IndexCache) -> Snapshot {
        let lsn = {
            // Read and registered together: a commit dropping versions waits for this.
            let mut r = self.readers.lock();
            let lsn = self.visible_lsn();
            *r.entry(lsn).or_default() += 1;
            lsn
        };
        let registered = Registered { memtable: self.clone(), lsn };
        // The cold view is read while the generations are held: no freeze can happen in
        // between, so the view holds nothing newer than these generations (a flush installs
        // its view before it drops the frozen one, so what was flushed is in one or the
        // other). Read apart, a freeze and a flush in between would put versions newer than
        // `lsn` into the view, under keys whose older versions were already flushed.
        let (active, frozen, cold_epoch, cold) = {
            let g = self.gens.read();
            let (cold_epoch, cold) = cache.current();
            (g.active.clone(), g.frozen.clone(), cold_epoch, cold)
        };
        Snapshot { lsn, active, frozen, cold, cold_epoch, _registered: registered }
    }

    /// Freezes the active generation, which holds every commit up to `lsn` (called under the
    /// commit lock); returns false when a frozen one still waits to be written.
    pub fn freeze(&self, lsn: u64) -> bool {
        let mut g = self.gens.write();
        if g.frozen.is_some() {
            return false;
        }
        let old = std::mem::replace(&mut g.active, Arc::new(Generation::default()));
        old.frozen_at.store(lsn, Ordering::Release);
        g.frozen = Some(old);
        true
    }

    /// True while a frozen generation waits to be written.
    pub fn has_frozen(&self) -> bool {
        self.gens.read().frozen.is_some()
    }

    /// Writes the frozen generation's newest versions to `cold` in one atomic batch, with
    /// `lsn_key` set to the LSN it holds every commit up to; returns that LSN and the keys
    /// written. The generation stays (readable) until [`Memtable::drop_frozen`], after the
    /// caller has installed the new cold view. `None` when nothing is frozen.
    pub fn flush_frozen(
        &self,
        cold: &dyn ColdStore,
        lsn_key: &[u8],
        durable: bool,
    ) -> Result<Option<(u64, Vec<Vec<u8>>)>> {
        let _one = self.flush_lock.lock();
        let Some(frozen) = self.gens.read().frozen.clone() else { return Ok(None) };
        let lsn = frozen.frozen_at.load(Ordering::Acquire);
        let extra = vec![KvOp::Put(lsn_key.to_vec(), lsn.to_be_bytes().to_vec())];
        let (ops, keys) = {
            let e = frozen.entries.read();
            let mut ops = Vec::with_capacity(e.len() + extra.len());
            let mut keys = Vec::with_capacity(e.len());
            for (k, vs) in e.iter() {
                let Some(v) = vs.last() else { continue };
                keys.push(k.clone());
                ops.push(match &v.value {
                    Pending::Put(b) => KvOp::Put(k.clone(), b.to_vec()),
                    Pending::Delete => KvOp::Delete(k.clone()),
                    Pending::Chunk(c) if c.is_empty() => KvOp::Delete(k.clone()),
                    Pending::Chunk(c) => KvOp::Put(k.clone(), super::chunk::serialize(c)),
                });
            }
            ops.extend(extra);
            (ops, keys)
        };
        cold.write(ops, durable)?;
        Ok(Some((lsn, keys)))
    }

    /// Retires the frozen generation once its writes are in the cold store and the new view is
    /// installed: new snapshots no longer see it, and [`Memtable::reap`] frees it once no
    /// snapshot does.
    pub fn drop_frozen(&self) {
        let frozen = self.gens.write().frozen.take();
        if let Some(g) = frozen {
            self.retired.lock().push(g);
        }
        self.reap();
    }

    /// Frees the retired generations no snapshot reads any more.
    pub fn reap(&self) {
        let free: Vec<Arc<Generation>> = {
            let mut r = self.retired.lock();
            let (free, keep) = std::mem::take(&mut *r).into_iter().partition(|g| Arc::strong_count(g) == 1);
            *r = keep;
            free
        };
        drop(free);
    }
}

/// Unregisters a snapshot's LSN when the snapshot goes.
struct Registered {
    memtable: Arc<Memtable>,
    lsn: u64,
}

impl Drop for Registered {
    fn drop(&mut self) {
        let mut r = self.memtable.readers.lock();
        if let Some(n) = r.get_mut(&self.lsn) {
            *n -= 1;
            if *n == 0 {
                r.remove(&self.lsn);
            }
        }
    }
}

/// What a key holds in a snapshot.
#[derive(Debug, Clone)]
pub enum Found {
    /// Bytes (from a pending write, or the cold store).
    Bytes(Arc<[u8]>),
    /// A decoded chunk (pending); chunks in the cold store come as bytes.
    Chunk(Arc<RoaringBitmap>),
}

/// A consistent read view: pending versions up to an LSN over a cold-store view.
pub struct Snapshot {
    lsn: u64,
    active: Arc<Generation>,
    frozen: Option<Arc<Generation>>,
    cold: Arc<dyn ColdView>,
    cold_epoch: u64,
    _registered: Registered,
}

impl Snapshot {
    /// The LSN this snapshot sees up to.
    pub fn lsn(&self) -> u64 {
        self.lsn
    }

    /// The cold-store epoch of its cold view.
    pub fn cold_epoch(&self) -> u64 {
        self.cold_epoch
    }

    /// The pending version of `key`, if any (`Some(None)`: removed).
    pub fn pending(&self, key: &[u8]) -> Option<Option<Found>> {
        let p = self.active.get(key, self.lsn).or_else(|| self.frozen.as_ref().and_then(|f| f.get(key, self.lsn)))?;
        Some(match p {
            Pending::Put(b) => Some(Found::Bytes(b)),
            Pending::Chunk(c) => Some(Found::Chunk(c)),
            Pending::Delete => None,
        })
    }

    /// The cold store's value of `key` (what is under any pending version).
    pub fn cold_get(&self, key: &[u8]) -> Result<Option<Vec<u8>>> {
        self.cold.get(key)
    }

    /// The value of `key`.
    pub fn get(&self, key: &[u8]) -> Result<Option<Found>> {
        match self.pending(key) {
            Some(p) => Ok(p),
            None => Ok(self.cold.get(key)?.map(|b| Found::Bytes(b.into()))),
        }
    }

    /// Entries with `from <= key < to`, pending versions over cold ones, in key order (or
    /// reversed). Both sides stream: pending entries are read a bounded chunk at a time, so
    /// taking the first few entries of a range costs the same however many are pending.
    pub fn range(&self, from: &[u8], to: Option<&[u8]>, reverse: bool) -> Result<SnapshotRange<'_>> {
        // An inverted range is empty (the stores' range calls would panic on it).
        let to = if to.is_some_and(|t| t < from) { Some(from) } else { to };
        Ok(SnapshotRange {
            pending: PendingRange::new(self, from, to, reverse),
            cold: self.cold.range(from, to, reverse)?.peekable(),
            reverse,
        })
    }
}

/// Pending entries read by a range's first chunk (most ranges stop after a few entries)...
const FIRST_CHUNK: usize = 8;
/// ...and at most per chunk after it, doubling up to here.
const RANGE_CHUNK: usize = 256;

/// The pending side of a snapshot range, read from the generations a chunk at a time.
struct PendingRange<'a> {
    snap: &'a Snapshot,
    /// What is still to read: `(lo, hi)`.
    lo: Bound<Vec<u8>>,
    hi: Bound<Vec<u8>>,
    reverse: bool,
    buf: std::collections::VecDeque<(Vec<u8>, Pending)>,
    done: bool,
    /// Entries the next chunk reads.
    chunk: usize,
}

impl<'a> PendingRange<'a> {
    fn new(snap: &'a Snapshot, from: &[u8], to: Option<&[u8]>, reverse: bool) -> Self {
        let hi = to.map_or(Bound::Unbounded, |t| Bound::Excluded(t.to_vec()));
        // An empty or inverted range reads nothing (and BTreeMap::range would panic on it).
        let done = to.is_some_and(|t| t <= from);
        PendingRange {
            snap,
            lo: Bound::Included(from.to_vec()),
            hi,
            reverse,
            buf: Default::default(),
            done,
            chunk: FIRST_CHUNK,
        }
    }

    /// Reads the next chunk: the keys every generation has been read up to are complete.
    fn refill(&mut self) {
        while self.buf.is_empty() && !self.done {
            let mut out = BTreeMap::new();
            let (lo, hi) = (as_ref(&self.lo), as_ref(&self.hi));
            let mut reached: Option<Vec<u8>> = None;
            let n = self.chunk;
            self.chunk = (n * 2).min(RANGE_CHUNK);
            let gens = std::iter::once(&self.snap.active).chain(self.snap.frozen.as_ref());
            for g in gens {
                if let Some(last) = g.range_chunk(lo, hi, self.snap.lsn, self.reverse, n, &mut out) {
                    let nearer = match &reached {
                        None => true,
                        Some(r) => (last < *r) != self.reverse,
                    };
                    if nearer {
                        reached = Some(last);
                    }
                }
            }
            match reached {
                None => {
                    self.done = true;
                    self.take(out, |_| true);
                }
                Some(r) => {
                    let reverse = self.reverse;
                    self.take(out, |k| if reverse { k >= r.as_slice() } else { k <= r.as_slice() });
                    if reverse {
                        self.hi = Bound::Excluded(r);
                    } else {
                        self.lo = Bound::Excluded(r);
                    }
                }
            }
        }
    }

    fn take(&mut self, out: BTreeMap<Vec<u8>, Pending>, keep: impl Fn(&[u8]) -> bool) {
        if self.reverse {
            self.buf.extend(out.into_iter().rev().filter(|(k, _)| keep(k)));
        } else {
            self.buf.extend(out.into_iter().filter(|(k, _)| keep(k)));
        }
    }

    fn peek(&mut self) -> Option<&(Vec<u8>, Pending)> {
        self.refill();
        self.buf.front()
    }

    fn next(&mut self) -> Option<(Vec<u8>, Pending)> {
        self.refill();
        self.buf.pop_front()
    }
}

fn as_ref(b: &Bound<Vec<u8>>) -> Bound<&[u8]> {
    match b {
        Bound::Included(v) => Bound::Included(v.as_slice()),
        Bound::Excluded(v) => Bound::Excluded(v.as_slice()),
        Bound::Unbounded => Bound::Unbounded,
    }
}

/// The merged entries of a range (see [`Snapshot::range`]).
pub struct SnapshotRange<'a> {
    pending: PendingRange<'a>,
    cold: std::iter::Peekable<super::kv::KvIter<'a>>,
    reverse: bool,
}

impl Iterator for SnapshotRange<'_> {
    type Item = Result<(Vec<u8>, Found)>;

    fn next(&mut self) -> Option<Self::Item> {
        loop {
            let take_pending = match (self.pending.peek(), self.cold.peek()) {
                (None, None) => return None,
                (Some(_), None) => true,
                (None, Some(_)) => false,
                (Some(_), Some(Err(_))) => false,
                (Some((pk, _)), Some(Ok((ck, _)))) => {
                    let o = pk.cmp(ck);
                    if o == std::cmp::Ordering::Equal {
                        // The pending version shadows the cold one.
                        self.cold.next();
                        true
                    } else {
                        (o == std::cmp::Ordering::Less) != self.reverse
                    }
                }
            };
            if take_pending {
                let (k, p) = self.pending.next()?;
                match p {
                    Pending::Put(b) => return Some(Ok((k, Found::Bytes(b)))),
                    Pending::Chunk(c) => return Some(Ok((k, Found::Chunk(c)))),
                    Pending::Delete => continue,
                }
            }
            return Some(self.cold.next()?.map(|(k, v)| (k, Found::Bytes(v.into()))));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::kv::{ColdStore, MemStore};
    use super::*;

    fn put(v: &str) -> Pending {
        Pending::Put(Arc::from(v.as_bytes()))
    }

    fn text(f: Option<Found>) -> Option<String> {
        match f {
            Some(Found::Bytes(b)) => Some(String::from_utf8(b.to_vec()).unwrap()),
            Some(Found::Chunk(c)) => Some(format!("{:?}", c.iter().collect::<Vec<_>>())),
            None => None,
        }
    }

    #[test]
    fn snapshots_see_their_lsn_through_flushes() {
        let cold = MemStore::default();
        cold.write(vec![KvOp::Put(b"k1".to_vec(), b"cold".to_vec())], true).unwrap();
        let cache = IndexCache::new(1 << 20, cold.view().unwrap());
        let m = Memtable::new(0);
        m.apply(1, vec![(b"k1".to_vec(), put("one")), (b"k2".to_vec(), put("two"))], 1);
        let s1 = m.snapshot(&cache);
        m.apply(2, vec![(b"k1".to_vec(), Pending::Delete), (b"k3".to_vec(), put("three"))], 1);
        let s2 = m.snapshot(&cache);
        assert_eq!(text(s1.get(b"k1").unwrap()), Some("one".into()));
        assert_eq!(text(s2.get(b"k1").unwrap()), None);
        assert_eq!(text(s1.get(b"k3").unwrap()), None);

        // Flush: the cold store gets the newest versions; old snapshots read as before.
        assert!(m.freeze(2));
        m.apply(3, vec![(b"k2".to_vec(), put("TWO"))], 1);
        let (lsn, written) = m.flush_frozen(&cold, b"lsn", true).unwrap().unwrap();
        assert_eq!((lsn, written.len()), (2, 3));
        cache.advance(&written, cold.view().unwrap());
        m.drop_frozen();
        let s3 = m.snapshot(&cache);
        assert_eq!(text(s1.get(b"k1").unwrap()), Some("one".into()));
        assert_eq!(text(s1.get(b"k2").unwrap()), Some("two".into()));
        assert_eq!(text(s3.get(b"k2").unwrap()), Some("TWO".into()));
        assert_eq!(text(s3.get(b"k1").unwrap()), None);
        let keys =
            |s: &Snapshot, rev| s.range(b"k", Some(b"l"), rev).unwrap().map(|r| r.unwrap().0).collect::<Vec<_>>();
        assert_eq!(keys(&s3, false), vec![b"k2".to_vec(), b"k3".to_vec()]);
        assert_eq!(keys(&s3, true), vec![b"k3".to_vec(), b"k2".to_vec()]);
        assert_eq!(keys(&s1, false), vec![b"k1".to_vec(), b"k2".to_vec()]);
    }

    #[test]
    fn versions_no_reader_can_see_are_dropped() {
        let m = Memtable::new(0);
        for lsn in 1..=100 {
            m.apply(lsn, vec![(b"k".to_vec(), put("x"))], 1);
        }
        let versions = |m: &Memtable| m.gens.read().active.entries.read()[b"k".as_slice()].len();
        assert_eq!(versions(&m), 1);
        let cold = MemStore::default();
        let cache = IndexCache::new(1 << 20, cold.view().unwrap());
        let s = m.snapshot(&cache);
        for lsn in 101..=110 {
            m.apply(lsn, vec![(b"k".to_vec(), put("y"))], 1);
        }
        // The reader at 100 keeps its version; the ones between are gone.
        assert_eq!(versions(&m), 2);
        assert_eq!(text(s.get(b"k").unwrap()), Some("x".into()));
        drop(s);
        m.apply(111, vec![(b"k".to_vec(), put("z"))], 1);
        assert_eq!(versions(&m), 1);
    }

    /// A range read in chunks equals the key-by-key view, both directions, over two
    /// generations and a cold store, with deletes and versions newer than the snapshot.
    #[test]
    fn chunked_ranges_match_point_reads() {
        let mut rng = 0x9E37_79B9_7F4A_7C15u64;
        let mut next = move |n: u64| {
            rng ^= rng << 13;
            rng ^= rng >> 7;
            rng ^= rng << 17;
            rng % n
        };
        let key = |i: u64| format!("k{i:05}").into_bytes();
        let cold = MemStore::default();
        let seed: Vec<KvOp> = (0..3000).filter(|i| i % 3 == 0).map(|i| KvOp::Put(key(i), b"cold".to_vec())).collect();
        cold.write(seed, true).unwrap();
        let cache = IndexCache::new(1 << 20, cold.view().unwrap());
        let m = Memtable::new(0);
        let write = |m: &Memtable, lsn: u64, next: &mut dyn FnMut(u64) -> u64| {
            let writes: Vec<(Vec<u8>, Pending)> = (0..40)
                .map(|_| {
                    let k = key(next(3000));
                    (k, if next(4) == 0 { Pending::Delete } else { put(&format!("v{lsn}")) })
                })
                .collect();
            m.apply(lsn, writes, 40);
        };
        for lsn in 1..=40 {
            write(&m, lsn, &mut next);
        }
        assert!(m.freeze(40));
        for lsn in 41..=70 {
            write(&m, lsn, &mut next);
        }
        let snap = m.snapshot(&cache);
        // Writes after the snapshot: its range must not see them.
        for lsn in 71..=90 {
            write(&m, lsn, &mut next);
        }
        let expected: Vec<(Vec<u8>, Option<String>)> =
            (0..3000).map(key).map(|k| (k.clone(), text(snap.get(&k).unwrap()))).filter(|(_, v)| v.is_some()).collect();
        for (from, to) in [(0, 3000), (17, 2950), (1500, 1501), (2000, 1000)] {
            let (f, t) = (key(from), key(to));
            let want: Vec<_> = expected.iter().filter(|(k, _)| *k >= f && *k < t).cloned().collect();
            let got: Vec<_> =
                snap.range(&f, Some(&t), false).unwrap().map(|r| r.unwrap()).map(|(k, v)| (k, text(Some(v)))).collect();
            assert_eq!(got, want, "forward {from}..{to}");
            let mut rev: Vec<_> =
                snap.range(&f, Some(&t), true).unwrap().map(|r| r.unwrap()).map(|(k, v)| (k, text(Some(v)))).collect();
            rev.reverse();
            assert_eq!(rev, want, "reverse {from}..{to}");
        }
        let all: Vec<_> = snap.range(b"k", None, false).unwrap().map(|r| r.unwrap().0).collect();
        assert_eq!(all.len(), expected.len());
    }
}
