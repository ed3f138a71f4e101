//! Results of AQL execution and their GraphQL-style JSON shape (SPEC §4.11).

use crate::types::Document;
use serde_json::{Map, Value as Json};

/// Result of one root field of a `query`.
#[derive(Debug, Clone, PartialEq)]
pub struct QueryResult {
    /// Response key (alias or collection name).
    pub key: String,
    /// Collection read.
    pub collection: String,
    /// Documents returned (the page's nodes for paginated queries; empty for aggregates).
    pub documents: Vec<Document>,
    pub(crate) body: QueryBody,
}

/// How a query result becomes JSON: built already, or projected from `documents` on demand
/// (so Rust callers that only read `documents` never pay for JSON).
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum QueryBody {
    Json(Json),
    Projected { fields: std::sync::Arc<[super::ast::Field]>, with_sid: bool },
}

impl QueryResult {
    /// The JSON value under `key` (SPEC §4.11).
    pub fn json(&self) -> Json {
        match &self.body {
            QueryBody::Json(j) => j.clone(),
            QueryBody::Projected { fields, with_sid } => {
                Json::Array(self.documents.iter().map(|d| super::project::project(d, fields, *with_sid)).collect())
            }
        }
    }

    fn into_json_value(self) -> Json {
        match self.body {
            QueryBody::Json(j) => j,
            QueryBody::Projected { fields, with_sid } => {
                Json::Array(self.documents.iter().map(|d| super::project::project(d, &fields, with_sid)).collect())
            }
        }
    }
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
    /// Steps (alter actions and `set` statements) applied by this run.
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
