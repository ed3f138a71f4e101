//! The durable queue: jobs live in the database's `jobs` tree (written through the WAL like
//! any data) and in an in-memory index by (priority, enqueue order) and run time.

use super::job::{now_ms, Job, JobPriority, JobStatus};
use crate::db::{Aurora, Inner, WriteOp};
use crate::error::{AuroraError, Result};
use parking_lot::Mutex;
use std::cmp::Reverse;
use std::collections::{BTreeSet, HashMap};
use std::sync::Arc;

/// Cold-store tree holding the jobs.
pub const JOBS_TREE: &str = "jobs";

type ReadyKey = (Reverse<JobPriority>, u64, String);

#[derive(Default)]
struct State {
    jobs: HashMap<String, Job>,
    ready: BTreeSet<ReadyKey>,
    delayed: BTreeSet<(u64, String)>,
    next_seq: u64,
}

impl State {
    fn index(&mut self, job: &Job) {
        match job.status {
            JobStatus::Pending | JobStatus::Failed if job.run_at_ms > now_ms() => {
                self.delayed.insert((job.run_at_ms, job.id.clone()));
            }
            JobStatus::Pending | JobStatus::Failed => {
                self.ready.insert((Reverse(job.priority), job.seq, job.id.clone()));
            }
            _ => {}
        }
    }

    fn unindex(&mut self, job: &Job) {
        self.ready.remove(&(Reverse(job.priority), job.seq, job.id.clone()));
        self.delayed.remove(&(job.run_at_ms, job.id.clone()));
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
        st.next_seq = 1;
        let cold = inner.cold()?;
        inner.buffer.flush_into(&*cold)?;
        let mut recovered = Vec::new();
        for (_, bytes) in cold.scan(JOBS_TREE)? {
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
            st.next_seq = st.next_seq.max(job.seq + 1);
            st.index(&job);
            st.jobs.insert(job.id.clone(), job);
        }
        drop(st);
        if !recovered.is_empty() {
            tracing::info!("{} jobs interrupted by a crash are pending again", recovered.len());
            self.persist_blocking(&recovered)?;
        }
        Ok(())
    }

    fn write_op(job: &Job) -> Result<WriteOp> {
        let key = uuid::Uuid::parse_str(&job.id)
            .map(|u| u.as_bytes().to_vec())
            .unwrap_or_else(|_| job.id.clone().into_bytes());
        Ok(WriteOp::Raw { tree: JOBS_TREE.into(), key, value: Some(serde_json::to_vec(job)?) })
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
        {
            let mut st = self.state.lock();
            st.index(&job);
            st.jobs.insert(job.id.clone(), job);
        }
        self.notify.notify_waiters();
        self.notify.notify_one();
    }

    /// Takes the highest-priority due job (FIFO within a priority) and marks it Running.
    /// Only jobs whose type satisfies `can_run` (has a handler) are considered.
    pub(crate) async fn claim(&self, can_run: impl Fn(&str) -> bool) -> Result<Option<Job>> {
        let job = {
            let mut st = self.state.lock();
            st.promote_due();
            let key = st.ready.iter().find(|k| st.jobs.get(&k.2).is_some_and(|j| can_run(&j.job_type))).cloned();
            let Some(key) = key else { return Ok(None) };
            st.ready.remove(&key);
            let Some(job) = st.jobs.get_mut(&key.2) else {
                return Ok(None);
            };
            job.status = JobStatus::Running;
            job.attempts += 1;
            job.clone()
        };
        self.persist(&job).await?;
        Ok(Some(job))
    }

    /// Time until the next delayed job is due.
    pub(crate) fn next_due_in(&self) -> Option<std::time::Duration> {
        let st = self.state.lock();
        st.delayed.first().map(|(at, _)| std::time::Duration::from_millis(at.saturating_sub(now_ms())))
    }

    /// Records the outcome of an attempt: Completed, a retry with backoff, or DeadLetter.
    pub(crate) async fn finish(
        &self,
        id: &str,
        outcome: std::result::Result<(), String>,
        base_backoff_ms: u64,
    ) -> Result<JobStatus> {
        let job = {
            let mut st = self.state.lock();
            let Some(job) = st.jobs.get(id).cloned() else {
                return Err(AuroraError::NotFound(format!("job `{id}`")));
            };
            st.unindex(&job);
            let mut job = job;
            match outcome {
                Ok(()) => {
                    job.status = JobStatus::Completed;
                    job.last_error = None;
                }
                Err(e) => {
                    job.last_error = Some(e);
                    if job.attempts > job.max_retries {
                        job.status = JobStatus::DeadLetter;
                    } else {
                        job.status = JobStatus::Failed;
                        job.run_at_ms = now_ms() + backoff_ms(base_backoff_ms, job.attempts, &job.id);
                    }
                }
            }
            st.index(&job);
            st.jobs.insert(id.to_string(), job.clone());
            job
        };
        self.persist(&job).await?;
        self.notify.notify_one();
        Ok(job.status)
    }

    /// Puts a Running job back to Pending without counting the attempt (used by `stop`).
    pub(crate) async fn release(&self, id: &str) -> Result<()> {
        let job = {
            let mut st = self.state.lock();
            let Some(job) = st.jobs.get_mut(id) else {
                return Ok(());
            };
            if job.status != JobStatus::Running {
                return Ok(());
            }
            job.status = JobStatus::Pending;
            job.attempts = job.attempts.saturating_sub(1);
            job.run_at_ms = now_ms();
            let j = job.clone();
            st.index(&j);
            j
        };
        self.persist(&job).await
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

    /// Gives a dead letter a fresh set of retries.
    pub async fn retry_dead_letter(&self, id: &str) -> Result<()> {
        let job = {
            let mut st = self.state.lock();
            let Some(job) = st.jobs.get_mut(id) else {
                return Err(AuroraError::NotFound(format!("job `{id}`")));
            };
            if job.status != JobStatus::DeadLetter {
                return Err(AuroraError::invalid(format!("job `{id}` is {}, not a dead letter", job.status.as_str())));
            }
            job.status = JobStatus::Pending;
            job.attempts = 0;
            job.run_at_ms = now_ms();
            let j = job.clone();
            st.index(&j);
            j
        };
        self.persist(&job).await?;
        self.notify.notify_one();
        Ok(())
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

/// Exponential backoff with deterministic jitter: base·2^(attempt-1) ± 25 %, capped at 60 s.
fn backoff_ms(base: u64, attempt: u32, id: &str) -> u64 {
    let exp = base.saturating_mul(1u64 << attempt.saturating_sub(1).min(16)).min(60_000);
    let h = id.bytes().fold(attempt as u64, |a, b| a.wrapping_mul(31).wrapping_add(b as u64));
    let jitter = (exp / 4).max(1);
    exp - jitter + h % (2 * jitter)
}
