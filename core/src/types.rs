//! Schema and document types shared by every layer.

use crate::value::Value;
use indexmap::IndexMap;
use serde::{Deserialize, Serialize};

/// The declared type of a schema field.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum FieldType {
    /// Text.
    String,
    /// 64-bit integer.
    Int,
    /// 64-bit float (Int values are widened to Float on write).
    Float,
    /// true / false.
    Boolean,
    /// UUID (text in a valid UUID form is accepted and stored as a UUID).
    Uuid,
    /// Nested object of any shape.
    Object,
    /// Any value.
    Any,
    /// List whose elements all have the inner type.
    Array(Box<FieldType>),
    /// A calendar date, stored as ISO 8601 text `YYYY-MM-DD` (text order is date order).
    Date,
    /// An instant, stored as ISO 8601 text in UTC with microseconds,
    /// `YYYY-MM-DDTHH:MM:SS.ffffffZ` (text order is time order); any offset is accepted on
    /// write.
    DateTime,
}

#[allow(missing_docs)]
impl FieldType {
    pub const SCALAR_STRING: FieldType = FieldType::String;
    pub const SCALAR_INT: FieldType = FieldType::Int;
    pub const SCALAR_FLOAT: FieldType = FieldType::Float;
    pub const SCALAR_BOOL: FieldType = FieldType::Boolean;
    pub const SCALAR_BOOLEAN: FieldType = FieldType::Boolean;
    pub const SCALAR_UUID: FieldType = FieldType::Uuid;
    pub const SCALAR_OBJECT: FieldType = FieldType::Object;
    pub const SCALAR_ANY: FieldType = FieldType::Any;
    pub const OBJECT: FieldType = FieldType::Object;
    pub const ANY: FieldType = FieldType::Any;

    /// List of the given element type.
    pub fn array_of(inner: FieldType) -> FieldType {
        FieldType::Array(Box::new(inner))
    }

    /// Parses an AQL type name (`String`, `Int`, `[String]`...).
    pub fn parse(name: &str) -> Option<FieldType> {
        let name = name.trim();
        if let Some(inner) = name.strip_prefix('[').and_then(|s| s.strip_suffix(']')) {
            return FieldType::parse(inner.trim_end_matches('!')).map(FieldType::array_of);
        }
        Some(match name {
            "String" => FieldType::String,
            "Int" => FieldType::Int,
            "Float" => FieldType::Float,
            "Boolean" | "Bool" => FieldType::Boolean,
            "Uuid" | "UUID" | "ID" => FieldType::Uuid,
            "Object" | "JSON" => FieldType::Object,
            "Any" => FieldType::Any,
            "Date" => FieldType::Date,
            "DateTime" => FieldType::DateTime,
            _ => return None,
        })
    }
}

impl std::fmt::Display for FieldType {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            FieldType::String => write!(f, "String"),
            FieldType::Int => write!(f, "Int"),
            FieldType::Float => write!(f, "Float"),
            FieldType::Boolean => write!(f, "Boolean"),
            FieldType::Uuid => write!(f, "Uuid"),
            FieldType::Object => write!(f, "Object"),
            FieldType::Any => write!(f, "Any"),
            FieldType::Array(t) => write!(f, "[{t}]"),
            FieldType::Date => write!(f, "Date"),
            FieldType::DateTime => write!(f, "DateTime"),
        }
    }
}

/// One field of a collection schema.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FieldDefinition {
    /// Declared type.
    pub field_type: FieldType,
    /// Enforce uniqueness on insert and update (implies an index).
    pub unique: bool,
    /// Keep a secondary index on this field.
    pub indexed: bool,
    /// Whether null / missing is allowed.
    pub nullable: bool,
}

impl FieldDefinition {
    /// A nullable, unindexed field of the given type.
    pub fn new(field_type: FieldType) -> Self {
        FieldDefinition { field_type, unique: false, indexed: false, nullable: true }
    }
}

/// What a field declares beyond its type: a default, the values of an enum, validation rules.
/// Checked on every write path (fluent, AQL, import, bindings).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(default)]
pub struct FieldRules {
    /// Value given to the field when an insert leaves it out (`age: Int = 0`); also written
    /// into existing documents by `alter … add`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub default: Option<serde_json::Value>,
    /// Name of the enum type the field is declared with (`role: Role`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub enum_name: Option<String>,
    /// The enum's values: a String field must hold one of them.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub enum_values: Vec<String>,
    /// `@validate(format: "email" | "url" | "uuid")`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub format: Option<String>,
    /// `@validate(min: n)`: smallest number allowed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub min: Option<serde_json::Number>,
    /// `@validate(max: n)`: largest number allowed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max: Option<serde_json::Number>,
    /// `@validate(minLength: n)`: fewest characters (text) or elements (list).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub min_length: Option<u64>,
    /// `@validate(maxLength: n)`: most characters (text) or elements (list).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_length: Option<u64>,
    /// `@validate(pattern: "regex")`: text must match (linear-time regex, bounded size).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pattern: Option<String>,
    /// The index of this list field holds each element (so `contains`, `containsAny` and
    /// `containsAll` are served by it). Set when a list field's index is created; an index
    /// made before this existed holds whole lists and keeps doing so.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub elements: bool,
    /// `pattern`, compiled on first use and dropped with the schema.
    #[serde(skip)]
    compiled: CompiledPattern,
}

/// A compiled `pattern` rule (not stored; equal to any other, so schemas compare by text).
#[derive(Debug, Clone, Default)]
struct CompiledPattern(std::sync::OnceLock<std::sync::Arc<crate::query::Pattern>>);

impl PartialEq for CompiledPattern {
    fn eq(&self, _: &Self) -> bool {
        true
    }
}

impl Eq for CompiledPattern {}

impl FieldRules {
    /// True when the field declares nothing beyond its type.
    pub fn is_empty(&self) -> bool {
        *self == FieldRules::default()
    }

    /// The `pattern` rule compiled (once per schema), or `None` without one.
    pub fn pattern_regex(&self) -> crate::Result<Option<std::sync::Arc<crate::query::Pattern>>> {
        let Some(source) = &self.pattern else { return Ok(None) };
        if let Some(p) = self.compiled.0.get() {
            return Ok(Some(p.clone()));
        }
        let p = std::sync::Arc::new(crate::query::Pattern::new(source)?);
        Ok(Some(self.compiled.0.get_or_init(|| p).clone()))
    }
}

/// A collection's schema: declared fields in order, and whether undeclared fields are rejected.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct CollectionSchema {
    /// Declared fields, in declaration order.
    pub fields: IndexMap<String, FieldDefinition>,
    /// Reject fields that are not declared.
    pub strict: bool,
    /// Defaults, enum values and validation rules of the fields that declare any.
    #[serde(default, skip_serializing_if = "IndexMap::is_empty")]
    pub rules: IndexMap<String, FieldRules>,
}

impl CollectionSchema {
    /// Builds a schema from `(name, definition)` pairs.
    pub fn from_fields<S: Into<String>>(fields: Vec<(S, FieldDefinition)>) -> Self {
        CollectionSchema {
            fields: fields.into_iter().map(|(n, d)| (n.into(), d)).collect(),
            strict: false,
            rules: IndexMap::new(),
        }
    }

    /// Fields that need a secondary index (indexed or unique).
    pub fn indexed_fields(&self) -> impl Iterator<Item = &str> {
        self.fields.iter().filter(|(_, d)| d.indexed || d.unique).map(|(n, _)| n.as_str())
    }

    /// True when the index of `field` holds list elements (see [`FieldRules::elements`]).
    pub fn indexes_elements(&self, field: &str) -> bool {
        self.rules.get(field).is_some_and(|r| r.elements)
    }

    /// Marks which list indexes hold elements: a new index on a non-unique list field does;
    /// an index `previous` already had keeps its kind (its stored entries depend on it).
    pub fn mark_element_indexes(&mut self, previous: Option<&CollectionSchema>) {
        let names: Vec<String> = self.fields.keys().cloned().collect();
        for name in names {
            let Some(def) = self.fields.get(&name) else { continue };
            let listed = matches!(def.field_type, FieldType::Array(_)) && def.indexed && !def.unique;
            let kept = previous.and_then(|p| {
                let old = p.fields.get(&name)?;
                (old.indexed && !old.unique && old.field_type == def.field_type).then(|| p.indexes_elements(&name))
            });
            let elements = listed && kept.unwrap_or(true);
            if elements {
                self.rules.entry(name).or_default().elements = true;
            } else if let Some(r) = self.rules.get_mut(&name) {
                r.elements = false;
                if r.is_empty() {
                    self.rules.shift_remove(&name);
                }
            }
        }
    }

    /// Fields with a uniqueness constraint.
    pub fn unique_fields(&self) -> impl Iterator<Item = &str> {
        self.fields.iter().filter(|(_, d)| d.unique).map(|(n, _)| n.as_str())
    }
}

/// Field name → value map of a document, in insertion order (`data.get("age")`).
pub type DocData = IndexMap<crate::FieldName, Value>;

/// A nested object's map as top-level document fields.
pub fn doc_data_from_object(m: IndexMap<String, Value>) -> DocData {
    m.into_iter().map(|(k, v)| (crate::FieldName::from(k), v)).collect()
}

/// Fields up to this many are found by a scan of the entries, not the hash table.
const SCAN_FIELDS: usize = 8;

/// A top-level field of a document. Documents are small: comparing a few keys (lengths first,
/// stored inline) touches less memory than hashing the name and probing the table, and a read
/// of a cold document is bound by the cache lines it touches.
fn field<'a>(data: &'a DocData, name: &str) -> Option<&'a Value> {
    if data.len() <= SCAN_FIELDS {
        data.iter().find_map(|(k, v)| (k.as_str() == name).then_some(v))
    } else {
        data.get(name)
    }
}

/// A stored document: its system id and its fields.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Document {
    /// System id: a UUIDv7 in text form, time-ordered; the storage key.
    pub _sid: String,
    /// The document's fields, shared (cloning a document never copies its fields).
    pub data: std::sync::Arc<DocData>,
}

impl Document {
    /// A document from its system id and fields.
    pub fn new(sid: impl Into<String>, data: DocData) -> Self {
        Document { _sid: sid.into(), data: std::sync::Arc::new(data) }
    }

    /// Value at a field name or dotted path; `_sid` resolves to the system id.
    pub fn get(&self, path: &str) -> Option<Value> {
        if path == "_sid" {
            return Some(Value::String(self._sid.clone()));
        }
        self.get_ref(path).cloned()
    }

    /// Borrowing lookup of a field name or dotted path (not `_sid`).
    pub fn get_ref(&self, path: &str) -> Option<&Value> {
        if let Some(v) = field(&self.data, path) {
            return Some(v);
        }
        let (head, rest) = path.split_once('.')?;
        field(&self.data, head)?.get_path(rest)
    }

    /// The document's fields as a plain `HashMap<String, Value>` (the seed API's `data` type),
    /// for code that builds its own maps from a document.
    pub fn to_map(&self) -> std::collections::HashMap<String, Value> {
        self.data.iter().map(|(k, v)| (k.to_string(), v.clone())).collect()
    }

    /// The document as a JSON object (without `_sid`).
    pub fn to_json(&self) -> serde_json::Value {
        serde_json::Value::Object(self.data.iter().map(|(k, v)| (k.to_string(), v.to_json())).collect())
    }

    /// Deserializes the document's fields into `T`.
    pub fn to_struct<T: serde::de::DeserializeOwned>(&self) -> crate::Result<T> {
        Ok(serde_json::from_value(self.to_json())?)
    }
}

#[cfg(test)]
mod element_index_tests {
    use super::*;

    fn listed(indexed: bool) -> FieldDefinition {
        FieldDefinition { field_type: FieldType::array_of(FieldType::String), unique: false, indexed, nullable: true }
    }

    #[test]
    fn new_list_indexes_hold_elements_and_existing_ones_keep_their_kind() {
        let mut fresh = CollectionSchema::from_fields(vec![("tags", listed(true)), ("other", listed(false))]);
        fresh.mark_element_indexes(None);
        assert!(fresh.indexes_elements("tags") && !fresh.indexes_elements("other"));
        // A schema stored before element indexes existed holds whole lists: a new definition
        // of the same field keeps that kind (its stored entries are whole lists).
        let old = CollectionSchema::from_fields(vec![("tags", listed(true))]);
        let mut next = CollectionSchema::from_fields(vec![("tags", listed(true)), ("more", listed(true))]);
        next.mark_element_indexes(Some(&old));
        assert!(!next.indexes_elements("tags") && next.indexes_elements("more"));
        // Dropping the index forgets the mark; re-adding it makes a new element index.
        let mut dropped = CollectionSchema::from_fields(vec![("tags", listed(false))]);
        dropped.mark_element_indexes(Some(&fresh));
        assert!(dropped.rules.is_empty());
        let mut again = CollectionSchema::from_fields(vec![("tags", listed(true))]);
        again.mark_element_indexes(Some(&dropped));
        assert!(again.indexes_elements("tags"));
    }
}
