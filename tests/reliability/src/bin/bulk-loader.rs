//! Child process of the checkpoint-kill test: bulk-loads `users` documents in batches of
//! 1,000 while another thread checkpoints in a loop, and reports on stdout each acknowledged
//! batch (`B first_seq`) and each checkpoint (`C start`, `C end <ms>`), until it is killed.
//!
//! Usage: bulk-loader DB_DIR N

use aurora_db::types::FieldDefinition;
use aurora_db::{Aurora, AuroraConfig, FieldType, Value};
use std::io::Write;
use std::sync::{Arc, Mutex};
use std::time::Instant;

fn field(t: FieldType, unique: bool, indexed: bool) -> FieldDefinition {
    FieldDefinition { field_type: t, unique, indexed, nullable: true }
}

/// Prints one line and flushes: the parent reads lines as they come.
fn say(out: &Mutex<std::io::Stdout>, line: String) {
    let mut o = out.lock().unwrap_or_else(|e| e.into_inner());
    let _ = writeln!(o, "{line}");
    let _ = o.flush();
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().collect();
    if args.len() != 3 {
        return Err("usage: bulk-loader DB_DIR N".into());
    }
    let n: i64 = args[2].parse()?;
    let db = Aurora::with_config(AuroraConfig { db_path: args[1].clone().into(), ..Default::default() }).await?;
    db.new_collection(
        "users",
        vec![
            ("seq", field(FieldType::Int, true, true)),
            ("email", field(FieldType::String, true, true)),
            ("age", field(FieldType::Int, false, true)),
            ("active", field(FieldType::Boolean, false, false)),
        ],
    )
    .await?;
    let out = Arc::new(Mutex::new(std::io::stdout()));
    say(&out, "READY".into());
    {
        let (db, out) = (db.clone(), out.clone());
        tokio::spawn(async move {
            loop {
                say(&out, "C start".into());
                let t = Instant::now();
                if let Err(e) = db.checkpoint().await {
                    say(&out, format!("E checkpoint: {e}"));
                    return;
                }
                say(&out, format!("C end {}", t.elapsed().as_millis()));
                tokio::time::sleep(std::time::Duration::from_millis(5)).await;
            }
        });
    }
    let mut seq = 0;
    while seq < n {
        let first = seq;
        let docs = (0..1000)
            .map(|_| {
                seq += 1;
                let mut d = aurora_db::types::DocData::default();
                d.insert("seq".into(), Value::Int(seq));
                d.insert("email".into(), Value::String(format!("user{seq}@example.com")));
                d.insert("age".into(), Value::Int(18 + seq % 63));
                d.insert("active".into(), Value::Bool(seq % 3 != 0));
                d
            })
            .collect();
        db.batch_insert("users", docs).await?;
        say(&out, format!("B {first}"));
    }
    say(&out, "DONE".into());
    // Wait to be killed.
    loop {
        tokio::time::sleep(std::time::Duration::from_secs(60)).await;
    }
}
