//! Projection: a document shaped by a selection set, keys in selection order.

use super::ast::{Field, Pos, Selection};
use crate::db::catalog::Catalog;
use crate::error::{AuroraError, Result};
use crate::types::{DocData, Document};
use crate::value::Value;
use crate::FieldName;
use serde_json::{Map, Value as Json};
use std::sync::Arc;

/// Projects `doc` by `fields` (fragments already inlined). `_sid` is added when `with_sid`.
pub(crate) fn project(doc: &Document, fields: &[Field], with_sid: bool) -> Json {
    let mut out = Map::with_capacity(fields.len() + 1);
    if fields.is_empty() {
        for (k, v) in doc.data.iter() {
            out.insert(k.to_string(), v.to_json());
        }
    }
    for f in fields {
        let v = if f.name == "_sid" {
            Json::String(doc._sid.clone())
        } else {
            match doc.get_ref(&f.name) {
                Some(v) => project_value(v, &f.selections),
                None => Json::Null,
            }
        };
        out.insert(f.response_key().to_string(), v);
    }
    if with_sid && !out.contains_key("_sid") {
        out.insert("_sid".into(), Json::String(doc._sid.clone()));
    }
    Json::Object(out)
}

/// The documents of a list result as the JSON shapes them (see [`project`]), as documents:
/// selected fields under their response keys, absent ones as `Null`, `_sid` as a field only when
/// selected or `with_sid`. Keys are interned once per result, not per document.
pub(crate) fn project_docs(rows: &[Arc<Document>], fields: &[Field], with_sid: bool) -> Vec<Document> {
    let keys: Vec<FieldName> = fields.iter().map(|f| FieldName::from(f.response_key())).collect();
    let sid_key = FieldName::from("_sid");
    rows.iter()
        .map(|doc| {
            if fields.is_empty() && !with_sid {
                return Document { _sid: doc._sid.clone(), data: doc.data.clone() };
            }
            let mut data = if fields.is_empty() { (*doc.data).clone() } else { DocData::with_capacity(keys.len() + 1) };
            for (f, key) in fields.iter().zip(&keys) {
                let v = if f.name == "_sid" {
                    Value::String(doc._sid.clone())
                } else {
                    doc.get_ref(&f.name).map_or(Value::Null, |v| select_value(v, &f.selections))
                };
                data.insert(key.clone(), v);
            }
            if with_sid && !data.contains_key("_sid") {
                data.insert(sid_key.clone(), Value::String(doc._sid.clone()));
            }
            Document::new(doc._sid.clone(), data)
        })
        .collect()
}

/// A value shaped by a nested selection, as a value (see [`project_value`]).
fn select_value(v: &Value, sels: &[Selection]) -> Value {
    if sels.is_empty() {
        return v.clone();
    }
    match v {
        Value::Object(m) => {
            let mut out = indexmap::IndexMap::new();
            for s in sels {
                if let Selection::Field(f) = s {
                    let inner = m.get(&f.name).map_or(Value::Null, |x| select_value(x, &f.selections));
                    out.insert(f.response_key().to_string(), inner);
                }
            }
            Value::Object(out)
        }
        Value::Array(items) => Value::Array(items.iter().map(|i| select_value(i, sels)).collect()),
        other => other.clone(),
    }
}

pub(crate) fn project_value(v: &Value, sels: &[Selection]) -> Json {
    if sels.is_empty() {
        return v.to_json();
    }
    match v {
        Value::Object(m) => {
            let mut out = Map::new();
            for s in sels {
                if let Selection::Field(f) = s {
                    let inner = match m.get(&f.name) {
                        Some(x) => project_value(x, &f.selections),
                        None => Json::Null,
                    };
                    out.insert(f.response_key().to_string(), inner);
                }
            }
            Json::Object(out)
        }
        Value::Array(items) => Json::Array(items.iter().map(|i| project_value(i, sels)).collect()),
        other => other.to_json(),
    }
}

/// Checks that every selected top-level field is known in the collection.
pub(crate) fn check_fields(st: &Catalog, fields: &[Field]) -> Result<()> {
    if st.schema().fields.is_empty() && st.live_count() == 0 {
        // Nothing is known about an empty schemaless collection: accept any shape.
        return Ok(());
    }
    for f in fields {
        if f.name == "_sid" || f.name == "id" || st.knows_field(&f.name) || super::lookup::is_lookup(f) {
            continue;
        }
        return Err(unknown_field(st, &f.name, f.pos));
    }
    Ok(())
}

/// Error for a field no schema entry or document has.
pub(crate) fn unknown_field(st: &Catalog, name: &str, pos: Pos) -> AuroraError {
    st.unknown_field(name).at_position(pos.line, pos.column)
}
