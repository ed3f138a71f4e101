//! Kills a writer process at random moments and checks, after every restart, that each
//! acknowledged write is present exactly once, no transaction is half-applied, unique
//! constraints hold, every index agrees with a full scan, and every acknowledged job is still
//! queued; at the end the jobs are drained and each must have completed at least once.
//!
//! `AURORA_CRASH_ROUNDS` sets the number of kills per mode (default 25; 10 for Synchronous
//! unless set).

use aurora_db::workers::{Job, JobStatus, WorkerSystem};
use aurora_db::{Aurora, Value};
use aurora_reliability::{count_runs, count_seq, env_u64, job_worker_config, run_job, TX_OFFSET};
use std::collections::{BTreeMap, BTreeSet};
use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

#[derive(Default)]
struct Acked {
    inserted: BTreeSet<i64>,
    deleted: BTreeSet<i64>,
    updated: BTreeSet<i64>,
    tx_groups: BTreeSet<i64>,
    /// Acknowledged enqueues: job number → job id.
    jobs: BTreeMap<i64, String>,
}

/// Deterministic pseudo-random kill delays, different per round.
fn delay_ms(round: u64) -> u64 {
    let x = round.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
    40 + (x >> 33) % 260
}

fn run_round(db_dir: &std::path::Path, mode: &str, round: u64, acked: &mut Acked) {
    let start = (round as i64 + 1) * 1_000_000;
    let mut child = Command::new(env!("CARGO_BIN_EXE_crash-writer"))
        .args([db_dir.to_str().unwrap(), mode, &start.to_string()])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn crash-writer");
    let stdout = child.stdout.take().unwrap();
    let (ready_tx, ready_rx) = std::sync::mpsc::channel();
    let reader = std::thread::spawn(move || {
        let mut lines = Vec::new();
        for line in BufReader::new(stdout).lines() {
            match line {
                Ok(l) => {
                    if l == "READY" {
                        let _ = ready_tx.send(());
                    }
                    lines.push(l)
                }
                Err(_) => break,
            }
        }
        lines
    });
    // Kill at a random moment of the workload (every third round: while still opening).
    if round % 3 != 2 {
        let _ = ready_rx.recv_timeout(Duration::from_secs(20));
    }
    std::thread::sleep(Duration::from_millis(delay_ms(round)));
    child.kill().expect("SIGKILL the writer");
    let status = child.wait().unwrap();
    let lines = reader.join().unwrap();
    if !lines.iter().any(|l| l == "READY") {
        let mut err = String::new();
        use std::io::Read;
        child.stderr.take().unwrap().read_to_string(&mut err).unwrap();
        // Killed before it got ready is fine only if it was still opening; an error is not.
        assert!(err.is_empty() || status.code().is_none(), "writer failed: {err}");
    }
    for l in lines {
        // A partly written last line is an unacknowledged write: ignore it.
        let Some((kind, rest)) = l.split_once(' ') else {
            continue;
        };
        if kind == "J" {
            if let Some((n, id)) = rest.split_once(' ') {
                // A torn last line is not an acknowledgement: the id must be complete.
                if let (Ok(n), 36) = (n.parse::<i64>(), id.len()) {
                    acked.jobs.insert(n, id.to_string());
                }
            }
            continue;
        }
        let Ok(n) = rest.parse::<i64>() else { continue };
        match kind {
            "A" => {
                acked.inserted.insert(n);
            }
            "T" => {
                acked.tx_groups.insert(n);
            }
            "D" => {
                acked.deleted.insert(n);
            }
            "U" => {
                acked.updated.insert(n);
            }
            _ => {}
        }
    }
}

/// What one check saw: documents, and jobs by status.
#[derive(Default)]
struct Seen {
    docs: usize,
    jobs_completed: usize,
    jobs_waiting: usize,
}

async fn check(db_dir: &std::path::Path, acked: &Acked) -> Seen {
    let db = Aurora::open(db_dir).await.expect("reopen after kill");
    if db.schema("items").is_err() || db.schema("done").is_err() {
        assert!(acked.inserted.is_empty(), "collection lost after acknowledged writes");
        assert!(acked.jobs.is_empty(), "collection lost after acknowledged jobs");
        db.close().await.unwrap();
        return Seen::default();
    }
    db.verify().await.expect("indexes agree with a full scan");
    // One full scan answers the per-write questions; index lookups are spot-checked against it
    // (verify() already compared every index with the scan).
    let all = db.query("items").collect().await.unwrap();
    let mut by_seq = BTreeMap::<i64, Vec<&aurora_db::Document>>::new();
    for d in &all {
        by_seq.entry(d.data["seq"].as_i64().unwrap()).or_default().push(d);
    }
    let recent = acked.inserted.len().saturating_sub(200);
    for (i, &seq) in acked.inserted.iter().enumerate() {
        let n = by_seq.get(&seq).map_or(0, Vec::len);
        if acked.deleted.contains(&seq) {
            assert_eq!(n, 0, "acknowledged delete of seq {seq} was undone");
        } else if (seq + 3) % 11 == 0 && n == 0 {
            // The writer's delete of this document committed but was killed before reporting it.
        } else {
            assert_eq!(n, 1, "acknowledged insert of seq {seq} present {n} times");
        }
        if i >= recent || i % 50 == 0 {
            assert_eq!(count_seq(&db, seq).await.unwrap(), n, "index lookup of seq {seq} disagrees with the scan");
        }
    }
    for &seq in &acked.updated {
        if acked.deleted.contains(&seq) {
            continue;
        }
        let Some(d) = by_seq.get(&seq).and_then(|v| v.first()) else {
            assert_eq!((seq + 3) % 11, 0, "document of acknowledged update {seq} vanished");
            continue;
        };
        assert_eq!(d.data["age"], Value::Int(-1), "acknowledged update of seq {seq} lost");
    }
    // Transactions: both documents or neither, and both when acknowledged.
    let mut per_group = BTreeMap::<i64, usize>::new();
    for d in &all {
        let seq = d.data["seq"].as_i64().unwrap();
        if seq % 1_000_000 >= TX_OFFSET {
            *per_group.entry(d.data["grp"].as_i64().unwrap()).or_default() += 1;
        }
    }
    for (g, n) in &per_group {
        assert_eq!(*n, 2, "transaction group {g} is half applied");
    }
    for g in &acked.tx_groups {
        assert_eq!(per_group.get(g), Some(&2), "acknowledged transaction {g} lost");
    }
    let tx_by_index = db.query("items").filter(|f| f.gte("grp", Value::Int(TX_OFFSET))).count().await.unwrap();
    let tx_by_scan = all.iter().filter(|d| d.data["grp"].as_i64().is_some_and(|g| g >= TX_OFFSET)).count();
    assert_eq!(tx_by_index, tx_by_scan, "range lookup disagrees with the scan");
    // Unique constraint: no two documents share an email.
    let emails: BTreeSet<&str> = all.iter().map(|d| d.data["email"].as_str().unwrap()).collect();
    assert_eq!(emails.len(), all.len(), "duplicate unique values after recovery");
    let runs = runs_by_job(&db).await;
    // Jobs: every acknowledged enqueue is still queued; a completed job's handler effect is durable.
    let workers = WorkerSystem::new(&db, job_worker_config()).expect("job queue loads after kill");
    let mut seen = Seen { docs: all.len(), ..Seen::default() };
    for (n, id) in &acked.jobs {
        let job = workers.get_job(id).unwrap_or_else(|| panic!("acknowledged job {n} ({id}) lost"));
        assert_eq!(job.payload.get("n").and_then(|v| v.as_i64()), Some(*n), "job {id} payload changed");
        match job.status {
            JobStatus::Completed => {
                seen.jobs_completed += 1;
                assert!(
                    runs.get(n).is_some_and(|r| *r >= 1),
                    "job {n} is completed but its handler's write is missing"
                );
            }
            JobStatus::Pending | JobStatus::Failed => seen.jobs_waiting += 1,
            other => panic!("job {n} is {other:?} right after recovery"),
        }
    }
    db.close().await.unwrap();
    seen
}

/// Recorded handler runs per job number, from one scan of `done`.
async fn runs_by_job(db: &Aurora) -> BTreeMap<i64, usize> {
    let mut m = BTreeMap::new();
    for d in db.query("done").collect().await.unwrap() {
        *m.entry(d.data["job"].as_i64().unwrap()).or_default() += 1;
    }
    m
}

/// Runs every queued job to completion and checks each acknowledged one completed at least
/// once. Returns (jobs, runs recorded for them).
async fn drain_jobs(db_dir: &std::path::Path, acked: &Acked) -> (usize, usize) {
    let db = Aurora::open(db_dir).await.expect("reopen for the job drain");
    if acked.jobs.is_empty() {
        db.close().await.unwrap();
        return (0, 0);
    }
    let workers = WorkerSystem::new(&db, job_worker_config()).unwrap();
    let handler_db = db.clone();
    workers.register_handler("crash-job", move |job: Job| run_job(handler_db.clone(), job));
    workers.start().await.unwrap();
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        let s = workers.stats();
        if s.pending == 0 && s.running == 0 && s.failed == 0 {
            break;
        }
        assert!(Instant::now() < deadline, "jobs did not drain: {s:?}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    workers.stop().await.unwrap();
    assert!(workers.dead_letters().is_empty(), "dead letters: {:?}", workers.dead_letters());
    let by_job = runs_by_job(&db).await;
    let mut runs = 0;
    for (n, id) in &acked.jobs {
        assert_eq!(workers.get_status(id), Some(JobStatus::Completed), "acknowledged job {n} never completed");
        let r = by_job.get(n).copied().unwrap_or(0);
        assert!(r >= 1, "job {n} completed without its handler's write");
        runs += r;
    }
    let sample = *acked.jobs.keys().next().unwrap();
    assert_eq!(count_runs(&db, sample).await.unwrap(), by_job[&sample], "index lookup of job runs");
    db.verify().await.unwrap();
    db.close().await.unwrap();
    (acked.jobs.len(), runs)
}

fn crash_loop(mode: &str, rounds: u64) {
    let dir = tempfile::tempdir().unwrap();
    let db_dir = dir.path().join("db");
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    let mut acked = Acked::default();
    let started = Instant::now();
    let mut seen = Seen::default();
    for round in 0..rounds {
        run_round(&db_dir, mode, round, &mut acked);
        seen = rt.block_on(check(&db_dir, &acked));
    }
    assert!(!acked.inserted.is_empty(), "the writer never acknowledged a write");
    assert!(!acked.jobs.is_empty(), "the writer never acknowledged a job");
    let (jobs, runs) = rt.block_on(drain_jobs(&db_dir, &acked));
    eprintln!(
        "RESULT crash {mode}: {rounds} kills survived, {} acknowledged inserts, {} tx, {} updates, {} deletes, \
         {} docs; {} acknowledged jobs ({} completed, {} waiting at the last kill), all completed after the drain \
         with {runs} recorded runs; {:.1?}",
        acked.inserted.len(),
        acked.tx_groups.len(),
        acked.updated.len(),
        acked.deleted.len(),
        seen.docs,
        jobs,
        seen.jobs_completed,
        seen.jobs_waiting,
        started.elapsed()
    );
}

fn rounds() -> u64 {
    env_u64("AURORA_CRASH_ROUNDS", 25)
}

fn sync_rounds() -> u64 {
    if std::env::var_os("AURORA_CRASH_ROUNDS").is_some() {
        rounds()
    } else {
        10
    }
}

#[test]
fn strict_mode_survives_sigkill() {
    crash_loop("strict", rounds());
}

#[test]
fn wal_mode_survives_sigkill() {
    crash_loop("wal", rounds());
}

#[test]
fn synchronous_mode_survives_sigkill() {
    crash_loop("sync", sync_rounds());
}
