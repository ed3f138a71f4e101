//! Soak: concurrent writers, readers (async tasks and a plain OS thread, as a binding would
//! call), watchers, listeners, AQL subscriptions, job workers and maintenance on one database
//! for `AURORA_SOAK_SECS` seconds (default 60). Checks:
//!
//! * no operation fails, and at the end every writer's documents are exactly its model (also
//!   after a reopen), `verify()` passes;
//! * memory is bounded: RSS (`VmRSS` of `/proc/self/status`, sampled every second) after the
//!   warm-up (the first quarter, at least 10 s) stays below twice the warm-up peak + 64 MiB;
//! * no deadlock: a watchdog thread exits the process with a report if any component makes no
//!   progress for 20 s.

use aurora_db::types::FieldDefinition;
use aurora_db::workers::{Job, WorkerConfig, WorkerSystem};
use aurora_db::{Aurora, AuroraConfig, AuroraError, DurabilityMode, FieldType, Value};
use aurora_reliability::{env_u64, rss_kib, seed, Rng};
use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

const COMPONENTS: [&str; 10] = [
    "writes",
    "reads",
    "aql reads",
    "thread reads",
    "watch events",
    "listen events",
    "stream events",
    "jobs enqueued",
    "jobs done",
    "maintenance",
];
const WRITES: usize = 0;
const READS: usize = 1;
const AQL: usize = 2;
const THREAD_READS: usize = 3;
const WATCH: usize = 4;
const LISTEN: usize = 5;
const STREAM: usize = 6;
const ENQUEUED: usize = 7;
const JOBS_DONE: usize = 8;
const MAINT: usize = 9;
const WRITERS: i64 = 3;
const KEYS_PER_WRITER: i64 = 400;
const STALL: Duration = Duration::from_secs(20);

struct Shared {
    counts: [AtomicU64; COMPONENTS.len()],
    stop: AtomicBool,
    errors: Mutex<Vec<String>>,
    lagged: AtomicU64,
}

impl Shared {
    fn bump(&self, c: usize) {
        self.counts[c].fetch_add(1, Ordering::Relaxed);
    }
    fn fail(&self, what: String) {
        let mut e = self.errors.lock().unwrap();
        if e.len() < 50 {
            e.push(what);
        }
    }
    fn stopped(&self) -> bool {
        self.stop.load(Ordering::Relaxed)
    }
}

fn def(t: FieldType, unique: bool, indexed: bool) -> FieldDefinition {
    FieldDefinition { field_type: t, unique, indexed, nullable: true }
}

/// One writer: owns keys `w * 1e6 ..`, keeps at most `KEYS_PER_WRITER` live, and a model.
async fn writer(db: Aurora, sh: Arc<Shared>, w: i64, seed: u64) -> BTreeMap<i64, i64> {
    let mut rng = Rng::new(seed);
    let mut model: BTreeMap<i64, i64> = BTreeMap::new();
    let mut next = w * 1_000_000;
    let body = "soak ".repeat(40);
    while !sh.stopped() {
        let val = rng.below(1000) as i64;
        let pick = |rng: &mut Rng, m: &BTreeMap<i64, i64>| m.keys().nth(rng.below(m.len() as u64) as usize).copied();
        let r = rng.below(10);
        let res: aurora_db::Result<()> = if model.len() < KEYS_PER_WRITER as usize && r < 4 || model.is_empty() {
            next += 1;
            let k = next;
            let res = db
                .insert_into(
                    "soak",
                    vec![
                        ("key", Value::Int(k)),
                        ("owner", Value::Int(w)),
                        ("val", Value::Int(val)),
                        ("body", Value::String(body.clone())),
                    ],
                )
                .await;
            res.map(|_| {
                model.insert(k, val);
            })
        } else if r < 7 {
            let k = pick(&mut rng, &model).unwrap();
            match db.query("soak").filter(|f| f.eq("key", k)).update(vec![("val", Value::Int(val))]).await {
                Ok(1) => {
                    model.insert(k, val);
                    Ok(())
                }
                Ok(n) => Err(AuroraError::Other(format!("update of key {k} matched {n}"))),
                Err(e) => Err(e),
            }
        } else if r < 9 {
            let k = pick(&mut rng, &model).unwrap();
            match db.query("soak").filter(|f| f.eq("key", k)).delete().await {
                Ok(1) => {
                    model.remove(&k);
                    Ok(())
                }
                Ok(n) => Err(AuroraError::Other(format!("delete of key {k} matched {n}"))),
                Err(e) => Err(e),
            }
        } else {
            // Transaction: insert one, delete another.
            let victim = pick(&mut rng, &model).unwrap();
            let sid = db.query("soak").filter(|f| f.eq("key", victim)).first_one().await.ok().flatten().map(|d| d._sid);
            next += 1;
            let k = next;
            let mut tx = db.transaction();
            tx.insert("soak", vec![("key", Value::Int(k)), ("owner", Value::Int(w)), ("val", Value::Int(val))]);
            if let Some(sid) = &sid {
                tx.delete("soak", sid).unwrap();
            }
            tx.commit().await.map(|_| {
                model.insert(k, val);
                if sid.is_some() {
                    model.remove(&victim);
                }
            })
        };
        match res {
            Ok(()) => sh.bump(WRITES),
            Err(e) => sh.fail(format!("writer {w}: {e}")),
        }
        if rng.below(50) == 0 {
            tokio::task::yield_now().await;
        }
    }
    model
}

async fn reader(db: Aurora, sh: Arc<Shared>, seed: u64) {
    let mut rng = Rng::new(seed);
    while !sh.stopped() {
        let lo = rng.below(900) as i64;
        let res = match rng.below(5) {
            0 => db.query("soak").count().await.map(|_| ()),
            1 => db.query("soak").filter(|f| f.between("val", lo, lo + 100)).count().await.map(|_| ()),
            2 => db.query("soak").filter(|f| f.gte("val", lo)).order_by("val", false).limit(10).collect().await.map(
                |docs| {
                    if docs.windows(2).any(|p| p[0].data["val"].as_i64() < p[1].data["val"].as_i64()) {
                        sh.fail("order_by returned an unsorted page".into());
                    }
                },
            ),
            3 => {
                let owner = rng.below(WRITERS as u64) as i64;
                db.query("soak").filter(|f| f.eq("owner", owner) & f.lt("val", lo)).collect().await.map(|docs| {
                    if docs.iter().any(|d| d.data["owner"] != Value::Int(owner)) {
                        sh.fail("filter returned a non-matching document".into());
                    }
                })
            }
            _ => {
                let q = format!("query {{ soak(where: {{ val: {{ lt: {lo} }} }}, orderBy: {{ val: ASC }}, limit: 5) {{ key val }} }}");
                let r = db.execute(q.as_str()).await.map(|_| ());
                if r.is_ok() {
                    sh.bump(AQL);
                }
                r
            }
        };
        match res {
            Ok(()) => sh.bump(READS),
            Err(e) => sh.fail(format!("reader: {e}")),
        }
        if rng.below(20) == 0 {
            tokio::task::yield_now().await;
        }
    }
}

/// A reader on a plain OS thread with its own small runtime, as a binding's caller thread.
fn thread_reader(db: Aurora, sh: Arc<Shared>) -> std::thread::JoinHandle<()> {
    std::thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        let mut rng = Rng::new(7);
        while !sh.stopped() {
            let owner = rng.below(WRITERS as u64) as i64;
            match rt.block_on(db.query("soak").filter(|f| f.eq("owner", owner)).count()) {
                Ok(_) => sh.bump(THREAD_READS),
                Err(e) => sh.fail(format!("thread reader: {e}")),
            }
            std::thread::sleep(Duration::from_millis(1));
        }
    })
}

/// Watchers that live for a while, are dropped and recreated (unregistering each time).
async fn watcher(db: Aurora, sh: Arc<Shared>, seed: u64) {
    let mut rng = Rng::new(seed);
    while !sh.stopped() {
        let owner = rng.below(WRITERS as u64) as i64;
        let lo = rng.below(1000) as i64;
        let q = db.query("soak");
        let q = match rng.below(3) {
            0 => q.filter(|f| f.eq("owner", owner)),
            1 => q.filter(|f| f.gte("val", lo)).debounce(Duration::from_millis(20)),
            _ => q.filter(|f| f.lt("val", lo)).order_by("val", true).limit(5),
        };
        let mut w = match q.watch().await {
            Ok(w) => w,
            Err(e) => {
                sh.fail(format!("watch: {e}"));
                continue;
            }
        };
        let until = Instant::now() + Duration::from_millis(200 + rng.below(2000));
        while Instant::now() < until && !sh.stopped() {
            match tokio::time::timeout(Duration::from_millis(100), w.next()).await {
                Ok(Some(_)) => sh.bump(WATCH),
                Ok(None) => {
                    sh.fail("watcher ended while the database is open".into());
                    break;
                }
                Err(_) => {}
            }
        }
    }
}

async fn listener(db: Aurora, sh: Arc<Shared>) {
    let mut l = db.listen_all();
    while !sh.stopped() {
        match tokio::time::timeout(Duration::from_millis(100), l.recv()).await {
            Ok(Ok(_)) => sh.bump(LISTEN),
            Ok(Err(AuroraError::Lagged(n))) => {
                sh.lagged.fetch_add(n, Ordering::Relaxed);
            }
            Ok(Err(e)) => sh.fail(format!("listener: {e}")),
            Err(_) => {}
        }
    }
}

async fn subscriber(db: Aurora, sh: Arc<Shared>) {
    while !sh.stopped() {
        let mut s = match db.stream("subscription { soak(where: { val: { gte: 500 } }) { key val } }").await {
            Ok(s) => s,
            Err(e) => {
                sh.fail(format!("stream: {e}"));
                continue;
            }
        };
        let until = Instant::now() + Duration::from_secs(3);
        while Instant::now() < until && !sh.stopped() {
            match tokio::time::timeout(Duration::from_millis(100), s.recv()).await {
                Ok(Ok(ev)) => {
                    if ev.data["val"].as_i64().is_some_and(|v| v < 500) && ev.to_json()["leftFilter"] != true {
                        sh.fail(format!("subscription delivered a non-matching document: {}", ev.data));
                    }
                    sh.bump(STREAM);
                }
                Ok(Err(AuroraError::Lagged(n))) => {
                    sh.lagged.fetch_add(n, Ordering::Relaxed);
                }
                Ok(Err(e)) => sh.fail(format!("stream recv: {e}")),
                Err(_) => {}
            }
        }
    }
}

async fn producer(db: Aurora, workers: WorkerSystem, sh: Arc<Shared>) {
    let mut n = 0i64;
    while !sh.stopped() {
        n += 1;
        let job = if n % 4 == 0 {
            db.execute(format!("mutation {{ enqueueJob(jobType: \"soak\", payload: {{ n: {n} }}) {{ id }} }}").as_str())
                .await
                .map(|_| ())
        } else {
            workers.enqueue(Job::new("soak").add_field("n", n)).await.map(|_| ())
        };
        match job {
            Ok(()) => sh.bump(ENQUEUED),
            Err(e) => sh.fail(format!("enqueue: {e}")),
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

async fn maintenance(db: Aurora, sh: Arc<Shared>) {
    let mut i = 0u64;
    while !sh.stopped() {
        tokio::time::sleep(Duration::from_millis(500)).await;
        i += 1;
        let res = match i % 6 {
            0 => db.compact().await,
            3 => db.verify().await,
            _ => db.checkpoint().await,
        };
        match res {
            Ok(()) => sh.bump(MAINT),
            Err(e) => sh.fail(format!("maintenance: {e}")),
        }
    }
}

/// Exits the whole process if any component stops making progress: a deadlock must not hang CI.
fn watchdog(sh: Arc<Shared>, done: Arc<AtomicBool>) -> std::thread::JoinHandle<()> {
    std::thread::spawn(move || {
        let mut last: Vec<(u64, Instant)> =
            sh.counts.iter().map(|c| (c.load(Ordering::Relaxed), Instant::now())).collect();
        while !done.load(Ordering::Relaxed) {
            std::thread::sleep(Duration::from_millis(500));
            let stopping = sh.stopped();
            for (i, c) in sh.counts.iter().enumerate() {
                let v = c.load(Ordering::Relaxed);
                if v != last[i].0 {
                    last[i] = (v, Instant::now());
                } else if !stopping && last[i].1.elapsed() > STALL {
                    eprintln!(
                        "WATCHDOG: no progress in `{}` for {STALL:?} (counts: {:?}) — deadlock or starvation",
                        COMPONENTS[i],
                        sh.counts.iter().map(|c| c.load(Ordering::Relaxed)).collect::<Vec<_>>()
                    );
                    std::process::exit(3);
                }
            }
            // Shutting down must not take longer than a stall either.
            if stopping && last.iter().all(|(_, t)| t.elapsed() > STALL * 2) {
                eprintln!("WATCHDOG: shutdown of the soak did not finish — deadlock");
                std::process::exit(3);
            }
        }
    })
}

#[test]
fn soak_concurrent_everything() {
    let secs = env_u64("AURORA_SOAK_SECS", 60);
    let seed = seed(0x50A4);
    let tmp = tempfile::tempdir().unwrap();
    let cfg = AuroraConfig {
        db_path: tmp.path().join("db"),
        durability_mode: DurabilityMode::WAL,
        hot_cache_size_mb: 4,
        cold_cache_capacity_mb: 16,
        checkpoint_interval_ms: 1_000,
        write_buffer_flush_interval_ms: 50,
        ..Default::default()
    };
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(3).enable_all().build().unwrap();
    let sh = Arc::new(Shared {
        counts: Default::default(),
        stop: AtomicBool::new(false),
        errors: Mutex::new(Vec::new()),
        lagged: AtomicU64::new(0),
    });
    let done = Arc::new(AtomicBool::new(false));
    let dog = watchdog(sh.clone(), done.clone());
    let rss_start = rss_kib().unwrap_or(0);
    let started = Instant::now();
    let (models, samples, jobs_completed) = rt.block_on(async {
        let db = Aurora::with_config(cfg.clone()).await.unwrap();
        db.new_collection(
            "soak",
            vec![
                ("key", def(FieldType::Int, true, true)),
                ("owner", def(FieldType::Int, false, true)),
                ("val", def(FieldType::Int, false, true)),
                ("body", def(FieldType::String, false, false)),
            ],
        )
        .await
        .unwrap();
        let workers = WorkerSystem::new(
            &db,
            WorkerConfig { concurrency: 2, poll_interval: Duration::from_millis(50), ..Default::default() },
        )
        .unwrap();
        {
            let (db, sh) = (db.clone(), sh.clone());
            workers.register_handler("soak", move |job: Job| {
                let (db, sh) = (db.clone(), sh.clone());
                async move {
                    let n = job.payload.get("n").and_then(|v| v.as_i64()).unwrap_or(0);
                    db.query("soak").filter(|f| f.eq("val", n % 1000)).count().await?;
                    sh.bump(JOBS_DONE);
                    Ok(())
                }
            });
        }
        workers.start().await.unwrap();
        let mut writers = Vec::new();
        for w in 0..WRITERS {
            writers.push(tokio::spawn(writer(db.clone(), sh.clone(), w, seed + w as u64)));
        }
        let mut others = Vec::new();
        for r in 0..2 {
            others.push(tokio::spawn(reader(db.clone(), sh.clone(), seed + 100 + r)));
            others.push(tokio::spawn(watcher(db.clone(), sh.clone(), seed + 200 + r)));
        }
        others.push(tokio::spawn(listener(db.clone(), sh.clone())));
        others.push(tokio::spawn(subscriber(db.clone(), sh.clone())));
        others.push(tokio::spawn(producer(db.clone(), workers.clone(), sh.clone())));
        others.push(tokio::spawn(maintenance(db.clone(), sh.clone())));
        let thread = thread_reader(db.clone(), sh.clone());

        let mut samples: Vec<(f64, u64)> = Vec::new();
        let end = started + Duration::from_secs(secs);
        while Instant::now() < end {
            tokio::time::sleep(Duration::from_secs(1)).await;
            if let Some(r) = rss_kib() {
                samples.push((started.elapsed().as_secs_f64(), r));
            }
        }
        sh.stop.store(true, Ordering::SeqCst);
        let mut models = Vec::new();
        for w in writers {
            models.push(w.await.unwrap());
        }
        for t in others {
            t.await.unwrap();
        }
        thread.join().unwrap();
        workers.stop().await.unwrap();
        let jobs_completed = workers.stats().completed;

        // Final state: each writer's documents are exactly its model, before and after a reopen.
        let check = |db: Aurora, models: Vec<BTreeMap<i64, i64>>| async move {
            db.verify().await.unwrap();
            for (w, model) in models.iter().enumerate() {
                let docs = db.query("soak").filter(|f| f.eq("owner", w as i64)).collect().await.unwrap();
                let got: BTreeMap<i64, i64> =
                    docs.iter().map(|d| (d.data["key"].as_i64().unwrap(), d.data["val"].as_i64().unwrap())).collect();
                assert_eq!(got.len(), docs.len(), "writer {w}: duplicate keys");
                assert!(got == *model, "writer {w}: {} documents vs {} in the model", got.len(), model.len());
            }
            models
        };
        let models = check(db.clone(), models).await;
        db.close().await.unwrap();
        drop(db);
        let db = Aurora::with_config(cfg.clone()).await.unwrap();
        let models = check(db.clone(), models).await;
        db.close().await.unwrap();
        (models, samples, jobs_completed)
    });
    done.store(true, Ordering::SeqCst);
    dog.join().unwrap();
    drop(rt);

    let elapsed = started.elapsed();
    let counts: Vec<u64> = sh.counts.iter().map(|c| c.load(Ordering::Relaxed)).collect();
    let total: u64 = counts.iter().sum();
    let warmup = (secs as f64 / 4.0).max(10.0).min(secs as f64);
    let warm_peak = samples.iter().filter(|(t, _)| *t <= warmup).map(|s| s.1).max().unwrap_or(rss_start);
    let later_peak = samples.iter().filter(|(t, _)| *t > warmup).map(|s| s.1).max().unwrap_or(warm_peak);
    let last = samples.last().map_or(0, |s| s.1);
    let bound = warm_peak * 2 + 64 * 1024;
    let errors = sh.errors.lock().unwrap().clone();
    eprintln!(
        "RESULT soak: {secs} s ({elapsed:.1?} with checks), {total} operations/events: {}; {jobs_completed} jobs completed; \
         {} events lagged; live docs at the end {}; RSS KiB: start {rss_start}, warm-up peak {warm_peak} (first {warmup:.0} s), \
         later peak {later_peak}, last {last}, bound {bound}",
        COMPONENTS.iter().zip(&counts).map(|(n, c)| format!("{n} {c}")).collect::<Vec<_>>().join(", "),
        sh.lagged.load(Ordering::Relaxed),
        models.iter().map(|m| m.len()).sum::<usize>(),
    );
    assert!(errors.is_empty(), "{} operations failed:\n{}", errors.len(), errors.join("\n"));
    for (i, c) in counts.iter().enumerate() {
        assert!(*c > 0, "`{}` never made progress", COMPONENTS[i]);
    }
    assert!(later_peak <= bound, "RSS grew from {warm_peak} KiB after warm-up to {later_peak} KiB (bound {bound})");
}
