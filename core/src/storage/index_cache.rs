//! The index cache: index entries read from the cold store (decoded posting chunks, unique
//! entries, and misses), least recently used first out past a byte budget (`index_cache_mb`).
//!
//! It also holds the current cold-store view and its epoch: every flush to the cold store opens
//! a new view, bumps the epoch and drops the cached entries it rewrote, under one lock, so an
//! entry read through an older view is never cached once the epoch moved on.

use super::kv::ColdView;
use lru::LruCache;
use parking_lot::Mutex;
use roaring::RoaringBitmap;
use std::sync::Arc;

/// A cached cold-store entry.
#[derive(Debug, Clone)]
pub enum Cached {
    /// Raw bytes (a unique entry's row id).
    Bytes(Arc<[u8]>),
    /// A decoded chunk.
    Chunk(Arc<RoaringBitmap>),
    /// The key is not in the cold store.
    Absent,
}

impl Cached {
    fn weight(&self, key: &[u8]) -> usize {
        key.len()
            + 64
            + match self {
                Cached::Bytes(b) => b.len(),
                Cached::Chunk(c) => c.serialized_size(),
                Cached::Absent => 0,
            }
    }
}

struct Inner {
    lru: LruCache<Vec<u8>, (Cached, usize), foldhash::fast::RandomState>,
    bytes: usize,
    epoch: u64,
    view: Arc<dyn ColdView>,
}

/// Index entries of the cold store under a byte budget, and the current cold view.
pub struct IndexCache {
    inner: Mutex<Inner>,
    budget: usize,
}

impl IndexCache {
    /// A cache of at most `budget` bytes over the cold store seen through `view`.
    pub fn new(budget: usize, view: Arc<dyn ColdView>) -> IndexCache {
        IndexCache {
            inner: Mutex::new(Inner {
                lru: LruCache::unbounded_with_hasher(foldhash::fast::RandomState::default()),
                bytes: 0,
                epoch: 0,
                view,
            }),
            budget,
        }
    }

    /// The current cold view and its epoch.
    pub fn current(&self) -> (u64, Arc<dyn ColdView>) {
        let g = self.inner.lock();
        (g.epoch, g.view.clone())
    }

    /// The cached entry of `key`, for a reader whose cold view is of `epoch`.
    pub fn get(&self, key: &[u8], epoch: u64) -> Option<Cached> {
        let mut g = self.inner.lock();
        if g.epoch != epoch {
            return None;
        }
        g.lru.get(key).map(|(c, _)| c.clone())
    }

    /// Caches what a reader with a cold view of `epoch` read for `key` (ignored when the
    /// epoch has moved on: the reader's view may be older than the store).
    pub fn put(&self, key: &[u8], value: Cached, epoch: u64) {
        let weight = value.weight(key);
        if weight > self.budget / 8 {
            return;
        }
        let mut g = self.inner.lock();
        if g.epoch != epoch {
            return;
        }
        if let Some((_, old)) = g.lru.put(key.to_vec(), (value, weight)) {
            g.bytes -= old;
        }
        g.bytes += weight;
        while g.bytes > self.budget {
            match g.lru.pop_lru() {
                Some((_, (_, w))) => g.bytes -= w,
                None => break,
            }
        }
    }

    /// After a flush wrote `keys`: the new view, the next epoch, and the rewritten entries gone.
    pub fn advance(&self, keys: &[Vec<u8>], view: Arc<dyn ColdView>) {
        let mut g = self.inner.lock();
        g.epoch += 1;
        g.view = view;
        for k in keys {
            if let Some((_, w)) = g.lru.pop(k.as_slice()) {
                g.bytes -= w;
            }
        }
    }

    /// Drops every entry (a key range was removed from the cold store).
    pub fn clear(&self, view: Arc<dyn ColdView>) {
        let mut g = self.inner.lock();
        g.epoch += 1;
        g.view = view;
        g.lru.clear();
        g.bytes = 0;
    }

    /// Bytes held.
    pub fn used_bytes(&self) -> usize {
        self.inner.lock().bytes
    }

    /// The byte budget.
    pub fn budget(&self) -> usize {
        self.budget
    }
}
