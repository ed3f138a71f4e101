//! The durable queue: jobs live in the database's `jobs` tree (written through the WAL like
//! any data) and in an in-memory index by (priority, enqueue order) and run time.
//!
//! Memory follows storage: a state change is applied in memory only once its record is
//! committed, except a claim, which reserves the job in memory first (so two workers cannot take
//! it) and restores it exactly if the commit fails. When the outcome of a running job cannot be
//! recorded, the job is made `Pending` in memory with its attempt counted: that is what a reopen
//! makes of the `Running` record still on disk, so memory never promises more than storage.

use super::job::{now_ms, Job, JobPriority, JobStatus};
use crate::db::{Aurora, Inner, WriteOp};
use crate::error::{AuroraError, Result};
use parking_lot::Mutex;
use std::cmp::Reverse;
use std::collections::{BTreeSet, HashMap};
use std::sync::Arc;
use std::time::Duration;

/// Key kind of a job record under the job-queue prefix.
const JOB_RECORD: u8 = 0x01;

type ReadyKey = (Reverse<JobPriority>, u64, String);

#[derive(Default)]
struct State {
    jobs: HashMap<String, Job>,
    ready: BTreeSet<ReadyKey>,
    delayed: BTreeSet<(u64, String)>,
    /// Completed jobs by the time they finished, for retention.
    completed: BTreeSet<(u64, String)>,
    next_seq: u64,
}

/// Completed jobs deleted per commit by a purge.
const PURGE_BATCH: usize = 1_000;

impl State {
    fn index(&mut self, job: &Job) {
        match job.status {
            JobStatus::Pending | JobStatus::Failed if job.run_at_ms > now_ms() => {
                self.delayed.insert((job.run_at_ms, job.id.clone()));
            }
            JobStatus::Pending | JobStatus::Failed => {
                self.ready.insert((Reverse(job.priority), job.seq, job.id.clone()));
            }
            JobStatus::Completed => {
                self.completed.insert((job.finished_at_ms.unwrap_or(0), job.id.clone()));
            }
            _ => {}
        }
    }

    fn unindex(&mut self, job: &Job) {
        self.ready.remove(&(Reverse(job.priority), job.seq, job.id.clone()));
        self.delayed.remove(&(job.run_at_ms, job.id.clone()));
        self.completed.remove(&(job.finished_at_ms.unwrap_or(0), job.id.clone()));
    }

    /// Replaces the in-memory job (and its index entries) with `job`.
    fn put(&mut self, job: Job) {
        if let Some(old) = self.jobs.get(&job.id).cloned() {
            self.unindex(&old);
        }
        self.index(&job);
        self.jobs.insert(job.id.clone(), job);
    }

    fn promote_due(&mut self) {
        let now = now_ms();
        while let Some((at, id)) = self.delayed.first().cloned() {
            if at > now {
                break;
            }
            self.delayed.pop_first();
            if let Some(j) = self.jobs.get(&id) {
                self.ready.insert((Reverse(j.priority), j.seq, id));
            }
        }
    }
}

/// Counts of jobs per status.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct QueueStats {
    /// Waiting to run.
    pub pending: usize,
    /// Being run.
    pub running: usize,
    /// Done.
    pub completed: usize,
    /// Waiting for a retry.
    pub failed: usize,
    /// Out of retries.
    pub dead_letter: usize,
}

/// The job queue of one database (shared by every handle and worker system).
pub struct JobQueue {
    db: std::sync::Weak<Inner>,
    state: Mutex<State>,
    /// Woken on every enqueue and state change that may make a job runnable.
    pub(crate) notify: tokio::sync::Notify,
}

impl JobQueue {
    /// The queue of `db`, loading it from storage on first use. `Running` jobs found there were
    /// left by a process that died: they return to `Pending`, attempt count kept.
    pub(crate) fn of(db: &Aurora) -> Result<Arc<JobQueue>> {
        let q = db.extension("job_queue", || JobQueue {
            db: std::sync::Arc::downgrade(&db.inner),
            state: Mutex::new(State::default()),
            notify: tokio::sync::Notify::new(),
        });
        q.load_once()?;
        Ok(q)
    }

    fn inner(&self) -> Result<Arc<Inner>> {
        self.db.upgrade().ok_or(AuroraError::Closed)
    }

    fn load_once(&self) -> Result<()> {
        let inner = self.inner()?;
        let mut st = self.state.lock();
        if st.next_seq > 0 {
            return Ok(());
        }
        // Load into a fresh state and install it only when complete, so a failed load (a cold
        // store that fails) is retried by the next call instead of leaving an empty queue.
        let mut fresh = State { next_seq: 1, ..State::default() };
        let snap = inner.snapshot();
        let loaded_at = now_ms();
        let mut recovered = Vec::new();
        let prefix = vec![crate::storage::keys::JOBS, JOB_RECORD];
        for item in snap.range(&prefix, crate::storage::keys::prefix_end(&prefix).as_deref(), false)? {
            let bytes = match item?.1 {
                crate::storage::memtable::Found::Bytes(b) => b,
                crate::storage::memtable::Found::Chunk(_) => continue,
            };
            let mut job: Job = serde_json::from_slice(&bytes).map_err(|e| AuroraError::Corruption {
                file: inner.config.db_path.join("data"),
                offset: 0,
                reason: format!("unreadable job record: {e}"),
            })?;
            if job.status == JobStatus::Running {
                job.status = JobStatus::Pending;
                job.run_at_ms = now_ms();
                recovered.push(job.clone());
            }
            if job.status == JobStatus::Completed && job.finished_at_ms.is_none() {
                // Written before completion times were recorded: keep it one full retention.
                job.finished_at_ms = Some(loaded_at);
            }
            fresh.next_seq = fresh.next_seq.max(job.seq + 1);
            fresh.index(&job);
            fresh.jobs.insert(job.id.clone(), job);
        }
        *st = fresh;
        drop(st);
        if !recovered.is_empty() {
            tracing::info!("{} jobs interrupted by a crash are pending again", recovered.len());
            self.persist_blocking(&recovered)?;
        }
        Ok(())
    }

    fn key(id: &str) -> Vec<u8> {
        let mut k = vec![crate::storage::keys::JOBS, JOB_RECORD];
        match uuid::Uuid::parse_str(id) {
            Ok(u) => k.extend_from_slice(u.as_bytes()),
            Err(_) => k.extend_from_slice(id.as_bytes()),
        }
        k
    }

    fn write_op(job: &Job) -> Result<WriteOp> {
        Ok(WriteOp::Raw { key: Self::key(&job.id), value: Some(serde_json::to_vec(job)?) })
    }

    fn persist_blocking(&self, jobs: &[Job]) -> Result<()> {
        let ops = jobs.iter().map(Self::write_op).collect::<Result<Vec<_>>>()?;
        self.inner()?.commit_blocking(|_| Ok(ops), "jobs")?;
        Ok(())
    }

    async fn persist(&self, job: &Job) -> Result<()> {
        let op = Self::write_op(job)?;
        let inner = self.inner()?;
        inner.commit(vec![op], "jobs").await?;
        Ok(())
    }

    /// Makes `job` durable and runnable; returns its id.
    pub async fn enqueue(&self, job: Job) -> Result<String> {
        let (job, op) = self.prepare(job)?;
        self.inner()?.commit(vec![op], "enqueue").await?;
        let id = job.id.clone();
        self.register(job);
        Ok(id)
    }

    /// Numbers a new job and gives the write that stores it (to commit with other writes).
    pub(crate) fn prepare(&self, mut job: Job) -> Result<(Job, WriteOp)> {
        if job.job_type.is_empty() {
            return Err(AuroraError::invalid("a job needs a non-empty job type"));
        }
        job.status = JobStatus::Pending;
        job.attempts = 0;
        job.seq = {
            let mut st = self.state.lock();
            let s = st.next_seq;
            st.next_seq += 1;
            s
        };
        let op = Self::write_op(&job)?;
        Ok((job, op))
    }

    /// Makes a committed job runnable.
    pub(crate) fn register(&self, job: Job) {
        self.state.lock().put(job);
        self.notify.notify_waiters();
        self.notify.notify_one();
    }

    /// Takes the highest-priority due job (FIFO within a priority) and marks it Running.
    /// Only jobs whose type satisfies `can_run` (has a handler) are considered. If the claim
    /// cannot be committed the job gets back exactly its previous state and stays runnable.
    pub(crate) async fn claim(&self, can_run: impl Fn(&str) -> bool) -> Result<Option<Job>> {
        let (before, job) = {
            let mut st = self.state.lock();
            st.promote_due();
            let key = st.ready.iter().find(|k| st.jobs.get(&k.2).is_some_and(|j| can_run(&j.job_type))).cloned();
            let Some(key) = key else { return Ok(None) };
            st.ready.remove(&key);
            let Some(job) = st.jobs.get_mut(&key.2) else {
                return Ok(None);
            };
            let before = job.clone();
            job.status = JobStatus::Running;
            job.attempts = job.attempts.saturating_add(1);
            (before, job.clone())
        };
        if let Err(e) = self.persist(&job).await {
            {
                let mut st = self.state.lock();
                if st.jobs.get(&job.id).is_some_and(|j| j.status == JobStatus::Running && j.attempts == job.attempts) {
                    st.put(before);
                }
            }
            self.notify.notify_one();
            return Err(e);
        }
        Ok(Some(job))
    }

    /// Time until the next delayed job is due.
    pub(crate) fn next_due_in(&self) -> Option<std::time::Duration> {
        let st = self.state.lock();
        st.delayed.first().map(|(at, _)| std::time::Duration::from_millis(at.saturating_sub(now_ms())))
    }

    /// Makes a Running job whose new state could not be committed `Pending` again in memory,
    /// attempt kept: exactly what a reopen makes of the `Running` record left on disk.
    fn requeue_uncommitted(&self, id: &str) {
        {
            let mut st = self.state.lock();
            if let Some(cur) = st.jobs.get(id).filter(|j| j.status == JobStatus::Running).cloned() {
                st.put(Job { status: JobStatus::Pending, run_at_ms: now_ms(), ..cur });
            }
        }
        self.notify.notify_one();
    }

    /// Records the outcome of an attempt: Completed, a retry with backoff, or DeadLetter.
    /// Memory changes only once the outcome is committed; if it cannot be, the job is
    /// `Pending` again (it will run again: jobs run at least once) and the error is returned.
    pub(crate) async fn finish(
        &self,
        id: &str,
        outcome: std::result::Result<(), String>,
        base_backoff_ms: u64,
    ) -> Result<JobStatus> {
        let job = {
            let st = self.state.lock();
            let Some(job) = st.jobs.get(id) else {
                return Err(AuroraError::NotFound(format!("job `{id}`")));
            };
            if job.status != JobStatus::Running {
                return Err(AuroraError::invalid(format!("job `{id}` is {}, not running", job.status.as_str())));
            }
            let mut job = job.clone();
            match outcome {
                Ok(()) => {
                    job.status = JobStatus::Completed;
                    job.last_error = None;
                    job.finished_at_ms = Some(now_ms());
                }
                Err(e) => {
                    job.last_error = Some(e);
                    if job.attempts > job.max_retries {
                        job.status = JobStatus::DeadLetter;
                        job.finished_at_ms = Some(now_ms());
                    } else {
                        job.status = JobStatus::Failed;
                        job.run_at_ms = now_ms() + backoff_ms(base_backoff_ms, job.attempts, &job.id);
                    }
                }
            }
            job
        };
        if let Err(e) = self.persist(&job).await {
            self.requeue_uncommitted(id);
            return Err(e);
        }
        {
            let mut st = self.state.lock();
            if st.jobs.get(id).is_some_and(|j| j.status == JobStatus::Running) {
                st.put(job.clone());
            }
        }
        self.notify.notify_one();
        Ok(job.status)
    }

    /// Puts a Running job back to Pending without counting the attempt (used by `stop`).
    /// If that cannot be committed the job is still made runnable, attempt counted (as a
    /// reopen would), and the error is returned.
    pub(crate) async fn release(&self, id: &str) -> Result<()> {
        let job = {
            let st = self.state.lock();
            let Some(job) = st.jobs.get(id).filter(|j| j.status == JobStatus::Running) else {
                return Ok(());
            };
            Job {
                status: JobStatus::Pending,
                attempts: job.attempts.saturating_sub(1),
                run_at_ms: now_ms(),
                ..job.clone()
            }
        };
        if let Err(e) = self.persist(&job).await {
            self.requeue_uncommitted(id);
            return Err(e);
        }
        {
            let mut st = self.state.lock();
            if st.jobs.get(id).is_some_and(|j| j.status == JobStatus::Running) {
                st.put(job);
            }
        }
        self.notify.notify_one();
        Ok(())
    }

    /// A job by id.
    pub fn get(&self, id: &str) -> Option<Job> {
        self.state.lock().jobs.get(id).cloned()
    }

    /// Jobs that ran out of retries.
    pub fn dead_letters(&self) -> Vec<Job> {
        let mut v: Vec<Job> =
            self.state.lock().jobs.values().filter(|j| j.status == JobStatus::DeadLetter).cloned().collect();
        v.sort_by_key(|j| j.seq);
        v
    }

    /// Gives a dead letter a fresh set of retries. Memory changes only once that is committed.
    pub async fn retry_dead_letter(&self, id: &str) -> Result<()> {
        let job = {
            let st = self.state.lock();
            let Some(job) = st.jobs.get(id) else {
                return Err(AuroraError::NotFound(format!("job `{id}`")));
            };
            if job.status != JobStatus::DeadLetter {
                return Err(AuroraError::invalid(format!("job `{id}` is {}, not a dead letter", job.status.as_str())));
            }
            Job { status: JobStatus::Pending, attempts: 0, run_at_ms: now_ms(), finished_at_ms: None, ..job.clone() }
        };
        self.persist(&job).await?;
        {
            let mut st = self.state.lock();
            if st.jobs.get(id).is_some_and(|j| j.status == JobStatus::DeadLetter) {
                st.put(job);
            }
        }
        self.notify.notify_one();
        Ok(())
    }

    /// Up to [`PURGE_BATCH`] completed jobs (finish time, id) that finished at or before `cutoff_ms`.
    fn purgeable(&self, cutoff_ms: u64) -> Vec<(u64, String)> {
        let st = self.state.lock();
        st.completed.iter().take_while(|(at, _)| *at <= cutoff_ms).take(PURGE_BATCH).cloned().collect()
    }

    fn delete_ops(batch: &[(u64, String)]) -> Vec<WriteOp> {
        batch.iter().map(|(_, id)| WriteOp::Raw { key: Self::key(id), value: None }).collect()
    }

    /// Drops committed deletions from memory (each index entry goes, so a purge always progresses).
    fn forget(&self, batch: &[(u64, String)]) {
        let mut st = self.state.lock();
        for entry in batch {
            st.completed.remove(entry);
            if st.jobs.get(&entry.1).is_some_and(|j| j.status == JobStatus::Completed) {
                st.jobs.remove(&entry.1);
            }
        }
    }

    fn cutoff(older_than: Duration) -> u64 {
        now_ms().saturating_sub(u64::try_from(older_than.as_millis()).unwrap_or(u64::MAX))
    }

    /// Deletes, from memory and storage, the completed jobs that finished at least
    /// `older_than` ago; returns how many. Other jobs, dead letters included, are never
    /// touched. A job is forgotten in memory only once its deletion is committed.
    pub async fn purge_completed(&self, older_than: Duration) -> Result<usize> {
        let cutoff = Self::cutoff(older_than);
        let mut purged = 0;
        loop {
            let batch = self.purgeable(cutoff);
            if batch.is_empty() {
                return Ok(purged);
            }
            self.inner()?.commit(Self::delete_ops(&batch), "purge_jobs").await?;
            self.forget(&batch);
            purged += batch.len();
        }
    }

    /// Blocking form of [`JobQueue::purge_completed`] (for the maintenance thread).
    pub(crate) fn purge_completed_blocking(&self, older_than: Duration) -> Result<usize> {
        let cutoff = Self::cutoff(older_than);
        let mut purged = 0;
        loop {
            let batch = self.purgeable(cutoff);
            if batch.is_empty() {
                return Ok(purged);
            }
            let ops = Self::delete_ops(&batch);
            self.inner()?.commit_blocking(|_| Ok(ops), "purge_jobs")?;
            self.forget(&batch);
            purged += batch.len();
        }
    }

    /// Counts per status.
    pub fn stats(&self) -> QueueStats {
        let mut s = QueueStats::default();
        for j in self.state.lock().jobs.values() {
            match j.status {
                JobStatus::Pending => s.pending += 1,
                JobStatus::Running => s.running += 1,
                JobStatus::Completed => s.completed += 1,
                JobStatus::Failed => s.failed += 1,
                JobStatus::DeadLetter => s.dead_letter += 1,
            }
        }
        s
    }
}

/// Applies `AuroraConfig::completed_job_retention_ms` to the queue of `inner`, if it was loaded
/// (a database that never used its queue has nothing in memory to purge); returns the count.
pub(crate) fn purge_expired(inner: &Inner, retention: Duration) -> Result<usize> {
    let queue = inner.extensions.read().get("job_queue").cloned().and_then(|e| e.downcast::<JobQueue>().ok());
    match queue {
        Some(q) => q.purge_completed_blocking(retention),
        None => Ok(0),
    }
}

/// Exponential backoff with deterministic jitter: base·2^(attempt-1) ± 25 %, capped at 60 s.
fn backoff_ms(base: u64, attempt: u32, id: &str) -> u64 {
    let exp = base.saturating_mul(1u64 << attempt.saturating_sub(1).min(16)).min(60_000);
    let h = id.bytes().fold(attempt as u64, |a, b| a.wrapping_mul(31).wrapping_add(b as u64));
    let jitter = (exp / 4).max(1);
    exp - jitter + h % (2 * jitter)
}
