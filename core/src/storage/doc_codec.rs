//! The stored form of a document: its system id, then its fields, with top-level field names
//! written as ids of a per-collection dictionary (smaller on disk, and decoding shares one
//! `FieldName` per name instead of reading and interning it again).
//!
//! ```text
//! sid: 16 bytes | n: varint | n × (name | value)
//! name  = varint 2·id (dictionary) | varint 2·len+1, bytes (inline)
//! value = 0 null | 1 false | 2 true | 3 int (zigzag varint) | 4 float (8 bytes LE)
//!       | 5 string (varint len, bytes) | 6 uuid (16 bytes)
//!       | 7 array (varint n, values) | 8 object (varint n, n × (varint len, key bytes, value))
//! ```

use crate::error::{AuroraError, Result};
use crate::types::DocData;
use crate::value::Value;
use crate::FieldName;
use indexmap::IndexMap;
use parking_lot::RwLock;
use std::collections::HashMap;
use std::sync::Arc;

/// Deepest nesting a stored value may have (a deeper one is refused on write, and a record
/// claiming more is damage).
pub const MAX_DOC_DEPTH: usize = 128;
/// Most names a collection's dictionary holds; further names are written inline.
pub const MAX_DICTIONARY: usize = 65_536;

/// A collection's field dictionary: append-only, id ↔ name.
#[derive(Default)]
pub struct FieldDict {
    names: RwLock<Arc<Vec<FieldName>>>,
    ids: RwLock<HashMap<FieldName, u16>>,
}

impl FieldDict {
    /// A dictionary holding `names` (id = position).
    pub fn from_names(names: Vec<FieldName>) -> FieldDict {
        let ids = names.iter().enumerate().map(|(i, n)| (n.clone(), i as u16)).collect();
        FieldDict { names: RwLock::new(Arc::new(names)), ids: RwLock::new(ids) }
    }

    /// The id of `name`, if it has one.
    pub fn id(&self, name: &str) -> Option<u16> {
        self.ids.read().get(name).copied()
    }

    /// The name of `id`.
    pub fn name(&self, id: u16) -> Option<FieldName> {
        self.names.read().get(id as usize).cloned()
    }

    /// Every name, by id.
    pub fn names(&self) -> Arc<Vec<FieldName>> {
        self.names.read().clone()
    }

    /// The id of `name`, assigning the next one (returned in `added`) when it has none and the
    /// dictionary has room. Called under the commit lock.
    pub fn id_or_assign(&self, name: &FieldName, added: &mut Vec<(u16, FieldName)>) -> Option<u16> {
        if let Some(id) = self.id(name) {
            return Some(id);
        }
        let mut names = self.names.write();
        if names.len() >= MAX_DICTIONARY {
            return None;
        }
        let id = names.len() as u16;
        Arc::make_mut(&mut names).push(name.clone());
        self.ids.write().insert(name.clone(), id);
        added.push((id, name.clone()));
        Some(id)
    }

    /// Forgets names assigned by a commit that did not happen (the newest ones first).
    pub fn forget(&self, added: &[(u16, FieldName)]) {
        let mut names = self.names.write();
        let mut ids = self.ids.write();
        for (id, name) in added.iter().rev() {
            if names.len() == *id as usize + 1 {
                Arc::make_mut(&mut names).pop();
                ids.remove(name);
            }
        }
    }
}

fn put_varint(mut n: u64, out: &mut Vec<u8>) {
    while n >= 0x80 {
        out.push((n as u8) | 0x80);
        n >>= 7;
    }
    out.push(n as u8);
}

fn varint(b: &[u8], at: &mut usize) -> Option<u64> {
    let mut n = 0u64;
    for shift in (0..64).step_by(7) {
        let byte = *b.get(*at)?;
        *at += 1;
        n |= u64::from(byte & 0x7f) << shift;
        if byte & 0x80 == 0 {
            return Some(n);
        }
    }
    None
}

/// Encodes a document: `sid`, then its fields with top-level names from `dict` (new names are
/// assigned and listed in `added`). Fails on a value nested deeper than [`MAX_DOC_DEPTH`].
pub fn encode(sid: u128, data: &DocData, dict: &FieldDict, added: &mut Vec<(u16, FieldName)>) -> Result<Vec<u8>> {
    let mut out = Vec::with_capacity(64 + data.len() * 16);
    out.extend_from_slice(&sid.to_be_bytes());
    put_varint(data.len() as u64, &mut out);
    for (name, v) in data {
        match dict.id_or_assign(name, added) {
            Some(id) => put_varint(u64::from(id) << 1, &mut out),
            None => {
                put_varint(((name.len() as u64) << 1) | 1, &mut out);
                out.extend_from_slice(name.as_bytes());
            }
        }
        encode_value(v, &mut out, 0).map_err(|_| too_deep(name))?;
    }
    Ok(out)
}

fn too_deep(field: &str) -> AuroraError {
    AuroraError::Validation {
        collection: String::new(),
        message: format!("field `{field}` is nested deeper than {MAX_DOC_DEPTH} levels"),
    }
}

fn encode_value(v: &Value, out: &mut Vec<u8>, depth: usize) -> std::result::Result<(), ()> {
    if depth > MAX_DOC_DEPTH {
        return Err(());
    }
    match v {
        Value::Null => out.push(0),
        Value::Bool(false) => out.push(1),
        Value::Bool(true) => out.push(2),
        Value::Int(i) => {
            out.push(3);
            put_varint(((i << 1) ^ (i >> 63)) as u64, out);
        }
        Value::Float(f) => {
            out.push(4);
            out.extend_from_slice(&f.to_le_bytes());
        }
        Value::String(s) => {
            out.push(5);
            put_varint(s.len() as u64, out);
            out.extend_from_slice(s.as_bytes());
        }
        Value::Uuid(u) => {
            out.push(6);
            out.extend_from_slice(u.as_bytes());
        }
        Value::Array(items) => {
            out.push(7);
            put_varint(items.len() as u64, out);
            for i in items {
                encode_value(i, out, depth + 1)?;
            }
        }
        Value::Object(m) => {
            out.push(8);
            put_varint(m.len() as u64, out);
            for (k, x) in m {
                put_varint(k.len() as u64, out);
                out.extend_from_slice(k.as_bytes());
                encode_value(x, out, depth + 1)?;
            }
        }
    }
    Ok(())
}

/// The system id of an encoded document.
pub fn sid_of(bytes: &[u8]) -> Option<u128> {
    bytes.get(..16).and_then(|b| <[u8; 16]>::try_from(b).ok()).map(u128::from_be_bytes)
}

/// Decodes a document written by [`encode`] with the names of `dict`. `None` means damage.
pub fn decode(bytes: &[u8], names: &[FieldName]) -> Option<(u128, DocData)> {
    let sid = sid_of(bytes)?;
    let mut at = 16;
    let n = varint(bytes, &mut at)?;
    // Every field takes at least two bytes: a bound from the record's size, not from its claim.
    let mut data = DocData::with_capacity((n as usize).min(bytes.len() / 2));
    for _ in 0..n {
        let tag = varint(bytes, &mut at)?;
        let name = if tag & 1 == 0 {
            names.get(usize::try_from(tag >> 1).ok()?)?.clone()
        } else {
            let len = usize::try_from(tag >> 1).ok()?;
            let s = std::str::from_utf8(bytes.get(at..at.checked_add(len)?)?).ok()?;
            at += len;
            FieldName::new(s)
        };
        let v = decode_value(bytes, &mut at, 0)?;
        data.insert(name, v);
    }
    (at == bytes.len()).then_some((sid, data))
}

fn decode_value(b: &[u8], at: &mut usize, depth: usize) -> Option<Value> {
    if depth > MAX_DOC_DEPTH {
        return None;
    }
    let tag = *b.get(*at)?;
    *at += 1;
    let mut take = |n: usize| -> Option<&[u8]> {
        let s = b.get(*at..(*at).checked_add(n)?)?;
        *at += n;
        Some(s)
    };
    Some(match tag {
        0 => Value::Null,
        1 => Value::Bool(false),
        2 => Value::Bool(true),
        3 => {
            let z = varint(b, at)?;
            Value::Int(((z >> 1) as i64) ^ -((z & 1) as i64))
        }
        4 => Value::Float(f64::from_le_bytes(take(8)?.try_into().ok()?)),
        5 => {
            let len = usize::try_from(varint(b, at)?).ok()?;
            let s = b.get(*at..(*at).checked_add(len)?)?;
            *at += len;
            Value::String(std::str::from_utf8(s).ok()?.to_string())
        }
        6 => Value::Uuid(uuid::Uuid::from_slice(take(16)?).ok()?),
        7 => {
            let n = usize::try_from(varint(b, at)?).ok()?;
            let mut items = Vec::with_capacity(n.min(b.len() - *at));
            for _ in 0..n {
                items.push(decode_value(b, at, depth + 1)?);
            }
            Value::Array(items)
        }
        8 => {
            let n = usize::try_from(varint(b, at)?).ok()?;
            let mut m = IndexMap::with_capacity(n.min((b.len() - *at) / 2));
            for _ in 0..n {
                let len = usize::try_from(varint(b, at)?).ok()?;
                let k = std::str::from_utf8(b.get(*at..(*at).checked_add(len)?)?).ok()?.to_string();
                *at += len;
                m.insert(k, decode_value(b, at, depth + 1)?);
            }
            Value::Object(m)
        }
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn value() -> impl Strategy<Value = Value> {
        let leaf = prop_oneof![
            Just(Value::Null),
            any::<bool>().prop_map(Value::Bool),
            any::<i64>().prop_map(Value::Int),
            any::<f64>().prop_filter("no NaN", |f| !f.is_nan()).prop_map(Value::Float),
            ".{0,8}".prop_map(Value::String),
            any::<u128>().prop_map(|u| Value::Uuid(uuid::Uuid::from_u128(u))),
        ];
        leaf.prop_recursive(3, 16, 4, |inner| {
            prop_oneof![
                prop::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
                prop::collection::vec(("[a-c]{0,3}", inner), 0..3)
                    .prop_map(|kv| Value::Object(kv.into_iter().collect())),
            ]
        })
    }

    proptest! {
        #[test]
        fn documents_round_trip(sid in any::<u128>(), fields in prop::collection::vec(("[a-e]{0,3}", value()), 0..6)) {
            let data: DocData = fields.into_iter().map(|(k, v)| (FieldName::from(k), v)).collect();
            let dict = FieldDict::default();
            let mut added = Vec::new();
            let bytes = encode(sid, &data, &dict, &mut added).unwrap();
            let (back_sid, back) = decode(&bytes, &dict.names()).unwrap();
            prop_assert_eq!(back_sid, sid);
            prop_assert_eq!(back, data);
            prop_assert_eq!(added.len(), dict.names().len());
        }

        #[test]
        fn damaged_records_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..64)) {
            let names = vec![FieldName::from("a")];
            let _ = decode(&bytes, &names);
        }
    }

    #[test]
    fn names_past_the_dictionary_are_written_inline_and_forgotten_on_rollback() {
        let dict = FieldDict::from_names((0..MAX_DICTIONARY).map(|i| FieldName::from(format!("f{i}"))).collect());
        let data: DocData = [(FieldName::from("extra"), Value::Int(1))].into_iter().collect();
        let mut added = Vec::new();
        let bytes = encode(7, &data, &dict, &mut added).unwrap();
        assert!(added.is_empty());
        assert_eq!(decode(&bytes, &dict.names()).unwrap().1, data);

        let small = FieldDict::default();
        let mut added = Vec::new();
        encode(1, &data, &small, &mut added).unwrap();
        assert_eq!(small.id("extra"), Some(0));
        small.forget(&added);
        assert_eq!(small.id("extra"), None);
        assert!(small.names().is_empty());
    }

    #[test]
    fn values_nested_too_deep_are_refused() {
        let mut v = Value::Int(1);
        for _ in 0..=MAX_DOC_DEPTH + 1 {
            v = Value::Array(vec![v]);
        }
        let data: DocData = [(FieldName::from("deep"), v)].into_iter().collect();
        let e = encode(1, &data, &FieldDict::default(), &mut Vec::new()).unwrap_err();
        assert!(e.to_string().contains("deeper"), "{e}");
    }
}
