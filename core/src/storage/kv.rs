//! The cold store: one ordered keyspace behind a small trait (ordered get, range scan, atomic
//! batch, flush, and a read view), so redb, sled or another ordered transactional store (TiKV,
//! FoundationDB) can hold the same keys.

use crate::config::{AuroraConfig, ColdStoreKind};
use crate::error::{AuroraError, Result};
use parking_lot::RwLock;
use redb::ReadableDatabase;
use std::collections::BTreeMap;
use std::ops::Bound;
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// One write of an atomic batch.
#[derive(Debug, Clone, PartialEq)]
pub enum KvOp {
    /// Sets a key.
    Put(Vec<u8>, Vec<u8>),
    /// Removes a key.
    Delete(Vec<u8>),
    /// Removes every key in `[from, to)`.
    DeleteRange(Vec<u8>, Vec<u8>),
}

/// A key and its value, as a range scan yields them.
pub type KvPair = (Vec<u8>, Vec<u8>);

/// An iterator of a range scan.
pub type KvIter<'a> = Box<dyn Iterator<Item = Result<KvPair>> + 'a>;

/// A read view of the cold store. With redb it is a snapshot (a read transaction: later writes
/// are not seen, and nothing it reads blocks a writer); sled and the memory store show the
/// latest data.
pub trait ColdView: Send + Sync {
    /// The value of `key`.
    fn get(&self, key: &[u8]) -> Result<Option<Vec<u8>>>;
    /// Entries with `from <= key < to` (`to = None`: to the end), in key order or reversed.
    fn range(&self, from: &[u8], to: Option<&[u8]>, reverse: bool) -> Result<KvIter<'_>>;
}

/// An ordered key-value store with atomic batches.
pub trait ColdStore: Send + Sync {
    /// A read view of the data written so far.
    fn view(&self) -> Result<Arc<dyn ColdView>>;
    /// Applies `ops` atomically (all or none, also across a crash). With `durable` they are on
    /// disk when this returns; without, a later durable write or [`ColdStore::flush`] makes them so.
    fn write(&self, ops: Vec<KvOp>, durable: bool) -> Result<()>;
    /// Makes everything written so far durable.
    fn flush(&self) -> Result<()>;
    /// The engine's name (`redb`, `sled`, `memory`).
    fn kind(&self) -> &'static str;
}

fn bounds<'a>(from: &'a [u8], to: Option<&'a [u8]>) -> (Bound<&'a [u8]>, Bound<&'a [u8]>) {
    (Bound::Included(from), to.map_or(Bound::Unbounded, Bound::Excluded))
}

/// Opens the configured cold store under the database directory.
pub fn open(config: &AuroraConfig) -> Result<Arc<dyn ColdStore>> {
    Ok(match config.cold_store {
        ColdStoreKind::Redb => Arc::new(RedbStore::open(config)?),
        ColdStoreKind::Sled => Arc::new(SledStore::open(config)?),
    })
}

// ---------------------------------------------------------------- redb

const TABLE: redb::TableDefinition<&[u8], &[u8]> = redb::TableDefinition::new("kv");

fn redb_err(what: &str, path: &Path, e: impl std::fmt::Display) -> AuroraError {
    AuroraError::Storage(format!("redb {what} ({}): {e}", path.display()))
}

/// Runs a redb call, turning a panic into a corruption error: redb trusts its file and may
/// panic on bytes damaged outside it (checking every page at each open would read the whole
/// file), and no damage may take the process down.
fn redb_guard<T>(path: &Path, what: &str, f: impl FnOnce() -> Result<T>) -> Result<T> {
    std::panic::catch_unwind(std::panic::AssertUnwindSafe(f)).unwrap_or_else(|p| {
        let why = p
            .downcast_ref::<&str>()
            .map(|s| s.to_string())
            .or_else(|| p.downcast_ref::<String>().cloned())
            .unwrap_or_else(|| "a panic".into());
        Err(AuroraError::Corruption { file: path.to_path_buf(), offset: 0, reason: format!("redb {what}: {why}") })
    })
}

/// The default cold store: redb (copy-on-write B-tree, MVCC read transactions).
pub struct RedbStore {
    db: redb::Database,
    path: PathBuf,
}

impl RedbStore {
    /// Opens (or creates) `dir/data.redb`. After a crash, redb's quick repair (every commit
    /// records its allocator state) avoids a walk of the whole file.
    pub fn open(config: &AuroraConfig) -> Result<Self> {
        let path = config.db_path.join("data.redb");
        let mut builder = redb::Database::builder();
        builder.set_cache_size(config.cold_cache_capacity_mb.saturating_mul(1024 * 1024).max(1024 * 1024));
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
        let db = loop {
            match redb_guard(&path, "open", || Ok(builder.create(&path)))? {
                Ok(db) => break db,
                // A handle of this process that is still closing holds the lock for a moment.
                Err(redb::DatabaseError::DatabaseAlreadyOpen) if std::time::Instant::now() < deadline => {
                    std::thread::sleep(std::time::Duration::from_millis(20));
                }
                Err(redb::DatabaseError::DatabaseAlreadyOpen) => {
                    return Err(AuroraError::Storage(format!(
                        "cannot open {}: the database is open in another process (or handle)",
                        path.display()
                    )))
                }
                Err(e) => return Err(redb_err("open", &path, e)),
            }
        };
        let store = RedbStore { db, path };
        // The table exists from the start, so a read never finds it missing (a crash before a
        // durable write loses nothing: the next open creates it again).
        store.write(Vec::new(), false)?;
        Ok(store)
    }
}

/// One entry of a redb range scan.
type RedbItem<'a> = std::result::Result<
    (redb::AccessGuard<'a, &'static [u8]>, redb::AccessGuard<'a, &'static [u8]>),
    redb::StorageError,
>;

struct RedbView {
    table: redb::ReadOnlyTable<&'static [u8], &'static [u8]>,
    path: PathBuf,
}

impl ColdView for RedbView {
    fn get(&self, key: &[u8]) -> Result<Option<Vec<u8>>> {
        redb_guard(&self.path, "read", || {
            Ok(self.table.get(key).map_err(|e| redb_err("read", &self.path, e))?.map(|v| v.value().to_vec()))
        })
    }

    fn range(&self, from: &[u8], to: Option<&[u8]>, reverse: bool) -> Result<KvIter<'_>> {
        let r = redb_guard(&self.path, "read", || {
            self.table.range::<&[u8]>(bounds(from, to)).map_err(|e| redb_err("read", &self.path, e))
        })?;
        Ok(Box::new(RedbRange { inner: Some(r), reverse, path: self.path.clone() }))
    }
}

/// A redb range scan whose every step is guarded (a damaged page may panic redb mid-scan);
/// after an error it ends.
struct RedbRange {
    inner: Option<redb::Range<'static, &'static [u8], &'static [u8]>>,
    reverse: bool,
    path: PathBuf,
}

impl Iterator for RedbRange {
    type Item = Result<KvPair>;

    fn next(&mut self) -> Option<Self::Item> {
        let r = self.inner.as_mut()?;
        let reverse = self.reverse;
        let step = redb_guard(&self.path, "read", || {
            let item: Option<RedbItem<'_>> = if reverse { r.next_back() } else { r.next() };
            Ok(item.map(|i| i.map(|(k, v)| (k.value().to_vec(), v.value().to_vec()))))
        });
        match step {
            Ok(Some(Ok(kv))) => Some(Ok(kv)),
            Ok(None) => None,
            Ok(Some(Err(e))) => {
                self.inner = None;
                Some(Err(redb_err("read", &self.path, e)))
            }
            Err(e) => {
                self.inner = None;
                Some(Err(e))
            }
        }
    }
}

impl ColdStore for RedbStore {
    fn view(&self) -> Result<Arc<dyn ColdView>> {
        redb_guard(&self.path, "read transaction", || {
            let txn = self.db.begin_read().map_err(|e| redb_err("read transaction", &self.path, e))?;
            let table = txn.open_table(TABLE).map_err(|e| redb_err("open table", &self.path, e))?;
            Ok(Arc::new(RedbView { table, path: self.path.clone() }) as Arc<dyn ColdView>)
        })
    }

    fn write(&self, ops: Vec<KvOp>, durable: bool) -> Result<()> {
        redb_guard(&self.path, "write", || self.write_unguarded(ops, durable))
    }

    fn flush(&self) -> Result<()> {
        self.write(Vec::new(), true)
    }

    fn kind(&self) -> &'static str {
        "redb"
    }
}

impl RedbStore {
    fn write_unguarded(&self, ops: Vec<KvOp>, durable: bool) -> Result<()> {
        let err = |e: &dyn std::fmt::Display| redb_err("write", &self.path, e);
        let mut txn = self.db.begin_write().map_err(|e| err(&e))?;
        txn.set_durability(if durable { redb::Durability::Immediate } else { redb::Durability::None })
            .map_err(|e| err(&e))?;
        // A durable commit records the allocator state, so opening after a crash does not walk
        // the whole file (non-durable commits are lost in a crash anyway).
        txn.set_quick_repair(durable);
        {
            let mut table = txn.open_table(TABLE).map_err(|e| err(&e))?;
            // After a put of a new key, the puts that follow it in key order and fall in the
            // same gap go in through a cursor: redb packs a run of cursor inserts into full
            // pages, where key-by-key inserts at the end of a range leave every page half
            // full after its split (a bulk load's new documents and index entries are such
            // runs). Any other put, and every delete, is a plain table write.
            // Scattered new keys (a unique index's) rarely form runs: after an attempt that
            // took nothing, the next attempts wait for twice as many new keys (up to 64).
            let mut i = 0;
            let mut fresh: Option<Vec<u8>> = None;
            let (mut wait, mut backoff) = (0u32, 0u32);
            while i < ops.len() {
                if let (Some(after), KvOp::Put(..)) = (fresh.take(), &ops[i]) {
                    let mut cursor = table.upper_bound_mut(Bound::Included(after.as_slice())).map_err(|e| err(&e))?;
                    let start = i;
                    while let Some(KvOp::Put(k, v)) = ops.get(i) {
                        match cursor.insert_before(k.as_slice(), v.as_slice()) {
                            Ok(()) => i += 1,
                            Err(redb::CursorError::UnorderedKey) => break,
                            Err(e) => return Err(err(&e)),
                        }
                    }
                    cursor.close().map_err(|e| err(&e))?;
                    backoff = if i > start { 0 } else { (backoff * 2).clamp(1, 64) };
                    wait = backoff;
                    continue;
                }
                match &ops[i] {
                    KvOp::Put(k, v) => {
                        if table.insert(k.as_slice(), v.as_slice()).map_err(|e| err(&e))?.is_none() {
                            if wait == 0 {
                                fresh = Some(k.clone());
                            } else {
                                wait -= 1;
                            }
                        }
                    }
                    KvOp::Delete(k) => {
                        table.remove(k.as_slice()).map_err(|e| err(&e))?;
                    }
                    KvOp::DeleteRange(from, to) => {
                        table
                            .retain_in::<&[u8], _>(from.as_slice()..to.as_slice(), |_, _| false)
                            .map_err(|e| err(&e))?;
                    }
                }
                i += 1;
            }
        }
        txn.commit().map_err(|e| err(&e))
    }
}

// ---------------------------------------------------------------- sled

/// sled, kept as a supported cold store (`cold_store: "sled"`). It has no snapshot reads: a
/// long query may see data flushed after it started.
pub struct SledStore {
    db: sled::Db,
    tree: sled::Tree,
}

impl SledStore {
    /// Opens (or creates) the sled database under `dir/data`.
    pub fn open(config: &AuroraConfig) -> Result<Self> {
        let path = config.db_path.join("data");
        let mode = match config.cold_mode {
            crate::config::ColdStoreMode::HighThroughput => sled::Mode::HighThroughput,
            crate::config::ColdStoreMode::LowSpace => sled::Mode::LowSpace,
        };
        let cfg = sled::Config::new()
            .path(&path)
            .cache_capacity((config.cold_cache_capacity_mb as u64).saturating_mul(1024 * 1024))
            .mode(mode)
            .flush_every_ms(None);
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
        let db = loop {
            match cfg.open() {
                Ok(db) => break db,
                Err(e) if is_lock_error(&e) && std::time::Instant::now() < deadline => {
                    std::thread::sleep(std::time::Duration::from_millis(20));
                }
                Err(e) => return Err(open_error(&path, &e)),
            }
        };
        let tree = db.open_tree("kv")?;
        Ok(SledStore { db, tree })
    }
}

/// True when sled could not open because another handle holds the directory's lock. sled
/// reports a held lock as `Other`, with the OS error only in the text.
fn is_lock_error(e: &sled::Error) -> bool {
    match e {
        sled::Error::Io(io) => {
            io.kind() == std::io::ErrorKind::WouldBlock || io.to_string().contains("could not acquire lock")
        }
        _ => false,
    }
}

/// The error for a failed open: only a held lock gets the hint about another process; damage
/// (sled's "Read corrupted data") and other I/O errors are reported as they are.
fn open_error(path: &Path, e: &sled::Error) -> AuroraError {
    let hint = if is_lock_error(e) { " (is the database open in another process?)" } else { "" };
    AuroraError::Storage(format!("cannot open cold store at {}{hint}: {e}", path.display()))
}

struct SledView(sled::Tree);

impl ColdView for SledView {
    fn get(&self, key: &[u8]) -> Result<Option<Vec<u8>>> {
        Ok(self.0.get(key)?.map(|v| v.to_vec()))
    }

    fn range(&self, from: &[u8], to: Option<&[u8]>, reverse: bool) -> Result<KvIter<'_>> {
        let r = self.0.range::<&[u8], _>(bounds(from, to));
        let map = |item: sled::Result<(sled::IVec, sled::IVec)>| {
            item.map(|(k, v)| (k.to_vec(), v.to_vec())).map_err(Into::into)
        };
        Ok(if reverse { Box::new(r.rev().map(map)) } else { Box::new(r.map(map)) })
    }
}

impl ColdStore for SledStore {
    fn view(&self) -> Result<Arc<dyn ColdView>> {
        Ok(Arc::new(SledView(self.tree.clone())))
    }

    fn write(&self, ops: Vec<KvOp>, durable: bool) -> Result<()> {
        let mut batch = sled::Batch::default();
        for op in ops {
            match op {
                KvOp::Put(k, v) => batch.insert(k, v),
                KvOp::Delete(k) => batch.remove(k),
                KvOp::DeleteRange(from, to) => {
                    for k in self.tree.range::<&[u8], _>(from.as_slice()..to.as_slice()).keys() {
                        batch.remove(k?);
                    }
                }
            }
        }
        self.tree.apply_batch(batch)?;
        if durable {
            self.db.flush()?;
        }
        Ok(())
    }

    fn flush(&self) -> Result<()> {
        self.db.flush()?;
        Ok(())
    }

    fn kind(&self) -> &'static str {
        "sled"
    }
}

// ---------------------------------------------------------------- memory

type MemMap = BTreeMap<Vec<u8>, Vec<u8>>;

/// An in-memory cold store for tests and ephemeral databases. Views are snapshots (the map is
/// copied on the first write after a view was taken).
#[derive(Default)]
pub struct MemStore {
    map: RwLock<Arc<MemMap>>,
}

struct MemView(Arc<MemMap>);

impl ColdView for MemView {
    fn get(&self, key: &[u8]) -> Result<Option<Vec<u8>>> {
        Ok(self.0.get(key).cloned())
    }

    fn range(&self, from: &[u8], to: Option<&[u8]>, reverse: bool) -> Result<KvIter<'_>> {
        let r = self.0.range::<[u8], _>(bounds(from, to)).map(|(k, v)| Ok((k.clone(), v.clone())));
        Ok(if reverse { Box::new(r.rev()) } else { Box::new(r) })
    }
}

impl ColdStore for MemStore {
    fn view(&self) -> Result<Arc<dyn ColdView>> {
        Ok(Arc::new(MemView(self.map.read().clone())))
    }

    fn write(&self, ops: Vec<KvOp>, _durable: bool) -> Result<()> {
        let mut guard = self.map.write();
        let map = Arc::make_mut(&mut guard);
        for op in ops {
            match op {
                KvOp::Put(k, v) => {
                    map.insert(k, v);
                }
                KvOp::Delete(k) => {
                    map.remove(&k);
                }
                KvOp::DeleteRange(from, to) => {
                    let doomed: Vec<Vec<u8>> = map.range(from..to).map(|(k, _)| k.clone()).collect();
                    doomed.iter().for_each(|k| {
                        map.remove(k);
                    });
                }
            }
        }
        Ok(())
    }

    fn flush(&self) -> Result<()> {
        Ok(())
    }

    fn kind(&self) -> &'static str {
        "memory"
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn exercise(store: &dyn ColdStore) {
        store
            .write(vec![KvOp::Put(b"a1".to_vec(), b"1".to_vec()), KvOp::Put(b"a2".to_vec(), b"2".to_vec())], true)
            .unwrap();
        let before = store.view().unwrap();
        store
            .write(
                vec![
                    KvOp::Put(b"a3".to_vec(), b"3".to_vec()),
                    KvOp::Put(b"b1".to_vec(), b"4".to_vec()),
                    KvOp::Delete(b"a1".to_vec()),
                ],
                false,
            )
            .unwrap();
        let v = store.view().unwrap();
        let keys = |it: KvIter<'_>| it.map(|r| r.unwrap().0).collect::<Vec<_>>();
        assert_eq!(keys(v.range(b"a", Some(b"b"), false).unwrap()), vec![b"a2".to_vec(), b"a3".to_vec()]);
        assert_eq!(keys(v.range(b"a", None, true).unwrap()), vec![b"b1".to_vec(), b"a3".to_vec(), b"a2".to_vec()]);
        assert_eq!(v.get(b"a1").unwrap(), None);
        store.write(vec![KvOp::DeleteRange(b"a".to_vec(), b"b".to_vec())], true).unwrap();
        assert_eq!(keys(store.view().unwrap().range(b"", None, false).unwrap()), vec![b"b1".to_vec()]);
        if store.kind() != "sled" {
            // A snapshot: what was written after the view was taken is not in it.
            assert_eq!(before.get(b"a1").unwrap(), Some(b"1".to_vec()));
            assert_eq!(before.get(b"b1").unwrap(), None);
        }
    }

    #[test]
    fn every_store_reads_ranges_both_ways_and_applies_batches() {
        let dir = tempfile::tempdir().unwrap();
        let cfg = AuroraConfig { cold_cache_capacity_mb: 8, ..AuroraConfig::new(dir.path()) };
        exercise(&RedbStore::open(&cfg).unwrap());
        exercise(&SledStore::open(&cfg).unwrap());
        exercise(&MemStore::default());
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(24))]
        /// Batches of puts (new keys and overwrites, sorted or not, runs in one gap or across
        /// gaps) and deletes leave redb holding exactly what a map holds.
        #[test]
        fn redb_batches_match_a_map(
            batches in proptest::collection::vec(
                (proptest::collection::vec((0u16..600, proptest::bool::weighted(0.8), 0u8..4), 0..300), proptest::bool::ANY),
                1..6,
            )
        ) {
            let dir = tempfile::tempdir().unwrap();
            let store = RedbStore::open(&AuroraConfig { cold_cache_capacity_mb: 4, ..AuroraConfig::new(dir.path()) }).unwrap();
            let mut model = std::collections::BTreeMap::new();
            for (ops, sorted) in batches {
                let mut ops: Vec<(u16, bool, u8)> = ops;
                if sorted {
                    ops.sort_by_key(|o| o.0);
                    ops.dedup_by_key(|o| o.0);
                }
                let mut batch = Vec::new();
                for (k, put, v) in ops {
                    let key = format!("k{k:04}").into_bytes();
                    if put {
                        let value = vec![v; 1 + (k as usize % 90)];
                        model.insert(key.clone(), value.clone());
                        batch.push(KvOp::Put(key, value));
                    } else {
                        model.remove(&key);
                        batch.push(KvOp::Delete(key));
                    }
                }
                store.write(batch, false).unwrap();
            }
            let got: Vec<(Vec<u8>, Vec<u8>)> = store.view().unwrap().range(b"", None, false).unwrap().map(|r| r.unwrap()).collect();
            let want: Vec<(Vec<u8>, Vec<u8>)> = model.into_iter().collect();
            proptest::prop_assert_eq!(got, want);
        }
    }

    #[test]
    fn only_a_held_lock_gets_the_other_process_hint() {
        let path = std::path::Path::new("/x/data");
        let lock = sled::Error::Io(std::io::Error::other("could not acquire lock on \"/x/data/db\": EWOULDBLOCK"));
        assert!(open_error(path, &lock).to_string().contains("another process"));
        for other in [
            sled::Error::Corruption { at: None, bt: () },
            sled::Error::Io(std::io::Error::from(std::io::ErrorKind::PermissionDenied)),
        ] {
            let msg = open_error(path, &other).to_string();
            assert!(!msg.contains("another process"), "{msg}");
        }
    }
}
