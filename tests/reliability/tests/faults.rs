//! Fault injection.
//!
//! * Cold store: the engine is opened with `Aurora::open_on` over a [`FaultyStore`] that fails
//!   `apply`/`flush` (and `get`) on command, wrapping either a [`CrashStore`] (which can produce
//!   the image a crash would leave) or the real sled store. While it fails, every write either
//!   succeeds (it is in the WAL) or returns an error — never a panic — and nothing acknowledged
//!   is lost: not in the running database, not after a crash taken while the store fails, not
//!   after the fault clears and the database is reopened over the same store and WAL directory.
//! * Job queue: workers keep running jobs while the cold store fails; every acknowledged job
//!   completes once it heals.
//! * Disk full: the WAL directory (and, in a second test, the whole database) on a small tmpfs
//!   that fills up: the failing write returns an IO error and leaves no partial record,
//!   acknowledged writes stay, and writes resume once space is freed. Without permission to
//!   mount, the disk-full tests report a skip with the reason; the `wal-fsize` child process
//!   (RLIMIT_FSIZE: the kernel refuses to grow the WAL file) covers the same path everywhere.

use aurora_db::storage::wal::{decode_segment, list_segments};
use aurora_db::storage::{ColdStore, SledStore};
use aurora_db::workers::{Job, JobStatus, WorkerConfig, WorkerSystem};
use aurora_db::{Aurora, AuroraConfig, AuroraError, DurabilityMode, Value};
use aurora_reliability::faults::{CrashStore, FaultOp, FaultyStore};
use aurora_reliability::{copy_dir, create_schema, env_u64, run_with_timeout, seed, ChildEnd, Rng};
use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;
use std::time::{Duration, Instant};

// ---------------------------------------------------------------------------------------------
// A workload with a model of what was acknowledged.

/// What the database must hold: acknowledged state, plus documents whose last write failed
/// (an error does not say whether the write happened: those may be in either state).
#[derive(Default, Clone)]
struct Model {
    live: BTreeMap<i64, i64>,
    deleted: BTreeSet<i64>,
    unknown: BTreeSet<i64>,
    next: i64,
    acked: u64,
    errors: u64,
    /// Text of the last error a write returned.
    last_error: String,
}

fn item(seq: i64, age: i64) -> Vec<(&'static str, Value)> {
    vec![
        ("seq", Value::Int(seq)),
        ("email", Value::String(format!("e{seq}@x.io"))),
        ("grp", Value::Int(seq / 10)),
        ("age", Value::Int(age)),
        ("pad", Value::String("x".repeat(200))),
    ]
}

impl Model {
    /// One random write (insert, update, delete or a two-document transaction), recorded.
    async fn step(&mut self, db: &Aurora, rng: &mut Rng) -> bool {
        let pick = |rng: &mut Rng, m: &Model| -> Option<i64> {
            if m.live.is_empty() {
                return None;
            }
            m.live.keys().nth(rng.below(m.live.len() as u64) as usize).copied()
        };
        let r = rng.below(10);
        let (touched, result): (Vec<(i64, Option<i64>)>, aurora_db::Result<()>) = match r {
            0..=4 => {
                let seq = self.next;
                self.next += 1;
                let age = rng.below(100) as i64;
                (vec![(seq, Some(age))], db.insert_into("items", item(seq, age)).await.map(|_| ()))
            }
            5 | 6 => match pick(rng, self) {
                Some(seq) => {
                    let age = 100 + rng.below(100) as i64;
                    let res =
                        db.query("items").filter(|f| f.eq("seq", seq)).update(vec![("age", Value::Int(age))]).await;
                    (vec![(seq, Some(age))], res.map(|n| assert_eq!(n, 1, "update of live seq {seq} matched {n}")))
                }
                None => return true,
            },
            7 => match pick(rng, self) {
                Some(seq) => {
                    let res = db.query("items").filter(|f| f.eq("seq", seq)).delete().await;
                    (vec![(seq, None)], res.map(|n| assert_eq!(n, 1, "delete of live seq {seq} matched {n}")))
                }
                None => return true,
            },
            _ => {
                let (a, b) = (self.next, self.next + 1);
                self.next += 2;
                let mut tx = db.transaction();
                tx.insert("items", item(a, 1));
                tx.insert("items", item(b, 2));
                (vec![(a, Some(1)), (b, Some(2))], tx.commit().await.map(|_| ()))
            }
        };
        match result {
            Ok(()) => {
                self.acked += 1;
                for (seq, age) in touched {
                    match age {
                        Some(a) => {
                            self.live.insert(seq, a);
                        }
                        None => {
                            self.live.remove(&seq);
                            self.deleted.insert(seq);
                        }
                    }
                }
                true
            }
            Err(e) => {
                assert!(!matches!(e, AuroraError::UniqueViolation { .. }), "workload bug: {e}");
                self.errors += 1;
                self.last_error = e.to_string();
                for (seq, _) in touched {
                    self.live.remove(&seq);
                    self.unknown.insert(seq);
                }
                false
            }
        }
    }

    /// Checks a database against the model: every acknowledged write there exactly once,
    /// every acknowledged delete gone, documents of failed writes at most once, indexes agree.
    async fn check(&self, db: &Aurora, what: &str) {
        if let Err(e) = self.try_check(db, what).await {
            panic!("{e}");
        }
    }

    /// Like [`Model::check`], but an engine error (a read that fails) is returned instead of
    /// panicking; a wrong answer still panics.
    async fn try_check(&self, db: &Aurora, what: &str) -> Result<(), String> {
        db.verify().await.map_err(|e| format!("{what}: verify: {e}"))?;
        let all = db.query("items").collect().await.map_err(|e| format!("{what}: scan: {e}"))?;
        let mut seen: BTreeMap<i64, i64> = BTreeMap::new();
        for d in &all {
            let seq = d.data["seq"].as_i64().unwrap();
            assert!(seen.insert(seq, d.data["age"].as_i64().unwrap()).is_none(), "{what}: seq {seq} twice");
        }
        for (seq, age) in &self.live {
            assert_eq!(seen.get(seq), Some(age), "{what}: acknowledged write of seq {seq} lost or stale");
            let n =
                db.query("items").filter(|f| f.eq("seq", *seq)).count().await.map_err(|e| format!("{what}: {e}"))?;
            assert_eq!(n, 1, "{what}: index lookup of seq {seq}");
        }
        for seq in &self.deleted {
            if !self.unknown.contains(seq) {
                assert!(!seen.contains_key(seq), "{what}: acknowledged delete of seq {seq} undone");
            }
        }
        for seq in seen.keys() {
            assert!(
                self.live.contains_key(seq) || self.unknown.contains(seq),
                "{what}: seq {seq} present but never acknowledged"
            );
        }
        let n = db.query("items").count().await.map_err(|e| format!("{what}: {e}"))?;
        assert_eq!(n, all.len(), "{what}: count vs scan");
        Ok(())
    }
}

/// Error text of a write the engine refused before committing it (write buffer full while the
/// cold store fails).
fn is_refusal(msg: &str) -> bool {
    msg.contains("write refused, not committed") && msg.contains("reopen")
}

impl Model {
    /// Inserts until the engine refuses one because the write buffer is at its limit (the cold
    /// store keeps failing); returns how many were acknowledged first. A refused insert was not
    /// committed, so it is recorded as a document that must never appear.
    async fn insert_until_refused(&mut self, db: &Aurora, max: u64) -> Option<u64> {
        for n in 0..max {
            let seq = self.next;
            self.next += 1;
            match db.insert_into("items", item(seq, 5)).await {
                Ok(_) => {
                    self.acked += 1;
                    self.live.insert(seq, 5);
                }
                Err(e) => {
                    let msg = e.to_string();
                    assert!(is_refusal(&msg), "expected a refusal naming the cure, got: {msg}");
                    assert!(msg.contains("safe in the WAL"), "{msg}");
                    self.errors += 1;
                    self.deleted.insert(seq);
                    return Some(n);
                }
            }
        }
        None
    }
}

fn config(db_path: &Path, mode: DurabilityMode) -> AuroraConfig {
    AuroraConfig {
        db_path: db_path.to_path_buf(),
        durability_mode: mode,
        checkpoint_interval_ms: 40,
        write_buffer_flush_interval_ms: 10,
        write_buffer_size: 64,
        auto_compact: false,
        // No hot cache: reads go to the write buffer and the cold store, so `get` faults bite.
        hot_cache_size_mb: 0,
        ..Default::default()
    }
}

/// Opens what a crash now would leave: the cold store's crash image and a copy of the WAL.
fn open_crash_image(store: &CrashStore, keep: usize, wal_from: &Path, to: &Path, mode: DurabilityMode) -> Aurora {
    let _ = std::fs::remove_dir_all(to);
    copy_dir(wal_from, &to.join("wal")).unwrap();
    Aurora::open_on(config(to, mode), store.crash_image(keep)).expect("open a crash image")
}

async fn cold_store_faults(mode: DurabilityMode, seed: u64) -> String {
    let mut rng = Rng::new(seed);
    let tmp = tempfile::tempdir().unwrap();
    let path = tmp.path().join("db");
    let base = CrashStore::new();
    let faulty = FaultyStore::new(base.clone(), seed);
    let db = Aurora::open_on(config(&path, mode), faulty.clone()).unwrap();
    create_schema(&db).await.unwrap();
    let mut m = Model::default();
    let ops = env_u64("AURORA_FAULT_OPS", 300);

    // 1. Healthy.
    for _ in 0..ops {
        assert!(m.step(&db, &mut rng).await, "a write failed with no fault injected");
    }
    m.check(&db, "healthy").await;

    // 2. The cold store refuses every apply and flush.
    faulty.fail_always(FaultOp::Apply, true);
    faulty.fail_always(FaultOp::Flush, true);
    let errors_before = m.errors;
    for _ in 0..ops {
        m.step(&db, &mut rng).await;
    }
    let outage_errors = m.errors - errors_before;
    // The WAL holds every write (fsynced in Strict and Synchronous mode, which is what the
    // durability contract asks), so a cold-store outage costs no availability until the write
    // buffer reaches its limit (max(4 x 64, 1024) entries here); after that writes are refused,
    // not committed.
    if ops <= 400 {
        assert_eq!(outage_errors, 0, "{mode:?}: writes failed although the WAL works: {}", m.last_error);
    } else if outage_errors > 0 {
        assert!(is_refusal(&m.last_error), "{mode:?}: {}", m.last_error);
    }
    let refused_after = m.insert_until_refused(&db, 3_000).await;
    assert!(refused_after.is_some(), "{mode:?}: the write buffer grew without bound during the outage");
    let checkpoint_error = db.checkpoint().await.expect_err("a checkpoint cannot succeed while the cold store fails");
    assert!(checkpoint_error.to_string().contains("reopen"), "{checkpoint_error}");
    m.check(&db, "during the outage").await;

    // 3. Crash during the outage, at several points of what the cold store kept.
    let unflushed = base.unflushed();
    for (i, keep) in [0, unflushed / 2, unflushed].into_iter().enumerate() {
        let image = open_crash_image(&base, keep, &path.join("wal"), &tmp.path().join(format!("crash{i}")), mode);
        m.check(&image, &format!("crash image during the outage (kept {keep} of {unflushed} unflushed writes)")).await;
        image.close().await.unwrap();
    }

    // 4. Flaky: one apply in 3, one flush in 2 and one read in 5 fail.
    faulty.fail_always(FaultOp::Apply, false);
    faulty.fail_always(FaultOp::Flush, false);
    faulty.fail_one_in(FaultOp::Apply, 3);
    faulty.fail_one_in(FaultOp::Flush, 2);
    faulty.fail_one_in(FaultOp::Get, 5);
    for _ in 0..ops {
        m.step(&db, &mut rng).await;
        // Reads may fail now (an error, never a panic or a wrong answer).
        let seq = rng.below(m.next.max(1) as u64) as i64;
        if let Ok(Some(d)) = db.query("items").filter(|f| f.eq("seq", seq)).first_one().await {
            if let Some(age) = m.live.get(&seq) {
                assert_eq!(d.data["age"], Value::Int(*age), "a flaky read returned a stale document");
            }
        }
    }
    let unflushed = base.unflushed();
    let image = open_crash_image(&base, unflushed / 3, &path.join("wal"), &tmp.path().join("crash-flaky"), mode);
    m.check(&image, "crash image while flaky").await;
    image.close().await.unwrap();

    // 5. Healed: a checkpoint succeeds, nothing is lost, and a reopen over the same store and
    // WAL directory finds everything.
    faulty.heal();
    let injected = faulty.injected_total();
    db.checkpoint().await.expect("checkpoint after the fault cleared");
    m.check(&db, "after healing").await;
    assert!(m.step(&db, &mut rng).await && m.step(&db, &mut rng).await, "writes resume");
    db.close().await.unwrap();
    let db = Aurora::open_on(config(&path, mode), base.clone()).unwrap();
    m.check(&db, "reopened over the same store").await;
    db.close().await.unwrap();
    format!(
        "{mode:?}: {} acknowledged writes, {} failed writes ({outage_errors} in the first {ops} of the outage; then \
         {} more inserts acknowledged until the full write buffer refused one), {injected} injected faults (apply {}, \
         flush {}, get {}), 5 crash images checked",
        m.acked,
        m.errors,
        refused_after.unwrap_or(0),
        faulty.injected(FaultOp::Apply),
        faulty.injected(FaultOp::Flush),
        faulty.injected(FaultOp::Get),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cold_store_faults_lose_no_acknowledged_write_wal() {
    eprintln!("RESULT faults cold {}", cold_store_faults(DurabilityMode::WAL, seed(11)).await);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cold_store_faults_lose_no_acknowledged_write_strict() {
    eprintln!("RESULT faults cold {}", cold_store_faults(DurabilityMode::Strict, seed(12)).await);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cold_store_faults_lose_no_acknowledged_write_synchronous() {
    eprintln!("RESULT faults cold {}", cold_store_faults(DurabilityMode::Synchronous, seed(13)).await);
}

/// The same over the real sled store, reopened afterwards through the ordinary `Aurora::open`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sled_store_faults_lose_no_acknowledged_write() {
    let mut rng = Rng::new(seed(14));
    let tmp = tempfile::tempdir().unwrap();
    let path = tmp.path().join("db");
    std::fs::create_dir_all(&path).unwrap();
    let cfg = AuroraConfig { cold_store: aurora_db::ColdStoreKind::Sled, ..config(&path, DurabilityMode::WAL) };
    // Created through the ordinary open first, so the directory records its format and store.
    Aurora::with_config(cfg.clone()).await.unwrap().close().await.unwrap();
    let sled: Arc<dyn ColdStore> = Arc::new(SledStore::open(&cfg).unwrap());
    let faulty = FaultyStore::new(sled, 14);
    let db = Aurora::open_on(cfg.clone(), faulty.clone()).unwrap();
    create_schema(&db).await.unwrap();
    let mut m = Model::default();
    for round in 0..4 {
        for _ in 0..100 {
            m.step(&db, &mut rng).await;
        }
        match round % 2 {
            0 => {
                faulty.fail_one_in(FaultOp::Apply, 2);
                faulty.fail_one_in(FaultOp::Flush, 2);
            }
            _ => faulty.heal(),
        }
        tokio::time::sleep(Duration::from_millis(100)).await; // let background checkpoints hit the faults
    }
    faulty.heal();
    m.check(&db, "sled, healed").await;
    db.close().await.unwrap();
    let injected = faulty.injected_total();
    drop(db);
    drop(faulty); // releases sled's directory lock
    let db = Aurora::with_config(cfg).await.unwrap();
    m.check(&db, "sled, reopened").await;
    db.close().await.unwrap();
    eprintln!(
        "RESULT faults cold sled: {} acknowledged writes, {} failed, {injected} injected faults, reopened intact",
        m.acked, m.errors
    );
}

fn job_workers(db: &Aurora) -> WorkerSystem {
    let workers = WorkerSystem::new(
        db,
        WorkerConfig {
            concurrency: 2,
            retry_base_ms: 10,
            poll_interval: Duration::from_millis(20),
            ..Default::default()
        },
    )
    .unwrap();
    let hdb = db.clone();
    workers.register_handler("t", move |job: Job| {
        let db = hdb.clone();
        async move {
            let n = job.payload["n"].as_i64().unwrap_or(-1);
            db.insert_into("done", vec![("job", Value::Int(n)), ("attempt", Value::Int(job.attempts as i64))]).await?;
            Ok(())
        }
    });
    workers.start_on(&tokio::runtime::Handle::current()).unwrap();
    workers
}

/// Waits up to `secs` for every acknowledged job to complete; returns those that did not.
async fn wait_jobs(workers: &WorkerSystem, acked: &BTreeMap<i64, String>, secs: u64) -> Vec<(i64, Option<JobStatus>)> {
    let deadline = Instant::now() + Duration::from_secs(secs);
    loop {
        let pending: Vec<(i64, Option<JobStatus>)> = acked
            .iter()
            .map(|(n, id)| (*n, workers.get_status(id)))
            .filter(|(_, s)| *s != Some(JobStatus::Completed))
            .collect();
        if pending.is_empty() || Instant::now() > deadline {
            return pending;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Workers keep going while the cold store fails; every acknowledged job completes once it
/// heals, in the same process, in both modes: a claim whose commit fails gives the job back its
/// previous state instead of leaving it `Running` with no worker (before that fix, 22 of 80 jobs
/// were stranded in Synchronous mode until a reopen). Then a reopen finds every job completed
/// with its handler's write durable.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn jobs_survive_cold_store_faults() {
    for mode in [DurabilityMode::WAL, DurabilityMode::Synchronous] {
        let tmp = tempfile::tempdir().unwrap();
        let path = tmp.path().join("db");
        let base = CrashStore::new();
        let faulty = FaultyStore::new(base.clone(), 21);
        let db = Aurora::open_on(config(&path, mode), faulty.clone()).unwrap();
        create_schema(&db).await.unwrap();
        let workers = job_workers(&db);
        faulty.fail_one_in(FaultOp::Apply, 3);
        faulty.fail_one_in(FaultOp::Flush, 3);
        let mut acked = BTreeMap::new();
        let mut failed = 0;
        for n in 0..150i64 {
            match workers.enqueue(Job::new("t").add_field("n", n).with_max_retries(50)).await {
                Ok(id) => {
                    acked.insert(n, id);
                }
                Err(_) => failed += 1,
            }
            if n % 10 == 0 {
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
        }
        faulty.heal();
        let stuck = wait_jobs(&workers, &acked, 30).await;
        assert!(stuck.is_empty(), "{mode:?}: acknowledged jobs never completed after the faults cleared: {stuck:?}");
        assert_eq!(workers.stats().running, 0, "{mode:?}: a job is Running with no worker");
        workers.stop().await.unwrap();
        db.close().await.unwrap();
        // Reopen over the same store and WAL: every acknowledged job completes, each handler
        // effect is durable.
        let db = Aurora::open_on(config(&path, mode), base.clone()).unwrap();
        let workers = job_workers(&db);
        let stuck = wait_jobs(&workers, &acked, 30).await;
        assert!(stuck.is_empty(), "{mode:?}: acknowledged jobs never completed after a reopen: {stuck:?}");
        for n in acked.keys() {
            let runs = db.query("done").filter(|f| f.eq("job", *n)).count().await.unwrap();
            assert!(runs >= 1, "{mode:?}: job {n} completed without its handler's write");
        }
        workers.stop().await.unwrap();
        db.close().await.unwrap();
        eprintln!(
            "RESULT faults jobs {mode:?}: {} acknowledged jobs all completed in the same process (none stranded), \
             {failed} enqueues failed, {} injected faults",
            acked.len(),
            faulty.injected_total()
        );
    }
}

// ---------------------------------------------------------------------------------------------
// Disk full.

/// A tmpfs mounted for the life of the value.
struct Mount(PathBuf);

impl Mount {
    fn tmpfs(dir: &Path, size: &str) -> Result<Mount, String> {
        std::fs::create_dir_all(dir).map_err(|e| e.to_string())?;
        let out = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
            .arg(dir)
            .output()
            .map_err(|e| format!("cannot run mount: {e}"))?;
        if out.status.success() {
            Ok(Mount(dir.to_path_buf()))
        } else {
            Err(format!("mount -t tmpfs failed: {}", String::from_utf8_lossy(&out.stderr).trim()))
        }
    }
}

impl Drop for Mount {
    fn drop(&mut self) {
        for _ in 0..50 {
            if Command::new("umount").arg(&self.0).status().is_ok_and(|s| s.success()) {
                return;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        let _ = Command::new("umount").arg("-l").arg(&self.0).status();
    }
}

fn is_no_space(e: &AuroraError) -> bool {
    match e {
        AuroraError::Io { source, .. } => source.raw_os_error() == Some(libc_enospc()),
        _ => e.to_string().contains("No space left"),
    }
}

fn libc_enospc() -> i32 {
    28 // ENOSPC on Linux
}

/// Fills a file in `dir` until the filesystem refuses, then gives back `leave` bytes.
fn fill(dir: &Path, leave: usize) -> PathBuf {
    use std::io::Write;
    let p = dir.join("filler");
    let mut f = std::fs::File::create(&p).unwrap();
    let chunk = vec![0xAAu8; 4096];
    let mut written = 0u64;
    while f.write_all(&chunk).is_ok() {
        written += chunk.len() as u64;
    }
    let _ = f.sync_all();
    f.set_len(written.saturating_sub(leave as u64)).unwrap();
    p
}

/// Every WAL segment decodes completely: no partial record was left behind by a failed append.
fn wal_has_no_partial_record(wal: &Path) {
    for (_, p) in list_segments(wal).unwrap() {
        let bytes = std::fs::read(&p).unwrap();
        decode_segment(&p, &bytes, false).unwrap_or_else(|e| panic!("WAL left damaged after a failed append: {e}"));
    }
}

async fn wal_disk_full(mode: DurabilityMode) -> Result<String, String> {
    let tmp = tempfile::tempdir().unwrap();
    let path = tmp.path().join("db");
    let wal = path.join("wal");
    let _mount = Mount::tmpfs(&wal, "1M")?;
    let cfg = AuroraConfig { checkpoint_interval_ms: 3_600_000, ..config(&path, mode) };
    let db = Aurora::with_config(cfg.clone()).await.unwrap();
    create_schema(&db).await.unwrap();
    let mut m = Model::default();
    let mut rng = Rng::new(31);
    for _ in 0..50 {
        assert!(m.step(&db, &mut rng).await);
    }
    let filler = fill(&wal, 48 * 1024);
    // Write until the WAL append fails.
    let mut first_error = None;
    for _ in 0..2000 {
        let seq = m.next;
        m.next += 1;
        match db.insert_into("items", item(seq, 7)).await {
            Ok(_) => {
                m.live.insert(seq, 7);
                m.acked += 1;
            }
            Err(e) => {
                m.errors += 1;
                assert!(is_no_space(&e), "{mode:?}: expected an IO error (no space), got {e}");
                assert!(e.to_string().contains(".wal"), "the error names the WAL file: {e}");
                assert_eq!(e.code(), "IO");
                // The failed insert is not visible and did not reach the WAL.
                assert_eq!(db.query("items").filter(|f| f.eq("seq", seq)).count().await.unwrap(), 0);
                first_error = Some(e.to_string());
                break;
            }
        }
    }
    let first_error = first_error.ok_or("the WAL never filled up")?;
    // Still full: more writes fail the same way, reads and the acknowledged data are fine.
    for _ in 0..5 {
        let seq = m.next;
        m.next += 1;
        let e = db.insert_into("items", item(seq, 7)).await.expect_err("writes fail while the disk is full");
        assert!(is_no_space(&e), "{e}");
        m.errors += 1;
    }
    wal_has_no_partial_record(&wal);
    m.check(&db, "disk full").await;
    let acked_when_full = m.acked;
    // Space freed: writes resume.
    std::fs::remove_file(&filler).unwrap();
    for _ in 0..100 {
        assert!(m.step(&db, &mut rng).await, "a write failed after space was freed");
    }
    // Full again; this time a checkpoint frees the space (it drops checkpointed segments).
    let filler = fill(&wal, 16 * 1024);
    let mut refilled = false;
    for _ in 0..2000 {
        if !m.step(&db, &mut rng).await {
            refilled = true;
            break;
        }
    }
    assert!(refilled, "the WAL never filled up again");
    db.checkpoint().await.expect("a checkpoint needs no WAL space");
    for _ in 0..50 {
        assert!(m.step(&db, &mut rng).await, "a write failed after a checkpoint freed the WAL");
    }
    std::fs::remove_file(&filler).unwrap();
    m.check(&db, "after freeing space").await;
    // Kill-style reopen: copy the state aside without closing, then open the copy.
    let copy = tmp.path().join("copy");
    db.checkpoint().await.unwrap();
    for _ in 0..30 {
        assert!(m.step(&db, &mut rng).await);
    }
    db.close().await.unwrap();
    copy_dir(&path, &copy).unwrap();
    let db = Aurora::with_config(AuroraConfig { db_path: copy, ..cfg }).await.unwrap();
    m.check(&db, "reopened").await;
    db.close().await.unwrap();
    Ok(format!(
        "{mode:?}: WAL on a 1 MiB tmpfs filled after {acked_when_full} acknowledged writes (first error: {first_error}); \
         {} failed writes in all, none half-written; writes resumed after deleting a file and after a checkpoint; \
         {} acknowledged writes intact after reopen",
        m.errors, m.acked
    ))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wal_append_on_a_full_disk_fails_cleanly() {
    for mode in [DurabilityMode::WAL, DurabilityMode::Strict] {
        match wal_disk_full(mode).await {
            Ok(line) => eprintln!("RESULT faults disk-full {line}"),
            Err(reason) => {
                eprintln!("RESULT faults disk-full SKIPPED ({reason}); the wal-fsize test covers the append failure");
                return;
            }
        }
    }
}

/// The whole database (sled and WAL) on a small tmpfs that fills up. No hot cache, so reads
/// go to sled: sled keeps the first IO error of its flusher and returns it from later
/// operations, so reads and checkpoints may fail until the database is reopened; the write
/// buffer stops at its limit and writes are then refused with an error that says to reopen
/// (see RELIABILITY.md). What must hold: no panic, no wrong answer, failing checkpoints name the
/// cure, and after a reopen every acknowledged write is there.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn whole_database_on_a_full_disk() {
    let tmp = tempfile::tempdir().unwrap();
    let path = tmp.path().join("db");
    let mount = match Mount::tmpfs(&path, "6M") {
        Ok(m) => m,
        Err(reason) => {
            eprintln!("RESULT faults disk-full-db SKIPPED ({reason})");
            return;
        }
    };
    let cfg = AuroraConfig { checkpoint_interval_ms: 100, ..config(&path, DurabilityMode::WAL) };
    let db = Aurora::with_config(cfg.clone()).await.unwrap();
    create_schema(&db).await.unwrap();
    let mut m = Model::default();
    let mut rng = Rng::new(41);
    let filler = fill(&path, 1024 * 1024);
    let mut consecutive = 0;
    let started = Instant::now();
    while consecutive < 20 && started.elapsed() < Duration::from_secs(30) {
        if m.step(&db, &mut rng).await {
            consecutive = 0;
        } else {
            consecutive += 1;
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }
    let (acked_full, full_errors) = (m.acked, m.errors);
    assert!(full_errors > 0, "the disk never filled up");
    let reads_when_full = match m.try_check(&db, "disk full").await {
        Ok(()) => "all reads correct".to_string(),
        Err(e) => format!("reads fail ({e})"),
    };
    std::fs::remove_file(&filler).unwrap();
    tokio::time::sleep(Duration::from_millis(300)).await;
    let (ok_before, err_before) = (m.acked, m.errors);
    for _ in 0..200 {
        m.step(&db, &mut rng).await;
    }
    let (ok_after, err_after) = (m.acked - ok_before, m.errors - err_before);
    // sled keeps its I/O error until reopened: once the write buffer is at its limit, writes are
    // refused (not committed) with an error that says to reopen; before that they succeed.
    let refusing = is_refusal(&m.last_error);
    assert!(ok_after > 0 || refusing, "writes neither succeed nor are refused cleanly: {}", m.last_error);
    let reads_after = match m.try_check(&db, "space freed").await {
        Ok(()) => "all reads correct".to_string(),
        Err(e) => format!("reads still fail ({e})"),
    };
    let checkpoint_after = match db.checkpoint().await {
        Ok(()) => "checkpoints succeed".to_string(),
        Err(e) => {
            assert!(e.to_string().contains("reopen"), "a failing checkpoint names the cure: {e}");
            format!("checkpoints still fail ({e})")
        }
    };
    let refusals = if refusing { format!("writes refused: {}", m.last_error) } else { "no refusal".into() };
    let _ = db.close().await;
    drop(db);
    let db = Aurora::with_config(cfg.clone()).await.expect("reopen after the disk was full");
    m.check(&db, "whole database, reopened").await;
    for _ in 0..50 {
        assert!(m.step(&db, &mut rng).await, "writes after reopening");
    }
    db.checkpoint().await.expect("checkpoint after reopening");
    db.close().await.unwrap();
    drop(db);
    let db = Aurora::with_config(cfg).await.expect("second reopen");
    m.check(&db, "whole database, reopened twice").await;
    db.close().await.unwrap();
    drop(db);
    drop(mount);
    eprintln!(
        "RESULT faults disk-full-db: 6 MiB tmpfs for sled + WAL, no hot cache: full after {acked_full} acknowledged \
         writes, {full_errors} failed; while full: {reads_when_full}; after freeing space: {ok_after} writes \
         succeeded, {err_after} failed ({refusals}), {reads_after}, {checkpoint_after}; after reopen all {} \
         acknowledged writes intact and everything works",
        m.acked
    );
}

/// Disk-full without mounting: a child process whose RLIMIT_FSIZE stops the WAL file growing.
#[test]
fn wal_append_beyond_the_file_size_limit_fails_cleanly() {
    let tmp = tempfile::tempdir().unwrap();
    let end = run_with_timeout(
        Command::new(env!("CARGO_BIN_EXE_wal-fsize")).arg(tmp.path().join("db")),
        Duration::from_secs(60),
    );
    match end {
        ChildEnd::Ok(out) => eprintln!("RESULT faults {}", out.trim()),
        other => panic!("wal-fsize failed: {other:?}"),
    }
}
