//! Node.js bindings of Aurora DB (npm package `aurora-db`).
//!
//! A thin layer over `aurora-bindings`: it converts between JS values and JSON (`convert`),
//! runs the hot async calls (`execute`, `enqueue`, subscription `next`) on the facade's runtime
//! and settles their Promises in batches (`hub`), runs the rare blocking facade calls (`open`,
//! `close`, `stopWorkers`, job queries) on libuv's thread pool (`AsyncTask`) so the event loop
//! never waits, and calls JS job handlers through a weak threadsafe function. All behaviour
//! lives in the facade. The hottest call, `execute` with a few scalar variables, takes a
//! shorter path: a plain N-API callback (`hot`) on databases and texts by number (`slots`,
//! `texts`) whose list results are built per shape (`rows`). The JS layer (`index.js`) builds
//! `AuroraError`s and implements the async-iterator protocol.

#![deny(clippy::all)]

mod convert;
mod hot;
mod hub;
mod rows;
mod slots;
mod texts;

use aurora_bindings::{
    guard, AsyncForeignHandler, BindingError, BoxFuture, Database, Execution, ExecutionResult, JsonText, Subscription,
};
use convert::{JsonIn, JsonOut};
use napi::bindgen_prelude::*;
use napi::threadsafe_function::ThreadsafeFunction;
use napi_derive::napi;
use serde_json::Value;
use std::sync::Arc;
use std::time::Duration;

/// Prefix of the message of every error raised by the engine; `index.js` parses the JSON that
/// follows (`{"code", "message", "line", "column"}`) into an `AuroraError`.
const ERROR_MARK: &str = "AURORA_ERROR:";

#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn to_js_error(e: BindingError) -> Error {
    Error::new(Status::GenericFailure, format!("{ERROR_MARK}{}", e.to_json()))
}

/// A blocking facade call, run on libuv's thread pool; the Promise settles on the JS thread.
pub struct Blocking<T: Send + 'static> {
    work: Option<Box<dyn FnOnce() -> std::result::Result<T, BindingError> + Send>>,
}

fn blocking<T: Send + ToNapiValue + TypeName + 'static>(
    f: impl FnOnce() -> std::result::Result<T, BindingError> + Send + 'static,
) -> AsyncTask<Blocking<T>> {
    AsyncTask::new(Blocking { work: Some(Box::new(f)) })
}

impl<T: Send + ToNapiValue + TypeName + 'static> Task for Blocking<T> {
    type Output = T;
    type JsValue = T;

    fn compute(&mut self) -> Result<T> {
        let work = self.work.take().ok_or_else(|| Error::from_reason("task already ran"))?;
        work().map_err(to_js_error)
    }

    fn resolve(&mut self, _env: Env, output: T) -> Result<T> {
        Ok(output)
    }
}

/// Opens (or creates) the database at `path`. `config` holds `AuroraConfig` settings
/// (camelCase or snake_case keys).
#[napi(ts_return_type = "Promise<NativeDatabase>")]
pub fn open(path: String, config: Option<JsonIn>) -> AsyncTask<Blocking<NativeDatabase>> {
    let config = config.map(|c| c.0).unwrap_or(Value::Null);
    blocking(move || Database::open(&path, &config).map(|db| NativeDatabase { db, slot: Default::default() }))
}

/// Registers the JS `AuroraError` class: Promises of `execute`, `enqueue` and subscription
/// `next` reject with `new AuroraError(message, code, line, column)`.
#[napi(
    ts_args_type = "errorClass: new (message: string, code: string, line: number | null, column: number | null) => Error"
)]
pub fn set_error_class(env: Env, error_class: Unknown) -> Result<()> {
    hub::set_error_class(env.raw(), error_class.raw())
}

/// Registers the function that compiles a row function per result shape (see `rows`):
/// `maker(key, columns)` returns `(n, ...cells) => Promise<{ [key]: rows }>`, or null to
/// leave that shape to JSON text.
#[napi(
    ts_args_type = "maker: (key: string, columns: string[]) => ((n: number, ...cells: unknown[]) => Promise<any>) | null"
)]
pub fn set_row_maker(env: Env, maker: Function<'_>) -> Result<()> {
    rows::set_maker(env.raw(), maker.raw())
}

/// The native database handle behind the JS `Aurora` class.
#[napi]
pub struct NativeDatabase {
    db: Database,
    /// This handle's slot in the JS thread's registry (see `slots`), once asked for.
    slot: std::cell::Cell<Option<u32>>,
}

impl Drop for NativeDatabase {
    fn drop(&mut self) {
        if let Some(slot) = self.slot.get() {
            slots::release(slot);
        }
    }
}

/// `NativeDatabase.execute` for the handle in `slot`, with the variables as JSON text and no
/// options: the hot path of `Aurora.execute`, a plain function (see `slots`).
#[napi(ts_return_type = "string | Promise<any>")]
pub fn execute_in_slot<'env>(env: &'env Env, slot: u32, aql: String, variables_json: String) -> Result<Outcome<'env>> {
    match slots::get(slot) {
        Ok(db) => run_text(&db, env, aql, &variables_json, None, None),
        Err(e) => hub::settled(env, Err::<JsonOut, _>(e)).map(Either::B),
    }
}

/// Numbers an AQL text for `executeInSlotWith` (index.js asks once per text; see `texts`).
#[napi]
pub fn intern_text(aql: String) -> Result<u32> {
    texts::intern(aql).map_err(to_js_error)
}

/// Adds the functions napi-rs does not generate (see `hot`).
#[napi(module_exports)]
pub fn register_hot(exports: Object, env: Env) -> Result<()> {
    hot::register(env.raw(), exports.raw())
}

#[napi]
impl NativeDatabase {
    /// Executes AQL. The SPEC §4.11 JSON result comes back as JSON text when the call finished
    /// at once (index.js parses it: `JSON.parse` is cheapest from JS), else as a Promise of
    /// plain JS values.
    #[napi(ts_return_type = "string | Promise<any>")]
    pub fn execute<'env>(
        &self,
        env: &'env Env,
        aql: String,
        variables: Option<JsonIn>,
        debug_audit: Option<bool>,
        operation_name: Option<String>,
    ) -> Result<Outcome<'env>> {
        let vars = variables.map(|v| v.0).unwrap_or(Value::Null);
        run(&self.db, env, aql, vars, debug_audit, operation_name)
    }

    /// `execute` with the variables already serialized by `JSON.stringify` (index.js does so
    /// for plain data, which is much cheaper than reading the object through N-API).
    #[napi(ts_return_type = "string | Promise<any>")]
    pub fn execute_text<'env>(
        &self,
        env: &'env Env,
        aql: String,
        variables_json: String,
        debug_audit: Option<bool>,
        operation_name: Option<String>,
    ) -> Result<Outcome<'env>> {
        run_text(&self.db, env, aql, &variables_json, debug_audit, operation_name)
    }

    /// Registers this handle for `executeInSlot` (once) and returns its slot.
    #[napi]
    pub fn slot(&self) -> u32 {
        match self.slot.get() {
            Some(s) => s,
            None => {
                let s = slots::register(&self.db);
                self.slot.set(Some(s));
                s
            }
        }
    }

    /// Opens an AQL subscription (`subscription { coll(where: ...) { fields } }`).
    #[napi]
    pub fn stream(&self, aql: String, variables: Option<JsonIn>) -> Result<NativeSubscription> {
        let vars = variables.map(|v| v.0).unwrap_or(Value::Null);
        let sub = self.db.stream(&aql, vars).map_err(to_js_error)?;
        Ok(NativeSubscription { sub })
    }

    /// Subscribes to every change of a collection (`"*"` for all collections).
    #[napi]
    pub fn listen(&self, collection: String) -> Result<NativeSubscription> {
        let sub = self.db.listen(&collection).map_err(to_js_error)?;
        Ok(NativeSubscription { sub })
    }

    /// Registers a job handler. `handler(job)` must return a Promise that resolves to `null`
    /// (success) or to the failure message (`index.js` wraps user functions this way).
    #[napi(ts_args_type = "jobType: string, handler: (job: any) => Promise<string | null>")]
    pub fn register_handler(&self, job_type: String, handler: HandlerFn) -> Result<()> {
        self.db.register_async_handler(&job_type, Arc::new(JsHandler(Arc::new(handler)))).map_err(to_js_error)
    }

    /// True while an attempt of job `id` runs and has been cancelled (timed out, or the workers
    /// are stopping); `index.js` exposes it as the job's `cancelled` property.
    #[napi]
    pub fn job_cancelled(&self, id: String) -> Result<bool> {
        self.db.job_cancelled(&id).map_err(to_js_error)
    }

    /// Enqueues a job; resolves to its id.
    #[napi(ts_return_type = "Promise<string>")]
    pub fn enqueue<'env>(
        &self,
        env: &'env Env,
        job_type: String,
        payload: Option<JsonIn>,
        priority: Option<String>,
        max_retries: Option<u32>,
    ) -> Result<PromiseRaw<'env, String>> {
        let db = self.db.clone();
        let payload = payload.map(|v| v.0).unwrap_or(Value::Null);
        let priority = priority.unwrap_or_else(|| "NORMAL".into());
        hub::spawn(env, async move { db.enqueue_async(job_type, payload, priority, max_retries).await })
    }

    /// Starts the worker pool (`concurrency` defaults to the config's `worker_threads`).
    #[napi]
    pub fn start_workers(&self, concurrency: Option<u32>) -> Result<()> {
        self.db.start_workers(concurrency.map(|n| n as usize)).map_err(to_js_error)
    }

    /// Stops the worker pool; running jobs finish or return to Pending.
    #[napi(ts_return_type = "Promise<void>")]
    pub fn stop_workers(&self) -> AsyncTask<Blocking<()>> {
        let db = self.db.clone();
        blocking(move || db.stop_workers())
    }

    /// A job as JSON, or null when unknown.
    #[napi(ts_return_type = "Promise<any>")]
    pub fn job_status(&self, id: String) -> AsyncTask<Blocking<JsonOut>> {
        let db = self.db.clone();
        blocking(move || db.job_status(&id).map(JsonOut::new))
    }

    /// Bytes each cache and buffer holds, next to its budget.
    #[napi(ts_return_type = "Promise<Record<string, number>>")]
    pub fn memory_stats(&self) -> AsyncTask<Blocking<JsonOut>> {
        let db = self.db.clone();
        blocking(move || db.memory_stats().map(JsonOut::new))
    }

    /// Jobs that ran out of retries.
    #[napi(ts_return_type = "Promise<any[]>")]
    pub fn dead_letters(&self) -> AsyncTask<Blocking<JsonOut>> {
        let db = self.db.clone();
        blocking(move || db.dead_letters().map(JsonOut::new))
    }

    /// Closes the database (stops the workers first). Idempotent.
    #[napi(ts_return_type = "Promise<void>")]
    pub fn close(&self) -> AsyncTask<Blocking<()>> {
        let db = self.db.clone();
        blocking(move || db.close())
    }

    /// True once closed.
    #[napi(getter)]
    pub fn closed(&self) -> bool {
        self.db.is_closed()
    }
}

/// A live subscription (AQL stream or change listener).
#[napi]
pub struct NativeSubscription {
    sub: Subscription,
}

#[napi]
impl NativeSubscription {
    /// Resolves to the next event, or to `null` when `timeoutMs` passes first; rejects with
    /// `CLOSED` once the subscription or the database is closed.
    #[napi(ts_return_type = "Promise<any | null>")]
    pub fn next<'env>(&self, env: &'env Env, timeout_ms: Option<f64>) -> Result<PromiseRaw<'env, Option<JsonOut>>> {
        let sub = self.sub.clone();
        let timeout = timeout_ms.filter(|t| t.is_finite()).map(|t| Duration::from_secs_f64(t.max(0.0) / 1000.0));
        hub::spawn(env, async move { sub.next(timeout).await.map(|v| v.map(JsonOut::new)) })
    }

    /// Closes the subscription, ending a pending `next`. Idempotent.
    #[napi]
    pub fn close(&self) {
        self.sub.close();
    }

    /// True once closed.
    #[napi(getter)]
    pub fn closed(&self) -> bool {
        self.sub.is_closed()
    }
}

/// The JS handler as the worker threads call it. Weak: it never keeps the event loop alive.
type HandlerFn = ThreadsafeFunction<JsonOut, Promise<Option<String>>, JsonOut, Status, false, true>;

struct JsHandler(Arc<HandlerFn>);

impl AsyncForeignHandler for JsHandler {
    fn call(&self, job_json: String) -> BoxFuture<std::result::Result<(), String>> {
        let f = self.0.clone();
        Box::pin(async move {
            let job: Value = serde_json::from_str(&job_json).map_err(|e| e.to_string())?;
            let promise = f
                .call_async_catch(JsonOut::new(job))
                .await
                .map_err(|e| format!("the JS handler could not be called: {}", e.reason))?;
            match promise.await {
                Ok(None) => Ok(()),
                Ok(Some(message)) => Err(message),
                Err(e) => Err(e.reason),
            }
        })
    }
}

/// What `execute` returns: JSON text of a result that is already there, or a Promise.
type Outcome<'env> = Either<String, PromiseRaw<'env, JsonOut>>;

/// `execute` with the variables as JSON text.
fn run_text<'env>(
    db: &Database,
    env: &'env Env,
    aql: String,
    variables_json: &str,
    debug_audit: Option<bool>,
    operation_name: Option<String>,
) -> Result<Outcome<'env>> {
    match serde_json::from_str::<Value>(variables_json) {
        Ok(vars) => run(db, env, aql, vars, debug_audit, operation_name),
        Err(e) => {
            let e = BindingError::validation(format!("variables are not valid JSON: {e}"));
            hub::settled(env, Err::<JsonOut, _>(e)).map(Either::B)
        }
    }
}

/// Runs `execute` eagerly when its text is known to be cheap (JS objects of a list of scalars
/// or the result's JSON text, or an already-settled Promise for an error or a result JS numbers
/// cannot hold), otherwise on the facade's runtime.
fn run<'env>(
    db: &Database,
    env: &'env Env,
    aql: String,
    vars: Value,
    debug_audit: Option<bool>,
    operation_name: Option<String>,
) -> Result<Outcome<'env>> {
    match db.execute_eager(aql, vars, debug_audit.unwrap_or(false), operation_name) {
        Execution::Ready(Ok(result)) => ready(env, result),
        Execution::Ready(Err(e)) => hub::settled(env, Err::<JsonOut, _>(e)).map(Either::B),
        Execution::Pending(work) => {
            hub::spawn(env, async move { work.await.and_then(json_text).map(JsonOut::from_text) }).map(Either::B)
        }
    }
}

/// A result that is already there: built by its shape's row function when it has rows, else
/// handed over as JSON text.
fn ready<'env>(env: &'env Env, result: ExecutionResult) -> Result<Outcome<'env>> {
    match guard(|| Ok(result.rows().map(|rows| rows::to_js(env.raw(), &rows)))) {
        Ok(Some(Ok(Some(promise)))) => return Ok(Either::B(PromiseRaw::new(env.raw(), promise))),
        Ok(Some(Err(e))) => return Err(e),
        _ => {} // no rows (or a panic finding them): the JSON text says the same
    }
    match json_text(result) {
        Ok(t) if !t.beyond_safe_integer => Ok(Either::A(t.text)),
        outcome => hub::settled(env, outcome.map(JsonOut::from_text)).map(Either::B),
    }
}

fn json_text(result: ExecutionResult) -> std::result::Result<JsonText, BindingError> {
    guard(|| Ok(result.into_json_text()?))
}
