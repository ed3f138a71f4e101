//! Fragment graphs: up to 80 fragments on `users`, each a short list of fields, nested selections
//! and spreads of any fragment (itself, earlier or later ones: cycles, diamonds and chains that
//! double at every level), and a query spreading some of them.
//!
//! The engine measures fragments without expanding them. This target checks it against a plain
//! expansion (stopped once it passes the limit): a cycle anywhere is `VALIDATION`; otherwise a
//! fragment or the operation past `max_selection_fields` or `max_depth` is `LIMIT`; otherwise the
//! query runs and every row holds only the selected fields. Never a panic, never `INTERNAL`, and
//! libFuzzer's `-timeout`/`-rss_limit_mb` turn an expansion that slipped through into a crash.

#![no_main]

mod common;

use aurora_db::Limits;
use libfuzzer_sys::fuzz_target;
use std::collections::BTreeSet;
use std::fmt::Write;

const LEAVES: &[&str] = &["email", "name", "age", "score", "active", "tags"];

#[derive(Debug, Clone)]
enum Item {
    Leaf(&'static str),
    /// `address { city zip }`: three fields, two levels.
    Nested,
    Spread(usize),
}

fn decode(data: &[u8]) -> (Vec<Vec<Item>>, Vec<Item>) {
    let mut bytes = data.iter().copied();
    let mut next = move || bytes.next().unwrap_or(0);
    let n = 1 + next() as usize % 80;
    let item = |next: &mut dyn FnMut() -> u8| {
        let b = next();
        match b % 8 {
            0..=3 => Item::Leaf(LEAVES[(b as usize / 8) % LEAVES.len()]),
            4 => Item::Nested,
            _ => Item::Spread(next() as usize % n),
        }
    };
    let mut frags = Vec::with_capacity(n);
    for _ in 0..n {
        let k = 1 + next() as usize % 6;
        frags.push((0..k).map(|_| item(&mut next)).collect());
    }
    let k = 1 + next() as usize % 3;
    let mut query: Vec<Item> = (0..k).map(|_| item(&mut next)).collect();
    query.push(Item::Spread(0));
    (frags, query)
}

fn write_items(out: &mut String, items: &[Item]) {
    for it in items {
        match it {
            Item::Leaf(name) => {
                let _ = write!(out, " {name}");
            }
            Item::Nested => out.push_str(" address { city zip }"),
            Item::Spread(i) => {
                let _ = write!(out, " ...F{i}");
            }
        }
    }
}

fn text(frags: &[Vec<Item>], query: &[Item]) -> String {
    let mut out = String::from("query {\n  users {");
    write_items(&mut out, query);
    out.push_str(" }\n}\n");
    for (i, items) in frags.iter().enumerate() {
        let _ = write!(out, "fragment F{i} on users {{");
        write_items(&mut out, items);
        out.push_str(" }\n");
    }
    out
}

fn has_cycle(frags: &[Vec<Item>]) -> bool {
    // 0 new, 1 on the path, 2 done; at most 80 fragments, so recursion is shallow.
    fn visit(f: usize, frags: &[Vec<Item>], state: &mut [u8]) -> bool {
        state[f] = 1;
        for it in &frags[f] {
            if let Item::Spread(g) = *it {
                if state[g] == 1 || (state[g] == 0 && visit(g, frags, state)) {
                    return true;
                }
            }
        }
        state[f] = 2;
        false
    }
    let mut state = vec![0u8; frags.len()];
    (0..frags.len()).any(|f| state[f] == 0 && visit(f, frags, &mut state))
}

/// Fields and depth of the plain expansion; stops counting once fields pass `cap`.
#[derive(Default)]
struct Expansion {
    fields: u64,
    depth: u64,
    selected: BTreeSet<&'static str>,
}

fn expand(items: &[Item], level: u64, frags: &[Vec<Item>], cap: u64, out: &mut Expansion) {
    for it in items {
        if out.fields > cap {
            return;
        }
        match *it {
            Item::Leaf(name) => {
                out.fields += 1;
                out.depth = out.depth.max(level + 1);
                out.selected.insert(name);
            }
            Item::Nested => {
                out.fields += 3;
                out.depth = out.depth.max(level + 2);
                out.selected.insert("address");
            }
            Item::Spread(g) => expand(&frags[g], level + 1, frags, cap, out),
        }
    }
}

fuzz_target!(|data: &[u8]| {
    let (frags, query) = decode(data);
    let aql = text(&frags, &query);
    let outcome = common::checked(common::run(&aql, serde_json::Value::Null));

    let limits = Limits::default();
    let (max_fields, max_depth) = (limits.max_selection_fields as u64, limits.max_depth as u64);
    let expected = if has_cycle(&frags) {
        Err("VALIDATION")
    } else {
        let over = |e: &Expansion| e.fields > max_fields || e.depth > max_depth;
        let mut any_over = false;
        for items in &frags {
            let mut e = Expansion::default();
            expand(items, 0, &frags, max_fields, &mut e);
            any_over |= over(&e);
        }
        // The operation: `users` is a field at level 0, its selection at level 1.
        let mut op = Expansion { fields: 1, depth: 1, ..Default::default() };
        expand(&query, 1, &frags, max_fields, &mut op);
        any_over |= over(&op);
        if any_over {
            Err("LIMIT")
        } else {
            Ok(op.selected)
        }
    };
    match (&outcome, expected) {
        (Ok(json), Ok(selected)) => {
            let rows = json.get("users").and_then(|u| u.as_array()).unwrap_or_else(|| panic!("no users rows: {json}"));
            assert!(!rows.is_empty(), "the seeded users are gone: {json}");
            for row in rows {
                let obj = row.as_object().unwrap_or_else(|| panic!("a row that is not an object: {row}"));
                for key in obj.keys() {
                    assert!(selected.contains(key.as_str()), "row field `{key}` was not selected ({selected:?})\n{aql}");
                }
            }
        }
        (Err(code), Err(want)) => assert_eq!(*code, want, "wrong error code for\n{aql}"),
        (got, want) => panic!("engine says {got:?}, the expansion says {want:?}\n{aql}"),
    }
});
