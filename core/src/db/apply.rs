//! From document changes to key writes: the document itself, its system-id entry, the live-rows
//! chunk, its posting chunks and unique entries, the census and the counters. The same code
//! serves a commit and the replay of its WAL record, so both leave the same keys.

use super::catalog::{Catalog, COUNT, NEXT_ROWID};
use crate::error::Result;
use crate::index::Indexes;
use crate::storage::chunk;
use crate::storage::index_cache::IndexCache;
use crate::storage::keys;
use crate::storage::memtable::{Pending, Snapshot};
use crate::types::DocData;
use crate::value::Value;
use crate::FieldName;
use roaring::RoaringBitmap;
/// Hash maps of one commit's keys, with a fast hash seeded per process.
type HashMap<K, V> = std::collections::HashMap<K, V, foldhash::fast::RandomState>;
use std::sync::Arc;

/// One document change of a commit, in commit order.
pub(crate) struct Change {
    /// The collection.
    pub cat: Arc<Catalog>,
    /// The document's row.
    pub rowid: u32,
    /// Its system id.
    pub sid: u128,
    /// The document before (None: inserted).
    pub before: Option<Arc<DocData>>,
    /// After, with its stored bytes (None: deleted).
    pub after: Option<(Arc<DocData>, Arc<[u8]>)>,
}

/// Per collection: the catalog, census changes (field id → documents gained or lost) and the
/// change in live documents.
type CensusChanges = HashMap<u32, (Arc<Catalog>, HashMap<u16, i64>, i64)>;

/// A commit's key writes, read against the state before it, and the census and count changes
/// still to apply to the catalogs (only once the commit is sure to happen).
pub(crate) struct Prepared {
    writes: Vec<(Vec<u8>, Pending)>,
    census: CensusChanges,
}

impl Prepared {
    /// Adds raw key writes (the job queue) to the commit.
    pub(crate) fn raw(&mut self, raw: Vec<(Vec<u8>, Option<Vec<u8>>)>) {
        for (k, v) in raw {
            self.writes.push((k, v.map_or(Pending::Delete, |v| Pending::Put(Arc::from(v)))));
        }
    }

    /// Applies the census and count changes to the catalogs and returns every key write.
    pub(crate) fn finish(mut self) -> Vec<(Vec<u8>, Pending)> {
        for (coll, (cat, fields, live)) in self.census {
            for (id, n) in cat.adjust(&fields, live) {
                self.writes.push((keys::census(coll, id), Pending::Put(Arc::from(&n.to_be_bytes()[..]))));
            }
            self.writes
                .push((keys::counter(coll, COUNT), Pending::Put(Arc::from(&cat.live_count().to_be_bytes()[..]))));
            self.writes.push((
                keys::counter(coll, NEXT_ROWID),
                Pending::Put(Arc::from(&u64::from(cat.next_rowid()).to_be_bytes()[..])),
            ));
        }
        self.writes
    }
}

/// The key writes of `changes` (and of `fields`, dictionary names they introduce), read
/// against `snap` (all earlier commits). Reads only: nothing changes until [`Prepared::finish`].
pub(crate) fn prepare(
    snap: &Snapshot,
    cache: &IndexCache,
    changes: &[Change],
    fields: &[(Arc<Catalog>, u16, FieldName)],
) -> Result<Prepared> {
    let mut out: Vec<(Vec<u8>, Pending)> = Vec::with_capacity(changes.len() * 4 + fields.len());
    for (cat, id, name) in fields {
        out.push((keys::field(cat.id, *id), Pending::Put(Arc::from(name.as_bytes()))));
    }
    // Chunks are read once, changed in memory for the whole commit, written once.
    let mut chunks: HashMap<Vec<u8>, (u16, RoaringBitmap)> = HashMap::default();
    let mut uniques: HashMap<Vec<u8>, Option<u32>> = HashMap::default();
    let mut census: CensusChanges = HashMap::default();
    // The chunk key being looked up (an owned copy is made only for a chunk's first change).
    let mut probe: Vec<u8> = Vec::with_capacity(64);
    let mut ids = FieldIds::default();

    for c in changes {
        let ix = Indexes::new(snap, &c.cat, cache);
        let chunk_at = |chunks: &mut HashMap<Vec<u8>, (u16, RoaringBitmap)>,
                        key: &[u8],
                        high: u16,
                        insert: bool,
                        row: u32|
         -> Result<()> {
            let bm = match chunks.get_mut(key) {
                Some((_, bm)) => bm,
                None => {
                    let current = ix.chunk(key, high)?;
                    &mut chunks.entry(key.to_vec()).or_insert((high, (*current).clone())).1
                }
            };
            if insert {
                bm.insert(row);
            } else {
                bm.remove(row);
            }
            Ok(())
        };
        let high = chunk::high(c.rowid);
        let coll = c.cat.id;
        let stats = census.entry(coll).or_insert_with(|| (c.cat.clone(), HashMap::default(), 0));
        match &c.after {
            Some((_, bytes)) => out.push((keys::doc(coll, c.rowid), Pending::Put(bytes.clone()))),
            None => out.push((keys::doc(coll, c.rowid), Pending::Delete)),
        }
        match (&c.before, &c.after) {
            (None, Some(_)) => {
                out.push((keys::sid(coll, c.sid), Pending::Put(Arc::from(&c.rowid.to_be_bytes()[..]))));
                chunk_at(&mut chunks, &keys::live(coll, high), high, true, c.rowid)?;
                stats.2 += 1;
            }
            (Some(_), None) => {
                out.push((keys::sid(coll, c.sid), Pending::Delete));
                chunk_at(&mut chunks, &keys::live(coll, high), high, false, c.rowid)?;
                stats.2 -= 1;
            }
            _ => {}
        }
        // Census: top-level fields gained and lost.
        for (data, delta) in [(c.before.as_deref(), -1i64), (c.after.as_ref().map(|a| a.0.as_ref()), 1)] {
            for name in data.into_iter().flat_map(|d| d.keys()) {
                if let Some(id) = ids.get(coll, name, &c.cat) {
                    *stats.1.entry(id).or_default() += delta;
                }
            }
        }
        for def in c.cat.indexes().iter() {
            let old = c.before.as_deref().map(|d| field_or_null(d, def.field.as_str()));
            let new = c.after.as_ref().map(|(d, _)| field_or_null(d, def.field.as_str()));
            if let (Some(o), Some(n)) = (old, new) {
                if keys::key_cmp(o, n) == std::cmp::Ordering::Equal {
                    continue;
                }
            }
            if def.elements {
                // Each element is a posting: remove the rows from the elements that went away,
                // add them to the ones that came.
                let olds = old.map(|o| crate::index::posted_values(def, o)).unwrap_or_default();
                let news = new.map(|n| crate::index::posted_values(def, n)).unwrap_or_default();
                let has =
                    |set: &[&Value], v: &Value| set.iter().any(|x| keys::key_cmp(x, v) == std::cmp::Ordering::Equal);
                for o in olds.iter().filter(|o| !has(&news, o)) {
                    keys::posting_into(&mut probe, coll, def.id, o, high);
                    chunk_at(&mut chunks, &probe, high, false, c.rowid)?;
                }
                for n in news.iter().filter(|n| !has(&olds, n)) {
                    keys::posting_into(&mut probe, coll, def.id, n, high);
                    chunk_at(&mut chunks, &probe, high, true, c.rowid)?;
                }
                continue;
            }
            if let Some(o) = old {
                if def.unique && !o.is_null() {
                    let key = keys::unique(coll, def.id, o);
                    let current = match uniques.get(&key) {
                        Some(v) => *v,
                        None => ix.unique_row(def, o)?,
                    };
                    if current == Some(c.rowid) {
                        uniques.insert(key, None);
                    }
                } else {
                    keys::posting_into(&mut probe, coll, def.id, o, high);
                    chunk_at(&mut chunks, &probe, high, false, c.rowid)?;
                }
            }
            if let Some(n) = new {
                if def.unique && !n.is_null() {
                    uniques.insert(keys::unique(coll, def.id, n), Some(c.rowid));
                } else {
                    keys::posting_into(&mut probe, coll, def.id, n, high);
                    chunk_at(&mut chunks, &probe, high, true, c.rowid)?;
                }
            }
        }
    }
    for (key, (_, bm)) in chunks {
        out.push((key, Pending::Chunk(Arc::new(bm))));
    }
    for (key, row) in uniques {
        out.push((
            key,
            match row {
                Some(r) => Pending::Put(Arc::from(&r.to_be_bytes()[..])),
                None => Pending::Delete,
            },
        ));
    }
    Ok(Prepared { writes: out, census })
}

/// A field's value, null when absent.
fn field_or_null<'d>(d: &'d DocData, name: &str) -> &'d Value {
    const NULL: &Value = &Value::Null;
    d.get(name).unwrap_or(NULL)
}

/// Dictionary ids of the field names a commit meets, remembered for the commit: documents of
/// one batch repeat the same (shared) names, so most lookups are a pointer comparison.
#[derive(Default)]
struct FieldIds {
    seen: Vec<(u32, FieldName, Option<u16>)>,
}

impl FieldIds {
    fn get(&mut self, coll: u32, name: &FieldName, cat: &Catalog) -> Option<u16> {
        if let Some((_, _, id)) = self.seen.iter().find(|(c, n, _)| *c == coll && n.same_as(name)) {
            return *id;
        }
        let id = cat.dict.id(name);
        if self.seen.len() < 64 {
            self.seen.push((coll, name.clone(), id));
        }
        id
    }
}
