//! Hot cache: decoded documents in an LRU bounded by an approximate byte budget.
//!
//! Each entry is the newest version of its document, tagged with an LSN at or after which it
//! became that version: a snapshot older than the tag reads past the cache. Commits replace
//! the entries of the documents they change; a reader caches what it read only when no commit
//! came after its snapshot, so a cached version is never older than the newest one.

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

    /// A commit at `lsn` wrote this version (`None`: removed the document). Only a document
    /// already cached is replaced: writes do not fill the cache (a bulk load would otherwise
    /// push out what readers use, and pay to build and later free every entry); reads do.
    pub fn commit(&self, key: CacheKey, doc: Option<(Arc<Document>, usize)>, lsn: u64) {
        let mut g = self.inner.lock();
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
    /// came after the snapshot (`current` is the newest visible LSN, read under the lock).
    pub fn fill(&self, key: CacheKey, doc: Arc<Document>, size: usize, lsn: u64, current: impl Fn() -> u64) {
        if size > self.budget {
            return;
        }
        let mut g = self.inner.lock();
        if current() != lsn || g.lru.contains(&key) {
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
