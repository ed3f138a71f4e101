//! The durable job queue and the worker pool.

mod common;
use aurora_db::workers::{Job, JobPriority, JobStatus, WorkerConfig, WorkerSystem};
use aurora_db::{Aurora, AuroraConfig};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

async fn wait_until(mut f: impl FnMut() -> bool) {
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    while !f() {
        assert!(std::time::Instant::now() < deadline, "condition not reached in time");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn readme_style_handler_reads_its_payload() {
    let dir = tempfile::tempdir().unwrap();
    let db = Aurora::open(dir.path().join("db")).await.unwrap();
    let workers = WorkerSystem::new(&db, WorkerConfig::default()).unwrap();
    let seen = Arc::new(Mutex::new(Vec::new()));
    let s2 = seen.clone();
    workers.register_handler("send_email", move |job: Job| {
        let s2 = s2.clone();
        async move {
            let to = job.payload.get("to").and_then(|v| v.as_str()).ok_or("missing to")?.to_string();
            s2.lock().unwrap().push(to);
            Ok(())
        }
    });
    workers.start().await.unwrap();
    let id = workers
        .enqueue(Job::new("send_email").add_field("to", "alice@example.com").with_priority(JobPriority::High))
        .await
        .unwrap();
    wait_until(|| workers.get_status(&id) == Some(JobStatus::Completed)).await;
    assert_eq!(*seen.lock().unwrap(), vec!["alice@example.com".to_string()]);
    workers.stop().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn priority_order_then_fifo_within_a_priority() {
    let dir = tempfile::tempdir().unwrap();
    let db = Aurora::open(dir.path().join("db")).await.unwrap();
    let workers = WorkerSystem::new(&db, WorkerConfig { concurrency: 1, ..Default::default() }).unwrap();
    let order = Arc::new(Mutex::new(Vec::new()));
    let o2 = order.clone();
    workers.register_handler("t", move |job: Job| {
        let o2 = o2.clone();
        async move {
            o2.lock().unwrap().push(job.payload["n"].as_str().unwrap_or("").to_string());
            Ok(())
        }
    });
    let jobs = [
        ("low1", JobPriority::Low),
        ("norm1", JobPriority::Normal),
        ("crit1", JobPriority::Critical),
        ("high1", JobPriority::High),
        ("norm2", JobPriority::Normal),
        ("crit2", JobPriority::Critical),
        ("low2", JobPriority::Low),
    ];
    for (n, p) in jobs {
        workers.enqueue(Job::new("t").add_field("n", n).with_priority(p)).await.unwrap();
    }
    workers.start().await.unwrap();
    wait_until(|| order.lock().unwrap().len() == 7).await;
    assert_eq!(*order.lock().unwrap(), ["crit1", "crit2", "high1", "norm1", "norm2", "low1", "low2"]);
    workers.stop().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failing_job_retries_with_backoff_then_dead_letters_and_can_be_retried() {
    let dir = tempfile::tempdir().unwrap();
    let db = Aurora::open(dir.path().join("db")).await.unwrap();
    let workers = WorkerSystem::new(&db, WorkerConfig { retry_base_ms: 20, ..Default::default() }).unwrap();
    let attempts = Arc::new(Mutex::new(Vec::new()));
    let a2 = attempts.clone();
    let fail = Arc::new(std::sync::atomic::AtomicBool::new(true));
    let f2 = fail.clone();
    workers.register_handler("flaky", move |job: Job| {
        let (a2, f2) = (a2.clone(), f2.clone());
        async move {
            a2.lock().unwrap().push((job.attempts, std::time::Instant::now()));
            if f2.load(Ordering::SeqCst) {
                Err("downstream unavailable".into())
            } else {
                Ok(())
            }
        }
    });
    workers.start().await.unwrap();
    let id = workers.enqueue(Job::new("flaky").with_max_retries(2)).await.unwrap();
    wait_until(|| workers.get_status(&id) == Some(JobStatus::DeadLetter)).await;
    let seen = attempts.lock().unwrap().clone();
    assert_eq!(
        seen.iter().map(|(a, _)| *a).collect::<Vec<_>>(),
        vec![1, 2, 3],
        "first run + 2 retries, attempt count visible"
    );
    let gap1 = seen[1].1 - seen[0].1;
    let gap2 = seen[2].1 - seen[1].1;
    assert!(
        gap1 >= Duration::from_millis(14) && gap1 < Duration::from_secs(1),
        "first retry within a second: {gap1:?}"
    );
    assert!(gap2 > gap1, "backoff grows: {gap1:?} then {gap2:?}");
    let dead = workers.dead_letters();
    assert_eq!(dead.len(), 1);
    assert_eq!(dead[0].last_error.as_deref(), Some("downstream unavailable"));
    fail.store(false, Ordering::SeqCst);
    workers.retry_dead_letter(&id).await.unwrap();
    wait_until(|| workers.get_status(&id) == Some(JobStatus::Completed)).await;
    assert!(workers.retry_dead_letter(&id).await.is_err(), "only dead letters can be retried");
    assert_eq!(workers.stats().completed, 1);
    workers.stop().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn timeouts_scheduling_and_panicking_handlers() {
    let dir = tempfile::tempdir().unwrap();
    let db = Aurora::open(dir.path().join("db")).await.unwrap();
    let workers = WorkerSystem::new(&db, WorkerConfig { retry_base_ms: 10, ..Default::default() }).unwrap();
    workers.register_handler("slow", |_job: Job| async {
        tokio::time::sleep(Duration::from_secs(5)).await;
        Ok(())
    });
    workers.register_handler("boom", |_job: Job| async { panic!("handler bug") });
    let ran_at = Arc::new(Mutex::new(None));
    let r2 = ran_at.clone();
    workers.register_handler("later", move |_job: Job| {
        let r2 = r2.clone();
        async move {
            *r2.lock().unwrap() = Some(std::time::Instant::now());
            Ok(())
        }
    });
    workers.start().await.unwrap();
    let slow =
        workers.enqueue(Job::new("slow").with_timeout(Duration::from_millis(50)).with_max_retries(0)).await.unwrap();
    let boom = workers.enqueue(Job::new("boom").with_max_retries(0)).await.unwrap();
    let t0 = std::time::Instant::now();
    let later = workers.enqueue(Job::new("later").with_delay(Duration::from_millis(300))).await.unwrap();
    wait_until(|| workers.get_status(&slow) == Some(JobStatus::DeadLetter)).await;
    assert!(workers.get_job(&slow).unwrap().last_error.unwrap().contains("timed out"));
    wait_until(|| workers.get_status(&boom) == Some(JobStatus::DeadLetter)).await;
    assert!(workers.get_job(&boom).unwrap().last_error.unwrap().contains("panicked"));
    wait_until(|| workers.get_status(&later) == Some(JobStatus::Completed)).await;
    assert!(ran_at.lock().unwrap().unwrap() - t0 >= Duration::from_millis(290), "scheduled job waited");
    workers.stop().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn five_thousand_jobs_complete_exactly_once() {
    let dir = tempfile::tempdir().unwrap();
    let db =
        Aurora::with_config(AuroraConfig { workers_enabled: true, worker_threads: 4, ..common::config(dir.path()) })
            .await
            .unwrap();
    let workers = db.workers().unwrap();
    let runs = Arc::new(Mutex::new(std::collections::HashMap::<String, usize>::new()));
    let r2 = runs.clone();
    workers.register_handler("noop", move |job: Job| {
        let r2 = r2.clone();
        async move {
            *r2.lock().unwrap().entry(job.id.clone()).or_default() += 1;
            Ok(())
        }
    });
    workers.start().await.unwrap();
    let mut ids = Vec::new();
    for i in 0..5000 {
        ids.push(db.enqueue(Job::new("noop").add_field("i", i)).await.unwrap());
    }
    wait_until(|| workers.stats().completed == 5000).await;
    {
        let runs = runs.lock().unwrap();
        assert_eq!(runs.len(), 5000);
        assert!(runs.values().all(|&n| n == 1), "a job ran twice");
        assert!(ids.iter().all(|id| runs.contains_key(id)));
    }
    workers.stop().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn jobs_survive_restart_and_aql_enqueue_reaches_the_queue() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("db");
    let id = {
        let db = Aurora::open(&path).await.unwrap();
        let r = db
            .execute("mutation { enqueueJob(jobType: \"mail\", payload: { to: \"a@x.io\" }, priority: CRITICAL, maxRetries: 5) { id } }")
            .await
            .unwrap()
            .to_json();
        let id = r["enqueueJob"]["id"].as_str().unwrap().to_string();
        let w = db.workers().unwrap();
        assert_eq!(w.get_status(&id), Some(JobStatus::Pending));
        let job = w.get_job(&id).unwrap();
        assert_eq!((job.priority, job.max_retries), (JobPriority::Critical, 5));
        id
    };
    let db = Aurora::open(&path).await.unwrap();
    let w = db.workers().unwrap();
    assert_eq!(w.get_status(&id), Some(JobStatus::Pending), "pending job persisted");
    let done = Arc::new(AtomicUsize::new(0));
    let d2 = done.clone();
    w.register_handler("mail", move |job: Job| {
        let d2 = d2.clone();
        async move {
            assert_eq!(job.payload["to"], "a@x.io");
            d2.fetch_add(1, Ordering::SeqCst);
            Ok(())
        }
    });
    w.start().await.unwrap();
    wait_until(|| w.get_status(&id) == Some(JobStatus::Completed)).await;
    assert_eq!(done.load(Ordering::SeqCst), 1);
    w.stop().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stop_returns_unfinished_jobs_to_pending() {
    let dir = tempfile::tempdir().unwrap();
    let db = Aurora::open(dir.path().join("db")).await.unwrap();
    let workers =
        WorkerSystem::new(&db, WorkerConfig { stop_timeout: Duration::from_millis(100), ..Default::default() })
            .unwrap();
    workers.register_handler("stuck", |_job: Job| async {
        tokio::time::sleep(Duration::from_secs(60)).await;
        Ok(())
    });
    workers.start().await.unwrap();
    let id = workers.enqueue(Job::new("stuck")).await.unwrap();
    wait_until(|| workers.get_status(&id) == Some(JobStatus::Running)).await;
    workers.stop().await.unwrap();
    let job = workers.get_job(&id).unwrap();
    assert_eq!(job.status, JobStatus::Pending);
    assert_eq!(job.attempts, 0, "an interrupted attempt is not counted");
}

/// Counts handler calls running at once, and the most ever seen.
#[derive(Default)]
struct Overlap {
    now: std::sync::atomic::AtomicUsize,
    max: std::sync::atomic::AtomicUsize,
}

/// Leaves the overlap count when dropped: with the handler's future, or its host thread.
struct Running(Arc<Overlap>);

impl Running {
    fn enter(o: &Arc<Overlap>) -> Running {
        let n = o.now.fetch_add(1, Ordering::SeqCst) + 1;
        o.max.fetch_max(n, Ordering::SeqCst);
        Running(o.clone())
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        self.0.now.fetch_sub(1, Ordering::SeqCst);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn attempts_that_time_out_never_overlap_and_see_their_cancellation() {
    let dir = tempfile::tempdir().unwrap();
    let db = Aurora::open(dir.path().join("db")).await.unwrap();
    let workers =
        WorkerSystem::new(&db, WorkerConfig { concurrency: 4, retry_base_ms: 1, ..Default::default() }).unwrap();
    let overlap = Arc::new(Overlap::default());
    let saw_cancel = Arc::new(AtomicUsize::new(0));
    let (o, s, ws) = (overlap.clone(), saw_cancel.clone(), workers.clone());
    workers.register_handler("slow", move |job: Job| {
        let (o, s, ws) = (o.clone(), s.clone(), ws.clone());
        async move {
            let running = Running::enter(&o);
            let token = job.cancel.clone();
            // A host thread that ignores the signal for a while: the attempt lasts until it ends,
            // and the signal it reads by job id (as the bindings do) stays raised meanwhile.
            tokio::task::spawn_blocking(move || {
                let _held = (running, token.clone());
                std::thread::sleep(Duration::from_millis(60));
                if token.is_cancelled() && ws.is_cancelled(&job.id) {
                    s.fetch_add(1, Ordering::SeqCst);
                }
            })
            .await
            .map_err(|e| e.to_string())?;
            Ok(())
        }
    });
    workers.start().await.unwrap();
    let id =
        workers.enqueue(Job::new("slow").with_timeout(Duration::from_millis(5)).with_max_retries(3)).await.unwrap();
    wait_until(|| workers.get_status(&id) == Some(JobStatus::DeadLetter)).await;
    let job = workers.get_job(&id).unwrap();
    assert_eq!(job.attempts, 4);
    assert!(job.last_error.unwrap_or_default().contains("timed out"));
    assert_eq!(overlap.max.load(Ordering::SeqCst), 1, "attempts of one job overlapped");
    assert_eq!(saw_cancel.load(Ordering::SeqCst), 4, "every attempt saw its cancellation");
    workers.stop().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stop_and_close_return_after_every_handler_call_and_release_the_handlers() {
    let dir = tempfile::tempdir().unwrap();
    let db = Aurora::open(dir.path().join("db")).await.unwrap();
    let workers =
        WorkerSystem::new(&db, WorkerConfig { stop_timeout: Duration::from_millis(20), ..Default::default() }).unwrap();
    let overlap = Arc::new(Overlap::default());
    let captured = Arc::new(());
    let (o, c) = (overlap.clone(), captured.clone());
    workers.register_handler("long", move |job: Job| {
        let (o, _c) = (o.clone(), c.clone());
        async move {
            let running = Running::enter(&o);
            let token = job.cancel.clone();
            tokio::task::spawn_blocking(move || {
                let _held = (running, token);
                std::thread::sleep(Duration::from_millis(200));
            })
            .await
            .map_err(|e| e.to_string())?;
            Ok(())
        }
    });
    workers.start().await.unwrap();
    let id = workers.enqueue(Job::new("long")).await.unwrap();
    wait_until(|| overlap.now.load(Ordering::SeqCst) == 1).await;
    workers.stop().await.unwrap();
    assert_eq!(overlap.now.load(Ordering::SeqCst), 0, "stop returned while a handler call was running");
    assert_eq!(workers.get_status(&id), Some(JobStatus::Pending), "the interrupted job waits for the next start");

    workers.start().await.unwrap();
    wait_until(|| overlap.now.load(Ordering::SeqCst) == 1).await;
    db.close().await.unwrap();
    assert_eq!(overlap.now.load(Ordering::SeqCst), 0, "close returned while a handler call was running");
    assert_eq!(Arc::strong_count(&captured), 1, "close released the handler and what it captured");
}
