//! Hot cache: decoded documents in an LRU bounded by an approximate byte budget.
//!
//! Each entry is the newest version of its document, tagged with an LSN at or after which it
//! became that version: a snapshot older than the tag reads past the cache. A commit replaces
//! the entries of the documents it changes *before* it becomes visible, so no snapshot that
//! sees the commit can find the older version here; a reader caches what it read only when no
//! commit (visible or on its way) came after its snapshot, so a cached version is never older
//! than the newest one.

use crate::types::Document;
use lru::LruCache;
use parking_lot::Mutex;
use std::sync::Arc;

/// Cache key: collection id and row id.
pub type CacheKey = (u32, u32);

struct Entry {
    doc: Arc<Document>,
    size: usize,
    lsn: u64,
}

struct Inner {
    lru: LruCache<CacheKey, Entry, foldhash::fast::RandomState>,
    bytes: usize,
    /// The LSN of the newest commit that told the cache about its documents.
    committed: u64,
}

/// LRU of documents whose total approximate size stays within `budget` bytes.
pub struct HotCache {
    inner: Mutex<Inner>,
    budget: usize,
}

impl HotCache {
    /// A cache holding at most `budget_bytes` of documents.
    pub fn new(budget_bytes: usize) -> Self {
        HotCache {
            inner: Mutex::new(Inner {
                lru: LruCache::unbounded_with_hasher(foldhash::fast::RandomState::default()),
                bytes: 0,
                committed: 0,
            }),
            budget: budget_bytes,
        }
    }

    /// The document for a snapshot at `lsn`, marking it recently used; `None` when absent or
    /// newer than the snapshot.
    pub fn get(&self, key: &CacheKey, lsn: u64) -> Option<Arc<Document>> {
        let mut g = self.inner.lock();
        match g.lru.get(key) {
            Some(e) if e.lsn <= lsn => Some(e.doc.clone()),
            _ => None,
        }
    }

    /// A commit at `lsn` wrote this version (`None`: removed the document); called before the
    /// commit becomes visible. Only a document already cached is replaced: writes do not fill
    /// the cache (a bulk load would otherwise push out what readers use, and pay to build and
    /// later free every entry); reads do.
    pub fn commit(&self, key: CacheKey, doc: Option<(Arc<Document>, usize)>, lsn: u64) {
        let mut g = self.inner.lock();
        g.committed = g.committed.max(lsn);
        if !g.lru.contains(&key) {
            return;
        }
        match doc {
            Some((doc, size)) if size <= self.budget => {
                Self::insert(&mut g, key, Entry { doc, size, lsn }, self.budget)
            }
            _ => {
                if let Some(e) = g.lru.pop(&key) {
                    g.bytes -= e.size;
                }
            }
        }
    }

    /// A reader with a snapshot at `lsn` read this version; it is cached only when no commit
    /// after the snapshot has reached the cache (such a commit may have changed the document
    /// without replacing an entry, since there was none).
    pub fn fill(&self, key: CacheKey, doc: Arc<Document>, size: usize, lsn: u64) {
        if size > self.budget {
            return;
        }
        let mut g = self.inner.lock();
        if g.committed > lsn || g.lru.contains(&key) {
            return;
        }
        Self::insert(&mut g, key, Entry { doc, size, lsn }, self.budget);
    }

    fn insert(g: &mut Inner, key: CacheKey, e: Entry, budget: usize) {
        let size = e.size;
        if let Some(old) = g.lru.put(key, e) {
            g.bytes -= old.size;
        }
        g.bytes += size;
        while g.bytes > budget {
            match g.lru.pop_lru() {
                Some((_, e)) => g.bytes -= e.size,
                None => break,
            }
        }
    }

    /// Bytes currently accounted for.
    pub fn used_bytes(&self) -> usize {
        self.inner.lock().bytes
    }

    /// Number of cached documents.
    pub fn len(&self) -> usize {
        self.inner.lock().lru.len()
    }

    /// True when empty.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The configured budget in bytes.
    pub fn budget(&self) -> usize {
        self.budget
    }
}

/// The share of the hot cache one read pass may fill (a quarter).
const PASS_SHARE: usize = 4;

/// What one read pass (a query, a count, a join's scan) may still add to the hot cache. A pass
/// that reads more than its share reads the rest past the cache: one large scan neither pushes
/// out what point reads use nor pays to build and evict entries it will not read again, while
/// a small query, or the first part of a large one, is cached as before.
pub struct PassAllowance(std::cell::Cell<usize>);

impl PassAllowance {
    /// The allowance of a new pass over `cache`.
    pub fn new(cache: &HotCache) -> Self {
        PassAllowance(std::cell::Cell::new(cache.budget / PASS_SHARE))
    }

    /// Takes `size` bytes from the allowance; false (and nothing taken) once it is spent.
    pub fn take(&self, size: usize) -> bool {
        let left = self.0.get();
        if size > left {
            self.0.set(0);
            return false;
        }
        self.0.set(left - size);
        true
    }
}

/// Approximate heap footprint of a decoded document, used to bound the hot cache in bytes.
pub fn approx_size(data: &crate::types::DocData) -> usize {
    fn value_size(v: &crate::Value) -> usize {
        use crate::Value::*;
        match v {
            String(s) => 32 + s.len(),
            Array(a) => 32 + a.iter().map(value_size).sum::<usize>(),
            Object(m) => 64 + m.iter().map(|(k, v)| 40 + k.len() + value_size(v)).sum::<usize>(),
            _ => 32,
        }
    }
    128 + data.iter().map(|(_, v)| 48 + value_size(v)).sum::<usize>()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::types::DocData;

    fn doc(v: i64) -> Arc<Document> {
        let mut data = DocData::default();
        data.insert("v".into(), crate::Value::Int(v));
        Arc::new(Document::new("s", data))
    }

    fn v(d: &Arc<Document>) -> Option<i64> {
        d.data.get("v").and_then(|v| v.as_i64())
    }

    #[test]
    fn a_pass_may_fill_a_quarter_and_stops_at_the_first_refusal() {
        let cache = HotCache::new(1000);
        let pass = PassAllowance::new(&cache);
        assert!(pass.take(200));
        assert!(!pass.take(100), "250 allowed, 200 taken");
        assert!(!pass.take(10), "a refused pass stays spent");
        let fresh = PassAllowance::new(&cache);
        assert!(fresh.take(250) && !fresh.take(1));
    }

    #[test]
    fn a_read_older_than_a_commit_is_not_cached() {
        let c = HotCache::new(1 << 20);
        // A reader at LSN 1 read version 1 while a commit at 2 changed the (uncached) document.
        c.commit((0, 7), Some((doc(2), 100)), 2);
        c.fill((0, 7), doc(1), 100, 1);
        assert!(c.get(&(0, 7), 5).is_none(), "the stale read must not be cached");
        // A reader at LSN 2 caches what it read; older snapshots read past it.
        c.fill((0, 7), doc(2), 100, 2);
        assert_eq!(c.get(&(0, 7), 2).as_ref().and_then(v), Some(2));
        assert!(c.get(&(0, 7), 1).is_none());
    }

    #[test]
    fn commits_replace_and_remove_cached_versions() {
        let c = HotCache::new(1 << 20);
        c.fill((0, 1), doc(1), 100, 0);
        c.commit((0, 1), Some((doc(3), 100)), 3);
        assert!(c.get(&(0, 1), 2).is_none(), "a snapshot before the commit reads past the cache");
        assert_eq!(c.get(&(0, 1), 3).as_ref().and_then(v), Some(3));
        c.commit((0, 1), None, 4);
        assert!(c.get(&(0, 1), 9).is_none());
        assert_eq!(c.used_bytes(), 0);
    }

    #[test]
    fn the_byte_budget_evicts_least_recently_used() {
        let c = HotCache::new(250);
        c.fill((0, 1), doc(1), 100, 0);
        c.fill((0, 2), doc(2), 100, 0);
        assert!(c.get(&(0, 1), 0).is_some());
        c.fill((0, 3), doc(3), 100, 0);
        assert!(c.get(&(0, 2), 0).is_none(), "the least recently used entry goes");
        assert!(c.get(&(0, 1), 0).is_some() && c.get(&(0, 3), 0).is_some());
        c.fill((0, 4), doc(4), 300, 0);
        assert!(c.get(&(0, 4), 0).is_none(), "an entry over the budget is not cached");
        assert_eq!(c.used_bytes(), 200);
    }
}
