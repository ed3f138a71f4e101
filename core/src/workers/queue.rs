//! The durable queue: jobs and their order live in the keyspace (see [`super::store`]), written
//! through the WAL like any data, so memory does not grow with the number of jobs and every
//! operation is a few ordered reads under the commit lock.
//!
//! Each state change (claim, outcome, release, retry, purge) reads the job and writes its new
//! state in one commit, under the commit lock: two workers can never claim one job. When a
//! change cannot be committed, the queue puts the job back to a state a worker will pick up
//! again — a failed claim restores the job as it was, an outcome that cannot be recorded makes
//! the job `Pending` with its attempt counted (what a reopen makes of a `Running` record) — so
//! no job is stranded `Running` without a worker.

use super::job::{now_ms, Job, JobStatus};
use super::store::{id_bytes, Batch, Floors, Index, View, STATUSES};
use crate::db::{Aurora, Inner, WriteOp};
use crate::error::{AuroraError, Result};
use parking_lot::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

/// Completed jobs deleted per commit by a purge, and records indexed per commit by the
/// one-time index build of a queue written before the index existed.
const PURGE_BATCH: usize = 1_000;

/// Due delayed jobs moved into the ready order per claim.
const PROMOTE_BATCH: usize = 256;

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
    /// Set once the index is built and interrupted jobs are pending again.
    loaded: Mutex<bool>,
    /// The last sequence number given to a job.
    seq: AtomicU64,
    /// Where scans of the ready and delayed orders start.
    floors: Floors,
    /// Woken on every enqueue and state change that may make a job runnable.
    pub(crate) notify: tokio::sync::Notify,
}

/// Runs `build` in one commit; tells a failure of `build` (nothing was written) from a failure
/// of the commit (the change may or may not have been applied).
fn commit(inner: &Inner, build: impl FnOnce(&Inner) -> Result<Vec<WriteOp>>) -> std::result::Result<(), Failed> {
    let mut built = false;
    let res = inner.commit_blocking(
        |inner| {
            let ops = build(inner)?;
            built = true;
            Ok(ops)
        },
        "jobs",
    );
    match res {
        Ok(_) => Ok(()),
        Err(e) if built => Err(Failed::Commit(e)),
        Err(e) => Err(Failed::Build(e)),
    }
}

enum Failed {
    /// The change was refused before anything was written.
    Build(AuroraError),
    /// The commit failed.
    Commit(AuroraError),
}

impl From<Failed> for AuroraError {
    fn from(f: Failed) -> Self {
        match f {
            Failed::Build(e) | Failed::Commit(e) => e,
        }
    }
}

impl JobQueue {
    /// The queue of `db`. On first use in a process, `Running` jobs (left by a process that
    /// died) return to `Pending`, attempt count kept; a queue written before its index existed
    /// is indexed once.
    pub(crate) fn of(db: &Aurora) -> Result<Arc<JobQueue>> {
        let q = db.extension("job_queue", || JobQueue {
            db: std::sync::Arc::downgrade(&db.inner),
            loaded: Mutex::new(false),
            seq: AtomicU64::new(0),
            floors: Floors::default(),
            notify: tokio::sync::Notify::new(),
        });
        q.load_once()?;
        Ok(q)
    }

    fn inner(&self) -> Result<Arc<Inner>> {
        self.db.upgrade().ok_or(AuroraError::Closed)
    }

    fn load_once(&self) -> Result<()> {
        let mut loaded = self.loaded.lock();
        if *loaded {
            return Ok(());
        }
        let inner = self.inner()?;
        let max_seq = build_index(&inner, &self.floors)?;
        self.seq.fetch_max(max_seq.max(View::new(&inner).last_ready_seq()?), Ordering::SeqCst);
        let mut recovered = 0;
        commit(&inner, |inner| {
            let view = View::new(inner);
            let mut b = Batch::default();
            for e in view.all(Index::Running)? {
                match view.job(&e.id)? {
                    Some(job) if job.status == JobStatus::Running => {
                        b.put(Some(&job), &Job { status: JobStatus::Pending, run_at_ms: now_ms(), ..job.clone() })?;
                        recovered += 1;
                    }
                    _ => b.drop_entry(&e),
                }
            }
            if b.is_empty() {
                return Ok(Vec::new());
            }
            b.finish(&view, &self.floors)
        })?;
        if recovered > 0 {
            tracing::info!("{recovered} jobs interrupted by a crash are pending again");
        }
        *loaded = true;
        Ok(())
    }

    /// A new sequence number: after every one given before, in this process or (as the time
    /// in its high bits says) an earlier one, so FIFO within a priority survives a restart.
    fn next_seq(&self) -> u64 {
        let floor = now_ms() << 10;
        let prev = self.seq.fetch_update(Ordering::SeqCst, Ordering::SeqCst, |s| Some(floor.max(s + 1)));
        floor.max(prev.unwrap_or(0) + 1)
    }

    /// Makes `job` durable and runnable; returns its id.
    pub async fn enqueue(&self, job: Job) -> Result<String> {
        let job = self.prepare(job)?;
        let inner = self.inner()?;
        commit(&inner, |inner| self.enqueue_ops(inner, std::slice::from_ref(&job)))?;
        self.wake();
        Ok(job.id)
    }

    /// Checks and numbers a new job (to commit with [`JobQueue::enqueue_ops`]).
    pub(crate) fn prepare(&self, mut job: Job) -> Result<Job> {
        if job.job_type.is_empty() {
            return Err(AuroraError::invalid("a job needs a non-empty job type"));
        }
        job.status = JobStatus::Pending;
        job.attempts = 0;
        job.finished_at_ms = None;
        job.seq = self.next_seq();
        Ok(job)
    }

    /// The writes that store prepared jobs; called under the commit lock (the counts are read
    /// and written in the same commit).
    pub(crate) fn enqueue_ops(&self, inner: &Inner, jobs: &[Job]) -> Result<Vec<WriteOp>> {
        let view = View::new(inner);
        let mut b = Batch::default();
        for job in jobs {
            if view.job(&id_bytes(&job.id))?.is_some() {
                return Err(AuroraError::invalid(format!("a job with id `{}` already exists", job.id)));
            }
            b.put(None, job)?;
        }
        b.finish(&view, &self.floors)
    }

    /// Wakes the workers: a job may be runnable.
    pub(crate) fn wake(&self) {
        self.notify.notify_waiters();
        self.notify.notify_one();
    }

    /// Takes the highest-priority due job (FIFO within a priority) and marks it Running.
    /// Only jobs whose type satisfies `can_run` (has a handler) are considered. If the claim
    /// cannot be committed the job gets back exactly its previous state and stays runnable.
    pub(crate) async fn claim(&self, can_run: impl Fn(&str) -> bool) -> Result<Option<Job>> {
        let inner = self.inner()?;
        let mut claimed: Option<(Job, Job)> = None;
        let res = commit(&inner, |inner| {
            let view = View::new(inner);
            let mut b = Batch::default();
            // Due delayed jobs join the ready order; they compete with it in this claim.
            let now = now_ms();
            let mut promoted: Vec<Job> = Vec::new();
            let mut first = None;
            view.each(Index::Delayed, self.floors.get(Index::Delayed).as_deref(), |e| {
                first.get_or_insert_with(|| e.key.clone());
                if e.time() > now || promoted.len() >= PROMOTE_BATCH {
                    return Ok(false);
                }
                match view.job(&e.id)? {
                    Some(j)
                        if matches!(j.status, JobStatus::Pending | JobStatus::Failed) && j.run_at_ms == e.time() =>
                    {
                        b.promote(&j);
                        promoted.push(j);
                    }
                    _ => b.drop_entry(&e),
                }
                Ok(true)
            })?;
            self.floors.raise(Index::Delayed, first);
            let order = |j: &Job| (std::cmp::Reverse(j.priority), j.seq);
            let mut best = promoted.into_iter().filter(|j| can_run(&j.job_type)).min_by_key(order);
            let mut first = None;
            view.each(Index::Ready, self.floors.get(Index::Ready).as_deref(), |e| {
                first.get_or_insert_with(|| e.key.clone());
                if !can_run(&String::from_utf8_lossy(&e.value)) {
                    return Ok(true);
                }
                match view.job(&e.id)? {
                    Some(j) if matches!(j.status, JobStatus::Pending | JobStatus::Failed) => {
                        if best.as_ref().is_none_or(|b| order(&j) < order(b)) {
                            best = Some(j);
                        }
                        Ok(false)
                    }
                    _ => {
                        b.drop_entry(&e);
                        Ok(true)
                    }
                }
            })?;
            self.floors.raise(Index::Ready, first);
            if let Some(job) = best {
                let running =
                    Job { status: JobStatus::Running, attempts: job.attempts.saturating_add(1), ..job.clone() };
                b.put(Some(&job), &running)?;
                claimed = Some((job, running));
            }
            if b.is_empty() {
                return Ok(Vec::new());
            }
            b.finish(&view, &self.floors)
        });
        match res {
            Ok(()) => Ok(claimed.map(|(_, running)| running)),
            Err(Failed::Build(e)) => Err(e),
            Err(Failed::Commit(e)) => {
                if let Some((before, running)) = claimed {
                    undo(&inner, &self.floors, &before, &running);
                    self.notify.notify_one();
                }
                Err(e)
            }
        }
    }

    /// Time until the next delayed job is due (`None` when none waits, or when the queue
    /// cannot be read: the caller polls).
    pub(crate) fn next_due_in(&self) -> Option<Duration> {
        let inner = self.inner().ok()?;
        let mut due = None;
        let read = View::new(&inner).each(Index::Delayed, self.floors.get(Index::Delayed).as_deref(), |e| {
            due = Some(e.time());
            Ok(false)
        });
        match read {
            Ok(()) => due.map(|t| Duration::from_millis(t.saturating_sub(now_ms()))),
            Err(e) => {
                tracing::warn!("could not read the job schedule: {e}");
                None
            }
        }
    }

    /// After a change of a Running job failed to commit: makes it `Pending` again, attempt kept
    /// (what a reopen makes of the `Running` record on disk), whether or not the failed change
    /// was applied in memory — `expected` is the state it would have written.
    fn requeue_uncommitted(&self, inner: &Inner, id: &str, expected: Option<&Job>) {
        let res = commit(inner, |inner| {
            let view = View::new(inner);
            let mut b = Batch::default();
            if let Some(cur) = view.job(&id_bytes(id))? {
                let ours = expected.is_some_and(|x| x.status == cur.status && x.attempts == cur.attempts);
                if cur.status == JobStatus::Running || ours {
                    b.put(
                        Some(&cur),
                        &Job { status: JobStatus::Pending, run_at_ms: now_ms(), finished_at_ms: None, ..cur.clone() },
                    )?;
                }
            }
            b.finish(&view, &self.floors)
        });
        if let Err(f) = res {
            tracing::error!("job {id} could not be made pending again (a reopen will): {}", AuroraError::from(f));
        }
        self.notify.notify_one();
    }

    /// Records the outcome of an attempt: Completed, a retry with backoff, or DeadLetter.
    /// If it cannot be committed, the job is `Pending` again (it will run again: jobs run at
    /// least once) and the error is returned.
    pub(crate) async fn finish(
        &self,
        id: &str,
        outcome: std::result::Result<(), String>,
        base_backoff_ms: u64,
    ) -> Result<JobStatus> {
        let inner = self.inner()?;
        let mut written: Option<Job> = None;
        let res = commit(&inner, |inner| {
            let view = View::new(inner);
            let Some(mut job) = view.job(&id_bytes(id))? else {
                return Err(AuroraError::NotFound(format!("job `{id}`")));
            };
            if job.status != JobStatus::Running {
                return Err(AuroraError::invalid(format!("job `{id}` is {}, not running", job.status.as_str())));
            }
            let before = job.clone();
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
                        job.run_at_ms = now_ms().saturating_add(backoff_ms(base_backoff_ms, job.attempts, &job.id));
                    }
                }
            }
            let mut b = Batch::default();
            b.put(Some(&before), &job)?;
            written = Some(job);
            b.finish(&view, &self.floors)
        });
        match res {
            Ok(()) => {
                self.notify.notify_one();
                Ok(written.map_or(JobStatus::Completed, |j| j.status))
            }
            Err(Failed::Build(e)) => Err(e),
            Err(Failed::Commit(e)) => {
                self.requeue_uncommitted(&inner, id, written.as_ref());
                Err(e)
            }
        }
    }

    /// Puts a Running job back to Pending without counting the attempt (used by `stop`).
    /// If that cannot be committed the job is still made runnable, attempt counted (as a
    /// reopen would), and the error is returned.
    pub(crate) async fn release(&self, id: &str) -> Result<()> {
        let inner = self.inner()?;
        let mut written: Option<Job> = None;
        let res = commit(&inner, |inner| {
            let view = View::new(inner);
            let Some(job) = view.job(&id_bytes(id))?.filter(|j| j.status == JobStatus::Running) else {
                return Ok(Vec::new());
            };
            let pending = Job {
                status: JobStatus::Pending,
                attempts: job.attempts.saturating_sub(1),
                run_at_ms: now_ms(),
                ..job.clone()
            };
            let mut b = Batch::default();
            b.put(Some(&job), &pending)?;
            written = Some(pending);
            b.finish(&view, &self.floors)
        });
        match res {
            Ok(()) => {
                self.notify.notify_one();
                Ok(())
            }
            Err(Failed::Build(e)) => Err(e),
            Err(Failed::Commit(e)) => {
                self.requeue_uncommitted(&inner, id, None);
                Err(e)
            }
        }
    }

    /// A job by id.
    pub fn get(&self, id: &str) -> Result<Option<Job>> {
        let inner = self.inner()?;
        View::new(&inner).job(&id_bytes(id))
    }

    /// Jobs that ran out of retries, in enqueue order.
    pub fn dead_letters(&self) -> Result<Vec<Job>> {
        let inner = self.inner()?;
        let view = View::new(&inner);
        let mut out = Vec::new();
        for e in view.all(Index::Dead)? {
            if let Some(j) = view.job(&e.id)?.filter(|j| j.status == JobStatus::DeadLetter) {
                out.push(j);
            }
        }
        Ok(out)
    }

    /// Gives a dead letter a fresh set of retries. Nothing changes unless that is committed.
    pub async fn retry_dead_letter(&self, id: &str) -> Result<()> {
        let inner = self.inner()?;
        let mut change: Option<(Job, Job)> = None;
        let res = commit(&inner, |inner| {
            let view = View::new(inner);
            let Some(job) = view.job(&id_bytes(id))? else {
                return Err(AuroraError::NotFound(format!("job `{id}`")));
            };
            if job.status != JobStatus::DeadLetter {
                return Err(AuroraError::invalid(format!("job `{id}` is {}, not a dead letter", job.status.as_str())));
            }
            let fresh = Job {
                status: JobStatus::Pending,
                attempts: 0,
                run_at_ms: now_ms(),
                finished_at_ms: None,
                ..job.clone()
            };
            let mut b = Batch::default();
            b.put(Some(&job), &fresh)?;
            change = Some((job, fresh));
            b.finish(&view, &self.floors)
        });
        match res {
            Ok(()) => {
                self.wake();
                Ok(())
            }
            Err(Failed::Build(e)) => Err(e),
            Err(Failed::Commit(e)) => {
                if let Some((before, after)) = change {
                    undo(&inner, &self.floors, &before, &after);
                }
                Err(e)
            }
        }
    }

    /// Deletes the completed jobs that finished at least `older_than` ago; returns how many.
    /// Other jobs, dead letters included, are never touched.
    pub async fn purge_completed(&self, older_than: Duration) -> Result<usize> {
        let inner = self.inner()?;
        purge(&inner, older_than)
    }

    /// Counts per status.
    pub fn stats(&self) -> Result<QueueStats> {
        let inner = self.inner()?;
        let view = View::new(&inner);
        let n = |s| view.count(s).map(|n| usize::try_from(n).unwrap_or(usize::MAX));
        Ok(QueueStats {
            pending: n(JobStatus::Pending)?,
            running: n(JobStatus::Running)?,
            completed: n(JobStatus::Completed)?,
            failed: n(JobStatus::Failed)?,
            dead_letter: n(JobStatus::DeadLetter)?,
        })
    }
}

/// After a change from `before` to `after` failed to commit: if it was applied anyway (a
/// store that applies a commit in memory and then fails to make it durable), puts `before`
/// back. Best effort: if that fails too, the error is logged (a reopen reads the durable state).
fn undo(inner: &Inner, floors: &Floors, before: &Job, after: &Job) {
    let res = commit(inner, |inner| {
        let view = View::new(inner);
        let mut b = Batch::default();
        if let Some(cur) = view.job(&id_bytes(&before.id))? {
            if cur.status == after.status && cur.attempts == after.attempts {
                b.put(Some(&cur), before)?;
            }
        }
        b.finish(&view, floors)
    });
    if let Err(f) = res {
        tracing::error!("a failed change of job {} could not be undone: {}", before.id, AuroraError::from(f));
    }
}

/// Indexes the records of a queue written before the index existed, a batch per commit, and
/// marks it indexed; returns the largest sequence number seen. Idempotent: an interrupted build
/// starts over and ends with the same keys.
fn build_index(inner: &Inner, floors: &Floors) -> Result<u64> {
    if View::new(inner).indexed()? {
        return Ok(0);
    }
    let (mut counts, mut max_seq, mut after) = ([0u64; 5], 0u64, None::<Vec<u8>>);
    let loaded_at = now_ms();
    loop {
        let mut last = None;
        commit(inner, |inner| {
            let view = View::new(inner);
            let records = view.records(after.as_deref(), PURGE_BATCH)?;
            let mut b = Batch::default();
            for (id, mut job) in records {
                if job.status == JobStatus::Completed && job.finished_at_ms.is_none() {
                    // Written before completion times were recorded: keep it one full retention.
                    job.finished_at_ms = Some(loaded_at);
                }
                max_seq = max_seq.max(job.seq);
                if let Some(i) = STATUSES.iter().position(|s| *s == job.status) {
                    counts[i] += 1;
                }
                b.put(None, &job)?;
                last = Some(id);
            }
            Ok(b.into_ops(floors))
        })?;
        match last {
            Some(id) => after = Some(id),
            None => break,
        }
    }
    commit(inner, |_| {
        let mut b = Batch::default();
        b.set_counts(counts);
        b.mark_indexed();
        Ok(b.into_ops(floors))
    })?;
    Ok(max_seq)
}

/// One purge pass of completed jobs older than `older_than`, a batch per commit.
fn purge(inner: &Inner, older_than: Duration) -> Result<usize> {
    let cutoff = now_ms().saturating_sub(u64::try_from(older_than.as_millis()).unwrap_or(u64::MAX));
    let mut purged = 0;
    loop {
        let (mut seen, mut deleted) = (0, 0);
        commit(inner, |inner| {
            let view = View::new(inner);
            let mut b = Batch::default();
            view.each(Index::Done, None, |e| {
                if e.time() > cutoff || seen >= PURGE_BATCH {
                    return Ok(false);
                }
                match view.job(&e.id)? {
                    Some(j) if j.status == JobStatus::Completed => {
                        b.delete(&j);
                        deleted += 1;
                    }
                    _ => b.drop_entry(&e),
                }
                seen += 1;
                Ok(true)
            })?;
            if b.is_empty() {
                return Ok(Vec::new());
            }
            // Deletions only: no floor moves.
            b.finish(&view, &Floors::default())
        })?;
        purged += deleted;
        if seen == 0 {
            return Ok(purged);
        }
    }
}

/// Applies `AuroraConfig::completed_job_retention_ms` to the queue of `inner` (nothing to do
/// for a queue never indexed: it was never used by this version); returns the count.
pub(crate) fn purge_expired(inner: &Inner, retention: Duration) -> Result<usize> {
    if !View::new(inner).indexed()? {
        return Ok(0);
    }
    purge(inner, retention)
}

/// Exponential backoff with deterministic jitter: base·2^(attempt-1) ± 25 %, capped at 60 s.
fn backoff_ms(base: u64, attempt: u32, id: &str) -> u64 {
    let exp = base.saturating_mul(1u64 << attempt.saturating_sub(1).min(16)).min(60_000);
    let h = id.bytes().fold(attempt as u64, |a, b| a.wrapping_mul(31).wrapping_add(b as u64));
    let jitter = (exp / 4).max(1);
    exp - jitter + h % (2 * jitter)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::workers::JobPriority;

    fn record(id: &str, status: JobStatus, priority: JobPriority, seq: u64) -> WriteOp {
        let mut job = Job::new("t").with_priority(priority);
        job.id = id.to_string();
        job.status = status;
        job.seq = seq;
        job.attempts = u32::from(status != JobStatus::Pending);
        let mut key = vec![crate::storage::keys::JOBS, 0x01];
        key.extend_from_slice(&id_bytes(id));
        WriteOp::Raw { key, value: Some(serde_json::to_vec(&job).unwrap()) }
    }

    /// A queue stored before the index existed (records only) is indexed on first use: counts,
    /// ready order, dead letters and the recovery of interrupted jobs all come from it.
    #[tokio::test]
    async fn a_queue_of_records_only_is_indexed_on_first_use() {
        let dir = tempfile::tempdir().unwrap();
        let db = Aurora::open(dir.path().join("db")).await.unwrap();
        let ids: Vec<String> = (0..7).map(|_| uuid::Uuid::now_v7().to_string()).collect();
        let ops = vec![
            record(&ids[0], JobStatus::Pending, JobPriority::Low, 1),
            record(&ids[1], JobStatus::Pending, JobPriority::High, 2),
            record(&ids[2], JobStatus::Running, JobPriority::Critical, 3),
            record(&ids[3], JobStatus::Completed, JobPriority::Normal, 4),
            record(&ids[4], JobStatus::DeadLetter, JobPriority::Normal, 5),
            record(&ids[5], JobStatus::Pending, JobPriority::High, 6),
            record("custom-id", JobStatus::Failed, JobPriority::Normal, 7),
        ];
        db.inner.commit_blocking(|_| Ok(ops), "test").unwrap();
        let q = JobQueue::of(&db).unwrap();
        let stats = q.stats().unwrap();
        // The interrupted (Running) job is pending again.
        assert_eq!(stats, QueueStats { pending: 4, running: 0, completed: 1, failed: 1, dead_letter: 1 });
        assert_eq!(q.dead_letters().unwrap().iter().map(|j| j.id.clone()).collect::<Vec<_>>(), vec![ids[4].clone()]);
        let mut order = Vec::new();
        while let Some(j) = q.claim(|_| true).await.unwrap() {
            order.push(j.id.clone());
        }
        // Critical (recovered), High by seq, Normal, Low; new jobs come after older ones.
        assert_eq!(order, vec![ids[2].clone(), ids[1].clone(), ids[5].clone(), "custom-id".into(), ids[0].clone()]);
        let stats = q.stats().unwrap();
        assert_eq!((stats.running, stats.pending, stats.failed), (5, 0, 0));
        let id = q.enqueue(Job::new("t").with_priority(JobPriority::Low)).await.unwrap();
        assert!(q.get(&id).unwrap().unwrap().seq > 7);
        for j in order {
            q.finish(&j, Ok(()), 10).await.unwrap();
        }
        assert_eq!(q.stats().unwrap().completed, 6);
        assert_eq!(q.purge_completed(Duration::ZERO).await.unwrap(), 6);
        assert_eq!(q.stats().unwrap(), QueueStats { pending: 1, dead_letter: 1, ..Default::default() });
        db.close().await.unwrap();
    }

    /// Claims skip job types without a handler, wherever they sit in the order, and a job whose
    /// record changed under its ready entry is never claimed twice.
    #[tokio::test]
    async fn claims_follow_the_handlers_and_never_repeat() {
        let dir = tempfile::tempdir().unwrap();
        let db = Aurora::open(dir.path().join("db")).await.unwrap();
        let q = JobQueue::of(&db).unwrap();
        for i in 0..300 {
            let ty = if i < 200 { "other" } else { "mine" };
            q.enqueue(Job::new(ty).add_field("i", i)).await.unwrap();
        }
        let mut seen = std::collections::HashSet::new();
        while let Some(j) = q.claim(|t| t == "mine").await.unwrap() {
            assert_eq!(j.job_type, "mine");
            assert!(seen.insert(j.id.clone()), "claimed twice");
        }
        assert_eq!(seen.len(), 100);
        assert_eq!(q.stats().unwrap(), QueueStats { pending: 200, running: 100, ..Default::default() });
        db.close().await.unwrap();
    }
}
