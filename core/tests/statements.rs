//! Prepared statements: parsed once, run with new variables, valid across schema changes,
//! refused cleanly once their database is closed or dropped.

use aurora_db::{Aurora, AuroraConfig, AuroraError, ExecuteOptions};
use serde_json::json;

async fn open(dir: &std::path::Path) -> Aurora {
    let db = Aurora::with_config(AuroraConfig { db_path: dir.join("db"), ..Default::default() }).await.unwrap();
    db.execute("schema { define collection users { email: String! @unique  age: Int @indexed  tags: [String] } }")
        .await
        .unwrap();
    db
}

const INSERT: &str = "mutation ($e: String!, $a: Int, $t: [String]) { \
    insertInto(collection: \"users\", data: { email: $e, age: $a, tags: $t }) { email age } }";
const BY_EMAIL: &str = "query ($e: String) { users(where: { email: { eq: $e } }) { email age tags } }";

#[tokio::test]
async fn a_statement_runs_with_new_variables_each_time() {
    let dir = tempfile::tempdir().unwrap();
    let db = open(dir.path()).await;
    let insert = db.prepare(INSERT).unwrap();
    let lookup = db.prepare(BY_EMAIL).unwrap();
    assert_eq!(insert.text(), INSERT);
    for i in 0..50 {
        let out = insert.execute_json(json!({"e": format!("u{i}@x.io"), "a": i, "t": ["a", format!("t{i}")]})).await;
        assert_eq!(out.unwrap()["insertInto"]["age"], json!(i));
    }
    for i in [0, 7, 49] {
        let out = lookup.execute_json(json!({"e": format!("u{i}@x.io")})).await.unwrap();
        assert_eq!(out, json!({"users": [{"email": format!("u{i}@x.io"), "age": i, "tags": ["a", format!("t{i}")]}]}));
    }
    assert_eq!(lookup.execute_json(json!({"e": "nobody"})).await.unwrap(), json!({"users": []}));
    // The materialized form and the JSON text say the same as execute.
    let result = lookup.execute(json!({"e": "u7@x.io"})).await.unwrap();
    assert_eq!(result.to_json(), db.execute((BY_EMAIL, json!({"e": "u7@x.io"}))).await.unwrap().to_json());
    let text = lookup.execute_json_text(json!({"e": "u7@x.io"})).await.unwrap();
    assert_eq!(serde_json::from_str::<serde_json::Value>(&text.text).unwrap(), result.to_json());
    // A duplicate key fails this run only; the statement keeps working.
    let dup = insert.execute_json(json!({"e": "u1@x.io", "a": 1})).await.unwrap_err();
    assert!(matches!(dup, AuroraError::UniqueViolation { .. }), "{dup:?}");
    assert!(insert.execute_json(json!({"e": "u50@x.io", "a": 50})).await.is_ok());
}

#[tokio::test]
async fn bad_text_fails_at_prepare_and_bad_variables_at_execute() {
    let dir = tempfile::tempdir().unwrap();
    let db = open(dir.path()).await;
    match db.prepare("query { users(where: { age: { gt: 1 } }) { email ").unwrap_err() {
        AuroraError::Syntax { line, column, .. } => assert!(line >= 1 && column >= 1),
        other => panic!("expected a syntax error, got {other:?}"),
    }
    let lookup = db.prepare(BY_EMAIL).unwrap();
    let e = lookup.execute_json(json!({"e": 42})).await.unwrap_err();
    assert_eq!(e.code(), "VALIDATION", "{e:?}");
    // A collection that does not exist yet is an error of the run, not of the statement.
    let later = db.prepare("query { orders { total } }").unwrap();
    assert_eq!(later.execute_json(json!(null)).await.unwrap_err().code(), "NOT_FOUND");
    db.execute("schema { define collection orders { total: Int } }").await.unwrap();
    db.execute("mutation { insertInto(collection: \"orders\", data: { total: 5 }) { total } }").await.unwrap();
    assert_eq!(later.execute_json(json!(null)).await.unwrap(), json!({"orders": [{"total": 5}]}));
}

#[tokio::test]
async fn a_schema_change_keeps_statements_valid() {
    let dir = tempfile::tempdir().unwrap();
    let db = open(dir.path()).await;
    let insert = db.prepare(INSERT).unwrap();
    let lookup = db.prepare(BY_EMAIL).unwrap();
    insert.execute_json(json!({"e": "a@x.io", "a": 30})).await.unwrap();
    let by_name = db.prepare("query ($n: String) { users(where: { name: { eq: $n } }) { email name } }").unwrap();
    assert_eq!(by_name.execute_json(json!({"n": "Ann"})).await.unwrap_err().code(), "NOT_FOUND");
    db.execute("migrate { \"v2\": { alter collection users { add name: String @indexed } } }").await.unwrap();
    db.execute("mutation { update(collection: \"users\", where: { email: { eq: \"a@x.io\" } }, data: { name: \"Ann\" }) { email } }")
        .await
        .unwrap();
    assert_eq!(
        by_name.execute_json(json!({"n": "Ann"})).await.unwrap(),
        json!({"users": [{"email": "a@x.io", "name": "Ann"}]})
    );
    insert.execute_json(json!({"e": "b@x.io", "a": 31})).await.unwrap();
    assert_eq!(lookup.execute_json(json!({"e": "b@x.io"})).await.unwrap()["users"][0]["age"], json!(31));
}

#[tokio::test]
async fn options_pick_one_operation_of_a_prepared_document() {
    let dir = tempfile::tempdir().unwrap();
    let db = open(dir.path()).await;
    let stmt = db.prepare("query A { users { email } } query B { users { age } }").unwrap();
    let only_b = ExecuteOptions { operation_name: Some("B".into()), ..Default::default() };
    let out = stmt.execute_with(json!(null), &only_b).await.unwrap();
    assert_eq!(out.into_json(), json!({"users": []}));
    let missing = ExecuteOptions { operation_name: Some("C".into()), ..Default::default() };
    assert_eq!(stmt.execute_with(json!(null), &missing).await.unwrap_err().code(), "VALIDATION");
}

#[tokio::test]
async fn a_closed_or_dropped_database_fails_its_statements_with_closed() {
    let dir = tempfile::tempdir().unwrap();
    let db = open(dir.path()).await;
    let lookup = db.prepare(BY_EMAIL).unwrap();
    db.close().await.unwrap();
    assert!(matches!(lookup.execute_json(json!({"e": "a"})).await.unwrap_err(), AuroraError::Closed));
    assert!(matches!(db.prepare(BY_EMAIL).unwrap_err(), AuroraError::Closed));

    let dir = tempfile::tempdir().unwrap();
    let db = open(dir.path()).await;
    let lookup = db.prepare(BY_EMAIL).unwrap();
    drop(db);
    // The statement did not keep the database open: it can be opened again at once.
    let again = open_again(dir.path()).await;
    assert!(matches!(lookup.execute_json(json!({"e": "a"})).await.unwrap_err(), AuroraError::Closed));
    assert!(again.prepare(BY_EMAIL).unwrap().execute_json(json!({"e": "a"})).await.is_ok());
}

async fn open_again(dir: &std::path::Path) -> Aurora {
    Aurora::with_config(AuroraConfig { db_path: dir.join("db"), ..Default::default() }).await.unwrap()
}

#[test]
fn one_statement_runs_on_many_threads_at_once() {
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let db = rt.block_on(open(dir.path()));
    let insert = db.prepare(INSERT).unwrap();
    let lookup = db.prepare(BY_EMAIL).unwrap();
    std::thread::scope(|s| {
        for t in 0..4 {
            let (insert, lookup, rt) = (insert.clone(), lookup.clone(), &rt);
            s.spawn(move || {
                for i in 0..100 {
                    let e = format!("t{t}-{i}@x.io");
                    rt.block_on(insert.execute_json(json!({"e": e, "a": i}))).unwrap();
                    let got = rt.block_on(lookup.execute_json(json!({"e": e}))).unwrap();
                    assert_eq!(got["users"][0]["age"], json!(i));
                }
            });
        }
    });
    let count = rt.block_on(db.execute("query { users { aggregate { count } } }")).unwrap().to_json();
    assert_eq!(count["users"]["aggregate"]["count"], json!(400));
}
