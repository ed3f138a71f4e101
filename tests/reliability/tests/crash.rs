//! Kills a writer process at random moments and checks, after every restart, that each
//! acknowledged write is present exactly once, no transaction is half-applied, unique
//! constraints hold and every index agrees with a full scan.

use aurora_db::{Aurora, Value};
use aurora_reliability::{count_seq, TX_OFFSET};
use std::collections::BTreeSet;
use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

#[derive(Default)]
struct Acked {
    inserted: BTreeSet<i64>,
    deleted: BTreeSet<i64>,
    updated: BTreeSet<i64>,
    tx_groups: BTreeSet<i64>,
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
        let Some((kind, n)) = l.split_once(' ') else {
            continue;
        };
        let Ok(n) = n.parse::<i64>() else { continue };
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

async fn check(db_dir: &std::path::Path, acked: &Acked) -> usize {
    let db = Aurora::open(db_dir).await.expect("reopen after kill");
    if db.schema("items").is_err() {
        assert!(acked.inserted.is_empty(), "collection lost after acknowledged writes");
        db.close().await.unwrap();
        return 0;
    }
    db.verify().await.expect("indexes agree with a full scan");
    for &seq in &acked.inserted {
        let n = count_seq(&db, seq).await.unwrap();
        if acked.deleted.contains(&seq) {
            assert_eq!(n, 0, "acknowledged delete of seq {seq} was undone");
        } else if (seq + 3) % 11 == 0 && n == 0 {
            // The writer's delete of this document committed but was killed before reporting it.
        } else {
            assert_eq!(n, 1, "acknowledged insert of seq {seq} present {n} times");
        }
    }
    for &seq in &acked.updated {
        if acked.deleted.contains(&seq) {
            continue;
        }
        let Some(d) = db.query("items").filter(|f| f.eq("seq", Value::Int(seq))).first_one().await.unwrap() else {
            assert_eq!((seq + 3) % 11, 0, "document of acknowledged update {seq} vanished");
            continue;
        };
        assert_eq!(d.data["age"], Value::Int(-1), "acknowledged update of seq {seq} lost");
    }
    // Transactions: both documents or neither, and both when acknowledged.
    let tx_docs = db.query("items").filter(|f| f.gte("grp", Value::Int(0))).collect().await.unwrap();
    let mut per_group = std::collections::BTreeMap::<i64, usize>::new();
    for d in &tx_docs {
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
    // Unique constraint: no two documents share an email.
    let all = db.query("items").collect().await.unwrap();
    let emails: BTreeSet<&str> = all.iter().map(|d| d.data["email"].as_str().unwrap()).collect();
    assert_eq!(emails.len(), all.len(), "duplicate unique values after recovery");
    db.close().await.unwrap();
    all.len()
}

fn crash_loop(mode: &str, rounds: u64) {
    let dir = tempfile::tempdir().unwrap();
    let db_dir = dir.path().join("db");
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    let mut acked = Acked::default();
    let started = Instant::now();
    let mut docs = 0;
    for round in 0..rounds {
        run_round(&db_dir, mode, round, &mut acked);
        docs = rt.block_on(check(&db_dir, &acked));
    }
    assert!(!acked.inserted.is_empty(), "the writer never acknowledged a write");
    eprintln!(
        "{mode}: {rounds} kills survived, {} acknowledged inserts, {} tx, {} deletes, {} docs, {:?}",
        acked.inserted.len(),
        acked.tx_groups.len(),
        acked.deleted.len(),
        docs,
        started.elapsed()
    );
}

fn rounds() -> u64 {
    std::env::var("AURORA_CRASH_ROUNDS").ok().and_then(|s| s.parse().ok()).unwrap_or(20)
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
    crash_loop("sync", rounds().min(10));
}
