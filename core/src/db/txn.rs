//! Transactions: several writes over any collections, committed as one WAL record.

use super::write::{struct_to_data, to_doc_data, WriteOp};
use super::{parse_sid, sid_string, Aurora};
use crate::error::{AuroraError, Result};
use crate::types::DocData;
use crate::value::Value;

/// Collects writes and commits them atomically: all are applied or none.
pub struct Transaction {
    db: Aurora,
    ops: Vec<TxOp>,
}

enum TxOp {
    Insert(String, DocData),
    Update(String, u128, DocData),
    Delete(String, u128),
}

impl Transaction {
    pub(crate) fn new(db: Aurora) -> Self {
        Transaction { db, ops: Vec::new() }
    }

    /// Queues an insert.
    pub fn insert<K: Into<String>, V: Into<Value>>(&mut self, collection: &str, fields: Vec<(K, V)>) -> &mut Self {
        self.ops.push(TxOp::Insert(collection.into(), to_doc_data(fields)));
        self
    }

    /// Queues an insert of a serializable value.
    pub fn insert_struct<T: serde::Serialize>(&mut self, collection: &str, value: &T) -> Result<&mut Self> {
        self.ops.push(TxOp::Insert(collection.into(), struct_to_data(collection, value)?));
        Ok(self)
    }

    /// Queues setting fields of a document by system id.
    pub fn update<K: Into<String>, V: Into<Value>>(
        &mut self,
        collection: &str,
        sid: &str,
        fields: Vec<(K, V)>,
    ) -> Result<&mut Self> {
        self.ops.push(TxOp::Update(collection.into(), parse_sid(sid)?, to_doc_data(fields)));
        Ok(self)
    }

    /// Queues a delete by system id.
    pub fn delete(&mut self, collection: &str, sid: &str) -> Result<&mut Self> {
        self.ops.push(TxOp::Delete(collection.into(), parse_sid(sid)?));
        Ok(self)
    }

    /// Number of queued writes.
    pub fn len(&self) -> usize {
        self.ops.len()
    }

    /// True when nothing is queued.
    pub fn is_empty(&self) -> bool {
        self.ops.is_empty()
    }

    /// Commits every queued write atomically; returns the system ids of inserted documents.
    pub async fn commit(self) -> Result<Vec<String>> {
        let ops = self.ops;
        let applied = self
            .db
            .inner
            .commit_with(
                move |inner| {
                    let mut out = Vec::with_capacity(ops.len());
                    let mut pending: std::collections::HashMap<(String, u128), DocData> = Default::default();
                    for op in ops {
                        out.push(match op {
                            TxOp::Insert(c, d) => WriteOp::Insert { collection: c, data: d },
                            TxOp::Delete(c, s) => WriteOp::Delete { collection: c, sid: s },
                            TxOp::Update(c, s, changes) => {
                                let mut data = match pending.get(&(c.clone(), s)) {
                                    Some(d) => d.clone(),
                                    None => {
                                        let coll = inner.collection(&c)?;
                                        let doc = inner.fetch(&coll, s)?.ok_or_else(|| {
                                            AuroraError::NotFound(format!(
                                                "document `{}` in collection `{c}`",
                                                sid_string(s)
                                            ))
                                        })?;
                                        (*doc.data).clone()
                                    }
                                };
                                data.extend(changes);
                                pending.insert((c.clone(), s), data.clone());
                                WriteOp::Replace { collection: c, sid: s, data }
                            }
                        });
                    }
                    Ok(out)
                },
                "transaction",
            )
            .await?;
        Ok(applied
            .iter()
            .filter(|a| a.kind == crate::realtime::ChangeType::Insert)
            .map(|a| sid_string(a.sid))
            .collect())
    }
}
