//! What the engine keeps in memory about a collection: its id, schema, field dictionary, which
//! fields its documents have (for validation) and its row-id counter. Nothing here grows with
//! the number of documents; documents, indexes and counts live in the keyspace.

use crate::error::{hint_for, AuroraError, Result};
use crate::storage::doc_codec::FieldDict;
use crate::storage::keys;
use crate::storage::memtable::{Found, Snapshot};
use crate::types::CollectionSchema;
use crate::FieldName;
use parking_lot::{Mutex, RwLock};
use std::collections::HashMap;
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::sync::Arc;

/// Source of shape epochs: unique across every catalog of the process.
static SHAPE_EPOCHS: AtomicU64 = AtomicU64::new(1);

fn next_shape_epoch() -> u64 {
    SHAPE_EPOCHS.fetch_add(1, Ordering::Relaxed)
}

/// Counter of the next row id to hand out.
pub(crate) const NEXT_ROWID: &str = "next_rowid";
/// Counter of live documents.
pub(crate) const COUNT: &str = "count";

/// An index of a collection: on a field, by its dictionary id.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IndexDef {
    /// The indexed field.
    pub field: String,
    /// Its dictionary id (keys use it).
    pub id: u16,
    /// Values are unique (one row per non-null value).
    pub unique: bool,
    /// A list field indexed by element: each element has a posting (a null or missing field
    /// has the null posting), so it serves `contains` / `containsAny` / `containsAll` and null
    /// checks, and nothing that compares whole lists.
    pub elements: bool,
}

/// The in-memory description of one collection.
pub struct Catalog {
    /// Numeric id: the keyspace prefix of the collection.
    pub id: u32,
    /// Collection name.
    pub name: String,
    schema: RwLock<Arc<CollectionSchema>>,
    indexes: RwLock<Arc<Vec<IndexDef>>>,
    /// Top-level field names ↔ ids, shared by every stored document.
    pub dict: FieldDict,
    /// How many documents have each top-level field (by id).
    census: Mutex<HashMap<u16, u64>>,
    /// Live documents as of the last commit (validation only; counts read from snapshots).
    live: AtomicU64,
    next_rowid: AtomicU32,
    shape_epoch: AtomicU64,
}

impl std::fmt::Debug for Catalog {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Catalog({} #{})", self.name, self.id)
    }
}

fn u64_of(b: &[u8]) -> Option<u64> {
    <[u8; 8]>::try_from(b).ok().map(u64::from_be_bytes)
}

impl Catalog {
    /// A catalog for a collection being created (nothing stored yet).
    pub(crate) fn new(id: u32, name: &str, schema: CollectionSchema) -> Catalog {
        Catalog {
            id,
            name: name.to_string(),
            schema: RwLock::new(Arc::new(schema)),
            indexes: RwLock::new(Arc::new(Vec::new())),
            dict: FieldDict::default(),
            census: Mutex::new(HashMap::new()),
            live: AtomicU64::new(0),
            next_rowid: AtomicU32::new(0),
            shape_epoch: AtomicU64::new(next_shape_epoch()),
        }
    }

    /// Loads a collection's catalog from the keyspace (schema, dictionary, census, counters).
    pub(crate) fn load(snap: &Snapshot, id: u32, name: &str, file: &std::path::Path) -> Result<Catalog> {
        let damage = |what: String| AuroraError::Corruption { file: file.to_path_buf(), offset: 0, reason: what };
        let bytes = |f: Found| match f {
            Found::Bytes(b) => Ok(b),
            Found::Chunk(_) => Err(damage(format!("collection `{name}`: a chunk where metadata belongs"))),
        };
        let schema_bytes = snap
            .get(&keys::coll_prefix(id, keys::kind::SCHEMA))?
            .ok_or_else(|| damage(format!("collection `{name}` has no schema")))?;
        let schema: CollectionSchema = serde_json::from_slice(&bytes(schema_bytes)?)
            .map_err(|e| damage(format!("schema of collection `{name}` is unreadable: {e}")))?;
        let cat = Catalog::new(id, name, schema);
        let mut names = Vec::new();
        for item in snap.range(
            &keys::coll_prefix(id, keys::kind::FIELD),
            keys::prefix_end(&keys::coll_prefix(id, keys::kind::FIELD)).as_deref(),
            false,
        )? {
            let (k, v) = item?;
            let fid = k.get(6..8).and_then(|b| <[u8; 2]>::try_from(b).ok()).map(u16::from_be_bytes);
            let text = String::from_utf8(bytes(v)?.to_vec()).ok();
            match (fid, text) {
                (Some(fid), Some(t)) if fid as usize == names.len() => names.push(FieldName::from(t)),
                _ => return Err(damage(format!("collection `{name}`: field dictionary out of order"))),
            }
        }
        let cat = Catalog { dict: FieldDict::from_names(names), ..cat };
        let mut census = HashMap::new();
        let census_prefix = keys::coll_prefix(id, keys::kind::CENSUS);
        for item in snap.range(&census_prefix, keys::prefix_end(&census_prefix).as_deref(), false)? {
            let (k, v) = item?;
            let fid = k.get(6..8).and_then(|b| <[u8; 2]>::try_from(b).ok()).map(u16::from_be_bytes);
            if let (Some(fid), Some(n)) = (fid, u64_of(&bytes(v)?)) {
                census.insert(fid, n);
            }
        }
        *cat.census.lock() = census;
        let counter = |c: &str| -> Result<u64> {
            Ok(match snap.get(&keys::counter(id, c))? {
                Some(f) => u64_of(&bytes(f)?).ok_or_else(|| damage(format!("collection `{name}`: counter `{c}`")))?,
                None => 0,
            })
        };
        cat.next_rowid.store(u32::try_from(counter(NEXT_ROWID)?).unwrap_or(u32::MAX), Ordering::Relaxed);
        cat.live.store(counter(COUNT)?, Ordering::Relaxed);
        let defs = cat.index_defs_for(&cat.schema(), &mut Vec::new())?;
        *cat.indexes.write() = Arc::new(defs);
        Ok(cat)
    }

    /// The current schema.
    pub fn schema(&self) -> Arc<CollectionSchema> {
        self.schema.read().clone()
    }

    /// The indexes of the current schema.
    pub fn indexes(&self) -> Arc<Vec<IndexDef>> {
        self.indexes.read().clone()
    }

    /// The index on `field`, if it has one.
    pub fn index(&self, field: &str) -> Option<IndexDef> {
        self.indexes.read().iter().find(|d| d.field == field).cloned()
    }

    /// The index definitions `schema` asks for, with field ids (new names are assigned and
    /// listed in `added`).
    pub(crate) fn index_defs_for(
        &self,
        schema: &CollectionSchema,
        added: &mut Vec<(u16, FieldName)>,
    ) -> Result<Vec<IndexDef>> {
        let mut defs = Vec::new();
        for f in schema.indexed_fields() {
            let id = self.dict.id_or_assign(&FieldName::from(f), added).ok_or_else(|| AuroraError::Validation {
                collection: self.name.clone(),
                message: format!("cannot index `{f}`: the collection has more than 65,536 field names"),
            })?;
            let unique = schema.fields.get(f).is_some_and(|d| d.unique);
            let elements = !unique && schema.indexes_elements(f);
            defs.push(IndexDef { field: f.to_string(), id, unique, elements });
        }
        Ok(defs)
    }

    /// Installs a new schema and its indexes.
    pub(crate) fn set_schema(&self, schema: CollectionSchema, indexes: Vec<IndexDef>) {
        *self.schema.write() = Arc::new(schema);
        *self.indexes.write() = Arc::new(indexes);
        self.shape_epoch.store(next_shape_epoch(), Ordering::Relaxed);
    }

    /// Changes (to a value no catalog ever had) whenever what [`Catalog::knows_field`],
    /// [`Catalog::accepts_field`] or the schema answer may have changed: lets callers cache
    /// field validation.
    pub fn shape_epoch(&self) -> u64 {
        self.shape_epoch.load(Ordering::Relaxed)
    }

    /// Live documents as of the last commit (a query counts through its snapshot instead).
    pub fn live_count(&self) -> u64 {
        self.live.load(Ordering::Relaxed)
    }

    /// True when some schema field or stored document has a top-level field of this name.
    pub fn knows_field(&self, field: &str) -> bool {
        let top = field.split('.').next().unwrap_or(field);
        if top == "_sid" || self.schema.read().fields.contains_key(top) {
            return true;
        }
        self.dict.id(top).is_some_and(|id| self.census.lock().get(&id).is_some_and(|n| *n > 0))
    }

    /// True when a query may name this field: it is known, or nothing at all is known yet
    /// (an empty collection without a schema accepts any shape).
    pub fn accepts_field(&self, field: &str) -> bool {
        self.knows_field(field) || (self.schema.read().fields.is_empty() && self.live_count() == 0)
    }

    /// All field names known from the schema and the stored documents.
    pub fn known_fields(&self) -> Vec<String> {
        let schema = self.schema();
        let mut v: Vec<String> = schema.fields.keys().cloned().collect();
        let names = self.dict.names();
        for (id, n) in self.census.lock().iter() {
            if *n > 0 {
                if let Some(name) = names.get(*id as usize) {
                    if !schema.fields.contains_key(name.as_str()) {
                        v.push(name.to_string());
                    }
                }
            }
        }
        v
    }

    /// The error for a field nothing knows, naming the closest known one.
    pub fn unknown_field(&self, field: &str) -> AuroraError {
        let known = self.known_fields();
        AuroraError::FieldNotFound {
            line: 0,
            column: 0,
            collection: self.name.clone(),
            field: field.to_string(),
            hint: hint_for(field, known.iter().map(String::as_str)),
        }
    }

    /// The next row id (under the commit lock); `None` once 2^32 rows were handed out.
    pub(crate) fn take_rowid(&self) -> Option<u32> {
        let r = self.next_rowid.load(Ordering::Relaxed);
        (r < u32::MAX).then(|| {
            self.next_rowid.store(r + 1, Ordering::Relaxed);
            r
        })
    }

    /// The row id the next insert gets.
    pub(crate) fn next_rowid(&self) -> u32 {
        self.next_rowid.load(Ordering::Relaxed)
    }

    /// Puts the row-id counter back (a commit that did not happen).
    pub(crate) fn reset_rowid(&self, to: u32) {
        self.next_rowid.store(to, Ordering::Relaxed);
    }

    /// Applies a commit's census changes (field id → documents gained or lost) and live-count
    /// change; returns the census values to store. Bumps the shape epoch when a field appears
    /// or disappears.
    pub(crate) fn adjust(&self, census: &HashMap<u16, i64, impl std::hash::BuildHasher>, live: i64) -> Vec<(u16, u64)> {
        let mut c = self.census.lock();
        let mut reshaped = false;
        let mut out = Vec::with_capacity(census.len());
        for (id, delta) in census {
            let n = c.entry(*id).or_default();
            let before = *n;
            *n = n.saturating_add_signed(*delta);
            reshaped |= (before == 0) != (*n == 0);
            out.push((*id, *n));
        }
        let before = self.live.load(Ordering::Relaxed);
        let after = before.saturating_add_signed(live);
        self.live.store(after, Ordering::Relaxed);
        reshaped |= (before == 0) != (after == 0);
        if reshaped {
            self.shape_epoch.store(next_shape_epoch(), Ordering::Relaxed);
        }
        out
    }
}

/// Catalogs of every collection, by name.
pub(crate) type Catalogs = HashMap<String, Arc<Catalog>, foldhash::fast::RandomState>;
