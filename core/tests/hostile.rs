//! Runs every case of `tests/hostile/` through the Rust API: each must end with its expected
//! outcome inside its time bound and its memory bound (see `tests/hostile/README.md`).
//!
//! Memory is measured by a counting allocator: the peak of live heap bytes above what was live
//! when the case started. The cases run one after another in one test so nothing else
//! allocates meanwhile. Time bounds are for release builds; a debug build gets 20 times more.

use aurora_db::{Aurora, ExecuteRequest};
use serde_json::{json, Value as Json};
use std::alloc::{GlobalAlloc, Layout, System};
use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

struct Counting;

static LIVE: AtomicUsize = AtomicUsize::new(0);
static PEAK: AtomicUsize = AtomicUsize::new(0);

fn grew(by: usize) {
    let now = LIVE.fetch_add(by, Ordering::Relaxed) + by;
    PEAK.fetch_max(now, Ordering::Relaxed);
}

// SAFETY: every call forwards to the system allocator unchanged; only counters are updated.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        let p = unsafe { System.alloc(layout) };
        if !p.is_null() {
            grew(layout.size());
        }
        p
    }
    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        let p = unsafe { System.alloc_zeroed(layout) };
        if !p.is_null() {
            grew(layout.size());
        }
        p
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        unsafe { System.dealloc(ptr, layout) };
        LIVE.fetch_sub(layout.size(), Ordering::Relaxed);
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        let p = unsafe { System.realloc(ptr, layout, new_size) };
        if !p.is_null() {
            LIVE.fetch_sub(layout.size(), Ordering::Relaxed);
            grew(new_size);
        }
        p
    }
}

#[global_allocator]
static ALLOC: Counting = Counting;

fn corpus_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../tests/hostile")
}

/// The AQL text of a case: a string, or parts to concatenate (see the corpus README).
fn build_text(aql: &Json) -> String {
    let parts = match aql {
        Json::String(s) => return s.clone(),
        Json::Array(parts) => parts,
        other => panic!("bad aql {other}"),
    };
    let mut out = String::new();
    for p in parts {
        if let Some(t) = p.get("text").and_then(Json::as_str) {
            out.push_str(t);
        } else if let Some(r) = p.get("repeat").and_then(Json::as_str) {
            let n = p["count"].as_u64().expect("count") as usize;
            if r.contains("{i") {
                for i in 0..n {
                    out.push_str(&r.replace("{i+1}", &(i + 1).to_string()).replace("{i}", &i.to_string()));
                }
            } else {
                out.push_str(&r.repeat(n));
            }
        } else {
            panic!("bad part {p}");
        }
    }
    out
}

/// The variables of a case: given, or generated (a long list, a deep nesting).
fn build_variables(case: &Json) -> Json {
    if let Some(g) = case.get("variables_gen") {
        let name = g["name"].as_str().expect("name").to_string();
        let v = if let Some(n) = g.get("list").and_then(Json::as_u64) {
            Json::Array((0..n).map(Json::from).collect())
        } else if let Some(n) = g.get("nest").and_then(Json::as_u64) {
            let mut v = json!(1);
            for _ in 0..n {
                v = Json::Array(vec![v]);
            }
            v
        } else {
            panic!("bad variables_gen {g}")
        };
        // Not `json!`: it would copy the value by recursive serialization.
        let mut vars = serde_json::Map::new();
        vars.insert(name, v);
        return Json::Object(vars);
    }
    case.get("variables").cloned().unwrap_or(Json::Null)
}

/// Drops a deeply nested JSON value without recursing (serde_json's drop recurses).
fn drop_flat(v: Json) {
    let mut stack = vec![v];
    while let Some(v) = stack.pop() {
        match v {
            Json::Array(items) => stack.extend(items),
            Json::Object(m) => stack.extend(m.into_iter().map(|(_, v)| v)),
            _ => {}
        }
    }
}

fn run_case(rt: &tokio::runtime::Runtime, file: &str, case: &Json) -> Result<String, String> {
    let name = case["name"].as_str().unwrap_or("?");
    let dir = tempfile::tempdir().map_err(|e| e.to_string())?;
    let db = rt.block_on(Aurora::open(dir.path().join("db"))).map_err(|e| e.to_string())?;
    for s in case.get("setup").and_then(Json::as_array).into_iter().flatten() {
        rt.block_on(db.execute(s.as_str().unwrap_or(""))).map_err(|e| format!("setup failed: {e}"))?;
    }
    let text = build_text(&case["aql"]);
    let vars = build_variables(case);
    let scale = if cfg!(debug_assertions) { 20 } else { 1 };
    let max = Duration::from_millis(case["max_ms"].as_u64().unwrap_or(100) * scale);
    let max_bytes = case["max_mb"].as_u64().unwrap_or(64) as usize * 1024 * 1024;

    let base = LIVE.load(Ordering::Relaxed);
    PEAK.store(base, Ordering::Relaxed);
    let started = Instant::now();
    let req = ExecuteRequest::new(text.as_str()).variables(vars);
    let outcome = rt.block_on(db.execute_json(req));
    let took = started.elapsed();
    let used = PEAK.load(Ordering::Relaxed).saturating_sub(base);

    let expect = &case["expect"];
    let verdict = match (&outcome, expect.get("code").and_then(Json::as_str)) {
        (Err(e), Some(code)) if e.code() == code => match expect.get("message_contains").and_then(Json::as_str) {
            Some(m) if !e.to_string().contains(m) => Err(format!("message {:?} lacks {m:?}", short(&e.to_string()))),
            _ => Ok(format!("[{}]", e.code())),
        },
        (Err(e), Some(code)) => Err(format!("expected {code}, got [{}] {}", e.code(), short(&e.to_string()))),
        (Ok(got), Some(code)) => Err(format!("expected {code}, got a result {}", short(&got.to_string()))),
        (Err(e), None) => Err(format!("unexpected error [{}] {}", e.code(), short(&e.to_string()))),
        (Ok(got), None) => match expect.get("result") {
            Some(want) if want != got => Err(format!("expected {want}, got {}", short(&got.to_string()))),
            _ => Ok("ok".into()),
        },
    };
    drop(outcome);
    rt.block_on(db.close()).map_err(|e| e.to_string())?;
    let line = format!("{file} :: {name}: {:?}, {} KiB", took, used / 1024);
    let verdict = verdict.map_err(|e| format!("{line}: {e}"))?;
    if took > max {
        return Err(format!("{line}: slower than {max:?}"));
    }
    if used > max_bytes {
        return Err(format!("{line}: more than {} MiB", max_bytes / 1024 / 1024));
    }
    drop_flat(build_variables(case));
    Ok(format!("{line} {verdict}"))
}

fn short(s: &str) -> String {
    if s.len() <= 200 {
        s.to_string()
    } else {
        let mut end = 200;
        while !s.is_char_boundary(end) {
            end -= 1;
        }
        format!("{}… ({} bytes)", &s[..end], s.len())
    }
}

#[test]
fn every_hostile_input_is_refused_in_bounded_time_and_memory() {
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(1).enable_all().build().unwrap();
    let mut files: Vec<PathBuf> = std::fs::read_dir(corpus_dir())
        .unwrap()
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "json"))
        .collect();
    files.sort();
    let only = std::env::var("HOSTILE_ONLY").ok();
    let (mut failures, mut cases) = (Vec::new(), 0);
    for f in files {
        let corpus: Json = serde_json::from_slice(&std::fs::read(&f).unwrap()).unwrap();
        let file = f.file_name().unwrap().to_string_lossy().to_string();
        for case in corpus["cases"].as_array().unwrap() {
            if only.as_deref().is_some_and(|o| !case["name"].as_str().unwrap_or("").contains(o)) {
                continue;
            }
            cases += 1;
            match run_case(&rt, &file, case) {
                Ok(line) => eprintln!("{line}"),
                Err(e) => {
                    eprintln!("FAIL {e}");
                    failures.push(e);
                }
            }
        }
    }
    assert!(only.is_some() || cases >= 20, "only {cases} hostile cases found");
    assert!(failures.is_empty(), "{} of {cases} hostile cases failed:\n{}", failures.len(), failures.join("\n"));
}
