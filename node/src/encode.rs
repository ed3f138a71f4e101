//! The encoded form of a value for index.js's decoder: a `ValueSink` (see `aurora_bindings::sink`),
//! so results are written straight from the engine's documents (no `serde_json::Value` tree
//! in between), other values (events, jobs) from their JSON.
//!
//! `ops` holds tags and numbers (see `tag`); every string, key and BigInt's digits go into
//! `text`, referred to by (start, end) in UTF-16 code units, what JS offsets count. Keys are
//! numbered the first time this thread sends them; the decoder keeps them in a JS array, so a
//! key repeated from row to row costs one number.

use aurora_bindings::sink::{self, SinkError, ValueSink};
use serde::Serialize;
use std::collections::HashMap;

/// Tags of the encoded form (index.js's `decode` reads the same numbers).
pub mod tag {
    pub const NULL: f64 = 0.0;
    pub const TRUE: f64 = 1.0;
    pub const FALSE: f64 = 2.0;
    pub const NUMBER: f64 = 3.0;
    pub const STRING: f64 = 4.0;
    pub const ARRAY: f64 = 5.0;
    pub const OBJECT: f64 = 6.0;
    pub const BIGINT: f64 = 7.0;
    /// A key sent with its object instead of by number (the key table is full).
    pub const INLINE_KEY: f64 = -1.0;
}

/// Keys the decoder's table holds per thread; once it is full, other keys are sent inline.
const MAX_KEYS: usize = 4096;

const MAX_SAFE: i64 = 9_007_199_254_740_991;

/// The keys the decoder's table holds, by number.
#[derive(Default)]
pub struct KeyIndex {
    index: HashMap<Box<str>, u32, foldhash::fast::RandomState>,
}

/// Encodes `value`: the ops (new key count, each new key's range, then the value) and the text.
pub fn encode<T: Serialize + ?Sized>(value: &T, keys: &mut KeyIndex) -> Result<(Vec<f64>, String), SinkError> {
    let before = keys.index.len();
    let mut e = Encoder {
        ops: Vec::with_capacity(64),
        text: String::new(),
        units: 0,
        keys,
        fresh: Vec::new(),
        open: Vec::new(),
    };
    if let Err(err) = sink::write(value, &mut e) {
        // The keys of a value that is not sent never reach the decoder's table.
        e.keys.index.retain(|_, i| (*i as usize) < before);
        return Err(err);
    }
    let mut ops = Vec::with_capacity(1 + 2 * e.fresh.len() + e.ops.len());
    ops.push(e.fresh.len() as f64);
    for (a, b) in &e.fresh {
        ops.extend([*a, *b]);
    }
    ops.extend_from_slice(&e.ops);
    Ok((ops, e.text))
}

struct Encoder<'k> {
    ops: Vec<f64>,
    text: String,
    /// `text`'s length in UTF-16 code units.
    units: usize,
    keys: &'k mut KeyIndex,
    /// Keys first sent in this value: their ranges, in number order.
    fresh: Vec<(f64, f64)>,
    /// Where the counts of the open arrays and objects go.
    open: Vec<usize>,
}

impl Encoder<'_> {
    fn push_text(&mut self, s: &str) -> (f64, f64) {
        let start = self.units;
        self.text.push_str(s);
        self.units += if s.is_ascii() { s.len() } else { s.encode_utf16().count() };
        (start as f64, self.units as f64)
    }

    fn bigint(&mut self, digits: &str) {
        let (a, b) = self.push_text(digits);
        self.ops.extend([tag::BIGINT, a, b]);
    }

    fn begin(&mut self, tag: f64) {
        self.ops.extend([tag, 0.0]);
        self.open.push(self.ops.len() - 1);
    }

    fn end(&mut self, count: usize) -> Result<(), SinkError> {
        let at = self.open.pop().ok_or_else(|| SinkError::new("an end without its beginning"))?;
        self.ops[at] = count as f64;
        Ok(())
    }
}

impl ValueSink for Encoder<'_> {
    fn null(&mut self) -> Result<(), SinkError> {
        self.ops.push(tag::NULL);
        Ok(())
    }
    fn bool(&mut self, b: bool) -> Result<(), SinkError> {
        self.ops.push(if b { tag::TRUE } else { tag::FALSE });
        Ok(())
    }
    fn int(&mut self, i: i64) -> Result<(), SinkError> {
        if (-MAX_SAFE..=MAX_SAFE).contains(&i) {
            self.ops.extend([tag::NUMBER, i as f64]);
        } else {
            self.bigint(&i.to_string());
        }
        Ok(())
    }
    fn uint(&mut self, u: u64) -> Result<(), SinkError> {
        self.bigint(&u.to_string());
        Ok(())
    }
    fn float(&mut self, f: f64) -> Result<(), SinkError> {
        self.ops.extend([tag::NUMBER, f]);
        Ok(())
    }
    fn str(&mut self, s: &str) -> Result<(), SinkError> {
        let (a, b) = self.push_text(s);
        self.ops.extend([tag::STRING, a, b]);
        Ok(())
    }
    fn begin_array(&mut self) -> Result<(), SinkError> {
        self.begin(tag::ARRAY);
        Ok(())
    }
    fn end_array(&mut self, count: usize) -> Result<(), SinkError> {
        self.end(count)
    }
    fn begin_object(&mut self) -> Result<(), SinkError> {
        self.begin(tag::OBJECT);
        Ok(())
    }
    fn key(&mut self, k: &str) -> Result<(), SinkError> {
        if let Some(&i) = self.keys.index.get(k) {
            self.ops.push(i as f64);
        } else if self.keys.index.len() < MAX_KEYS {
            let i = self.keys.index.len() as u32;
            self.keys.index.insert(k.into(), i);
            let range = self.push_text(k);
            self.fresh.push(range);
            self.ops.push(i as f64);
        } else {
            let (a, b) = self.push_text(k);
            self.ops.extend([tag::INLINE_KEY, a, b]);
        }
        Ok(())
    }
    fn end_object(&mut self, count: usize) -> Result<(), SinkError> {
        self.end(count)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    /// Decodes `ops`/`text` the way index.js does, into JSON (BigInts as `"<digits>n"`).
    fn decode(ops: &[f64], text: &str, keys: &mut Vec<String>) -> serde_json::Value {
        let units: Vec<u16> = text.encode_utf16().collect();
        let slice = |a: f64, b: f64| String::from_utf16(&units[a as usize..b as usize]).unwrap();
        let mut i = 1;
        for _ in 0..ops[0] as usize {
            keys.push(slice(ops[i], ops[i + 1]));
            i += 2;
        }
        fn read(ops: &[f64], i: &mut usize, keys: &[String], slice: &dyn Fn(f64, f64) -> String) -> serde_json::Value {
            let t = ops[*i];
            *i += 1;
            match t as i64 {
                0 => serde_json::Value::Null,
                1 => json!(true),
                2 => json!(false),
                3 => {
                    *i += 1;
                    json!(ops[*i - 1])
                }
                4 | 7 => {
                    *i += 2;
                    let s = slice(ops[*i - 2], ops[*i - 1]);
                    if t as i64 == 7 {
                        json!(format!("{s}n"))
                    } else {
                        json!(s)
                    }
                }
                5 => {
                    let n = ops[*i] as usize;
                    *i += 1;
                    (0..n).map(|_| read(ops, i, keys, slice)).collect()
                }
                6 => {
                    let n = ops[*i] as usize;
                    *i += 1;
                    let mut m = serde_json::Map::new();
                    for _ in 0..n {
                        let k = ops[*i];
                        *i += 1;
                        let key = if k >= 0.0 {
                            keys[k as usize].clone()
                        } else {
                            *i += 2;
                            slice(ops[*i - 2], ops[*i - 1])
                        };
                        let v = read(ops, i, keys, slice);
                        m.insert(key, v);
                    }
                    serde_json::Value::Object(m)
                }
                other => panic!("unknown tag {other}"),
            }
        }
        read(ops, &mut i, keys, &slice)
    }

    #[test]
    fn values_round_trip_through_the_decoder_with_keys_sent_once() {
        let mut index = KeyIndex::default();
        let mut table = Vec::new();
        let v = json!({"users": [{"a": 1, "b": "ü ✓ 😀 x", "c": [true, false, null, 2.5]}, {"a": -7, "b": "", "c": {"a": 3}}]});
        let (ops, text) = encode(&v, &mut index).unwrap();
        assert_eq!(ops[0], 4.0, "four new keys");
        let back = decode(&ops, &text, &mut table);
        let expected = json!({"users": [{"a": 1.0, "b": "ü ✓ 😀 x", "c": [true, false, null, 2.5]}, {"a": -7.0, "b": "", "c": {"a": 3.0}}]});
        assert_eq!(back, expected);
        let (ops, text) = encode(&v, &mut index).unwrap();
        assert_eq!(ops[0], 0.0, "keys are sent once");
        assert_eq!(decode(&ops, &text, &mut table), expected);
        let big = json!({"n": i64::MAX, "m": -9_007_199_254_740_992i64, "u": u64::MAX, "s": 9_007_199_254_740_991i64});
        let (ops, text) = encode(&big, &mut index).unwrap();
        assert_eq!(
            decode(&ops, &text, &mut table),
            json!({"n": format!("{}n", i64::MAX), "m": "-9007199254740992n", "u": format!("{}n", u64::MAX), "s": 9_007_199_254_740_991.0})
        );
    }

    #[test]
    fn a_full_key_table_sends_keys_inline_and_deep_values_are_refused() {
        let mut index = KeyIndex::default();
        let mut table = Vec::new();
        let wide: serde_json::Map<String, serde_json::Value> =
            (0..MAX_KEYS + 10).map(|i| (format!("k{i}"), json!(i))).collect();
        let v = serde_json::Value::Object(wide);
        let (ops, text) = encode(&v, &mut index).unwrap();
        assert_eq!(ops[0] as usize, MAX_KEYS);
        let back = decode(&ops, &text, &mut table);
        assert_eq!(back.as_object().unwrap().len(), MAX_KEYS + 10);
        assert_eq!(back["k4100"], json!(4100.0));
        let mut deep = json!(1);
        for _ in 0..sink::MAX_DEPTH + 1 {
            deep = json!([deep]);
        }
        let mut index = KeyIndex::default();
        encode(&json!({"kept": 1}), &mut index).unwrap();
        assert!(encode(&json!({"fresh": deep}), &mut index).is_err());
        assert_eq!(index.index.len(), 1, "keys of a refused value are not kept");
    }
}
