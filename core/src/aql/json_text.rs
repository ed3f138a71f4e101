//! Results as JSON text, written straight from the documents.
//!
//! Hosts that hand results over as text (Node's `JSON.parse`, the C ABI, HTTP) would otherwise
//! build a `serde_json::Value` tree only to serialize it at once; for a point lookup that tree
//! costs as much as the lookup. The text is byte for byte what serializing
//! [`ExecutionResult::into_json`] gives; shapes that are rare or already JSON (batches, schema
//! and migration results, duplicate response keys) take that path.

use super::ast::{Field, Selection};
use super::result::{ExecutionResult, QueryBody, QueryResult};
use crate::types::Document;
use crate::value::Value;
use serde::ser::{SerializeMap, SerializeSeq};
use serde::{Serialize, Serializer};
use serde_json::Value as Json;
use std::cell::Cell;

/// Largest integer every JSON reader (IEEE doubles, e.g. JavaScript) holds exactly: 2^53 − 1.
pub const MAX_SAFE_INTEGER: i64 = 9_007_199_254_740_991;

/// A result as JSON text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JsonText {
    /// The SPEC §4.11 JSON object.
    pub text: String,
    /// True when the text holds an integer beyond ±(2^53 − 1), which a reader that parses
    /// numbers as doubles (JavaScript's `JSON.parse`) would round.
    pub beyond_safe_integer: bool,
}

impl ExecutionResult {
    /// The SPEC §4.11 JSON as text: the same bytes as serializing [`ExecutionResult::into_json`].
    pub fn into_json_text(self) -> crate::Result<JsonText> {
        let big = Cell::new(false);
        let text = match &self {
            ExecutionResult::Query(q) => serde_json::to_string(&Envelope { key: &q.key, body: Body::Query(q, &big) }),
            ExecutionResult::Mutation(m) => {
                serde_json::to_string(&Envelope { key: &m.key, body: Body::Json(&m.json, &big) })
            }
            // Shapes that are rare or merge keys (batches, schema, migrations): as a tree.
            _ => {
                let json = self.into_json();
                serde_json::to_string(&JsonView(&json, &big))
            }
        }?;
        Ok(JsonText { text, beyond_safe_integer: big.get() })
    }
}

/// The SPEC §4.11 JSON of a result, serialized straight from its documents: what
/// [`ExecutionResult::into_json_text`] writes, for hosts that build their own values from a
/// serde `Serializer` instead of a `serde_json::Value` tree.
impl Serialize for ExecutionResult {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let big = Cell::new(false);
        match self {
            ExecutionResult::Query(q) => Envelope { key: &q.key, body: Body::Query(q, &big) }.serialize(s),
            ExecutionResult::Mutation(m) => Envelope { key: &m.key, body: Body::Json(&m.json, &big) }.serialize(s),
            // Shapes that are rare or merge keys (batches, schema, migrations): as a tree.
            other => other.to_json().serialize(s),
        }
    }
}

/// `{ key: body }`.
struct Envelope<'a> {
    key: &'a str,
    body: Body<'a>,
}

enum Body<'a> {
    Query(&'a QueryResult, &'a Cell<bool>),
    Json(&'a Json, &'a Cell<bool>),
}

impl Serialize for Envelope<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut map = s.serialize_map(Some(1))?;
        match &self.body {
            Body::Query(q, big) => match &q.body {
                QueryBody::Json { json, .. } => map.serialize_entry(self.key, &JsonView(json, big))?,
                QueryBody::Projected { fields, with_sid, rows } => {
                    map.serialize_entry(self.key, &Documents { docs: rows, fields, with_sid: *with_sid, big })?
                }
            },
            Body::Json(j, big) => map.serialize_entry(self.key, &JsonView(j, big))?,
        }
        map.end()
    }
}

/// A JSON tree, noting integers beyond the safe range.
struct JsonView<'a>(&'a Json, &'a Cell<bool>);

impl Serialize for JsonView<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self.0 {
            Json::Number(n) => {
                if !n.is_f64() && n.as_i64().is_none_or(|i| !(-MAX_SAFE_INTEGER..=MAX_SAFE_INTEGER).contains(&i)) {
                    self.1.set(true);
                }
                n.serialize(s)
            }
            Json::Array(items) => {
                let mut seq = s.serialize_seq(Some(items.len()))?;
                for i in items {
                    seq.serialize_element(&JsonView(i, self.1))?;
                }
                seq.end()
            }
            Json::Object(m) => {
                let mut map = s.serialize_map(Some(m.len()))?;
                for (k, v) in m {
                    map.serialize_entry(k, &JsonView(v, self.1))?;
                }
                map.end()
            }
            other => other.serialize(s),
        }
    }
}

/// The projected documents of a query, as an array.
struct Documents<'a> {
    docs: &'a [std::sync::Arc<Document>],
    fields: &'a [Field],
    with_sid: bool,
    big: &'a Cell<bool>,
}

impl Serialize for Documents<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let unique = unique_keys(self.fields.iter());
        let mut seq = s.serialize_seq(Some(self.docs.len()))?;
        for doc in self.docs {
            if unique {
                seq.serialize_element(&Projection {
                    doc,
                    fields: self.fields,
                    with_sid: self.with_sid,
                    big: self.big,
                })?;
            } else {
                // A key selected twice keeps its first position and its last value: the tree
                // path already does exactly that.
                let tree = super::project::project(doc, self.fields, self.with_sid);
                seq.serialize_element(&JsonView(&tree, self.big))?;
            }
        }
        seq.end()
    }
}

/// True when no two fields share a response key (selections are short: a quadratic scan is
/// cheaper than hashing).
fn unique_keys<'a>(fields: impl Iterator<Item = &'a Field> + Clone) -> bool {
    let keys = fields.map(Field::response_key);
    keys.clone().enumerate().all(|(i, k)| keys.clone().skip(i + 1).all(|other| other != k))
}

/// One document shaped by its selection (see `project::project`).
struct Projection<'a> {
    doc: &'a Document,
    fields: &'a [Field],
    with_sid: bool,
    big: &'a Cell<bool>,
}

impl Serialize for Projection<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let doc = self.doc;
        let mut map = s.serialize_map(None)?;
        let mut has_sid = false;
        if self.fields.is_empty() {
            for (k, v) in doc.data.iter() {
                has_sid |= k == "_sid";
                map.serialize_entry(k, &ValueView(v, self.big))?;
            }
        }
        for f in self.fields {
            let key = f.response_key();
            has_sid |= key == "_sid";
            if f.name == "_sid" {
                map.serialize_entry(key, &doc._sid)?;
            } else {
                match doc.get_ref(&f.name) {
                    Some(v) => map.serialize_entry(key, &Selected { value: v, sels: &f.selections, big: self.big })?,
                    None => map.serialize_entry(key, &())?,
                }
            }
        }
        if self.with_sid && !has_sid {
            map.serialize_entry("_sid", &doc._sid)?;
        }
        map.end()
    }
}

/// A value shaped by a nested selection (see `project::project_value`).
struct Selected<'a> {
    value: &'a Value,
    sels: &'a [Selection],
    big: &'a Cell<bool>,
}

impl Serialize for Selected<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        if self.sels.is_empty() {
            return ValueView(self.value, self.big).serialize(s);
        }
        match self.value {
            Value::Object(m) => {
                let fields = self.sels.iter().filter_map(|sel| match sel {
                    Selection::Field(f) => Some(f),
                    _ => None,
                });
                if !unique_keys(fields.clone()) {
                    let tree = super::project::project_value(self.value, self.sels);
                    return JsonView(&tree, self.big).serialize(s);
                }
                let mut map = s.serialize_map(None)?;
                for f in fields {
                    match m.get(&f.name) {
                        Some(x) => map.serialize_entry(
                            f.response_key(),
                            &Selected { value: x, sels: &f.selections, big: self.big },
                        )?,
                        None => map.serialize_entry(f.response_key(), &())?,
                    }
                }
                map.end()
            }
            Value::Array(items) => {
                let mut seq = s.serialize_seq(Some(items.len()))?;
                for i in items {
                    seq.serialize_element(&Selected { value: i, sels: self.sels, big: self.big })?;
                }
                seq.end()
            }
            other => ValueView(other, self.big).serialize(s),
        }
    }
}

/// A stored value as JSON (see `Value::to_json`: UUIDs as text, non-finite floats as null).
struct ValueView<'a>(&'a Value, &'a Cell<bool>);

impl Serialize for ValueView<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self.0 {
            Value::Null => s.serialize_unit(),
            Value::Bool(b) => s.serialize_bool(*b),
            Value::Int(i) => {
                if !(-MAX_SAFE_INTEGER..=MAX_SAFE_INTEGER).contains(i) {
                    self.1.set(true);
                }
                s.serialize_i64(*i)
            }
            Value::Float(f) if f.is_finite() => s.serialize_f64(*f),
            Value::Float(_) => s.serialize_unit(),
            Value::String(text) => s.serialize_str(text),
            Value::Uuid(u) => s.collect_str(u),
            Value::Array(items) => {
                let mut seq = s.serialize_seq(Some(items.len()))?;
                for i in items {
                    seq.serialize_element(&ValueView(i, self.1))?;
                }
                seq.end()
            }
            Value::Object(m) => {
                let mut map = s.serialize_map(Some(m.len()))?;
                for (k, v) in m {
                    map.serialize_entry(k, &ValueView(v, self.1))?;
                }
                map.end()
            }
        }
    }
}
