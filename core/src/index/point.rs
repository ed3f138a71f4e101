//! The hash map of a unique field's index: value → row id, for point lookups.
//!
//! A lookup by a unique key is the hottest read, and on a large collection the map's memory
//! is cold in the CPU cache. So a bucket holds what the lookup reads: short strings (emails,
//! names, codes) inline rather than behind a pointer, and the single row a unique key has
//! rather than a bitmap (whose containers are two more pointers away).

use super::RowIds;
use crate::value::{OrdValue, Value, ValueKey};
use roaring::RoaringBitmap;
use std::hash::{Hash, Hasher};

/// Strings up to this many bytes are stored in the bucket.
const SHORT: usize = 30;

/// Point lookups of one field.
#[derive(Debug, Default, Clone)]
pub(super) struct PointMap {
    map: hashbrown::HashMap<PointKey, Posting, foldhash::fast::RandomState>,
}

/// A key: a short string inline, any other value boxed.
#[derive(Debug, Clone)]
enum PointKey {
    Short { len: u8, bytes: [u8; SHORT] },
    Other(Box<OrdValue>),
}

/// The rows under a key: one (every non-null key of a unique field), or several (nulls).
#[derive(Debug, Clone)]
enum Posting {
    One(u32),
    Many(Box<RoaringBitmap>),
}

impl PointKey {
    fn new(v: &Value) -> Self {
        match v {
            Value::String(s) if s.len() <= SHORT => {
                let mut bytes = [0u8; SHORT];
                bytes[..s.len()].copy_from_slice(s.as_bytes());
                PointKey::Short { len: s.len() as u8, bytes }
            }
            other => PointKey::Other(Box::new(OrdValue(other.clone()))),
        }
    }

    fn short(&self) -> Option<&str> {
        match self {
            // Copied from a `String`, so always UTF-8.
            PointKey::Short { len, bytes } => std::str::from_utf8(&bytes[..*len as usize]).ok(),
            PointKey::Other(_) => None,
        }
    }
}

impl Hash for PointKey {
    // As `ValueKey` hashes the same value, so a borrowed `&Value` finds its entry.
    fn hash<H: Hasher>(&self, state: &mut H) {
        match self {
            PointKey::Short { .. } => crate::value::hash_str(self.short().unwrap_or_default(), state),
            PointKey::Other(v) => ValueKey(&v.0).hash(state),
        }
    }
}

impl PartialEq for PointKey {
    fn eq(&self, other: &Self) -> bool {
        match (self, other) {
            (PointKey::Short { len: a, bytes: x }, PointKey::Short { len: b, bytes: y }) => a == b && x == y,
            (PointKey::Other(a), PointKey::Other(b)) => a == b,
            // A short string is always stored inline, so it never equals a boxed value.
            _ => false,
        }
    }
}

impl Eq for PointKey {}

impl hashbrown::Equivalent<PointKey> for ValueKey<'_> {
    fn equivalent(&self, key: &PointKey) -> bool {
        match (self.0, key) {
            (Value::String(s), PointKey::Short { len, bytes }) => s.as_bytes() == &bytes[..*len as usize],
            (_, PointKey::Short { .. }) => false,
            (v, PointKey::Other(o)) => v.total_cmp(&o.0) == std::cmp::Ordering::Equal,
        }
    }
}

impl PointMap {
    /// Adds `rowid` under `value`.
    pub(super) fn insert(&mut self, value: &Value, rowid: u32) {
        match self.map.get_mut(&ValueKey(value)) {
            None => {
                self.map.insert(PointKey::new(value), Posting::One(rowid));
            }
            Some(posting) => match posting {
                Posting::One(r) if *r == rowid => {}
                Posting::One(r) => *posting = Posting::Many(Box::new([*r, rowid].into_iter().collect())),
                Posting::Many(bm) => {
                    bm.insert(rowid);
                }
            },
        }
    }

    /// Removes `rowid` from `value`'s rows.
    pub(super) fn remove(&mut self, value: &Value, rowid: u32) {
        let key = ValueKey(value);
        let emptied = match self.map.get_mut(&key) {
            Some(Posting::One(r)) => *r == rowid,
            Some(posting @ Posting::Many(_)) => {
                if let Posting::Many(bm) = posting {
                    bm.remove(rowid);
                    if bm.len() == 1 {
                        *posting = Posting::One(bm.min().unwrap_or(rowid));
                    }
                }
                false
            }
            None => false,
        };
        if emptied {
            self.map.remove(&key);
        }
    }

    /// The rows holding `value` (`None` when none does).
    pub(super) fn get(&self, value: &Value) -> Option<RowIds<'_>> {
        self.map.get(&ValueKey(value)).map(|posting| match posting {
            Posting::One(r) => RowIds::One(*r),
            Posting::Many(bm) => RowIds::Set(bm),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_short_and_long_find_their_rows() {
        let mut p = PointMap::default();
        let short = Value::String("x".repeat(SHORT));
        let long = Value::String("x".repeat(SHORT + 1));
        let (empty, accent) = (Value::String(String::new()), Value::String("é".repeat(SHORT / 2)));
        for (i, v) in [&short, &long, &empty, &accent, &Value::Int(3), &Value::Bool(true)].into_iter().enumerate() {
            p.insert(v, i as u32);
        }
        let row = |p: &PointMap, v: &Value| p.get(v).map(|ids| ids.iter().collect::<Vec<_>>());
        assert_eq!(row(&p, &short), Some(vec![0]));
        assert_eq!(row(&p, &long), Some(vec![1]));
        assert_eq!(row(&p, &empty), Some(vec![2]));
        assert_eq!(row(&p, &accent), Some(vec![3]));
        assert_eq!(row(&p, &Value::Float(3.0)), Some(vec![4]), "numbers compare numerically");
        assert_eq!(row(&p, &Value::Bool(true)), Some(vec![5]));
        assert_eq!(row(&p, &Value::String("x".repeat(SHORT - 1))), None);
        assert_eq!(row(&p, &Value::String("3".into())), None, "a string never equals a number");
        // Growth rehashes stored keys: they must hash as the values they stand for.
        for i in 0..5000u32 {
            p.insert(&Value::String(format!("user{i}@example.com")), 100 + i);
        }
        for i in (0..5000u32).step_by(7) {
            assert_eq!(row(&p, &Value::String(format!("user{i}@example.com"))), Some(vec![100 + i]));
        }
        assert_eq!(row(&p, &short), Some(vec![0]));
        assert_eq!(row(&p, &long), Some(vec![1]));
        p.remove(&short, 0);
        p.remove(&long, 9);
        assert_eq!((row(&p, &short), row(&p, &long)), (None, Some(vec![1])));
        assert!(std::mem::size_of::<PointKey>() + std::mem::size_of::<Posting>() <= 48, "a bucket fits a cache line");
    }
}
