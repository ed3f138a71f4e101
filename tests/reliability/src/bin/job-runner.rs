//! Child process of the job-recovery test. `job-runner DB enqueue` enqueues one job and prints
//! its id; `job-runner DB hang` runs workers whose handler prints `RUNNING id attempt` and
//! never returns (the parent SIGKILLs it); `job-runner DB finish` runs a handler that prints
//! `DONE id attempt` and exits once the job completed.

use aurora_db::workers::{Job, WorkerConfig, WorkerSystem};
use aurora_db::Aurora;
use std::io::Write;
use std::time::Duration;

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().collect();
    if args.len() != 3 {
        return Err("usage: job-runner DB enqueue|hang|finish".into());
    }
    let db = Aurora::open(&args[1]).await?;
    let workers = WorkerSystem::new(&db, WorkerConfig { concurrency: 1, ..Default::default() })?;
    match args[2].as_str() {
        "enqueue" => {
            let id = workers.enqueue(Job::new("report").add_field("n", 1)).await?;
            println!("{id}");
            db.close().await?;
        }
        "hang" => {
            workers.register_handler("report", |job: Job| async move {
                println!("RUNNING {} {}", job.id, job.attempts);
                let _ = std::io::stdout().flush();
                tokio::time::sleep(Duration::from_secs(3600)).await;
                Ok(())
            });
            workers.start().await?;
            tokio::time::sleep(Duration::from_secs(3600)).await;
        }
        "finish" => {
            workers.register_handler("report", |job: Job| async move {
                println!("DONE {} {}", job.id, job.attempts);
                Ok(())
            });
            workers.start().await?;
            loop {
                let stats = workers.stats();
                if stats.completed > 0 && stats.pending == 0 && stats.running == 0 {
                    break;
                }
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
            if workers.stats().completed != 1 || !workers.dead_letters().is_empty() {
                return Err("the job did not complete exactly once".into());
            }
            workers.stop().await?;
            db.close().await?;
        }
        other => return Err(format!("unknown mode {other}").into()),
    }
    Ok(())
}
