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

    /// The newest visible version of every key in `[from, to)`.
    fn range(&self, from: &[u8], to: Option<&[u8]>, lsn: u64, out: &mut BTreeMap<Vec<u8>, Pending>) {
        let e = self.entries.read();
        let upper = to.map_or(std::ops::Bound::Unbounded, std::ops::Bound::Excluded);
        for (k, vs) in e.range::<[u8], _>((std::ops::Bound::Included(from), upper)) {
            if let Some(v) = vs.iter().rev().find(|v| v.lsn <= lsn) {
                out.entry(k.clone()).or_insert_with(|| v.value.clone());
            }
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
    /// reversed). Pending entries of the range are gathered first (the memtable is bounded);
    /// cold entries stream.
    pub fn range(&self, from: &[u8], to: Option<&[u8]>, reverse: bool) -> Result<SnapshotRange<'_>> {
        let mut pending = BTreeMap::new();
        self.active.range(from, to, self.lsn, &mut pending);
        if let Some(f) = &self.frozen {
            f.range(from, to, self.lsn, &mut pending);
        }
        let pending: Vec<(Vec<u8>, Pending)> =
            if reverse { pending.into_iter().rev().collect() } else { pending.into_iter().collect() };
        Ok(SnapshotRange {
            pending: pending.into_iter().peekable(),
            cold: self.cold.range(from, to, reverse)?.peekable(),
            reverse,
        })
    }
}

/// The merged entries of a range (see [`Snapshot::range`]).
pub struct SnapshotRange<'a> {
    pending: std::iter::Peekable<std::vec::IntoIter<(Vec<u8>, Pending)>>,
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
}
