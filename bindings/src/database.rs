//! An open database as the hosts hold it: blocking and async calls, JSON in and out.

use crate::config::config_from_json;
use crate::eager::{Eager, Execution};
use crate::error::{BindingError, ErrorCode};
use crate::runtime::{block_on, on_runtime, run_here, runtime};
use crate::subscription::Subscription;
use crate::workers::HandlerKind;
use crate::{guard, AsyncForeignHandler, ForeignHandler};
use aurora_db::aql::ExecutionResult;
use aurora_db::workers::{Job, JobPriority, WorkerSystem};
use aurora_db::{Aurora, ExecuteOptions, ExecuteRequest};
use parking_lot::Mutex;
use serde_json::Value;
use std::sync::Arc;

/// A database handle for a host language. Cheap to clone; `close` closes it for every clone.
#[derive(Clone)]
pub struct Database {
    db: Arc<Mutex<Option<Aurora>>>,
    pid: u32,
    workers: Arc<Mutex<Option<WorkerSystem>>>,
    eager: Arc<Eager>,
}

impl Database {
    /// Opens (or creates) a database at `path` with settings given as a JSON object.
    pub fn open(path: &str, config: &Value) -> Result<Database, BindingError> {
        guard(|| {
            if crate::runtime::is_forked_child() {
                // The storage engine's thread pool does not survive fork(): refuse clearly
                // instead of hanging on the first flush.
                return Err(BindingError::validation(
                    "cannot open a database in a process forked from one that already used Aurora; \
                     start worker processes with the 'spawn' method, or fork before opening any database",
                ));
            }
            let (config, eager_budget) = crate::eager::take_budget(config)?;
            let cfg = config_from_json(path, &config)?;
            let rt = runtime()?;
            let db = block_on(async move {
                let _enter = rt.enter();
                Aurora::with_config(cfg).await
            })??;
            let workers_enabled = db.config().workers_enabled;
            let me = Database {
                db: Arc::new(Mutex::new(Some(db))),
                pid: crate::runtime::pid(),
                workers: Arc::default(),
                eager: Arc::new(Eager::new(eager_budget)),
            };
            if workers_enabled {
                me.start_workers(None)?;
            }
            Ok(me)
        })
    }

    /// The engine handle, or `CLOSED`; refuses handles inherited through `fork()`.
    pub fn aurora(&self) -> Result<Aurora, BindingError> {
        if crate::runtime::pid() != self.pid {
            return Err(BindingError::new(
                ErrorCode::Closed,
                "this database handle was opened in the parent process before fork(); open the database again in the child",
            ));
        }
        let db = self.db.lock().clone().ok_or_else(|| BindingError::closed("the database"))?;
        if db.is_closed() {
            return Err(BindingError::closed("the database"));
        }
        Ok(db)
    }

    /// The handle's eager-cost memory (shared with its prepared statements).
    pub(crate) fn eager(&self) -> &Arc<Eager> {
        &self.eager
    }

    fn request(aql: &str, variables: Value, debug_audit: bool, operation_name: Option<&str>) -> ExecuteRequest {
        ExecuteRequest {
            aql: aql.to_string(),
            variables,
            options: ExecuteOptions {
                debug_audit,
                operation_name: operation_name.map(String::from),
                ..Default::default()
            },
        }
    }

    /// Executes AQL on the calling thread and returns the lean result (the host turns it into
    /// its values). Blocks while it waits (a group commit); for synchronous host APIs.
    pub fn execute_sync(
        &self,
        aql: &str,
        variables: Value,
        debug_audit: bool,
        operation_name: Option<&str>,
    ) -> Result<ExecutionResult, BindingError> {
        guard(|| {
            let db = self.aurora()?;
            Ok(run_here(db.execute_lean(Self::request(aql, variables, debug_audit, operation_name)))??)
        })
    }

    /// Executes AQL and returns the SPEC §4.11 JSON. Blocks; call from host threads only.
    pub fn execute(&self, aql: &str, variables: Value) -> Result<Value, BindingError> {
        self.execute_with(aql, variables, false)
    }

    /// Like [`Database::execute`], with the `debug_audit` option.
    pub fn execute_with(&self, aql: &str, variables: Value, debug_audit: bool) -> Result<Value, BindingError> {
        guard(|| {
            let db = self.aurora()?;
            Ok(block_on(db.execute_json(Self::request(aql, variables, debug_audit, None)))??)
        })
    }

    /// Like [`Database::execute_with`], also running only the operation named `operation_name`
    /// of a document that holds several (the conformance vectors' `options.operation_name`).
    pub fn execute_named(
        &self,
        aql: &str,
        variables: Value,
        debug_audit: bool,
        operation_name: Option<&str>,
    ) -> Result<Value, BindingError> {
        guard(|| {
            let db = self.aurora()?;
            Ok(block_on(db.execute_json(Self::request(aql, variables, debug_audit, operation_name)))??)
        })
    }

    /// Executes AQL on the facade's runtime; the returned future can be awaited from any executor.
    pub async fn execute_async(&self, aql: String, variables: Value) -> Result<Value, BindingError> {
        let db = guard(|| self.aurora())?;
        on_runtime(async move { db.execute_json(Self::request(&aql, variables, false, None)).await }).await
    }

    /// Like [`Database::execute_named`], returning the result as JSON text written straight
    /// from the documents (for hosts that hand results over as text: C, Kotlin, Swift).
    pub fn execute_text(
        &self,
        aql: &str,
        variables: Value,
        debug_audit: bool,
        operation_name: Option<&str>,
    ) -> Result<String, BindingError> {
        guard(|| {
            let db = self.aurora()?;
            let req = Self::request(aql, variables, debug_audit, operation_name);
            Ok(block_on(async move { db.execute_json_text(req).await.map(|t| t.text) })??)
        })
    }

    /// Async form of [`Database::execute_text`] (runs on the facade's runtime, like
    /// [`Database::execute_async`]).
    pub async fn execute_text_async(
        &self,
        aql: String,
        variables: Value,
        debug_audit: bool,
        operation_name: Option<String>,
    ) -> Result<String, BindingError> {
        let db = guard(|| self.aurora())?;
        let req = Self::request(&aql, variables, debug_audit, operation_name.as_deref());
        on_runtime(async move { db.execute_json_text(req).await.map(|t| t.text) }).await
    }

    /// Executes AQL for an async host: a text whose recent runs were cheap finishes on the
    /// calling thread (no round trip through the runtime), anything else runs on the runtime.
    /// The host turns the result into its values (`rows`, `into_json_text`) where it suits it.
    pub fn execute_eager(
        &self,
        aql: String,
        variables: Value,
        debug_audit: bool,
        operation_name: Option<String>,
    ) -> Execution<ExecutionResult> {
        let prepared = guard(|| Ok((self.aurora()?, runtime()?)));
        let (db, rt) = match prepared {
            Ok(x) => x,
            Err(e) => return Execution::Ready(Err(e)),
        };
        let k = crate::eager::key(&aql);
        let req = ExecuteRequest {
            aql,
            variables,
            options: ExecuteOptions { debug_audit, operation_name, ..Default::default() },
        };
        self.eager.run(&rt, k, async move { Ok(db.execute_lean(req).await?) })
    }

    /// Opens an AQL subscription (`subscription { coll(where: ...) { fields } }`).
    pub fn stream(&self, aql: &str, variables: Value) -> Result<Subscription, BindingError> {
        guard(|| {
            let db = self.aurora()?;
            let rt = runtime()?;
            let _enter = rt.enter();
            let s = db.stream_now(Self::request(aql, variables, false, None))?;
            Ok(Subscription::from_stream(s))
        })
    }

    /// Subscribes to every change of a collection (`"*"` for all collections).
    pub fn listen(&self, collection: &str) -> Result<Subscription, BindingError> {
        guard(|| {
            let db = self.aurora()?;
            let l = if collection == "*" { db.listen_all() } else { db.listen(collection) };
            Ok(Subscription::from_listener(l))
        })
    }

    fn worker_system(&self) -> Result<WorkerSystem, BindingError> {
        let db = self.aurora()?;
        let mut w = self.workers.lock();
        if let Some(ws) = w.as_ref() {
            return Ok(ws.clone());
        }
        let ws = db.workers()?;
        *w = Some(ws.clone());
        Ok(ws)
    }

    /// Registers a handler that blocks its calling thread (Python, JVM, C).
    pub fn register_handler(&self, job_type: &str, handler: Arc<dyn ForeignHandler>) -> Result<(), BindingError> {
        guard(|| {
            let ws = self.worker_system()?;
            ws.register_boxed(job_type, HandlerKind::Blocking(handler).into_handler());
            Ok(())
        })
    }

    /// Registers a handler that returns a future (Node promises).
    pub fn register_async_handler(
        &self,
        job_type: &str,
        handler: Arc<dyn AsyncForeignHandler>,
    ) -> Result<(), BindingError> {
        guard(|| {
            let ws = self.worker_system()?;
            ws.register_boxed(job_type, HandlerKind::Async(handler).into_handler());
            Ok(())
        })
    }

    /// Enqueues a job. `priority` is LOW, NORMAL, HIGH or CRITICAL in any case.
    pub fn enqueue(
        &self,
        job_type: &str,
        payload: Value,
        priority: &str,
        max_retries: Option<u32>,
    ) -> Result<String, BindingError> {
        guard(|| {
            let db = self.aurora()?;
            let job = build_job(job_type, payload, priority, max_retries)?;
            Ok(block_on(db.enqueue(job))??)
        })
    }

    /// Async form of [`Database::enqueue`].
    pub async fn enqueue_async(
        &self,
        job_type: String,
        payload: Value,
        priority: String,
        max_retries: Option<u32>,
    ) -> Result<String, BindingError> {
        let db = guard(|| self.aurora())?;
        let job = build_job(&job_type, payload, &priority, max_retries)?;
        on_runtime(async move { db.enqueue(job).await }).await
    }

    /// Starts the worker pool (`concurrency` defaults to the config's `worker_threads`).
    pub fn start_workers(&self, concurrency: Option<usize>) -> Result<(), BindingError> {
        guard(|| {
            let ws = self.worker_system()?;
            let ws = match concurrency {
                Some(n) => ws.with_concurrency(n),
                None => ws,
            };
            ws.start_on(runtime()?.handle())?;
            Ok(())
        })
    }

    /// Stops the worker pool (running jobs finish or return to Pending).
    pub fn stop_workers(&self) -> Result<(), BindingError> {
        guard(|| {
            let ws = self.workers.lock().clone();
            if let Some(ws) = ws {
                block_on(ws.stop())??;
            }
            Ok(())
        })
    }

    /// True while an attempt of job `id` runs and has been cancelled (it timed out, or the
    /// workers are stopping): a handler polls this to end early.
    pub fn job_cancelled(&self, id: &str) -> Result<bool, BindingError> {
        guard(|| Ok(self.worker_system()?.is_cancelled(id)))
    }

    /// A job as JSON (`id, jobType, status, priority, attempts, maxRetries, lastError, payload`), or null.
    pub fn job_status(&self, id: &str) -> Result<Value, BindingError> {
        guard(|| {
            let ws = self.worker_system()?;
            Ok(ws.get_job(id).map(|j| job_json(&j)).unwrap_or(Value::Null))
        })
    }

    /// The bytes each cache and buffer holds next to its budget, as JSON (`hotCacheBytes`,
    /// `hotCacheBudget`, `indexCacheBytes`, `indexCacheBudget`, `writeBufferBytes`, …).
    pub fn memory_stats(&self) -> Result<Value, BindingError> {
        guard(|| Ok(serde_json::to_value(self.aurora()?.memory_stats()).map_err(aurora_db::AuroraError::from)?))
    }

    /// How each root field of a query runs (strategy, indexes, estimated/examined/returned
    /// rows), as JSON keyed like the query's result: [`Aurora::explain`]. Blocks.
    pub fn explain(&self, aql: &str, variables: Value) -> Result<Value, BindingError> {
        guard(|| Ok(self.aurora()?.explain(Self::request(aql, variables, false, None))?))
    }

    /// Jobs that ran out of retries, as JSON.
    pub fn dead_letters(&self) -> Result<Value, BindingError> {
        guard(|| Ok(Value::Array(self.worker_system()?.dead_letters().iter().map(job_json).collect())))
    }

    /// Closes the database for every clone of this handle (idempotent).
    pub fn close(&self) -> Result<(), BindingError> {
        guard(|| {
            if crate::runtime::pid() != self.pid {
                if let Some(inherited) = self.db.lock().take() {
                    // Never run the parent's shutdown in a forked child: its threads are gone.
                    std::mem::forget(inherited);
                }
                return Ok(());
            }
            let ws = self.workers.lock().take();
            if let Some(ws) = ws {
                block_on(ws.stop())??;
            }
            let db = self.db.lock().take();
            match db {
                Some(db) => Ok(db.close_blocking()?),
                None => Ok(()),
            }
        })
    }

    /// True once closed.
    pub fn is_closed(&self) -> bool {
        self.db.lock().as_ref().is_none_or(|d| d.is_closed())
    }
}

impl std::fmt::Debug for Database {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let path = self.db.lock().as_ref().map(|d| d.config().db_path.display().to_string());
        f.debug_struct("Database").field("path", &path).finish()
    }
}

fn build_job(job_type: &str, payload: Value, priority: &str, max_retries: Option<u32>) -> Result<Job, BindingError> {
    let priority = JobPriority::parse(priority).ok_or_else(|| {
        BindingError::validation(format!("unknown priority `{priority}`; expected LOW, NORMAL, HIGH or CRITICAL"))
    })?;
    let mut job = Job::new(job_type).with_priority(priority);
    if let Some(n) = max_retries {
        job = job.with_max_retries(n);
    }
    match payload {
        Value::Object(m) => job.payload = m.into_iter().collect(),
        Value::Null => {}
        other => return Err(BindingError::validation(format!("a job payload must be an object, got {other}"))),
    }
    Ok(job)
}

/// JSON view of a job, shared by every host.
pub(crate) fn job_json(j: &Job) -> Value {
    serde_json::json!({
        "id": j.id,
        "jobType": j.job_type,
        "status": j.status.as_str(),
        "priority": j.priority.as_str(),
        "attempts": j.attempts,
        "maxRetries": j.max_retries,
        "lastError": j.last_error,
        "payload": j.payload,
    })
}
