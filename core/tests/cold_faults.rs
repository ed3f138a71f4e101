//! A cold store that fails: jobs are never stranded, Synchronous writes committed to the WAL
//! are acknowledged, the write buffer is bounded, completed jobs are purged, and a damaged sled
//! directory is not blamed on another process.

mod common;
use aurora_db::storage::{ColdStore, ColdView, KvOp, MemStore};
use aurora_db::workers::{Job, JobStatus, WorkerConfig, WorkerSystem};
use aurora_db::{Aurora, AuroraConfig, AuroraError, DurabilityMode, Result, Value};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

/// A [`MemStore`] whose writes and flushes fail while switched on (a durable write fails when
/// either does).
#[derive(Default)]
struct Flaky {
    inner: MemStore,
    fail_apply: AtomicBool,
    fail_flush: AtomicBool,
}

impl Flaky {
    fn fail(&self, apply: bool, flush: bool) {
        self.fail_apply.store(apply, Ordering::SeqCst);
        self.fail_flush.store(flush, Ordering::SeqCst);
    }
}

fn injected(what: &str) -> AuroraError {
    AuroraError::Storage(format!("injected: {what} failed"))
}

impl ColdStore for Flaky {
    fn view(&self) -> Result<Arc<dyn ColdView>> {
        self.inner.view()
    }
    fn write(&self, ops: Vec<KvOp>, durable: bool) -> Result<()> {
        if self.fail_apply.load(Ordering::SeqCst) {
            return Err(injected("apply"));
        }
        if durable && self.fail_flush.load(Ordering::SeqCst) {
            return Err(injected("flush"));
        }
        self.inner.write(ops, durable)
    }
    fn flush(&self) -> Result<()> {
        if self.fail_flush.load(Ordering::SeqCst) {
            return Err(injected("flush"));
        }
        self.inner.flush()
    }
    fn kind(&self) -> &'static str {
        "memory"
    }
}

fn cfg(dir: &std::path::Path, mode: DurabilityMode, wal: bool) -> AuroraConfig {
    AuroraConfig {
        durability_mode: mode,
        enable_wal: wal,
        checkpoint_interval_ms: 3_600_000,
        write_buffer_size: 1,
        auto_compact: false,
        ..common::config(dir)
    }
}

async fn wait_until(what: &str, mut f: impl FnMut() -> bool) {
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    while !f() {
        assert!(std::time::Instant::now() < deadline, "not reached in time: {what}");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

fn fast_workers(db: &Aurora) -> WorkerSystem {
    WorkerSystem::new(
        db,
        WorkerConfig {
            concurrency: 2,
            retry_base_ms: 10,
            poll_interval: Duration::from_millis(10),
            ..Default::default()
        },
    )
    .unwrap()
}

/// Synchronous mode without a WAL: every job commit fails while the cold store cannot flush.
/// Claims that fail leave the job exactly as it was (never `Running` without a worker), an
/// outcome that cannot be recorded makes the job `Pending` again, and everything completes in
/// the same process once the store heals.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failed_job_commits_strand_no_job() {
    let dir = tempfile::tempdir().unwrap();
    let store = Arc::new(Flaky::default());
    let db = Aurora::open_on(cfg(dir.path(), DurabilityMode::Synchronous, false), store.clone()).unwrap();
    let workers = fast_workers(&db);
    let runs = Arc::new(AtomicUsize::new(0));
    let broke = Arc::new(AtomicBool::new(false));
    let (r2, s2, b2) = (runs.clone(), store.clone(), broke.clone());
    workers.register_handler("t", move |job: Job| {
        let (r2, s2, b2) = (r2.clone(), s2.clone(), b2.clone());
        async move {
            r2.fetch_add(1, Ordering::SeqCst);
            // The first run of job 0 breaks the store: its outcome cannot be recorded.
            if job.payload["n"] == 0 && !b2.swap(true, Ordering::SeqCst) {
                s2.fail(false, true);
            }
            Ok(())
        }
    });
    let mut ids = Vec::new();
    for n in 0..20 {
        ids.push(workers.enqueue(Job::new("t").add_field("n", n)).await.unwrap());
    }
    workers.start().await.unwrap();
    wait_until("the store fails", || store.fail_flush.load(Ordering::SeqCst)).await;
    // Let workers try (and fail) to claim for a while. They keep retrying, so a job can be
    // Running for the instant of a claim attempt; a stranded job would stay Running for good.
    tokio::time::sleep(Duration::from_millis(300)).await;
    wait_until("no job Running without a worker, job 0 back to Pending", || {
        let stats = workers.stats();
        stats.running == 0
            && stats.pending + stats.completed == 20
            && workers.get_status(&ids[0]) == Some(JobStatus::Pending)
    })
    .await;
    store.fail(false, false);
    wait_until("every job completes after healing", || workers.stats().completed == 20).await;
    assert!(runs.load(Ordering::SeqCst) >= 21, "job 0 ran again");
    workers.stop().await.unwrap();
    db.close().await.unwrap();
}

/// A dead letter whose retry cannot be committed stays a dead letter.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failed_dead_letter_retry_changes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let store = Arc::new(Flaky::default());
    let db = Aurora::open_on(cfg(dir.path(), DurabilityMode::Synchronous, false), store.clone()).unwrap();
    let workers = fast_workers(&db);
    workers.register_handler("bad", |_job: Job| async { Err("always".into()) });
    workers.start().await.unwrap();
    let id = workers.enqueue(Job::new("bad").with_max_retries(0)).await.unwrap();
    wait_until("dead letter", || workers.get_status(&id) == Some(JobStatus::DeadLetter)).await;
    store.fail(false, true);
    assert!(workers.retry_dead_letter(&id).await.is_err());
    assert_eq!(workers.get_status(&id), Some(JobStatus::DeadLetter));
    assert_eq!(workers.dead_letters().len(), 1);
    store.fail(false, false);
    workers.stop().await.unwrap();
}

/// `purge_completed` deletes completed jobs from memory and storage, never dead letters or
/// unfinished jobs; the retention setting does the same in the background.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn completed_jobs_are_purged_and_dead_letters_kept() {
    let dir = tempfile::tempdir().unwrap();
    let config = AuroraConfig { completed_job_retention_ms: None, ..common::config(dir.path()) };
    assert_eq!(AuroraConfig::default().completed_job_retention_ms, Some(86_400_000), "default: 24 h");
    let db = Aurora::with_config(config.clone()).await.unwrap();
    let workers = fast_workers(&db);
    workers.register_handler("ok", |_job: Job| async { Ok(()) });
    workers.register_handler("bad", |_job: Job| async { Err("no".into()) });
    workers.start().await.unwrap();
    for _ in 0..30 {
        workers.enqueue(Job::new("ok")).await.unwrap();
    }
    let dead = workers.enqueue(Job::new("bad").with_max_retries(0)).await.unwrap();
    let later = workers.enqueue(Job::new("ok").with_delay(Duration::from_secs(3600))).await.unwrap();
    wait_until("jobs done", || workers.stats().completed == 30 && workers.stats().dead_letter == 1).await;
    assert_eq!(workers.purge_completed(Duration::from_secs(3600)).await.unwrap(), 0, "too recent");
    assert_eq!(workers.purge_completed(Duration::ZERO).await.unwrap(), 30);
    let stats = workers.stats();
    assert_eq!((stats.completed, stats.dead_letter, stats.pending), (0, 1, 1), "{stats:?}");
    workers.stop().await.unwrap();
    db.close().await.unwrap();
    drop((workers, db));

    // Gone from storage too; then the background retention purges new completions.
    let db = Aurora::with_config(AuroraConfig { completed_job_retention_ms: Some(0), ..config }).await.unwrap();
    let workers = fast_workers(&db);
    let stats = workers.stats();
    assert_eq!((stats.completed, stats.dead_letter, stats.pending), (0, 1, 1), "after reopen: {stats:?}");
    assert_eq!(workers.get_status(&dead), Some(JobStatus::DeadLetter));
    assert_eq!(workers.get_status(&later), Some(JobStatus::Pending));
    workers.register_handler("ok", |_job: Job| async { Ok(()) });
    workers.start().await.unwrap();
    let ids = [workers.enqueue(Job::new("ok")).await.unwrap(), workers.enqueue(Job::new("ok")).await.unwrap()];
    wait_until("background purge", || ids.iter().all(|id| workers.get_status(id).is_none())).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(workers.get_status(&dead), Some(JobStatus::DeadLetter), "dead letters are never purged");
    assert_eq!(workers.stats().completed, 0);
    workers.stop().await.unwrap();
}

/// Synchronous mode with a WAL: a write whose cold flush fails is committed and fsynced in the
/// WAL, so it is acknowledged, and survives a reopen. Without a WAL the error says the write is
/// applied but not durable.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn synchronous_write_in_the_wal_is_acknowledged_when_the_cold_flush_fails() {
    let dir = tempfile::tempdir().unwrap();
    let store = Arc::new(Flaky::default());
    let db = Aurora::open_on(cfg(dir.path(), DurabilityMode::Synchronous, true), store.clone()).unwrap();
    common::users(&db).await;
    store.fail(true, true);
    let id = db
        .insert_into("users", vec![("email", common::s("a@x.io")), ("age", Value::Int(1))])
        .await
        .expect("committed in the WAL: acknowledged");
    assert!(db.checkpoint().await.is_err());
    // A crash now: what the cold store holds plus a copy of the WAL directory.
    let image = Arc::new(MemStore::default());
    let view = store.view().unwrap();
    let all: Vec<KvOp> =
        view.range(&[], None, false).unwrap().map(|r| r.map(|(k, v)| KvOp::Put(k, v))).collect::<Result<_>>().unwrap();
    image.write(all, true).unwrap();
    let crashed = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(crashed.path().join("db").join("wal")).unwrap();
    for f in std::fs::read_dir(dir.path().join("db").join("wal")).unwrap() {
        let f = f.unwrap();
        std::fs::copy(f.path(), crashed.path().join("db").join("wal").join(f.file_name())).unwrap();
    }
    store.fail(false, false);
    db.close().await.unwrap();
    let db = Aurora::open_on(cfg(crashed.path(), DurabilityMode::Synchronous, true), image).unwrap();
    let doc = db.query("users").filter(|f| f.eq("email", "a@x.io")).first_one().await.unwrap();
    assert_eq!(doc.map(|d| d._sid), Some(id), "recovered from the WAL");

    let dir2 = tempfile::tempdir().unwrap();
    let store = Arc::new(Flaky::default());
    let db = Aurora::open_on(cfg(dir2.path(), DurabilityMode::Synchronous, false), store.clone()).unwrap();
    common::users(&db).await;
    store.fail(false, true);
    let e = db.insert_into("users", vec![("email", common::s("b@x.io"))]).await.expect_err("not durable");
    let msg = e.to_string();
    assert!(msg.contains("applied") && msg.contains("not durable") && msg.contains("no WAL"), "{msg}");
    store.fail(false, false);
}

/// A cold store that refuses writes: the write buffer stops growing at its limit; the refused
/// write is not committed and the error says acknowledged writes are safe and to reopen if it
/// persists. Once the store heals, writes resume and nothing acknowledged is lost.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn write_buffer_is_bounded_during_a_cold_store_outage() {
    let dir = tempfile::tempdir().unwrap();
    let store = Arc::new(Flaky::default());
    let config = cfg(dir.path(), DurabilityMode::WAL, true);
    let db = Aurora::open_on(config.clone(), store.clone()).unwrap();
    common::users(&db).await;
    store.fail(true, true);
    let mut acked = 0i64;
    let refused = loop {
        match db.insert_into("users", vec![("email", common::s(&format!("{acked}@x.io")))]).await {
            Ok(_) => acked += 1,
            Err(e) => break e,
        }
        assert!(acked <= 2_000, "the buffer was never bounded");
    };
    // The limit counts every pending write, the collection's definition (a few raw keys) too.
    assert!(acked >= 1_024 - 8, "the limit is max(4 x write_buffer_size, 1024): {acked}");
    let msg = refused.to_string();
    assert_eq!(refused.code(), "IO");
    for part in ["not committed", "safe in the WAL", "reopen"] {
        assert!(msg.contains(part), "`{part}` missing in: {msg}");
    }
    let n = db.query("users").filter(|f| f.eq("email", format!("{acked}@x.io"))).count().await.unwrap();
    assert_eq!(n, 0, "the refused write is not visible");
    let e = db.checkpoint().await.expect_err("checkpoint fails during the outage");
    assert!(e.to_string().contains("reopen"), "{e}");
    store.fail(false, false);
    db.insert_into("users", vec![("email", common::s("after@x.io"))]).await.expect("writes resume");
    db.checkpoint().await.unwrap();
    db.close().await.unwrap();
    let db = Aurora::open_on(config, store).unwrap();
    assert_eq!(db.query("users").count().await.unwrap(), acked as usize + 1);
}

/// A damaged sled `conf` file is reported as what it is, not as a lock held by another process.
#[tokio::test]
async fn damaged_sled_conf_gets_no_other_process_hint() {
    let dir = tempfile::tempdir().unwrap();
    let sled = || AuroraConfig { cold_store: aurora_db::ColdStoreKind::Sled, ..common::config(dir.path()) };
    let db = Aurora::with_config(sled()).await.unwrap();
    common::users(&db).await;
    db.close().await.unwrap();
    drop(db);
    let conf = dir.path().join("db").join("data").join("conf");
    let mut bytes = std::fs::read(&conf).unwrap();
    for b in bytes.iter_mut().take(16) {
        *b ^= 0x5A;
    }
    std::fs::write(&conf, bytes).unwrap();
    let e = match Aurora::with_config(sled()).await {
        Ok(_) => panic!("a damaged conf file opened"),
        Err(e) => e,
    };
    let msg = e.to_string();
    assert!(msg.contains("cannot open cold store"), "{msg}");
    assert!(!msg.contains("another process"), "a damaged file is not a lock: {msg}");
}
