//! AQL parser and executor on arbitrary text, against a small seeded database.
//!
//! Input: AQL text, optionally followed by a NUL byte and a JSON object of variables. Must never
//! panic (libFuzzer's panic hook aborts on any panic, also one caught inside the engine); every
//! error must carry one of the stable codes and never be `INTERNAL` (a bug by definition), and
//! every result must serialize to a JSON object.
//!
//! The database lives in memory (`MemStore`, no WAL) and is recreated every few hundred inputs
//! (`common::run`), so mutations do not make it drift or grow for ever.

#![no_main]

mod common;

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let (text, vars) = match data.iter().position(|b| *b == 0) {
        Some(i) => (&data[..i], Some(&data[i + 1..])),
        None => (data, None),
    };
    let text = String::from_utf8_lossy(text);
    let vars = vars.and_then(|v| serde_json::from_slice::<serde_json::Value>(v).ok()).unwrap_or_default();
    let _ = common::checked(common::run(&text, vars));
});
