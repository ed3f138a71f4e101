//! WAL damage, memory bounds and concurrent writers.

mod common;
use aurora_db::{Aurora, AuroraConfig, AuroraError, DurabilityMode, Value};
use common::*;

fn segments(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut v: Vec<_> = std::fs::read_dir(dir.join("wal")).unwrap().map(|e| e.unwrap().path()).collect();
    v.sort();
    v
}

/// Writes `n` users and leaves them only in the WAL (the process "dies" before a checkpoint).
async fn write_and_abandon(dir: &std::path::Path, n: i64) {
    let db = Aurora::with_config(AuroraConfig {
        checkpoint_interval_ms: 3_600_000,
        write_buffer_flush_interval_ms: 3_600_000,
        ..config(dir)
    })
    .await
    .unwrap();
    users(&db).await;
    for i in 0..n {
        db.insert_into("users", vec![("email", s(&format!("{i}@x.io"))), ("age", Value::Int(i))]).await.unwrap();
    }
    // Simulate a crash: skip the closing checkpoint.
    std::mem::forget(db);
}

#[tokio::test]
async fn torn_wal_tail_is_discarded_and_the_rest_recovered() {
    let dir = tempfile::tempdir().unwrap();
    write_and_abandon(dir.path(), 50).await;
    // Release the lock held by the forgotten handle's cold store by copying the files away.
    let copy = dir.path().join("copy");
    copy_dir(&dir.path().join("db"), &copy);
    let seg = segments(&copy).into_iter().last().unwrap();
    let len = std::fs::metadata(&seg).unwrap().len();
    let f = std::fs::OpenOptions::new().write(true).open(&seg).unwrap();
    f.set_len(len - 5).unwrap();
    let db = Aurora::open(&copy).await.unwrap();
    assert_eq!(db.query("users").count().await.unwrap(), 49, "all but the torn last record");
    db.verify().await.unwrap();
}

#[tokio::test]
async fn corrupted_wal_record_in_the_middle_names_file_and_offset() {
    let dir = tempfile::tempdir().unwrap();
    write_and_abandon(dir.path(), 50).await;
    let copy = dir.path().join("copy");
    copy_dir(&dir.path().join("db"), &copy);
    let seg = segments(&copy).into_iter().last().unwrap();
    let mut bytes = std::fs::read(&seg).unwrap();
    let mid = bytes.len() / 2;
    bytes[mid] ^= 0x5a;
    std::fs::write(&seg, &bytes).unwrap();
    match Aurora::open(&copy).await {
        Err(AuroraError::Corruption { file, offset, reason }) => {
            assert_eq!(file, seg);
            assert!(offset > 0 && offset <= mid as u64, "offset {offset} vs damage at {mid}");
            assert!(!reason.is_empty());
        }
        Err(other) => panic!("expected a corruption error, got {other}"),
        Ok(_) => panic!("expected a corruption error, database opened"),
    }
}

#[tokio::test]
async fn hot_cache_stays_within_its_byte_budget() {
    let dir = tempfile::tempdir().unwrap();
    let db = Aurora::with_config(AuroraConfig { hot_cache_size_mb: 1, ..config(dir.path()) }).await.unwrap();
    users(&db).await;
    let payload = "x".repeat(1000);
    // ~10 MiB of documents through a 1 MiB cache.
    for i in 0..10_000 {
        db.insert_into("users", vec![("email", s(&format!("{i}@x.io"))), ("bio", s(&payload))]).await.unwrap();
        if i % 1000 == 0 {
            let (used, budget) = db.cache_usage();
            assert!(used <= budget, "cache {used} over budget {budget}");
        }
    }
    // Reading everything back finds every document; one read pass fills at most a quarter of
    // the cache (a large scan does not push out the rest) ...
    let (before, budget) = db.cache_usage();
    assert_eq!(budget, 1024 * 1024);
    assert_eq!(db.query("users").filter(|f| f.contains("bio", "xx")).count().await.unwrap(), 10_000);
    let (used, _) = db.cache_usage();
    assert!(
        used > before && used <= before + budget / 4,
        "one scan took the cache from {before} to {used} of {budget}"
    );
    // ... and repeated passes fill it, within the budget.
    for _ in 0..6 {
        assert_eq!(db.query("users").filter(|f| f.contains("bio", "xx")).count().await.unwrap(), 10_000);
    }
    let (used, _) = db.cache_usage();
    assert!(used <= budget && used > budget / 2, "cache used {used} of {budget}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn eight_concurrent_writers_respect_unique_and_lose_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let db = Aurora::with_config(AuroraConfig { durability_mode: DurabilityMode::Strict, ..config(dir.path()) })
        .await
        .unwrap();
    users(&db).await;
    let mut tasks = Vec::new();
    for w in 0..8 {
        let db = db.clone();
        tasks.push(tokio::spawn(async move {
            let (mut won, mut lost) = (0, 0);
            for i in 0..200 {
                // Every writer competes for the same 200 shared emails and owns 200 private ones.
                match db
                    .insert_into("users", vec![("email", s(&format!("shared{i}@x.io"))), ("age", Value::Int(w))])
                    .await
                {
                    Ok(_) => won += 1,
                    Err(AuroraError::UniqueViolation { .. }) => lost += 1,
                    Err(e) => panic!("unexpected error {e}"),
                }
                db.insert_into("users", vec![("email", s(&format!("w{w}-{i}@x.io"))), ("age", Value::Int(w))])
                    .await
                    .unwrap();
            }
            (won, lost)
        }));
    }
    let mut total_won = 0;
    for t in tasks {
        let (won, lost) = t.await.unwrap();
        assert_eq!(won + lost, 200);
        total_won += won;
    }
    assert_eq!(total_won, 200, "each shared email inserted exactly once");
    assert_eq!(db.query("users").count().await.unwrap(), 200 + 8 * 200);
    for i in 0..200 {
        assert_eq!(db.query("users").filter(|f| f.eq("email", format!("shared{i}@x.io"))).count().await.unwrap(), 1);
    }
    db.verify().await.unwrap();
    let path = db.config().db_path.clone();
    db.close().await.unwrap();
    let db = Aurora::open(path).await.unwrap();
    assert_eq!(db.query("users").count().await.unwrap(), 1800);
    db.verify().await.unwrap();
}

#[tokio::test]
async fn checkpoints_truncate_the_wal_without_losing_buffered_writes() {
    let dir = tempfile::tempdir().unwrap();
    let db = Aurora::open(dir.path().join("db")).await.unwrap();
    users(&db).await;
    for i in 0..100 {
        db.insert_into("users", vec![("email", s(&format!("{i}@x.io")))]).await.unwrap();
    }
    db.checkpoint().await.unwrap();
    let segs = segments(&dir.path().join("db"));
    assert_eq!(segs.len(), 1, "older segments deleted: {segs:?}");
    for i in 100..150 {
        db.insert_into("users", vec![("email", s(&format!("{i}@x.io")))]).await.unwrap();
    }
    db.compact().await.unwrap();
    drop(db);
    let db = Aurora::open(dir.path().join("db")).await.unwrap();
    assert_eq!(db.query("users").count().await.unwrap(), 150);
}

#[tokio::test]
async fn compaction_renumbers_rows_after_mass_deletes() {
    let dir = tempfile::tempdir().unwrap();
    let db = Aurora::open(dir.path().join("db")).await.unwrap();
    users(&db).await;
    for i in 0..300 {
        db.insert_into("users", vec![("email", s(&format!("{i}@x.io"))), ("age", Value::Int(i))]).await.unwrap();
    }
    assert_eq!(db.query("users").filter(|f| f.lt("age", 250)).delete().await.unwrap(), 250);
    db.compact().await.unwrap();
    assert_eq!(db.query("users").filter(|f| f.gte("age", 250)).count().await.unwrap(), 50);
    assert_eq!(
        db.query("users").order_by("age", false).first_one().await.unwrap().unwrap().data["age"],
        Value::Int(299)
    );
    db.verify().await.unwrap();
}

/// Dropping the last handle while the maintenance thread is between wake-ups must close the
/// database (and free its directory lock) at once: a later open of the same path succeeds and
/// sees every write. Busy maintenance (unbuffered writes, 10 ms flushes) widens the window.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dropping_handles_without_close_always_releases_the_directory() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = AuroraConfig { enable_write_buffering: false, write_buffer_flush_interval_ms: 10, ..config(dir.path()) };
    let cycles = 300;
    for i in 0..cycles {
        let started = std::time::Instant::now();
        let db = Aurora::with_config(cfg.clone()).await.unwrap_or_else(|e| panic!("open #{i}: {e}"));
        assert!(started.elapsed() < std::time::Duration::from_secs(5), "open #{i} waited for the lock");
        if i == 0 {
            users(&db).await;
        }
        db.insert_into("users", vec![("email", s(&format!("{i}@x.io")))]).await.unwrap();
        std::thread::sleep(std::time::Duration::from_micros((i as u64 * 137) % 12_000));
        if i % 2 == 0 {
            drop(db);
        } else {
            std::thread::spawn(move || drop(db)).join().unwrap();
        }
    }
    let db = Aurora::with_config(cfg).await.unwrap();
    assert_eq!(db.query("users").count().await.unwrap(), cycles);
}
