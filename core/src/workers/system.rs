//! The worker runtime: handlers registered by job type, run by a pool of tokio tasks.
//!
//! `stop()` semantics: no new job is claimed; running jobs get `WorkerConfig::stop_timeout`
//! to finish; those still running then are aborted and returned to `Pending` (attempt not
//! counted), so they run again after the next start. Jobs run at least once: a job whose
//! process died while it ran is `Pending` again on the next open, its attempt count kept.

use super::job::{Job, JobStatus};
use super::queue::{JobQueue, QueueStats};
use crate::db::Aurora;
use crate::error::{AuroraError, Result};
use parking_lot::Mutex;
use std::collections::HashMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

/// A job handler: receives the job and returns Ok or an error (which triggers a retry).
pub type Handler = Arc<dyn Fn(Job) -> Pin<Box<dyn Future<Output = Result<()>> + Send>> + Send + Sync>;

/// Worker pool settings.
#[derive(Debug, Clone)]
pub struct WorkerConfig {
    /// Jobs run at the same time.
    pub concurrency: usize,
    /// First retry delay; doubles per attempt (±25 % jitter), capped at 60 s.
    pub retry_base_ms: u64,
    /// How long `stop()` waits for running jobs before returning them to Pending.
    pub stop_timeout: Duration,
    /// Longest sleep between checks for scheduled jobs.
    pub poll_interval: Duration,
}

impl Default for WorkerConfig {
    fn default() -> Self {
        WorkerConfig {
            concurrency: 4,
            retry_base_ms: 200,
            stop_timeout: Duration::from_secs(30),
            poll_interval: Duration::from_millis(250),
        }
    }
}

struct Running {
    stop: Arc<AtomicBool>,
    tasks: Vec<tokio::task::JoinHandle<()>>,
    in_flight: Arc<Mutex<HashMap<String, ()>>>,
}

/// Runs registered handlers for the jobs of one database's queue.
#[derive(Clone)]
pub struct WorkerSystem {
    db: std::sync::Weak<crate::db::Inner>,
    queue: Arc<JobQueue>,
    config: WorkerConfig,
    handlers: Arc<Mutex<HashMap<String, Handler>>>,
    running: Arc<Mutex<Option<Running>>>,
}

/// A handler registration that has taken effect; awaiting it (optional) yields `()`.
#[derive(Debug)]
pub struct Registered(());

impl std::future::IntoFuture for Registered {
    type Output = ();
    type IntoFuture = std::future::Ready<()>;

    fn into_future(self) -> Self::IntoFuture {
        std::future::ready(())
    }
}

impl WorkerSystem {
    /// A worker system over `db`'s durable queue (not started).
    pub fn new(db: &Aurora, config: WorkerConfig) -> Result<WorkerSystem> {
        Ok(WorkerSystem {
            queue: JobQueue::of(db)?,
            db: Arc::downgrade(&db.inner),
            config,
            handlers: Arc::new(Mutex::new(HashMap::new())),
            running: Arc::new(Mutex::new(None)),
        })
    }

    /// Registers the handler for a job type (replacing an earlier one). The handler is in place
    /// when this returns; the returned value may also be awaited
    /// (`workers.register_handler(..).await;`), as async code written for the seed API does.
    pub fn register_handler<F, Fut>(&self, job_type: &str, f: F) -> Registered
    where
        F: Fn(Job) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<()>> + Send + 'static,
    {
        let h: Handler = Arc::new(move |job| Box::pin(f(job)));
        self.register_boxed(job_type, h);
        Registered(())
    }

    /// Registers an already boxed handler (used by the language bindings).
    pub fn register_boxed(&self, job_type: &str, h: Handler) {
        self.handlers.lock().insert(job_type.to_string(), h);
        self.queue.notify.notify_waiters();
    }

    /// Makes a job durable and runnable; returns its id.
    pub async fn enqueue(&self, job: Job) -> Result<String> {
        self.queue.enqueue(job).await
    }

    /// The job with this id.
    pub fn get_job(&self, id: &str) -> Option<Job> {
        self.queue.get(id)
    }

    /// Status of a job by id.
    pub fn get_status(&self, id: &str) -> Option<JobStatus> {
        self.queue.get(id).map(|j| j.status)
    }

    /// Counts per status.
    pub fn stats(&self) -> QueueStats {
        self.queue.stats()
    }

    /// Jobs that ran out of retries.
    pub fn dead_letters(&self) -> Vec<Job> {
        self.queue.dead_letters()
    }

    /// Moves a dead letter back to Pending with a fresh set of retries.
    pub async fn retry_dead_letter(&self, id: &str) -> Result<()> {
        self.queue.retry_dead_letter(id).await
    }

    /// Deletes completed jobs that finished at least `older_than` ago (memory and storage);
    /// returns how many. Dead letters are kept. See `AuroraConfig::completed_job_retention_ms`
    /// for the automatic purge.
    pub async fn purge_completed(&self, older_than: Duration) -> Result<usize> {
        self.queue.purge_completed(older_than).await
    }

    /// The same system (handlers, queue, running state) with another pool size for `start`.
    pub fn with_concurrency(&self, n: usize) -> WorkerSystem {
        let mut w = self.clone();
        w.config.concurrency = n.max(1);
        w
    }

    /// True while workers run.
    pub fn is_running(&self) -> bool {
        self.running.lock().is_some()
    }

    /// Starts `concurrency` worker tasks on the current tokio runtime
    /// (`workers.start().await?`). Outside async code, use [`WorkerSystem::start_on`].
    pub async fn start(&self) -> Result<()> {
        let handle = tokio::runtime::Handle::try_current()
            .map_err(|_| AuroraError::Other("WorkerSystem::start needs a tokio runtime".into()))?;
        self.start_on(&handle)
    }

    /// Starts the worker tasks on the given runtime, without awaiting (for callers outside
    /// async code).
    pub fn start_on(&self, rt: &tokio::runtime::Handle) -> Result<()> {
        self.db.upgrade().ok_or(AuroraError::Closed)?.check_open()?;
        let mut running = self.running.lock();
        if running.is_some() {
            return Ok(());
        }
        let stop = Arc::new(AtomicBool::new(false));
        let in_flight = Arc::new(Mutex::new(HashMap::new()));
        let tasks = (0..self.config.concurrency.max(1))
            .map(|_| rt.spawn(self.clone().worker_loop(stop.clone(), in_flight.clone())))
            .collect();
        *running = Some(Running { stop, tasks, in_flight });
        Ok(())
    }

    /// Stops the workers (see the module docs for what happens to running jobs).
    pub async fn stop(&self) -> Result<()> {
        let Some(r) = self.running.lock().take() else {
            return Ok(());
        };
        r.stop.store(true, Ordering::Release);
        self.queue.notify.notify_waiters();
        let deadline = tokio::time::Instant::now() + self.config.stop_timeout;
        for t in &r.tasks {
            while !t.is_finished() && tokio::time::Instant::now() < deadline {
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
        }
        for t in &r.tasks {
            t.abort();
        }
        let left: Vec<String> = r.in_flight.lock().keys().cloned().collect();
        let mut first_error = None;
        for id in left {
            // A release that cannot be committed still makes the job runnable in memory.
            if let Err(e) = self.queue.release(&id).await {
                first_error.get_or_insert(e);
            }
        }
        first_error.map_or(Ok(()), Err)
    }

    async fn worker_loop(self, stop: Arc<AtomicBool>, in_flight: Arc<Mutex<HashMap<String, ()>>>) {
        while !stop.load(Ordering::Acquire) {
            let claimed = match self.claim_runnable().await {
                Ok(j) => j,
                Err(AuroraError::Closed) => return,
                Err(e) => {
                    tracing::error!("worker could not claim a job: {e}");
                    tokio::time::sleep(self.config.poll_interval).await;
                    continue;
                }
            };
            let Some((job, handler)) = claimed else {
                let wait = self.queue.next_due_in().unwrap_or(self.config.poll_interval).min(self.config.poll_interval);
                let notified = self.queue.notify.notified();
                tokio::select! {
                    _ = notified => {}
                    _ = tokio::time::sleep(wait) => {}
                }
                continue;
            };
            let id = job.id.clone();
            in_flight.lock().insert(id.clone(), ());
            let timeout = job.timeout_ms.map(Duration::from_millis);
            let fut = tokio::spawn(handler(job));
            let outcome = match timeout {
                Some(t) => match tokio::time::timeout(t, fut).await {
                    Ok(r) => flatten(r),
                    Err(_) => Err(format!("timed out after {} ms", t.as_millis())),
                },
                None => flatten(fut.await),
            };
            // Still in flight while the outcome is recorded: if `stop` aborts this task in the
            // middle, it returns the job to Pending instead of leaving it Running.
            if let Err(e) = self.queue.finish(&id, outcome, self.config.retry_base_ms).await {
                tracing::error!("could not record the outcome of job {id} (it will run again): {e}");
            }
            in_flight.lock().remove(&id);
        }
    }

    /// Claims the next job that has a handler; jobs without one stay queued.
    async fn claim_runnable(&self) -> Result<Option<(Job, Handler)>> {
        let handlers = self.handlers.clone();
        let Some(job) = self.queue.claim(move |t| handlers.lock().contains_key(t)).await? else {
            return Ok(None);
        };
        let handler = self.handlers.lock().get(&job.job_type).cloned();
        match handler {
            Some(h) => Ok(Some((job, h))),
            None => {
                // The handler was unregistered in between: put the job back.
                self.queue.release(&job.id).await?;
                Ok(None)
            }
        }
    }
}

fn flatten(r: std::result::Result<Result<()>, tokio::task::JoinError>) -> std::result::Result<(), String> {
    match r {
        Ok(Ok(())) => Ok(()),
        Ok(Err(e)) => Err(e.to_string()),
        Err(e) if e.is_panic() => Err("handler panicked".to_string()),
        Err(e) => Err(e.to_string()),
    }
}

impl Aurora {
    /// The database's own worker system (started on open when `workers_enabled`).
    pub fn workers(&self) -> Result<WorkerSystem> {
        let cfg = WorkerConfig { concurrency: self.config().worker_threads.max(1), ..Default::default() };
        let ws = self.extension("worker_system", || std::sync::Mutex::new(None::<WorkerSystem>));
        let mut slot = ws.lock().map_err(|_| AuroraError::Other("worker system lock poisoned".into()))?;
        if let Some(w) = slot.as_ref() {
            return Ok(w.clone());
        }
        let w = WorkerSystem::new(self, cfg)?;
        *slot = Some(w.clone());
        Ok(w)
    }

    /// Enqueues a job on the database's durable queue.
    pub async fn enqueue(&self, job: Job) -> Result<String> {
        JobQueue::of(self)?.enqueue(job).await
    }
}
