//! Document values: the dynamic type every field holds, its JSON mapping and its total order.

use indexmap::IndexMap;
use serde::{Deserialize, Serialize};
use std::cmp::Ordering;
use uuid::Uuid;

/// A field value. Int and Float stay distinct in storage but compare numerically.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
pub enum Value {
    /// Absent or explicit null.
    #[default]
    Null,
    /// true / false.
    Bool(bool),
    /// 64-bit signed integer.
    Int(i64),
    /// 64-bit float.
    Float(f64),
    /// UTF-8 text.
    String(String),
    /// A UUID (stored as 16 bytes, rendered as text in JSON).
    Uuid(Uuid),
    /// Ordered list of values.
    Array(Vec<Value>),
    /// Nested object, keys in insertion order.
    Object(IndexMap<String, Value>),
}

impl Value {
    /// Name of the value's type as used in error messages ("String", "Int"...).
    pub fn type_name(&self) -> &'static str {
        match self {
            Value::Null => "Null",
            Value::Bool(_) => "Boolean",
            Value::Int(_) => "Int",
            Value::Float(_) => "Float",
            Value::String(_) => "String",
            Value::Uuid(_) => "Uuid",
            Value::Array(_) => "Array",
            Value::Object(_) => "Object",
        }
    }

    /// True for `Value::Null`.
    pub fn is_null(&self) -> bool {
        matches!(self, Value::Null)
    }

    /// Numeric view of Int and Float values.
    pub fn as_f64(&self) -> Option<f64> {
        match self {
            Value::Int(i) => Some(*i as f64),
            Value::Float(f) => Some(*f),
            _ => None,
        }
    }

    /// Integer view (Int only).
    pub fn as_i64(&self) -> Option<i64> {
        match self {
            Value::Int(i) => Some(*i),
            _ => None,
        }
    }

    /// String view (String only).
    pub fn as_str(&self) -> Option<&str> {
        match self {
            Value::String(s) => Some(s),
            _ => None,
        }
    }

    /// Bool view (Bool only).
    pub fn as_bool(&self) -> Option<bool> {
        match self {
            Value::Bool(b) => Some(*b),
            _ => None,
        }
    }

    /// Follows a dotted path (`address.city`) through nested objects.
    pub fn get_path(&self, path: &str) -> Option<&Value> {
        let mut cur = self;
        for part in path.split('.') {
            match cur {
                Value::Object(m) => cur = m.get(part)?,
                _ => return None,
            }
        }
        Some(cur)
    }

    /// Converts to plain JSON; UUIDs become strings, non-finite floats become null.
    pub fn to_json(&self) -> serde_json::Value {
        match self {
            Value::Null => serde_json::Value::Null,
            Value::Bool(b) => serde_json::Value::Bool(*b),
            Value::Int(i) => serde_json::Value::from(*i),
            Value::Float(f) => {
                serde_json::Number::from_f64(*f).map(serde_json::Value::Number).unwrap_or(serde_json::Value::Null)
            }
            Value::String(s) => serde_json::Value::String(s.clone()),
            Value::Uuid(u) => serde_json::Value::String(u.to_string()),
            Value::Array(a) => serde_json::Value::Array(a.iter().map(Value::to_json).collect()),
            Value::Object(m) => serde_json::Value::Object(m.iter().map(|(k, v)| (k.clone(), v.to_json())).collect()),
        }
    }

    /// Converts from JSON: integers that fit i64 become Int, other numbers Float.
    pub fn from_json(v: &serde_json::Value) -> Value {
        match v {
            serde_json::Value::Null => Value::Null,
            serde_json::Value::Bool(b) => Value::Bool(*b),
            serde_json::Value::Number(n) => match n.as_i64() {
                Some(i) => Value::Int(i),
                None => Value::Float(n.as_f64().unwrap_or(f64::NAN)),
            },
            serde_json::Value::String(s) => Value::String(s.clone()),
            serde_json::Value::Array(a) => Value::Array(a.iter().map(Value::from_json).collect()),
            serde_json::Value::Object(m) => {
                Value::Object(m.iter().map(|(k, v)| (k.clone(), Value::from_json(v))).collect())
            }
        }
    }

    /// Total order used by indexes and sorting: Null < Bool < numbers < String < Uuid < Array < Object,
    /// with Int and Float compared numerically.
    pub fn total_cmp(&self, other: &Value) -> Ordering {
        fn rank(v: &Value) -> u8 {
            match v {
                Value::Null => 0,
                Value::Bool(_) => 1,
                Value::Int(_) | Value::Float(_) => 2,
                Value::String(_) => 3,
                Value::Uuid(_) => 4,
                Value::Array(_) => 5,
                Value::Object(_) => 6,
            }
        }
        match (self, other) {
            (Value::Bool(a), Value::Bool(b)) => a.cmp(b),
            (Value::Int(a), Value::Int(b)) => a.cmp(b),
            (Value::Int(a), Value::Float(b)) => cmp_int_float(*a, *b),
            (Value::Float(a), Value::Int(b)) => cmp_int_float(*b, *a).reverse(),
            (Value::Float(a), Value::Float(b)) => a.total_cmp(b),
            (Value::String(a), Value::String(b)) => a.cmp(b),
            (Value::Uuid(a), Value::Uuid(b)) => a.cmp(b),
            (Value::Array(a), Value::Array(b)) => {
                for (x, y) in a.iter().zip(b) {
                    let o = x.total_cmp(y);
                    if o != Ordering::Equal {
                        return o;
                    }
                }
                a.len().cmp(&b.len())
            }
            (Value::Object(a), Value::Object(b)) => {
                for ((ka, va), (kb, vb)) in a.iter().zip(b) {
                    let o = ka.cmp(kb).then_with(|| va.total_cmp(vb));
                    if o != Ordering::Equal {
                        return o;
                    }
                }
                a.len().cmp(&b.len())
            }
            _ => rank(self).cmp(&rank(other)),
        }
    }

    /// Equality as filters see it: Int 1 equals Float 1.0, a UUID equals its text form.
    pub fn loose_eq(&self, other: &Value) -> bool {
        match (self, other) {
            (Value::Uuid(u), Value::String(s)) | (Value::String(s), Value::Uuid(u)) => {
                Uuid::parse_str(s).is_ok_and(|p| p == *u)
            }
            _ => self.total_cmp(other) == Ordering::Equal,
        }
    }

    /// True when both values are of comparable kinds (numbers with numbers, strings with strings...).
    pub fn comparable(&self, other: &Value) -> bool {
        matches!(
            (self, other),
            (Value::Int(_) | Value::Float(_), Value::Int(_) | Value::Float(_))
                | (Value::String(_), Value::String(_))
                | (Value::Bool(_), Value::Bool(_))
                | (Value::Uuid(_), Value::Uuid(_))
        )
    }
}

/// Compares an i64 with an f64 exactly (no precision loss for large ints).
fn cmp_int_float(i: i64, f: f64) -> Ordering {
    if f.is_nan() {
        return Ordering::Less;
    }
    if f >= 9.3e18 {
        return Ordering::Less;
    }
    if f <= -9.3e18 {
        return Ordering::Greater;
    }
    let ft = f.trunc();
    match i.cmp(&(ft as i64)) {
        Ordering::Equal => {
            let frac = f - ft;
            if frac > 0.0 {
                Ordering::Less
            } else if frac < 0.0 {
                Ordering::Greater
            } else {
                Ordering::Equal
            }
        }
        o => o,
    }
}

/// A `Value` wrapped to be usable as an ordered map key (indexes, group-by, sorting).
#[derive(Debug, Clone)]
pub struct OrdValue(pub Value);

impl PartialEq for OrdValue {
    fn eq(&self, other: &Self) -> bool {
        self.0.total_cmp(&other.0) == Ordering::Equal
    }
}
impl Eq for OrdValue {}
impl std::hash::Hash for OrdValue {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        hash_value(&self.0, state)
    }
}

/// Hashes a value consistently with `OrdValue`'s `Eq` (numeric equality across Int and Float):
/// numbers hash by their f64 image, so values that compare equal always hash equal.
fn hash_value<H: std::hash::Hasher>(v: &Value, state: &mut H) {
    use std::hash::Hash;
    match v {
        Value::Null => 0u8.hash(state),
        Value::Bool(b) => (1u8, b).hash(state),
        Value::Int(_) | Value::Float(_) => {
            let f = v.as_f64().unwrap_or(0.0);
            let f = if f == 0.0 { 0.0 } else { f };
            (2u8, f.to_bits()).hash(state)
        }
        Value::String(s) => hash_str(s, state),
        Value::Uuid(u) => (4u8, u).hash(state),
        Value::Array(a) => {
            (5u8, a.len()).hash(state);
            a.iter().for_each(|x| hash_value(x, state));
        }
        Value::Object(m) => {
            (6u8, m.len()).hash(state);
            for (k, x) in m {
                k.hash(state);
                hash_value(x, state);
            }
        }
    }
}

/// Hashes a string as [`hash_value`] hashes `Value::String` of it.
pub(crate) fn hash_str<H: std::hash::Hasher>(s: &str, state: &mut H) {
    use std::hash::Hash;
    (3u8, s).hash(state)
}

/// A borrowed `Value` that finds entries of hash maps keyed by `OrdValue` without cloning it.
pub struct ValueKey<'a>(pub &'a Value);

impl std::hash::Hash for ValueKey<'_> {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        hash_value(self.0, state)
    }
}

impl hashbrown::Equivalent<OrdValue> for ValueKey<'_> {
    fn equivalent(&self, key: &OrdValue) -> bool {
        self.0.total_cmp(&key.0) == Ordering::Equal
    }
}

impl PartialOrd for OrdValue {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}
impl Ord for OrdValue {
    fn cmp(&self, other: &Self) -> Ordering {
        self.0.total_cmp(&other.0)
    }
}

macro_rules! from_impl {
    ($t:ty, $v:ident, $e:expr) => {
        impl From<$t> for Value {
            fn from($v: $t) -> Self {
                $e
            }
        }
    };
}
from_impl!(i64, v, Value::Int(v));
from_impl!(i32, v, Value::Int(v as i64));
from_impl!(u32, v, Value::Int(v as i64));
from_impl!(usize, v, Value::Int(v as i64));
from_impl!(f64, v, Value::Float(v));
from_impl!(f32, v, Value::Float(v as f64));
from_impl!(bool, v, Value::Bool(v));
from_impl!(String, v, Value::String(v));
from_impl!(&str, v, Value::String(v.to_string()));
from_impl!(Uuid, v, Value::Uuid(v));
from_impl!(Vec<Value>, v, Value::Array(v));
from_impl!(IndexMap<String, Value>, v, Value::Object(v));
from_impl!(serde_json::Value, v, Value::from_json(&v));

impl<T: Into<Value>> From<Option<T>> for Value {
    fn from(v: Option<T>) -> Self {
        v.map(Into::into).unwrap_or(Value::Null)
    }
}

impl std::fmt::Display for Value {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}", self.to_json())
    }
}

/// Drops a JSON value without recursing: serde_json's drop recurses once per nesting level,
/// which a value nested deep enough (from a host, never from parsed text) turns into a stack
/// overflow.
pub fn drop_json_flat(v: serde_json::Value) {
    use serde_json::Value as Json;
    if !matches!(&v, Json::Array(a) if !a.is_empty()) && !matches!(&v, Json::Object(m) if !m.is_empty()) {
        return;
    }
    let mut stack = vec![v];
    while let Some(v) = stack.pop() {
        match v {
            Json::Array(items) => stack.extend(items),
            Json::Object(m) => stack.extend(m.into_iter().map(|(_, v)| v)),
            _ => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn int_and_float_compare_numerically() {
        assert_eq!(Value::Int(3).total_cmp(&Value::Float(3.0)), Ordering::Equal);
        assert_eq!(Value::Int(3).total_cmp(&Value::Float(3.5)), Ordering::Less);
        assert_eq!(Value::Float(-0.5).total_cmp(&Value::Int(0)), Ordering::Less);
        assert_eq!(Value::Int(i64::MAX).total_cmp(&Value::Float(1e19)), Ordering::Less);
        assert!(Value::Int(2).loose_eq(&Value::Float(2.0)));
    }

    #[test]
    fn json_round_trip_keeps_ints_and_floats() {
        let j = serde_json::json!({"a": 1, "b": 1.5, "c": [true, null, "x"], "d": {"e": 2.0}});
        let v = Value::from_json(&j);
        assert_eq!(v.get_path("a"), Some(&Value::Int(1)));
        assert_eq!(v.get_path("d.e"), Some(&Value::Float(2.0)));
        assert_eq!(v.to_json(), j);
    }
}
