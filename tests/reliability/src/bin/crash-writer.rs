//! Child process of the crash tests: writes a mixed workload and prints each acknowledged
//! write on stdout (`A seq`, `T grp`, `D seq`, `U seq`, `J seq job-id`) until it is killed.
//! Meanwhile two workers run the enqueued jobs (see [`aurora_reliability::run_job`]).
//!
//! Usage: crash-writer DB_DIR MODE START   (MODE: none | wal | strict | sync)

use aurora_db::workers::{Job, WorkerSystem};
use aurora_db::{Aurora, AuroraConfig, DurabilityMode, Value};
use aurora_reliability::{create_schema, job_worker_config, run_job, JOB_EVERY, TX_OFFSET};
use std::io::Write;

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().collect();
    if args.len() != 4 {
        return Err("usage: crash-writer DB_DIR MODE START".into());
    }
    let mode = match args[2].as_str() {
        "none" => DurabilityMode::None,
        "wal" => DurabilityMode::WAL,
        "strict" => DurabilityMode::Strict,
        "sync" => DurabilityMode::Synchronous,
        other => return Err(format!("unknown mode {other}").into()),
    };
    let start: i64 = args[3].parse()?;
    let db = Aurora::with_config(AuroraConfig {
        db_path: args[1].clone().into(),
        durability_mode: mode,
        checkpoint_interval_ms: 150,
        write_buffer_flush_interval_ms: 20,
        ..Default::default()
    })
    .await?;
    create_schema(&db).await?;
    let workers = WorkerSystem::new(&db, job_worker_config())?;
    let handler_db = db.clone();
    workers.register_handler("crash-job", move |job: Job| run_job(handler_db.clone(), job));
    workers.start().await?;
    let out = std::io::stdout();
    let mut out = out.lock();
    writeln!(out, "READY")?;
    out.flush()?;
    let mut i = start;
    loop {
        let seq = i;
        db.insert_into(
            "items",
            vec![
                ("seq", Value::Int(seq)),
                ("email", Value::String(format!("e{seq}@x.io"))),
                ("grp", Value::Int(seq)),
                ("age", Value::Int(seq % 97)),
            ],
        )
        .await?;
        writeln!(out, "A {seq}")?;
        if seq % 5 == 0 {
            let mut tx = db.transaction();
            for k in 0..2 {
                let s = seq + TX_OFFSET + k;
                tx.insert(
                    "items",
                    vec![
                        ("seq", Value::Int(s)),
                        ("email", Value::String(format!("e{s}@x.io"))),
                        ("grp", Value::Int(seq + TX_OFFSET)),
                    ],
                );
            }
            tx.commit().await?;
            writeln!(out, "T {}", seq + TX_OFFSET)?;
        }
        if seq % 7 == 0 && seq - 2 >= start {
            let n = db
                .query("items")
                .filter(|f| f.eq("seq", Value::Int(seq - 2)))
                .update(vec![("age", Value::Int(-1))])
                .await?;
            if n == 1 {
                writeln!(out, "U {}", seq - 2)?;
            }
        }
        if seq % 11 == 0 && seq - 3 >= start {
            let n = db.query("items").filter(|f| f.eq("seq", Value::Int(seq - 3))).delete().await?;
            if n == 1 {
                writeln!(out, "D {}", seq - 3)?;
            }
        }
        if seq % JOB_EVERY == 0 {
            let id = workers.enqueue(Job::new("crash-job").add_field("n", seq)).await?;
            writeln!(out, "J {seq} {id}")?;
        }
        out.flush()?;
        i += 1;
    }
}
