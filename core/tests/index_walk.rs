//! Top-k walks of a non-unique index whose values each span several posting chunks (65,536
//! rows a chunk): the walk reads a value's rows a chunk at a time, and must give exactly what a
//! full sort of the same data gives — ties in row order (or reversed for backward pages),
//! offsets that cross chunk and value boundaries, key predicates, residual filters, and
//! deletes and updates still in the write buffer over flushed chunks.

use aurora_db::{Aurora, AuroraConfig};
use serde::Serialize;
use serde_json::{json, Value};

/// Rows loaded: three values of `g`, each spread over three chunks.
const N: u64 = 140_000;

#[derive(Serialize)]
struct Event {
    n: u64,
    g: u64,
    h: u64,
    flag: bool,
}

async fn load(dir: &std::path::Path) -> Aurora {
    let db = Aurora::with_config(AuroraConfig { db_path: dir.join("db"), ..Default::default() }).await.unwrap();
    db.execute("schema { define collection events { n: Int  g: Int @indexed  h: Int  flag: Boolean } }").await.unwrap();
    let mut batch = Vec::with_capacity(10_000);
    for n in 0..N {
        // g is indexed, h holds the same value unindexed (the reference: a full sort).
        batch.push(Event { n, g: n % 3, h: n % 3, flag: n % 5 != 0 });
        if batch.len() == 10_000 {
            db.batch_insert_structs("events", &batch).await.unwrap();
            batch.clear();
        }
    }
    db
}

/// The `n`s a query returns, with `FIELD` replaced by `g` (the walk) or `h` (the sort).
async fn ns(db: &Aurora, template: &str, field: &str) -> Vec<u64> {
    let out = db.execute(template.replace("FIELD", field).as_str()).await.unwrap();
    let v: Value = serde_json::to_value(&out).unwrap();
    let rows = v["events"].as_array().cloned().unwrap_or_else(|| panic!("no rows in {v}"));
    rows.iter().map(|r| r["n"].as_u64().unwrap()).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_chunked_index_walk_matches_a_full_sort() {
    let dir = tempfile::tempdir().unwrap();
    let db = load(dir.path()).await;
    // Changes after the load: some still pending over chunks already flushed.
    db.execute("mutation { deleteFrom(collection: \"events\", where: { n: { in: [1, 4, 70001, 139998] } }) { n } }")
        .await
        .unwrap();
    db.execute(
        "mutation { update(collection: \"events\", where: { n: { in: [2, 65538] } }, data: { g: 0, h: 0 }) { n } }",
    )
    .await
    .unwrap();

    let queries = [
        // Top-k of the largest value, a residual filter on the documents.
        "query { events(where: { flag: { eq: true } }, orderBy: { FIELD: DESC }, limit: 50) { n } }",
        // An offset that crosses from one value into the next.
        "query { events(orderBy: { FIELD: ASC }, limit: 20, offset: 46650) { n } }",
        // A key predicate and an offset deep inside one value (its second chunk).
        "query { events(where: { FIELD: { eq: 1 } }, orderBy: { FIELD: ASC }, limit: 10, offset: 30000) { n } }",
        // A range bound on the walked field, descending.
        "query { events(where: { FIELD: { lt: 2 } }, orderBy: { FIELD: DESC }, limit: 25) { n } }",
        // Backward pages read ties newest first.
        "query { events(orderBy: { FIELD: DESC }, last: 7) { n } }",
        "query { events(where: { flag: { eq: false } }, orderBy: { FIELD: ASC }, last: 12) { n } }",
    ];
    for q in queries {
        let walked = ns(&db, q, "g").await;
        let sorted = ns(&db, q, "h").await;
        assert!(!walked.is_empty(), "{q}: no rows");
        assert_eq!(walked, sorted, "{q}: the walk and the sort disagree");
    }
    // The walk is what ran, and the first query stopped in the first chunk of its value.
    let plan =
        db.explain("query { events(where: { flag: { eq: true } }, orderBy: { g: DESC }, limit: 50) { n } }").unwrap();
    assert_eq!(plan["events"]["strategy"], json!("indexWalk"), "{plan}");
    assert!(plan["events"]["examinedRows"].as_u64().unwrap() < 100, "{plan}");
    let top = ns(&db, queries[0], "g").await;
    assert_eq!(top[..3], [8, 11, 14], "value 2 in row order: n=2 moved to 0, n=5 has no flag");
}
