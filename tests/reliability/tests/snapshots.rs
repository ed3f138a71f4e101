//! Snapshot consistency under concurrent writes, flushes, checkpoints and compactions: an
//! ordered index walk must return documents whose field equals the key it walked, so a page
//! ordered by an indexed field is sorted whatever commits and maintenance run meanwhile.

use aurora_db::types::FieldDefinition;
use aurora_db::{Aurora, AuroraConfig, DurabilityMode, FieldType, Value};
use aurora_reliability::{env_u64, seed, Rng};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

const DOCS: i64 = 300;

fn def(t: FieldType, unique: bool, indexed: bool) -> FieldDefinition {
    FieldDefinition { field_type: t, unique, indexed, nullable: true }
}

async fn run(maintenance: &'static str, secs: u64) -> (u64, Vec<String>) {
    let tmp = tempfile::tempdir().unwrap();
    let cfg = AuroraConfig {
        db_path: tmp.path().join("db"),
        durability_mode: DurabilityMode::WAL,
        hot_cache_size_mb: 1,
        cold_cache_capacity_mb: 4,
        checkpoint_interval_ms: 1_000,
        write_buffer_flush_interval_ms: 20,
        ..Default::default()
    };
    let db = Aurora::with_config(cfg).await.unwrap();
    db.new_collection("s", vec![("key", def(FieldType::Int, true, true)), ("val", def(FieldType::Int, false, true))])
        .await
        .unwrap();
    for k in 0..DOCS {
        db.insert_into("s", vec![("key", Value::Int(k)), ("val", Value::Int(k % 1000))]).await.unwrap();
    }
    let stop = Arc::new(AtomicBool::new(false));
    let pages = Arc::new(AtomicU64::new(0));
    let mut tasks = Vec::new();
    for w in 0..2u64 {
        let (db, stop) = (db.clone(), stop.clone());
        tasks.push(tokio::spawn(async move {
            let mut rng = Rng::new(seed(0x5A0) + w);
            while !stop.load(Ordering::Relaxed) {
                let k = rng.below(DOCS as u64) as i64;
                let val = rng.below(1000) as i64;
                db.query("s").filter(|f| f.eq("key", k)).update(vec![("val", Value::Int(val))]).await.unwrap();
                tokio::task::yield_now().await;
            }
            Vec::new()
        }));
    }
    for r in 0..2u64 {
        let (db, stop, pages) = (db.clone(), stop.clone(), pages.clone());
        tasks.push(tokio::spawn(async move {
            let mut rng = Rng::new(seed(0x5A1) + r);
            let mut bad = Vec::new();
            while !stop.load(Ordering::Relaxed) {
                let lo = rng.below(900) as i64;
                let docs = db
                    .query("s")
                    .filter(|f| f.gte("val", lo))
                    .order_by("val", false)
                    .limit(10)
                    .collect()
                    .await
                    .unwrap();
                let vals: Vec<i64> = docs.iter().map(|d| d.data["val"].as_i64().unwrap_or(-1)).collect();
                if vals.windows(2).any(|p| p[0] < p[1]) || vals.iter().any(|v| *v < lo) {
                    bad.push(format!("val >= {lo} desc: {vals:?}"));
                }
                pages.fetch_add(1, Ordering::Relaxed);
                tokio::task::yield_now().await;
            }
            bad
        }));
    }
    {
        let (db, stop) = (db.clone(), stop.clone());
        tasks.push(tokio::spawn(async move {
            let mut i = 0u64;
            while !stop.load(Ordering::Relaxed) {
                tokio::time::sleep(Duration::from_millis(100)).await;
                i += 1;
                match maintenance {
                    "compact" if i.is_multiple_of(3) => db.compact().await.unwrap(),
                    "compact" | "checkpoint" => db.checkpoint().await.unwrap(),
                    _ => {}
                }
            }
            Vec::new()
        }));
    }
    let end = Instant::now() + Duration::from_secs(secs);
    while Instant::now() < end {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    stop.store(true, Ordering::Relaxed);
    let mut bad = Vec::new();
    for t in tasks {
        bad.extend(t.await.unwrap());
    }
    db.close().await.unwrap();
    (pages.load(Ordering::Relaxed), bad)
}

fn check(maintenance: &'static str) {
    let secs = env_u64("AURORA_SNAPSHOT_SECS", 4);
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(3).enable_all().build().unwrap();
    let (pages, bad) = rt.block_on(run(maintenance, secs));
    eprintln!("RESULT snapshots ({maintenance}): {pages} ordered pages, {} unsorted", bad.len());
    assert!(pages > 100, "only {pages} pages read");
    assert!(bad.is_empty(), "{} of {pages} pages were unsorted, e.g. {:?}", bad.len(), &bad[..bad.len().min(5)]);
}

#[test]
fn ordered_pages_stay_sorted_under_flushes() {
    check("none");
}

#[test]
fn ordered_pages_stay_sorted_under_checkpoints() {
    check("checkpoint");
}

#[test]
fn ordered_pages_stay_sorted_under_compaction() {
    check("compact");
}
