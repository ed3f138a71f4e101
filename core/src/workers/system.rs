//! The worker runtime: handlers registered by job type, run by a pool of tokio tasks.
//!
//! `stop()` semantics: no new job is claimed; running jobs get `WorkerConfig::stop_timeout`
//! to finish; those still running then have their cancellation signal raised and are
//! aborted, and return to `Pending` (attempt not counted), so they run again after the next
//! start. `stop()` returns only once every handler call has returned (a host handler blocking
//! a thread is waited for). Jobs run at least once: a job whose process died while it ran is
//! `Pending` again on the next open, its attempt count kept.
//!
//! Attempts of one job never overlap: an attempt that times out has its signal raised and is
//! aborted, and the job is retried only once every part of the attempt (the handler's future,
//! a host thread running it) has let go of its [`CancelToken`].

use super::cancel::{AttemptWatch, CancelToken};
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
    in_flight: Arc<Mutex<HashMap<String, InFlight>>>,
}

/// A running attempt: a view of its cancellation signal and the handle that aborts its handler.
struct InFlight {
    attempt: AttemptWatch,
    abort: tokio::task::AbortHandle,
}

type InFlightMap = Arc<Mutex<HashMap<String, InFlight>>>;

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
        let ws = WorkerSystem {
            queue: JobQueue::of(db)?,
            db: Arc::downgrade(&db.inner),
            config,
            handlers: Arc::new(Mutex::new(HashMap::new())),
            running: Arc::new(Mutex::new(None)),
        };
        // Closing the database stops it and lets go of its handlers.
        db.inner.worker_systems.lock().push(ws.clone());
        Ok(ws)
    }

    /// Unregisters every handler (their captured state, a host's user data, is released once
    /// no running attempt holds them).
    pub(crate) fn clear_handlers(&self) {
        let handlers = std::mem::take(&mut *self.handlers.lock());
        drop(handlers);
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

    /// The job with this id (`None` also when the queue cannot be read; the error is logged).
    pub fn get_job(&self, id: &str) -> Option<Job> {
        logged(self.queue.get(id)).flatten()
    }

    /// Status of a job by id.
    pub fn get_status(&self, id: &str) -> Option<JobStatus> {
        self.get_job(id).map(|j| j.status)
    }

    /// Counts per status (zeros when the queue cannot be read; the error is logged).
    pub fn stats(&self) -> QueueStats {
        logged(self.queue.stats()).unwrap_or_default()
    }

    /// Jobs that ran out of retries (none when the queue cannot be read; the error is logged).
    pub fn dead_letters(&self) -> Vec<Job> {
        logged(self.queue.dead_letters()).unwrap_or_default()
    }

    /// The queue itself, whose reads return their errors.
    pub fn queue(&self) -> &JobQueue {
        &self.queue
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
        let in_flight: InFlightMap = Arc::new(Mutex::new(HashMap::new()));
        let tasks = (0..self.config.concurrency.max(1))
            .map(|_| rt.spawn(self.clone().worker_loop(stop.clone(), in_flight.clone())))
            .collect();
        *running = Some(Running { stop, tasks, in_flight });
        Ok(())
    }

    /// True while an attempt of job `id` runs and its cancellation signal is raised.
    pub fn is_cancelled(&self, id: &str) -> bool {
        self.running
            .lock()
            .as_ref()
            .is_some_and(|r| r.in_flight.lock().get(id).is_some_and(|f| f.attempt.is_cancelled()))
    }

    /// Stops the workers (see the module docs for what happens to running jobs). Returns once
    /// every handler call has returned.
    pub async fn stop(&self) -> Result<()> {
        let Some(r) = self.running.lock().take() else {
            return Ok(());
        };
        r.stop.store(true, Ordering::Release);
        self.queue.notify.notify_waiters();
        let deadline = tokio::time::Instant::now() + self.config.stop_timeout;
        while r.tasks.iter().any(|t| !t.is_finished()) && tokio::time::Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        // Past the timeout: signal and abort what still runs; each worker then waits for its
        // attempt to let go and returns the job to Pending.
        for f in r.in_flight.lock().values() {
            f.attempt.cancel();
            f.abort.abort();
        }
        for t in r.tasks {
            let _ = t.await;
        }
        Ok(())
    }

    async fn worker_loop(self, stop: Arc<AtomicBool>, in_flight: InFlightMap) {
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
            self.run_attempt(job, handler, &stop, &in_flight).await;
        }
    }

    /// Runs one attempt to its end and records its outcome. The attempt ends when every clone
    /// of its token is dropped, not when its future is abandoned, so the next attempt of the
    /// job can never start while a host thread still runs this one.
    async fn run_attempt(&self, mut job: Job, handler: Handler, stop: &AtomicBool, in_flight: &InFlightMap) {
        let id = job.id.clone();
        let timeout = job.timeout_ms.map(Duration::from_millis);
        let (token, done) = CancelToken::attempt();
        job.cancel = token.clone();
        let mut task = tokio::spawn(handler(job));
        in_flight.lock().insert(id.clone(), InFlight { attempt: token.watch(), abort: task.abort_handle() });
        let outcome = match timeout {
            Some(t) => match tokio::time::timeout(t, &mut task).await {
                Ok(r) => r,
                Err(_) => {
                    token.cancel();
                    task.abort();
                    let _ = (&mut task).await;
                    Ok(Err(AuroraError::Handler(format!("timed out after {} ms", t.as_millis()))))
                }
            },
            None => (&mut task).await,
        };
        // In flight until every part of the attempt has let go: a host handler still running after
        // a timeout keeps seeing its signal raised.
        drop(token);
        let _ = done.await;
        in_flight.lock().remove(&id);
        let recorded = match outcome {
            // Aborted by `stop`: the attempt does not count.
            Err(e) if e.is_cancelled() && stop.load(Ordering::Acquire) => self.queue.release(&id).await,
            other => self.queue.finish(&id, flatten(other), self.config.retry_base_ms).await.map(|_| ()),
        };
        if let Err(e) = recorded {
            tracing::error!("could not record the outcome of job {id} (it will run again): {e}");
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

/// The value of a queue read, or `None` with the error logged.
fn logged<T>(r: Result<T>) -> Option<T> {
    r.map_err(|e| tracing::error!("could not read the job queue: {e}")).ok()
}
