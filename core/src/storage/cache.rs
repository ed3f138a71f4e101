//! Hot cache: decoded documents in an LRU bounded by an approximate byte budget.

use crate::types::Document;
use lru::LruCache;
use parking_lot::Mutex;
use std::sync::Arc;

/// Cache key: collection id and the 128-bit system id.
pub type CacheKey = (u32, u128);

struct Inner {
    lru: LruCache<CacheKey, (Arc<Document>, usize), foldhash::fast::RandomState>,
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

    /// Returns the document and marks it recently used.
    pub fn get(&self, key: &CacheKey) -> Option<Arc<Document>> {
        self.inner.lock().lru.get(key).map(|(d, _)| d.clone())
    }

    /// Inserts or replaces a document, evicting the least recently used ones over budget.
    pub fn put(&self, key: CacheKey, doc: Arc<Document>, size: usize) {
        if size > self.budget {
            self.remove(&key);
            return;
        }
        let mut g = self.inner.lock();
        if let Some((_, old)) = g.lru.put(key, (doc, size)) {
            g.bytes -= old;
        }
        g.bytes += size;
        while g.bytes > self.budget {
            match g.lru.pop_lru() {
                Some((_, (_, s))) => g.bytes -= s,
                None => break,
            }
        }
    }

    /// Inserts only when absent (readers filling the cache must not overwrite a newer write).
    pub fn put_if_absent(&self, key: CacheKey, doc: Arc<Document>, size: usize) {
        if self.inner.lock().lru.contains(&key) {
            return;
        }
        self.put(key, doc, size);
    }

    /// Drops one entry.
    pub fn remove(&self, key: &CacheKey) {
        let mut g = self.inner.lock();
        if let Some((_, s)) = g.lru.pop(key) {
            g.bytes -= s;
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
