//! Engine values into host values through one serde `Serializer`: a host implements
//! [`ValueSink`] (Node: an encoded buffer its JS decoder reads; Python: dicts and lists) and
//! [`write`] drives it from anything serde serializes as JSON. Query results serialize
//! straight from their documents (`impl Serialize for ExecutionResult`), so no
//! `serde_json::Value` tree is built on the way to the host.

use serde::ser::{self, Serialize};

/// Nesting deeper than this is refused (the engine stores nothing deeper).
pub const MAX_DEPTH: usize = 256;

/// Why a value could not be written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SinkError(pub String);

impl SinkError {
    /// An error with this message.
    pub fn new(msg: impl Into<String>) -> Self {
        SinkError(msg.into())
    }
}

impl std::fmt::Display for SinkError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for SinkError {}

impl ser::Error for SinkError {
    fn custom<T: std::fmt::Display>(msg: T) -> Self {
        SinkError(msg.to_string())
    }
}

/// What a host builds values with, one event at a time, in document order. Arrays and
/// objects are bracketed by `begin_*` / `end_*` (with the number of items or entries); an
/// object's entries are a `key` followed by its value.
pub trait ValueSink {
    /// `null` (also a non-finite float).
    fn null(&mut self) -> Result<(), SinkError>;
    /// A boolean.
    fn bool(&mut self, b: bool) -> Result<(), SinkError>;
    /// A signed integer.
    fn int(&mut self, i: i64) -> Result<(), SinkError>;
    /// An unsigned integer beyond `i64::MAX`.
    fn uint(&mut self, u: u64) -> Result<(), SinkError>;
    /// A finite float.
    fn float(&mut self, f: f64) -> Result<(), SinkError>;
    /// A string.
    fn str(&mut self, s: &str) -> Result<(), SinkError>;
    /// An array starts.
    fn begin_array(&mut self) -> Result<(), SinkError>;
    /// The array opened last ends, after `count` items.
    fn end_array(&mut self, count: usize) -> Result<(), SinkError>;
    /// An object starts.
    fn begin_object(&mut self) -> Result<(), SinkError>;
    /// The key of the next entry of the object opened last.
    fn key(&mut self, k: &str) -> Result<(), SinkError>;
    /// The object opened last ends, after `count` entries.
    fn end_object(&mut self, count: usize) -> Result<(), SinkError>;
}

/// Writes `value` into `sink`.
pub fn write<T: Serialize + ?Sized, S: ValueSink>(value: &T, sink: &mut S) -> Result<(), SinkError> {
    let mut w = Writer { sink, depth: 0 };
    value.serialize(&mut w)
}

/// The serializer: a sink and the current depth.
struct Writer<S> {
    sink: S,
    depth: usize,
}

impl<S: ValueSink> ValueSink for &mut S {
    fn null(&mut self) -> Result<(), SinkError> {
        (**self).null()
    }
    fn bool(&mut self, b: bool) -> Result<(), SinkError> {
        (**self).bool(b)
    }
    fn int(&mut self, i: i64) -> Result<(), SinkError> {
        (**self).int(i)
    }
    fn uint(&mut self, u: u64) -> Result<(), SinkError> {
        (**self).uint(u)
    }
    fn float(&mut self, f: f64) -> Result<(), SinkError> {
        (**self).float(f)
    }
    fn str(&mut self, s: &str) -> Result<(), SinkError> {
        (**self).str(s)
    }
    fn begin_array(&mut self) -> Result<(), SinkError> {
        (**self).begin_array()
    }
    fn end_array(&mut self, count: usize) -> Result<(), SinkError> {
        (**self).end_array(count)
    }
    fn begin_object(&mut self) -> Result<(), SinkError> {
        (**self).begin_object()
    }
    fn key(&mut self, k: &str) -> Result<(), SinkError> {
        (**self).key(k)
    }
    fn end_object(&mut self, count: usize) -> Result<(), SinkError> {
        (**self).end_object(count)
    }
}

#[derive(Clone, Copy)]
enum Kind {
    Array,
    Object,
}

impl<S: ValueSink> Writer<S> {
    fn open(&mut self, kind: Kind) -> Result<(), SinkError> {
        self.depth += 1;
        if self.depth > MAX_DEPTH {
            return Err(SinkError::new(format!("a value is nested deeper than {MAX_DEPTH} levels")));
        }
        match kind {
            Kind::Array => self.sink.begin_array(),
            Kind::Object => self.sink.begin_object(),
        }
    }

    fn close(&mut self, kind: Kind, count: usize) -> Result<(), SinkError> {
        self.depth -= 1;
        match kind {
            Kind::Array => self.sink.end_array(count),
            Kind::Object => self.sink.end_object(count),
        }
    }
}

/// An array or object being written, with its count so far.
struct Compound<'a, S> {
    w: &'a mut Writer<S>,
    kind: Kind,
    count: usize,
    /// Set for an enum variant wrapped in a one-entry object, closed after the inner value.
    variant: bool,
}

impl<S: ValueSink> Compound<'_, S> {
    fn end(self) -> Result<(), SinkError> {
        self.w.close(self.kind, self.count)?;
        if self.variant {
            self.w.close(Kind::Object, 1)?;
        }
        Ok(())
    }

    fn element<T: Serialize + ?Sized>(&mut self, v: &T) -> Result<(), SinkError> {
        self.count += 1;
        v.serialize(&mut *self.w)
    }

    fn field<T: Serialize + ?Sized>(&mut self, k: &str, v: &T) -> Result<(), SinkError> {
        self.count += 1;
        self.w.sink.key(k)?;
        v.serialize(&mut *self.w)
    }
}

impl<'a, S: ValueSink> ser::Serializer for &'a mut Writer<S> {
    type Ok = ();
    type Error = SinkError;
    type SerializeSeq = Compound<'a, S>;
    type SerializeTuple = Compound<'a, S>;
    type SerializeTupleStruct = Compound<'a, S>;
    type SerializeTupleVariant = Compound<'a, S>;
    type SerializeMap = Compound<'a, S>;
    type SerializeStruct = Compound<'a, S>;
    type SerializeStructVariant = Compound<'a, S>;

    fn serialize_bool(self, v: bool) -> Result<(), SinkError> {
        self.sink.bool(v)
    }
    fn serialize_i8(self, v: i8) -> Result<(), SinkError> {
        self.serialize_i64(v.into())
    }
    fn serialize_i16(self, v: i16) -> Result<(), SinkError> {
        self.serialize_i64(v.into())
    }
    fn serialize_i32(self, v: i32) -> Result<(), SinkError> {
        self.serialize_i64(v.into())
    }
    fn serialize_i64(self, v: i64) -> Result<(), SinkError> {
        self.sink.int(v)
    }
    fn serialize_u8(self, v: u8) -> Result<(), SinkError> {
        self.serialize_i64(v.into())
    }
    fn serialize_u16(self, v: u16) -> Result<(), SinkError> {
        self.serialize_i64(v.into())
    }
    fn serialize_u32(self, v: u32) -> Result<(), SinkError> {
        self.serialize_i64(v.into())
    }
    fn serialize_u64(self, v: u64) -> Result<(), SinkError> {
        match i64::try_from(v) {
            Ok(i) => self.sink.int(i),
            Err(_) => self.sink.uint(v),
        }
    }
    fn serialize_f32(self, v: f32) -> Result<(), SinkError> {
        self.serialize_f64(v.into())
    }
    fn serialize_f64(self, v: f64) -> Result<(), SinkError> {
        // As JSON: a non-finite number is null.
        if v.is_finite() {
            self.sink.float(v)
        } else {
            self.sink.null()
        }
    }
    fn serialize_char(self, v: char) -> Result<(), SinkError> {
        self.sink.str(v.encode_utf8(&mut [0; 4]))
    }
    fn serialize_str(self, v: &str) -> Result<(), SinkError> {
        self.sink.str(v)
    }
    fn serialize_bytes(self, v: &[u8]) -> Result<(), SinkError> {
        use ser::SerializeSeq;
        let mut seq = self.serialize_seq(Some(v.len()))?;
        for b in v {
            seq.serialize_element(b)?;
        }
        seq.end()
    }
    fn serialize_none(self) -> Result<(), SinkError> {
        self.serialize_unit()
    }
    fn serialize_some<T: Serialize + ?Sized>(self, v: &T) -> Result<(), SinkError> {
        v.serialize(self)
    }
    fn serialize_unit(self) -> Result<(), SinkError> {
        self.sink.null()
    }
    fn serialize_unit_struct(self, _: &'static str) -> Result<(), SinkError> {
        self.serialize_unit()
    }
    fn serialize_unit_variant(self, _: &'static str, _: u32, variant: &'static str) -> Result<(), SinkError> {
        self.serialize_str(variant)
    }
    fn serialize_newtype_struct<T: Serialize + ?Sized>(self, _: &'static str, v: &T) -> Result<(), SinkError> {
        v.serialize(self)
    }
    fn serialize_newtype_variant<T: Serialize + ?Sized>(
        self,
        _: &'static str,
        _: u32,
        variant: &'static str,
        v: &T,
    ) -> Result<(), SinkError> {
        self.open(Kind::Object)?;
        self.sink.key(variant)?;
        v.serialize(&mut *self)?;
        self.close(Kind::Object, 1)
    }
    fn serialize_seq(self, _: Option<usize>) -> Result<Compound<'a, S>, SinkError> {
        self.open(Kind::Array)?;
        Ok(Compound { w: self, kind: Kind::Array, count: 0, variant: false })
    }
    fn serialize_tuple(self, len: usize) -> Result<Compound<'a, S>, SinkError> {
        self.serialize_seq(Some(len))
    }
    fn serialize_tuple_struct(self, _: &'static str, len: usize) -> Result<Compound<'a, S>, SinkError> {
        self.serialize_seq(Some(len))
    }
    fn serialize_tuple_variant(
        self,
        _: &'static str,
        _: u32,
        variant: &'static str,
        _: usize,
    ) -> Result<Compound<'a, S>, SinkError> {
        self.open(Kind::Object)?;
        self.sink.key(variant)?;
        self.open(Kind::Array)?;
        Ok(Compound { w: self, kind: Kind::Array, count: 0, variant: true })
    }
    fn serialize_map(self, _: Option<usize>) -> Result<Compound<'a, S>, SinkError> {
        self.open(Kind::Object)?;
        Ok(Compound { w: self, kind: Kind::Object, count: 0, variant: false })
    }
    fn serialize_struct(self, _: &'static str, len: usize) -> Result<Compound<'a, S>, SinkError> {
        self.serialize_map(Some(len))
    }
    fn serialize_struct_variant(
        self,
        _: &'static str,
        _: u32,
        variant: &'static str,
        _: usize,
    ) -> Result<Compound<'a, S>, SinkError> {
        self.open(Kind::Object)?;
        self.sink.key(variant)?;
        self.open(Kind::Object)?;
        Ok(Compound { w: self, kind: Kind::Object, count: 0, variant: true })
    }
}

impl<S: ValueSink> ser::SerializeSeq for Compound<'_, S> {
    type Ok = ();
    type Error = SinkError;
    fn serialize_element<T: Serialize + ?Sized>(&mut self, v: &T) -> Result<(), SinkError> {
        self.element(v)
    }
    fn end(self) -> Result<(), SinkError> {
        Compound::end(self)
    }
}

impl<S: ValueSink> ser::SerializeTuple for Compound<'_, S> {
    type Ok = ();
    type Error = SinkError;
    fn serialize_element<T: Serialize + ?Sized>(&mut self, v: &T) -> Result<(), SinkError> {
        self.element(v)
    }
    fn end(self) -> Result<(), SinkError> {
        Compound::end(self)
    }
}

impl<S: ValueSink> ser::SerializeTupleStruct for Compound<'_, S> {
    type Ok = ();
    type Error = SinkError;
    fn serialize_field<T: Serialize + ?Sized>(&mut self, v: &T) -> Result<(), SinkError> {
        self.element(v)
    }
    fn end(self) -> Result<(), SinkError> {
        Compound::end(self)
    }
}

impl<S: ValueSink> ser::SerializeTupleVariant for Compound<'_, S> {
    type Ok = ();
    type Error = SinkError;
    fn serialize_field<T: Serialize + ?Sized>(&mut self, v: &T) -> Result<(), SinkError> {
        self.element(v)
    }
    fn end(self) -> Result<(), SinkError> {
        Compound::end(self)
    }
}

impl<S: ValueSink> ser::SerializeMap for Compound<'_, S> {
    type Ok = ();
    type Error = SinkError;
    fn serialize_key<T: Serialize + ?Sized>(&mut self, k: &T) -> Result<(), SinkError> {
        self.count += 1;
        k.serialize(KeySerializer(&mut *self.w))
    }
    fn serialize_value<T: Serialize + ?Sized>(&mut self, v: &T) -> Result<(), SinkError> {
        v.serialize(&mut *self.w)
    }
    fn end(self) -> Result<(), SinkError> {
        Compound::end(self)
    }
}

impl<S: ValueSink> ser::SerializeStruct for Compound<'_, S> {
    type Ok = ();
    type Error = SinkError;
    fn serialize_field<T: Serialize + ?Sized>(&mut self, k: &'static str, v: &T) -> Result<(), SinkError> {
        self.field(k, v)
    }
    fn end(self) -> Result<(), SinkError> {
        Compound::end(self)
    }
}

impl<S: ValueSink> ser::SerializeStructVariant for Compound<'_, S> {
    type Ok = ();
    type Error = SinkError;
    fn serialize_field<T: Serialize + ?Sized>(&mut self, k: &'static str, v: &T) -> Result<(), SinkError> {
        self.field(k, v)
    }
    fn end(self) -> Result<(), SinkError> {
        Compound::end(self)
    }
}

/// Object keys: strings (and, as JSON writes them, numbers and booleans as their text).
struct KeySerializer<'a, S>(&'a mut Writer<S>);

fn not_a_key() -> SinkError {
    SinkError::new("an object key must be a string")
}

impl<S: ValueSink> ser::Serializer for KeySerializer<'_, S> {
    type Ok = ();
    type Error = SinkError;
    type SerializeSeq = ser::Impossible<(), SinkError>;
    type SerializeTuple = ser::Impossible<(), SinkError>;
    type SerializeTupleStruct = ser::Impossible<(), SinkError>;
    type SerializeTupleVariant = ser::Impossible<(), SinkError>;
    type SerializeMap = ser::Impossible<(), SinkError>;
    type SerializeStruct = ser::Impossible<(), SinkError>;
    type SerializeStructVariant = ser::Impossible<(), SinkError>;

    fn serialize_str(self, v: &str) -> Result<(), SinkError> {
        self.0.sink.key(v)
    }
    fn serialize_bool(self, v: bool) -> Result<(), SinkError> {
        self.serialize_str(if v { "true" } else { "false" })
    }
    fn serialize_i8(self, v: i8) -> Result<(), SinkError> {
        self.serialize_str(&v.to_string())
    }
    fn serialize_i16(self, v: i16) -> Result<(), SinkError> {
        self.serialize_str(&v.to_string())
    }
    fn serialize_i32(self, v: i32) -> Result<(), SinkError> {
        self.serialize_str(&v.to_string())
    }
    fn serialize_i64(self, v: i64) -> Result<(), SinkError> {
        self.serialize_str(&v.to_string())
    }
    fn serialize_u8(self, v: u8) -> Result<(), SinkError> {
        self.serialize_str(&v.to_string())
    }
    fn serialize_u16(self, v: u16) -> Result<(), SinkError> {
        self.serialize_str(&v.to_string())
    }
    fn serialize_u32(self, v: u32) -> Result<(), SinkError> {
        self.serialize_str(&v.to_string())
    }
    fn serialize_u64(self, v: u64) -> Result<(), SinkError> {
        self.serialize_str(&v.to_string())
    }
    fn serialize_f32(self, _: f32) -> Result<(), SinkError> {
        Err(not_a_key())
    }
    fn serialize_f64(self, _: f64) -> Result<(), SinkError> {
        Err(not_a_key())
    }
    fn serialize_char(self, v: char) -> Result<(), SinkError> {
        self.serialize_str(v.encode_utf8(&mut [0; 4]))
    }
    fn serialize_bytes(self, _: &[u8]) -> Result<(), SinkError> {
        Err(not_a_key())
    }
    fn serialize_none(self) -> Result<(), SinkError> {
        Err(not_a_key())
    }
    fn serialize_some<T: Serialize + ?Sized>(self, _: &T) -> Result<(), SinkError> {
        Err(not_a_key())
    }
    fn serialize_unit(self) -> Result<(), SinkError> {
        Err(not_a_key())
    }
    fn serialize_unit_struct(self, _: &'static str) -> Result<(), SinkError> {
        Err(not_a_key())
    }
    fn serialize_unit_variant(self, _: &'static str, _: u32, variant: &'static str) -> Result<(), SinkError> {
        self.serialize_str(variant)
    }
    fn serialize_newtype_struct<T: Serialize + ?Sized>(self, _: &'static str, v: &T) -> Result<(), SinkError> {
        v.serialize(self)
    }
    fn serialize_newtype_variant<T: Serialize + ?Sized>(
        self,
        _: &'static str,
        _: u32,
        _: &'static str,
        _: &T,
    ) -> Result<(), SinkError> {
        Err(not_a_key())
    }
    fn serialize_seq(self, _: Option<usize>) -> Result<Self::SerializeSeq, SinkError> {
        Err(not_a_key())
    }
    fn serialize_tuple(self, _: usize) -> Result<Self::SerializeTuple, SinkError> {
        Err(not_a_key())
    }
    fn serialize_tuple_struct(self, _: &'static str, _: usize) -> Result<Self::SerializeTupleStruct, SinkError> {
        Err(not_a_key())
    }
    fn serialize_tuple_variant(
        self,
        _: &'static str,
        _: u32,
        _: &'static str,
        _: usize,
    ) -> Result<Self::SerializeTupleVariant, SinkError> {
        Err(not_a_key())
    }
    fn serialize_map(self, _: Option<usize>) -> Result<Self::SerializeMap, SinkError> {
        Err(not_a_key())
    }
    fn serialize_struct(self, _: &'static str, _: usize) -> Result<Self::SerializeStruct, SinkError> {
        Err(not_a_key())
    }
    fn serialize_struct_variant(
        self,
        _: &'static str,
        _: u32,
        _: &'static str,
        _: usize,
    ) -> Result<Self::SerializeStructVariant, SinkError> {
        Err(not_a_key())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::{json, Map, Value};

    /// A sink that builds the JSON tree back, checking the counts it is given.
    #[derive(Default)]
    struct Tree {
        stack: Vec<(Value, Option<String>)>,
        root: Option<Value>,
    }

    impl Tree {
        fn put(&mut self, v: Value) -> Result<(), SinkError> {
            match self.stack.last_mut() {
                None => self.root = Some(v),
                Some((Value::Array(items), _)) => items.push(v),
                Some((Value::Object(m), key)) => {
                    let k = key.take().ok_or_else(|| SinkError::new("a value without its key"))?;
                    m.insert(k, v);
                }
                Some(_) => return Err(SinkError::new("not a container")),
            }
            Ok(())
        }

        fn end(&mut self, count: usize) -> Result<(), SinkError> {
            let (v, _) = self.stack.pop().ok_or_else(|| SinkError::new("unbalanced end"))?;
            let n = match &v {
                Value::Array(a) => a.len(),
                Value::Object(m) => m.len(),
                _ => usize::MAX,
            };
            assert_eq!(n, count, "the count given at the end");
            self.put(v)
        }
    }

    impl ValueSink for Tree {
        fn null(&mut self) -> Result<(), SinkError> {
            self.put(Value::Null)
        }
        fn bool(&mut self, b: bool) -> Result<(), SinkError> {
            self.put(json!(b))
        }
        fn int(&mut self, i: i64) -> Result<(), SinkError> {
            self.put(json!(i))
        }
        fn uint(&mut self, u: u64) -> Result<(), SinkError> {
            self.put(json!(u))
        }
        fn float(&mut self, f: f64) -> Result<(), SinkError> {
            self.put(json!(f))
        }
        fn str(&mut self, s: &str) -> Result<(), SinkError> {
            self.put(json!(s))
        }
        fn begin_array(&mut self) -> Result<(), SinkError> {
            self.stack.push((Value::Array(Vec::new()), None));
            Ok(())
        }
        fn end_array(&mut self, count: usize) -> Result<(), SinkError> {
            self.end(count)
        }
        fn begin_object(&mut self) -> Result<(), SinkError> {
            self.stack.push((Value::Object(Map::new()), None));
            Ok(())
        }
        fn key(&mut self, k: &str) -> Result<(), SinkError> {
            match self.stack.last_mut() {
                Some((Value::Object(_), key)) => *key = Some(k.to_string()),
                _ => return Err(SinkError::new("a key outside an object")),
            }
            Ok(())
        }
        fn end_object(&mut self, count: usize) -> Result<(), SinkError> {
            self.end(count)
        }
    }

    fn tree_of<T: Serialize>(v: &T) -> Result<Value, SinkError> {
        let mut t = Tree::default();
        write(v, &mut t)?;
        Ok(t.root.expect("a value"))
    }

    #[test]
    fn json_comes_back_whole_through_the_sink() {
        let v =
            json!({"a": [1, -2, 2.5, u64::MAX, i64::MIN, "ü ✓", null, true, {"b": {}}], "c": [], "d": {"e": false}});
        assert_eq!(tree_of(&v).unwrap(), v);
        assert!(tree_of(&f64::NAN).unwrap().is_null(), "a non-finite float is null, as in JSON");
    }

    #[test]
    fn engine_results_serialize_like_their_json() {
        let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        let dir = tempfile::tempdir().unwrap();
        rt.block_on(async {
            let db = aurora_db::Aurora::open(dir.path().join("db")).await.unwrap();
            db.execute("schema { define collection u { k: String! @unique  n: Int  o: Object  l: [Int] } }").await.unwrap();
            db.execute(
                "mutation { insertInto(collection: \"u\", data: { k: \"a\", n: 9007199254740993, o: { x: { y: [1, 2] } }, l: [3] }) { k } }",
            )
            .await
            .unwrap();
            for q in [
                "query { u { k n o l } }",
                "query { u { k k n } }",
                "query { u { o { x { y } } missing: n _sid } }",
                "query { u { aggregate { count } } }",
                "query { u(first: 1) { edges { node { k } cursor } pageInfo { hasNextPage } } }",
                "query { a: u { k } b: u { n } }",
                "mutation { update(collection: \"u\", where: { k: { eq: \"a\" } }, data: { n: 1 }) { k n } }",
            ] {
                let lean = db.execute_lean(q).await.unwrap();
                let expected = lean.clone().into_json();
                assert_eq!(tree_of(&lean).unwrap(), expected, "{q}");
            }
        });
    }

    #[test]
    fn nesting_past_the_limit_is_refused() {
        let mut ok = json!(1);
        for _ in 0..MAX_DEPTH {
            ok = json!([ok]);
        }
        assert!(tree_of(&ok).is_ok(), "{MAX_DEPTH} levels are fine");
        let deep = json!([ok]);
        assert!(tree_of(&deep).is_err());
    }
}
