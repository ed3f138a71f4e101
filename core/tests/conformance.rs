//! Runs every vector of `tests/conformance/` through `Aurora::execute` (see its README).

use aurora_db::{Aurora, ExecuteOptions, ExecuteRequest, ExecutionResult};
use serde_json::{Map, Value as Json};
use std::path::PathBuf;

fn vectors_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../tests/conformance")
}

/// Compares `actual` with `expected`, honouring the `<any>`, `<string>` and `<uuid>` matchers.
fn matches(expected: &Json, actual: &Json, path: &str) -> Result<(), String> {
    match (expected, actual) {
        (Json::String(m), _) if m == "<any>" => Ok(()),
        (Json::String(m), Json::String(_)) if m == "<string>" => Ok(()),
        (Json::String(m), Json::String(s)) if m == "<uuid>" => {
            uuid::Uuid::parse_str(s).map(|_| ()).map_err(|_| format!("{path}: expected a UUID, got {s:?}"))
        }
        (Json::Object(e), Json::Object(a)) => {
            if e.len() != a.len() || e.keys().any(|k| !a.contains_key(k)) {
                return Err(format!(
                    "{path}: keys differ: expected {:?}, got {:?}",
                    e.keys().collect::<Vec<_>>(),
                    a.keys().collect::<Vec<_>>()
                ));
            }
            e.iter().try_for_each(|(k, v)| matches(v, &a[k], &format!("{path}/{k}")))
        }
        (Json::Array(e), Json::Array(a)) => {
            if e.len() != a.len() {
                return Err(format!("{path}: expected {} items, got {}: {actual}", e.len(), a.len()));
            }
            e.iter().zip(a).enumerate().try_for_each(|(i, (x, y))| matches(x, y, &format!("{path}/{i}")))
        }
        (Json::Number(e), Json::Number(a)) => {
            if e.is_f64() != a.is_f64() || e.as_f64() != a.as_f64() {
                Err(format!("{path}: expected {e}, got {a}"))
            } else {
                Ok(())
            }
        }
        _ if expected == actual => Ok(()),
        _ => Err(format!("{path}: expected {expected}, got {actual}")),
    }
}

/// Where a list query's `documents` differ from its JSON list, if they do.
fn documents_differ(r: &ExecutionResult) -> Option<String> {
    let queries: Vec<&ExecutionResult> = match r {
        ExecutionResult::Batch(items) => items.iter().collect(),
        one => vec![one],
    };
    for q in queries {
        let ExecutionResult::Query(q) = q else { continue };
        let Json::Array(list) = q.json() else { continue };
        let docs: Vec<Json> = q
            .documents
            .iter()
            .map(|d| Json::Object(d.data.iter().map(|(k, v)| (k.to_string(), v.to_json())).collect()))
            .collect();
        if docs != list {
            return Some(format!("documents {docs:?} of `{}`", q.key));
        }
    }
    None
}

async fn run_case(case: &Json) -> Result<(), String> {
    let dir = tempfile::tempdir().map_err(|e| e.to_string())?;
    let db = Aurora::open(dir.path().join("db")).await.map_err(|e| e.to_string())?;
    let mut captured = Map::new();
    let steps = case["steps"].as_array().ok_or("case without steps")?;
    for (i, step) in steps.iter().enumerate() {
        let aql = step["aql"].as_str().ok_or(format!("step {i} without aql"))?;
        let mut vars = captured.clone();
        if let Some(v) = step.get("variables").and_then(Json::as_object) {
            vars.extend(v.clone());
        }
        let options = ExecuteOptions {
            debug_audit: step.pointer("/options/debug_audit").and_then(Json::as_bool).unwrap_or(false),
            operation_name: step.pointer("/options/operation_name").and_then(Json::as_str).map(String::from),
            ..Default::default()
        };
        let req = ExecuteRequest { aql: aql.to_string(), variables: Json::Object(vars), options };
        let result = db.execute(req).await.map(|r| {
            let tree = r.to_json();
            // ... that a list query's Rust documents hold exactly its JSON ...
            if let Some(diff) = documents_differ(&r) {
                return Err((diff, tree));
            }
            // ... and that rows, where the result has them, stand for the same JSON.
            if let Some(rows) = r.rows().filter(|rows| rows.to_json() != tree) {
                return Err((format!("rows {}", rows.to_json()), tree));
            }
            // Every vector also checks that the text path writes the same bytes.
            let text = r.into_json_text().map(|t| t.text).unwrap_or_else(|e| e.to_string());
            let serialized = serde_json::to_string(&tree).unwrap_or_default();
            if text == serialized {
                Ok(tree)
            } else {
                Err((format!("JSON text {text}"), tree))
            }
        });
        let result = match result {
            Ok(Ok(tree)) => Ok(tree),
            Ok(Err((text, tree))) => return Err(format!("step {i}: {text} differs from the tree {tree}")),
            Err(e) => Err(e),
        };
        match (result, step.get("expect"), step.get("expect_error")) {
            (Ok(got), exp, None) => {
                if let Some(c) = step.get("capture").and_then(Json::as_object) {
                    for (name, ptr) in c {
                        let v = got
                            .pointer(ptr.as_str().unwrap_or(""))
                            .ok_or(format!("step {i}: nothing at {ptr} in {got}"))?;
                        captured.insert(name.clone(), v.clone());
                    }
                }
                if let Some(exp) = exp {
                    matches(exp, &got, "").map_err(|e| format!("step {i}: {e}\n  got: {got}"))?;
                }
            }
            (Ok(got), _, Some(err)) => return Err(format!("step {i}: expected error {err}, got {got}")),
            (Err(e), _, Some(exp)) => {
                let code = exp.get("code").and_then(Json::as_str);
                if code.is_some_and(|c| c != e.code()) {
                    return Err(format!("step {i}: expected code {code:?}, got {} ({e})", e.code()));
                }
                let pos = e.position();
                if let Some(l) = exp.get("line").and_then(Json::as_u64) {
                    if pos.map(|p| p.0 as u64) != Some(l) {
                        return Err(format!("step {i}: expected line {l}, got {pos:?} ({e})"));
                    }
                }
                if let Some(c) = exp.get("column").and_then(Json::as_u64) {
                    if pos.map(|p| p.1 as u64) != Some(c) {
                        return Err(format!("step {i}: expected column {c}, got {pos:?} ({e})"));
                    }
                }
                if let Some(m) = exp.get("message_contains").and_then(Json::as_str) {
                    if !e.to_string().contains(m) {
                        return Err(format!("step {i}: message {:?} lacks {m:?}", e.to_string()));
                    }
                }
            }
            (Err(e), _, None) => return Err(format!("step {i}: unexpected error [{}] {e}", e.code())),
        }
    }
    db.close().await.map_err(|e| e.to_string())
}

#[tokio::test]
async fn every_conformance_vector_passes() {
    let mut files: Vec<PathBuf> = std::fs::read_dir(vectors_dir())
        .expect("tests/conformance exists")
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "json"))
        .collect();
    files.sort();
    let mut total = 0;
    let mut failures = Vec::new();
    let mut names = std::collections::BTreeSet::new();
    for f in &files {
        let text = std::fs::read_to_string(f).unwrap();
        let doc: Json = serde_json::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", f.display()));
        for case in doc["cases"].as_array().unwrap_or_else(|| panic!("{}: no cases", f.display())) {
            total += 1;
            let name = case["name"].as_str().unwrap_or("?").to_string();
            assert!(names.insert(name.clone()), "duplicate case name {name}");
            if let Err(e) = run_case(case).await {
                failures.push(format!("{} :: {name}: {e}", f.file_name().unwrap().to_string_lossy()));
            }
        }
    }
    eprintln!("{} conformance cases, {} failed", total, failures.len());
    assert!(failures.is_empty(), "{} of {total} cases failed:\n{}", failures.len(), failures.join("\n"));
    assert!(total >= 80, "only {total} conformance cases");
}
