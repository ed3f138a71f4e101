//! Projection: a document shaped by a selection set, keys in selection order.

use super::ast::{Field, Pos, Selection};
use crate::error::{hint_for, AuroraError, Result};
use crate::index::CollectionState;
use crate::types::Document;
use crate::value::Value;
use serde_json::{Map, Value as Json};

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
pub(crate) fn check_fields(st: &CollectionState, fields: &[Field]) -> Result<()> {
    if st.schema.fields.is_empty() && st.count() == 0 {
        // Nothing is known about an empty schemaless collection: accept any shape.
        return Ok(());
    }
    for f in fields {
        if f.name == "_sid" || f.name == "id" || st.knows_field(&f.name) {
            continue;
        }
        return Err(unknown_field(st, &f.name, f.pos));
    }
    Ok(())
}

/// Error for a field no schema entry or document has.
pub(crate) fn unknown_field(st: &CollectionState, name: &str, pos: Pos) -> AuroraError {
    AuroraError::FieldNotFound {
        line: pos.line,
        column: pos.column,
        collection: st.name.clone(),
        field: name.to_string(),
        hint: hint_for(name, st.known_fields()),
    }
}
