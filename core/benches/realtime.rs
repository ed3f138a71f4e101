//! Real-time and worker costs: insert→event latency (listener, watcher), insert throughput
//! with 0 / 100 / 1,000 watchers, and no-op job throughput.
//! `cargo bench -p aurora-db --bench realtime` (release).

use aurora_db::types::FieldDefinition;
use aurora_db::workers::{Job, WorkerConfig, WorkerSystem};
use aurora_db::{Aurora, FieldType, Value};
use std::time::{Duration, Instant};

fn pct(v: &mut [Duration], p: f64) -> Duration {
    v.sort();
    v[((v.len() as f64 - 1.0) * p) as usize]
}

async fn open(dir: &std::path::Path) -> Aurora {
    let db = Aurora::open(dir).await.expect("open");
    db.new_collection(
        "events",
        vec![("kind", FieldDefinition { field_type: FieldType::Int, unique: false, indexed: true, nullable: true })],
    )
    .await
    .expect("schema");
    db
}

fn main() {
    let quick = std::env::var("AURORA_BENCH_QUICK").is_ok_and(|v| v == "1");
    let n = if quick { 2_000 } else { 20_000 };
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().expect("runtime");
    rt.block_on(async {
        // Listener latency: time from the insert call to the event's arrival.
        let dir = tempfile::tempdir().expect("tempdir");
        let db = open(dir.path()).await;
        let mut listener = db.listen("events");
        let mut lat = Vec::with_capacity(n);
        for i in 0..n {
            let t = Instant::now();
            db.insert_into("events", vec![("kind", Value::Int(i as i64 % 10))]).await.expect("insert");
            listener.recv().await.expect("event");
            lat.push(t.elapsed());
        }
        println!("insert -> listener event: p50 {:.2?}, p99 {:.2?}   (target p99 < 1 ms)", pct(&mut lat, 0.5), pct(&mut lat, 0.99));

        // Watcher latency: an equality watcher that every insert enters.
        let mut watcher = db.query("events").filter(|f| f.eq("kind", 7)).watch().await.expect("watch");
        let mut lat = Vec::with_capacity(n / 4);
        for _ in 0..n / 4 {
            let t = Instant::now();
            db.insert_into("events", vec![("kind", Value::Int(7))]).await.expect("insert");
            watcher.next().await.expect("update");
            lat.push(t.elapsed());
        }
        println!("insert -> watcher update: p50 {:.2?}, p99 {:.2?}   (target p99 < 1 ms)", pct(&mut lat, 0.5), pct(&mut lat, 0.99));
        drop(watcher);
        drop(listener);
        db.close().await.expect("close");

        // Insert throughput with many live watchers (different predicates on the same collection).
        let mut base = 0.0;
        for watchers in [0usize, 100, 1_000] {
            let dir = tempfile::tempdir().expect("tempdir");
            let db = open(dir.path()).await;
            let mut live = Vec::with_capacity(watchers);
            for w in 0..watchers {
                let q = db.query("events");
                // Half equality predicates (routed by value), half ranges (routed by collection).
                let q = if w % 2 == 0 { q.filter(|f| f.eq("kind", w as i64)) } else { q.filter(|f| f.gt("kind", 1_000_000 + w as i64)) };
                live.push(q.watch().await.expect("watch"));
            }
            let t = Instant::now();
            for i in 0..n {
                db.insert_into("events", vec![("kind", Value::Int(i as i64 % 5_000))]).await.expect("insert");
            }
            let rate = n as f64 / t.elapsed().as_secs_f64();
            if watchers == 0 {
                base = rate;
            }
            println!(
                "insert throughput with {watchers:>5} watchers: {rate:>9.0}/s ({:.2}x the cost of 0 watchers; target < 2x)",
                base / rate
            );
            drop(live);
            db.close().await.expect("close");
        }

        // No-op jobs: from the first enqueue to the last completion.
        let dir = tempfile::tempdir().expect("tempdir");
        let db = open(dir.path()).await;
        let workers = WorkerSystem::new(&db, WorkerConfig { concurrency: 4, ..Default::default() }).expect("workers");
        workers.register_handler("noop", |_job: Job| async { Ok(()) });
        workers.start().await.expect("start");
        let t = Instant::now();
        for i in 0..n {
            workers.enqueue(Job::new("noop").add_field("i", i)).await.expect("enqueue");
        }
        while workers.stats().completed < n {
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
        println!("no-op jobs, enqueue to completion: {:.0} jobs/s   (target >= 20,000)", n as f64 / t.elapsed().as_secs_f64());
        workers.stop().await.expect("stop");
    });
}
