//! The database handle: its state, collections, reads of documents by id, and closing.

mod apply;
mod audit;
pub(crate) mod catalog;
mod health;
mod maintenance;
mod open;
mod read;
mod schema;
mod stats;
mod txn;
mod write;

pub use open::FORMAT_VERSION;
pub use stats::MemoryStats;
pub use txn::Transaction;
pub(crate) use write::{Applied, WriteOp};

use crate::config::{AuroraConfig, DurabilityMode};
use crate::error::{hint_for, AuroraError, Result};
use crate::realtime::Hub;
use crate::storage::cache::{HotCache, PassAllowance};
use crate::storage::doc_codec;
use crate::storage::index_cache::IndexCache;
use crate::storage::keys;
use crate::storage::kv::ColdStore;
use crate::storage::memtable::{Found, Memtable, Snapshot};
use crate::storage::wal::{Wal, WalShared};
use crate::types::{CollectionSchema, Document, FieldDefinition};
use catalog::{Catalog, Catalogs};
use parking_lot::{Condvar, Mutex, RwLock};
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;

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
    /// Committed writes not yet in the cold store, and the snapshots that read through them.
    pub memtable: Arc<Memtable>,
    /// Index entries read from the cold store, and the current cold view.
    pub index_cache: IndexCache,
    /// Decoded documents.
    pub cache: HotCache,
    pub commit: Mutex<CommitState>,
    /// The WAL's state shared with the background syncer (set once the WAL exists).
    pub wal_shared: std::sync::OnceLock<Arc<WalShared>>,
    pub wal_dir: PathBuf,
    /// The cold store's file or directory (named in errors).
    pub data_file: PathBuf,
    pub collections: RwLock<Catalogs>,
    /// The id the next collection gets.
    pub next_coll: std::sync::atomic::AtomicU32,
    /// Serializes collection definitions (create, change, drop).
    pub ddl: Mutex<()>,
    pub hub: Hub,
    pub closed: AtomicBool,
    /// Highest LSN known durable in the cold store.
    pub durable_lsn: AtomicU64,
    /// Highest LSN written to the cold store (durably or not).
    pub cold_lsn: AtomicU64,
    /// Memtable bytes written to the cold store since its last durable commit: the cold store
    /// reuses the pages a write frees only after a durable commit, so these bound the dead space.
    pub undurable_bytes: std::sync::atomic::AtomicUsize,
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
    /// AQL requests executing now (see [`Aurora::running_requests`]).
    pub running_requests: std::sync::atomic::AtomicUsize,
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
        Ok((*self.inner.collection(collection)?.schema()).clone())
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

    /// Checkpoints (row ids are stable; the cold store reuses freed pages).
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

    /// A consistent read view of everything committed so far.
    pub(crate) fn snapshot(&self) -> Snapshot {
        self.memtable.snapshot(&self.index_cache)
    }

    /// The catalog of a collection, or an error naming it with the closest existing name.
    pub(crate) fn collection(&self, name: &str) -> Result<Arc<Catalog>> {
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

    /// The document at `rowid` as `snap` sees it, through the hot cache.
    pub(crate) fn fetch_row(&self, cat: &Catalog, snap: &Snapshot, rowid: u32) -> Result<Option<Arc<Document>>> {
        self.fetch_row_in_pass(cat, snap, rowid, None)
    }

    /// [`Self::fetch_row`] for one row of a read pass: what it reads past the cache is cached
    /// only while the pass's allowance lasts.
    pub(crate) fn fetch_row_in_pass(
        &self,
        cat: &Catalog,
        snap: &Snapshot,
        rowid: u32,
        pass: Option<&PassAllowance>,
    ) -> Result<Option<Arc<Document>>> {
        let key = (cat.id, rowid);
        if let Some(d) = self.cache.get(&key, snap.lsn()) {
            return Ok(Some(d));
        }
        let bytes = match snap.get(&keys::doc(cat.id, rowid))? {
            Some(Found::Bytes(b)) => b,
            Some(Found::Chunk(_)) => return Err(self.damaged(cat, rowid)),
            None => return Ok(None),
        };
        let (sid, data) = doc_codec::decode(&bytes, &cat.dict.names()).ok_or_else(|| self.damaged(cat, rowid))?;
        let size = crate::storage::cache::approx_size(&data);
        let doc = Arc::new(Document::new(sid_string(sid), data));
        if pass.is_none_or(|p| p.take(size)) {
            self.cache.fill(key, doc.clone(), size, snap.lsn());
        }
        Ok(Some(doc))
    }

    fn damaged(&self, cat: &Catalog, rowid: u32) -> AuroraError {
        AuroraError::Corruption {
            file: self.data_file.clone(),
            offset: 0,
            reason: format!("collection `{}`: the document at row {rowid} is unreadable", cat.name),
        }
    }

    /// A document by system id, with its row, as `snap` sees it.
    pub(crate) fn fetch_in(&self, cat: &Catalog, snap: &Snapshot, sid: u128) -> Result<Option<(u32, Arc<Document>)>> {
        let Some(rowid) = self.rowid_of(cat, snap, sid)? else { return Ok(None) };
        Ok(self.fetch_row(cat, snap, rowid)?.map(|d| (rowid, d)))
    }

    /// A document by system id, as of now.
    pub(crate) fn fetch(&self, cat: &Catalog, sid: u128) -> Result<Option<Arc<Document>>> {
        Ok(self.fetch_in(cat, &self.snapshot(), sid)?.map(|(_, d)| d))
    }

    /// Checks every index of every collection against a full scan of its documents.
    fn verify(&self) -> Result<()> {
        let colls: Vec<Arc<Catalog>> = self.collections.read().values().cloned().collect();
        let snap = self.snapshot();
        for cat in colls {
            let ix = crate::index::Indexes::new(&snap, &cat, &self.index_cache);
            let fail = |what: String| AuroraError::Other(format!("collection `{}`: {what}", cat.name));
            let live = ix.live()?;
            if live.len() != ix.count()? {
                return Err(fail(format!("{} live rows but a count of {}", live.len(), ix.count()?)));
            }
            let defs = cat.indexes();
            let mut entries = vec![0u64; defs.len()];
            let prefix = keys::coll_prefix(cat.id, keys::kind::DOC);
            let mut docs = 0u64;
            for item in snap.range(&prefix, keys::prefix_end(&prefix).as_deref(), false)? {
                let (k, _) = item?;
                let rowid = keys::doc_rowid(&k).ok_or_else(|| fail("a document key is unreadable".into()))?;
                let doc = self.fetch_row(&cat, &snap, rowid)?.ok_or_else(|| fail(format!("row {rowid} vanished")))?;
                docs += 1;
                if !live.contains(rowid) {
                    return Err(fail(format!("row {rowid} has a document but is not live")));
                }
                if self.rowid_of(&cat, &snap, parse_sid(&doc._sid)?)? != Some(rowid) {
                    return Err(fail(format!("the system id of row {rowid} does not lead back to it")));
                }
                for (i, def) in defs.iter().enumerate() {
                    let v = doc.data.get(def.field.as_str()).cloned().unwrap_or_default();
                    if !ix.eq(def, &v)?.contains(rowid) {
                        return Err(fail(format!("index `{}` does not list row {rowid} under {v}", def.field)));
                    }
                    entries[i] += 1;
                }
            }
            if docs != live.len() {
                return Err(fail(format!("{docs} documents but {} live rows", live.len())));
            }
            for (def, n) in defs.iter().zip(entries) {
                let mut total = 0u64;
                for item in ix.walk(def, true)? {
                    total += item?.1.len();
                }
                if total != n {
                    return Err(fail(format!("index `{}` holds {total} entries for {n} documents", def.field)));
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

/// Parses the text form of a system id.
pub(crate) fn parse_sid(s: &str) -> Result<u128> {
    uuid::Uuid::parse_str(s).map(|u| u.as_u128()).map_err(|_| AuroraError::NotFound(format!("document `{s}`")))
}

/// Text form of a system id.
pub(crate) fn sid_string(sid: u128) -> String {
    uuid::Uuid::from_u128(sid).to_string()
}
