//! `lookup` joins: joined rows count against the request's row budget, and the Rust result's
//! documents carry the joined lists.

use aurora_db::config::Limits;
use aurora_db::{Aurora, AuroraConfig, ExecutionResult, Value};
use serde_json::json;

async fn open(dir: &std::path::Path, limits: Limits) -> Aurora {
    let db = Aurora::with_config(AuroraConfig { db_path: dir.join("db"), limits, ..Default::default() }).await.unwrap();
    db.execute("schema { define collection users { id: Int @unique } define collection orders { uid: Int @indexed  n: Int  tag: Int } }")
        .await
        .unwrap();
    let users: Vec<_> = (0..20).map(|i| json!({"id": i})).collect();
    let orders: Vec<_> = (0..200).map(|i| json!({"uid": i % 20, "n": i, "tag": i % 20})).collect();
    db.execute((
        "mutation ($u: [Any], $o: [Any]) { a: insertMany(collection: \"users\", data: $u) { id } b: insertMany(collection: \"orders\", data: $o) { n } }",
        json!({"u": users, "o": orders}),
    ))
    .await
    .unwrap();
    db
}

#[tokio::test]
async fn joined_rows_count_against_the_row_budget() {
    let dir = tempfile::tempdir().unwrap();
    let db = open(dir.path(), Limits { max_result_rows: 150, ..Default::default() }).await;
    // 20 parents × 10 orders each = 200 joined rows: past the budget, by index or by scan.
    for field in ["uid", "tag"] {
        let q = format!("query {{ users {{ id lookup(collection: \"orders\", localField: \"id\", foreignField: \"{field}\") {{ n }} }} }}");
        let e = db.execute(q.as_str()).await.unwrap_err();
        assert_eq!(e.code(), "LIMIT", "{field}: {e}");
    }
    // With a per-parent limit the same join fits.
    let q = "query { users(orderBy: { id: ASC }) { id lookup(collection: \"orders\", localField: \"id\", foreignField: \"tag\", orderBy: { n: DESC }, limit: 2) { n } } }";
    let out = db.execute_json(q).await.unwrap();
    assert_eq!(out["users"][3], json!({"id": 3, "lookup": [{"n": 183}, {"n": 163}]}));
}

#[tokio::test]
async fn rust_documents_hold_the_joined_lists() {
    let dir = tempfile::tempdir().unwrap();
    let db = open(dir.path(), Limits::default()).await;
    let q = "query { users(where: { id: { eq: 4 } }) { id orders: lookup(collection: \"orders\", localField: \"id\", foreignField: \"uid\", limit: 2) { n } } }";
    let ExecutionResult::Query(r) = db.execute(q).await.unwrap() else { panic!("a query result") };
    assert_eq!(r.documents.len(), 1);
    let orders = r.documents[0].data.get("orders").cloned();
    let Some(Value::Array(items)) = orders else { panic!("orders: {orders:?}") };
    assert_eq!(items.len(), 2);
}
