//! `Aurora::execute`: parse (cached) → validate → run each operation on the shared engine.

use super::ast::{AqlDocument, Field, OperationBody, OperationKind, Selection};
use super::convert::resolve_variables;
use super::fragments::{self, Fragments};
use super::query::Ctx;
use super::result::{ExecutionResult, SubscriptionResult};
use crate::db::Aurora;
use crate::error::{AuroraError, Result};
use lru::LruCache;
use parking_lot::Mutex;
use std::num::NonZeroUsize;
use std::sync::Arc;

/// Options of one execution.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ExecuteOptions {
    /// Every returned document carries its `_sid`.
    pub debug_audit: bool,
    /// Run only the operation with this name (default: every operation, in order).
    pub operation_name: Option<String>,
}

/// AQL text with its variables and options. Build it from `&str`, `(aql, json!({..}))` or
/// `(aql, vars, options)`.
#[derive(Debug, Clone)]
pub struct ExecuteRequest {
    /// The AQL text.
    pub aql: String,
    /// Variables as a JSON object (or null).
    pub variables: serde_json::Value,
    /// Execution options.
    pub options: ExecuteOptions,
}

impl ExecuteRequest {
    /// A request without variables.
    pub fn new(aql: impl Into<String>) -> Self {
        ExecuteRequest { aql: aql.into(), variables: serde_json::Value::Null, options: ExecuteOptions::default() }
    }

    /// Sets the variables.
    pub fn variables(mut self, vars: serde_json::Value) -> Self {
        self.variables = vars;
        self
    }

    /// Turns `debug_audit` on or off.
    pub fn debug_audit(mut self, on: bool) -> Self {
        self.options.debug_audit = on;
        self
    }
}

impl From<&str> for ExecuteRequest {
    fn from(s: &str) -> Self {
        ExecuteRequest::new(s)
    }
}
impl From<String> for ExecuteRequest {
    fn from(s: String) -> Self {
        ExecuteRequest::new(s)
    }
}
impl From<&String> for ExecuteRequest {
    fn from(s: &String) -> Self {
        ExecuteRequest::new(s.clone())
    }
}
impl<S: Into<String>> From<(S, serde_json::Value)> for ExecuteRequest {
    fn from((s, v): (S, serde_json::Value)) -> Self {
        ExecuteRequest::new(s).variables(v)
    }
}
impl<S: Into<String>> From<(S, serde_json::Value, ExecuteOptions)> for ExecuteRequest {
    fn from((s, v, o): (S, serde_json::Value, ExecuteOptions)) -> Self {
        ExecuteRequest { aql: s.into(), variables: v, options: o }
    }
}

/// Parsed and fragment-checked documents keyed by their exact text (no hash-only keys).
pub(crate) struct PlanCache {
    map: Mutex<LruCache<String, Arc<AqlDocument>>>,
}

const PLAN_CACHE_ENTRIES: usize = 512;

impl PlanCache {
    fn new() -> Self {
        PlanCache { map: Mutex::new(LruCache::new(NonZeroUsize::new(PLAN_CACHE_ENTRIES).unwrap_or(NonZeroUsize::MIN))) }
    }
}

/// Parses AQL text into a checked document, using the database's plan cache.
pub(crate) fn parse_cached(db: &Aurora, text: &str) -> Result<Arc<AqlDocument>> {
    let cache = db.extension("aql_plan_cache", PlanCache::new);
    if let Some(d) = cache.map.lock().get(text) {
        return Ok(d.clone());
    }
    let doc = Arc::new(parse(text)?);
    cache.map.lock().put(text.to_string(), doc.clone());
    Ok(doc)
}

/// Parses and checks the schema-independent rules (fragment names and cycles).
pub fn parse(text: &str) -> Result<AqlDocument> {
    let doc = super::parser::parse(text).map_err(|e| AuroraError::Syntax {
        message: e.message,
        line: e.line,
        column: e.column,
    })?;
    fragments::check(&doc)?;
    Ok(doc)
}

fn root_fields<'a>(sels: &'a [Selection], frags: &Fragments) -> Result<Vec<&'a Field>> {
    let mut out = Vec::new();
    for s in sels {
        match s {
            Selection::Field(f) => out.push(f),
            Selection::FragmentSpread { name, pos } => {
                let _ = frags;
                return Err(AuroraError::invalid_at(
                    format!("fragment `...{name}` cannot be spread at the root of an operation"),
                    pos.line,
                    pos.column,
                ));
            }
        }
    }
    Ok(out)
}

impl Aurora {
    /// Executes AQL: `execute("query { users { email } }")`,
    /// `execute((aql, json!({"min": 3})))` or with [`ExecuteOptions`].
    pub async fn execute(&self, request: impl Into<ExecuteRequest>) -> Result<ExecutionResult> {
        let req = request.into();
        self.inner.check_open()?;
        let doc = parse_cached(self, &req.aql)?;
        if !doc.fragments.is_empty() {
            fragments::check_type_conditions(&doc, &self.collection_names())?;
        }
        let frags: Fragments = doc.fragments.iter().map(|f| (f.name.as_str(), f)).collect();
        let ops: Vec<_> = match &req.options.operation_name {
            Some(n) => {
                let found: Vec<_> = doc.operations.iter().filter(|o| o.name.as_deref() == Some(n.as_str())).collect();
                if found.is_empty() {
                    return Err(AuroraError::invalid(format!("no operation named `{n}` in the document")));
                }
                found
            }
            None => doc.operations.iter().collect(),
        };
        if ops.is_empty() {
            return Err(AuroraError::invalid("the document has fragments but no operation"));
        }
        let mut results = Vec::new();
        for op in ops {
            let vars = resolve_variables(&op.variables, &req.variables)?;
            let ctx = Ctx { db: self, vars: &vars, frags: &frags, debug_audit: req.options.debug_audit };
            match (&op.kind, &op.body) {
                (OperationKind::Query, OperationBody::Selections(sels)) => {
                    for f in root_fields(sels, &frags)? {
                        results.push(ExecutionResult::Query(super::query::run_root(&ctx, f)?));
                    }
                }
                (OperationKind::Mutation, OperationBody::Selections(sels)) => {
                    let fields: Vec<Field> = root_fields(sels, &frags)?.into_iter().cloned().collect();
                    for m in super::mutation::run(&ctx, &fields, &req.aql).await? {
                        results.push(ExecutionResult::Mutation(m));
                    }
                }
                (OperationKind::Subscription, OperationBody::Selections(sels)) => {
                    for f in root_fields(sels, &frags)? {
                        let sub = super::subscription::compile(&ctx, f)?;
                        results.push(ExecutionResult::Subscription(SubscriptionResult {
                            key: f.response_key().to_string(),
                            collection: sub.collection.clone(),
                        }));
                    }
                }
                (OperationKind::Schema, OperationBody::Schema(defs)) => {
                    results.push(ExecutionResult::Schema(super::schema_ops::define(self, defs).await?));
                }
                (OperationKind::Migrate, OperationBody::Migrate(versions)) => {
                    results.push(ExecutionResult::Migration(
                        super::schema_ops::migrate(self, versions, &vars, &req.aql).await?,
                    ));
                }
                _ => return Err(AuroraError::invalid("operation kind and body do not match")),
            }
        }
        Ok(if results.len() == 1 { results.remove(0) } else { ExecutionResult::Batch(results) })
    }

    /// Executes AQL and returns the SPEC §4.11 JSON (what every binding returns).
    pub async fn execute_json(&self, request: impl Into<ExecuteRequest>) -> Result<serde_json::Value> {
        Ok(self.execute(request).await?.into_json())
    }
}
