//! Secondary indexes, read through a snapshot: roaring posting chunks per (field, value) and
//! a row id per unique value, paged in from the keyspace through the index cache.
//!
//! A unique field keeps its non-null values as unique entries and its nulls (which repeat) as
//! postings; every other indexed field keeps postings only. Either way an index answers
//! equality, ranges, prefixes and an ordered walk of its values.

use crate::db::catalog::{Catalog, IndexDef, COUNT};
use crate::error::{AuroraError, Result};
use crate::storage::chunk;
use crate::storage::index_cache::{Cached, IndexCache};
use crate::storage::keys;
use crate::storage::memtable::{Found, Snapshot};
use crate::value::Value;
use roaring::RoaringBitmap;
use std::ops::Bound;
use std::sync::Arc;

/// The values an index posts a field's value under: the value itself, or for an element index
/// each distinct element of a list (a null or missing field posts null; an empty list, nothing).
pub fn posted_values<'v>(def: &crate::db::catalog::IndexDef, v: &'v Value) -> Vec<&'v Value> {
    match (def.elements, v) {
        (true, Value::Array(items)) => {
            let mut out: Vec<&Value> = Vec::with_capacity(items.len());
            for item in items {
                if !out.iter().any(|x| keys::key_cmp(x, item) == std::cmp::Ordering::Equal) {
                    out.push(item);
                }
            }
            out
        }
        _ => vec![v],
    }
}
/// The indexes of one collection as one snapshot sees them.
pub struct Indexes<'a> {
    /// The snapshot read.
    pub snap: &'a Snapshot,
    /// The collection.
    pub cat: &'a Catalog,
    cache: &'a IndexCache,
}

/// Damage found in an index entry.
fn damaged(cat: &Catalog, what: &str) -> AuroraError {
    AuroraError::Corruption { file: "data".into(), offset: 0, reason: format!("collection `{}`: {what}", cat.name) }
}

/// The type range of keys comparable with `probe` (`None`: comparable with nothing).
fn type_range(probe: &Value) -> Option<(Vec<u8>, Vec<u8>)> {
    let tag = match probe {
        Value::Bool(_) | Value::Int(_) | Value::Float(_) | Value::String(_) | Value::Uuid(_) => {
            let mut t = Vec::new();
            keys::encode_value(probe, &mut t);
            t[0]
        }
        _ => return None,
    };
    Some((vec![tag], vec![tag + 1]))
}

/// The encoded-value bounds `[from, to)` (`to = None`: to the end) of the values between `lo`
/// and `hi` that are comparable with them; an empty range when nothing can match.
fn encoded_bounds(lo: Bound<&Value>, hi: Bound<&Value>) -> (Vec<u8>, Option<Vec<u8>>) {
    let empty = || (vec![0xff], Some(vec![0xff]));
    let probe = match (&lo, &hi) {
        (Bound::Included(v) | Bound::Excluded(v), _) | (_, Bound::Included(v) | Bound::Excluded(v)) => *v,
        _ => return (Vec::new(), None),
    };
    let Some((type_lo, type_hi)) = type_range(probe) else { return empty() };
    let from = match lo {
        Bound::Included(v) => enc(v),
        Bound::Excluded(v) => keys::prefix_end(&enc(v)).unwrap_or_else(|| type_hi.clone()),
        Bound::Unbounded => type_lo,
    };
    let to = match hi {
        Bound::Included(v) => keys::prefix_end(&enc(v)).unwrap_or_else(|| type_hi.clone()),
        Bound::Excluded(v) => enc(v),
        Bound::Unbounded => type_hi.clone(),
    };
    // Bounds of other kinds than the probe's (a mixed range) match nothing.
    let (from, to) = (from.max(vec![type_hi[0] - 1]), to.min(type_hi));
    if from >= to {
        return empty();
    }
    (from, Some(to))
}

fn enc(v: &Value) -> Vec<u8> {
    let mut out = Vec::new();
    keys::encode_value(v, &mut out);
    out
}

fn join(prefix: &[u8], tail: &[u8]) -> Vec<u8> {
    let mut k = Vec::with_capacity(prefix.len() + tail.len());
    k.extend_from_slice(prefix);
    k.extend_from_slice(tail);
    k
}

impl<'a> Indexes<'a> {
    /// The indexes of `cat` in `snap`.
    pub fn new(snap: &'a Snapshot, cat: &'a Catalog, cache: &'a IndexCache) -> Self {
        Indexes { snap, cat, cache }
    }

    /// Number of live documents.
    pub fn count(&self) -> Result<u64> {
        match self.snap.get(&keys::counter(self.cat.id, COUNT))? {
            Some(Found::Bytes(b)) => {
                <[u8; 8]>::try_from(&b[..]).map(u64::from_be_bytes).map_err(|_| damaged(self.cat, "document counter"))
            }
            Some(Found::Chunk(_)) => Err(damaged(self.cat, "document counter")),
            None => Ok(0),
        }
    }

    /// A key's value through the memtable, then the index cache, then the cold store (cached).
    fn cached(&self, key: &[u8], high: Option<u16>) -> Result<Cached> {
        if let Some(p) = self.snap.pending(key) {
            return Ok(match p {
                Some(Found::Bytes(b)) => Cached::Bytes(b),
                Some(Found::Chunk(c)) => Cached::Chunk(c),
                None => Cached::Absent,
            });
        }
        let epoch = self.snap.cold_epoch();
        if let Some(c) = self.cache.get(key, epoch) {
            return Ok(c);
        }
        let c = match (self.snap.cold_get(key)?, high) {
            (None, _) => Cached::Absent,
            (Some(b), Some(h)) => {
                Cached::Chunk(Arc::new(chunk::deserialize(&b, h).ok_or_else(|| damaged(self.cat, "posting chunk"))?))
            }
            (Some(b), None) => Cached::Bytes(b.into()),
        };
        self.cache.put(key, c.clone(), epoch);
        Ok(c)
    }

    /// A chunk (posting or live rows) by key; empty when absent.
    pub fn chunk(&self, key: &[u8], high: u16) -> Result<Arc<RoaringBitmap>> {
        Ok(match self.cached(key, Some(high))? {
            Cached::Chunk(c) => c,
            Cached::Absent => Arc::new(RoaringBitmap::new()),
            Cached::Bytes(b) => {
                Arc::new(chunk::deserialize(&b, high).ok_or_else(|| damaged(self.cat, "posting chunk"))?)
            }
        })
    }

    /// The row holding `value` in unique index `def`, if any (never for null).
    pub fn unique_row(&self, def: &IndexDef, value: &Value) -> Result<Option<u32>> {
        match self.cached(&keys::unique(self.cat.id, def.id, value), None)? {
            Cached::Bytes(b) => Ok(Some(
                <[u8; 4]>::try_from(&b[..]).map(u32::from_be_bytes).map_err(|_| damaged(self.cat, "unique entry"))?,
            )),
            Cached::Absent => Ok(None),
            Cached::Chunk(_) => Err(damaged(self.cat, "unique entry")),
        }
    }

    /// The row a unique entry `key` holds, read without filling the cache: the write path
    /// checks values that are mostly new, and caching each miss would push out what readers use.
    pub fn unique_row_uncached(&self, key: &[u8]) -> Result<Option<u32>> {
        let bytes: Option<Arc<[u8]>> = match self.snap.pending(key) {
            Some(Some(Found::Bytes(b))) => Some(b),
            Some(Some(Found::Chunk(_))) => return Err(damaged(self.cat, "unique entry")),
            Some(None) => None,
            None => match self.cache.get(key, self.snap.cold_epoch()) {
                Some(Cached::Bytes(b)) => Some(b),
                Some(Cached::Absent) => None,
                Some(Cached::Chunk(_)) => return Err(damaged(self.cat, "unique entry")),
                None => self.snap.cold_get(key)?.map(Arc::from),
            },
        };
        bytes
            .map(|b| <[u8; 4]>::try_from(&b[..]).map(u32::from_be_bytes).map_err(|_| damaged(self.cat, "unique entry")))
            .transpose()
    }

    /// Every live row.
    pub fn live(&self) -> Result<RoaringBitmap> {
        let prefix = keys::coll_prefix(self.cat.id, keys::kind::LIVE);
        let mut out = RoaringBitmap::new();
        for item in self.snap.range(&prefix, keys::prefix_end(&prefix).as_deref(), false)? {
            let (k, v) = item?;
            let high = k.get(6..8).and_then(|b| <[u8; 2]>::try_from(b).ok()).map(u16::from_be_bytes);
            let high = high.ok_or_else(|| damaged(self.cat, "live-rows key"))?;
            out |= self.found_chunk(v, high)?.as_ref();
        }
        Ok(out)
    }

    fn found_chunk(&self, f: Found, high: u16) -> Result<Arc<RoaringBitmap>> {
        Ok(match f {
            Found::Chunk(c) => c,
            Found::Bytes(b) => {
                Arc::new(chunk::deserialize(&b, high).ok_or_else(|| damaged(self.cat, "posting chunk"))?)
            }
        })
    }

    /// Rows whose value equals `value` (Int and Float numerically).
    pub fn eq(&self, def: &IndexDef, value: &Value) -> Result<RoaringBitmap> {
        if def.unique && !value.is_null() {
            return Ok(self.unique_row(def, value)?.into_iter().collect());
        }
        let prefix = keys::posting_value(self.cat.id, def.id, value);
        let mut out = RoaringBitmap::new();
        for item in self.snap.range(&prefix, keys::prefix_end(&prefix).as_deref(), false)? {
            let (k, v) = item?;
            let high = high_of(&k).ok_or_else(|| damaged(self.cat, "posting key"))?;
            out |= self.found_chunk(v, high)?.as_ref();
        }
        Ok(out)
    }

    /// Rows whose value lies between the bounds and is comparable with them (a numeric range
    /// never matches strings, nulls or booleans).
    pub fn range(&self, def: &IndexDef, lo: Bound<&Value>, hi: Bound<&Value>) -> Result<RoaringBitmap> {
        let mut out = RoaringBitmap::new();
        for item in self.walk_range(def, lo, hi, true)? {
            out |= &item?.1;
        }
        Ok(out)
    }

    /// Rows of string values starting with `prefix`.
    pub fn prefix(&self, def: &IndexDef, prefix: &str) -> Result<RoaringBitmap> {
        let mut p = Vec::new();
        keys::encode_str_prefix(prefix, &mut p);
        let mut out = RoaringBitmap::new();
        for item in self.walk_between(def, p.clone(), keys::prefix_end(&p), true)? {
            out |= &item?.1;
        }
        Ok(out)
    }

    /// `(value, rows)` for every value of the index, in ascending or descending order.
    pub fn walk(&self, def: &IndexDef, ascending: bool) -> Result<ValueWalk<'_>> {
        self.walk_between(def, Vec::new(), None, ascending)
    }

    /// `(value, rows)` for the values between the bounds (comparable with them), in order.
    pub fn walk_range(
        &self,
        def: &IndexDef,
        lo: Bound<&Value>,
        hi: Bound<&Value>,
        ascending: bool,
    ) -> Result<ValueWalk<'_>> {
        let (from, to) = encoded_bounds(lo, hi);
        self.walk_between(def, from, to, ascending)
    }

    /// The values of a non-unique index between the bounds, in order, with their encodings,
    /// reading one key per value: a top-k walk then reads only the chunks it needs
    /// ([`Indexes::value_chunks`]) instead of every row of every value it passes.
    pub fn walk_values(
        &self,
        def: &IndexDef,
        lo: Bound<&Value>,
        hi: Bound<&Value>,
        ascending: bool,
    ) -> Result<ValueKeys<'_>> {
        let (from, to) = encoded_bounds(lo, hi);
        let prefix = keys::posting_field(self.cat.id, def.id);
        let to = match to {
            Some(t) => Some(join(&prefix, &t)),
            None => keys::prefix_end(&prefix),
        };
        Ok(ValueKeys { ix: self, from: join(&prefix, &from), to, prefix, ascending, done: false })
    }

    /// The rows posted under one value (its encoding from [`Indexes::walk_values`]), a chunk of
    /// 65,536 rows at a time, in row order or reversed; read lazily, so stopping early reads less.
    pub fn value_chunks(
        &self,
        def: &IndexDef,
        encoded: &[u8],
        reverse: bool,
    ) -> Result<impl Iterator<Item = Result<Arc<RoaringBitmap>>> + '_> {
        let p = join(&keys::posting_field(self.cat.id, def.id), encoded);
        let chunks = self.snap.range(&p, keys::prefix_end(&p).as_deref(), reverse)?;
        let len = p.len() + 2;
        Ok(chunks.filter_map(move |item| match item {
            Err(e) => Some(Err(e)),
            // Only this value's keys: a value, then two bytes of row-id high bits.
            Ok((k, _)) if k.len() != len => None,
            Ok((k, v)) => {
                Some(high_of(&k).ok_or_else(|| damaged(self.cat, "posting key")).and_then(|h| self.found_chunk(v, h)))
            }
        }))
    }

    /// `(value, rows)` for value encodings in `[from, to)`, in order.
    fn walk_between(
        &self,
        def: &IndexDef,
        from: Vec<u8>,
        to: Option<Vec<u8>>,
        ascending: bool,
    ) -> Result<ValueWalk<'_>> {
        let posting = keys::posting_field(self.cat.id, def.id);
        let bound = |prefix: &[u8], to: &Option<Vec<u8>>| match to {
            Some(t) => Some(join(prefix, t)),
            None => keys::prefix_end(prefix),
        };
        let postings = self.snap.range(&join(&posting, &from), bound(&posting, &to).as_deref(), !ascending)?;
        let uniques = if def.unique {
            let unique = keys::unique_field(self.cat.id, def.id);
            Some(self.snap.range(&join(&unique, &from), bound(&unique, &to).as_deref(), !ascending)?.peekable())
        } else {
            None
        };
        Ok(ValueWalk {
            ix: self,
            postings: postings.peekable(),
            posting_prefix: posting.len(),
            uniques,
            unique_prefix: keys::unique_field(self.cat.id, def.id).len(),
            ascending,
        })
    }
}

/// The high bits of a posting key (its last two bytes).
fn high_of(key: &[u8]) -> Option<u16> {
    let n = key.len();
    key.get(n.checked_sub(2)?..).and_then(|b| <[u8; 2]>::try_from(b).ok()).map(u16::from_be_bytes)
}

/// The distinct values of a non-unique index in a key range, in order, each found by a fresh
/// seek past the previous one (see [`Indexes::walk_values`]).
pub struct ValueKeys<'a> {
    ix: &'a Indexes<'a>,
    /// The index's posting prefix (collection, kind, field).
    prefix: Vec<u8>,
    /// Keys still to visit: `from <= key < to`.
    from: Vec<u8>,
    to: Option<Vec<u8>>,
    ascending: bool,
    done: bool,
}

impl ValueKeys<'_> {
    /// The next value and its encoding, moving the range past it.
    fn step(&mut self) -> Result<Option<(Value, Vec<u8>)>> {
        let mut range = self.ix.snap.range(&self.from, self.to.as_deref(), !self.ascending)?;
        let Some(item) = range.next() else { return Ok(None) };
        let (k, _) = item?;
        let encoded = k
            .get(self.prefix.len()..k.len().saturating_sub(2))
            .filter(|e| !e.is_empty())
            .ok_or_else(|| damaged(self.ix.cat, "posting key"))?
            .to_vec();
        let at = join(&self.prefix, &encoded);
        if self.ascending {
            match keys::prefix_end(&at) {
                Some(end) => self.from = end,
                None => self.done = true,
            }
        } else {
            self.to = Some(at);
        }
        let mut pos = 0;
        let value = keys::decode_value(&encoded, &mut pos)
            .filter(|_| pos == encoded.len())
            .ok_or_else(|| damaged(self.ix.cat, "index key"))?;
        Ok(Some((value, encoded)))
    }
}

impl Iterator for ValueKeys<'_> {
    type Item = Result<(Value, Vec<u8>)>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.done {
            return None;
        }
        match self.step() {
            Ok(Some(v)) => Some(Ok(v)),
            Ok(None) => {
                self.done = true;
                None
            }
            Err(e) => {
                self.done = true;
                Some(Err(e))
            }
        }
    }
}

/// An index's values in order with their rows: postings grouped by value, merged with unique
/// entries.
pub struct ValueWalk<'a> {
    ix: &'a Indexes<'a>,
    postings: std::iter::Peekable<crate::storage::memtable::SnapshotRange<'a>>,
    posting_prefix: usize,
    uniques: Option<std::iter::Peekable<crate::storage::memtable::SnapshotRange<'a>>>,
    unique_prefix: usize,
    ascending: bool,
}

impl ValueWalk<'_> {
    /// The value encoding of the next posting group, if any.
    fn next_posting_value(&mut self) -> Option<Result<Vec<u8>>> {
        match self.postings.peek()? {
            Ok((k, _)) => {
                let end = k.len().checked_sub(2)?;
                Some(Ok(k.get(self.posting_prefix..end)?.to_vec()))
            }
            Err(_) => self.postings.next().map(|r| r.map(|_| Vec::new())),
        }
    }

    fn posting_group(&mut self, value: &[u8]) -> Result<RoaringBitmap> {
        let mut rows = RoaringBitmap::new();
        while let Some(Ok((k, _))) = self.postings.peek() {
            let end = k.len().saturating_sub(2);
            if k.get(self.posting_prefix..end) != Some(value) {
                break;
            }
            let Some(Ok((k, v))) = self.postings.next() else { break };
            let high = high_of(&k).ok_or_else(|| damaged(self.ix.cat, "posting key"))?;
            rows |= self.ix.found_chunk(v, high)?.as_ref();
        }
        Ok(rows)
    }

    fn value_of(&self, encoded: &[u8]) -> Result<Value> {
        let mut at = 0;
        keys::decode_value(encoded, &mut at)
            .filter(|_| at == encoded.len())
            .ok_or_else(|| damaged(self.ix.cat, "index key"))
    }
}

impl Iterator for ValueWalk<'_> {
    type Item = Result<(Value, RoaringBitmap)>;

    fn next(&mut self) -> Option<Self::Item> {
        loop {
            let posting = match self.next_posting_value() {
                Some(Ok(v)) => Some(v),
                Some(Err(e)) => return Some(Err(e)),
                None => None,
            };
            let unique = match self.uniques.as_mut().and_then(|u| u.peek()) {
                Some(Ok((k, _))) => Some(k.get(self.unique_prefix..).unwrap_or_default().to_vec()),
                Some(Err(_)) => {
                    return self.uniques.as_mut()?.next().map(|r| r.map(|_| (Value::Null, RoaringBitmap::new())))
                }
                None => None,
            };
            let take_unique = match (&posting, &unique) {
                (None, None) => return None,
                (Some(_), None) => false,
                (None, Some(_)) => true,
                (Some(p), Some(u)) => (u < p) == self.ascending,
            };
            let result = if take_unique {
                let (k, v) = match self.uniques.as_mut()?.next()? {
                    Ok(kv) => kv,
                    Err(e) => return Some(Err(e)),
                };
                let row = match v {
                    Found::Bytes(b) => <[u8; 4]>::try_from(&b[..]).map(u32::from_be_bytes).ok(),
                    Found::Chunk(_) => None,
                };
                let value = self.value_of(k.get(self.unique_prefix..).unwrap_or_default());
                match (value, row) {
                    (Ok(v), Some(r)) => Ok((v, std::iter::once(r).collect())),
                    (Err(e), _) => Err(e),
                    (_, None) => Err(damaged(self.ix.cat, "unique entry")),
                }
            } else {
                let p = posting?;
                match (self.value_of(&p), self.posting_group(&p)) {
                    (Ok(v), Ok(rows)) if rows.is_empty() => {
                        let _ = v;
                        continue;
                    }
                    (Ok(v), Ok(rows)) => Ok((v, rows)),
                    (Err(e), _) | (_, Err(e)) => Err(e),
                }
            };
            return Some(result);
        }
    }
}
