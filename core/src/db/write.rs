//! The write path: validate → unique checks → encode → WAL append → apply to memory →
//! publish. See `docs/DESIGN-NOTES.md` for the fault rules.

use super::apply::{self, Change};
use super::catalog::Catalog;
use super::{sid_string, Aurora, CommitState, Inner};
use crate::config::DurabilityMode;
use crate::error::{AuroraError, Result};
use crate::index::Indexes;
use crate::realtime::{ChangeEvent, ChangeType};
use crate::schema::validate;
use crate::storage::cache::approx_size;
use crate::storage::doc_codec;
use crate::storage::keys;
use crate::storage::memtable::Snapshot;
use crate::storage::wal::WalOp;
use crate::types::{DocData, Document};
use crate::value::Value;
use crate::FieldName;
/// Hash maps of one commit's keys, with a fast hash seeded per process.
type HashMap<K, V> = std::collections::HashMap<K, V, foldhash::fast::RandomState>;
use std::sync::atomic::Ordering;
use std::sync::Arc;

/// One write inside a commit.
#[derive(Debug, Clone)]
pub(crate) enum WriteOp {
    /// A new document with a fresh system id.
    Insert { collection: String, data: DocData },
    /// Replace the fields of an existing document.
    Replace { collection: String, sid: u128, data: DocData },
    /// Remove a document (missing documents are skipped).
    Delete { collection: String, sid: u128 },
    /// A raw key write (job queue).
    Raw { key: Vec<u8>, value: Option<Vec<u8>> },
}

/// A document change made by a commit.
#[derive(Debug, Clone)]
pub(crate) struct Applied {
    /// Index of the op in the commit that produced this change.
    pub op: usize,
    pub collection: String,
    pub sid: u128,
    pub kind: ChangeType,
    pub before: Option<Arc<Document>>,
    pub after: Option<Arc<Document>>,
}

enum Staged {
    Doc { cat: Arc<Catalog>, rowid: u32, applied: Applied, encoded: Option<Arc<[u8]>>, size: usize },
    Raw { key: Vec<u8>, value: Option<Vec<u8>> },
}

/// Claims on unique values made by earlier ops of the same commit, by unique-entry key.
#[derive(Default)]
struct UniqueOverlay {
    claims: HashMap<Vec<u8>, Option<u32>>,
}

impl UniqueOverlay {
    fn release(&mut self, cat: &Catalog, doc: &DocData) {
        for def in cat.indexes().iter().filter(|d| d.unique) {
            if let Some(v) = doc.get(def.field.as_str()).filter(|v| !v.is_null()) {
                self.claims.insert(keys::unique(cat.id, def.id, v), None);
            }
        }
    }

    fn claim(&mut self, ix: &Indexes<'_>, rowid: u32, doc: &DocData) -> Result<()> {
        let cat = ix.cat;
        for def in cat.indexes().iter().filter(|d| d.unique) {
            let Some(v) = doc.get(def.field.as_str()).filter(|v| !v.is_null()) else {
                continue;
            };
            let key = keys::unique(cat.id, def.id, v);
            let taken = match self.claims.get(&key) {
                Some(Some(owner)) => *owner != rowid,
                Some(None) => false,
                None => ix.unique_row_uncached(&key)?.is_some_and(|r| r != rowid),
            };
            if taken {
                return Err(AuroraError::UniqueViolation {
                    collection: cat.name.clone(),
                    field: def.field.clone(),
                    value: v.to_string(),
                });
            }
            self.claims.insert(key, Some(rowid));
        }
        Ok(())
    }
}

/// A catalog and dictionary names assigned to it.
type NamesOf = (Arc<Catalog>, Vec<(u16, FieldName)>);

/// A document touched earlier in the same commit: its row and latest version (None: deleted).
type Touched = (u32, Option<Arc<Document>>);

/// What a commit changed in memory before it is sure to happen, to undo on failure.
#[derive(Default)]
struct Undo {
    rowids: HashMap<u32, (Arc<Catalog>, u32)>,
    fields: Vec<(Arc<Catalog>, u16, FieldName)>,
}

impl Undo {
    fn roll_back(self) {
        for (_, (cat, next)) in self.rowids {
            cat.reset_rowid(next);
        }
        let mut by_cat: HashMap<u32, NamesOf> = HashMap::default();
        for (cat, id, name) in self.fields {
            by_cat.entry(cat.id).or_insert_with(|| (cat.clone(), Vec::new())).1.push((id, name));
        }
        for (_, (cat, added)) in by_cat {
            cat.dict.forget(&added);
        }
    }
}

impl Inner {
    /// Commits `ops` atomically and waits for the configured durability.
    pub(crate) async fn commit(&self, ops: Vec<WriteOp>, origin: &str) -> Result<Vec<Applied>> {
        self.commit_with(|_| Ok(ops), origin).await
    }

    /// Like [`Inner::commit`], but builds the ops under the commit lock so they can depend on
    /// the current data (update by filter, read-modify-write).
    pub(crate) async fn commit_with<F>(&self, build: F, origin: &str) -> Result<Vec<Applied>>
    where
        F: FnOnce(&Inner) -> Result<Vec<WriteOp>>,
    {
        self.commit_blocking(build, origin)
    }

    /// [`Inner::commit_with`] without an async runtime: nothing in a commit waits on one.
    pub(crate) fn commit_blocking<F>(&self, build: F, origin: &str) -> Result<Vec<Applied>>
    where
        F: FnOnce(&Inner) -> Result<Vec<WriteOp>>,
    {
        let (lsn, applied) = self.commit_now(build, origin)?;
        if lsn > 0 && self.durability == DurabilityMode::Synchronous {
            self.flush_to_cold(lsn)?;
        }
        self.relieve_memtable();
        Ok(applied)
    }

    /// Synchronous mode: make sure the cold store holds everything up to `lsn` — durably when
    /// there is no WAL; with one, the record is already fsynced in the WAL, so handing it to the
    /// cold store is enough (its own durable commit follows at the next checkpoint).
    ///
    /// With the WAL on, the write survives a process kill and a power loss whatever the cold
    /// store does: a failed flush is logged and left to the next checkpoint, and the call
    /// succeeds (an error would claim the write failed when it is committed, and a retry would
    /// duplicate it). Without a WAL the cold flush is the only durability, so its failure is an
    /// error saying the write is applied but not durable. See docs/DESIGN-NOTES.md.
    fn flush_to_cold(&self, lsn: u64) -> Result<()> {
        let has_wal = self.wal_shared.get().is_some();
        let reached = if has_wal { &self.cold_lsn } else { &self.durable_lsn };
        if reached.load(Ordering::Acquire) >= lsn {
            return Ok(());
        }
        match self.flush_memtable(!has_wal) {
            Ok(()) => Ok(()),
            Err(AuroraError::Closed) => Err(AuroraError::Closed),
            Err(e) if self.wal_shared.get().is_some() => {
                tracing::warn!(
                    "write {lsn} is committed and fsynced in the WAL; its cold-store flush failed and is left to \
                     the next checkpoint: {e}"
                );
                Ok(())
            }
            Err(e) => Err(self.cold_store_error(
                "the write is applied and visible but not durable (no WAL; it is lost if the process stops before \
                 a later flush succeeds)",
                e,
            )),
        }
    }

    /// Back-pressure on the memtable: past its limit the writer flushes it itself, and if the
    /// cold store refuses, the write is refused before anything is written.
    fn bound_memtable(&self) -> Result<()> {
        let limit = self.config.write_buffer_limit();
        if self.memtable.pending_docs() < limit {
            return Ok(());
        }
        self.flush_memtable(false).map_err(|e| {
            self.cold_store_error(
                &format!(
                    "write refused, not committed: {} writes are waiting for the cold store (limit {limit})",
                    self.memtable.pending_docs()
                ),
                e,
            )
        })
    }

    /// Asks the maintenance thread for a flush once the memtable has grown past its size.
    fn relieve_memtable(&self) {
        if self.memtable.pending_docs() >= self.config.write_buffer_size || !self.config.enable_write_buffering {
            self.flush_wanted.store(true, Ordering::Release);
            self.shutdown.1.notify_all();
        }
    }

    /// The critical section: returns the commit's LSN (0 when nothing was written).
    ///
    /// One rule for faults: the write is applied to memory (and becomes visible, and its events
    /// are published) only after its WAL record is written whole — and fsynced, in Strict and
    /// Synchronous mode — so a commit that returns an error was never applied, is never seen and
    /// is never replayed. The commit lock is held across the fsync: Strict commits are one
    /// fsync each, in order.
    fn commit_now<F>(&self, build: F, origin: &str) -> Result<(u64, Vec<Applied>)>
    where
        F: FnOnce(&Inner) -> Result<Vec<WriteOp>>,
    {
        let mut cs = self.commit.lock();
        self.check_open()?;
        if self.memtable.pending_docs() >= self.config.write_buffer_limit() {
            drop(cs);
            self.bound_memtable()?;
            cs = self.commit.lock();
            self.check_open()?;
        }
        let ops = build(self)?;
        let snap = self.snapshot();
        let mut undo = Undo::default();
        let result = self.stage(&mut cs, &snap, ops, &mut undo).and_then(|staged| {
            let prepared = self.prepare(&snap, &staged, &undo)?;
            Ok((staged, prepared))
        });
        let (staged, prepared) = match result {
            Ok(x) => x,
            Err(e) => {
                undo.roll_back();
                return Err(e);
            }
        };
        if staged.is_empty() {
            return Ok((0, Vec::new()));
        }
        if let Err(e) = self.check_commit_size(&staged) {
            undo.roll_back();
            return Err(e);
        }
        let lsn = cs.next_lsn;
        if let Some(wal) = cs.wal.as_mut() {
            let mut wal_ops: Vec<WalOp> = undo
                .fields
                .iter()
                .map(|(cat, id, name)| WalOp::Field { coll: cat.id, id: *id, name: name.to_string() })
                .collect();
            wal_ops.extend(staged.iter().map(|s| match s {
                Staged::Doc { cat, rowid, encoded: Some(e), .. } => {
                    WalOp::PutDoc { coll: cat.id, rowid: *rowid, doc: e.clone() }
                }
                Staged::Doc { cat, rowid, encoded: None, .. } => WalOp::DeleteDoc { coll: cat.id, rowid: *rowid },
                Staged::Raw { key, value } => WalOp::Raw { key: key.clone(), value: value.clone() },
            }));
            if let Err(e) = wal.append(lsn, &wal_ops) {
                undo.roll_back();
                return Err(e);
            }
        }
        cs.next_lsn += 1;

        // The hot cache learns of the new versions first, so that no snapshot seeing this
        // commit finds an older one there; then memory: from here on readers see the write.
        for s in &staged {
            if let Staged::Doc { cat, rowid, applied, size, .. } = s {
                self.cache.commit((cat.id, *rowid), applied.after.clone().map(|d| (d, *size)), lsn);
            }
        }
        let entries = staged.len();
        self.memtable.apply(lsn, prepared.finish(), entries);
        let mut applied_out = Vec::with_capacity(staged.len());
        for s in staged {
            if let Staged::Doc { applied, .. } = s {
                applied_out.push(applied);
            }
        }
        // Published under the commit lock: event order is commit order.
        self.audit(origin, &applied_out);
        self.publish(lsn, &applied_out);
        drop(cs);
        Ok((lsn, applied_out))
    }

    /// The key writes of staged changes, read against `snap`.
    fn prepare(&self, snap: &Snapshot, staged: &[Staged], undo: &Undo) -> Result<apply::Prepared> {
        let mut changes = Vec::new();
        let mut raw = Vec::new();
        for s in staged {
            match s {
                Staged::Doc { cat, rowid, applied, encoded, .. } => changes.push(Change {
                    cat: cat.clone(),
                    rowid: *rowid,
                    sid: applied.sid,
                    before: applied.before.as_ref().map(|d| d.data.clone()),
                    after: applied.after.as_ref().zip(encoded.clone()).map(|(d, e)| (d.data.clone(), e)),
                }),
                Staged::Raw { key, value } => raw.push((key.clone(), value.clone())),
            }
        }
        let mut prepared = apply::prepare(snap, &self.index_cache, &changes, &undo.fields)?;
        prepared.raw(raw);
        Ok(prepared)
    }

    /// Refuses a commit whose writes would encode to more than `Limits::max_commit_bytes` (or
    /// than a WAL record holds), before anything is written or applied.
    fn check_commit_size(&self, staged: &[Staged]) -> Result<()> {
        let limit = self.config.limits.max_commit_bytes.min(crate::storage::wal::MAX_RECORD_BYTES as usize / 2);
        let mut bytes = 0usize;
        for s in staged {
            bytes = bytes.saturating_add(match s {
                Staged::Doc { encoded, .. } => 16 + encoded.as_ref().map_or(0, |e| e.len()),
                Staged::Raw { key, value } => 16 + key.len() + value.as_ref().map_or(0, Vec::len),
            });
        }
        if bytes > limit {
            return Err(AuroraError::limit(
                "max_commit_bytes",
                limit,
                format!("the commit's {} writes encode to {bytes} bytes; nothing was written", staged.len()),
            ));
        }
        Ok(())
    }

    /// Sends change events in commit order (the commit is durable per the mode by now).
    fn publish(&self, lsn: u64, applied: &[Applied]) {
        let events: Vec<ChangeEvent> = applied
            .iter()
            .filter(|a| self.hub.has_listeners(&a.collection))
            .map(|a| ChangeEvent {
                lsn,
                change_type: a.kind,
                collection: a.collection.clone(),
                _sid: sid_string(a.sid),
                document: a.after.clone(),
                before: a.before.clone(),
            })
            .collect();
        events.into_iter().for_each(|e| self.hub.publish(e));
    }

    /// The row id of a document by system id.
    pub(crate) fn rowid_of(&self, cat: &Catalog, snap: &Snapshot, sid: u128) -> Result<Option<u32>> {
        match snap.get(&keys::sid(cat.id, sid))? {
            Some(crate::storage::memtable::Found::Bytes(b)) => {
                Ok(<[u8; 4]>::try_from(&b[..]).ok().map(u32::from_be_bytes))
            }
            _ => Ok(None),
        }
    }

    fn stage(&self, cs: &mut CommitState, snap: &Snapshot, ops: Vec<WriteOp>, undo: &mut Undo) -> Result<Vec<Staged>> {
        let mut staged = Vec::with_capacity(ops.len());
        let mut overlay = UniqueOverlay::default();
        // Latest version of each document touched by this commit (None = deleted here).
        let mut latest: HashMap<(u32, u128), Touched> = HashMap::default();
        let mut colls: HashMap<String, Arc<Catalog>> = HashMap::default();
        let mut get_coll = |name: &str| -> Result<Arc<Catalog>> {
            if let Some(c) = colls.get(name) {
                return Ok(c.clone());
            }
            let c = self.collection(name)?;
            colls.insert(name.to_string(), c.clone());
            Ok(c)
        };
        let encode = |cat: &Arc<Catalog>, sid: u128, data: &DocData, undo: &mut Undo| -> Result<Arc<[u8]>> {
            let mut added = Vec::new();
            let bytes = doc_codec::encode(sid, data, &cat.dict, &mut added);
            undo.fields.extend(added.into_iter().map(|(id, n)| (cat.clone(), id, n)));
            bytes.map(Arc::from).map_err(|e| match e {
                AuroraError::Validation { message, .. } => {
                    AuroraError::Validation { collection: cat.name.clone(), message }
                }
                other => other,
            })
        };
        for (op_index, op) in ops.into_iter().enumerate() {
            match op {
                WriteOp::Insert { collection, mut data } => {
                    let cat = get_coll(&collection)?;
                    let schema = cat.schema();
                    crate::schema::apply_defaults(&schema, &mut data);
                    validate(&collection, &schema, &mut data)?;
                    let sid = next_sid(cs);
                    let before_rowid = cat.next_rowid();
                    let rowid = cat.take_rowid().ok_or_else(|| AuroraError::Validation {
                        collection: collection.clone(),
                        message: "the collection has used up its 4,294,967,295 row ids".into(),
                    })?;
                    undo.rowids.entry(cat.id).or_insert_with(|| (cat.clone(), before_rowid));
                    overlay.claim(&Indexes::new(snap, &cat, &self.index_cache), rowid, &data)?;
                    let encoded = encode(&cat, sid, &data, undo)?;
                    let doc = Arc::new(Document::new(sid_string(sid), data));
                    let size = approx_size(&doc.data);
                    latest.insert((cat.id, sid), (rowid, Some(doc.clone())));
                    staged.push(Staged::Doc {
                        cat,
                        rowid,
                        applied: Applied {
                            op: op_index,
                            collection,
                            sid,
                            kind: ChangeType::Insert,
                            before: None,
                            after: Some(doc),
                        },
                        encoded: Some(encoded),
                        size,
                    });
                }
                WriteOp::Replace { collection, sid, mut data } => {
                    let cat = get_coll(&collection)?;
                    let found = match latest.get(&(cat.id, sid)) {
                        Some((r, d)) => d.clone().map(|d| (*r, d)),
                        None => self.fetch_in(&cat, snap, sid)?,
                    };
                    let Some((rowid, before)) = found else {
                        return Err(AuroraError::NotFound(format!(
                            "document `{}` in collection `{collection}`",
                            sid_string(sid)
                        )));
                    };
                    validate(&collection, &cat.schema(), &mut data)?;
                    overlay.release(&cat, &before.data);
                    overlay.claim(&Indexes::new(snap, &cat, &self.index_cache), rowid, &data)?;
                    let encoded = encode(&cat, sid, &data, undo)?;
                    let doc = Arc::new(Document::new(before._sid.clone(), data));
                    let size = approx_size(&doc.data);
                    latest.insert((cat.id, sid), (rowid, Some(doc.clone())));
                    staged.push(Staged::Doc {
                        cat,
                        rowid,
                        applied: Applied {
                            op: op_index,
                            collection,
                            sid,
                            kind: ChangeType::Update,
                            before: Some(before),
                            after: Some(doc),
                        },
                        encoded: Some(encoded),
                        size,
                    });
                }
                WriteOp::Delete { collection, sid } => {
                    let cat = get_coll(&collection)?;
                    let found = match latest.get(&(cat.id, sid)) {
                        Some((r, d)) => d.clone().map(|d| (*r, d)),
                        None => self.fetch_in(&cat, snap, sid)?,
                    };
                    let Some((rowid, before)) = found else { continue };
                    overlay.release(&cat, &before.data);
                    latest.insert((cat.id, sid), (rowid, None));
                    staged.push(Staged::Doc {
                        cat,
                        rowid,
                        applied: Applied {
                            op: op_index,
                            collection,
                            sid,
                            kind: ChangeType::Delete,
                            before: Some(before),
                            after: None,
                        },
                        encoded: None,
                        size: 0,
                    });
                }
                WriteOp::Raw { key, value } => staged.push(Staged::Raw { key, value }),
            }
        }
        Ok(staged)
    }
}

/// Allocates a time-ordered system id (a UUID v7) strictly greater than every earlier one.
/// Within one millisecond the ids count up from a random start (RFC 9562's monotonic random
/// method), so the random source is read once per millisecond rather than once per id.
fn next_sid(cs: &mut CommitState) -> u128 {
    const RAND_B: u128 = (1 << 62) - 1;
    let now_ms = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_millis());
    let last = cs.last_sid;
    let sid = if last != 0 && (last >> 80) >= now_ms && last & RAND_B != RAND_B {
        last + 1
    } else {
        let candidate = uuid::Uuid::now_v7().as_u128();
        if candidate > last {
            candidate
        } else {
            last + 1
        }
    };
    cs.last_sid = sid;
    sid
}

/// Converts `(name, value)` pairs to document fields.
pub(crate) fn to_doc_data<K: Into<String>, V: Into<Value>>(fields: Vec<(K, V)>) -> DocData {
    fields.into_iter().map(|(k, v)| (crate::FieldName::from(k.into()), v.into())).collect()
}

impl Aurora {
    /// Inserts a document and returns its new system id.
    pub async fn insert_into<K: Into<String>, V: Into<Value>>(
        &self,
        collection: &str,
        fields: Vec<(K, V)>,
    ) -> Result<String> {
        let data = to_doc_data(fields);
        let applied =
            self.inner.commit(vec![WriteOp::Insert { collection: collection.into(), data }], "insert_into").await?;
        Ok(applied.first().map(|a| sid_string(a.sid)).unwrap_or_default())
    }

    /// Inserts a document given as a field map.
    pub async fn insert_doc(&self, collection: &str, data: DocData) -> Result<String> {
        let applied =
            self.inner.commit(vec![WriteOp::Insert { collection: collection.into(), data }], "insert_doc").await?;
        Ok(applied.first().map(|a| sid_string(a.sid)).unwrap_or_default())
    }

    /// Inserts any serializable value (it must serialize to an object).
    pub async fn insert_struct<T: serde::Serialize>(&self, collection: &str, value: &T) -> Result<String> {
        self.insert_doc(collection, struct_to_data(collection, value)?).await
    }

    /// Inserts many documents atomically: all or none. Returns their system ids in order.
    pub async fn batch_insert(&self, collection: &str, docs: Vec<DocData>) -> Result<Vec<String>> {
        let ops = docs.into_iter().map(|data| WriteOp::Insert { collection: collection.into(), data }).collect();
        let applied = self.inner.commit(ops, "batch_insert").await?;
        Ok(applied.iter().map(|a| sid_string(a.sid)).collect())
    }

    /// Inserts many serializable values atomically.
    pub async fn batch_insert_structs<T: serde::Serialize>(
        &self,
        collection: &str,
        values: &[T],
    ) -> Result<Vec<String>> {
        let docs = values.iter().map(|v| struct_to_data(collection, v)).collect::<Result<Vec<_>>>()?;
        self.batch_insert(collection, docs).await
    }

    /// Sets the given fields of one document (others are kept).
    pub async fn update_document<K: Into<String>, V: Into<Value>>(
        &self,
        collection: &str,
        sid: &str,
        fields: Vec<(K, V)>,
    ) -> Result<()> {
        let sid = super::parse_sid(sid)?;
        let changes = to_doc_data(fields);
        let coll_name = collection.to_string();
        self.inner
            .commit_with(
                move |inner| {
                    let coll = inner.collection(&coll_name)?;
                    let cur = inner.fetch(&coll, sid)?.ok_or_else(|| {
                        AuroraError::NotFound(format!("document `{}` in collection `{coll_name}`", sid_string(sid)))
                    })?;
                    let mut data = (*cur.data).clone();
                    data.extend(changes);
                    Ok(vec![WriteOp::Replace { collection: coll_name.clone(), sid, data }])
                },
                "update_document",
            )
            .await?;
        Ok(())
    }

    /// Deletes one document by system id; returns whether it existed.
    pub async fn delete_document(&self, collection: &str, sid: &str) -> Result<bool> {
        let sid = super::parse_sid(sid)?;
        let applied =
            self.inner.commit(vec![WriteOp::Delete { collection: collection.into(), sid }], "delete_document").await?;
        Ok(!applied.is_empty())
    }

    /// Starts a transaction: several writes committed atomically with one WAL record.
    pub fn transaction(&self) -> super::Transaction {
        super::Transaction::new(self.clone())
    }
}

pub(crate) fn struct_to_data<T: serde::Serialize>(collection: &str, value: &T) -> Result<DocData> {
    let invalid = |message: String| AuroraError::Validation { collection: collection.to_string(), message };
    match crate::value_ser::to_doc_data(value) {
        Ok(Ok(data)) => Ok(data),
        Ok(Err(type_name)) => Err(invalid(format!("a document must serialize to an object, not {type_name}"))),
        Err(e) => Err(invalid(format!("the document cannot be stored: {e}"))),
    }
}
