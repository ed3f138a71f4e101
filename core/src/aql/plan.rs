//! Compiled plans: what execution derives from a parsed document alone, computed once and kept
//! next to it in the plan cache. Nothing here depends on schemas or data, so a cached plan never
//! goes stale; everything that does (collections, known fields) is checked on every call, except
//! passed field checks, which are remembered against the collection's shape epoch.

use super::ast::{AqlDocument, AstValue, Field, OperationBody, OperationKind, Selection};
use super::convert::{has_variables, to_value, Vars};
use super::fragments::{expand, Fragments};
use super::query::{read_args, Mode, ReadArgs, QUERY_ARGS};
use crate::query::Filter;
use std::sync::atomic::AtomicU64;
use std::sync::Arc;

/// A parsed, fragment-checked document and its compiled query roots.
pub(crate) struct Plan {
    /// The exact text it was parsed from.
    pub text: String,
    /// The document as parsed.
    pub doc: AqlDocument,
    /// Per operation (same order as `doc.operations`): the compiled root fields of a query, or
    /// `None` for other kinds and for queries with a fragment spread at the root (an error).
    pub queries: Vec<Option<Vec<Option<RootPlan>>>>,
}

/// One compiled query root field; `None` in [`Plan::queries`] when compiling it failed, so the
/// call takes the uncompiled path and reports the error exactly as it always did.
pub(crate) struct RootPlan {
    /// The selection with fragment spreads inlined.
    pub fields: Arc<[Field]>,
    /// List, cursor page or aggregate/group-by.
    pub mode: Mode,
    /// Converted arguments, when they use no variables (else converted on each call).
    pub args: Option<ReadArgs>,
    /// Shape epoch ([`crate::index::CollectionState::shape_epoch`]) of the collection state on
    /// which the field checks of a list query with these static arguments last passed; 0 = never.
    pub checked_at: AtomicU64,
    /// Shape epoch at which the selected fields last passed their check (whatever the
    /// arguments: the selection never depends on variables).
    pub fields_checked_at: AtomicU64,
    /// The arguments when variables appear only as operands of `where` (the common
    /// `where: { email: { eq: $e } }`): the filter is built from them without walking the
    /// argument tree, and its fields, fixed by the text, are checked once per shape epoch.
    pub template: Option<FilterTemplate>,
    /// Shape epoch at which the fields of `template`'s filter last passed their check.
    pub filter_checked_at: AtomicU64,
}

/// A `where` argument of `field: { op: operand }` conditions, each operand a variable or a
/// literal, and the other arguments, which use no variables, converted once.
pub(crate) struct FilterTemplate {
    conditions: Vec<Condition>,
    rest: ReadArgs,
}

/// One `field: { op: operand }` condition of a [`FilterTemplate`].
struct Condition {
    path: String,
    op: CompareOp,
    operand: AstValue,
}

/// The comparison operators a [`FilterTemplate`] takes (each makes a one-value filter).
#[derive(Clone, Copy)]
enum CompareOp {
    Eq,
    Ne,
    Gt,
    Gte,
    Lt,
    Lte,
}

impl FilterTemplate {
    /// Compiles `f`'s arguments when they have the template's form.
    fn compile(f: &Field) -> Option<FilterTemplate> {
        if f.args.iter().filter(|a| a.name == "where").count() != 1 {
            return None;
        }
        let mut conditions = Vec::new();
        for arg in &f.args {
            if arg.name != "where" {
                if has_variables(&arg.value) {
                    return None;
                }
                continue;
            }
            let AstValue::Object(fields) = &arg.value else { return None };
            for (path, cond) in fields {
                if matches!(path.as_str(), "and" | "AND" | "or" | "OR" | "not" | "NOT") {
                    return None;
                }
                let AstValue::Object(ops) = cond else { return None };
                let [(op, operand)] = ops.as_slice() else { return None };
                let op = match op.as_str() {
                    "eq" => CompareOp::Eq,
                    "ne" => CompareOp::Ne,
                    "gt" => CompareOp::Gt,
                    "gte" => CompareOp::Gte,
                    "lt" => CompareOp::Lt,
                    "lte" => CompareOp::Lte,
                    _ => return None,
                };
                if !matches!(operand, AstValue::Variable(_)) && has_variables(operand) {
                    return None;
                }
                conditions.push(Condition { path: path.clone(), op, operand: operand.clone() });
            }
        }
        if conditions.is_empty() {
            return None;
        }
        let mut others = f.clone();
        others.args.retain(|a| a.name != "where");
        let rest = read_args(&others, &Vars::default(), QUERY_ARGS).ok()?;
        Some(FilterTemplate { conditions, rest })
    }

    /// The arguments with `vars` put in: the filter the argument tree converts to. `None` when
    /// an operand's variable is missing, so the general path reports it.
    pub(crate) fn args(&self, vars: &Vars) -> Option<ReadArgs> {
        let mut parts = Vec::with_capacity(self.conditions.len());
        for c in &self.conditions {
            let v = match &c.operand {
                AstValue::Variable(name) => to_value(vars.get(name)?),
                literal => to_value(literal),
            };
            let path = c.path.clone();
            parts.push(match c.op {
                CompareOp::Eq => Filter::Eq(path, v),
                CompareOp::Ne => Filter::Ne(path, v),
                CompareOp::Gt => Filter::Gt(path, v),
                CompareOp::Gte => Filter::Gte(path, v),
                CompareOp::Lt => Filter::Lt(path, v),
                CompareOp::Lte => Filter::Lte(path, v),
            });
        }
        let filter = if parts.len() == 1 { parts.pop()? } else { Filter::And(parts) };
        Some(ReadArgs { filter, ..self.rest.clone() })
    }
}

impl Plan {
    /// Compiles the query operations of a checked document.
    pub(crate) fn new(text: &str, doc: AqlDocument) -> Plan {
        let queries = {
            let frags: Fragments = doc.fragments.iter().map(|f| (f.name.as_str(), f)).collect();
            doc.operations
                .iter()
                .map(|op| match (&op.kind, &op.body) {
                    (OperationKind::Query, OperationBody::Selections(sels)) => sels
                        .iter()
                        .map(|s| match s {
                            Selection::Field(f) => Some(compile_root(f, &frags)),
                            Selection::FragmentSpread { .. } => None,
                        })
                        .collect(),
                    _ => None,
                })
                .collect()
        };
        Plan { text: text.to_string(), doc, queries }
    }
}

fn compile_root(f: &Field, frags: &Fragments) -> Option<RootPlan> {
    let fields: Arc<[Field]> = expand(&f.selections, frags, &f.name).ok()?.into();
    let mode = Mode::of(&fields);
    let variables = f.args.iter().any(|a| has_variables(&a.value));
    let args = if variables { None } else { read_args(f, &Vars::default(), QUERY_ARGS).ok() };
    let template = if variables { FilterTemplate::compile(f) } else { None };
    Some(RootPlan {
        fields,
        mode,
        args,
        checked_at: AtomicU64::new(0),
        fields_checked_at: AtomicU64::new(0),
        template,
        filter_checked_at: AtomicU64::new(0),
    })
}

#[cfg(test)]
mod tests {
    use super::{OperationBody, Selection};
    use crate::types::{FieldDefinition, FieldType};
    use crate::{Aurora, Value};

    /// The cached run of `text` and a first run of the same query under another text agree.
    async fn same_as_fresh(db: &Aurora, text: &str, round: usize) -> Result<serde_json::Value, String> {
        let cached = db.execute(text).await.map(|r| r.into_json()).map_err(|e| format!("{e:?}"));
        let fresh =
            db.execute(format!("{text} # fresh {round}")).await.map(|r| r.into_json()).map_err(|e| format!("{e:?}"));
        assert_eq!(cached, fresh, "{text}");
        cached
    }

    #[tokio::test]
    async fn remembered_field_checks_follow_the_collection_shape() {
        let dir = tempfile::tempdir().expect("tempdir");
        let db = Aurora::open(dir.path().join("db")).await.expect("open");
        db.new_collection::<&str>("c", vec![]).await.expect("collection");
        db.insert_into("c", vec![("a", Value::Int(1))]).await.expect("insert");
        let with_b = db.insert_into("c", vec![("a", Value::Int(2)), ("b", Value::Int(3))]).await.expect("insert");
        let texts = [
            "query { c(orderBy: { b: ASC }) { a } }",
            "query { c(where: { b: { eq: 3 } }) { a } }",
            "query { c(limit: 5) { a b } }",
            "query { c(where: { z: { eq: 1 } }) { a } }",
        ];
        let mut round = 0;
        let mut check = |db: &Aurora| {
            round += 1;
            let db = db.clone();
            let r = round;
            async move {
                let mut out = Vec::new();
                for t in texts {
                    // Twice: the second run takes the remembered checks.
                    out.push(same_as_fresh(&db, t, r * 10).await.is_ok());
                    out.push(same_as_fresh(&db, t, r * 10 + 1).await.is_ok());
                }
                out
            }
        };
        assert_eq!(check(&db).await, [true, true, true, true, true, true, false, false]);
        // With variables the arguments are converted on each call; the selection check is
        // remembered all the same.
        let with_vars = "query ($v: Int) { c(where: { a: { gt: $v } }) { a b } }";
        let run_vars = |db: &Aurora| {
            let db = db.clone();
            async move { db.execute((with_vars, serde_json::json!({ "v": 0 }))).await.map(|r| r.into_json()) }
        };
        for _ in 0..2 {
            assert_eq!(run_vars(&db).await.expect("b is known")["c"].as_array().map(Vec::len), Some(2));
        }
        // The only document with `b` goes: `b` becomes unknown.
        assert!(db.delete_document("c", &with_b).await.expect("delete"));
        assert_eq!(check(&db).await, [false, false, false, false, false, false, false, false]);
        let e = run_vars(&db).await.expect_err("b is no longer known");
        assert!(e.to_string().contains('b'), "{e}");
        // A new field becomes known.
        db.insert_into("c", vec![("b", Value::Int(3)), ("z", Value::Int(1))]).await.expect("insert");
        assert_eq!(check(&db).await, [true; 8]);
        // A schema change: strict with only `a` and `b`, `z` still stored.
        let mut schema = db.schema("c").expect("schema");
        schema.fields.insert("a".into(), FieldDefinition::new(FieldType::Int));
        db.set_schema("c", schema).await.expect("set schema");
        assert_eq!(check(&db).await, [true; 8]);
    }

    #[tokio::test]
    async fn templated_filters_mean_what_the_argument_tree_means() {
        let dir = tempfile::tempdir().expect("tempdir");
        let db = Aurora::open(dir.path().join("db")).await.expect("open");
        db.execute("schema { define collection u { email: String! @unique  age: Int @indexed  id: Uuid } }")
            .await
            .expect("schema");
        for i in 0..20 {
            let vars = serde_json::json!({ "e": format!("u{i}@x.io"), "a": i % 5 });
            db.execute(("mutation ($e: String!, $a: Int) { insertInto(collection: \"u\", data: { email: $e, age: $a }) { email } }", vars))
                .await
                .expect("insert");
        }
        let cases: &[(&str, serde_json::Value)] = &[
            ("query ($e: String) { u(where: { email: { eq: $e } }) { email age } }", serde_json::json!({ "e": "u3@x.io" })),
            ("query ($e: String) { u(where: { email: { eq: $e } }) { email } }", serde_json::json!({ "e": "nobody" })),
            ("query ($e: String) { u(where: { email: { eq: $e } }) { email } }", serde_json::json!({})),
            ("query ($a: Int) { u(where: { age: { gte: $a }, email: { ne: \"u4@x.io\" } }, orderBy: { email: DESC }, limit: 3) { email } }", serde_json::json!({ "a": 4 })),
            ("query ($a: Float) { u(where: { age: { lt: $a } }, limit: 4) { age } }", serde_json::json!({ "a": 1.5 })),
            ("query ($a: Int, $b: Int) { u(where: { age: { gt: $a }, email: { lte: \"u2\" } }) { email } }", serde_json::json!({ "a": 0, "b": 1 })),
            // Errors: a variable of the wrong type, one never declared, an unknown field, a
            // value the field's type refuses, an argument that is not allowed.
            ("query ($a: Int) { u(where: { age: { eq: $a } }) { email } }", serde_json::json!({ "a": "x" })),
            ("query { u(where: { age: { eq: $nope } }) { email } }", serde_json::json!({})),
            ("query ($a: Int) { u(where: { agee: { eq: $a } }) { email } }", serde_json::json!({ "a": 1 })),
            ("query ($a: String) { u(where: { id: { eq: $a } }) { email } }", serde_json::json!({ "a": "not a uuid" })),
            ("query ($a: Int) { u(where: { age: { eq: $a } }, bogus: 1) { email } }", serde_json::json!({ "a": 1 })),
            // Not templated (nested logic, a whole-filter variable, two `where`s): the same.
            ("query ($a: Int) { u(where: { or: [{ age: { eq: $a } }, { age: { eq: 2 } }] }) { age } }", serde_json::json!({ "a": 1 })),
            ("query ($w: Object) { u(where: $w) { age } }", serde_json::json!({ "w": { "age": { "eq": 3 } } })),
            ("query ($a: Int) { u(where: { age: { eq: $a } }, where: { age: { eq: 2 } }) { age } }", serde_json::json!({ "a": 1 })),
        ];
        let mut templated = 0;
        for (text, vars) in cases {
            // Where a template applies, it builds exactly the arguments the tree converts to.
            let plan = super::Plan::new(text, super::super::exec::parse(text).expect("parse"));
            let op = &plan.doc.operations[0];
            let Ok(vars) =
                super::super::convert::resolve_variables(&op.variables, vars, &crate::config::Limits::default())
            else {
                continue;
            };
            let (Some(roots), OperationBody::Selections(sels)) = (&plan.queries[0], &op.body) else { continue };
            let (Some(Some(root)), Some(Selection::Field(f))) = (roots.first(), sels.first()) else { continue };
            if let Some(a) = root.template.as_ref().and_then(|t| t.args(&vars)) {
                let b = super::read_args(f, &vars, super::QUERY_ARGS).expect("the tree converts too");
                assert_eq!(
                    (&a.filter, &a.order, a.limit, a.offset),
                    (&b.filter, &b.order, b.limit, b.offset),
                    "{text}"
                );
                templated += 1;
            }
        }
        assert_eq!(templated, 8, "lookups, ranges, mixed literals, and the unknown field and bad Uuid are templated");
        for (round, (text, vars)) in cases.iter().enumerate() {
            for _ in 0..2 {
                let cached =
                    db.execute((*text, vars.clone())).await.map(|r| r.into_json()).map_err(|e| format!("{e:?}"));
                let fresh = db
                    .execute((format!("{text} # {round}").as_str(), vars.clone()))
                    .await
                    .map(|r| r.into_json())
                    .map_err(|e| format!("{e:?}"));
                assert_eq!(cached, fresh, "{text} {vars}");
            }
        }
        let hit = db
            .execute((
                "query ($e: String) { u(where: { email: { eq: $e } }) { age } }",
                serde_json::json!({ "e": "u7@x.io" }),
            ))
            .await
            .expect("lookup")
            .into_json();
        assert_eq!(hit, serde_json::json!({ "u": [{ "age": 2 }] }));

        // The filter's field check is remembered per shape epoch: a field that goes away fails.
        db.new_collection::<&str>("c", vec![]).await.expect("collection");
        db.insert_into("c", vec![("a", Value::Int(1))]).await.expect("insert");
        let with_b = db.insert_into("c", vec![("a", Value::Int(2)), ("b", Value::Int(3))]).await.expect("insert");
        let by_b = "query ($v: Int) { c(where: { b: { eq: $v } }) { a } }";
        let run = |v: i64| db.execute((by_b, serde_json::json!({ "v": v })));
        for v in [3, 4, 3] {
            assert_eq!(
                run(v).await.expect("b is known").into_json()["c"].as_array().map(Vec::len),
                Some((v == 3) as usize)
            );
        }
        assert!(db.delete_document("c", &with_b).await.expect("delete"));
        let e = run(3).await.expect_err("b is no longer known");
        assert!(e.to_string().contains('b'), "{e}");
        db.insert_into("c", vec![("b", Value::Int(3))]).await.expect("insert");
        assert_eq!(run(3).await.expect("b is known again").into_json()["c"].as_array().map(Vec::len), Some(1));
    }
}
