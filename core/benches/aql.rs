//! AQL cost: parse (cold), execute with the plan cache (warm), and the same query through the
//! fluent API on 20,000 documents. `cargo bench -p aurora-db --bench aql` (release).

use aurora_db::types::FieldDefinition;
use aurora_db::{Aurora, FieldType, Value};
use std::time::{Duration, Instant};

const QUERY: &str = "query { users(where: { and: [ { age: { gt: 25 } }, { active: { eq: true } } ] }, \
                     orderBy: { age: DESC }, limit: 10) { name email age } }";

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

fn main() {
    let quick = std::env::var("AURORA_BENCH_QUICK").is_ok_and(|v| v == "1");
    let iters = if quick { 2_000 } else { 20_000 };
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("runtime");
    let dir = tempfile::tempdir().expect("tempdir");
    let db = rt.block_on(async {
        let db = Aurora::open(dir.path().join("db")).await.expect("open");
        let f = |t: FieldType, unique: bool, indexed: bool| FieldDefinition {
            field_type: t,
            unique,
            indexed,
            nullable: true,
        };
        db.new_collection(
            "users",
            vec![
                ("name", f(FieldType::String, false, false)),
                ("email", f(FieldType::String, true, true)),
                ("age", f(FieldType::Int, false, true)),
                ("active", f(FieldType::Boolean, false, false)),
            ],
        )
        .await
        .expect("schema");
        let mut seed = 42u64;
        for i in 0..20_000 {
            seed = seed.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
            db.insert_into(
                "users",
                vec![
                    ("name", Value::String(format!("user{i}"))),
                    ("email", Value::String(format!("u{i}@x.io"))),
                    ("age", Value::Int(18 + (seed >> 33) as i64 % 62)),
                    ("active", Value::Bool(i % 3 != 0)),
                ],
            )
            .await
            .expect("insert");
        }
        db
    });

    // Cold parse: a fresh text each time defeats the plan cache; parsing alone is timed.
    let mut cold = Vec::with_capacity(iters);
    for i in 0..iters {
        let text = format!("{QUERY} # {i}");
        let t = Instant::now();
        let doc = aurora_db::aql::parse(&text).expect("parse");
        cold.push(t.elapsed());
        std::hint::black_box(doc);
    }
    let first = {
        let t = Instant::now();
        rt.block_on(db.execute(QUERY)).expect("execute");
        t.elapsed()
    };
    let fluent_query = || {
        rt.block_on(
            db.query("users")
                .filter(|f| f.gt("age", 25) & f.eq("active", true))
                .order_by("age", false)
                .limit(10)
                .collect(),
        )
        .expect("fluent")
    };
    let mut aql = Vec::with_capacity(iters);
    let mut aql_docs = Vec::with_capacity(iters);
    let mut fluent = Vec::with_capacity(iters);
    let mut fluent_json = Vec::with_capacity(iters);
    for _ in 0..iters {
        let t = Instant::now();
        let r = rt.block_on(db.execute(QUERY)).expect("execute");
        aql_docs.push(t.elapsed());
        std::hint::black_box(r);
        let t = Instant::now();
        let r = rt.block_on(db.execute(QUERY)).expect("execute");
        std::hint::black_box(r.into_json());
        aql.push(t.elapsed());
        let t = Instant::now();
        let docs = fluent_query();
        fluent.push(t.elapsed());
        std::hint::black_box(docs);
        // The same fluent query shaped into the same JSON the AQL call returns.
        let t = Instant::now();
        let docs = fluent_query();
        let list: Vec<serde_json::Value> = docs
            .iter()
            .map(|d| {
                let mut m = serde_json::Map::new();
                for f in ["name", "email", "age"] {
                    m.insert(f.to_string(), d.data.get(f).map_or(serde_json::Value::Null, Value::to_json));
                }
                serde_json::Value::Object(m)
            })
            .collect();
        std::hint::black_box(serde_json::json!({ "users": list }));
        fluent_json.push(t.elapsed());
    }
    // Point lookup by unique key with a variable: the per-call baseline for the bindings.
    let mut point = Vec::with_capacity(iters);
    for i in 0..iters {
        let vars = serde_json::json!({ "e": format!("u{}@x.io", i % 20_000) });
        let t = Instant::now();
        let r = rt
            .block_on(db.execute_json(("query Q($e: String) { users(where: {email: {eq: $e}}) { name age } }", vars)))
            .expect("point");
        point.push(t.elapsed());
        std::hint::black_box(r);
    }
    println!("  AQL point lookup by unique email (JSON)  {:>10.2?}", median(point));
    let (cold, aql, fluent, fluent_json) = (median(cold), median(aql), median(fluent), median(fluent_json));
    let aql_docs = median(aql_docs);
    println!("AQL on 20,000 documents (median of {iters} runs)");
    println!("  cold parse of the SPEC §4.3 query        {cold:>10.2?}   (target < 50 µs)");
    println!("  first execute (parse + validate + plan)  {first:>10.2?}");
    println!("  cached AQL execute (ExecutionResult)     {aql_docs:>10.2?}");
    println!("  identical fluent query                   {fluent:>10.2?}");
    println!(
        "  cached AQL / fluent                      {:>10.2}x   (target <= 1.10x)",
        aql_docs.as_secs_f64() / fluent.as_secs_f64()
    );
    println!("  cached AQL execute + result as JSON      {aql:>10.2?}");
    println!("  fluent query + the same JSON shaping     {fluent_json:>10.2?}");
    println!("  (AQL + JSON) / (fluent + JSON)           {:>10.2}x", aql.as_secs_f64() / fluent_json.as_secs_f64());
}
