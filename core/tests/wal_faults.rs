//! One rule for faults: a write reported as failed is never applied, never visible and never
//! replayed; a write that was applied is reported as OK. Faults are injected into the WAL's
//! fsync and segment rotation (process-wide, so these tests run one at a time).

mod common;
use aurora_db::storage::faults::{inject, Point};
use aurora_db::{Aurora, AuroraConfig, DurabilityMode, Limits, Value};
use common::*;
use std::time::Duration;

/// Injected faults are process-wide: one test at a time.
static SERIAL: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

fn cfg(dir: &std::path::Path, mode: DurabilityMode) -> AuroraConfig {
    AuroraConfig { durability_mode: mode, checkpoint_interval_ms: 3_600_000, ..config(dir) }
}

async fn emails(db: &Aurora) -> Vec<String> {
    let mut v: Vec<String> = db
        .query("users")
        .collect()
        .await
        .unwrap()
        .iter()
        .filter_map(|d| d.data.get("email").and_then(|e| e.as_str()).map(String::from))
        .collect();
    v.sort();
    v
}

#[tokio::test]
async fn a_failed_strict_fsync_applies_nothing_and_stops_later_writes_until_reopen() {
    let _one = SERIAL.lock().await;
    let dir = tempfile::tempdir().unwrap();
    let db = Aurora::with_config(cfg(dir.path(), DurabilityMode::Strict)).await.unwrap();
    users(&db).await;
    db.insert_into("users", vec![("email", s("a@x.io"))]).await.unwrap();
    let mut events = db.listen("users");

    inject(Point::WalSync, 1);
    let e = db.insert_into("users", vec![("email", s("b@x.io"))]).await.unwrap_err();
    assert_eq!(e.code(), "IO", "{e}");
    assert_eq!(emails(&db).await, ["a@x.io"], "the failed write is not visible");
    assert!(events.try_recv().unwrap().is_none(), "no event for a failed write");

    // The log has failed: later writes are refused (not half-accepted), reads go on.
    let e = db.insert_into("users", vec![("email", s("c@x.io"))]).await.unwrap_err();
    assert!(e.to_string().contains("reopen"), "{e}");
    assert_eq!(db.query("users").count().await.unwrap(), 1);
    db.close().await.unwrap();

    // Nothing of the failed write comes back, and a retry does not duplicate it.
    let db = Aurora::with_config(cfg(dir.path(), DurabilityMode::Strict)).await.unwrap();
    assert_eq!(emails(&db).await, ["a@x.io"]);
    db.insert_into("users", vec![("email", s("b@x.io"))]).await.unwrap();
    assert_eq!(emails(&db).await, ["a@x.io", "b@x.io"]);
    db.verify().await.unwrap();
}

#[tokio::test]
async fn a_failed_rotation_after_the_record_keeps_the_write_and_its_lsn() {
    let _one = SERIAL.lock().await;
    let dir = tempfile::tempdir().unwrap();
    let small = AuroraConfig { wal_segment_bytes: 600, ..cfg(dir.path(), DurabilityMode::WAL) };
    let db = Aurora::with_config(small.clone()).await.unwrap();
    users(&db).await;
    inject(Point::WalRotate, 2);
    let mut written = Vec::new();
    for i in 0..40 {
        let email = format!("user{i:02}@x.io");
        db.insert_into("users", vec![("email", s(&email))]).await.unwrap();
        written.push(email);
    }
    assert_eq!(emails(&db).await, written);
    // A crash image: every acknowledged write, each once, from a log of several segments.
    let copy = dir.path().join("copy");
    copy_dir(&dir.path().join("db"), &copy);
    assert!(std::fs::read_dir(copy.join("wal")).unwrap().count() > 2, "the log rotated");
    drop(db);
    let db = Aurora::with_config(AuroraConfig { db_path: copy, ..small }).await.unwrap();
    assert_eq!(emails(&db).await, written);
    db.verify().await.unwrap();
}

#[tokio::test]
async fn wal_mode_fsyncs_on_a_timer() {
    let _one = SERIAL.lock().await;
    let dir = tempfile::tempdir().unwrap();
    let timed = AuroraConfig { wal_sync_interval_ms: 20, ..cfg(dir.path(), DurabilityMode::WAL) };
    let db = Aurora::with_config(timed).await.unwrap();
    users(&db).await;
    db.insert_into("users", vec![("email", s("a@x.io"))]).await.unwrap();
    // The timer's next fsync fails: the log is failed, so the next write is refused.
    inject(Point::WalSync, 1);
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    let refused = loop {
        tokio::time::sleep(Duration::from_millis(20)).await;
        match db.insert_into("users", vec![("email", s(&format!("{:?}@x.io", std::time::Instant::now())))]).await {
            Err(e) => break e,
            Ok(_) => assert!(std::time::Instant::now() < deadline, "no background fsync in 10 s"),
        }
    };
    assert!(refused.to_string().contains("WAL refuses writes"), "{refused}");
    inject(Point::WalSync, 0);
}

#[tokio::test]
async fn a_commit_larger_than_max_commit_bytes_is_refused_before_it_is_applied() {
    let _one = SERIAL.lock().await;
    let dir = tempfile::tempdir().unwrap();
    let limited = AuroraConfig {
        limits: Limits { max_commit_bytes: 4_096, ..Limits::default() },
        ..cfg(dir.path(), DurabilityMode::WAL)
    };
    let db = Aurora::with_config(limited.clone()).await.unwrap();
    users(&db).await;
    let docs = (0..100)
        .map(|i| {
            aurora_db::types::doc_data_from_object(
                [("email".to_string(), Value::String(format!("{i:0100}@x.io")))].into_iter().collect(),
            )
        })
        .collect();
    let e = db.batch_insert("users", docs).await.unwrap_err();
    assert_eq!(e.code(), "LIMIT", "{e}");
    assert!(e.to_string().contains("max_commit_bytes"), "{e}");
    assert_eq!(db.query("users").count().await.unwrap(), 0);
    db.insert_into("users", vec![("email", s("small@x.io"))]).await.unwrap();
    db.close().await.unwrap();
    let db = Aurora::with_config(limited).await.unwrap();
    assert_eq!(emails(&db).await, ["small@x.io"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dropped_collection_never_comes_back_from_the_wal() {
    let _one = SERIAL.lock().await;
    for round in 0..5 {
        let dir = tempfile::tempdir().unwrap();
        let db = Aurora::with_config(cfg(dir.path(), DurabilityMode::WAL)).await.unwrap();
        users(&db).await;
        let writer = {
            let db = db.clone();
            tokio::spawn(async move {
                let mut i = 0;
                // Writes keep coming until the collection is gone.
                while db.insert_into("users", vec![("email", s(&format!("w{i}@x.io")))]).await.is_ok() {
                    i += 1;
                }
                i
            })
        };
        tokio::time::sleep(Duration::from_millis(5)).await;
        db.drop_collection("users").await.unwrap();
        let written = writer.await.unwrap();
        // The state a crash right now leaves: reopened, the collection must be gone, and a
        // new one of the same name empty.
        let copy = dir.path().join("copy");
        copy_dir(&dir.path().join("db"), &copy);
        drop(db);
        let db = Aurora::open(&copy).await.unwrap();
        assert!(!db.collection_names().contains(&"users".to_string()), "round {round} ({written} writes)");
        users(&db).await;
        db.close().await.unwrap();
        let db = Aurora::open(&copy).await.unwrap();
        assert_eq!(db.query("users").count().await.unwrap(), 0, "round {round}: documents came back");
    }
}
