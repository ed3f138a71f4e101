//! The one ordered keyspace: every document, index entry, counter, job and piece of metadata is
//! a prefix-encoded key (layout in `docs/STORAGE.md`), and values used in keys are encoded so
//! that byte order is [`Value::total_cmp`] order.
//!
//! ```text
//! [01] meta …                                    database metadata (format, checkpoint LSN)
//! [02][coll u32][kind u8] …                      one collection
//!        10 doc      [rowid u32]                 → sid (16) + encoded fields
//!        11 sid      [sid u128]                  → rowid u32
//!        12 live     [high u16]                  → roaring chunk of live rows
//!        20 posting  [field u16][value][high u16] → roaring chunk of the rows holding value
//!        21 unique   [field u16][value]          → rowid u32
//!        01 schema, 02 field name [id u16], 03 counter [name], 04 census [field u16]
//! [03] jobs …                                    the durable job queue
//! ```
//!
//! Integers are big-endian so numeric order is byte order. Int and Float compare numerically
//! in keys as everywhere else: a number is its f64 image (sign-folded) plus, for an integer, its
//! exact i64, so `3` and `3.0` are one key and large integers stay distinct.

use crate::value::Value;
use std::cmp::Ordering;

/// Database metadata.
pub const META: u8 = 0x01;
/// Collection-scoped keys.
pub const COLL: u8 = 0x02;
/// The job queue.
pub const JOBS: u8 = 0x03;

/// Kinds of collection-scoped keys.
pub mod kind {
    /// The collection's schema (JSON).
    pub const SCHEMA: u8 = 0x01;
    /// A field-dictionary entry: field id → name.
    pub const FIELD: u8 = 0x02;
    /// A named counter (document count, next row id).
    pub const COUNTER: u8 = 0x03;
    /// How many documents have a top-level field (by field id).
    pub const CENSUS: u8 = 0x04;
    /// A document by row id.
    pub const DOC: u8 = 0x10;
    /// System id → row id.
    pub const SID: u8 = 0x11;
    /// Live row ids, one roaring chunk per 65,536 rows.
    pub const LIVE: u8 = 0x12;
    /// Postings of an indexed field: (field, value, high bits) → roaring chunk.
    pub const POSTING: u8 = 0x20;
    /// A unique field's entries: (field, value) → row id.
    pub const UNIQUE: u8 = 0x21;
}

/// A key under [`META`].
pub fn meta(name: &str) -> Vec<u8> {
    let mut k = Vec::with_capacity(1 + name.len());
    k.push(META);
    k.extend_from_slice(name.as_bytes());
    k
}

/// The prefix of every key of collection `coll` of kind `kind`.
pub fn coll_prefix(coll: u32, kind: u8) -> Vec<u8> {
    let mut k = Vec::with_capacity(32);
    k.push(COLL);
    k.extend_from_slice(&coll.to_be_bytes());
    k.push(kind);
    k
}

/// The prefix of every key of collection `coll`.
pub fn coll_all(coll: u32) -> Vec<u8> {
    let mut k = Vec::with_capacity(5);
    k.push(COLL);
    k.extend_from_slice(&coll.to_be_bytes());
    k
}

/// The document at `rowid`.
pub fn doc(coll: u32, rowid: u32) -> Vec<u8> {
    let mut k = coll_prefix(coll, kind::DOC);
    k.extend_from_slice(&rowid.to_be_bytes());
    k
}

/// The row id of a document from its key (see [`doc`]).
pub fn doc_rowid(key: &[u8]) -> Option<u32> {
    key.get(6..10).and_then(|b| <[u8; 4]>::try_from(b).ok()).map(u32::from_be_bytes)
}

/// System id → row id.
pub fn sid(coll: u32, sid: u128) -> Vec<u8> {
    let mut k = coll_prefix(coll, kind::SID);
    k.extend_from_slice(&sid.to_be_bytes());
    k
}

/// The live-rows chunk holding `rowid`.
pub fn live(coll: u32, high: u16) -> Vec<u8> {
    let mut k = coll_prefix(coll, kind::LIVE);
    k.extend_from_slice(&high.to_be_bytes());
    k
}

/// The prefix of a field's postings of one value (chunks follow by high bits).
pub fn posting_value(coll: u32, field: u16, value: &Value) -> Vec<u8> {
    let mut k = posting_field(coll, field);
    encode_value(value, &mut k);
    k
}

/// The prefix of every posting of a field.
pub fn posting_field(coll: u32, field: u16) -> Vec<u8> {
    let mut k = coll_prefix(coll, kind::POSTING);
    k.extend_from_slice(&field.to_be_bytes());
    k
}

/// One posting chunk: the rows `high << 16 | low` holding the value.
pub fn posting(coll: u32, field: u16, value: &Value, high: u16) -> Vec<u8> {
    let mut k = posting_value(coll, field, value);
    k.extend_from_slice(&high.to_be_bytes());
    k
}

/// [`posting`] written into `out` (cleared first), for lookups that need no owned key.
pub fn posting_into(out: &mut Vec<u8>, coll: u32, field: u16, value: &Value, high: u16) {
    out.clear();
    out.push(COLL);
    out.extend_from_slice(&coll.to_be_bytes());
    out.push(kind::POSTING);
    out.extend_from_slice(&field.to_be_bytes());
    encode_value(value, out);
    out.extend_from_slice(&high.to_be_bytes());
}

/// The prefix of every unique entry of a field.
pub fn unique_field(coll: u32, field: u16) -> Vec<u8> {
    let mut k = coll_prefix(coll, kind::UNIQUE);
    k.extend_from_slice(&field.to_be_bytes());
    k
}

/// A unique field's entry for `value`.
pub fn unique(coll: u32, field: u16, value: &Value) -> Vec<u8> {
    let mut k = unique_field(coll, field);
    encode_value(value, &mut k);
    k
}

/// A field-dictionary entry.
pub fn field(coll: u32, id: u16) -> Vec<u8> {
    let mut k = coll_prefix(coll, kind::FIELD);
    k.extend_from_slice(&id.to_be_bytes());
    k
}

/// A collection counter.
pub fn counter(coll: u32, name: &str) -> Vec<u8> {
    let mut k = coll_prefix(coll, kind::COUNTER);
    k.extend_from_slice(name.as_bytes());
    k
}

/// A census entry: how many documents have field `id`.
pub fn census(coll: u32, id: u16) -> Vec<u8> {
    let mut k = coll_prefix(coll, kind::CENSUS);
    k.extend_from_slice(&id.to_be_bytes());
    k
}

/// The smallest key greater than every key starting with `prefix` (None: no such key).
pub fn prefix_end(prefix: &[u8]) -> Option<Vec<u8>> {
    let mut end = prefix.to_vec();
    while let Some(last) = end.pop() {
        if last < 0xff {
            end.push(last + 1);
            return Some(end);
        }
    }
    None
}

// ---------------------------------------------------------------- values in keys

const T_NULL: u8 = 0x01;
const T_BOOL: u8 = 0x02;
const T_NUM: u8 = 0x03;
const T_STR: u8 = 0x04;
const T_UUID: u8 = 0x05;
const T_ARRAY: u8 = 0x06;
const T_OBJECT: u8 = 0x07;
/// Ends an array or object (below every type tag, so a shorter container sorts first).
const T_END: u8 = 0x00;
/// Starts an object's entry (above [`T_END`]; an empty key would otherwise read as the end).
const T_ENTRY: u8 = 0x01;
/// A number that is a Float (not an integer in i64 range).
const N_FLOAT: u8 = 0x00;
/// A number that is an integer.
const N_INT: u8 = 0x01;

/// An f64's bits, turned so that unsigned byte order is `f64::total_cmp` order.
fn f64_key(f: f64) -> [u8; 8] {
    let b = f.to_bits();
    let b = if b >> 63 == 1 { !b } else { b | (1 << 63) };
    b.to_be_bytes()
}

fn f64_from_key(k: [u8; 8]) -> f64 {
    let b = u64::from_be_bytes(k);
    let b = if b >> 63 == 1 { b & !(1 << 63) } else { !b };
    f64::from_bits(b)
}

/// -2^63 as a float (exact).
const I64_MIN_F: f64 = i64::MIN as f64;

/// The integer a number stands for when it is one (Floats with an integral value in range too).
fn as_exact_int(v: &Value) -> Option<i64> {
    match v {
        Value::Int(i) => Some(*i),
        // -2^63 <= f < 2^63: the floats that are exactly some i64.
        Value::Float(f) if f.fract() == 0.0 && *f >= I64_MIN_F && *f < -I64_MIN_F => Some(*f as i64),
        _ => None,
    }
}

/// Appends the order-preserving encoding of `v` to `out`: byte order of encodings is
/// [`Value::total_cmp`] order, and values that compare equal encode equal.
pub fn encode_value(v: &Value, out: &mut Vec<u8>) {
    match v {
        Value::Null => out.push(T_NULL),
        Value::Bool(b) => out.extend_from_slice(&[T_BOOL, u8::from(*b)]),
        Value::Int(_) | Value::Float(_) => {
            out.push(T_NUM);
            match as_exact_int(v) {
                Some(i) => {
                    out.extend_from_slice(&f64_key(i as f64));
                    out.push(N_INT);
                    out.extend_from_slice(&((i as u64) ^ (1 << 63)).to_be_bytes());
                }
                None => {
                    let f = v.as_f64().unwrap_or(f64::NAN);
                    out.extend_from_slice(&f64_key(f));
                    out.push(N_FLOAT);
                }
            }
        }
        Value::String(s) => {
            out.push(T_STR);
            escape(s.as_bytes(), out);
        }
        Value::Uuid(u) => {
            out.push(T_UUID);
            out.extend_from_slice(u.as_bytes());
        }
        Value::Array(items) => {
            out.push(T_ARRAY);
            for i in items {
                encode_value(i, out);
            }
            out.push(T_END);
        }
        Value::Object(m) => {
            out.push(T_OBJECT);
            for (k, x) in m {
                out.push(T_ENTRY);
                escape(k.as_bytes(), out);
                encode_value(x, out);
            }
            out.push(T_END);
        }
    }
}

/// The encoding of a string without its terminator: every encoding of a string starting with
/// `prefix` starts with these bytes (for `startsWith` range scans).
pub fn encode_str_prefix(prefix: &str, out: &mut Vec<u8>) {
    out.push(T_STR);
    for &b in prefix.as_bytes() {
        if b == 0 {
            out.extend_from_slice(&[0, 0xff]);
        } else {
            out.push(b);
        }
    }
}

/// Bytes with 0x00 escaped as 0x00 0xFF and ended by 0x00 0x00: order-preserving and
/// self-delimiting.
fn escape(bytes: &[u8], out: &mut Vec<u8>) {
    for &b in bytes {
        if b == 0 {
            out.extend_from_slice(&[0, 0xff]);
        } else {
            out.push(b);
        }
    }
    out.extend_from_slice(&[0, 0]);
}

fn unescape(b: &[u8], at: &mut usize) -> Option<Vec<u8>> {
    let mut out = Vec::new();
    loop {
        let c = *b.get(*at)?;
        *at += 1;
        if c != 0 {
            out.push(c);
            continue;
        }
        match *b.get(*at)? {
            0 => {
                *at += 1;
                return Some(out);
            }
            0xff => {
                *at += 1;
                out.push(0);
            }
            _ => return None,
        }
    }
}

/// Decodes a value written by [`encode_value`] at `*at`, advancing past it. Numbers come back
/// as Int when integral (`3.0` was stored as the integer 3).
pub fn decode_value(b: &[u8], at: &mut usize) -> Option<Value> {
    decode_at(b, at, 0)
}

/// Deepest nesting decoded from a key (keys are written by this module; the bound guards
/// against damaged files).
const MAX_KEY_DEPTH: usize = 128;

fn decode_at(b: &[u8], at: &mut usize, depth: usize) -> Option<Value> {
    if depth > MAX_KEY_DEPTH {
        return None;
    }
    let tag = *b.get(*at)?;
    *at += 1;
    let take = |at: &mut usize, n: usize| -> Option<&[u8]> {
        let s = b.get(*at..*at + n)?;
        *at += n;
        Some(s)
    };
    Some(match tag {
        T_NULL => Value::Null,
        T_BOOL => Value::Bool(take(at, 1)?[0] != 0),
        T_NUM => {
            let f = f64_from_key(take(at, 8)?.try_into().ok()?);
            match take(at, 1)?[0] {
                N_INT => {
                    let u = u64::from_be_bytes(take(at, 8)?.try_into().ok()?);
                    Value::Int((u ^ (1 << 63)) as i64)
                }
                _ => Value::Float(f),
            }
        }
        T_STR => Value::String(String::from_utf8(unescape(b, at)?).ok()?),
        T_UUID => Value::Uuid(uuid::Uuid::from_slice(take(at, 16)?).ok()?),
        T_ARRAY => {
            let mut items = Vec::new();
            while *b.get(*at)? != T_END {
                items.push(decode_at(b, at, depth + 1)?);
            }
            *at += 1;
            Value::Array(items)
        }
        T_OBJECT => {
            let mut m = indexmap::IndexMap::new();
            while *b.get(*at)? == T_ENTRY {
                *at += 1;
                let k = String::from_utf8(unescape(b, at)?).ok()?;
                m.insert(k, decode_at(b, at, depth + 1)?);
            }
            if take(at, 1)?[0] != T_END {
                return None;
            }
            Value::Object(m)
        }
        _ => return None,
    })
}

/// Compares two values by their key encodings (what an index's order is).
pub fn key_cmp(a: &Value, b: &Value) -> Ordering {
    let (mut x, mut y) = (Vec::new(), Vec::new());
    encode_value(a, &mut x);
    encode_value(b, &mut y);
    x.cmp(&y)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn enc(v: &Value) -> Vec<u8> {
        let mut out = Vec::new();
        encode_value(v, &mut out);
        out
    }

    fn scalar() -> impl Strategy<Value = Value> {
        prop_oneof![
            Just(Value::Null),
            any::<bool>().prop_map(Value::Bool),
            any::<i64>().prop_map(Value::Int),
            (-1000i64..1000).prop_map(Value::Int),
            any::<f64>().prop_filter("no NaN", |f| !f.is_nan()).prop_map(Value::Float),
            (-1000i64..1000).prop_map(|i| Value::Float(i as f64 / 4.0)),
            ".{0,6}".prop_map(Value::String),
            "[a\u{0}b]{0,4}".prop_map(Value::String),
            any::<u128>().prop_map(|u| Value::Uuid(uuid::Uuid::from_u128(u))),
        ]
    }

    fn value() -> impl Strategy<Value = Value> {
        scalar().prop_recursive(3, 12, 4, |inner| {
            prop_oneof![
                prop::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
                prop::collection::vec(("[a-c]{0,2}", inner), 0..3)
                    .prop_map(|kv| Value::Object(kv.into_iter().collect())),
            ]
        })
    }

    proptest! {
        #[test]
        fn byte_order_is_value_order(a in value(), b in value()) {
            // -0.0 and 0.0 are one number to the index (both the integer 0).
            let zero = |v: &Value| matches!(v, Value::Float(f) if *f == 0.0);
            prop_assume!(!zero(&a) && !zero(&b));
            prop_assert_eq!(enc(&a).cmp(&enc(&b)), a.total_cmp(&b), "{:?} vs {:?}", a, b);
        }

        #[test]
        fn values_decode_back(v in value()) {
            let bytes = enc(&v);
            let mut at = 0;
            let back = decode_value(&bytes, &mut at).unwrap();
            prop_assert_eq!(at, bytes.len());
            prop_assert_eq!(back.total_cmp(&v), Ordering::Equal);
        }

        #[test]
        fn a_string_key_starts_with_the_encoding_of_its_prefixes(s in ".{0,8}", cut in 0usize..9) {
            let cut = (0..=cut.min(s.len())).rev().find(|c| s.is_char_boundary(*c)).unwrap_or(0);
            let mut p = Vec::new();
            encode_str_prefix(&s[..cut], &mut p);
            prop_assert!(enc(&Value::String(s.clone())).starts_with(&p));
        }
    }

    #[test]
    fn int_and_float_of_one_number_are_one_key() {
        assert_eq!(enc(&Value::Int(3)), enc(&Value::Float(3.0)));
        assert_ne!(enc(&Value::Int(i64::MAX)), enc(&Value::Int(i64::MAX - 1)));
        assert!(enc(&Value::Float(2.5)) > enc(&Value::Int(2)) && enc(&Value::Float(2.5)) < enc(&Value::Int(3)));
        assert!(enc(&Value::Int(-5)) < enc(&Value::Float(-4.5)));
        assert_eq!(prefix_end(&[1, 2, 0xff]), Some(vec![1, 3]));
        assert_eq!(prefix_end(&[0xff]), None);
    }
}
