//! Mutation verbs under concurrency: upserts of one key from many tasks leave one document
//! whose counter saw every upsert; a failing operation rolls its whole block back.

use aurora_db::{Aurora, AuroraConfig};
use serde_json::json;

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_upserts_of_one_key_leave_one_document_that_counts_them_all() {
    let dir = tempfile::tempdir().unwrap();
    let db = Aurora::with_config(AuroraConfig { db_path: dir.path().join("db"), ..Default::default() }).await.unwrap();
    db.execute("schema { define collection counters { name: String! @unique  hits: Int } }").await.unwrap();
    let upsert = db
        .prepare(
            "mutation ($n: String!) { upsert(collection: \"counters\", where: { name: { eq: $n } }, \
             data: { hits: { increment: 1 } }) { hits } }",
        )
        .unwrap();
    let mut tasks = Vec::new();
    for t in 0..8 {
        let upsert = upsert.clone();
        tasks.push(tokio::spawn(async move {
            for i in 0..25 {
                let name = if i % 2 == 0 { "even".to_string() } else { format!("t{t}") };
                upsert.execute_json(json!({ "n": name })).await.unwrap();
            }
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
    let out = db.execute_json("query { counters(orderBy: { name: ASC }) { name hits } }").await.unwrap();
    let rows = out["counters"].as_array().unwrap();
    assert_eq!(rows.len(), 9, "one `even` document and one per task: {out}");
    assert_eq!(rows[0], json!({ "name": "even", "hits": 8 * 13 }));
    for row in &rows[1..] {
        assert_eq!(row["hits"], json!(12), "{row}");
    }
}

#[tokio::test]
async fn a_failing_operation_rolls_back_the_whole_transaction_block() {
    let dir = tempfile::tempdir().unwrap();
    let db = Aurora::with_config(AuroraConfig { db_path: dir.path().join("db"), ..Default::default() }).await.unwrap();
    db.execute("schema { define collection items { sku: String! @unique  stock: Int  name: String } }").await.unwrap();
    db.execute("mutation { insertInto(collection: \"items\", data: { sku: \"a\", stock: 1, name: \"A\" }) { sku } }")
        .await
        .unwrap();
    let e = db
        .execute(
            "transaction { insertMany(collection: \"items\", data: [{ sku: \"b\" }, { sku: \"c\" }]) { sku } \
             update(collection: \"items\", where: { sku: { eq: \"a\" } }, data: { stock: { increment: 1 }, name: { increment: 1 } }) { stock } }",
        )
        .await
        .unwrap_err();
    assert_eq!(e.code(), "TYPE_ERROR", "{e}");
    let out = db.execute_json("query { items { sku stock } }").await.unwrap();
    assert_eq!(out, json!({ "items": [{ "sku": "a", "stock": 1 }] }));
}
