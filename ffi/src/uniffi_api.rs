//! The UniFFI surface (Kotlin, Swift): objects over the facade, JSON text in and out.

use crate::{parse_json, timeout};
use aurora_bindings::{self as facade, BindingError, Database, ForeignHandler};
use std::sync::Arc;

/// Stable error codes, the same as in every other binding.
#[derive(Debug, Clone, Copy, PartialEq, Eq, uniffi::Enum)]
pub enum ErrorCode {
    /// AQL text that does not parse.
    Syntax,
    /// Valid syntax, invalid request (bad argument, variable type, schema conflict...).
    Validation,
    /// Unknown collection, field, document or job.
    NotFound,
    /// A `@unique` constraint was violated.
    UniqueViolation,
    /// A value does not match the schema type.
    TypeError,
    /// The database or handle is closed.
    Closed,
    /// File system or storage failure.
    Io,
    /// A job handler failed.
    Handler,
    /// A bug: includes panics caught at the boundary.
    Internal,
    /// A request went past a configured limit (size, depth, time...) and was refused.
    Limit,
}

impl From<facade::ErrorCode> for ErrorCode {
    fn from(c: facade::ErrorCode) -> Self {
        use facade::ErrorCode as F;
        match c {
            F::Syntax => ErrorCode::Syntax,
            F::Validation => ErrorCode::Validation,
            F::NotFound => ErrorCode::NotFound,
            F::UniqueViolation => ErrorCode::UniqueViolation,
            F::TypeError => ErrorCode::TypeError,
            F::Closed => ErrorCode::Closed,
            F::Io => ErrorCode::Io,
            F::Handler => ErrorCode::Handler,
            F::Internal => ErrorCode::Internal,
            F::Limit => ErrorCode::Limit,
        }
    }
}

/// An Aurora error (`AuroraException.Failed` in Kotlin, `AuroraError.Failed` in Swift).
/// `line` and `column` are 1-based and set for AQL parse and validation errors.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Error)]
pub enum AuroraError {
    /// The one variant: look at `code` to tell errors apart.
    Failed { code: ErrorCode, reason: String, line: Option<u32>, column: Option<u32> },
}

impl AuroraError {
    /// An error raised by a job handler (what a foreign handler throws to fail a job).
    pub fn handler(reason: impl Into<String>) -> Self {
        AuroraError::Failed { code: ErrorCode::Handler, reason: reason.into(), line: None, column: None }
    }
}

impl std::fmt::Display for AuroraError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let AuroraError::Failed { code, reason, .. } = self;
        write!(f, "[{code:?}] {reason}")
    }
}

impl std::error::Error for AuroraError {}

impl From<BindingError> for AuroraError {
    fn from(e: BindingError) -> Self {
        AuroraError::Failed { code: e.code.into(), reason: e.message, line: e.line, column: e.column }
    }
}

impl From<uniffi::UnexpectedUniFFICallbackError> for AuroraError {
    /// A foreign handler threw something other than `AuroraError`: Kotlin passes the stack
    /// trace, whose first line (`java.lang.IllegalStateException: reason`) is kept.
    fn from(e: uniffi::UnexpectedUniFFICallbackError) -> Self {
        AuroraError::handler(e.reason.lines().next().unwrap_or_default().trim())
    }
}

/// The library version (`auroraVersion()` in Kotlin and Swift), the same as `aurora_version()`
/// in C and the version of every package.
#[uniffi::export]
pub fn aurora_version() -> String {
    env!("CARGO_PKG_VERSION").to_owned()
}

/// Options of `Aurora.executeWithOptions`.
#[derive(Debug, Clone, Default, uniffi::Record)]
pub struct ExecuteOptions {
    /// Adds the engine's audit trail to the result.
    #[uniffi(default = false)]
    pub debug_audit: bool,
    /// Runs only the operation of that name in a document holding several.
    #[uniffi(default = None)]
    pub operation_name: Option<String>,
}

/// A job handler written in Kotlin or Swift. It runs on an engine worker thread and receives
/// the job as JSON (`id, jobType, status, priority, attempts, maxRetries, lastError,
/// payload`); throwing (any exception) fails the attempt, which is retried with backoff.
#[uniffi::export(with_foreign)]
pub trait JobHandler: Send + Sync {
    /// Runs one attempt of a job.
    fn handle(&self, job_json: String) -> Result<(), AuroraError>;
}

struct HandlerAdapter(Arc<dyn JobHandler>);

impl ForeignHandler for HandlerAdapter {
    fn call(&self, job_json: String) -> Result<(), String> {
        self.0.handle(job_json).map_err(|AuroraError::Failed { reason, .. }| reason)
    }
}

/// An open Aurora database. `shutdown()` closes it (for every reference); the object's own
/// `close()`/`destroy()` (Kotlin `AutoCloseable`) only releases this handle.
#[derive(uniffi::Object)]
pub struct Aurora {
    db: Database,
}

#[uniffi::export]
impl Aurora {
    /// Opens (or creates) the database at `path`; `config_json` is a JSON object of settings
    /// (snake_case or camelCase keys, e.g. `{"durabilityMode": "strict"}`).
    #[uniffi::constructor(default(config_json = None))]
    pub fn open(path: String, config_json: Option<String>) -> Result<Arc<Self>, AuroraError> {
        let config = parse_json("config", config_json.as_deref())?;
        Ok(Arc::new(Aurora { db: Database::open(&path, &config)? }))
    }

    /// Executes AQL; returns the result as JSON text (SPEC §4.11 shapes). Blocks.
    #[uniffi::method(default(variables_json = None))]
    pub fn execute(&self, aql: String, variables_json: Option<String>) -> Result<String, AuroraError> {
        let vars = parse_json("variables", variables_json.as_deref())?;
        Ok(self.db.execute_text(&aql, vars, false, None)?)
    }

    /// `execute` with options (`debug_audit`, `operation_name`).
    #[uniffi::method(default(variables_json = None))]
    pub fn execute_with_options(
        &self,
        aql: String,
        variables_json: Option<String>,
        options: ExecuteOptions,
    ) -> Result<String, AuroraError> {
        let vars = parse_json("variables", variables_json.as_deref())?;
        Ok(self.db.execute_text(&aql, vars, options.debug_audit, options.operation_name.as_deref())?)
    }

    /// Async `execute` (Kotlin `suspend`, Swift `async`); runs on the engine's runtime, so any
    /// caller executor or dispatcher works.
    #[uniffi::method(default(variables_json = None))]
    pub async fn execute_async(&self, aql: String, variables_json: Option<String>) -> Result<String, AuroraError> {
        let vars = parse_json("variables", variables_json.as_deref())?;
        Ok(self.db.execute_text_async(aql, vars, false, None).await?)
    }

    /// Parses and plans `aql` once; run the statement with `execute` / `executeAsync`. Text
    /// that does not parse fails with `SYNTAX` (line and column in the error).
    pub fn prepare(&self, aql: String) -> Result<Arc<Statement>, AuroraError> {
        Ok(Arc::new(Statement { inner: self.db.prepare(&aql)? }))
    }

    /// Opens an AQL subscription (`subscription { users(where: ...) { email } }`).
    #[uniffi::method(default(variables_json = None))]
    pub fn stream(&self, aql: String, variables_json: Option<String>) -> Result<Arc<Subscription>, AuroraError> {
        let vars = parse_json("variables", variables_json.as_deref())?;
        Ok(Arc::new(Subscription { inner: self.db.stream(&aql, vars)? }))
    }

    /// Subscribes to every change of a collection (`"*"`: all collections).
    pub fn listen(&self, collection: String) -> Result<Arc<Subscription>, AuroraError> {
        Ok(Arc::new(Subscription { inner: self.db.listen(&collection)? }))
    }

    /// Registers the handler of a job type (replacing any previous one).
    pub fn register_handler(&self, job_type: String, handler: Arc<dyn JobHandler>) -> Result<(), AuroraError> {
        Ok(self.db.register_handler(&job_type, Arc::new(HandlerAdapter(handler)))?)
    }

    /// Enqueues a job; `payload_json` is a JSON object, `priority` LOW, NORMAL, HIGH or
    /// CRITICAL. Returns the job id.
    #[uniffi::method(default(payload_json = None, priority = "NORMAL", max_retries = None))]
    pub fn enqueue(
        &self,
        job_type: String,
        payload_json: Option<String>,
        priority: String,
        max_retries: Option<u32>,
    ) -> Result<String, AuroraError> {
        let payload = parse_json("payload", payload_json.as_deref())?;
        Ok(self.db.enqueue(&job_type, payload, &priority, max_retries)?)
    }

    /// Starts the worker pool (`concurrency` defaults to the config's `worker_threads`).
    #[uniffi::method(default(concurrency = None))]
    pub fn start_workers(&self, concurrency: Option<u32>) -> Result<(), AuroraError> {
        Ok(self.db.start_workers(concurrency.map(|n| n as usize))?)
    }

    /// Stops the worker pool; running jobs finish or return to Pending.
    pub fn stop_workers(&self) -> Result<(), AuroraError> {
        Ok(self.db.stop_workers()?)
    }

    /// True while an attempt of job `id` runs and has been cancelled (it timed out, or the
    /// workers are stopping): a handler checks it to end early.
    pub fn job_cancelled(&self, id: String) -> Result<bool, AuroraError> {
        Ok(self.db.job_cancelled(&id)?)
    }

    /// A job as JSON, or null when no job has that id.
    pub fn job_status(&self, id: String) -> Result<Option<String>, AuroraError> {
        let v = self.db.job_status(&id)?;
        Ok((!v.is_null()).then(|| v.to_string()))
    }

    /// The bytes each cache and buffer holds next to its budget, as a JSON object.
    pub fn memory_stats(&self) -> Result<String, AuroraError> {
        Ok(self.db.memory_stats()?.to_string())
    }

    /// How each root field of a query runs (strategy, indexes, estimated/examined/returned
    /// rows), as a JSON object keyed like the query's result. `variables_json` may be null.
    #[uniffi::method(default(variables_json = None))]
    pub fn explain(&self, aql: String, variables_json: Option<String>) -> Result<String, AuroraError> {
        let vars = parse_json("variables", variables_json.as_deref())?;
        Ok(self.db.explain(&aql, vars)?.to_string())
    }

    /// Jobs that ran out of retries, as a JSON array.
    pub fn dead_letters(&self) -> Result<String, AuroraError> {
        Ok(self.db.dead_letters()?.to_string())
    }

    /// Closes the database (idempotent); later calls fail with `CLOSED`.
    pub fn shutdown(&self) -> Result<(), AuroraError> {
        Ok(self.db.close()?)
    }

    /// True once the database is closed.
    pub fn is_closed(&self) -> bool {
        self.db.is_closed()
    }
}

/// A prepared AQL statement (`Aurora.prepare`): parsed and planned once, run with new
/// variables. Once its database is shut down every run fails with `CLOSED`; a schema change
/// keeps it valid.
#[derive(uniffi::Object)]
pub struct Statement {
    inner: facade::Statement,
}

#[uniffi::export]
impl Statement {
    /// Runs the statement; returns the result as JSON text (SPEC §4.11 shapes). Blocks.
    #[uniffi::method(default(variables_json = None))]
    pub fn execute(&self, variables_json: Option<String>) -> Result<String, AuroraError> {
        let vars = parse_json("variables", variables_json.as_deref())?;
        Ok(self.inner.execute_text(vars)?)
    }

    /// Async `execute` (Kotlin `suspend`, Swift `async`).
    #[uniffi::method(default(variables_json = None))]
    pub async fn execute_async(&self, variables_json: Option<String>) -> Result<String, AuroraError> {
        let vars = parse_json("variables", variables_json.as_deref())?;
        Ok(self.inner.execute_text_async(vars).await?)
    }

    /// The AQL text it was prepared from.
    pub fn text(&self) -> String {
        self.inner.text().to_owned()
    }
}

/// A live subscription: events as JSON text. `shutdown()` ends it and wakes a blocked `next`.
#[derive(uniffi::Object)]
pub struct Subscription {
    inner: facade::Subscription,
}

impl Subscription {
    /// The end of the stream (`CLOSED`) becomes null, and marks the subscription closed.
    fn end_is_none(&self, r: Result<Option<serde_json::Value>, BindingError>) -> Result<Option<String>, AuroraError> {
        match r {
            Ok(v) => Ok(v.map(|v| v.to_string())),
            Err(e) if e.code == facade::ErrorCode::Closed => {
                self.inner.close();
                Ok(None)
            }
            Err(e) => Err(e.into()),
        }
    }
}

/// A cancelled `nextAsync` (its coroutine or Swift task dropped the future) stops waiting at
/// once instead of leaving a task behind that would swallow the next event.
struct AbortOnDrop<T>(tokio::task::JoinHandle<T>);

impl<T> Drop for AbortOnDrop<T> {
    fn drop(&mut self) {
        self.0.abort();
    }
}

#[uniffi::export]
impl Subscription {
    /// The next event as JSON, waiting at most `timeout_ms` (null: for ever). Returns null at
    /// the timeout and once the subscription (or its database) is closed: `isClosed()` tells
    /// which. Blocks: call it from your own thread.
    #[uniffi::method(default(timeout_ms = None))]
    pub fn next(&self, timeout_ms: Option<u64>) -> Result<Option<String>, AuroraError> {
        self.end_is_none(self.inner.next_blocking(timeout(timeout_ms)))
    }

    /// Async `next` (Kotlin `suspend`, Swift `async`).
    #[uniffi::method(default(timeout_ms = None))]
    pub async fn next_async(&self, timeout_ms: Option<u64>) -> Result<Option<String>, AuroraError> {
        let inner = self.inner.clone();
        let mut task = AbortOnDrop(facade::runtime()?.spawn(async move { inner.next(timeout(timeout_ms)).await }));
        let r = (&mut task.0)
            .await
            .unwrap_or_else(|e| Err(BindingError::internal(format!("subscription task failed: {e}"))));
        self.end_is_none(r)
    }

    /// Ends the subscription, waking a caller blocked in `next`. Idempotent.
    pub fn shutdown(&self) {
        self.inner.close()
    }

    /// True once shut down (or once its database closed and `next` returned null).
    pub fn is_closed(&self) -> bool {
        self.inner.is_closed()
    }
}
