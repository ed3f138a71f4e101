//! Secondary indexes: ordered value → roaring bitmap of row ids, maintained on every write.

pub mod collection;
mod point;

use crate::value::{OrdValue, Value};
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
    point: Option<point::PointMap>,
}

/// The row ids holding one value, borrowed from an index.
#[derive(Debug, Clone, Copy)]
pub enum RowIds<'a> {
    /// Exactly this row.
    One(u32),
    /// The rows of a bitmap (never empty).
    Set(&'a RoaringBitmap),
}

/// Row ids in ascending order: one, or a bitmap's (a single row needs no bitmap iterator).
pub enum RowIdIter<'a> {
    /// At most one row.
    One(Option<u32>),
    /// A bitmap's rows.
    Set(roaring::bitmap::Iter<'a>),
}

impl Iterator for RowIdIter<'_> {
    type Item = u32;

    fn next(&mut self) -> Option<u32> {
        match self {
            RowIdIter::One(id) => id.take(),
            RowIdIter::Set(it) => it.next(),
        }
    }
}

impl RowIds<'_> {
    /// Number of rows.
    pub fn len(&self) -> u64 {
        match self {
            RowIds::One(_) => 1,
            RowIds::Set(s) => s.len(),
        }
    }

    /// True when no row holds the value (never for a value an index returned).
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// True when `rowid` is among the rows.
    pub fn contains(&self, rowid: u32) -> bool {
        match self {
            RowIds::One(r) => *r == rowid,
            RowIds::Set(s) => s.contains(rowid),
        }
    }

    /// The rows in ascending order.
    pub fn iter(&self) -> RowIdIter<'_> {
        match self {
            RowIds::One(r) => RowIdIter::One(Some(*r)),
            RowIds::Set(s) => RowIdIter::Set(s.iter()),
        }
    }

    /// The rows as an owned bitmap.
    pub fn to_bitmap(&self) -> RoaringBitmap {
        match self {
            RowIds::One(r) => std::iter::once(*r).collect(),
            RowIds::Set(s) => (*s).clone(),
        }
    }
}

impl FieldIndex {
    /// An index that also answers equality from a hash map (for unique fields).
    pub fn with_point_lookups() -> Self {
        FieldIndex { map: BTreeMap::new(), point: Some(point::PointMap::default()) }
    }

    /// Adds `rowid` under `value`.
    pub fn insert(&mut self, value: &Value, rowid: u32) {
        if let Some(p) = self.point.as_mut() {
            p.insert(value, rowid);
        }
        self.map.entry(OrdValue(value.clone())).or_default().insert(rowid);
    }

    /// Removes `rowid` from `value`'s set.
    pub fn remove(&mut self, value: &Value, rowid: u32) {
        if let Some(p) = self.point.as_mut() {
            p.remove(value, rowid);
        }
        let key = OrdValue(value.clone());
        if let Some(bm) = self.map.get_mut(&key) {
            bm.remove(rowid);
            if bm.is_empty() {
                self.map.remove(&key);
            }
        }
    }

    /// Row ids whose value equals `value` (Int and Float numerically).
    pub fn eq(&self, value: &Value) -> RoaringBitmap {
        self.eq_ref(value).map(|ids| ids.to_bitmap()).unwrap_or_default()
    }

    /// Borrowed equality lookup (`None` when no row holds the value).
    pub fn eq_ref(&self, value: &Value) -> Option<RowIds<'_>> {
        match &self.point {
            Some(p) => p.get(value),
            None => self.map.get(&OrdValue(value.clone())).map(RowIds::Set),
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

    #[test]
    fn point_postings_grow_and_shrink_between_one_row_and_a_bitmap() {
        let rows = |ix: &FieldIndex, v: &Value| ix.eq_ref(v).map(|ids| ids.iter().collect::<Vec<_>>());
        let mut ix = FieldIndex::with_point_lookups();
        let a = Value::String("a@x.io".into());
        ix.insert(&a, 7);
        ix.insert(&a, 7);
        assert!(matches!(ix.eq_ref(&a), Some(RowIds::One(7))));
        // Nulls repeat under a unique field: the key's rows become a bitmap, and back.
        for r in [3, 9, 5] {
            ix.insert(&Value::Null, r);
        }
        assert_eq!(rows(&ix, &Value::Null), Some(vec![3, 5, 9]));
        assert_eq!(ix.eq(&Value::Null).len(), 3);
        ix.remove(&Value::Null, 5);
        ix.remove(&Value::Null, 3);
        assert!(matches!(ix.eq_ref(&Value::Null), Some(RowIds::One(9))));
        ix.remove(&Value::Null, 4); // not there: nothing changes
        assert_eq!(rows(&ix, &Value::Null), Some(vec![9]));
        ix.remove(&Value::Null, 9);
        assert_eq!(rows(&ix, &Value::Null), None);
        ix.remove(&a, 8);
        assert_eq!(rows(&ix, &a), Some(vec![7]));
        ix.remove(&a, 7);
        assert_eq!(rows(&ix, &a), None);
        // The ordered map agrees with the point map throughout.
        assert_eq!(ix.total(), 0);
        // Int and Float keys that are equal numerically find each other.
        ix.insert(&Value::Int(2), 1);
        assert_eq!(rows(&ix, &Value::Float(2.0)), Some(vec![1]));
        assert!(RowIds::One(1).contains(1) && !RowIds::One(1).contains(2));
    }
}
