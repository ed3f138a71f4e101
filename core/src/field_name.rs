//! Interned document field names.
//!
//! Every document of a collection repeats the same few field names. Held as `String`s, each
//! document's `email` key is an allocation of its own, so reading a field of a document that
//! is cold in the CPU cache compares against cold memory once per field. Interned, the names
//! share one allocation that every read keeps warm, equal names compare by pointer first, and
//! decoding a stored document allocates no key at all.

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use std::borrow::Borrow;
use std::fmt;
use std::hash::{Hash, Hasher};
use std::ops::Deref;
use std::sync::{Arc, LazyLock};

/// Distinct names the interner keeps; names beyond it are still correct, only not shared
/// (an app that uses data as field names cannot grow the table without bound).
const MAX_INTERNED: usize = 1 << 16;

/// Longest name that is interned (longer ones are rare and not worth a table entry).
const MAX_INTERNED_LEN: usize = 64;

/// The interned names. A B-tree rather than a hash table: with a few dozen names a lookup is a
/// handful of comparisons either way, and a B-tree holds pointers to the start of every
/// allocation, so leak checkers (valgrind) see the process-lifetime table as reachable.
static NAMES: LazyLock<parking_lot::RwLock<std::collections::BTreeSet<Arc<str>>>> = LazyLock::new(Default::default);

/// A document field name: a shared, immutable string that reads like `&str`.
#[derive(Clone)]
pub struct FieldName(Arc<str>);

impl FieldName {
    /// The name for `s`, shared with every other use of the same name.
    pub fn new(s: &str) -> Self {
        if s.len() > MAX_INTERNED_LEN {
            return FieldName(Arc::from(s));
        }
        if let Some(name) = NAMES.read().get(s) {
            return FieldName(name.clone());
        }
        let mut names = NAMES.write();
        if let Some(name) = names.get(s) {
            return FieldName(name.clone());
        }
        let name: Arc<str> = Arc::from(s);
        if names.len() < MAX_INTERNED {
            names.insert(name.clone());
        }
        FieldName(name)
    }

    /// True when both are the same shared name (a pointer comparison; equal names made
    /// outside the shared table may still compare false).
    pub fn same_as(&self, other: &FieldName) -> bool {
        Arc::ptr_eq(&self.0, &other.0)
    }

    /// The name as a string slice.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl Deref for FieldName {
    type Target = str;

    fn deref(&self) -> &str {
        &self.0
    }
}

impl AsRef<str> for FieldName {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

impl Borrow<str> for FieldName {
    fn borrow(&self) -> &str {
        &self.0
    }
}

impl PartialEq for FieldName {
    fn eq(&self, other: &Self) -> bool {
        Arc::ptr_eq(&self.0, &other.0) || *self.0 == *other.0
    }
}

impl Eq for FieldName {}

impl PartialEq<str> for FieldName {
    fn eq(&self, other: &str) -> bool {
        &*self.0 == other
    }
}

impl PartialEq<&str> for FieldName {
    fn eq(&self, other: &&str) -> bool {
        &*self.0 == *other
    }
}

impl PartialEq<String> for FieldName {
    fn eq(&self, other: &String) -> bool {
        *self.0 == **other
    }
}

impl Hash for FieldName {
    // Hashes as `str` does, as `Borrow<str>` requires (maps keyed by names are probed by `&str`).
    fn hash<H: Hasher>(&self, state: &mut H) {
        (*self.0).hash(state)
    }
}

impl PartialOrd for FieldName {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for FieldName {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        self.0.cmp(&other.0)
    }
}

impl fmt::Debug for FieldName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&*self.0, f)
    }
}

impl fmt::Display for FieldName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&*self.0, f)
    }
}

impl From<&str> for FieldName {
    fn from(s: &str) -> Self {
        FieldName::new(s)
    }
}

impl From<String> for FieldName {
    fn from(s: String) -> Self {
        FieldName::new(&s)
    }
}

impl From<&String> for FieldName {
    fn from(s: &String) -> Self {
        FieldName::new(s)
    }
}

impl From<FieldName> for String {
    fn from(n: FieldName) -> Self {
        n.0.to_string()
    }
}

impl Serialize for FieldName {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.0)
    }
}

impl<'de> Deserialize<'de> for FieldName {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct Visit;
        impl serde::de::Visitor<'_> for Visit {
            type Value = FieldName;

            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a field name")
            }

            fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<FieldName, E> {
                Ok(FieldName::new(v))
            }
        }
        // Formats that can lend the bytes (postcard, JSON without escapes) intern without
        // allocating; the others hand over a string, interned the same.
        d.deserialize_str(Visit)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn equal_names_share_one_allocation_and_read_as_str() {
        let a = FieldName::from("email");
        let b = FieldName::from(String::from("email"));
        assert!(Arc::ptr_eq(&a.0, &b.0));
        assert_eq!(a, b);
        assert_eq!(a, "email");
        assert_eq!(a.len(), 5);
        assert_ne!(a, FieldName::from("emails"));
        let (x, y) = (FieldName::from("a"), FieldName::from("b"));
        assert!(x < y);
        assert_eq!(format!("{a} {a:?}"), "email \"email\"");
        // Maps keyed by names are probed by `&str`.
        let mut m = indexmap::IndexMap::<FieldName, u8>::new();
        m.insert(a.clone(), 1);
        assert_eq!(m.get("email"), Some(&1));
        // Long names are not interned but compare the same.
        let long = "x".repeat(MAX_INTERNED_LEN + 1);
        let (l1, l2) = (FieldName::from(long.as_str()), FieldName::from(long.as_str()));
        assert!(!Arc::ptr_eq(&l1.0, &l2.0));
        assert_eq!(l1, l2);
    }

    #[test]
    fn names_round_trip_through_postcard_and_json_interned() {
        let a = FieldName::from("age");
        let bytes = postcard::to_allocvec(&a).expect("encode");
        assert_eq!(bytes, postcard::to_allocvec("age").expect("encode"), "stored as a plain string");
        let back: FieldName = postcard::from_bytes(&bytes).expect("decode");
        assert!(Arc::ptr_eq(&a.0, &back.0));
        let j: FieldName = serde_json::from_str("\"a\\u0067e\"").expect("json");
        assert!(Arc::ptr_eq(&a.0, &j.0));
        assert!(serde_json::from_str::<FieldName>("3").is_err());
    }
}
