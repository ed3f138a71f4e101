//! Collection definitions: create, change the schema (building or dropping indexes), drop. Each
//! runs under the checkpoint and commit locks with everything committed flushed first, so it
//! works on the cold store directly and no WAL record can refer to a state it replaced.

use super::catalog::{Catalog, IndexDef};
use super::open::{COLL_NAME_PREFIX, NEXT_COLL_KEY};
use super::{Inner, WriteOp};
use crate::error::{AuroraError, Result};
use crate::storage::doc_codec;
use crate::storage::keys;
use crate::storage::kv::{ColdStore, KvOp};
use crate::types::CollectionSchema;
use crate::value::Value;
use roaring::RoaringBitmap;
use std::collections::BTreeMap;
use std::sync::Arc;

/// Documents read per batch when an index is built.
const BUILD_BATCH: usize = 10_000;

impl Inner {
    pub(super) fn create_collection(&self, name: &str, mut schema: CollectionSchema) -> Result<bool> {
        if name.is_empty() || name.starts_with("_sys") && name != "_sys_migration" || name.contains(':') {
            return Err(AuroraError::Validation {
                collection: name.to_string(),
                message: "collection names must be non-empty, without `:` and not start with `_sys`".into(),
            });
        }
        for f in schema.fields.keys() {
            if f.is_empty() || f.contains('.') || f == "_sid" {
                return Err(AuroraError::Validation {
                    collection: name.to_string(),
                    message: format!("`{f}` is not a valid field name"),
                });
            }
        }
        let _ddl = self.ddl.lock();
        self.check_open()?;
        let existing = self.collections.read().get(name).cloned();
        schema.mark_element_indexes(existing.as_ref().map(|c| c.schema()).as_deref());
        if let Some(existing) = existing {
            return if *existing.schema() == schema {
                Ok(false)
            } else {
                Err(AuroraError::SchemaConflict(name.to_string()))
            };
        }
        let id = self.next_coll.load(std::sync::atomic::Ordering::Acquire);
        let cat = Catalog::new(id, name, schema.clone());
        let mut added = Vec::new();
        let defs = cat.index_defs_for(&schema, &mut added)?;
        // An ordinary commit of raw keys: logged in the WAL like any write (replay rebuilds the
        // catalog from them), so creating a collection costs no fsync of its own.
        let mut ops = vec![
            WriteOp::Raw { key: keys::coll_prefix(id, keys::kind::SCHEMA), value: Some(serde_json::to_vec(&schema)?) },
            WriteOp::Raw {
                key: keys::meta(&format!("{COLL_NAME_PREFIX}{name}")),
                value: Some(id.to_be_bytes().to_vec()),
            },
            WriteOp::Raw { key: keys::meta(NEXT_COLL_KEY), value: Some(u64::from(id + 1).to_be_bytes().to_vec()) },
        ];
        ops.extend(
            added
                .iter()
                .map(|(fid, n)| WriteOp::Raw { key: keys::field(id, *fid), value: Some(n.as_bytes().to_vec()) }),
        );
        self.commit_blocking(|_| Ok(ops), "define collection")?;
        self.next_coll.store(id + 1, std::sync::atomic::Ordering::Release);
        cat.set_schema(schema, defs);
        self.collections.write().insert(name.to_string(), Arc::new(cat));
        Ok(true)
    }

    /// Replaces a collection's schema, building the indexes it adds from the stored documents
    /// and dropping those it removes. A new unique index over duplicate values is refused and
    /// nothing changes.
    pub(super) fn set_schema(&self, name: &str, mut schema: CollectionSchema) -> Result<()> {
        let _ddl = self.ddl.lock();
        let cat = self.collection(name)?;
        schema.mark_element_indexes(Some(&cat.schema()));
        let _one = self.checkpoint_lock.lock();
        let mut cs = self.commit.lock();
        self.check_open()?;
        self.flush_locked(&mut cs)?;
        let cold = self.cold()?;
        let mut added = Vec::new();
        let new_defs = cat.index_defs_for(&schema, &mut added)?;
        let old_defs = cat.indexes();
        let fields: Vec<KvOp> =
            added.iter().map(|(fid, n)| KvOp::Put(keys::field(cat.id, *fid), n.as_bytes().to_vec())).collect();
        cold.write(fields, false)?;
        let gone: Vec<&IndexDef> = old_defs.iter().filter(|d| !new_defs.contains(d)).collect();
        let new: Vec<&IndexDef> = new_defs.iter().filter(|d| !old_defs.contains(d)).collect();
        // Unique entries first: the only step that can fail on the data, and it touches no key
        // of the old indexes.
        for def in new.iter().filter(|d| d.unique) {
            if let Err(e) = self.build_unique(&cat, cold.as_ref(), def) {
                let prefix = keys::unique_field(cat.id, def.id);
                let undo = keys::prefix_end(&prefix).map(|end| KvOp::DeleteRange(prefix, end));
                cold.write(undo.into_iter().collect(), true)?;
                self.index_cache.clear(cold.view()?);
                return Err(e);
            }
        }
        let mut drops = Vec::new();
        for def in gone {
            for prefix in [keys::posting_field(cat.id, def.id), keys::unique_field(cat.id, def.id)] {
                if let Some(end) = keys::prefix_end(&prefix) {
                    drops.push(KvOp::DeleteRange(prefix, end));
                }
            }
        }
        cold.write(drops, false)?;
        for def in &new {
            self.build_postings(&cat, cold.as_ref(), def)?;
        }
        cold.write(vec![KvOp::Put(keys::coll_prefix(cat.id, keys::kind::SCHEMA), serde_json::to_vec(&schema)?)], true)?;
        self.index_cache.clear(cold.view()?);
        cat.set_schema(schema, new_defs);
        Ok(())
    }

    /// Calls `each` with every stored document of `cat` (row id, value of `field`), in row
    /// order, from the cold store (everything is flushed).
    fn scan_field(&self, cat: &Catalog, field: &str, mut each: impl FnMut(u32, Value) -> Result<()>) -> Result<()> {
        let view = self.cold()?.view()?;
        let names = cat.dict.names();
        let prefix = keys::coll_prefix(cat.id, keys::kind::DOC);
        for item in view.range(&prefix, keys::prefix_end(&prefix).as_deref(), false)? {
            let (k, v) = item?;
            let rowid = keys::doc_rowid(&k).ok_or_else(|| self.damage(cat, "document key"))?;
            let (_, data) = doc_codec::decode(&v, &names).ok_or_else(|| self.damage(cat, "document"))?;
            each(rowid, data.get(field).cloned().unwrap_or(Value::Null))?;
        }
        Ok(())
    }

    fn damage(&self, cat: &Catalog, what: &str) -> AuroraError {
        AuroraError::Corruption {
            file: self.data_file.clone(),
            offset: 0,
            reason: format!("collection `{}`: unreadable {what}", cat.name),
        }
    }

    /// Writes the unique entries of `def` (non-null values), refusing a duplicate.
    fn build_unique(&self, cat: &Catalog, cold: &dyn ColdStore, def: &IndexDef) -> Result<()> {
        let mut batch: BTreeMap<Vec<u8>, u32> = BTreeMap::new();
        let flush = |batch: &mut BTreeMap<Vec<u8>, u32>| -> Result<()> {
            let view = cold.view()?;
            for (k, r) in batch.iter() {
                if view.get(k)?.is_some() {
                    return Err(duplicate(cat, def, k, *r));
                }
            }
            cold.write(
                std::mem::take(batch).into_iter().map(|(k, r)| KvOp::Put(k, r.to_be_bytes().to_vec())).collect(),
                false,
            )
        };
        self.scan_field(cat, &def.field, |rowid, v| {
            if v.is_null() {
                return Ok(());
            }
            let key = keys::unique(cat.id, def.id, &v);
            if batch.insert(key.clone(), rowid).is_some() {
                return Err(duplicate(cat, def, &key, rowid));
            }
            if batch.len() >= BUILD_BATCH {
                flush(&mut batch)?;
            }
            Ok(())
        })?;
        flush(&mut batch)
    }

    /// Writes the posting chunks of `def` (all values, or only nulls for a unique index).
    /// Documents come in row order, so a chunk is complete once the rows pass its high bits:
    /// memory holds one chunk range at a time.
    fn build_postings(&self, cat: &Catalog, cold: &dyn ColdStore, def: &IndexDef) -> Result<()> {
        let mut chunks: BTreeMap<Vec<u8>, RoaringBitmap> = BTreeMap::new();
        let mut current_high = None;
        let write = |chunks: &mut BTreeMap<Vec<u8>, RoaringBitmap>| -> Result<()> {
            let ops = std::mem::take(chunks)
                .into_iter()
                .map(|(k, c)| KvOp::Put(k, crate::storage::chunk::serialize(&c)))
                .collect();
            cold.write(ops, false)
        };
        self.scan_field(cat, &def.field, |rowid, v| {
            if def.unique && !v.is_null() {
                return Ok(());
            }
            let high = crate::storage::chunk::high(rowid);
            if current_high.is_some_and(|h| h != high) {
                write(&mut chunks)?;
            }
            current_high = Some(high);
            for posted in crate::index::posted_values(def, &v) {
                chunks.entry(keys::posting(cat.id, def.id, posted, high)).or_default().insert(rowid);
            }
            Ok(())
        })?;
        write(&mut chunks)
    }

    /// Drops a collection under the commit lock, flushing inside it: no write can land between
    /// the flush and the drop, so no WAL record can bring its documents back.
    pub(super) fn drop_collection(&self, name: &str) -> Result<()> {
        let _ddl = self.ddl.lock();
        let _one = self.checkpoint_lock.lock();
        let mut cs = self.commit.lock();
        let cat = self.collection(name)?;
        self.flush_locked(&mut cs)?;
        let cold = self.cold()?;
        let all = keys::coll_all(cat.id);
        let mut ops = vec![KvOp::Delete(keys::meta(&format!("{COLL_NAME_PREFIX}{name}")))];
        if let Some(end) = keys::prefix_end(&all) {
            ops.push(KvOp::DeleteRange(all, end));
        }
        cold.write(ops, true)?;
        self.index_cache.clear(cold.view()?);
        self.collections.write().remove(name);
        Ok(())
    }
}

fn duplicate(cat: &Catalog, def: &IndexDef, key: &[u8], rowid: u32) -> AuroraError {
    let prefix = keys::unique_field(cat.id, def.id).len();
    let mut at = prefix;
    let value = keys::decode_value(key, &mut at).map_or_else(|| "?".to_string(), |v| v.to_string());
    AuroraError::UniqueViolation {
        collection: cat.name.clone(),
        field: def.field.clone(),
        value: format!("{value} (row {rowid} and another document)"),
    }
}
