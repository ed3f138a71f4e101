//! Secondary indexes: ordered value → roaring bitmap of row ids, maintained on every write.

pub mod collection;

use crate::value::{OrdValue, Value, ValueKey};
use roaring::RoaringBitmap;
use std::collections::BTreeMap;
use std::ops::Bound;

pub use collection::CollectionState;

/// An ordered index over one field. Missing values are indexed as `Null`.
///
/// Unique fields also keep a hash map for point lookups, which spares the tree walk's string
/// comparisons on the hottest path (lookup by a unique key).
#[derive(Debug, Default, Clone)]
pub struct FieldIndex {
    map: BTreeMap<OrdValue, RoaringBitmap>,
    point: Option<hashbrown::HashMap<OrdValue, RoaringBitmap>>,
}

impl FieldIndex {
    /// An index that also answers equality from a hash map (for unique fields).
    pub fn with_point_lookups() -> Self {
        FieldIndex { map: BTreeMap::new(), point: Some(hashbrown::HashMap::new()) }
    }

    /// Adds `rowid` under `value`.
    pub fn insert(&mut self, value: &Value, rowid: u32) {
        let key = OrdValue(value.clone());
        if let Some(p) = self.point.as_mut() {
            p.entry(key.clone()).or_default().insert(rowid);
        }
        self.map.entry(key).or_default().insert(rowid);
    }

    /// Removes `rowid` from `value`'s set.
    pub fn remove(&mut self, value: &Value, rowid: u32) {
        let key = OrdValue(value.clone());
        if let Some(p) = self.point.as_mut() {
            if let Some(bm) = p.get_mut(&key) {
                bm.remove(rowid);
                if bm.is_empty() {
                    p.remove(&key);
                }
            }
        }
        if let Some(bm) = self.map.get_mut(&key) {
            bm.remove(rowid);
            if bm.is_empty() {
                self.map.remove(&key);
            }
        }
    }

    /// Row ids whose value equals `value` (Int and Float numerically).
    pub fn eq(&self, value: &Value) -> RoaringBitmap {
        self.eq_ref(value).cloned().unwrap_or_default()
    }

    /// Borrowed equality lookup.
    pub fn eq_ref(&self, value: &Value) -> Option<&RoaringBitmap> {
        match &self.point {
            Some(p) => p.get(&ValueKey(value)),
            None => self.map.get(&OrdValue(value.clone())),
        }
    }

    /// Row ids whose value lies between the bounds and is comparable with them
    /// (a numeric range never matches strings, nulls or booleans).
    pub fn range(&self, lo: Bound<&Value>, hi: Bound<&Value>) -> RoaringBitmap {
        let probe = match (&lo, &hi) {
            (Bound::Included(v) | Bound::Excluded(v), _) => (*v).clone(),
            (_, Bound::Included(v) | Bound::Excluded(v)) => (*v).clone(),
            _ => return self.map.values().fold(RoaringBitmap::new(), |a, b| a | b),
        };
        let lo = map_bound(lo);
        let hi = map_bound(hi);
        if let (Bound::Included(a) | Bound::Excluded(a), Bound::Included(b) | Bound::Excluded(b)) = (&lo, &hi) {
            if a > b {
                return RoaringBitmap::new();
            }
        }
        let mut out = RoaringBitmap::new();
        for (k, bm) in self.map.range((lo, hi)) {
            if k.0.comparable(&probe) {
                out |= bm;
            }
        }
        out
    }

    /// Row ids of string values starting with `prefix`.
    pub fn prefix(&self, prefix: &str) -> RoaringBitmap {
        let start = OrdValue(Value::String(prefix.to_string()));
        let mut out = RoaringBitmap::new();
        for (k, bm) in self.map.range(start..) {
            match &k.0 {
                Value::String(s) if s.starts_with(prefix) => out |= bm,
                _ => break,
            }
        }
        out
    }

    /// Iterates `(value, rowids)` in ascending or descending value order.
    pub fn iter_ordered(&self, ascending: bool) -> Box<dyn Iterator<Item = (&Value, &RoaringBitmap)> + '_> {
        if ascending {
            Box::new(self.map.iter().map(|(k, v)| (&k.0, v)))
        } else {
            Box::new(self.map.iter().rev().map(|(k, v)| (&k.0, v)))
        }
    }

    /// Number of distinct values.
    pub fn distinct(&self) -> usize {
        self.map.len()
    }

    /// Total number of row ids held (for consistency checks).
    pub fn total(&self) -> u64 {
        self.map.values().map(|b| b.len()).sum()
    }
}

fn map_bound(b: Bound<&Value>) -> Bound<OrdValue> {
    match b {
        Bound::Included(v) => Bound::Included(OrdValue(v.clone())),
        Bound::Excluded(v) => Bound::Excluded(OrdValue(v.clone())),
        Bound::Unbounded => Bound::Unbounded,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numeric_range_skips_other_kinds() {
        let mut ix = FieldIndex::default();
        ix.insert(&Value::Int(10), 1);
        ix.insert(&Value::Float(20.5), 2);
        ix.insert(&Value::String("x".into()), 3);
        ix.insert(&Value::Null, 4);
        let r = ix.range(Bound::Excluded(&Value::Float(9.5)), Bound::Unbounded);
        assert_eq!(r.iter().collect::<Vec<_>>(), vec![1, 2]);
        assert_eq!(ix.eq(&Value::Float(10.0)).len(), 1);
        assert!(ix.range(Bound::Included(&Value::Int(5)), Bound::Included(&Value::Int(1))).is_empty());
    }
}
