//! Opening a database: the format check, the cold store, the catalogs and the replay of the
//! WAL tail since the last flush. Nothing here reads documents, except those the WAL tail
//! changes.

use super::apply::{self, Change};
use super::catalog::Catalog;
use super::{health, maintenance, CommitState, Inner};
use crate::config::{AuroraConfig, ColdStoreKind, DurabilityMode};
use crate::error::{AuroraError, Result};
use crate::realtime::Hub;
use crate::storage::doc_codec;
use crate::storage::index_cache::IndexCache;
use crate::storage::keys;
use crate::storage::kv::{ColdStore, KvOp};
use crate::storage::memtable::{Found, Memtable, Snapshot};
use crate::storage::wal::{self, Wal, WalOp, WalRecord};
use crate::FieldName;
use parking_lot::{Condvar, Mutex, RwLock};
use std::collections::HashMap;
use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicU64};
use std::sync::Arc;

/// The storage format this version writes and reads.
pub const FORMAT_VERSION: u32 = 2;
/// Meta key of the format version.
const FORMAT_KEY: &str = "format";
/// Meta key of the LSN the cold store holds every write up to.
pub(crate) const LSN_KEY: &str = "lsn";
/// Meta key of the next collection id.
pub(crate) const NEXT_COLL_KEY: &str = "next_coll";
/// Meta prefix of collection names (→ collection id).
pub(crate) const COLL_NAME_PREFIX: &str = "coll:";

/// The directory's `FORMAT` file: the storage format and the cold store that wrote it.
#[derive(serde::Serialize, serde::Deserialize)]
struct FormatFile {
    format: u32,
    cold_store: ColdStoreKind,
}

/// Checks (or, for a new database, writes) the directory's format file. A directory written by
/// another format or cold store is refused with an error naming both, never misread.
fn check_format(config: &AuroraConfig) -> Result<()> {
    let dir = &config.db_path;
    let path = dir.join("FORMAT");
    match std::fs::read(&path) {
        Ok(bytes) => {
            let f: FormatFile = serde_json::from_slice(&bytes).map_err(|e| AuroraError::Corruption {
                file: path.clone(),
                offset: 0,
                reason: format!("unreadable format file: {e}"),
            })?;
            if f.format != FORMAT_VERSION {
                return Err(AuroraError::Storage(format!(
                    "{} holds storage format {} and this version of Aurora reads format {FORMAT_VERSION}",
                    dir.display(),
                    f.format
                )));
            }
            if f.cold_store != config.cold_store {
                return Err(AuroraError::Storage(format!(
                    "{} was created with the {:?} cold store; open it with `cold_store: {:?}` (the configuration \
                     asks for {:?})",
                    dir.display(),
                    f.cold_store,
                    f.cold_store,
                    config.cold_store
                )));
            }
            Ok(())
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            if dir.join("data").join("conf").exists() || dir.join("data").join("db").exists() {
                return Err(AuroraError::Storage(format!(
                    "{} holds storage format 1 (sled trees with in-memory indexes, written by Aurora 0.1 before \
                     the paged layout) and this version reads format {FORMAT_VERSION}: export its collections with \
                     the version that wrote it (`aurora export`) and import them into a new database",
                    dir.display()
                )));
            }
            let text = serde_json::to_vec(&FormatFile { format: FORMAT_VERSION, cold_store: config.cold_store })?;
            let tmp = dir.join("FORMAT.tmp");
            std::fs::write(&tmp, text).map_err(|e| AuroraError::io(&tmp, e))?;
            std::fs::File::open(&tmp).and_then(|f| f.sync_all()).map_err(|e| AuroraError::io(&tmp, e))?;
            std::fs::rename(&tmp, &path).map_err(|e| AuroraError::io(&path, e))?;
            if let Ok(d) = std::fs::File::open(dir) {
                let _ = d.sync_all();
            }
            Ok(())
        }
        Err(e) => Err(AuroraError::io(&path, e)),
    }
}

fn u64_meta(snap: &Snapshot, name: &str, file: &Path) -> Result<Option<u64>> {
    match snap.get(&keys::meta(name))? {
        Some(Found::Bytes(b)) => <[u8; 8]>::try_from(&b[..]).map(|a| Some(u64::from_be_bytes(a))).map_err(|_| {
            AuroraError::Corruption { file: file.to_path_buf(), offset: 0, reason: format!("meta `{name}`") }
        }),
        Some(Found::Chunk(_)) => {
            Err(AuroraError::Corruption { file: file.to_path_buf(), offset: 0, reason: format!("meta `{name}`") })
        }
        None => Ok(None),
    }
}

impl super::Aurora {
    /// Opens (or creates) a database with an explicit configuration, without an async runtime.
    pub fn open_blocking(config: AuroraConfig) -> crate::Result<super::Aurora> {
        std::fs::create_dir_all(&config.db_path).map_err(|e| AuroraError::io(&config.db_path, e))?;
        check_format(&config)?;
        let cold = crate::storage::kv::open(&config)?;
        Self::open_on(config, cold)
    }

    /// Opens a database over a given cold store (an in-memory one in tests).
    pub fn open_on(config: AuroraConfig, cold: Arc<dyn ColdStore>) -> crate::Result<super::Aurora> {
        let file = config.db_path.join(match cold.kind() {
            "redb" => "data.redb",
            _ => "data",
        });
        let wal_dir = config.db_path.join("wal");
        let durability = config.effective_durability();
        let cache = IndexCache::new(config.index_cache_mb.saturating_mul(1024 * 1024), cold.view()?);
        let probe = Memtable::new(0);
        let snap = probe.snapshot(&cache);
        match u64_meta(&snap, FORMAT_KEY, &file)? {
            Some(v) if v != u64::from(FORMAT_VERSION) => {
                return Err(AuroraError::Storage(format!(
                    "{} holds storage format {v} and this version of Aurora reads format {FORMAT_VERSION}",
                    file.display()
                )))
            }
            Some(_) => {}
            None => cold.write(
                vec![KvOp::Put(keys::meta(FORMAT_KEY), u64::from(FORMAT_VERSION).to_be_bytes().to_vec())],
                false,
            )?,
        }
        let checkpoint = u64_meta(&snap, LSN_KEY, &file)?.unwrap_or(0);
        let next_coll = u64_meta(&snap, NEXT_COLL_KEY, &file)?.unwrap_or(1);
        drop(snap);

        // WAL segments are deleted only once the cold store durably holds their records, so the
        // oldest one starts at or below checkpoint + 1. One starting above means the cold store
        // went back in time: the writes in between are gone from both, so say so instead of
        // opening with them silently missing.
        if let Some((first, path)) = wal::list_segments(&wal_dir)?.first() {
            if *first > checkpoint.saturating_add(1) {
                return Err(AuroraError::Corruption {
                    file: file.clone(),
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
        let memtable = Memtable::new(checkpoint);
        let audit_log = match &config.audit_log_path {
            Some(p) => Some(Mutex::new(
                std::fs::OpenOptions::new().create(true).append(true).open(p).map_err(|e| AuroraError::io(p, e))?,
            )),
            None => None,
        };
        let inner = Arc::new(Inner {
            cache: crate::storage::cache::HotCache::new(config.hot_cache_size_mb.saturating_mul(1024 * 1024)),
            durability,
            cold_slot: RwLock::new(Some(cold.clone())),
            memtable,
            index_cache: cache,
            commit: Mutex::new(CommitState { wal: None, next_lsn: checkpoint + 1, last_sid: 0 }),
            wal_shared: std::sync::OnceLock::new(),
            wal_dir: wal_dir.clone(),
            collections: RwLock::new(HashMap::default()),
            next_coll: std::sync::atomic::AtomicU32::new(u32::try_from(next_coll).unwrap_or(u32::MAX)),
            ddl: Mutex::new(()),
            hub: Hub::default(),
            closed: AtomicBool::new(false),
            durable_lsn: AtomicU64::new(checkpoint),
            cold_lsn: AtomicU64::new(checkpoint),
            undurable_bytes: Default::default(),
            checkpoint_lock: Mutex::new(()),
            shutdown: Arc::new((Mutex::new(false), Condvar::new())),
            flush_wanted: AtomicBool::new(false),
            extensions: RwLock::new(HashMap::new()),
            self_weak: RwLock::new(std::sync::Weak::new()),
            audit_log,
            cold_health: Mutex::new(health::ColdHealth::default()),
            worker_systems: Mutex::new(Vec::new()),
            running_requests: std::sync::atomic::AtomicUsize::new(0),
            data_file: file,
            config,
        });
        *inner.self_weak.write() = Arc::downgrade(&inner);
        inner.load_catalogs()?;

        // Replay the WAL tail above the checkpoint, through the same code as the commits.
        let records = wal::replay(&wal_dir)?;
        let mut last_lsn = checkpoint;
        let mut replayed = 0usize;
        for rec in records.into_iter().filter(|r| r.lsn > checkpoint) {
            last_lsn = rec.lsn;
            inner.replay(rec)?;
            replayed += 1;
        }
        if replayed > 0 {
            tracing::info!("replayed {replayed} WAL records up to LSN {last_lsn}");
        }
        {
            let mut cs = inner.commit.lock();
            cs.next_lsn = last_lsn + 1;
            cs.last_sid = inner.max_sid()?;
        }
        // The replayed writes go to the cold store before the log they came from is dropped.
        if replayed > 0 {
            inner.flush_memtable(true)?;
        }

        // A fresh segment for new writes; everything older is now in the cold store.
        let fsync = matches!(durability, DurabilityMode::Strict | DurabilityMode::Synchronous);
        let wal = if durability == DurabilityMode::None || !inner.config.enable_wal {
            None
        } else {
            Some(Wal::create(&wal_dir, last_lsn + 1, fsync, inner.config.wal_segment_bytes)?)
        };
        for (start, path) in wal::list_segments(&wal_dir)? {
            if start < last_lsn + 1 {
                std::fs::remove_file(&path).map_err(|e| AuroraError::io(&path, e))?;
            }
        }
        if let Some(w) = &wal {
            let _ = inner.wal_shared.set(w.shared().clone());
        }
        inner.commit.lock().wal = wal;
        maintenance::start(&inner)?;
        Ok(super::Aurora { inner })
    }
}

/// A document as an earlier op of the same WAL record left it: system id and data (None:
/// deleted).
type Latest = (u128, Option<Arc<crate::types::DocData>>);

impl Inner {
    /// Reads every collection's catalog from the keyspace (nothing per document).
    fn load_catalogs(&self) -> Result<()> {
        let snap = self.snapshot();
        let prefix = keys::meta(COLL_NAME_PREFIX);
        let mut catalogs = Vec::new();
        for item in snap.range(&prefix, keys::prefix_end(&prefix).as_deref(), false)? {
            let (k, v) = item?;
            let name = std::str::from_utf8(&k[prefix.len()..]).ok().map(str::to_string);
            let id = match v {
                Found::Bytes(b) => <[u8; 4]>::try_from(&b[..]).ok().map(u32::from_be_bytes),
                Found::Chunk(_) => None,
            };
            let (Some(name), Some(id)) = (name, id) else {
                return Err(AuroraError::Corruption {
                    file: self.data_file.clone(),
                    offset: 0,
                    reason: "unreadable collection entry".into(),
                });
            };
            catalogs.push((name.clone(), Arc::new(Catalog::load(&snap, id, &name, &self.data_file)?)));
        }
        let mut map = self.collections.write();
        for (name, cat) in catalogs {
            map.entry(name).or_insert(cat);
        }
        Ok(())
    }

    /// The largest system id stored (new ones must be larger): the last entry of each
    /// collection's system-id index.
    fn max_sid(&self) -> Result<u128> {
        let snap = self.snapshot();
        let mut max = 0u128;
        for cat in self.collections.read().values() {
            let prefix = keys::coll_prefix(cat.id, keys::kind::SID);
            if let Some(item) = snap.range(&prefix, keys::prefix_end(&prefix).as_deref(), true)?.next() {
                let (k, _) = item?;
                if let Some(sid) = k.get(6..22).and_then(|b| <[u8; 16]>::try_from(b).ok()).map(u128::from_be_bytes) {
                    max = max.max(sid);
                }
            }
        }
        Ok(max)
    }

    /// Applies one WAL record as its commit did: document ops are turned into the same key
    /// writes against the state the replay has reached.
    fn replay(&self, rec: WalRecord) -> Result<()> {
        let snap = self.snapshot();
        let by_id: HashMap<u32, Arc<Catalog>> = self.collections.read().values().map(|c| (c.id, c.clone())).collect();
        let unknown = |coll: u32| AuroraError::Corruption {
            file: self.wal_dir.clone(),
            offset: 0,
            reason: format!("WAL record {} refers to collection #{coll}, which does not exist", rec.lsn),
        };
        let mut fields = Vec::new();
        let mut changes = Vec::new();
        let mut raw = Vec::new();
        // Documents changed earlier in the same record, by (collection, row): system id and data.
        let mut latest: HashMap<(u32, u32), Latest> = HashMap::new();
        for op in rec.ops {
            match op {
                WalOp::Field { coll, id, name } => {
                    let cat = by_id.get(&coll).ok_or_else(|| unknown(coll))?;
                    let name = FieldName::from(name);
                    if cat.dict.id(&name).is_none() {
                        let mut added = Vec::new();
                        cat.dict.id_or_assign(&name, &mut added);
                        if added.first().map(|a| a.0) != Some(id) {
                            return Err(AuroraError::Corruption {
                                file: self.wal_dir.clone(),
                                offset: 0,
                                reason: format!("WAL record {}: field `{name}` out of order", rec.lsn),
                            });
                        }
                    }
                    fields.push((cat.clone(), id, name));
                }
                WalOp::PutDoc { coll, rowid, doc } => {
                    let cat = by_id.get(&coll).ok_or_else(|| unknown(coll))?;
                    let (sid, data) =
                        doc_codec::decode(&doc, &cat.dict.names()).ok_or_else(|| AuroraError::Corruption {
                            file: self.wal_dir.clone(),
                            offset: 0,
                            reason: format!("WAL record {}: undecodable document", rec.lsn),
                        })?;
                    let before = match latest.get(&(coll, rowid)) {
                        Some((_, d)) => d.clone(),
                        None => self.fetch_row(cat, &snap, rowid)?.map(|d| d.data.clone()),
                    };
                    if rowid >= cat.next_rowid() {
                        cat.reset_rowid(rowid.saturating_add(1));
                    }
                    let data = Arc::new(data);
                    latest.insert((coll, rowid), (sid, Some(data.clone())));
                    changes.push(Change { cat: cat.clone(), rowid, sid, before, after: Some((data, doc)) });
                }
                WalOp::DeleteDoc { coll, rowid } => {
                    let cat = by_id.get(&coll).ok_or_else(|| unknown(coll))?;
                    let (sid, before) = match latest.get(&(coll, rowid)) {
                        Some((sid, d)) => (*sid, d.clone()),
                        None => match self.fetch_row(cat, &snap, rowid)? {
                            Some(d) => (super::parse_sid(&d._sid).unwrap_or_default(), Some(d.data.clone())),
                            None => (0, None),
                        },
                    };
                    let Some(before) = before else { continue };
                    latest.insert((coll, rowid), (sid, None));
                    changes.push(Change { cat: cat.clone(), rowid, sid, before: Some(before), after: None });
                }
                WalOp::Raw { key, value } => raw.push((key, value)),
            }
        }
        let mut prepared = apply::prepare(&snap, &self.index_cache, &changes, &fields)?;
        let raw_count = raw.len();
        let defines = raw.iter().any(|(k, v)| v.is_some() && k.starts_with(&keys::meta(COLL_NAME_PREFIX)));
        prepared.raw(raw);
        drop(snap);
        let entries = changes.len() + raw_count;
        for c in &changes {
            let doc = c.after.as_ref().map(|(d, _)| {
                let size = crate::storage::cache::approx_size(d);
                (Arc::new(crate::types::Document { _sid: super::sid_string(c.sid), data: d.clone() }), size)
            });
            self.cache.commit((c.cat.id, c.rowid), doc, rec.lsn);
        }
        self.memtable.apply(rec.lsn, prepared.finish(), entries);
        if defines {
            // The record defined a collection: its catalog comes from the keys just applied.
            self.load_catalogs()?;
            let snap = self.snapshot();
            if let Some(n) = u64_meta(&snap, NEXT_COLL_KEY, &self.data_file)? {
                self.next_coll.store(u32::try_from(n).unwrap_or(u32::MAX), std::sync::atomic::Ordering::Release);
            }
        }
        Ok(())
    }
}
