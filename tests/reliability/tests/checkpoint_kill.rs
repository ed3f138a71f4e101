//! Kills a bulk load in the middle of a checkpoint of a large database and checks, after the
//! restart, that every acknowledged batch is there exactly once and every index agrees with a
//! full scan (`verify`), also after a second reopen.
//!
//! `AURORA_CHECKPOINT_KILL_DOCS` sets the database size (default 40,000; the closing note of
//! the storage work reports a run at 1,000,000 in release).

use aurora_db::{Aurora, Value};
use aurora_reliability::env_u64;
use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

struct Killed {
    /// First sequence number of every acknowledged batch.
    batches: Vec<i64>,
    /// The checkpoint the kill interrupted had started and not ended.
    mid_checkpoint: bool,
    /// Duration of the last checkpoint that completed before the kill, ms.
    last_checkpoint_ms: u64,
}

/// Loads until `kill_after` documents are acknowledged, then kills the loader a little after
/// the next checkpoint starts (half the previous checkpoint's duration).
fn load_and_kill(db: &std::path::Path, n: u64, kill_after: u64) -> Killed {
    let mut child = Command::new(env!("CARGO_BIN_EXE_bulk-loader"))
        .arg(db)
        .arg(n.to_string())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("spawn bulk-loader");
    let stdout = child.stdout.take().expect("stdout");
    let (tx, rx) = std::sync::mpsc::channel::<String>();
    let reader = std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines() {
            let Ok(line) = line else { break };
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    let mut k = Killed { batches: Vec::new(), mid_checkpoint: false, last_checkpoint_ms: 0 };
    let mut in_checkpoint = false;
    let deadline = Instant::now() + Duration::from_secs(1200);
    let mut killed = false;
    while let Ok(line) = rx.recv_timeout(Duration::from_secs(120)) {
        assert!(Instant::now() < deadline, "the load did not reach its kill point in time");
        assert!(!line.starts_with('E'), "loader failed: {line}");
        if let Some(b) = line.strip_prefix("B ") {
            k.batches.push(b.parse().expect("batch number"));
        } else if line == "C start" {
            in_checkpoint = true;
            if !killed && k.batches.len() as u64 * 1000 >= kill_after {
                std::thread::sleep(Duration::from_millis(k.last_checkpoint_ms / 2));
                child.kill().expect("kill");
                killed = true;
                k.mid_checkpoint = true; // unless an end line follows
            }
        } else if let Some(ms) = line.strip_prefix("C end ") {
            in_checkpoint = false;
            if killed {
                k.mid_checkpoint = false;
            } else {
                k.last_checkpoint_ms = ms.parse().unwrap_or(0);
            }
        } else if line == "DONE" && !killed {
            child.kill().expect("kill");
            killed = true;
            k.mid_checkpoint = in_checkpoint;
        }
        if killed {
            break;
        }
    }
    // Lines written before the kill that we have not read yet.
    let _ = child.wait();
    for line in rx.iter() {
        if let Some(b) = line.strip_prefix("B ") {
            k.batches.push(b.parse().expect("batch number"));
        } else if line.starts_with("C end") {
            k.mid_checkpoint = false;
        }
    }
    let _ = reader.join();
    k
}

async fn check(db_dir: &std::path::Path, batches: &[i64]) -> u64 {
    let db = Aurora::open(db_dir).await.expect("reopen after the kill");
    let count = db.count("users").await.expect("count") as u64;
    let acked = batches.len() as u64 * 1000;
    assert!(count >= acked, "{count} documents after the restart, {acked} acknowledged");
    assert_eq!(count % 1000, 0, "a batch was half applied: {count} documents");
    // Each acknowledged batch: its first and last document by unique key, exactly once.
    for &first in batches.iter().step_by(batches.len().div_ceil(200).max(1)) {
        for seq in [first + 1, first + 1000] {
            let n = db.query("users").filter(|f| f.eq("seq", Value::Int(seq))).count().await.expect("lookup");
            assert_eq!(n, 1, "document {seq} of an acknowledged batch");
            let email = format!("user{seq}@example.com");
            let n = db.query("users").filter(|f| f.eq("email", Value::String(email))).count().await.expect("lookup");
            assert_eq!(n, 1, "document {seq} by its email");
        }
    }
    let by_age = db.query("users").filter(|f| f.gte("age", Value::Int(0))).count().await.expect("age range");
    assert_eq!(by_age as u64, count, "the age index covers every document");
    db.verify().await.expect("every index agrees with a full scan");
    db.close().await.expect("close");
    count
}

#[test]
fn kill_during_checkpoint_of_a_large_database() {
    let n = env_u64("AURORA_CHECKPOINT_KILL_DOCS", 40_000).max(4_000);
    let tmp = tempfile::tempdir().unwrap();
    let db = tmp.path().join("db");
    let started = Instant::now();
    let killed = load_and_kill(&db, n, n * 3 / 4);
    let load_s = started.elapsed().as_secs_f64();
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
    let t = Instant::now();
    let count = rt.block_on(check(&db, &killed.batches));
    let check_s = t.elapsed().as_secs_f64();
    // Replay is idempotent: a second open sees the same database.
    let again = rt.block_on(check(&db, &killed.batches));
    assert_eq!(count, again);
    eprintln!(
        "RESULT checkpoint kill: {} of {n} documents acknowledged, {count} after restart, killed {} a checkpoint \
         (previous one took {} ms); load {load_s:.1} s, reopen + checks {check_s:.1} s",
        killed.batches.len() * 1000,
        if killed.mid_checkpoint { "inside" } else { "outside" },
        killed.last_checkpoint_ms
    );
}
