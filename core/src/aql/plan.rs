//! Compiled plans: what execution derives from a parsed document alone, computed once and kept
//! next to it in the plan cache. Nothing here depends on schemas or data, so a cached plan never
//! goes stale; everything that does (collections, known fields) is checked on every call, except
//! passed field checks, which are remembered against the collection's shape epoch.

use super::ast::{AqlDocument, Field, OperationBody, OperationKind, Selection};
use super::convert::{has_variables, Vars};
use super::fragments::{expand, Fragments};
use super::query::{read_args, Mode, ReadArgs, QUERY_ARGS};
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
    let args = if f.args.iter().any(|a| has_variables(&a.value)) {
        None
    } else {
        read_args(f, &Vars::default(), QUERY_ARGS).ok()
    };
    Some(RootPlan { fields, mode, args, checked_at: AtomicU64::new(0), fields_checked_at: AtomicU64::new(0) })
}

#[cfg(test)]
mod tests {
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
}
