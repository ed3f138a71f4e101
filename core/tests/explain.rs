//! `Aurora::explain`: the plan each root field of a query runs, with real row counts. The
//! planner's use of indexes is asserted here at a size where the choices differ.

use aurora_db::{Aurora, AuroraConfig};
use serde_json::{json, Value};

const CITIES: [&str; 4] = ["Oslo", "Rome", "Lima", "Pune"];

async fn open(dir: &std::path::Path) -> Aurora {
    let db = Aurora::with_config(AuroraConfig { db_path: dir.join("db"), ..Default::default() }).await.unwrap();
    db.execute(
        "schema { define collection users { email: String! @unique  age: Int @indexed  city: String @indexed  \
         name: String } }",
    )
    .await
    .unwrap();
    let rows: Vec<Value> = (0..2_000)
        .map(|i| json!({"email": format!("u{i}@x.io"), "age": 18 + i % 60, "city": CITIES[i % 4], "name": format!("n{i}")}))
        .collect();
    db.execute((
        "mutation ($rows: [Any]) { insertMany(collection: \"users\", data: $rows) { name } }",
        json!({"rows": rows}),
    ))
    .await
    .unwrap();
    db
}

fn plan(db: &Aurora, aql: &str, vars: Value) -> Value {
    db.explain((aql, vars)).unwrap()
}

#[tokio::test]
async fn the_planner_uses_the_indexes_the_query_can_use() {
    let dir = tempfile::tempdir().unwrap();
    let db = open(dir.path()).await;

    // A unique key: one bitmap probe, one document read.
    let p = plan(&db, "query ($e: String) { users(where: { email: { eq: $e } }) { name } }", json!({"e": "u7@x.io"}));
    let u = &p["users"];
    assert_eq!((u["strategy"].as_str(), u["indexes"].clone()), (Some("indexLookup"), json!(["email"])));
    assert_eq!(
        (u["estimatedRows"].as_u64(), u["examinedRows"].as_u64(), u["actualRows"].as_u64()),
        (Some(1), Some(1), Some(1))
    );

    // Top 10 by an indexed field out of 2,000: the index is walked and stops after the page.
    let p = plan(&db, "query { users(orderBy: { age: DESC }, limit: 10) { name } }", Value::Null);
    let u = &p["users"];
    assert_eq!(
        (u["strategy"].as_str(), u["walkedIndex"].as_str(), u["sort"].as_str()),
        (Some("indexWalk"), Some("age"), Some("index"))
    );
    assert_eq!(u["examinedRows"], json!(10), "{u}");

    // Two indexed predicates intersect their bitmaps: only the matches are read.
    let p = plan(&db, "query { users(where: { city: { eq: \"Rome\" }, age: { lt: 20 } }) { name } }", Value::Null);
    let u = &p["users"];
    let n =
        db.execute_json("query { users(where: { city: { eq: \"Rome\" }, age: { lt: 20 } }) { name } }").await.unwrap()
            ["users"]
            .as_array()
            .unwrap()
            .len() as u64;
    assert_eq!(u["indexes"], json!(["city", "age"]));
    assert_eq!(
        (u["examinedRows"].as_u64(), u["actualRows"].as_u64(), u["residualFilter"].as_bool()),
        (Some(n), Some(n), Some(false))
    );

    // A filter no index serves reads every document; a top-k sort keeps only k of them.
    let p = plan(
        &db,
        "query { users(where: { name: { endsWith: \"7\" } }, orderBy: { name: ASC }, limit: 5) { name } }",
        Value::Null,
    );
    let u = &p["users"];
    assert_eq!(
        (u["strategy"].as_str(), u["examinedRows"].as_u64(), u["actualRows"].as_u64()),
        (Some("fullScan"), Some(2_000), Some(5))
    );
    assert_eq!(u["sort"], json!({"topK": 5}));

    // A count of an indexed range is the bitmap's cardinality: no document read.
    let p = plan(&db, "query { users(where: { age: { gte: 70 } }) { aggregate { count } } }", Value::Null);
    assert_eq!(p["users"]["strategy"], json!("indexCount"));
    assert_eq!(p["users"]["examinedRows"], json!(0));

    // `query @explain` in AQL returns the same report as `explain`.
    let aql = "query { a: users(where: { age: { eq: 30 } }, first: 3) { edges { node { name } } } }";
    let directive = db.execute_json(aql.replacen("query", "query @explain", 1)).await.unwrap();
    assert_eq!(directive, plan(&db, aql, Value::Null));
    assert_eq!(directive["a"]["kind"], json!("page"));
}

#[tokio::test]
async fn explain_refuses_what_it_cannot_show() {
    let dir = tempfile::tempdir().unwrap();
    let db = open(dir.path()).await;
    let mutation = db.explain("mutation { deleteFrom(collection: \"users\") { affectedCount } }");
    assert_eq!(mutation.as_ref().map_err(|e| e.code()), Err("VALIDATION"), "{mutation:?}");
    // Nothing was deleted.
    assert_eq!(db.count("users").await.unwrap(), 2_000);
    let code = |aql: &str| db.explain(aql).map_err(|e| e.code()).err();
    assert_eq!(code("query { nope { a } }"), Some("NOT_FOUND"));
    assert_eq!(code("query { users( }"), Some("SYNTAX"));
    let unnamed = db.explain((
        "query A { users { name } }",
        Value::Null,
        aurora_db::ExecuteOptions { operation_name: Some("B".into()), ..Default::default() },
    ));
    assert!(unnamed.is_err());
    db.close().await.unwrap();
    assert_eq!(db.explain("query { users { name } }").map_err(|e| e.code()).err(), Some("CLOSED"));
}
