//! The README's main demo: an embedded database in `./aurora-demo.db`, a schema, writes,
//! queries, a transaction, live change events and a reopen.
//!
//! Run: `cargo run --release --example quickstart [DB_DIR]`

use aurora_db::types::FieldDefinition;
use aurora_db::{Aurora, AuroraConfig, FieldType, Value};
use std::time::Instant;

#[tokio::main]
async fn main() -> aurora_db::Result<()> {
    let path = std::env::args().nth(1).unwrap_or_else(|| "aurora-demo.db".to_string());
    let db = Aurora::with_config(AuroraConfig { db_path: path.clone().into(), ..Default::default() }).await?;
    println!("opened {path}");

    db.new_collection(
        "users",
        vec![
            (
                "email",
                FieldDefinition { field_type: FieldType::SCALAR_STRING, unique: true, indexed: true, nullable: false },
            ),
            ("name", FieldDefinition::new(FieldType::SCALAR_STRING)),
            (
                "age",
                FieldDefinition { field_type: FieldType::SCALAR_INT, unique: false, indexed: true, nullable: true },
            ),
            ("active", FieldDefinition::new(FieldType::SCALAR_BOOL)),
        ],
    )
    .await?;

    let mut events = db.listen("users");
    let run = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0);
    let started = Instant::now();
    let n = 10_000;
    for i in 0..n {
        db.insert_into(
            "users",
            vec![
                ("email", Value::String(format!("user{i}-{run}@example.com"))),
                ("name", Value::String(format!("User {i}"))),
                ("age", Value::Int(18 + (i * 7919) % 62)),
                ("active", Value::Bool(i % 3 != 0)),
            ],
        )
        .await?;
    }
    println!("inserted {n} users in {:?} (each acknowledged in the WAL)", started.elapsed());
    // The listener was not read during the burst: its bounded buffer kept the newest events and
    // it is told how many it missed; writers were never slowed down by it.
    let first = match events.recv().await {
        Err(aurora_db::AuroraError::Lagged(missed)) => {
            println!("listener fell behind and missed {missed} events");
            events.recv().await?
        }
        other => other?,
    };
    println!("oldest buffered change event: {:?} in `{}` (_sid {})", first.change_type, first.collection, first._sid);

    let t = Instant::now();
    let top = db
        .query("users")
        .filter(|f| f.eq("active", true) & f.gt("age", 50))
        .order_by("age", false)
        .limit(3)
        .collect()
        .await?;
    println!("top 3 active users over 50 ({:?}):", t.elapsed());
    for u in &top {
        println!("  {} {} age {}", u.data["name"], u.data["email"], u.data["age"]);
    }
    let t = Instant::now();
    let email = format!("user42-{run}@example.com");
    let one = db.query("users").filter(|f| f.eq("email", email.as_str())).first_one().await?;
    println!("lookup by unique email ({:?}): {:?}", t.elapsed(), one.map(|d| d.data["name"].clone()));
    let t = Instant::now();
    println!("count: {} ({:?})", db.query("users").count().await?, t.elapsed());

    let mut tx = db.transaction();
    tx.insert("users", vec![("email", Value::String(format!("tx-a-{run}@example.com")))]);
    tx.insert("users", vec![("email", Value::String(format!("user1-{run}@example.com")))]);
    match tx.commit().await {
        Err(e) => println!("transaction rejected as a whole: {e}"),
        Ok(_) => println!("unexpected: duplicate accepted"),
    }
    let young = db.query("users").filter(|f| f.lt("age", 20)).delete().await?;
    println!("deleted {young} users under 20");
    let total = db.query("users").count().await?;
    db.close().await?;

    let started = Instant::now();
    let db = Aurora::open(&path).await?;
    let opened = started.elapsed();
    db.verify().await?;
    println!(
        "reopened in {opened:.1?} (no document read): {} users (was {total}), every index checked against the documents",
        db.query("users").count().await?
    );
    db.close().await?;
    Ok(())
}
