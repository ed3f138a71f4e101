//! AQL parser and executor on arbitrary text, against a small seeded database.
//!
//! Input: AQL text, optionally followed by a NUL byte and a JSON object of variables. Must never
//! panic (libFuzzer's panic hook aborts on any panic, also one caught inside the engine); every
//! error must carry one of the stable codes and never be `INTERNAL` (a bug by definition), and
//! every result must serialize to a JSON object.
//!
//! The database lives in memory (`MemStore`, no WAL) and is recreated every `RESEED` inputs, so
//! mutations (inserts, drops, migrations) do not make it drift or grow for ever.

#![no_main]

use aurora_db::storage::MemStore;
use aurora_db::{Aurora, AuroraConfig, DurabilityMode};
use libfuzzer_sys::fuzz_target;
use std::sync::{Arc, Mutex};

const RESEED: u32 = 256;

const SEED: &[&str] = &[
    "schema { define collection users { email: String! @unique  name: String  age: Int @indexed  score: Float  active: Boolean  tags: [String]  address: Object } }",
    "schema { define collection orders { item: String @indexed  qty: Int  user: String } }",
    r#"mutation { insertInto(collection: "users", data: [{ email: "ann@x.io", name: "Ann", age: 30, score: 4.5, active: true, tags: ["admin", "dev"], address: { city: "Oslo", zip: "0150" } }, { email: "bob@y.org", name: "Bob", age: 20, score: 3, active: false, tags: ["dev"], address: { city: "Bergen" } }, { email: "cat@x.io", name: "Cat", age: 40, score: null, active: true, tags: [] }, { email: "dan@z.net", name: "Dan" }]) { email } }"#,
    r#"mutation { insertInto(collection: "orders", data: [{ item: "pen", qty: 3, user: "ann@x.io" }, { item: "ink", qty: 1, user: "bob@y.org" }]) { item } }"#,
];

const CODES: &[&str] =
    &["NOT_FOUND", "UNIQUE_VIOLATION", "TYPE_ERROR", "VALIDATION", "SYNTAX", "CLOSED", "IO", "HANDLER", "LAGGED"];

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

fuzz_target!(|data: &[u8]| {
    let (text, vars) = match data.iter().position(|b| *b == 0) {
        Some(i) => (&data[..i], Some(&data[i + 1..])),
        None => (data, None),
    };
    let text = String::from_utf8_lossy(text);
    let vars = vars.and_then(|v| serde_json::from_slice::<serde_json::Value>(v).ok()).unwrap_or_default();

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
    let outcome = state.rt.block_on(async move { db.execute((text.as_ref(), vars)).await });
    match outcome {
        Ok(result) => {
            let json = result.to_json();
            assert!(json.is_object(), "a result is a JSON object keyed by root field, got {json}");
        }
        Err(e) => {
            let code = e.code();
            assert!(CODES.contains(&code), "error with an unexpected code {code}: {e}");
            let _ = e.to_string();
        }
    }
});
