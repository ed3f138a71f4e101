//! Job queue at scale: N jobs enqueued by one process, then a fresh process opens the database
//! and claims and completes jobs. Memory is read from `/proc/self/status` of each process
//! (`VmHWM` peak, `VmRSS` current), so it shows what the queue keeps in memory, not what the
//! loader did.
//!
//! `cargo bench -p aurora-db --bench jobs -- --n 1000000` (default N = 100,000; `--path DIR`
//! keeps the database there).

use aurora_db::workers::{Job, JobPriority, WorkerConfig, WorkerSystem};
use aurora_db::{Aurora, AuroraConfig};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

fn proc_status_kib(field: &str) -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| s.lines().find(|l| l.starts_with(field)).and_then(|l| l.split_whitespace().nth(1)?.parse().ok()))
        .unwrap_or(0)
}

fn config(path: &Path) -> AuroraConfig {
    AuroraConfig { db_path: path.to_path_buf(), ..Default::default() }
}

fn priority(i: u64) -> JobPriority {
    match i % 4 {
        0 => JobPriority::Low,
        1 => JobPriority::Normal,
        2 => JobPriority::High,
        _ => JobPriority::Critical,
    }
}

async fn enqueue_phase(path: &Path, n: u64) {
    let db = Aurora::with_config(config(path)).await.expect("open");
    let workers = WorkerSystem::new(&db, WorkerConfig::default()).expect("workers");
    let started = Instant::now();
    for i in 0..n {
        workers.enqueue(Job::new("work").add_field("i", i).with_priority(priority(i))).await.expect("enqueue");
    }
    let spent = started.elapsed();
    db.close().await.expect("close");
    println!(
        "enqueue: {n} jobs in {:.2} s ({:.0}/s), peak RSS {} MiB",
        spent.as_secs_f64(),
        n as f64 / spent.as_secs_f64(),
        proc_status_kib("VmHWM") / 1024
    );
}

async fn run_phase(path: &Path, n: u64) {
    let started = Instant::now();
    let db = Aurora::with_config(config(path)).await.expect("open");
    let open = started.elapsed();
    let t = Instant::now();
    let workers = WorkerSystem::new(&db, WorkerConfig::default()).expect("workers");
    let first_use = t.elapsed();
    let rss_open = proc_status_kib("VmRSS");
    let t = Instant::now();
    let stats = workers.stats();
    let stats_t = t.elapsed();
    assert_eq!(stats.pending as u64, n, "every job is pending after the reopen");
    // Claim and complete jobs one at a time through a worker: time per job.
    let done = std::sync::Arc::new(std::sync::atomic::AtomicU64::new(0));
    let d = done.clone();
    workers.register_handler("work", move |_job: Job| {
        let d = d.clone();
        async move {
            d.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            Ok(())
        }
    });
    let target = n.min(20_000);
    let t = Instant::now();
    workers.start().await.expect("start");
    while done.load(std::sync::atomic::Ordering::Relaxed) < target {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let ran = t.elapsed();
    workers.stop().await.expect("stop");
    let after = workers.stats();
    db.close().await.expect("close");
    println!(
        "reopen: open {:.1} ms, queue first use {:.1} ms, stats {:.1} µs, RSS after open {} MiB",
        open.as_secs_f64() * 1e3,
        first_use.as_secs_f64() * 1e3,
        stats_t.as_secs_f64() * 1e6,
        rss_open / 1024
    );
    println!(
        "run: {} jobs claimed and completed in {:.2} s ({:.0} µs each, 4 workers), pending {} → {}, peak RSS {} MiB",
        done.load(std::sync::atomic::Ordering::Relaxed),
        ran.as_secs_f64(),
        ran.as_secs_f64() * 1e6 / target as f64,
        stats.pending,
        after.pending,
        proc_status_kib("VmHWM") / 1024
    );
}

fn main() {
    let mut args = std::env::args().skip(1);
    let (mut n, mut path, mut phase) = (100_000u64, None::<PathBuf>, None::<String>);
    while let Some(a) = args.next() {
        match a.as_str() {
            "--n" => n = args.next().and_then(|v| v.replace('_', "").parse().ok()).unwrap_or(n),
            "--path" => path = args.next().map(PathBuf::from),
            "--phase" => phase = args.next(),
            _ => {} // cargo bench passes `--bench`
        }
    }
    let rt = tokio::runtime::Builder::new_multi_thread().enable_all().build().expect("runtime");
    match (phase.as_deref(), &path) {
        (Some("enqueue"), Some(p)) => rt.block_on(enqueue_phase(p, n)),
        (Some("run"), Some(p)) => rt.block_on(run_phase(p, n)),
        _ => {
            let tmp = tempfile::tempdir().expect("tempdir");
            let p = path.unwrap_or_else(|| tmp.path().join("jobs"));
            let exe = std::env::current_exe().expect("exe");
            for phase in ["enqueue", "run"] {
                let status = Command::new(&exe)
                    .args(["--phase", phase, "--n", &n.to_string()])
                    .arg("--path")
                    .arg(&p)
                    .status()
                    .expect("spawn");
                assert!(status.success(), "{phase} phase failed");
            }
        }
    }
}
