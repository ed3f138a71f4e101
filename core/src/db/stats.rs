//! What the in-memory structures of a database hold against their budgets.

use super::Aurora;

/// Bytes (approximate, as each structure accounts them) held by the in-memory caches and
/// buffers of a database, next to their configured budgets.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct MemoryStats {
    /// Decoded documents in the hot cache.
    pub hot_cache_bytes: usize,
    /// `hot_cache_size_mb` in bytes.
    pub hot_cache_budget: usize,
    /// Documents in the hot cache.
    pub hot_cache_documents: usize,
    /// Parsed AQL texts in the plan cache.
    pub plan_cache_bytes: usize,
    /// `limits.plan_cache_bytes`.
    pub plan_cache_budget: usize,
    /// AQL texts in the plan cache.
    pub plan_cache_entries: usize,
    /// Committed writes waiting for the cold store.
    pub write_buffer_entries: usize,
    /// Their approximate bytes.
    pub write_buffer_bytes: usize,
    /// Index entries read from the cold store (postings, unique entries, misses).
    pub index_cache_bytes: usize,
    /// `index_cache_mb` in bytes.
    pub index_cache_budget: usize,
    /// `cold_cache_capacity_mb` in bytes: the cold store's own page cache, which it fills and
    /// accounts for itself.
    pub cold_cache_budget: usize,
}

impl Aurora {
    /// AQL requests executing now. A request past its time budget stops inside its scan and
    /// leaves this count, so it also shows that a timed-out request no longer costs anything.
    pub fn running_requests(&self) -> usize {
        self.inner.running_requests.load(std::sync::atomic::Ordering::Relaxed)
    }

    /// The bytes held by the caches and buffers, with their budgets.
    pub fn memory_stats(&self) -> MemoryStats {
        let (plan_cache_entries, plan_cache_bytes, plan_cache_budget) = crate::aql::plan_cache_usage(self);
        MemoryStats {
            hot_cache_bytes: self.inner.cache.used_bytes(),
            hot_cache_budget: self.inner.cache.budget(),
            hot_cache_documents: self.inner.cache.len(),
            plan_cache_bytes,
            plan_cache_budget,
            plan_cache_entries,
            write_buffer_entries: self.inner.memtable.pending_keys(),
            write_buffer_bytes: self.inner.memtable.pending_bytes(),
            index_cache_bytes: self.inner.index_cache.used_bytes(),
            index_cache_budget: self.inner.index_cache.budget(),
            cold_cache_budget: self.inner.config.cold_cache_capacity_mb.saturating_mul(1 << 20),
        }
    }
}
