//! Serializes any `serde::Serialize` straight into a [`Value`] (and a struct straight into
//! document fields), with the same result as going through `serde_json::Value` but without
//! building the intermediate tree: one allocation per string and container instead of three.
//!
//! The mapping is serde_json's: `None` and units are null, non-finite floats are null,
//! integers beyond `i64` are floats, unit variants are their name, other variants are a
//! one-key object, bytes are a list of integers, map keys must be strings (numbers, bools and
//! chars are written as text).

use crate::field_name::FieldName;
use crate::types::DocData;
use crate::value::Value;
use indexmap::IndexMap;
use serde::ser::{self, Serialize};
use std::fmt::Display;

/// Why a value could not be turned into a [`Value`].
#[derive(Debug)]
pub struct SerError(String);

impl Display for SerError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for SerError {}

impl ser::Error for SerError {
    fn custom<T: Display>(msg: T) -> Self {
        SerError(msg.to_string())
    }
}

type Res<T> = std::result::Result<T, SerError>;

/// `value` as a [`Value`].
#[cfg(test)]
fn to_value<T: Serialize + ?Sized>(value: &T) -> Res<Value> {
    value.serialize(ValueSer)
}

/// `value` as document fields; `Err` names the type when it is not an object. A struct's
/// fields go straight into the document (its field names are shared, not copied).
pub fn to_doc_data<T: Serialize + ?Sized>(value: &T) -> Res<Result<DocData, &'static str>> {
    thread_local! {
        /// The last struct's field names, so a batch of one type finds its names without
        /// a lookup in the shared table.
        static NAMES: std::cell::RefCell<Vec<(&'static str, FieldName)>> = const { std::cell::RefCell::new(Vec::new()) };
    }
    let mut names = NAMES.with(|n| std::mem::take(&mut *n.borrow_mut()));
    let out = value.serialize(DocSer { names: &mut names });
    NAMES.with(|n| *n.borrow_mut() = names);
    Ok(match out? {
        Top::Doc(d) => Ok(d),
        Top::Value(Value::Object(m)) => Ok(m.into_iter().map(|(k, v)| (FieldName::from(k), v)).collect()),
        Top::Value(other) => Err(other.type_name()),
    })
}

/// What the top level serialized to: a struct's fields, or any other value.
enum Top {
    Doc(DocData),
    Value(Value),
}

/// The top level of a document: a struct becomes fields directly, anything else a [`Value`].
struct DocSer<'a> {
    names: &'a mut Vec<(&'static str, FieldName)>,
}

/// A struct's fields, keyed by shared names.
struct DocFieldsSer<'a> {
    doc: DocData,
    names: &'a mut Vec<(&'static str, FieldName)>,
    next: usize,
}

impl DocFieldsSer<'_> {
    /// The shared name for `key`, found where the previous struct of the same shape had it.
    fn name(&mut self, key: &'static str) -> FieldName {
        let i = self.next;
        self.next += 1;
        match self.names.get(i) {
            Some((k, n)) if std::ptr::eq(*k, key) || *k == key => n.clone(),
            _ => {
                let n = FieldName::new(key);
                if i < self.names.len() {
                    self.names.truncate(i);
                }
                if self.names.len() == i && i < 256 {
                    self.names.push((key, n.clone()));
                }
                n
            }
        }
    }
}

impl ser::SerializeStruct for DocFieldsSer<'_> {
    type Ok = Top;
    type Error = SerError;
    fn serialize_field<T: Serialize + ?Sized>(&mut self, key: &'static str, value: &T) -> Res<()> {
        let name = self.name(key);
        self.doc.insert(name, value.serialize(ValueSer)?);
        Ok(())
    }
    fn end(self) -> Res<Top> {
        Ok(Top::Doc(self.doc))
    }
}

/// Wraps a [`Value`] serializer's result as [`Top::Value`].
struct Wrap<S>(S);

macro_rules! wrap_impl {
    ($tr:ident, $method:ident $(, $key:ident)?) => {
        impl<S: ser::$tr<Ok = Value, Error = SerError>> ser::$tr for Wrap<S> {
            type Ok = Top;
            type Error = SerError;
            fn $method<T: Serialize + ?Sized>(&mut self, $($key: &'static str,)? value: &T) -> Res<()> {
                self.0.$method($($key,)? value)
            }
            fn end(self) -> Res<Top> {
                self.0.end().map(Top::Value)
            }
        }
    };
}
wrap_impl!(SerializeSeq, serialize_element);
wrap_impl!(SerializeTuple, serialize_element);
wrap_impl!(SerializeTupleStruct, serialize_field);
wrap_impl!(SerializeTupleVariant, serialize_field);
wrap_impl!(SerializeStructVariant, serialize_field, key);

impl<S: ser::SerializeMap<Ok = Value, Error = SerError>> ser::SerializeMap for Wrap<S> {
    type Ok = Top;
    type Error = SerError;
    fn serialize_key<T: Serialize + ?Sized>(&mut self, key: &T) -> Res<()> {
        self.0.serialize_key(key)
    }
    fn serialize_value<T: Serialize + ?Sized>(&mut self, value: &T) -> Res<()> {
        self.0.serialize_value(value)
    }
    fn end(self) -> Res<Top> {
        self.0.end().map(Top::Value)
    }
}

macro_rules! forward_scalar {
    ($($method:ident($ty:ty)),* $(,)?) => {
        $(fn $method(self, v: $ty) -> Res<Top> {
            ValueSer.$method(v).map(Top::Value)
        })*
    };
}

impl<'a> ser::Serializer for DocSer<'a> {
    type Ok = Top;
    type Error = SerError;
    type SerializeSeq = Wrap<SeqSer>;
    type SerializeTuple = Wrap<SeqSer>;
    type SerializeTupleStruct = Wrap<SeqSer>;
    type SerializeTupleVariant = Wrap<VariantSeqSer>;
    type SerializeMap = Wrap<MapSer>;
    type SerializeStruct = DocFieldsSer<'a>;
    type SerializeStructVariant = Wrap<VariantMapSer>;

    forward_scalar!(
        serialize_bool(bool),
        serialize_i8(i8),
        serialize_i16(i16),
        serialize_i32(i32),
        serialize_i64(i64),
        serialize_i128(i128),
        serialize_u8(u8),
        serialize_u16(u16),
        serialize_u32(u32),
        serialize_u64(u64),
        serialize_u128(u128),
        serialize_f32(f32),
        serialize_f64(f64),
        serialize_char(char),
        serialize_str(&str),
        serialize_bytes(&[u8]),
    );
    fn serialize_none(self) -> Res<Top> {
        Ok(Top::Value(Value::Null))
    }
    fn serialize_some<T: Serialize + ?Sized>(self, value: &T) -> Res<Top> {
        value.serialize(self)
    }
    fn serialize_unit(self) -> Res<Top> {
        Ok(Top::Value(Value::Null))
    }
    fn serialize_unit_struct(self, _name: &'static str) -> Res<Top> {
        Ok(Top::Value(Value::Null))
    }
    fn serialize_unit_variant(self, name: &'static str, index: u32, variant: &'static str) -> Res<Top> {
        ValueSer.serialize_unit_variant(name, index, variant).map(Top::Value)
    }
    fn serialize_newtype_struct<T: Serialize + ?Sized>(self, _name: &'static str, value: &T) -> Res<Top> {
        value.serialize(self)
    }
    fn serialize_newtype_variant<T: Serialize + ?Sized>(
        self,
        name: &'static str,
        index: u32,
        variant: &'static str,
        value: &T,
    ) -> Res<Top> {
        ValueSer.serialize_newtype_variant(name, index, variant, value).map(Top::Value)
    }
    fn serialize_seq(self, len: Option<usize>) -> Res<Self::SerializeSeq> {
        ValueSer.serialize_seq(len).map(Wrap)
    }
    fn serialize_tuple(self, len: usize) -> Res<Self::SerializeTuple> {
        ValueSer.serialize_tuple(len).map(Wrap)
    }
    fn serialize_tuple_struct(self, name: &'static str, len: usize) -> Res<Self::SerializeTupleStruct> {
        ValueSer.serialize_tuple_struct(name, len).map(Wrap)
    }
    fn serialize_tuple_variant(
        self,
        name: &'static str,
        index: u32,
        variant: &'static str,
        len: usize,
    ) -> Res<Self::SerializeTupleVariant> {
        ValueSer.serialize_tuple_variant(name, index, variant, len).map(Wrap)
    }
    fn serialize_map(self, len: Option<usize>) -> Res<Self::SerializeMap> {
        ValueSer.serialize_map(len).map(Wrap)
    }
    fn serialize_struct(self, _name: &'static str, len: usize) -> Res<Self::SerializeStruct> {
        Ok(DocFieldsSer { doc: DocData::with_capacity(len.min(4096)), names: self.names, next: 0 })
    }
    fn serialize_struct_variant(
        self,
        name: &'static str,
        index: u32,
        variant: &'static str,
        len: usize,
    ) -> Res<Self::SerializeStructVariant> {
        ValueSer.serialize_struct_variant(name, index, variant, len).map(Wrap)
    }
}

fn int_u(n: u64) -> Value {
    i64::try_from(n).map_or(Value::Float(n as f64), Value::Int)
}

fn float(f: f64) -> Value {
    if f.is_finite() {
        Value::Float(f)
    } else {
        Value::Null
    }
}

fn one_key(name: &str, v: Value) -> Value {
    let mut m = IndexMap::with_capacity(1);
    m.insert(name.to_string(), v);
    Value::Object(m)
}

struct ValueSer;

impl ser::Serializer for ValueSer {
    type Ok = Value;
    type Error = SerError;
    type SerializeSeq = SeqSer;
    type SerializeTuple = SeqSer;
    type SerializeTupleStruct = SeqSer;
    type SerializeTupleVariant = VariantSeqSer;
    type SerializeMap = MapSer;
    type SerializeStruct = MapSer;
    type SerializeStructVariant = VariantMapSer;

    fn serialize_bool(self, v: bool) -> Res<Value> {
        Ok(Value::Bool(v))
    }
    fn serialize_i8(self, v: i8) -> Res<Value> {
        Ok(Value::Int(v.into()))
    }
    fn serialize_i16(self, v: i16) -> Res<Value> {
        Ok(Value::Int(v.into()))
    }
    fn serialize_i32(self, v: i32) -> Res<Value> {
        Ok(Value::Int(v.into()))
    }
    fn serialize_i64(self, v: i64) -> Res<Value> {
        Ok(Value::Int(v))
    }
    fn serialize_i128(self, v: i128) -> Res<Value> {
        Ok(i64::try_from(v).map_or(Value::Float(v as f64), Value::Int))
    }
    fn serialize_u8(self, v: u8) -> Res<Value> {
        Ok(Value::Int(v.into()))
    }
    fn serialize_u16(self, v: u16) -> Res<Value> {
        Ok(Value::Int(v.into()))
    }
    fn serialize_u32(self, v: u32) -> Res<Value> {
        Ok(Value::Int(v.into()))
    }
    fn serialize_u64(self, v: u64) -> Res<Value> {
        Ok(int_u(v))
    }
    fn serialize_u128(self, v: u128) -> Res<Value> {
        Ok(i64::try_from(v).map_or(Value::Float(v as f64), Value::Int))
    }
    fn serialize_f32(self, v: f32) -> Res<Value> {
        Ok(float(v.into()))
    }
    fn serialize_f64(self, v: f64) -> Res<Value> {
        Ok(float(v))
    }
    fn serialize_char(self, v: char) -> Res<Value> {
        Ok(Value::String(v.to_string()))
    }
    fn serialize_str(self, v: &str) -> Res<Value> {
        Ok(Value::String(v.to_string()))
    }
    fn serialize_bytes(self, v: &[u8]) -> Res<Value> {
        Ok(Value::Array(v.iter().map(|b| Value::Int((*b).into())).collect()))
    }
    fn serialize_none(self) -> Res<Value> {
        Ok(Value::Null)
    }
    fn serialize_some<T: Serialize + ?Sized>(self, value: &T) -> Res<Value> {
        value.serialize(self)
    }
    fn serialize_unit(self) -> Res<Value> {
        Ok(Value::Null)
    }
    fn serialize_unit_struct(self, _name: &'static str) -> Res<Value> {
        Ok(Value::Null)
    }
    fn serialize_unit_variant(self, _name: &'static str, _index: u32, variant: &'static str) -> Res<Value> {
        Ok(Value::String(variant.to_string()))
    }
    fn serialize_newtype_struct<T: Serialize + ?Sized>(self, _name: &'static str, value: &T) -> Res<Value> {
        value.serialize(self)
    }
    fn serialize_newtype_variant<T: Serialize + ?Sized>(
        self,
        _name: &'static str,
        _index: u32,
        variant: &'static str,
        value: &T,
    ) -> Res<Value> {
        Ok(one_key(variant, value.serialize(ValueSer)?))
    }
    fn serialize_seq(self, len: Option<usize>) -> Res<SeqSer> {
        Ok(SeqSer(Vec::with_capacity(len.unwrap_or(0).min(4096))))
    }
    fn serialize_tuple(self, len: usize) -> Res<SeqSer> {
        self.serialize_seq(Some(len))
    }
    fn serialize_tuple_struct(self, _name: &'static str, len: usize) -> Res<SeqSer> {
        self.serialize_seq(Some(len))
    }
    fn serialize_tuple_variant(
        self,
        _name: &'static str,
        _index: u32,
        variant: &'static str,
        len: usize,
    ) -> Res<VariantSeqSer> {
        Ok(VariantSeqSer(variant, Vec::with_capacity(len.min(4096))))
    }
    fn serialize_map(self, len: Option<usize>) -> Res<MapSer> {
        Ok(MapSer { map: IndexMap::with_capacity(len.unwrap_or(0).min(4096)), key: None })
    }
    fn serialize_struct(self, _name: &'static str, len: usize) -> Res<MapSer> {
        self.serialize_map(Some(len))
    }
    fn serialize_struct_variant(
        self,
        _name: &'static str,
        _index: u32,
        variant: &'static str,
        len: usize,
    ) -> Res<VariantMapSer> {
        Ok(VariantMapSer(variant, IndexMap::with_capacity(len.min(4096))))
    }
}

struct SeqSer(Vec<Value>);

impl ser::SerializeSeq for SeqSer {
    type Ok = Value;
    type Error = SerError;
    fn serialize_element<T: Serialize + ?Sized>(&mut self, value: &T) -> Res<()> {
        self.0.push(value.serialize(ValueSer)?);
        Ok(())
    }
    fn end(self) -> Res<Value> {
        Ok(Value::Array(self.0))
    }
}

impl ser::SerializeTuple for SeqSer {
    type Ok = Value;
    type Error = SerError;
    fn serialize_element<T: Serialize + ?Sized>(&mut self, value: &T) -> Res<()> {
        ser::SerializeSeq::serialize_element(self, value)
    }
    fn end(self) -> Res<Value> {
        ser::SerializeSeq::end(self)
    }
}

impl ser::SerializeTupleStruct for SeqSer {
    type Ok = Value;
    type Error = SerError;
    fn serialize_field<T: Serialize + ?Sized>(&mut self, value: &T) -> Res<()> {
        ser::SerializeSeq::serialize_element(self, value)
    }
    fn end(self) -> Res<Value> {
        ser::SerializeSeq::end(self)
    }
}

struct VariantSeqSer(&'static str, Vec<Value>);

impl ser::SerializeTupleVariant for VariantSeqSer {
    type Ok = Value;
    type Error = SerError;
    fn serialize_field<T: Serialize + ?Sized>(&mut self, value: &T) -> Res<()> {
        self.1.push(value.serialize(ValueSer)?);
        Ok(())
    }
    fn end(self) -> Res<Value> {
        Ok(one_key(self.0, Value::Array(self.1)))
    }
}

struct MapSer {
    map: IndexMap<String, Value>,
    key: Option<String>,
}

impl ser::SerializeMap for MapSer {
    type Ok = Value;
    type Error = SerError;
    fn serialize_key<T: Serialize + ?Sized>(&mut self, key: &T) -> Res<()> {
        self.key = Some(key.serialize(KeySer)?);
        Ok(())
    }
    fn serialize_value<T: Serialize + ?Sized>(&mut self, value: &T) -> Res<()> {
        let key = self.key.take().ok_or_else(|| SerError("a map value came without its key".into()))?;
        self.map.insert(key, value.serialize(ValueSer)?);
        Ok(())
    }
    fn end(self) -> Res<Value> {
        Ok(Value::Object(self.map))
    }
}

impl ser::SerializeStruct for MapSer {
    type Ok = Value;
    type Error = SerError;
    fn serialize_field<T: Serialize + ?Sized>(&mut self, key: &'static str, value: &T) -> Res<()> {
        self.map.insert(key.to_string(), value.serialize(ValueSer)?);
        Ok(())
    }
    fn end(self) -> Res<Value> {
        Ok(Value::Object(self.map))
    }
}

struct VariantMapSer(&'static str, IndexMap<String, Value>);

impl ser::SerializeStructVariant for VariantMapSer {
    type Ok = Value;
    type Error = SerError;
    fn serialize_field<T: Serialize + ?Sized>(&mut self, key: &'static str, value: &T) -> Res<()> {
        self.1.insert(key.to_string(), value.serialize(ValueSer)?);
        Ok(())
    }
    fn end(self) -> Res<Value> {
        Ok(one_key(self.0, Value::Object(self.1)))
    }
}

/// Map keys: strings, and numbers, bools and chars written as text (as serde_json does).
struct KeySer;

fn key_error() -> SerError {
    SerError("a map key must be a string".into())
}

impl ser::Serializer for KeySer {
    type Ok = String;
    type Error = SerError;
    type SerializeSeq = ser::Impossible<String, SerError>;
    type SerializeTuple = ser::Impossible<String, SerError>;
    type SerializeTupleStruct = ser::Impossible<String, SerError>;
    type SerializeTupleVariant = ser::Impossible<String, SerError>;
    type SerializeMap = ser::Impossible<String, SerError>;
    type SerializeStruct = ser::Impossible<String, SerError>;
    type SerializeStructVariant = ser::Impossible<String, SerError>;

    fn serialize_bool(self, v: bool) -> Res<String> {
        Ok(v.to_string())
    }
    fn serialize_i8(self, v: i8) -> Res<String> {
        Ok(v.to_string())
    }
    fn serialize_i16(self, v: i16) -> Res<String> {
        Ok(v.to_string())
    }
    fn serialize_i32(self, v: i32) -> Res<String> {
        Ok(v.to_string())
    }
    fn serialize_i64(self, v: i64) -> Res<String> {
        Ok(v.to_string())
    }
    fn serialize_i128(self, v: i128) -> Res<String> {
        Ok(v.to_string())
    }
    fn serialize_u8(self, v: u8) -> Res<String> {
        Ok(v.to_string())
    }
    fn serialize_u16(self, v: u16) -> Res<String> {
        Ok(v.to_string())
    }
    fn serialize_u32(self, v: u32) -> Res<String> {
        Ok(v.to_string())
    }
    fn serialize_u64(self, v: u64) -> Res<String> {
        Ok(v.to_string())
    }
    fn serialize_u128(self, v: u128) -> Res<String> {
        Ok(v.to_string())
    }
    fn serialize_f32(self, v: f32) -> Res<String> {
        if v.is_finite() {
            Ok(v.to_string())
        } else {
            Err(key_error())
        }
    }
    fn serialize_f64(self, v: f64) -> Res<String> {
        if v.is_finite() {
            Ok(v.to_string())
        } else {
            Err(key_error())
        }
    }
    fn serialize_char(self, v: char) -> Res<String> {
        Ok(v.to_string())
    }
    fn serialize_str(self, v: &str) -> Res<String> {
        Ok(v.to_string())
    }
    fn serialize_bytes(self, _v: &[u8]) -> Res<String> {
        Err(key_error())
    }
    fn serialize_none(self) -> Res<String> {
        Err(key_error())
    }
    fn serialize_some<T: Serialize + ?Sized>(self, _value: &T) -> Res<String> {
        Err(key_error())
    }
    fn serialize_unit(self) -> Res<String> {
        Err(key_error())
    }
    fn serialize_unit_struct(self, _name: &'static str) -> Res<String> {
        Err(key_error())
    }
    fn serialize_unit_variant(self, _name: &'static str, _index: u32, variant: &'static str) -> Res<String> {
        Ok(variant.to_string())
    }
    fn serialize_newtype_struct<T: Serialize + ?Sized>(self, _name: &'static str, value: &T) -> Res<String> {
        value.serialize(self)
    }
    fn serialize_newtype_variant<T: Serialize + ?Sized>(
        self,
        _name: &'static str,
        _index: u32,
        _variant: &'static str,
        _value: &T,
    ) -> Res<String> {
        Err(key_error())
    }
    fn serialize_seq(self, _len: Option<usize>) -> Res<Self::SerializeSeq> {
        Err(key_error())
    }
    fn serialize_tuple(self, _len: usize) -> Res<Self::SerializeTuple> {
        Err(key_error())
    }
    fn serialize_tuple_struct(self, _name: &'static str, _len: usize) -> Res<Self::SerializeTupleStruct> {
        Err(key_error())
    }
    fn serialize_tuple_variant(
        self,
        _name: &'static str,
        _index: u32,
        _variant: &'static str,
        _len: usize,
    ) -> Res<Self::SerializeTupleVariant> {
        Err(key_error())
    }
    fn serialize_map(self, _len: Option<usize>) -> Res<Self::SerializeMap> {
        Err(key_error())
    }
    fn serialize_struct(self, _name: &'static str, _len: usize) -> Res<Self::SerializeStruct> {
        Err(key_error())
    }
    fn serialize_struct_variant(
        self,
        _name: &'static str,
        _index: u32,
        _variant: &'static str,
        _len: usize,
    ) -> Res<Self::SerializeStructVariant> {
        Err(key_error())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use serde::Serialize;
    use std::collections::BTreeMap;

    /// The path this module replaces: through `serde_json::Value`.
    fn via_json<T: Serialize>(v: &T) -> Option<Value> {
        serde_json::to_value(v).ok().map(|j| Value::from_json(&j))
    }

    #[derive(Serialize)]
    enum Shape {
        Unit,
        New(i32),
        Tuple(u8, String),
        Named { w: f64, tags: Vec<&'static str> },
    }

    #[derive(Serialize)]
    struct Unit;

    #[derive(Serialize)]
    struct Wrapper(u64);

    #[derive(Serialize)]
    struct Doc {
        name: String,
        age: Option<u32>,
        big: u64,
        huge: u128,
        small: i8,
        ratio: f32,
        nan: f64,
        ch: char,
        unit: (),
        unit_struct: Unit,
        wrapper: Wrapper,
        shapes: Vec<Shape>,
        by_num: BTreeMap<i32, bool>,
        by_bool: BTreeMap<bool, i32>,
        pair: (i64, String),
        #[serde(skip_serializing_if = "Option::is_none")]
        skipped: Option<i32>,
        #[serde(flatten)]
        extra: BTreeMap<String, i32>,
    }

    #[test]
    fn structs_enums_and_maps_match_the_json_path() {
        let doc = Doc {
            name: "Ann".into(),
            age: None,
            big: u64::MAX,
            huge: 7,
            small: -3,
            ratio: 0.5,
            nan: f64::NAN,
            ch: 'é',
            unit: (),
            unit_struct: Unit,
            wrapper: Wrapper(9),
            shapes: vec![
                Shape::Unit,
                Shape::New(-1),
                Shape::Tuple(2, "t".into()),
                Shape::Named { w: 1.5, tags: vec!["a"] },
            ],
            by_num: [(1, true), (-2, false)].into_iter().collect(),
            by_bool: [(true, 1)].into_iter().collect(),
            pair: (4, "x".into()),
            skipped: None,
            extra: [("z".to_string(), 26)].into_iter().collect(),
        };
        let ours = to_value(&doc).unwrap();
        assert_eq!(Some(&ours), via_json(&doc).as_ref());
        let Value::Object(m) = &ours else { panic!("an object: {ours:?}") };
        assert_eq!(m.get("big"), Some(&Value::Float(u64::MAX as f64)));
        assert_eq!(m.get("nan"), Some(&Value::Null));
        assert!(!m.contains_key("skipped"));
        assert_eq!(m.get("z"), Some(&Value::Int(26)));
        // The document path gives the same fields, in the same order, twice in a row (the
        // second time from the remembered names).
        for _ in 0..2 {
            let data = to_doc_data(&doc).unwrap().unwrap();
            let back: IndexMap<String, Value> = data.into_iter().map(|(k, v)| (k.to_string(), v)).collect();
            assert_eq!(Value::Object(back), ours);
        }
    }

    #[test]
    fn non_string_keys_and_non_objects_are_refused() {
        let by_list: BTreeMap<Vec<u8>, i32> = [(vec![1], 1)].into_iter().collect();
        assert!(to_value(&by_list).is_err());
        assert!(serde_json::to_value(&by_list).is_err(), "serde_json refuses it too");
        assert_eq!(to_doc_data(&5).unwrap().unwrap_err(), "Int");
        assert_eq!(to_doc_data(&Wrapper(1)).unwrap().unwrap_err(), "Int");
        assert_eq!(to_doc_data(&Shape::Unit).unwrap().unwrap_err(), "String");
        assert_eq!(to_doc_data(&vec![1]).unwrap().unwrap_err(), "Array");
    }

    #[derive(Serialize)]
    struct User {
        name: String,
        age: u8,
        tags: Vec<String>,
        address: Option<BTreeMap<String, String>>,
    }

    #[derive(Serialize)]
    struct Other {
        age: i32,
        name: &'static str,
    }

    #[test]
    fn plain_structs_become_fields_directly_whatever_the_previous_shape() {
        let u = User { name: "Ann".into(), age: 30, tags: vec!["a".into()], address: None };
        let o = Other { age: -1, name: "x" };
        for _ in 0..3 {
            for (data, json) in [
                (to_doc_data(&u).unwrap().unwrap(), serde_json::to_value(&u).unwrap()),
                (to_doc_data(&o).unwrap().unwrap(), serde_json::to_value(&o).unwrap()),
            ] {
                let back: IndexMap<String, Value> = data.into_iter().map(|(k, v)| (k.to_string(), v)).collect();
                assert_eq!(Value::Object(back), Value::from_json(&json));
            }
        }
    }

    fn json_strategy() -> impl Strategy<Value = serde_json::Value> {
        let leaf = prop_oneof![
            Just(serde_json::Value::Null),
            any::<bool>().prop_map(serde_json::Value::Bool),
            any::<i64>().prop_map(|n| serde_json::json!(n)),
            any::<u64>().prop_map(|n| serde_json::json!(n)),
            any::<f64>().prop_map(|f| serde_json::json!(f)),
            ".{0,8}".prop_map(serde_json::Value::String),
        ];
        leaf.prop_recursive(4, 48, 6, |inner| {
            prop_oneof![
                prop::collection::vec(inner.clone(), 0..6).prop_map(serde_json::Value::Array),
                prop::collection::vec((".{0,6}", inner), 0..6)
                    .prop_map(|kv| serde_json::Value::Object(kv.into_iter().collect())),
            ]
        })
    }

    proptest! {
        #[test]
        fn any_json_value_serializes_as_the_json_path_does(v in json_strategy()) {
            prop_assert_eq!(to_value(&v).ok(), via_json(&v));
        }
    }
}
