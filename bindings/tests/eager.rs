//! Eager execution: cheap repeated calls finish on the caller's thread, everything else on the
//! runtime, with identical results and errors either way.

use aurora_bindings::{Database, ErrorCode, Execution};
use serde_json::{json, Value};

fn open(config: Value) -> (tempfile::TempDir, Database) {
    let dir = tempfile::tempdir().unwrap();
    let db = Database::open(dir.path().join("db").to_str().unwrap(), &config).unwrap();
    db.execute("schema { define collection users { email: String! @unique  age: Int @indexed } }", json!(null))
        .unwrap();
    (dir, db)
}

const INSERT: &str =
    "mutation ($e: String!, $a: Int) { insertInto(collection: \"users\", data: { email: $e, age: $a }) { email age } }";
const LOOKUP: &str = "query ($e: String) { users(where: { email: { eq: $e } }) { email age } }";

/// Runs one eager call to completion; tells whether it finished on this thread.
fn run(db: &Database, aql: &str, vars: Value) -> (bool, Result<Value, aurora_bindings::BindingError>) {
    let (here, r) = match db.execute_eager(aql.to_string(), vars, false, None) {
        Execution::Ready(r) => (true, r),
        Execution::Pending(f) => (false, futures_lite(f)),
    };
    (here, r.map(|r| r.into_json()))
}

fn futures_lite<T>(f: aurora_bindings::BoxFuture<T>) -> T {
    // A host thread (not a runtime thread) may block on the facade's runtime.
    aurora_bindings::runtime().unwrap().block_on(f)
}

#[test]
fn repeated_cheap_calls_finish_on_the_calling_thread_with_the_same_results() {
    // A generous budget: this test is about what runs where, not about this build's speed.
    let (_d, db) = open(json!({ "durabilityMode": "wal", "eagerBudgetUs": 100_000 }));
    let mut eager_writes = 0;
    for i in 0..200 {
        let (here, r) = run(&db, INSERT, json!({ "e": format!("u{i}@x.io"), "a": i }));
        assert_eq!(r.unwrap(), json!({ "insertInto": { "email": format!("u{i}@x.io"), "age": i } }));
        eager_writes += here as usize;
    }
    // The first call of a text always goes to the runtime (its cost is unknown).
    let (first, _) = run(&db, "query ($e: String) { users(where: { email: { eq: $e } }) { age } }", json!({"e": "x"}));
    assert!(!first, "a text seen for the first time must not run on the caller's thread");
    let mut eager_reads = 0;
    for i in 0..200 {
        let (here, r) = run(&db, LOOKUP, json!({ "e": format!("u{i}@x.io") }));
        assert_eq!(r.unwrap(), json!({ "users": [{ "email": format!("u{i}@x.io"), "age": i }] }));
        eager_reads += here as usize;
    }
    // On a loaded machine a preempted run can push a text back to the runtime for a while.
    assert!(eager_reads >= 100, "only {eager_reads} of 200 lookups finished eagerly");
    assert!(eager_writes >= 100, "only {eager_writes} of 200 WAL-mode inserts finished eagerly");
}

#[test]
fn errors_are_identical_eager_or_not() {
    let (_d, db) = open(json!({ "durabilityMode": "wal", "eagerBudgetUs": 100_000 }));
    run(&db, INSERT, json!({ "e": "a@x.io", "a": 1 })).1.unwrap();
    let mut codes = Vec::new();
    for _ in 0..20 {
        let (_, r) = run(&db, INSERT, json!({ "e": "a@x.io", "a": 2 }));
        codes.push(r.unwrap_err().code);
    }
    assert!(codes.iter().all(|c| *c == ErrorCode::UniqueViolation), "{codes:?}");
    for _ in 0..20 {
        let e = run(&db, "query { users { nope } }", json!(null)).1.unwrap_err();
        assert_eq!(e.code, ErrorCode::NotFound);
    }
    for _ in 0..5 {
        let e = run(&db, "query { users { ", json!(null)).1.unwrap_err();
        assert_eq!((e.code, e.line), (ErrorCode::Syntax, Some(1)));
    }
    db.close().unwrap();
    let (here, r) = run(&db, LOOKUP, json!({ "e": "a@x.io" }));
    assert!(here);
    assert_eq!(r.unwrap_err().code, ErrorCode::Closed);
}

#[test]
fn a_zero_budget_never_runs_on_the_calling_thread_and_bad_budgets_are_refused() {
    let (_d, db) = open(json!({ "eager_budget_us": 0 }));
    for i in 0..50 {
        let (here, r) = run(&db, INSERT, json!({ "e": format!("z{i}@x.io"), "a": i }));
        r.unwrap();
        assert!(!here, "call {i} ran on the calling thread with a zero budget");
    }
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("db");
    for bad in [json!({ "eagerBudgetUs": -1 }), json!({ "eagerBudgetUs": "fast" }), json!({ "eagerBudgetUs": 2e9 })] {
        let e = Database::open(path.to_str().unwrap(), &bad).unwrap_err();
        assert_eq!(e.code, ErrorCode::Validation, "{bad}");
        assert!(e.message.contains("eagerBudgetUs"), "{}", e.message);
    }
}

#[test]
fn a_slow_text_moves_to_the_runtime() {
    let (_d, db) = open(json!({ "eagerBudgetUs": 1 }));
    run(&db, INSERT, json!({ "e": "a@x.io", "a": 1 })).1.unwrap();
    // Nothing in this engine runs under a microsecond through AQL: with a 1 µs budget no call
    // is ever eager.
    for _ in 0..20 {
        let (here, r) = run(&db, LOOKUP, json!({ "e": "a@x.io" }));
        assert_eq!(r.unwrap(), json!({ "users": [{ "email": "a@x.io", "age": 1 }] }));
        assert!(!here);
    }
}

#[test]
fn statements_give_what_execute_gives_on_every_path_and_closed_after_close() {
    let (_dir, db) = open(Value::Null);
    db.execute("schema { define collection u { e: String! @unique  n: Int  t: [String] } }", Value::Null).unwrap();
    let ins = db.prepare("mutation ($e: String!, $n: Int) { insertInto(collection: \"u\", data: { e: $e, n: $n, t: [\"a\"] }) { e } }").unwrap();
    let get = db.prepare("query ($e: String) { u(where: { e: { eq: $e } }) { e n t } }").unwrap();
    for i in 0..10 {
        ins.execute(json!({"e": format!("k{i}"), "n": i})).unwrap();
    }
    let vars = json!({"e": "k4"});
    let expected = db.execute(get.text(), vars.clone()).unwrap();
    assert_eq!(expected, json!({"u": [{"e": "k4", "n": 4, "t": ["a"]}]}));
    assert_eq!(get.execute(vars.clone()).unwrap(), expected);
    assert_eq!(serde_json::from_str::<Value>(&get.execute_text(vars.clone()).unwrap()).unwrap(), expected);
    assert_eq!(get.execute_sync(vars.clone()).unwrap().into_json(), expected);
    assert_eq!(db.execute_sync(get.text(), vars.clone(), false, None).unwrap().into_json(), expected);
    for _ in 0..5 {
        assert_eq!(futures_lite(Box::pin(get.execute_eager(vars.clone()).finish())).unwrap().into_json(), expected);
    }
    let stmt = get.clone();
    let v = vars.clone();
    assert_eq!(futures_lite(Box::pin(async move { stmt.execute_async(v).await })).unwrap(), expected);
    let dup = ins.execute_sync(json!({"e": "k1", "n": 1})).unwrap_err();
    assert_eq!(dup.code, aurora_bindings::ErrorCode::UniqueViolation);
    assert_eq!(db.prepare("query { u { e ").unwrap_err().code, aurora_bindings::ErrorCode::Syntax);
    db.close().unwrap();
    for e in [get.execute(vars.clone()).unwrap_err(), get.execute_sync(vars.clone()).unwrap_err()] {
        assert_eq!(e.code, aurora_bindings::ErrorCode::Closed);
    }
    assert_eq!(db.prepare("query { u { e } }").unwrap_err().code, aurora_bindings::ErrorCode::Closed);
}
