//! JSON variables in every position a query accepts one: shorthand equality, a whole filter, an
//! `in` list, `startsWith`, `limit`, `orderBy`, inserted data and update data.
//!
//! Input: a selector byte, then JSON text for `$v` (text that is not JSON is used as a string).
//! Invariants beyond "no panic, no `INTERNAL`": a variable is a value and never changes the
//! query's structure, so shorthand `{ email: $v }` returns only rows whose email equals `$v`
//! (an object such as `{"ne": ""}` matches nothing), `in: $v` only rows whose age is in `$v`,
//! `startsWith: $v` only names with that prefix, and `limit: $v` at most `$v` rows.

#![no_main]

mod common;

use libfuzzer_sys::fuzz_target;
use serde_json::{json, Value};

const TEMPLATES: &[&str] = &[
    "query Q($v: Any) { users(where: { email: $v }) { email } }",
    "query Q($v: Object) { users(where: $v) { email age } }",
    "query Q($v: Any) { users(where: { age: { in: $v } }) { age } }",
    "query Q($v: Any) { users(where: { name: { startsWith: $v } }) { name } }",
    "query Q($v: Int) { users(limit: $v) { email } }",
    "query Q($v: Any) { users(orderBy: $v, limit: 3) { email } }",
    "mutation M($v: Any) { insertInto(collection: \"orders\", data: $v) { item qty } }",
    "mutation M($v: Any) { update(collection: \"orders\", where: { item: \"zzz-none\" }, data: $v) { item } }",
    "query Q($v: [Object]) { users(where: { or: $v }) { email } }",
    "query Q($v: String) { users(where: { address: { city: $v } }) { address { city } } }",
];

fn num(v: &Value) -> Option<f64> {
    v.as_f64()
}

fn same(a: &Value, b: &Value) -> bool {
    match (num(a), num(b)) {
        (Some(x), Some(y)) => x == y,
        _ => a == b,
    }
}

fn rows<'a>(json: &'a Value, root: &str) -> &'a [Value] {
    json.get(root).and_then(Value::as_array).map(Vec::as_slice).unwrap_or_else(|| panic!("no `{root}` rows: {json}"))
}

fuzz_target!(|data: &[u8]| {
    let Some((&selector, rest)) = data.split_first() else { return };
    let which = selector as usize % TEMPLATES.len();
    let v: Value = serde_json::from_slice(rest).unwrap_or_else(|_| Value::String(String::from_utf8_lossy(rest).into()));
    let outcome = common::checked(common::run(TEMPLATES[which], json!({ "v": v.clone() })));
    let Ok(json) = outcome else { return };
    match which {
        0 => {
            for row in rows(&json, "users") {
                assert!(same(&row["email"], &v), "shorthand `email: $v` with $v = {v} returned {row}");
            }
        }
        2 => {
            let list = v.as_array().unwrap_or_else(|| panic!("`in: $v` ran with a non-list {v}"));
            for row in rows(&json, "users") {
                assert!(list.iter().any(|x| same(x, &row["age"])), "age of {row} is not in {v}");
            }
        }
        3 => {
            let prefix = v.as_str().unwrap_or_else(|| panic!("`startsWith: $v` ran with a non-string {v}"));
            for row in rows(&json, "users") {
                let name = row["name"].as_str().unwrap_or_else(|| panic!("a matched row without a name: {row}"));
                assert!(name.starts_with(prefix), "{name:?} does not start with {prefix:?}");
            }
        }
        4 => {
            let n = v.as_u64().unwrap_or_else(|| panic!("`limit: $v` ran with {v}"));
            assert!(rows(&json, "users").len() as u64 <= n, "more than {n} rows: {json}");
        }
        _ => {}
    }
});
