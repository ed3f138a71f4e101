//! Database configuration and its defaults.

use std::path::PathBuf;

/// How much a write has survived when the call that made it returns Ok.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
pub enum DurabilityMode {
    /// No promise: writes reach disk with the next buffer flush.
    None,
    /// Written to the WAL file before returning: survives a process kill.
    #[default]
    WAL,
    /// WAL fsynced before returning (group commit): survives power loss.
    Strict,
    /// WAL fsynced and the data flushed to cold storage before returning.
    Synchronous,
}

/// Which hot-cache entry goes first when the budget is exceeded.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
pub enum EvictionPolicy {
    /// Least recently used.
    #[default]
    LRU,
}

/// The engine that holds the data on disk.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ColdStoreKind {
    /// redb: a copy-on-write B-tree with snapshot reads (the default).
    #[default]
    Redb,
    /// sled: a log-structured store, kept as an option.
    Sled,
}

/// sled tuning preset.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
pub enum ColdStoreMode {
    /// Faster writes, more space.
    #[default]
    HighThroughput,
    /// Smaller files, slower writes.
    LowSpace,
}

/// Every setting of a database, with the defaults of the specification.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
#[serde(default)]
pub struct AuroraConfig {
    /// Directory of the database.
    pub db_path: PathBuf,
    /// Byte budget of the in-memory document cache, in MiB.
    pub hot_cache_size_mb: usize,
    /// Eviction policy of the hot cache.
    pub eviction_policy: EvictionPolicy,
    /// The cold store's page cache (redb or sled), in MiB.
    pub cold_cache_capacity_mb: usize,
    /// The engine holding the data on disk; recorded in the database directory on creation
    /// (opening a database with the other one is an error).
    pub cold_store: ColdStoreKind,
    /// Byte budget of the cache of index pages (decoded posting chunks and unique entries), in MiB.
    pub index_cache_mb: usize,
    /// sled mode.
    pub cold_mode: ColdStoreMode,
    /// Start the built-in job workers on open.
    pub workers_enabled: bool,
    /// Number of concurrent job workers.
    pub worker_threads: usize,
    /// How long a completed job is kept (memory and storage) before background maintenance
    /// deletes it, in ms; `None` keeps completed jobs forever. Dead letters are never deleted
    /// automatically. Default 24 h.
    pub completed_job_retention_ms: Option<u64>,
    /// Batch writes into the cold store.
    pub enable_write_buffering: bool,
    /// Entries buffered before a flush into the cold store. The buffer is also bounded: past
    /// `max(4 × write_buffer_size, 1024)` entries a write first flushes it itself, and is
    /// refused (not committed) if the cold store fails.
    pub write_buffer_size: usize,
    /// Longest time a write waits in the buffer, in ms.
    pub write_buffer_flush_interval_ms: u64,
    /// Keep a write-ahead log (without it, durability is that of `None`/`Synchronous`).
    pub enable_wal: bool,
    /// What an acknowledged write has survived.
    pub durability_mode: DurabilityMode,
    /// `WAL` mode: how often the WAL is fsynced in the background, in ms (it is also fsynced
    /// at every checkpoint and segment rotation): a power loss loses at most this much of the
    /// writes acknowledged before it. 0 syncs only at checkpoints and rotations.
    pub wal_sync_interval_ms: u64,
    /// WAL segments rotate once they pass this many bytes.
    pub wal_segment_bytes: u64,
    /// Period of WAL checkpoints, in ms.
    pub checkpoint_interval_ms: u64,
    /// Run background compaction.
    pub auto_compact: bool,
    /// Period of background compaction, in minutes.
    pub compact_interval_mins: u64,
    /// When set, every mutation is appended to this file as one JSON line.
    pub audit_log_path: Option<PathBuf>,
    /// Bounds on what one request may cost; each refusal is an error with code `LIMIT` naming
    /// the limit and its value.
    pub limits: Limits,
}

/// Bounds on the time, memory and stack one request may use. The defaults refuse no query a
/// real application writes and stop every input that would exhaust the process; each can be
/// raised or lowered per database.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(default)]
pub struct Limits {
    /// Longest AQL text accepted, in bytes.
    pub max_query_bytes: usize,
    /// Most fragment definitions in one AQL text.
    pub max_fragments: usize,
    /// Most fields a selection may have once every fragment is expanded (counted without
    /// expanding them).
    pub max_selection_fields: usize,
    /// Deepest nesting of selections, fragment spreads, filters and values.
    pub max_depth: usize,
    /// Most root fields (aliases included) in one operation.
    pub max_root_fields: usize,
    /// Most values in one `in` list.
    pub max_in_values: usize,
    /// Most documents one query may return or hold at once.
    pub max_result_rows: usize,
    /// Time budget of one query, in ms, checked inside scan loops; 0 disables it.
    pub query_time_ms: u64,
    /// Largest commit (the encoded size of all its writes), in bytes.
    pub max_commit_bytes: usize,
    /// Byte budget of the cache of parsed AQL texts.
    pub plan_cache_bytes: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_query_bytes: 1024 * 1024,
            max_fragments: 1_000,
            max_selection_fields: 10_000,
            max_depth: 64,
            max_root_fields: 256,
            max_in_values: 10_000,
            max_result_rows: 1_000_000,
            query_time_ms: 30_000,
            max_commit_bytes: 256 * 1024 * 1024,
            plan_cache_bytes: 16 * 1024 * 1024,
        }
    }
}

impl Default for AuroraConfig {
    fn default() -> Self {
        AuroraConfig {
            db_path: PathBuf::from("aurora.db"),
            hot_cache_size_mb: 256,
            eviction_policy: EvictionPolicy::LRU,
            cold_cache_capacity_mb: 1024,
            cold_store: ColdStoreKind::Redb,
            index_cache_mb: 64,
            cold_mode: ColdStoreMode::HighThroughput,
            workers_enabled: false,
            worker_threads: 4,
            completed_job_retention_ms: Some(24 * 60 * 60 * 1000),
            enable_write_buffering: true,
            write_buffer_size: 10_000,
            write_buffer_flush_interval_ms: 1_000,
            enable_wal: true,
            durability_mode: DurabilityMode::WAL,
            wal_sync_interval_ms: 1_000,
            wal_segment_bytes: crate::storage::wal::DEFAULT_SEGMENT_BYTES,
            checkpoint_interval_ms: 10_000,
            auto_compact: true,
            compact_interval_mins: 60,
            audit_log_path: None,
            limits: Limits::default(),
        }
    }
}

impl AuroraConfig {
    /// Default configuration for a database directory.
    pub fn new(db_path: impl Into<PathBuf>) -> Self {
        AuroraConfig { db_path: db_path.into(), ..Default::default() }
    }

    /// Entries the write buffer may hold before a write must flush it first.
    pub(crate) fn write_buffer_limit(&self) -> usize {
        self.write_buffer_size.saturating_mul(4).max(1024)
    }

    /// The durability actually in force: without a WAL only `None` or `Synchronous` make sense.
    pub(crate) fn effective_durability(&self) -> DurabilityMode {
        match (self.enable_wal, self.durability_mode) {
            (false, DurabilityMode::Synchronous) => DurabilityMode::Synchronous,
            (false, DurabilityMode::Strict) => DurabilityMode::Synchronous,
            (false, _) => DurabilityMode::None,
            (true, m) => m,
        }
    }
}
