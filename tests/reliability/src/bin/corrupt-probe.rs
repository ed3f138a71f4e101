//! Child process of the corruption tests, so a panic or a hang in the engine cannot take the
//! test runner with it.
//!
//! * `corrupt-probe populate DB N wal|sled|mixed` writes the known data set of [`expected`]:
//!   `wal` leaves everything in the WAL (exits without a checkpoint), `sled` checkpoints between
//!   phases and closes cleanly, so everything is in the sled files, `mixed` checkpoints after
//!   the inserts and exits without closing (inserts in sled, the rest only in the WAL).
//! * `corrupt-probe check DB N` opens the (damaged) database and prints one line:
//!   `OPEN_ERR msg`, `VERIFY_ERR msg`, `QUERY_ERR msg` or
//!   `RESULT missing=.. wrong=.. extra=.. inconsistent=..` comparing every answer with the
//!   data set that was written.

use aurora_db::{Aurora, AuroraConfig, Value};
use std::collections::BTreeMap;

/// The documents written by `populate N`: `seq → age` (email is always `e{seq}@x.io`).
/// Inserts 0..N, then sets age -1 where seq % 10 == 7, deletes seq % 10 == 3, and last
/// inserts the sentinel seq N (the WAL's last record).
fn expected(n: i64) -> BTreeMap<i64, i64> {
    let mut m: BTreeMap<i64, i64> = (0..n).map(|s| (s, s % 97)).collect();
    for s in 0..n {
        if s % 10 == 7 {
            m.insert(s, -1);
        }
        if s % 10 == 3 {
            m.remove(&s);
        }
    }
    m.insert(n, n % 97);
    m
}

fn config(db: &str) -> AuroraConfig {
    AuroraConfig {
        db_path: db.into(),
        checkpoint_interval_ms: 3_600_000,
        write_buffer_flush_interval_ms: 3_600_000,
        auto_compact: false,
        ..Default::default()
    }
}

fn doc(seq: i64) -> Vec<(&'static str, Value)> {
    vec![
        ("seq", Value::Int(seq)),
        ("email", Value::String(format!("e{seq}@x.io"))),
        ("age", Value::Int(seq % 97)),
        ("bio", Value::String(format!("document number {seq} with some padding text"))),
    ]
}

async fn populate(db_dir: &str, n: i64, mode: &str) -> aurora_db::Result<()> {
    let closed = mode == "closed";
    let db = Aurora::with_config(config(db_dir)).await?;
    aurora_reliability::create_schema(&db).await?;
    for s in 0..n {
        db.insert_into("items", doc(s)).await?;
    }
    if mode != "wal" {
        db.checkpoint().await?;
    }
    for s in (0..n).filter(|s| s % 10 == 7) {
        db.query("items").filter(|f| f.eq("seq", s)).update(vec![("age", Value::Int(-1))]).await?;
    }
    if closed {
        db.checkpoint().await?;
    }
    for s in (0..n).filter(|s| s % 10 == 3) {
        db.query("items").filter(|f| f.eq("seq", s)).delete().await?;
    }
    db.insert_into("items", doc(n)).await?;
    if closed {
        db.close().await?;
    } else {
        // Die without the closing checkpoint: everything after the schema is only in the WAL.
        std::process::exit(0);
    }
    Ok(())
}

fn list(v: &[i64]) -> String {
    if v.is_empty() {
        "-".into()
    } else {
        v.iter().map(|x| x.to_string()).collect::<Vec<_>>().join(",")
    }
}

async fn check(db_dir: &str, n: i64) -> String {
    let db = match Aurora::with_config(config(db_dir)).await {
        Ok(db) => db,
        Err(e) => return format!("OPEN_ERR {e}"),
    };
    if let Err(e) = db.verify().await {
        return format!("VERIFY_ERR {e}");
    }
    match compare(&db, n).await {
        Ok(line) => line,
        Err(e) => format!("QUERY_ERR {e}"),
    }
}

async fn compare(db: &Aurora, n: i64) -> aurora_db::Result<String> {
    let want = expected(n);
    if db.schema("items").is_err() {
        // The collection itself is gone: everything is missing.
        return Ok(format!(
            "RESULT missing={} wrong=- extra=- inconsistent=-",
            list(&want.keys().copied().collect::<Vec<_>>())
        ));
    }
    let all = db.query("items").collect().await?;
    let mut got: BTreeMap<i64, i64> = BTreeMap::new();
    let (mut wrong, mut extra, mut inconsistent) = (Vec::new(), Vec::new(), Vec::new());
    for d in &all {
        let (Some(seq), Some(age)) =
            (d.data.get("seq").and_then(Value::as_i64), d.data.get("age").and_then(Value::as_i64))
        else {
            wrong.push(-1);
            continue;
        };
        if d.data.get("email").and_then(Value::as_str) != Some(format!("e{seq}@x.io").as_str()) {
            wrong.push(seq);
        }
        if got.insert(seq, age).is_some() {
            extra.push(seq); // duplicate
        }
    }
    let mut missing = Vec::new();
    for (seq, age) in &want {
        match got.get(seq) {
            None => missing.push(*seq),
            Some(a) if a != age => wrong.push(*seq),
            _ => {}
        }
    }
    extra.extend(got.keys().filter(|s| !want.contains_key(s)));
    // Every other way of asking must agree with the full scan.
    if db.query("items").count().await? != all.len() {
        inconsistent.push("count".to_string());
    }
    for seq in 0..=n {
        let by_index = db.query("items").filter(|f| f.eq("seq", seq)).count().await?;
        let by_unique = db.query("items").filter(|f| f.eq("email", format!("e{seq}@x.io"))).count().await?;
        let scanned = all.iter().filter(|d| d.data.get("seq") == Some(&Value::Int(seq))).count();
        if by_index != scanned || by_unique != scanned {
            inconsistent.push(format!("seq{seq}"));
        }
    }
    let in_range = db.query("items").filter(|f| f.between("age", 10, 20)).count().await?;
    if in_range != got.values().filter(|a| (10..=20).contains(*a)).count() {
        inconsistent.push("range".to_string());
    }
    let top = db.query("items").order_by("age", false).limit(5).collect().await?;
    let mut ages: Vec<i64> = got.values().copied().collect();
    ages.sort_unstable_by(|a, b| b.cmp(a));
    let top_ages: Vec<i64> = top.iter().filter_map(|d| d.data.get("age").and_then(Value::as_i64)).collect();
    if top_ages != ages.into_iter().take(5).collect::<Vec<_>>() {
        inconsistent.push("top5".to_string());
    }
    let aql = db.execute("query { items(where: { age: { lt: 0 } }) { seq } }").await?;
    let aql_n = match aql {
        aurora_db::ExecutionResult::Query(q) => q.documents.len(),
        _ => usize::MAX,
    };
    if aql_n != got.values().filter(|a| **a < 0).count() {
        inconsistent.push("aql".to_string());
    }
    db.close().await?;
    Ok(format!(
        "RESULT missing={} wrong={} extra={} inconsistent={}",
        list(&missing),
        list(&wrong),
        list(&extra),
        if inconsistent.is_empty() { "-".to_string() } else { inconsistent.join(",") }
    ))
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().collect();
    match (args.get(1).map(String::as_str), args.len()) {
        (Some("populate"), 5) => {
            let n: i64 = args[3].parse()?;
            populate(&args[2], n, &args[4]).await?;
        }
        (Some("check"), 4) => {
            let n: i64 = args[3].parse()?;
            println!("{}", check(&args[2], n).await);
        }
        _ => return Err("usage: corrupt-probe populate DB N wal|sled|mixed | check DB N".into()),
    }
    Ok(())
}
