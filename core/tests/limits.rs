//! Cost limits: a time budget that stops scans, bounded rows per query, cursor pages that read
//! only the page, and a plan cache bounded in bytes.

use aurora_db::{Aurora, AuroraConfig, ExecuteOptions, ExecuteRequest, Limits, Value};
use serde_json::{json, Value as Json};
use std::time::Duration;

async fn items(dir: &std::path::Path, n: usize, limits: Limits) -> Aurora {
    let db = Aurora::with_config(AuroraConfig { db_path: dir.join("db"), limits, ..Default::default() }).await.unwrap();
    db.execute("schema { define collection items { n: Int @indexed  name: String } }").await.unwrap();
    let docs = (0..n)
        .map(|i| {
            aurora_db::types::doc_data_from_object(
                [
                    ("n".to_string(), Value::Int(i as i64)),
                    ("name".to_string(), Value::String(format!("item{:05}", (i * 7919) % n))),
                ]
                .into_iter()
                .collect(),
            )
        })
        .collect();
    db.batch_insert("items", docs).await.unwrap();
    db
}

fn limit_of(e: &aurora_db::AuroraError) -> &'static str {
    match e {
        aurora_db::AuroraError::Limit { limit, .. } => limit,
        other => panic!("expected a LIMIT error, got {other:?}"),
    }
}

#[tokio::test]
async fn a_spent_time_budget_stops_a_scan_with_a_limit_error() {
    let dir = tempfile::tempdir().unwrap();
    let db = items(dir.path(), 2_000, Limits::default()).await;
    let scan = "query { items(where: { name: { endsWith: \"7\" } }) { n } }";
    let spent = ExecuteOptions { timeout: Some(Duration::ZERO), ..Default::default() };
    let e = db.execute(ExecuteRequest { aql: scan.into(), variables: Json::Null, options: spent }).await.unwrap_err();
    assert_eq!((e.code(), limit_of(&e)), ("LIMIT", "query_time_ms"), "{e}");
    assert!(e.to_string().contains("time budget"), "{e}");
    // The same query with time to spare, and the fluent API (no budget), both run.
    assert_eq!(db.execute_json(scan).await.unwrap()["items"].as_array().unwrap().len(), 200);
    assert_eq!(db.query("items").filter(|f| f.ends_with("name", "7")).count().await.unwrap(), 200);
    // A configured budget of zero disables it; a spent configured budget stops the scan.
    let zero = Limits { query_time_ms: 0, ..Limits::default() };
    let dir2 = tempfile::tempdir().unwrap();
    let db2 = items(dir2.path(), 500, zero).await;
    assert!(db2.execute_json(scan).await.is_ok());
}

#[tokio::test]
async fn a_query_holds_at_most_max_result_rows_and_top_k_stays_within_them() {
    let dir = tempfile::tempdir().unwrap();
    let db = items(dir.path(), 300, Limits { max_result_rows: 100, ..Limits::default() }).await;
    let e = db.execute_json("query { items { n } }").await.unwrap_err();
    assert_eq!(limit_of(&e), "max_result_rows", "{e}");
    // A limit keeps the held rows small, even when sorting by a field without an index.
    let top = db.execute_json("query { items(orderBy: { name: DESC }, limit: 5) { name } }").await.unwrap();
    let names: Vec<&str> = top["items"].as_array().unwrap().iter().map(|d| d["name"].as_str().unwrap()).collect();
    assert_eq!(names, ["item00299", "item00298", "item00297", "item00296", "item00295"]);
    assert_eq!(
        db.execute_json("query { items(limit: 50) { n } }").await.unwrap()["items"].as_array().unwrap().len(),
        50
    );
}

#[tokio::test]
async fn cursor_pages_read_only_the_page_and_cover_every_match_once() {
    let dir = tempfile::tempdir().unwrap();
    // 300 matches, at most 100 held: a page that loaded every match would be refused.
    let db = items(dir.path(), 300, Limits { max_result_rows: 100, ..Limits::default() }).await;
    for order in ["{ name: ASC }", "{ n: DESC }"] {
        let text = format!(
            "query Q($after: String) {{ items(first: 40, after: $after, orderBy: {order}) {{ \
             edges {{ cursor node {{ n }} }} pageInfo {{ hasNextPage hasPreviousPage endCursor }} }} }}"
        );
        let (mut seen, mut after, mut pages) = (Vec::new(), Json::Null, 0);
        loop {
            let page = db.execute_json((text.as_str(), json!({ "after": after }))).await.unwrap();
            let conn = &page["items"];
            seen.extend(conn["edges"].as_array().unwrap().iter().map(|e| e["node"]["n"].as_i64().unwrap()));
            assert_eq!(conn["pageInfo"]["hasPreviousPage"], json!(pages > 0));
            pages += 1;
            if conn["pageInfo"]["hasNextPage"] == json!(false) {
                break;
            }
            after = conn["pageInfo"]["endCursor"].clone();
        }
        assert_eq!(pages, 8, "{order}");
        let mut sorted = seen.clone();
        sorted.sort_unstable();
        assert_eq!(sorted, (0..300).collect::<Vec<i64>>(), "every document once under {order}");
    }
}

#[tokio::test]
async fn the_plan_cache_stays_within_its_byte_budget() {
    let dir = tempfile::tempdir().unwrap();
    let budget = 64 * 1024;
    let db = items(dir.path(), 10, Limits { plan_cache_bytes: budget, ..Limits::default() }).await;
    let padding = "#".repeat(2_000);
    for i in 0..200 {
        db.execute_json(format!("query {{ items(limit: {i}) {{ n }} }} {padding}\n").as_str()).await.unwrap();
    }
    let m = db.memory_stats();
    assert_eq!(m.plan_cache_budget, budget);
    assert!(m.plan_cache_bytes <= budget, "{m:?}");
    assert!(m.plan_cache_entries > 0 && m.plan_cache_entries < 200, "{m:?}");
    // A text larger than a quarter of the budget runs without being kept.
    let big = format!("query {{ items {{ n }} }} {}\n", "#".repeat(budget));
    let before = db.memory_stats().plan_cache_entries;
    db.execute_json(big.as_str()).await.unwrap();
    assert!(db.memory_stats().plan_cache_entries <= before);
}

/// Every cache and buffer reports its bytes next to its budget: the write buffer holds what
/// was written until a checkpoint moves it to the cold store, and index entries read from the
/// cold store then fill the index cache, within its budget.
#[tokio::test]
async fn memory_stats_report_each_cache_against_its_budget() {
    let dir = tempfile::tempdir().unwrap();
    let db = items(dir.path(), 2_000, Limits::default()).await;
    db.execute("schema { define collection u { k: Int @unique } }").await.unwrap();
    for i in 0..200 {
        db.insert_into("u", vec![("k", Value::Int(i))]).await.unwrap();
    }
    let m = db.memory_stats();
    assert!(m.write_buffer_entries > 0 && m.write_buffer_bytes > 0, "{m:?}");
    assert_eq!(m.index_cache_budget, 64 << 20);
    assert_eq!(m.cold_cache_budget, 1024 << 20);
    assert_eq!(m.hot_cache_budget, AuroraConfig::default().hot_cache_size_mb << 20);
    db.checkpoint().await.unwrap();
    let m = db.memory_stats();
    assert_eq!((m.write_buffer_entries, m.write_buffer_bytes), (0, 0), "{m:?}");
    for i in (0..2_000).step_by(50) {
        db.query("items").filter(|f| f.eq("n", Value::Int(i))).collect().await.unwrap();
    }
    // Unique entries read from the cold store are what the index cache keeps.
    for i in 0..200 {
        db.query("u").filter(|f| f.eq("k", Value::Int(i))).collect().await.unwrap();
    }
    let m = db.memory_stats();
    assert!(m.index_cache_bytes > 0 && m.index_cache_bytes <= m.index_cache_budget, "{m:?}");
    assert!(m.hot_cache_documents > 0 && m.hot_cache_bytes <= m.hot_cache_budget, "{m:?}");
    let json = serde_json::to_value(&m).unwrap();
    assert!(json["indexCacheBytes"].as_u64().is_some() && json["coldCacheBudget"].as_u64().is_some(), "{json}");
}
