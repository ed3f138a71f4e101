//! Results as rows of scalars, for hosts that build their objects from a fixed shape.
//!
//! A list query whose selected values are all scalars (a point lookup, most listings) is a
//! response key, column names and a grid of scalars. A host that makes objects of a known shape
//! cheaply (Node compiles one object literal per shape) builds the result from these cells
//! instead of parsing JSON text; the cells mean exactly what [`ExecutionResult::into_json`]
//! writes. Anything else (nested values, whole documents, duplicate keys, batches) has no rows.

use super::result::{ExecutionResult, QueryBody};
use crate::types::Document;
use crate::value::Value;
use serde_json::Value as Json;
use uuid::Uuid;

/// One value of a row, as the JSON of the result has it.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Scalar<'a> {
    /// JSON `null`: a null, a missing field, or a non-finite float.
    Null,
    /// A boolean.
    Bool(bool),
    /// An integer (JSON readers that use doubles hold it exactly within ±(2^53 − 1)).
    Int(i64),
    /// A finite float.
    Float(f64),
    /// A string (the system id too).
    Str(&'a str),
    /// A UUID, written as lowercase hyphenated text.
    Uuid(&'a Uuid),
}

/// A list query result as rows: `{ key: [ { columns[0]: cells[0], ... }, ... ] }`.
#[derive(Debug, Clone, PartialEq)]
pub struct Rows<'a> {
    /// Response key of the query (alias or collection name).
    pub key: &'a str,
    /// Keys of every row, in order; never empty, never repeated.
    pub columns: Vec<&'a str>,
    /// The values, row after row (`columns.len()` per row).
    pub cells: Vec<Scalar<'a>>,
}

impl Rows<'_> {
    /// Number of rows.
    pub fn len(&self) -> usize {
        self.cells.len() / self.columns.len().max(1)
    }

    /// True when the query matched nothing.
    pub fn is_empty(&self) -> bool {
        self.cells.is_empty()
    }

    /// The JSON these rows stand for (the same as the result's [`ExecutionResult::into_json`]).
    pub fn to_json(&self) -> Json {
        let row = |cells: &[Scalar]| -> Json {
            let entries = self.columns.iter().zip(cells).map(|(k, c)| (k.to_string(), c.to_json()));
            Json::Object(entries.collect())
        };
        let list = self.cells.chunks(self.columns.len().max(1)).map(row).collect();
        Json::Object([(self.key.to_string(), Json::Array(list))].into_iter().collect())
    }
}

impl Scalar<'_> {
    /// This value as JSON.
    pub fn to_json(&self) -> Json {
        match *self {
            Scalar::Null => Json::Null,
            Scalar::Bool(b) => Json::Bool(b),
            Scalar::Int(i) => Json::from(i),
            Scalar::Float(f) => serde_json::Number::from_f64(f).map_or(Json::Null, Json::Number),
            Scalar::Str(s) => Json::String(s.to_string()),
            Scalar::Uuid(u) => Json::String(u.to_string()),
        }
    }
}

impl ExecutionResult {
    /// The result as rows of scalars when it is one list query whose selected values are all
    /// scalars; `None` for any other shape (the JSON is then the way to read it).
    pub fn rows(&self) -> Option<Rows<'_>> {
        let ExecutionResult::Query(q) = self else { return None };
        let QueryBody::Projected { fields, with_sid, rows } = &q.body else { return None };
        if fields.is_empty() {
            return None; // whole documents: each has its own keys
        }
        let mut columns: Vec<&str> = Vec::with_capacity(fields.len() + 1);
        for f in fields.iter() {
            let key = f.response_key();
            if columns.contains(&key) {
                return None;
            }
            columns.push(key);
        }
        let sid_column = *with_sid && !columns.contains(&"_sid");
        if sid_column {
            columns.push("_sid");
        }
        let mut cells = Vec::with_capacity(columns.len() * rows.len());
        for doc in rows {
            for f in fields.iter() {
                cells.push(if f.name == "_sid" { Scalar::Str(&doc._sid) } else { field(doc, &f.name)? });
            }
            if sid_column {
                cells.push(Scalar::Str(&doc._sid));
            }
        }
        Some(Rows { key: &q.key, columns, cells })
    }
}

/// The scalar at `name` in `doc`, `None` when it holds an array or an object.
fn field<'a>(doc: &'a Document, name: &str) -> Option<Scalar<'a>> {
    Some(match doc.get_ref(name) {
        None | Some(Value::Null) => Scalar::Null,
        Some(Value::Bool(b)) => Scalar::Bool(*b),
        Some(Value::Int(i)) => Scalar::Int(*i),
        Some(Value::Float(f)) if f.is_finite() => Scalar::Float(*f),
        Some(Value::Float(_)) => Scalar::Null,
        Some(Value::String(s)) => Scalar::Str(s),
        Some(Value::Uuid(u)) => Scalar::Uuid(u),
        Some(Value::Array(_) | Value::Object(_)) => return None,
    })
}
