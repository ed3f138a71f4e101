//! The seeded in-memory database every AQL-level target runs against, recreated every
//! `RESEED` inputs so mutations do not make it drift or grow for ever.

use aurora_db::storage::MemStore;
use aurora_db::{Aurora, AuroraConfig, AuroraError, DurabilityMode, ExecutionResult};
use serde_json::Value;
use std::sync::{Arc, Mutex};

const RESEED: u32 = 256;

const SEED: &[&str] = &[
    "schema { define collection users { email: String! @unique  name: String  age: Int @indexed  score: Float  active: Boolean  tags: [String]  address: Object } }",
    "schema { define collection orders { item: String @indexed  qty: Int  user: String } }",
    r#"mutation { insertInto(collection: "users", data: [{ email: "ann@x.io", name: "Ann", age: 30, score: 4.5, active: true, tags: ["admin", "dev"], address: { city: "Oslo", zip: "0150" } }, { email: "bob@y.org", name: "Bob", age: 20, score: 3, active: false, tags: ["dev"], address: { city: "Bergen" } }, { email: "cat@x.io", name: "Cat", age: 40, score: null, active: true, tags: [] }, { email: "dan@z.net", name: "Dan" }]) { email } }"#,
    r#"mutation { insertInto(collection: "orders", data: [{ item: "pen", qty: 3, user: "ann@x.io" }, { item: "ink", qty: 1, user: "bob@y.org" }]) { item } }"#,
];

/// Every stable error code; `INTERNAL` is deliberately absent (it is a bug by definition).
pub const CODES: &[&str] =
    &["NOT_FOUND", "UNIQUE_VIOLATION", "TYPE_ERROR", "VALIDATION", "SYNTAX", "CLOSED", "IO", "HANDLER", "LAGGED", "LIMIT"];

struct State {
    rt: tokio::runtime::Runtime,
    db: Aurora,
    _dir: tempfile::TempDir,
    runs: u32,
}

fn fresh(rt: &tokio::runtime::Runtime) -> (Aurora, tempfile::TempDir) {
    let dir = tempfile::tempdir().expect("temp dir for the fuzz database");
    let mut config = AuroraConfig::new(dir.path().join("db"));
    config.enable_wal = false;
    config.durability_mode = DurabilityMode::None;
    let db = Aurora::open_on(config, Arc::new(MemStore::default())).expect("open the in-memory database");
    rt.block_on(async {
        for aql in SEED {
            db.execute(*aql).await.expect("seed statement");
        }
    });
    (db, dir)
}

static STATE: Mutex<Option<State>> = Mutex::new(None);

/// Runs one AQL text with variables on the shared seeded database.
pub fn run(text: &str, vars: Value) -> Result<ExecutionResult, AuroraError> {
    let mut guard = STATE.lock().unwrap_or_else(|p| p.into_inner());
    let state = guard.get_or_insert_with(|| {
        let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("tokio runtime");
        let (db, dir) = fresh(&rt);
        State { rt, db, _dir: dir, runs: 0 }
    });
    state.runs += 1;
    if state.runs.is_multiple_of(RESEED) {
        let _ = state.db.close_blocking();
        let (db, dir) = fresh(&state.rt);
        state.db = db;
        state._dir = dir;
    }
    let db = state.db.clone();
    let text = text.to_owned();
    state.rt.block_on(async move { db.execute((text.as_str(), vars)).await })
}

/// Asserts the outcome carries a stable code (never `INTERNAL`) or a JSON object, and returns
/// the result's JSON or the error's code.
pub fn checked(outcome: Result<ExecutionResult, AuroraError>) -> Result<Value, &'static str> {
    match outcome {
        Ok(result) => {
            let json = result.to_json();
            assert!(json.is_object(), "a result is a JSON object keyed by root field, got {json}");
            Ok(json)
        }
        Err(e) => {
            let code = e.code();
            assert!(CODES.contains(&code), "error with an unexpected code {code}: {e}");
            assert!(!e.to_string().is_empty(), "an error without a message");
            Err(code)
        }
    }
}
