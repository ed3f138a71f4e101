//! Results of AQL execution and their GraphQL-style JSON shape (SPEC §4.11).

use crate::types::{DocData, Document};
use crate::{FieldName, Value};
use serde_json::{Map, Value as Json};
use std::sync::Arc;

/// Result of one root field of a `query`.
#[derive(Debug, Clone, PartialEq)]
pub struct QueryResult {
    /// Response key (alias or collection name).
    pub key: String,
    /// Collection read.
    pub collection: String,
    /// The result as documents, holding exactly what [`QueryResult::json`] holds: for a list,
    /// one projected document per match (selected fields under their response keys, a selected
    /// but absent field as `Null`, `_sid` only when selected or with `debug_audit`); for an
    /// `aggregate` selection one document `{key: {count: …}}`; for `groupBy` one per group; for
    /// a cursor connection one `{edges, pageInfo}`. Each document's `_sid` field is the stored
    /// document's system id (empty for aggregates, groups and connections). Empty in results of
    /// [`crate::Aurora::execute_lean`], which are read through their JSON forms.
    pub documents: Vec<Document>,
    pub(crate) body: QueryBody,
}

/// How a query result becomes JSON: built already, or projected from the matched documents on
/// demand (so a caller that only wants JSON text never builds a tree or projected documents).
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum QueryBody {
    /// A cursor connection (`grouped: false`) or aggregates and groups (`grouped: true`).
    Json {
        json: Json,
        grouped: bool,
    },
    Projected {
        fields: std::sync::Arc<[super::ast::Field]>,
        with_sid: bool,
        rows: Vec<Arc<Document>>,
    },
}

impl QueryResult {
    /// The JSON value under `key` (SPEC §4.11).
    pub fn json(&self) -> Json {
        match &self.body {
            QueryBody::Json { json, .. } => json.clone(),
            QueryBody::Projected { fields, with_sid, rows } => {
                Json::Array(rows.iter().map(|d| super::project::project(d, fields, *with_sid)).collect())
            }
        }
    }

    fn into_json_value(self) -> Json {
        match self.body {
            QueryBody::Json { json, .. } => json,
            QueryBody::Projected { fields, with_sid, rows } => {
                Json::Array(rows.iter().map(|d| super::project::project(d, &fields, with_sid)).collect())
            }
        }
    }

    /// Fills `documents` with what the JSON holds (see the field's documentation).
    pub(crate) fn materialize(&mut self) {
        self.documents = match &self.body {
            QueryBody::Projected { fields, with_sid, rows } => super::project::project_docs(rows, fields, *with_sid),
            QueryBody::Json { json: Json::Object(parts), grouped: false } => {
                vec![Document::new(String::new(), object_data(parts))]
            }
            QueryBody::Json { json: Json::Object(parts), grouped: true } => {
                let mut docs = Vec::new();
                for (key, part) in parts {
                    match part {
                        // groupBy: one document per group.
                        Json::Array(groups) => docs.extend(groups.iter().map(|g| match g {
                            Json::Object(m) => Document::new(String::new(), object_data(m)),
                            other => Document::new(String::new(), single(key, other)),
                        })),
                        // aggregate: `{key: {count: …}}`.
                        other => docs.push(Document::new(String::new(), single(key, other))),
                    }
                }
                docs
            }
            // A list built with its joins (`lookup`): one document per item.
            QueryBody::Json { json: Json::Array(items), grouped: false } => items
                .iter()
                .map(|item| match item {
                    Json::Object(m) => {
                        let sid = m.get("_sid").and_then(Json::as_str).unwrap_or_default().to_string();
                        Document::new(sid, object_data(m))
                    }
                    other => Document::new(String::new(), single("value", other)),
                })
                .collect(),
            QueryBody::Json { .. } => Vec::new(),
        };
    }
}

/// A JSON object's entries as document fields.
fn object_data(m: &Map<String, Json>) -> DocData {
    m.iter().map(|(k, v)| (FieldName::from(k.as_str()), Value::from_json(v))).collect()
}

/// A document of one field.
fn single(key: &str, v: &Json) -> DocData {
    std::iter::once((FieldName::from(key), Value::from_json(v))).collect()
}

/// Result of one mutation operation.
#[derive(Debug, Clone, PartialEq)]
pub struct MutationResult {
    /// Response key (alias or operation name).
    pub key: String,
    /// `insertInto`, `update`, `deleteFrom` or `enqueueJob`.
    pub operation: String,
    /// Collection written (empty for jobs).
    pub collection: String,
    /// Documents inserted, updated (after) or deleted (before).
    pub documents: Vec<Document>,
    /// Number of documents (or jobs) affected.
    pub affected: usize,
    /// The JSON value under `key`.
    pub json: Json,
}

/// A validated subscription: use `Aurora::stream` to receive its events.
#[derive(Debug, Clone, PartialEq)]
pub struct SubscriptionResult {
    /// Response key.
    pub key: String,
    /// Collection watched.
    pub collection: String,
}

/// Outcome of a `schema { define collection ... }` block.
#[derive(Debug, Clone, PartialEq)]
pub struct SchemaResult {
    /// `(collection, "created" | "exists")` per definition.
    pub collections: Vec<(String, String)>,
}

/// Outcome of a `migrate { ... }` block.
#[derive(Debug, Clone, PartialEq)]
pub struct MigrationResult {
    /// Last version of the block.
    pub version: String,
    /// Versions applied by this run (0 when every version was applied before).
    pub steps_applied: usize,
    /// "applied" if any version was applied now, "skipped" if all were already applied.
    pub status: String,
}

/// What `execute` returns.
#[derive(Debug, Clone, PartialEq)]
pub enum ExecutionResult {
    /// One query root field.
    Query(QueryResult),
    /// One mutation operation.
    Mutation(MutationResult),
    /// A subscription (validated, not running).
    Subscription(SubscriptionResult),
    /// Several results (several root fields or operations), in order.
    Batch(Vec<ExecutionResult>),
    /// Schema definitions.
    Schema(SchemaResult),
    /// A migration block.
    Migration(MigrationResult),
}

impl ExecutionResult {
    /// The GraphQL-style JSON object keyed by root field name or alias (SPEC §4.11).
    pub fn to_json(&self) -> Json {
        let mut out = Map::new();
        self.fill(&mut out);
        Json::Object(out)
    }

    fn fill(&self, out: &mut Map<String, Json>) {
        match self {
            ExecutionResult::Query(q) => {
                out.insert(q.key.clone(), q.json());
            }
            ExecutionResult::Mutation(m) => {
                out.insert(m.key.clone(), m.json.clone());
            }
            ExecutionResult::Subscription(s) => {
                out.insert(s.key.clone(), serde_json::json!({ "collection": s.collection, "status": "subscribed" }));
            }
            ExecutionResult::Batch(items) => items.iter().for_each(|i| i.fill(out)),
            ExecutionResult::Schema(s) => {
                let list: Vec<Json> =
                    s.collections.iter().map(|(c, st)| serde_json::json!({ "collection": c, "status": st })).collect();
                match out.get_mut("schema") {
                    Some(Json::Array(existing)) => existing.extend(list),
                    _ => {
                        out.insert("schema".into(), Json::Array(list));
                    }
                }
            }
            ExecutionResult::Migration(m) => {
                out.insert(
                    "migrate".into(),
                    serde_json::json!({ "version": m.version, "stepsApplied": m.steps_applied, "status": m.status }),
                );
            }
        }
    }

    /// Like [`ExecutionResult::to_json`], without copying the results.
    pub fn into_json(self) -> Json {
        match self {
            ExecutionResult::Query(q) => {
                let mut out = Map::new();
                let key = q.key.clone();
                out.insert(key, q.into_json_value());
                Json::Object(out)
            }
            ExecutionResult::Mutation(m) => {
                let mut out = Map::new();
                out.insert(m.key, m.json);
                Json::Object(out)
            }
            other => other.to_json(),
        }
    }

    /// Fills the `documents` of every query result (see [`QueryResult::documents`]).
    pub(crate) fn materialize(&mut self) {
        match self {
            ExecutionResult::Query(q) => q.materialize(),
            ExecutionResult::Batch(items) => items.iter_mut().for_each(ExecutionResult::materialize),
            _ => {}
        }
    }

    /// Documents of a query or mutation result (all of them for a batch).
    pub fn documents(&self) -> Vec<&Document> {
        match self {
            ExecutionResult::Query(q) => q.documents.iter().collect(),
            ExecutionResult::Mutation(m) => m.documents.iter().collect(),
            ExecutionResult::Batch(b) => b.iter().flat_map(|r| r.documents()).collect(),
            _ => Vec::new(),
        }
    }
}
