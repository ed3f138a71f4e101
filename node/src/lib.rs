//! Node.js bindings of Aurora DB (npm package `aurora-db`).
//!
//! A thin layer over `aurora-bindings`: it converts JS values to the engine's JSON (`convert`)
//! and engine values to JS values (`values`), with no JSON text either way; runs the hot async
//! calls (`execute`, `enqueue`, subscription `next`) on the facade's runtime and settles their
//! Promises in batches (`hub`); runs the rare blocking facade calls (`open`, `close`,
//! `stopWorkers`, job queries) on libuv's thread pool (`AsyncTask`) so the event loop never
//! waits; and calls JS job handlers through a weak threadsafe function. All behaviour lives in
//! the facade. The hottest calls (`execute`, `executeSync`, prepared statements) are plain
//! N-API callbacks (`hot`) on handles and texts by number (`slots`, `texts`). The JS layer
//! (`index.js`) builds `AuroraError`s and implements the async-iterator protocol.

#![deny(clippy::all)]

mod convert;
mod encode;
mod hot;
mod hub;
mod slots;
mod texts;
mod values;

use aurora_bindings::{AsyncForeignHandler, BindingError, BoxFuture, Database, Statement, Subscription};
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

/// Opens (or creates) the database at `path` on the calling thread (blocks the event loop).
#[napi]
pub fn open_sync(path: String, config: Option<JsonIn>) -> Result<NativeDatabase> {
    let config = config.map(|c| c.0).unwrap_or(Value::Null);
    let db = Database::open(&path, &config).map_err(to_js_error)?;
    Ok(NativeDatabase { db, slot: Default::default() })
}

/// Registers the JS `AuroraError` class: Promises of `execute`, `enqueue` and subscription
/// `next` reject with `new AuroraError(message, code, line, column)`.
#[napi(
    ts_args_type = "errorClass: new (message: string, code: string, line: number | null, column: number | null) => Error"
)]
pub fn set_error_class(env: Env, error_class: Unknown) -> Result<()> {
    hub::set_error_class(env.raw(), error_class.raw())
}

/// Registers the decoder of encoded values (see `values`): `decoder(ops, text, keys)` returns
/// the value that `ops` (a Float64Array of tags and numbers) and `text` (every string) encode.
#[napi(ts_args_type = "decoder: (ops: Float64Array, text: string, keys: string[]) => unknown")]
pub fn set_decoder(env: Env, decoder: Function<'_>) -> Result<()> {
    values::set_decoder(env.raw(), decoder.raw())
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
            slots::release(&slots::DATABASES, slot);
        }
    }
}

/// Numbers an AQL text for `executeSlot` (index.js asks once per text; see `texts`).
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
    /// Executes AQL with options; resolves to the SPEC §4.11 result as JS values (the common
    /// call, without options, is `executeSlot`).
    #[napi(ts_return_type = "Promise<any>")]
    pub fn execute(
        &self,
        env: &Env,
        aql: String,
        variables: Option<JsonIn>,
        debug_audit: Option<bool>,
        operation_name: Option<String>,
    ) -> Result<Unknown<'_>> {
        let vars = variables.map(|v| v.0).unwrap_or(Value::Null);
        let run = self.db.execute_eager(aql, vars, debug_audit.unwrap_or(false), operation_name);
        let raw = hot::settle(env, run)?;
        Ok(unsafe { Unknown::from_raw_unchecked(env.raw(), raw) })
    }

    /// Executes AQL with options on the calling thread (blocks the event loop); returns the
    /// result or throws.
    #[napi(ts_return_type = "any")]
    pub fn execute_sync(
        &self,
        aql: String,
        variables: Option<JsonIn>,
        debug_audit: Option<bool>,
        operation_name: Option<String>,
    ) -> Result<convert::ResultOut> {
        let vars = variables.map(|v| v.0).unwrap_or(Value::Null);
        let out = self.db.execute_sync(&aql, vars, debug_audit.unwrap_or(false), operation_name.as_deref());
        out.map(convert::ResultOut).map_err(to_js_error)
    }

    /// Parses and compiles `aql` once; run it with `statementExecute(Sync)`.
    #[napi]
    pub fn prepare(&self, aql: String) -> Result<NativeStatement> {
        let stmt = self.db.prepare(&aql).map_err(to_js_error)?;
        Ok(NativeStatement { stmt, slot: Default::default() })
    }

    /// Registers this handle for `executeSlot` (once) and returns its slot.
    #[napi]
    pub fn slot(&self) -> u32 {
        match self.slot.get() {
            Some(s) => s,
            None => {
                let s = slots::register(&slots::DATABASES, &self.db);
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

    /// How each root field of a query runs, keyed like the query's result.
    #[napi(ts_return_type = "Promise<Record<string, any>>")]
    pub fn explain(&self, aql: String, variables: Option<JsonIn>) -> AsyncTask<Blocking<JsonOut>> {
        let db = self.db.clone();
        let vars = variables.map(|v| v.0).unwrap_or(Value::Null);
        blocking(move || db.explain(&aql, vars).map(JsonOut::new))
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

/// A prepared statement behind the JS `Statement` class.
#[napi]
pub struct NativeStatement {
    stmt: Statement,
    /// This handle's slot in the JS thread's registry (see `slots`), once asked for.
    slot: std::cell::Cell<Option<u32>>,
}

impl Drop for NativeStatement {
    fn drop(&mut self) {
        if let Some(slot) = self.slot.get() {
            slots::release(&slots::STATEMENTS, slot);
        }
    }
}

#[napi]
impl NativeStatement {
    /// Registers this statement for `statementExecute` (once) and returns its slot.
    #[napi]
    pub fn slot(&self) -> u32 {
        match self.slot.get() {
            Some(s) => s,
            None => {
                let s = slots::register(&slots::STATEMENTS, &self.stmt);
                self.slot.set(Some(s));
                s
            }
        }
    }

    /// The AQL text it was prepared from.
    #[napi(getter)]
    pub fn text(&self) -> String {
        self.stmt.text().to_string()
    }
}
