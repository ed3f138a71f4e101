//! Per-collection in-memory state: row-id maps, live set, secondary indexes and field census.

use super::FieldIndex;
use crate::types::{CollectionSchema, DocData};
use crate::value::Value;
use roaring::RoaringBitmap;
use std::collections::HashMap;

/// Maps keyed by names and ids the engine itself hands out: hashed with foldhash, several
/// times cheaper than SipHash on the lookup path.
type FastMap<K, V> = HashMap<K, V, foldhash::fast::RandomState>;
use std::sync::atomic::{AtomicU64, Ordering};

/// Source of shape epochs: unique across every collection state of the process.
static SHAPE_EPOCHS: AtomicU64 = AtomicU64::new(1);

fn next_shape_epoch() -> u64 {
    SHAPE_EPOCHS.fetch_add(1, Ordering::Relaxed)
}

/// Everything the planner needs about a collection without reading documents.
#[derive(Debug)]
pub struct CollectionState {
    /// Process-local numeric id (hot-cache key prefix).
    pub id: u32,
    /// Collection name.
    pub name: String,
    /// Current schema.
    pub schema: CollectionSchema,
    /// Cold-store tree holding the documents.
    pub tree: String,
    sids: Vec<u128>,
    rowids: FastMap<u128, u32>,
    live: RoaringBitmap,
    indexes: FastMap<String, FieldIndex>,
    field_census: FastMap<String, usize>,
    shape_epoch: u64,
}

fn new_index(schema: &CollectionSchema, field: &str) -> FieldIndex {
    if schema.fields.get(field).is_some_and(|d| d.unique) {
        FieldIndex::with_point_lookups()
    } else {
        FieldIndex::default()
    }
}

/// Name of the cold-store tree of a collection.
pub fn docs_tree(name: &str) -> String {
    format!("docs:{name}")
}

impl CollectionState {
    /// Empty state for a collection with the given schema.
    pub fn new(id: u32, name: &str, schema: CollectionSchema) -> Self {
        let indexes = schema.indexed_fields().map(|f| (f.to_string(), new_index(&schema, f))).collect();
        CollectionState {
            id,
            name: name.to_string(),
            tree: docs_tree(name),
            schema,
            sids: Vec::new(),
            rowids: FastMap::default(),
            live: RoaringBitmap::new(),
            indexes,
            field_census: FastMap::default(),
            shape_epoch: next_shape_epoch(),
        }
    }

    /// Changes (to a value no state ever had) whenever what [`CollectionState::knows_field`],
    /// [`CollectionState::accepts_field`] or the schema answer may have changed: lets callers
    /// cache field validation.
    pub fn shape_epoch(&self) -> u64 {
        self.shape_epoch
    }

    /// Number of live documents (O(1)).
    pub fn count(&self) -> u64 {
        self.live.len()
    }

    /// Row ids of all live documents.
    pub fn live(&self) -> &RoaringBitmap {
        &self.live
    }

    /// System id of a row id.
    pub fn sid_of(&self, rowid: u32) -> Option<u128> {
        self.sids.get(rowid as usize).copied().filter(|s| *s != 0)
    }

    /// Row id of a system id.
    pub fn rowid_of(&self, sid: u128) -> Option<u32> {
        self.rowids.get(&sid).copied()
    }

    /// The index of a field, if it has one.
    pub fn index(&self, field: &str) -> Option<&FieldIndex> {
        self.indexes.get(field)
    }

    /// Names of indexed fields.
    pub fn indexed_fields(&self) -> impl Iterator<Item = &String> {
        self.indexes.keys()
    }

    /// True when some schema field or stored document has a top-level field of this name.
    pub fn knows_field(&self, field: &str) -> bool {
        let top = field.split('.').next().unwrap_or(field);
        self.field_census.contains_key(top) || self.schema.fields.contains_key(top) || top == "_sid"
    }

    /// True when a query may name this field: it is known, or nothing at all is known yet
    /// (an empty collection without a schema accepts any shape).
    pub fn accepts_field(&self, field: &str) -> bool {
        self.knows_field(field) || (self.schema.fields.is_empty() && self.count() == 0)
    }

    /// All field names known from the schema and the stored documents.
    pub fn known_fields(&self) -> Vec<&str> {
        let mut v: Vec<&str> = self.schema.fields.keys().map(String::as_str).collect();
        for k in self.field_census.keys() {
            if !self.schema.fields.contains_key(k) {
                v.push(k);
            }
        }
        v
    }

    /// Row ids currently holding `value` in a unique/indexed field.
    pub fn holders(&self, field: &str, value: &Value) -> Option<super::RowIds<'_>> {
        self.indexes.get(field).and_then(|ix| ix.eq_ref(value))
    }

    /// Adds a new document, allocating the next dense row id.
    pub fn insert(&mut self, sid: u128, data: &DocData) -> u32 {
        if self.live.is_empty() {
            self.shape_epoch = next_shape_epoch();
        }
        let rowid = self.sids.len() as u32;
        self.sids.push(sid);
        self.rowids.insert(sid, rowid);
        self.live.insert(rowid);
        self.index_doc(rowid, data, true);
        rowid
    }

    /// Replaces the indexed view of an existing document.
    pub fn update(&mut self, rowid: u32, old: &DocData, new: &DocData) {
        self.index_doc(rowid, old, false);
        self.index_doc(rowid, new, true);
    }

    /// Removes a document.
    pub fn remove(&mut self, rowid: u32, old: &DocData) {
        self.index_doc(rowid, old, false);
        if let Some(s) = self.sids.get_mut(rowid as usize) {
            self.rowids.remove(s);
            *s = 0;
        }
        self.live.remove(rowid);
        if self.live.is_empty() {
            self.shape_epoch = next_shape_epoch();
        }
    }

    fn index_doc(&mut self, rowid: u32, data: &DocData, add: bool) {
        for (field, ix) in self.indexes.iter_mut() {
            let v = data.get(field.as_str()).unwrap_or(&Value::Null);
            if add {
                ix.insert(v, rowid)
            } else {
                ix.remove(v, rowid)
            }
        }
        let mut reshaped = false;
        for k in data.keys() {
            if add {
                let c = self.field_census.entry(k.to_string()).or_default();
                reshaped |= *c == 0;
                *c += 1;
            } else if let Some(c) = self.field_census.get_mut(k.as_str()) {
                *c -= 1;
                if *c == 0 {
                    self.field_census.remove(k.as_str());
                    reshaped = true;
                }
            }
        }
        if reshaped {
            self.shape_epoch = next_shape_epoch();
        }
    }

    /// Installs a new schema, building indexes for newly indexed fields from `docs`.
    pub fn set_schema(&mut self, schema: CollectionSchema, docs: &[(u32, DocData)]) {
        let wanted: Vec<String> = schema.indexed_fields().map(str::to_string).collect();
        self.indexes.retain(|f, _| wanted.contains(f));
        for f in wanted {
            if let std::collections::hash_map::Entry::Vacant(slot) = self.indexes.entry(f.clone()) {
                let mut ix = new_index(&schema, &f);
                for (rowid, d) in docs {
                    ix.insert(d.get(f.as_str()).unwrap_or(&Value::Null), *rowid);
                }
                slot.insert(ix);
            }
        }
        self.schema = schema;
        self.shape_epoch = next_shape_epoch();
    }

    /// Fraction of row ids that are holes left by deletes.
    pub fn hole_ratio(&self) -> f64 {
        if self.sids.is_empty() {
            0.0
        } else {
            1.0 - self.live.len() as f64 / self.sids.len() as f64
        }
    }

    /// Checks that every index holds exactly the live row ids (used by tests and `verify`).
    pub fn check_indexes(&self) -> Result<(), String> {
        for (f, ix) in &self.indexes {
            if ix.total() != self.live.len() {
                return Err(format!("index `{f}` holds {} entries for {} documents", ix.total(), self.live.len()));
            }
        }
        Ok(())
    }
}
