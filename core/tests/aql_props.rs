//! Property tests: AQL and the fluent API agree on random data and filters, and no text —
//! random, mutated or deeply nested — makes `execute` panic.

use aurora_db::types::FieldDefinition;
use aurora_db::{Aurora, FieldType, Filter, Value};
use proptest::prelude::*;
use serde_json::json;

fn rt() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap()
}

async fn seeded(dir: &std::path::Path, rows: &[(i64, bool, String, Option<f64>)]) -> Aurora {
    let db = Aurora::open(dir.join("db")).await.unwrap();
    db.new_collection(
        "items",
        vec![
            ("n", FieldDefinition { field_type: FieldType::Int, unique: false, indexed: true, nullable: true }),
            ("flag", FieldDefinition::new(FieldType::Boolean)),
            ("name", FieldDefinition { field_type: FieldType::String, unique: false, indexed: true, nullable: true }),
            ("score", FieldDefinition::new(FieldType::Float)),
        ],
    )
    .await
    .unwrap();
    for (n, flag, name, score) in rows {
        let mut f = vec![("n", Value::Int(*n)), ("flag", Value::Bool(*flag)), ("name", Value::String(name.clone()))];
        if let Some(s) = score {
            f.push(("score", Value::Float(*s)));
        }
        db.insert_into("items", f).await.unwrap();
    }
    db
}

/// A random predicate both as an engine filter and as AQL `where` JSON.
fn leaf() -> impl Strategy<Value = (Filter, serde_json::Value)> {
    let n = -5i64..25;
    prop_oneof![
        n.clone().prop_map(|v| (Filter::Eq("n".into(), Value::Int(v)), json!({"n": {"eq": v}}))),
        n.clone().prop_map(|v| (Filter::Gt("n".into(), Value::Int(v)), json!({"n": {"gt": v}}))),
        n.clone().prop_map(|v| (Filter::Lte("n".into(), Value::Int(v)), json!({"n": {"lte": v}}))),
        n.clone().prop_map(|v| (Filter::Ne("n".into(), Value::Int(v)), json!({"n": {"ne": v}}))),
        (0.0f64..20.0).prop_map(|v| (Filter::Gte("score".into(), Value::Float(v)), json!({"score": {"gte": v}}))),
        any::<bool>().prop_map(|b| (Filter::Eq("flag".into(), Value::Bool(b)), json!({"flag": {"eq": b}}))),
        "[a-d]".prop_map(|p| (Filter::StartsWith("name".into(), p.clone()), json!({"name": {"startsWith": p}}))),
        prop::collection::vec(n, 0..4).prop_map(|vs| (
            Filter::In("n".into(), vs.iter().map(|v| Value::Int(*v)).collect()),
            json!({"n": {"in": vs}})
        )),
        Just((Filter::IsNull("score".into()), json!({"score": {"isNull": true}}))),
    ]
}

fn filter() -> impl Strategy<Value = (Filter, serde_json::Value)> {
    leaf().prop_recursive(3, 12, 3, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 1..4).prop_map(|fs| {
                let (f, j): (Vec<_>, Vec<_>) = fs.into_iter().unzip();
                (Filter::And(f), json!({"and": j}))
            }),
            prop::collection::vec(inner, 1..4).prop_map(|fs| {
                let (f, j): (Vec<_>, Vec<_>) = fs.into_iter().unzip();
                (Filter::Or(f), json!({"or": j}))
            }),
        ]
    })
}

fn rows() -> impl Strategy<Value = Vec<(i64, bool, String, Option<f64>)>> {
    prop::collection::vec((0i64..20, any::<bool>(), "[a-e][a-z]{0,3}", prop::option::of(0.0f64..20.0)), 0..60)
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 48, ..ProptestConfig::default() })]

    #[test]
    fn aql_and_fluent_return_the_same_documents(
        rows in rows(),
        (f, where_json) in filter(),
        desc in any::<bool>(),
        limit in prop::option::of(0usize..15),
        offset in 0usize..5,
    ) {
        let rt = rt();
        let dir = tempfile::tempdir().unwrap();
        rt.block_on(async {
            let db = seeded(dir.path(), &rows).await;
            let mut q = db.query("items").with_filter(f.clone()).order_by("n", !desc).order_by("name", true).offset(offset);
            if let Some(l) = limit {
                q = q.limit(l);
            }
            let fluent: Vec<String> = q.collect().await.unwrap().into_iter().map(|d| d._sid).collect();
            let aql = "query Q($w: Object, $o: Object, $l: Int, $off: Int) { items(where: $w, orderBy: $o, limit: $l, offset: $off) { _sid } }";
            let dir_name = if desc { "DESC" } else { "ASC" };
            let vars = json!({"w": where_json, "o": {"n": dir_name, "name": "ASC"}, "l": limit, "off": offset});
            let res = db.execute((aql, vars)).await.unwrap().to_json();
            let via_aql: Vec<String> = res["items"].as_array().unwrap().iter().map(|d| d["_sid"].as_str().unwrap().to_string()).collect();
            prop_assert_eq!(&fluent, &via_aql);
            // Both equal a brute-force scan with the filter evaluated document by document.
            let all = db.query("items").collect().await.unwrap();
            let mut expected: Vec<_> = all.into_iter().filter(|d| f.matches(d)).collect();
            expected.sort_by(|a, b| {
                let o = a.data["n"].total_cmp(&b.data["n"]);
                let o = if desc { o.reverse() } else { o };
                o.then_with(|| a.data["name"].total_cmp(&b.data["name"])).then_with(|| a._sid.cmp(&b._sid))
            });
            let expected: Vec<String> = expected.into_iter().skip(offset).take(limit.unwrap_or(usize::MAX)).map(|d| d._sid).collect();
            prop_assert_eq!(&fluent, &expected);
            let count = db.query("items").with_filter(f).count().await.unwrap();
            let agg = db.execute(("query Q($w: Object) { items(where: $w) { aggregate { count } } }", json!({"w": where_json}))).await.unwrap().to_json();
            prop_assert_eq!(agg["items"]["aggregate"]["count"].as_u64().unwrap() as usize, count);
            Ok(())
        })?;
    }

    #[test]
    fn arbitrary_text_never_panics(text in "\\PC{0,200}") {
        let rt = rt();
        let dir = tempfile::tempdir().unwrap();
        rt.block_on(async {
            let db = seeded(dir.path(), &[(1, true, "a".into(), None)]).await;
            let _ = db.execute(text.as_str()).await;
        });
    }

    #[test]
    fn mutated_queries_never_panic(cut in 0usize..200, insert in "[{}()\\[\\]:$,.!@\"a-z0-9 ]{0,6}") {
        let base = "query Q($a: Int = 3) { items(where: { and: [ { n: { gt: $a } }, { or: [ { name: { startsWith: \"a\" } }, { score: { isNull: true } } ] } ] }, orderBy: { n: DESC }, limit: 5) { n name ...F } } fragment F on items { score }";
        let cut = cut.min(base.len());
        let cut = (0..=cut).rev().find(|i| base.is_char_boundary(*i)).unwrap_or(0);
        let text = format!("{}{}{}", &base[..cut], insert, &base[cut..]);
        let rt = rt();
        let dir = tempfile::tempdir().unwrap();
        rt.block_on(async {
            let db = seeded(dir.path(), &[(5, true, "ab".into(), Some(1.0))]).await;
            let _ = db.execute(text.as_str()).await;
        });
    }
}

#[tokio::test]
async fn deeply_nested_input_is_an_error_not_a_crash() {
    let dir = tempfile::tempdir().unwrap();
    let db = seeded(dir.path(), &[]).await;
    for open in ["{", "[", "("] {
        let text = format!("query {{ items(where: {}) {{ n }} }}", open.repeat(100_000));
        let e = db.execute(text.as_str()).await.unwrap_err();
        assert_eq!(e.code(), "SYNTAX", "{e}");
    }
    // Deep values arriving as variables are bounded too (200 levels, well past the limit of
    // 64; far deeper serde_json values overflow a debug test thread's stack on drop alone).
    let mut v = json!(1);
    for _ in 0..200 {
        v = json!({ "and": [v] });
    }
    let e = db.execute(("query Q($w: Object) { items(where: $w) { n } }", json!({"w": v}))).await.unwrap_err();
    assert!(e.to_string().contains("deeper"), "{e}");
}

/// A random stored value: every JSON shape, integers on both sides of ±2^53, awkward text.
fn any_scalar() -> impl Strategy<Value = Value> {
    prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::Int),
        (-9_007_199_254_740_993i64..9_007_199_254_740_993).prop_map(Value::Int),
        any::<f64>().prop_map(Value::Float),
        "\\PC{0,8}|[\"\\\\\n\t\u{1}é😀]{0,4}".prop_map(Value::String),
        any::<u128>().prop_map(|n| Value::Uuid(uuid::Uuid::from_u128(n))),
    ]
}

fn any_value() -> impl Strategy<Value = Value> {
    any_scalar().prop_recursive(3, 24, 4, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
            prop::collection::vec(("[a-c]", inner), 0..4)
                .prop_map(|kv| Value::Object(kv.into_iter().collect::<indexmap::IndexMap<_, _>>())),
        ]
    })
}

/// A random selection over fields a, b, c (nested up to twice), with aliases that may collide.
fn selection() -> impl Strategy<Value = String> {
    let field = ("[a-c]|_sid", prop::option::of("[a-c]|x"));
    let leaf = field.clone().prop_map(|(name, alias)| match alias {
        Some(a) => format!("{a}: {name}"),
        None => name,
    });
    let nested = (field, prop::collection::vec(leaf.clone(), 1..4)).prop_map(|((name, alias), inner)| {
        let head = alias.map(|a| format!("{a}: {name}")).unwrap_or(name.clone());
        if name == "_sid" {
            head
        } else {
            format!("{head} {{ {} }}", inner.join(" "))
        }
    });
    prop::collection::vec(prop_oneof![leaf, nested], 1..5).prop_map(|fs| fs.join(" "))
}

/// A database whose schemaless collection `things` holds `docs`.
async fn things(dir: &std::path::Path, docs: &[Vec<(String, Value)>]) -> Aurora {
    let db = Aurora::open(dir.join("db")).await.unwrap();
    db.new_collection::<&str>("things", vec![]).await.unwrap();
    for d in docs {
        db.insert_into("things", d.clone()).await.unwrap();
    }
    db
}

/// True when a JSON tree holds an integer beyond ±(2^53 − 1).
fn beyond_safe(v: &serde_json::Value) -> bool {
    match v {
        serde_json::Value::Number(n) => {
            !n.is_f64() && n.as_i64().is_none_or(|i| i.unsigned_abs() > aurora_db::aql::MAX_SAFE_INTEGER as u64)
        }
        serde_json::Value::Array(a) => a.iter().any(beyond_safe),
        serde_json::Value::Object(m) => m.values().any(beyond_safe),
        _ => false,
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]

    /// The text path writes exactly the bytes of serializing the JSON tree, and flags unsafe ints;
    /// rows, where the result has them, stand for the same tree.
    #[test]
    fn json_text_is_the_serialized_json_tree(
        docs in prop::collection::vec(prop::collection::vec(("[a-c]", any_value()), 0..4), 0..6),
        sel in selection(),
        page in any::<bool>(),
    ) {
        let rt = rt();
        let dir = tempfile::tempdir().unwrap();
        rt.block_on(async {
            let db = things(dir.path(), &docs).await;
            let aql = if page {
                format!("query {{ things(limit: 4) {{ {sel} }} }}")
            } else {
                format!("query {{ things {{ {sel} }} }}")
            };
            let result = match db.execute(aql.as_str()).await {
                Ok(r) => r,
                Err(_) => return Ok(()), // a field no document has: an error on both paths
            };
            let tree = result.clone().into_json();
            if let Some(rows) = result.rows() {
                prop_assert_eq!(rows.to_json(), tree.clone(), "rows of {}", aql);
                prop_assert_eq!(rows.len(), docs.len().min(if page { 4 } else { usize::MAX }));
            }
            let text = result.into_json_text().unwrap();
            prop_assert_eq!(&text.text, &serde_json::to_string(&tree).unwrap());
            prop_assert_eq!(text.beyond_safe_integer, beyond_safe(&tree));
            Ok(())
        })?;
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]

    /// A list query over scalar values has rows exactly when its response keys differ, and they
    /// stand for its JSON tree.
    #[test]
    fn scalar_lists_have_rows_that_stand_for_the_tree(
        docs in prop::collection::vec(prop::collection::vec(("[a-c]", any_scalar()), 0..4), 0..6),
        sel in selection(),
        audit in any::<bool>(),
    ) {
        let rt = rt();
        let dir = tempfile::tempdir().unwrap();
        rt.block_on(async {
            let db = things(dir.path(), &docs).await;
            let aql = format!("query {{ things {{ {sel} }} }}");
            // debug_audit adds each document's `_sid` unless the selection has that key.
            let options = aurora_db::aql::ExecuteOptions { debug_audit: audit, ..Default::default() };
            let req = aurora_db::aql::ExecuteRequest { aql: aql.clone(), variables: json!(null), options };
            let Ok(result) = db.execute(req).await else { return Ok(()) };
            let keys: Vec<String> = sel
                .split_whitespace()
                .collect::<Vec<_>>()
                .join(" ")
                .split(['{', '}'])
                .step_by(2)
                .flat_map(response_keys)
                .collect();
            let unique = keys.iter().enumerate().all(|(i, k)| !keys[i + 1..].contains(k));
            let tree = result.to_json();
            match result.rows() {
                Some(rows) => {
                    prop_assert!(unique, "rows for repeated keys in {}", aql);
                    let cols = &rows.columns;
                    prop_assert!(cols.iter().enumerate().all(|(i, c)| !cols[i + 1..].contains(c)), "{:?}", cols);
                    prop_assert_eq!(rows.to_json(), tree);
                    prop_assert_eq!(rows.len(), docs.len());
                }
                None => prop_assert!(!unique, "no rows for {}", aql),
            }
            Ok(())
        })?;
    }
}

/// Response keys of a run of leaf selections (`a`, `x: b`, ...).
fn response_keys(part: &str) -> Vec<String> {
    let words: Vec<&str> = part.split_whitespace().collect();
    let mut keys = Vec::new();
    let mut i = 0;
    while i < words.len() {
        match words[i].strip_suffix(':') {
            Some(alias) => {
                keys.push(alias.to_string());
                i += 2;
            }
            None => {
                keys.push(words[i].to_string());
                i += 1;
            }
        }
    }
    keys
}

/// Variables may stand anywhere in a `where`: a whole filter, a list of filters, an operand, an
/// item of a list, a shorthand equality. Each gives the same documents as the literal text. A
/// variable in a field's place is always the value compared, never operators.
#[tokio::test]
async fn variables_anywhere_in_a_filter_mean_their_literal() {
    let dir = tempfile::tempdir().unwrap();
    let rows: Vec<_> = (0..12).map(|i| (i, i % 2 == 0, format!("n{i}"), None)).collect();
    let db = seeded(dir.path(), &rows).await;
    let names = |r: serde_json::Value| -> Vec<String> {
        r["items"].as_array().unwrap().iter().map(|d| d["name"].as_str().unwrap().to_string()).collect()
    };
    let cases = [
        ("query Q($w: Object) { items(where: $w) { name } }", json!({"w": {"n": {"gt": 8}}}), "{ n: { gt: 8 } }"),
        ("query Q($l: [Object]) { items(where: { or: $l }) { name } }", json!({"l": [{"n": {"eq": 1}}, {"n": {"eq": 2}}]}), "{ or: [{ n: { eq: 1 } }, { n: { eq: 2 } }] }"),
        ("query Q($a: Int, $b: Int) { items(where: { n: { in: [$a, 5, $b] } }) { name } }", json!({"a": 3, "b": 7}), "{ n: { in: [3, 5, 7] } }"),
        ("query Q($s: String) { items(where: { name: $s }) { name } }", json!({"s": "n4"}), "{ name: \"n4\" }"),
        ("query Q($f: Boolean, $m: Int) { items(where: { and: [{ flag: { eq: $f } }, { not: { n: { lt: $m } } }] }) { name } }", json!({"f": true, "m": 6}), "{ and: [{ flag: { eq: true } }, { not: { n: { lt: 6 } } }] }"),
    ];
    for (aql, vars, literal) in cases {
        let with_vars = db.execute((aql, vars.clone())).await.unwrap().to_json();
        let text = format!("query {{ items(where: {literal}) {{ name }} }}");
        let expected = db.execute(text.as_str()).await.unwrap().to_json();
        assert_eq!(names(with_vars), names(expected), "{aql} with {vars}");
    }
    // `{ n: $c }` compares `n` (an Int field) with the object `$c`: a type error, not `lte`.
    let shorthand = db.execute(("query Q($c: Any) { items(where: { n: $c }) { name } }", json!({"c": {"lte": 1}})));
    let e = shorthand.await.unwrap_err();
    assert_eq!(e.code(), "TYPE_ERROR", "an object variable is a value: {e}");
    let null_where =
        db.execute(("query Q($w: Object) { items(where: $w) { name } }", json!({"w": null}))).await.unwrap();
    assert_eq!(names(null_where.to_json()).len(), 12, "a null `where` variable filters nothing");
    let e = db.execute("query { items(where: { n: { eq: $nope } }) { name } }").await.unwrap_err();
    assert!(e.to_string().contains("nope"), "{e}");
}
