//! The database handle: opening, recovery, collections, and the background maintenance.

mod audit;
mod health;
mod maintenance;
mod read;
mod stats;
mod txn;
mod write;

pub use stats::MemoryStats;
pub use txn::Transaction;
pub(crate) use write::{Applied, WriteOp};

use crate::config::{AuroraConfig, DurabilityMode};
use crate::error::{hint_for, AuroraError, Result};
use crate::index::collection::docs_tree;
use crate::index::CollectionState;
use crate::realtime::Hub;
use crate::storage::buffer::WriteBuffer;
use crate::storage::cache::HotCache;
use crate::storage::codec::decode_doc;
use crate::storage::wal::{self, Wal, WalShared};
use crate::storage::{ColdStore, SledStore};
use crate::types::{CollectionSchema, FieldDefinition};
use parking_lot::{Condvar, Mutex, RwLock};
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::sync::Arc;

/// Cold-store tree of database metadata (schemas, checkpoint LSN).
pub(crate) const META_TREE: &str = "meta";
const CHECKPOINT_KEY: &[u8] = b"checkpoint_lsn";
const COLLECTION_PREFIX: &str = "collection:";

/// A handle to an open database. Cheap to clone; the database closes when the last clone
/// is dropped or on [`Aurora::close`].
#[derive(Clone)]
pub struct Aurora {
    pub(crate) inner: Arc<Inner>,
}

pub(crate) struct CommitState {
    pub wal: Option<Wal>,
    pub next_lsn: u64,
    pub last_sid: u128,
}

/// Shared state behind every clone of a database handle.
pub(crate) struct Inner {
    pub config: AuroraConfig,
    pub durability: DurabilityMode,
    /// The cold store; emptied on close so the directory's lock is released.
    cold_slot: RwLock<Option<Arc<dyn ColdStore>>>,
    pub cache: HotCache,
    pub buffer: WriteBuffer,
    pub commit: Mutex<CommitState>,
    pub wal_shared: Option<Arc<WalShared>>,
    pub wal_dir: PathBuf,
    pub collections: RwLock<HashMap<String, Arc<RwLock<CollectionState>>, foldhash::fast::RandomState>>,
    pub hub: Hub,
    pub closed: AtomicBool,
    next_collection_id: AtomicU32,
    /// Highest LSN known flushed into the cold store (Synchronous mode).
    pub sync_flushed: Mutex<u64>,
    pub checkpoint_lock: Mutex<()>,
    pub shutdown: Arc<(Mutex<bool>, Condvar)>,
    pub flush_wanted: AtomicBool,
    pub extensions: RwLock<HashMap<&'static str, Arc<dyn std::any::Any + Send + Sync>>>,
    pub self_weak: RwLock<std::sync::Weak<Inner>>,
    pub audit_log: Option<Mutex<std::fs::File>>,
    /// Consecutive cold-store failures, for errors that say how long it has been failing.
    pub cold_health: Mutex<health::ColdHealth>,
    /// Every worker system made on this database: closing stops them and drops their handlers.
    pub worker_systems: Mutex<Vec<crate::workers::WorkerSystem>>,
}

impl Aurora {
    /// Opens (or creates) the database in directory `path` with default settings.
    pub async fn open(path: impl AsRef<Path>) -> Result<Aurora> {
        Self::with_config(AuroraConfig::new(path.as_ref())).await
    }

    /// Opens (or creates) a database with an explicit configuration.
    pub async fn with_config(config: AuroraConfig) -> Result<Aurora> {
        Self::open_blocking(config)
    }

    /// Opens a database without an async runtime (for bindings and tools).
    pub fn open_blocking(config: AuroraConfig) -> Result<Aurora> {
        std::fs::create_dir_all(&config.db_path).map_err(|e| AuroraError::io(&config.db_path, e))?;
        let cold: Arc<dyn ColdStore> = Arc::new(SledStore::open(&config)?);
        Self::open_on(config, cold)
    }

    /// Opens a database over a given cold store (an in-memory one in tests).
    pub fn open_on(config: AuroraConfig, cold: Arc<dyn ColdStore>) -> Result<Aurora> {
        let wal_dir = config.db_path.join("wal");
        let durability = config.effective_durability();

        // 1. Recover: replay WAL records above the checkpoint into the cold store.
        let checkpoint = read_checkpoint(cold.as_ref())?;
        // WAL segments are deleted only once the cold store durably holds their records, so the
        // oldest one starts at or below checkpoint + 1. One starting above means the cold store
        // went back in time (sled drops everything after a damaged log entry): the writes in
        // between are gone from both, so say so instead of opening with them silently missing.
        if let Some((first, path)) = wal::list_segments(&wal_dir)?.first() {
            if *first > checkpoint.saturating_add(1) {
                return Err(AuroraError::Corruption {
                    file: config.db_path.join("data"),
                    offset: 0,
                    reason: format!(
                        "the cold store is at LSN {checkpoint} but the WAL begins at LSN {first} ({}): \
                         writes {} to {} are lost (damaged or replaced cold store)",
                        path.display(),
                        checkpoint + 1,
                        first - 1
                    ),
                });
            }
        }
        let records = wal::replay(&wal_dir)?;
        let mut last_lsn = checkpoint;
        let mut replayed = 0usize;
        for rec in records.into_iter().filter(|r| r.lsn > checkpoint) {
            let mut per_tree: HashMap<String, Vec<crate::storage::cold::BatchOp>> = HashMap::new();
            for op in rec.ops {
                per_tree.entry(op.tree).or_default().push((op.key, op.value));
            }
            for (tree, ops) in per_tree {
                cold.apply(&tree, ops)?;
            }
            last_lsn = last_lsn.max(rec.lsn);
            replayed += 1;
        }
        if replayed > 0 {
            tracing::info!("replayed {replayed} WAL records up to LSN {last_lsn}");
        }
        write_checkpoint(cold.as_ref(), last_lsn)?;
        cold.flush()?;

        // 2. A fresh segment for new writes; everything older is now in the cold store.
        let fsync = matches!(durability, DurabilityMode::Strict | DurabilityMode::Synchronous);
        let wal = if durability == DurabilityMode::None || !config.enable_wal {
            None
        } else {
            Some(Wal::create(&wal_dir, last_lsn + 1, fsync, config.wal_segment_bytes)?)
        };
        let current_seg = last_lsn + 1;
        for (start, path) in wal::list_segments(&wal_dir)? {
            if start < current_seg {
                std::fs::remove_file(&path).map_err(|e| AuroraError::io(&path, e))?;
            }
        }
        let wal_shared = wal.as_ref().map(|w| w.shared().clone());
        let audit_log = match &config.audit_log_path {
            Some(p) => Some(Mutex::new(
                std::fs::OpenOptions::new().create(true).append(true).open(p).map_err(|e| AuroraError::io(p, e))?,
            )),
            None => None,
        };

        let inner = Arc::new(Inner {
            cache: HotCache::new(config.hot_cache_size_mb.saturating_mul(1024 * 1024)),
            durability,
            cold_slot: RwLock::new(Some(cold.clone())),
            buffer: WriteBuffer::default(),
            commit: Mutex::new(CommitState { wal, next_lsn: last_lsn + 1, last_sid: 0 }),
            wal_shared,
            wal_dir,
            collections: RwLock::new(HashMap::default()),
            hub: Hub::default(),
            closed: AtomicBool::new(false),
            next_collection_id: AtomicU32::new(1),
            sync_flushed: Mutex::new(last_lsn),
            checkpoint_lock: Mutex::new(()),
            shutdown: Arc::new((Mutex::new(false), Condvar::new())),
            flush_wanted: AtomicBool::new(false),
            extensions: RwLock::new(HashMap::new()),
            self_weak: RwLock::new(std::sync::Weak::new()),
            audit_log,
            cold_health: Mutex::new(health::ColdHealth::default()),
            worker_systems: Mutex::new(Vec::new()),
            config,
        });
        *inner.self_weak.write() = Arc::downgrade(&inner);

        // 3. Rebuild in-memory indexes once from the cold store.
        let mut max_sid = 0u128;
        for (key, bytes) in inner.cold()?.scan(META_TREE)? {
            let Some(name) = std::str::from_utf8(&key).ok().and_then(|k| k.strip_prefix(COLLECTION_PREFIX)) else {
                continue;
            };
            let schema: CollectionSchema = serde_json::from_slice(&bytes).map_err(|e| AuroraError::Corruption {
                file: inner.config.db_path.join("data"),
                offset: 0,
                reason: format!("schema of collection `{name}` is unreadable: {e}"),
            })?;
            let mut state =
                CollectionState::new(inner.next_collection_id.fetch_add(1, Ordering::Relaxed), name, schema);
            for (k, v) in inner.cold()?.scan(&docs_tree(name))? {
                let sid = sid_from_key(&k).ok_or_else(|| AuroraError::Corruption {
                    file: inner.config.db_path.join("data"),
                    offset: 0,
                    reason: format!("bad document key in collection `{name}`"),
                })?;
                let data = decode_doc(&v)?;
                state.insert(sid, &data);
                max_sid = max_sid.max(sid);
            }
            inner.collections.write().insert(name.to_string(), Arc::new(RwLock::new(state)));
        }
        inner.commit.lock().last_sid = max_sid;

        maintenance::start(&inner)?;
        Ok(Aurora { inner })
    }

    /// The configuration the database was opened with.
    pub fn config(&self) -> &AuroraConfig {
        &self.inner.config
    }

    /// Creates a collection with the given fields. Re-creating it with the same definition is a
    /// no-op; with a different one it is a [`AuroraError::SchemaConflict`].
    pub async fn new_collection<S: Into<String>>(&self, name: &str, fields: Vec<(S, FieldDefinition)>) -> Result<()> {
        self.create_collection(name, CollectionSchema::from_fields(fields)).await.map(|_| ())
    }

    /// Creates a collection from a full schema; returns true if it was created, false if an
    /// identical one existed.
    pub async fn create_collection(&self, name: &str, schema: CollectionSchema) -> Result<bool> {
        self.inner.create_collection(name, schema)
    }

    /// Names of all collections.
    pub fn collection_names(&self) -> Vec<String> {
        let mut v: Vec<String> = self.inner.collections.read().keys().cloned().collect();
        v.sort();
        v
    }

    /// The schema of a collection.
    pub fn schema(&self, collection: &str) -> Result<CollectionSchema> {
        Ok(self.inner.collection(collection)?.read().schema.clone())
    }

    /// Replaces a collection's schema (used by migrations); existing documents are not rewritten.
    pub async fn set_schema(&self, collection: &str, schema: CollectionSchema) -> Result<()> {
        self.inner.set_schema(collection, schema)
    }

    /// Deletes a collection and all its documents.
    pub async fn drop_collection(&self, name: &str) -> Result<()> {
        self.inner.drop_collection(name)
    }

    /// Writes buffered data to the cold store, makes it durable and truncates the WAL.
    pub async fn checkpoint(&self) -> Result<()> {
        self.inner.checkpoint()
    }

    /// Checkpoints and renumbers row ids of collections with many deleted rows.
    pub async fn compact(&self) -> Result<()> {
        self.inner.compact()
    }

    /// Stops every worker system of the database (returning once each handler call has
    /// returned), flushes everything and stops background work. Later calls on any clone fail
    /// with `Closed`.
    pub async fn close(&self) -> Result<()> {
        let systems = self.inner.worker_systems.lock().clone();
        let mut stopped = Ok(());
        for ws in systems {
            if let Err(e) = ws.stop().await {
                stopped = stopped.and(Err(e));
            }
        }
        self.inner.shutdown().and(stopped)
    }

    /// Flushes and closes without an async runtime. Running job handlers are not waited for:
    /// stop the workers first (`WorkerSystem::stop`), as the bindings do.
    pub fn close_blocking(&self) -> Result<()> {
        self.inner.shutdown()
    }

    /// True once closed.
    pub fn is_closed(&self) -> bool {
        self.inner.closed.load(Ordering::Acquire)
    }

    /// Bytes held by the hot cache and its budget.
    pub fn cache_usage(&self) -> (usize, usize) {
        (self.inner.cache.used_bytes(), self.inner.cache.budget())
    }

    /// Checks every index of every collection against the live rows and a full scan.
    pub async fn verify(&self) -> Result<()> {
        self.inner.verify()
    }

    /// Subscribes to the change events of one collection.
    pub fn listen(&self, collection: &str) -> crate::realtime::ChangeListener {
        self.inner.hub.listen(collection)
    }

    /// Subscribes to the change events of every collection.
    pub fn listen_all(&self) -> crate::realtime::ChangeListener {
        self.inner.hub.listen_all()
    }

    pub(crate) fn extension<T: Send + Sync + 'static>(&self, key: &'static str, make: impl FnOnce() -> T) -> Arc<T> {
        if let Some(e) = self.inner.extensions.read().get(key) {
            if let Ok(t) = e.clone().downcast::<T>() {
                return t;
            }
        }
        let mut w = self.inner.extensions.write();
        if let Some(e) = w.get(key) {
            if let Ok(t) = e.clone().downcast::<T>() {
                return t;
            }
        }
        let t = Arc::new(make());
        w.insert(key, t.clone());
        t
    }
}

impl Inner {
    /// The cold store, or `Closed` once the database is closed.
    pub(crate) fn cold(&self) -> Result<Arc<dyn ColdStore>> {
        self.cold_slot.read().clone().ok_or(AuroraError::Closed)
    }

    pub(crate) fn check_open(&self) -> Result<()> {
        if self.closed.load(Ordering::Acquire) {
            Err(AuroraError::Closed)
        } else {
            Ok(())
        }
    }

    /// The state of a collection, or an error naming it with the closest existing name.
    pub(crate) fn collection(&self, name: &str) -> Result<Arc<RwLock<CollectionState>>> {
        self.check_open()?;
        let map = self.collections.read();
        match map.get(name) {
            Some(c) => Ok(c.clone()),
            None => Err(AuroraError::CollectionNotFound {
                line: 0,
                column: 0,
                name: name.to_string(),
                hint: hint_for(name, map.keys().map(String::as_str)),
            }),
        }
    }

    fn create_collection(&self, name: &str, schema: CollectionSchema) -> Result<bool> {
        if name.is_empty() || name.starts_with("_sys") && name != "_sys_migration" || name.contains(':') {
            return Err(AuroraError::Validation {
                collection: name.to_string(),
                message: "collection names must be non-empty, without `:` and not start with `_sys`".into(),
            });
        }
        for (f, def) in &schema.fields {
            if f.is_empty() || f.contains('.') || f == "_sid" {
                return Err(AuroraError::Validation {
                    collection: name.to_string(),
                    message: format!("`{f}` is not a valid field name"),
                });
            }
            let _ = def;
        }
        let _cs = self.commit.lock();
        self.check_open()?;
        if let Some(existing) = self.collections.read().get(name) {
            return if existing.read().schema == schema {
                Ok(false)
            } else {
                Err(AuroraError::SchemaConflict(name.to_string()))
            };
        }
        self.persist_schema(name, &schema)?;
        let state = CollectionState::new(self.next_collection_id.fetch_add(1, Ordering::Relaxed), name, schema);
        self.collections.write().insert(name.to_string(), Arc::new(RwLock::new(state)));
        Ok(true)
    }

    fn persist_schema(&self, name: &str, schema: &CollectionSchema) -> Result<()> {
        let bytes = serde_json::to_vec(schema)?;
        self.cold()?.apply(META_TREE, vec![(format!("{COLLECTION_PREFIX}{name}").into_bytes(), Some(bytes))])?;
        self.cold()?.flush()
    }

    fn set_schema(&self, name: &str, schema: CollectionSchema) -> Result<()> {
        let coll = self.collection(name)?;
        let _cs = self.commit.lock();
        self.persist_schema(name, &schema)?;
        let docs = {
            let st = coll.read();
            let mut docs = Vec::new();
            for rowid in st.live().iter() {
                if let Some(sid) = st.sid_of(rowid) {
                    if let Some(d) = self.fetch(&st, sid)? {
                        docs.push((rowid, (*d.data).clone()));
                    }
                }
            }
            docs
        };
        coll.write().set_schema(schema, &docs);
        Ok(())
    }

    /// Drops a collection under the commit lock, checkpointing inside it: no write can land
    /// between the checkpoint and the drop, so no WAL record can bring its documents back.
    fn drop_collection(&self, name: &str) -> Result<()> {
        let _one = self.checkpoint_lock.lock();
        let mut cs = self.commit.lock();
        self.collection(name)?;
        let Some(state) = self.collections.write().remove(name) else { return Ok(()) };
        let dropped = self.cold().and_then(|cold| {
            self.buffer.flush_into(&*cold)?;
            cold.drop_tree(&docs_tree(name))?;
            cold.apply(META_TREE, vec![(format!("{COLLECTION_PREFIX}{name}").into_bytes(), None)])?;
            let lsn = cs.next_lsn - 1;
            let segment = cs.wal.as_mut().map(|w| w.rotate()).transpose()?;
            write_checkpoint(&*cold, lsn)?;
            cold.flush()?;
            Ok(segment)
        });
        match dropped {
            Ok(segment) => {
                *self.sync_flushed.lock() = cs.next_lsn - 1;
                drop(cs);
                if let Some(seg) = segment {
                    maintenance::remove_segments_before(&self.wal_dir, seg)?;
                }
                Ok(())
            }
            Err(e) => {
                self.collections.write().insert(name.to_string(), state);
                Err(e)
            }
        }
    }

    fn verify(&self) -> Result<()> {
        let colls: Vec<_> = self.collections.read().values().cloned().collect();
        for c in colls {
            let st = c.read();
            st.check_indexes().map_err(|e| AuroraError::Other(format!("collection `{}`: {e}", st.name)))?;
            for rowid in st.live().iter() {
                let sid = st.sid_of(rowid).ok_or_else(|| AuroraError::Other("live row without sid".into()))?;
                let doc = self.fetch(&st, sid)?.ok_or_else(|| {
                    AuroraError::Other(format!("collection `{}`: row {rowid} has no document", st.name))
                })?;
                for f in st.indexed_fields() {
                    let v = doc.data.get(f.as_str()).cloned().unwrap_or_default();
                    if !st.index(f).is_some_and(|ix| ix.eq(&v).contains(rowid)) {
                        return Err(AuroraError::Other(format!(
                            "collection `{}`: index `{f}` does not list row {rowid} under {v}",
                            st.name
                        )));
                    }
                }
            }
        }
        Ok(())
    }

    pub(crate) fn shutdown(&self) -> Result<()> {
        if self.closed.swap(true, Ordering::AcqRel) {
            return Ok(());
        }
        {
            let (lock, cv) = &*self.shutdown;
            *lock.lock() = true;
            cv.notify_all();
        }
        let result = self.checkpoint_inner();
        for ws in std::mem::take(&mut *self.worker_systems.lock()) {
            ws.clear_handlers();
        }
        self.commit.lock().wal = None;
        *self.cold_slot.write() = None;
        result
    }
}

impl Drop for Inner {
    fn drop(&mut self) {
        if let Err(e) = self.shutdown() {
            tracing::error!("error while closing the database: {e}");
        }
    }
}

pub(crate) fn read_checkpoint(cold: &dyn ColdStore) -> Result<u64> {
    Ok(cold
        .get(META_TREE, CHECKPOINT_KEY)?
        .and_then(|b| <[u8; 8]>::try_from(b.as_slice()).ok())
        .map(u64::from_be_bytes)
        .unwrap_or(0))
}

pub(crate) fn write_checkpoint(cold: &dyn ColdStore, lsn: u64) -> Result<()> {
    cold.apply(META_TREE, vec![(CHECKPOINT_KEY.to_vec(), Some(lsn.to_be_bytes().to_vec()))])
}

/// Storage key of a system id: 16 big-endian bytes, so key order is time order.
pub(crate) fn sid_key(sid: u128) -> Vec<u8> {
    sid.to_be_bytes().to_vec()
}

pub(crate) fn sid_from_key(k: &[u8]) -> Option<u128> {
    <[u8; 16]>::try_from(k).ok().map(u128::from_be_bytes)
}

/// Parses the text form of a system id.
pub(crate) fn parse_sid(s: &str) -> Result<u128> {
    uuid::Uuid::parse_str(s).map(|u| u.as_u128()).map_err(|_| AuroraError::NotFound(format!("document `{s}`")))
}

/// Text form of a system id.
pub(crate) fn sid_string(sid: u128) -> String {
    uuid::Uuid::from_u128(sid).to_string()
}
