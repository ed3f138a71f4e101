//! The write path: validate → unique checks → WAL append → apply to memory → publish → wait.

use super::{sid_key, sid_string, Aurora, CommitState, Inner};
use crate::config::DurabilityMode;
use crate::error::{AuroraError, Result};
use crate::index::CollectionState;
use crate::realtime::{ChangeEvent, ChangeType};
use crate::schema::validate;
use crate::storage::codec::{approx_size, encode_doc};
use crate::storage::wal::WalOp;
use crate::types::{DocData, Document};
use crate::value::{OrdValue, Value};
use parking_lot::RwLock;
use std::collections::{BTreeMap, HashMap};
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
    /// A raw key write to a system tree (job queue, bookkeeping).
    Raw { tree: String, key: Vec<u8>, value: Option<Vec<u8>> },
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
    Doc { coll: Arc<RwLock<CollectionState>>, applied: Applied, encoded: Option<Arc<Vec<u8>>>, size: usize },
    Raw { tree: String, key: Vec<u8>, value: Option<Vec<u8>> },
}

type UniqueKey = (String, String, OrdValue);

/// Claims on unique values made by earlier ops of the same commit.
#[derive(Default)]
struct UniqueOverlay {
    claims: BTreeMap<UniqueKey, Option<u128>>,
}

impl UniqueOverlay {
    fn release(&mut self, st: &CollectionState, doc: &DocData) {
        for f in st.schema.unique_fields() {
            if let Some(v) = doc.get(f).filter(|v| !v.is_null()) {
                self.claims.insert((st.name.clone(), f.to_string(), OrdValue(v.clone())), None);
            }
        }
    }

    fn claim(&mut self, st: &CollectionState, sid: u128, doc: &DocData) -> Result<()> {
        let own_row = st.rowid_of(sid);
        for f in st.schema.unique_fields() {
            let Some(v) = doc.get(f).filter(|v| !v.is_null()) else {
                continue;
            };
            let key = (st.name.clone(), f.to_string(), OrdValue(v.clone()));
            let taken = match self.claims.get(&key) {
                Some(Some(owner)) => *owner != sid,
                Some(None) => false,
                None => st.holders(f, v).is_some_and(|h| h.iter().any(|r| Some(r) != own_row)),
            };
            if taken {
                return Err(AuroraError::UniqueViolation {
                    collection: st.name.clone(),
                    field: f.to_string(),
                    value: v.to_string(),
                });
            }
            self.claims.insert(key, Some(sid));
        }
        Ok(())
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
        Ok(applied)
    }

    /// Synchronous mode: make sure the cold store durably holds everything up to `lsn`.
    ///
    /// With the WAL on, the record is already fsynced when this runs, so the write survives a
    /// process kill and a power loss whatever the cold store does: a failed flush is logged and
    /// left to the next checkpoint, and the call succeeds (an error would claim the write failed
    /// when it is committed, and a retry would duplicate it). Without a WAL the cold flush is the
    /// only durability, so its failure is an error saying the write is applied but not durable.
    /// See docs/DESIGN-NOTES.md.
    fn flush_to_cold(&self, lsn: u64) -> Result<()> {
        let mut flushed = self.sync_flushed.lock();
        if *flushed >= lsn {
            return Ok(());
        }
        let result = self.cold().and_then(|cold| {
            let upto = self.buffer.flush_into(&*cold)?;
            cold.flush()?;
            Ok(upto)
        });
        match result {
            Ok(upto) => {
                *flushed = (*flushed).max(upto).max(lsn);
                drop(flushed);
                self.note_cold_ok();
                Ok(())
            }
            Err(e) if self.wal_shared.is_some() && !matches!(e, AuroraError::Closed) => {
                self.note_cold_error(&e);
                tracing::warn!(
                    "write {lsn} is committed and fsynced in the WAL; its cold-store flush failed and is left to \
                     the next checkpoint: {e}"
                );
                Ok(())
            }
            Err(AuroraError::Closed) => Err(AuroraError::Closed),
            Err(e) => Err(self.cold_store_error(
                "the write is applied and visible but not durable (no WAL; it is lost if the process stops before \
                 a later flush succeeds)",
                e,
            )),
        }
    }

    /// Back-pressure on the write buffer: past its limit the writer flushes it first, and if
    /// the cold store refuses, the write is refused before anything is written.
    fn bound_buffer(&self) -> Result<()> {
        let limit = self.config.write_buffer_limit();
        if self.buffer.len() < limit {
            return Ok(());
        }
        self.cold().and_then(|cold| self.buffer.flush_into(&*cold)).map(|_| ()).map_err(|e| {
            self.cold_store_error(
                &format!(
                    "write refused, not committed: {} writes are waiting for the cold store (limit {limit})",
                    self.buffer.len()
                ),
                e,
            )
        })
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
        self.bound_buffer()?;
        let ops = build(self)?;
        let staged = self.stage(&mut cs, ops)?;
        if staged.is_empty() {
            return Ok((0, Vec::new()));
        }
        self.check_commit_size(&staged)?;
        let lsn = cs.next_lsn;

        if let Some(wal) = cs.wal.as_mut() {
            let wal_ops: Vec<WalOp> = staged
                .iter()
                .map(|s| match s {
                    Staged::Doc { coll, applied, encoded, .. } => WalOp {
                        tree: coll.read().tree.clone(),
                        key: sid_key(applied.sid),
                        value: encoded.as_ref().map(|e| e.as_ref().clone()),
                    },
                    Staged::Raw { tree, key, value } => {
                        WalOp { tree: tree.clone(), key: key.clone(), value: value.clone() }
                    }
                })
                .collect();
            wal.append(lsn, &wal_ops)?;
        }
        cs.next_lsn += 1;

        // Apply to memory: from here on readers see the write.
        let mut applied_out = Vec::with_capacity(staged.len());
        let mut buffered = 0;
        for s in staged {
            match s {
                Staged::Doc { coll, applied, encoded, size } => {
                    let mut st = coll.write();
                    let key = (st.id, applied.sid);
                    match (&applied.before, &applied.after) {
                        (None, Some(after)) => {
                            st.insert(applied.sid, &after.data);
                        }
                        (Some(before), Some(after)) => {
                            if let Some(rowid) = st.rowid_of(applied.sid) {
                                st.update(rowid, &before.data, &after.data);
                            }
                        }
                        (Some(before), None) => {
                            if let Some(rowid) = st.rowid_of(applied.sid) {
                                st.remove(rowid, &before.data);
                            }
                        }
                        (None, None) => {}
                    }
                    buffered = self.buffer.put(&st.tree, sid_key(applied.sid), encoded, lsn);
                    match &applied.after {
                        Some(after) => self.cache.put(key, after.clone(), size),
                        None => self.cache.remove(&key),
                    }
                    applied_out.push(applied);
                }
                Staged::Raw { tree, key, value } => {
                    buffered = self.buffer.put(&tree, key, value.map(Arc::new), lsn);
                }
            }
        }
        if buffered >= self.config.write_buffer_size || !self.config.enable_write_buffering {
            self.flush_wanted.store(true, Ordering::Release);
            self.shutdown.1.notify_all();
        }
        self.audit(origin, &applied_out);
        self.publish(lsn, &applied_out);
        Ok((lsn, applied_out))
    }

    /// Refuses a commit whose writes would encode to more than `Limits::max_commit_bytes` (or
    /// than a WAL record holds), before anything is written or applied.
    fn check_commit_size(&self, staged: &[Staged]) -> Result<()> {
        let limit = self.config.limits.max_commit_bytes.min(crate::storage::wal::MAX_RECORD_BYTES as usize / 2);
        let mut bytes = 0usize;
        for s in staged {
            bytes = bytes.saturating_add(match s {
                Staged::Doc { encoded, .. } => 48 + encoded.as_ref().map_or(0, |e| e.len()),
                Staged::Raw { tree, key, value } => 16 + tree.len() + key.len() + value.as_ref().map_or(0, Vec::len),
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

    fn stage(&self, cs: &mut CommitState, ops: Vec<WriteOp>) -> Result<Vec<Staged>> {
        let mut staged = Vec::with_capacity(ops.len());
        let mut overlay = UniqueOverlay::default();
        // Latest version of each document touched by this commit (None = deleted here).
        let mut latest: HashMap<(String, u128), Option<Arc<Document>>> = HashMap::new();
        let mut colls: HashMap<String, Arc<RwLock<CollectionState>>> = HashMap::new();
        let mut get_coll = |name: &str| -> Result<Arc<RwLock<CollectionState>>> {
            if let Some(c) = colls.get(name) {
                return Ok(c.clone());
            }
            let c = self.collection(name)?;
            colls.insert(name.to_string(), c.clone());
            Ok(c)
        };
        for (op_index, op) in ops.into_iter().enumerate() {
            match op {
                WriteOp::Insert { collection, mut data } => {
                    let coll = get_coll(&collection)?;
                    let st = coll.read();
                    validate(&collection, &st.schema, &mut data)?;
                    let sid = next_sid(cs);
                    overlay.claim(&st, sid, &data)?;
                    let doc = Arc::new(Document::new(sid_string(sid), data));
                    let encoded = Arc::new(encode_doc(&doc.data)?);
                    let size = approx_size(&doc.data);
                    drop(st);
                    latest.insert((collection.clone(), sid), Some(doc.clone()));
                    staged.push(Staged::Doc {
                        coll,
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
                    let coll = get_coll(&collection)?;
                    let st = coll.read();
                    let before = match latest.get(&(collection.clone(), sid)) {
                        Some(d) => d.clone(),
                        None => self.fetch(&st, sid)?,
                    };
                    let Some(before) = before else {
                        return Err(AuroraError::NotFound(format!(
                            "document `{}` in collection `{collection}`",
                            sid_string(sid)
                        )));
                    };
                    validate(&collection, &st.schema, &mut data)?;
                    overlay.release(&st, &before.data);
                    overlay.claim(&st, sid, &data)?;
                    let doc = Arc::new(Document::new(before._sid.clone(), data));
                    let encoded = Arc::new(encode_doc(&doc.data)?);
                    let size = approx_size(&doc.data);
                    drop(st);
                    latest.insert((collection.clone(), sid), Some(doc.clone()));
                    staged.push(Staged::Doc {
                        coll,
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
                    let coll = get_coll(&collection)?;
                    let st = coll.read();
                    let before = match latest.get(&(collection.clone(), sid)) {
                        Some(d) => d.clone(),
                        None => self.fetch(&st, sid)?,
                    };
                    let Some(before) = before else { continue };
                    overlay.release(&st, &before.data);
                    drop(st);
                    latest.insert((collection.clone(), sid), None);
                    staged.push(Staged::Doc {
                        coll,
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
                WriteOp::Raw { tree, key, value } => staged.push(Staged::Raw { tree, key, value }),
            }
        }
        Ok(staged)
    }
}

/// Allocates a time-ordered system id strictly greater than every earlier one.
fn next_sid(cs: &mut CommitState) -> u128 {
    let candidate = uuid::Uuid::now_v7().as_u128();
    let sid = if candidate > cs.last_sid { candidate } else { cs.last_sid + 1 };
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
                    let st = coll.read();
                    let cur = inner.fetch(&st, sid)?.ok_or_else(|| {
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
    match Value::from_json(&serde_json::to_value(value)?) {
        Value::Object(m) => Ok(crate::types::doc_data_from_object(m)),
        other => Err(AuroraError::Validation {
            collection: collection.to_string(),
            message: format!("a document must serialize to an object, not {}", other.type_name()),
        }),
    }
}
