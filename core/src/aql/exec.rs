//! `Aurora::execute`: parse (cached) → validate → run each operation on the shared engine.

use super::ast::{AqlDocument, Field, Operation, OperationBody, OperationKind, Selection};
use super::convert::resolve_variables;
use super::fragments::{self, Fragments};
use super::plan::Plan;
use super::query::Ctx;
use super::result::{ExecutionResult, SubscriptionResult};
use crate::config::Limits;
use crate::db::{Aurora, Inner};
use crate::error::{AuroraError, Result};
use crate::query::Budget;
use lru::LruCache;
use parking_lot::Mutex;
use std::cell::RefCell;
use std::sync::{Arc, Weak};

/// Options of one execution.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ExecuteOptions {
    /// Every returned document carries its `_sid`.
    pub debug_audit: bool,
    /// Run only the operation with this name (default: every operation, in order).
    pub operation_name: Option<String>,
    /// Time budget of this request, overriding `Limits::query_time_ms`: its reads stop with a
    /// `LIMIT` error once it has passed (a server sets it to what is left of its deadline).
    pub timeout: Option<std::time::Duration>,
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

impl Drop for ExecuteRequest {
    /// Variables can come from a host nested far deeper than any query accepts; serde_json's
    /// own drop would recurse once per level, so the tree is taken apart with a loop.
    fn drop(&mut self) {
        crate::value::drop_json_flat(std::mem::take(&mut self.variables));
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

/// Parsed, fragment-checked and compiled documents keyed by their exact text (no hash-only
/// keys), least recently used first out once their approximate size passes the byte budget
/// (`Limits::plan_cache_bytes`). A text too large for a quarter of the budget is not kept.
pub(crate) struct PlanCache {
    inner: Mutex<PlanCacheInner>,
    budget: usize,
}

struct PlanCacheInner {
    map: LruCache<String, (Arc<Plan>, usize), foldhash::fast::RandomState>,
    bytes: usize,
}

/// Approximate memory of a cached plan: its text, the key's copy, and a syntax tree a few
/// times the text's size.
fn plan_weight(text: &str) -> usize {
    text.len().saturating_mul(6).saturating_add(1024)
}

impl PlanCache {
    fn new(budget: usize) -> Self {
        let map = LruCache::unbounded_with_hasher(foldhash::fast::RandomState::default());
        PlanCache { inner: Mutex::new(PlanCacheInner { map, bytes: 0 }), budget }
    }

    fn get(&self, text: &str) -> Option<Arc<Plan>> {
        self.inner.lock().map.get(text).map(|(p, _)| p.clone())
    }

    fn put(&self, text: &str, plan: Arc<Plan>) {
        let weight = plan_weight(text);
        if weight > self.budget / 4 {
            return;
        }
        let mut g = self.inner.lock();
        if let Some((_, old)) = g.map.put(text.to_string(), (plan, weight)) {
            g.bytes -= old;
        }
        g.bytes += weight;
        while g.bytes > self.budget {
            match g.map.pop_lru() {
                Some((_, (_, w))) => g.bytes -= w,
                None => break,
            }
        }
    }

    /// (entries, approximate bytes, budget).
    pub(crate) fn usage(&self) -> (usize, usize, usize) {
        let g = self.inner.lock();
        (g.map.len(), g.bytes, self.budget)
    }
}

/// (entries, approximate bytes, budget) of `db`'s plan cache.
pub(crate) fn plan_cache_usage(db: &Aurora) -> (usize, usize, usize) {
    plan_cache(db).usage()
}

/// The plan cache of `db`.
pub(crate) fn plan_cache(db: &Aurora) -> Arc<PlanCache> {
    let budget = db.inner.config.limits.plan_cache_bytes;
    db.extension("aql_plan_cache", move || PlanCache::new(budget))
}

thread_local! {
    /// The plan this thread ran last and its database. Executing the same text again (the
    /// common case) then costs one string comparison instead of a hash, a lock and an LRU
    /// update. The `Weak` keeps the database's allocation, so its address is never reused.
    static LAST_PLAN: RefCell<Option<(Weak<Inner>, Arc<Plan>)>> = const { RefCell::new(None) };
}

/// Parses AQL text into a checked, compiled document, using the database's plan cache.
pub(crate) fn parse_cached(db: &Aurora, text: &str) -> Result<Arc<Plan>> {
    let last = LAST_PLAN.with(|l| match &*l.borrow() {
        Some((owner, plan)) if std::ptr::eq(owner.as_ptr(), Arc::as_ptr(&db.inner)) && plan.text == text => {
            Some(plan.clone())
        }
        _ => None,
    });
    if let Some(plan) = last {
        return Ok(plan);
    }
    let cache = plan_cache(db);
    let plan = match cache.get(text) {
        Some(p) => p,
        None => {
            let plan = Arc::new(Plan::new(text, parse_with(text, &db.inner.config.limits)?));
            cache.put(text, plan.clone());
            plan
        }
    };
    LAST_PLAN.with(|l| *l.borrow_mut() = Some((Arc::downgrade(&db.inner), plan.clone())));
    Ok(plan)
}

/// Parses and checks the schema-independent rules (fragment names and cycles) under the
/// default [`Limits`].
pub fn parse(text: &str) -> Result<AqlDocument> {
    parse_with(text, &Limits::default())
}

/// Parses and checks the schema-independent rules under `limits`: text size, fragment count,
/// expanded selection size, nesting depth and root fields.
pub fn parse_with(text: &str, limits: &Limits) -> Result<AqlDocument> {
    if text.len() > limits.max_query_bytes {
        return Err(AuroraError::limit(
            "max_query_bytes",
            limits.max_query_bytes,
            format!("the AQL text is {} bytes", text.len()),
        ));
    }
    let fragments = super::parser::count_fragment_definitions(text);
    if fragments > limits.max_fragments {
        return Err(AuroraError::limit(
            "max_fragments",
            limits.max_fragments,
            format!("the text defines {fragments} fragments"),
        ));
    }
    let doc = super::parser::parse(text).map_err(|e| AuroraError::Syntax {
        message: e.message,
        line: e.line,
        column: e.column,
    })?;
    fragments::check(&doc, limits)?;
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

/// Results collected in order; one result stands alone, several make a batch.
#[derive(Default)]
struct Results(Option<ExecutionResult>, Vec<ExecutionResult>);

impl Results {
    fn push(&mut self, r: ExecutionResult) {
        match self.0.take() {
            None if self.1.is_empty() => self.0 = Some(r),
            None => self.1.push(r),
            Some(first) => self.1.extend([first, r]),
        }
    }

    fn finish(self) -> ExecutionResult {
        match self.0 {
            Some(one) => one,
            None => ExecutionResult::Batch(self.1),
        }
    }
}

/// Runs the root fields of one query operation, compiled ones from the plan; with `explain`,
/// each root field's plan report replaces its rows.
fn run_query_op(
    ctx: &Ctx,
    plan: &Plan,
    index: usize,
    sels: &[Selection],
    explain: bool,
    out: &mut Results,
) -> Result<()> {
    if explain {
        for f in root_fields(sels, ctx.frags)? {
            out.push(ExecutionResult::Query(super::explain::explain_root(ctx, f)?));
        }
        return Ok(());
    }
    match plan.queries.get(index) {
        Some(Some(roots)) => {
            let fields = sels.iter().filter_map(|s| match s {
                Selection::Field(f) => Some(f),
                Selection::FragmentSpread { .. } => None,
            });
            for (f, root) in fields.zip(roots) {
                out.push(ExecutionResult::Query(match root {
                    Some(root) => super::query::run_planned(ctx, f, root)?,
                    None => super::query::run_root(ctx, f)?,
                }));
            }
        }
        _ => {
            for f in root_fields(sels, ctx.frags)? {
                out.push(ExecutionResult::Query(super::query::run_root(ctx, f)?));
            }
        }
    }
    Ok(())
}

/// The operations a request with `options` runs (every one, or the one `operation_name` names) with their index.
fn selected<'a>(plan: &'a Plan, options: &'a ExecuteOptions) -> impl Iterator<Item = (usize, &'a Operation)> + 'a {
    let wanted = options.operation_name.as_deref();
    plan.doc.operations.iter().enumerate().filter(move |(_, o)| wanted.is_none_or(|n| o.name.as_deref() == Some(n)))
}

/// Counts one executing request for as long as it lives.
struct Running<'a>(&'a std::sync::atomic::AtomicUsize);

impl<'a> Running<'a> {
    fn enter(count: &'a std::sync::atomic::AtomicUsize) -> Self {
        count.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        Running(count)
    }
}

impl Drop for Running<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, std::sync::atomic::Ordering::Relaxed);
    }
}

impl Aurora {
    /// Executes AQL: `execute("query { users { email } }")`,
    /// `execute((aql, json!({"min": 3})))` or with [`ExecuteOptions`]. Query results hold their
    /// projected documents (see [`super::QueryResult::documents`]).
    pub async fn execute(&self, request: impl Into<ExecuteRequest>) -> Result<ExecutionResult> {
        let mut result = self.execute_lean(request).await?;
        result.materialize();
        Ok(result)
    }

    /// Like [`Aurora::execute`], for callers that read the result through its JSON forms
    /// (`to_json`, `into_json_text`, `rows`): query results leave `documents` empty, so no
    /// projected document is built.
    pub async fn execute_lean(&self, request: impl Into<ExecuteRequest>) -> Result<ExecutionResult> {
        let req = request.into();
        self.inner.check_open()?;
        let plan = parse_cached(self, &req.aql)?;
        self.run_plan(&plan, &req.variables, &req.options).await
    }

    /// Runs a parsed document (from the plan cache or a [`super::Statement`]).
    pub(crate) async fn run_plan(
        &self,
        plan: &Plan,
        variables: &serde_json::Value,
        options: &ExecuteOptions,
    ) -> Result<ExecutionResult> {
        self.inner.check_open()?;
        let _running = Running::enter(&self.inner.running_requests);
        let doc = &plan.doc;
        if !doc.fragments.is_empty() {
            fragments::check_type_conditions(doc, &self.collection_names())?;
        }
        if selected(plan, options).next().is_none() {
            return Err(match options.operation_name.as_deref() {
                Some(n) => AuroraError::invalid(format!("no operation named `{n}` in the document")),
                None => AuroraError::invalid("the document has fragments but no operation"),
            });
        }
        if selected(plan, options).all(|(_, o)| o.kind == OperationKind::Query) {
            // Reads only: no await point, so the future stays small.
            return self.run_queries(plan, variables, options, false);
        }
        Box::pin(self.execute_operations(plan, variables, options)).await
    }

    /// Shows how each root field of a query runs: per field (under its response key) the
    /// strategy (`indexWalk`, `indexLookup`, `fullScan`), the indexes used, the estimated,
    /// examined and returned rows and how the order is made. The query runs, so the counts
    /// are real; `query @explain { … }` in AQL returns the same.
    pub fn explain(&self, request: impl Into<ExecuteRequest>) -> Result<serde_json::Value> {
        let req = request.into();
        self.inner.check_open()?;
        let plan = parse_cached(self, &req.aql)?;
        if selected(&plan, &req.options).next().is_none() {
            return Err(AuroraError::invalid("explain needs a query operation"));
        }
        if let Some((_, op)) = selected(&plan, &req.options).find(|(_, o)| o.kind != OperationKind::Query) {
            return Err(AuroraError::invalid_at(
                format!("explain shows the plans of queries; this document has a {} operation", op.kind.keyword()),
                op.pos.line,
                op.pos.column,
            ));
        }
        Ok(self.run_queries(&plan, &req.variables, &req.options, true)?.into_json())
    }

    fn run_queries(
        &self,
        plan: &Plan,
        variables: &serde_json::Value,
        options: &ExecuteOptions,
        explain: bool,
    ) -> Result<ExecutionResult> {
        let frags: Fragments = plan.doc.fragments.iter().map(|f| (f.name.as_str(), f)).collect();
        let mut results = Results::default();
        let budget = Budget::for_request(&self.inner.config.limits, options.timeout);
        for (i, op) in selected(plan, options) {
            let vars = resolve_variables(&op.variables, variables, &self.inner.config.limits)?;
            let ctx = Ctx { db: self, vars: &vars, frags: &frags, debug_audit: options.debug_audit, budget: &budget };
            match &op.body {
                OperationBody::Selections(sels) => {
                    run_query_op(&ctx, plan, i, sels, explain || op.explain, &mut results)?
                }
                _ => return Err(AuroraError::invalid("operation kind and body do not match")),
            }
        }
        Ok(results.finish())
    }

    async fn execute_operations(
        &self,
        plan: &Plan,
        variables: &serde_json::Value,
        options: &ExecuteOptions,
    ) -> Result<ExecutionResult> {
        let frags: Fragments = plan.doc.fragments.iter().map(|f| (f.name.as_str(), f)).collect();
        let mut results = Results::default();
        let budget = Budget::for_request(&self.inner.config.limits, options.timeout);
        for (i, op) in selected(plan, options) {
            let vars = resolve_variables(&op.variables, variables, &self.inner.config.limits)?;
            let ctx = Ctx { db: self, vars: &vars, frags: &frags, debug_audit: options.debug_audit, budget: &budget };
            if op.explain && op.kind != OperationKind::Query {
                return Err(AuroraError::invalid_at(
                    format!("`@explain` applies to queries, not to a {} operation", op.kind.keyword()),
                    op.pos.line,
                    op.pos.column,
                ));
            }
            match (&op.kind, &op.body) {
                (OperationKind::Query, OperationBody::Selections(sels)) => {
                    run_query_op(&ctx, plan, i, sels, op.explain, &mut results)?;
                }
                (OperationKind::Mutation, OperationBody::Selections(sels)) => {
                    let fields: Vec<Field> = root_fields(sels, &frags)?.into_iter().cloned().collect();
                    for m in super::mutation::run(&ctx, &fields, &plan.text).await? {
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
                        super::schema_ops::migrate(self, versions, &vars, &plan.text).await?,
                    ));
                }
                _ => return Err(AuroraError::invalid("operation kind and body do not match")),
            }
        }
        Ok(results.finish())
    }

    /// Executes AQL and returns the SPEC §4.11 JSON (what every binding returns).
    pub async fn execute_json(&self, request: impl Into<ExecuteRequest>) -> Result<serde_json::Value> {
        Ok(self.execute_lean(request).await?.into_json())
    }

    /// Executes AQL and returns the SPEC §4.11 JSON as text, written straight from the
    /// documents (for hosts that take text: cheaper than [`Aurora::execute_json`] + serializing).
    pub async fn execute_json_text(&self, request: impl Into<ExecuteRequest>) -> Result<super::JsonText> {
        self.execute_lean(request).await?.into_json_text()
    }
}
