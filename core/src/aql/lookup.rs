//! `lookup(collection:, localField:, foreignField:, where:, orderBy:, limit:) { … }` inside a
//! query's selection: per parent document, the documents of another collection whose
//! `foreignField` equals the parent's `localField`.
//!
//! With an index on the foreign field each distinct local value is one index probe; without
//! one, the other collection is read once and grouped by the foreign field. Either way the
//! cost is the parents plus the joined rows, never parents × collection. Joined rows count
//! against the request's row and time budget.

use super::ast::{AstValue, Field};
use super::convert::{deref, resolve, to_filter, to_order, to_usize};
use super::fragments::expand;
use super::project::{check_fields, project, unknown_field};
use super::query::{at, check_order, Ctx};
use crate::error::{AuroraError, Result};
use crate::query::planner::{compare_rows, QuerySpec, Row};
use crate::query::Filter;
use crate::types::Document;
use crate::value::{OrdValue, Value};
use serde_json::{Map, Value as Json};
use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

/// Arguments a `lookup` takes.
const LOOKUP_ARGS: &[&str] = &["collection", "localField", "foreignField", "where", "orderBy", "limit"];

/// True when `f` is a join (`lookup` with arguments), not a document field named `lookup`.
pub(crate) fn is_lookup(f: &Field) -> bool {
    f.name == "lookup" && !f.args.is_empty()
}

/// True when a selection holds a join at its top level.
pub(crate) fn has_lookups(fields: &[Field]) -> bool {
    fields.iter().any(is_lookup)
}

/// One join, its arguments read and checked.
struct Lookup<'f> {
    field: &'f Field,
    collection: String,
    local: String,
    foreign: String,
    filter: Filter,
    order: Vec<(String, bool)>,
    limit: Option<usize>,
    fields: Vec<Field>,
}

fn err(f: &Field, msg: impl Into<String>) -> AuroraError {
    AuroraError::invalid_at(msg, f.pos.line, f.pos.column)
}

fn read<'f>(ctx: &Ctx, f: &'f Field) -> Result<Lookup<'f>> {
    let text = |name: &str| -> Result<String> {
        let v = f.arg(name).ok_or_else(|| err(f, format!("`lookup` needs `{name}:`")))?;
        match &*resolve(v, ctx.vars, f.pos)? {
            AstValue::String(s) | AstValue::Enum(s) if !s.is_empty() => Ok(s.clone()),
            _ => Err(err(f, format!("`lookup` takes `{name}:` as a non-empty string"))),
        }
    };
    for a in &f.args {
        if !LOOKUP_ARGS.contains(&a.name.as_str()) {
            return Err(AuroraError::invalid_at(
                format!("unknown argument `{}` on `lookup`; expected one of {}", a.name, LOOKUP_ARGS.join(", ")),
                a.pos.line,
                a.pos.column,
            ));
        }
    }
    let collection = text("collection")?;
    let local = text("localField")?;
    let foreign = text("foreignField")?;
    let filter = match f.arg("where") {
        Some(w) if !matches!(deref(w, ctx.vars, f.pos)?, AstValue::Null) => to_filter(w, ctx.vars, f.pos)?,
        _ => Filter::All,
    };
    let order = match f.arg("orderBy").map(|v| resolve(v, ctx.vars, f.pos)).transpose()? {
        Some(v) if !matches!(*v, AstValue::Null) => to_order(&v, f.pos)?,
        _ => Vec::new(),
    };
    let limit = match f.arg("limit").map(|v| resolve(v, ctx.vars, f.pos)).transpose()? {
        Some(v) if !matches!(*v, AstValue::Null) => Some(to_usize(&v, "limit", f.pos)?),
        _ => None,
    };
    let cat = ctx.db.inner.collection(&collection).map_err(at(f.pos))?;
    if foreign != "_sid" && !cat.accepts_field(&foreign) {
        return Err(unknown_field(&cat, &foreign, f.pos));
    }
    check_order(&cat, &order, f.pos)?;
    let fields = expand(&f.selections, ctx.frags, &collection)?;
    let plain: Vec<Field> = fields.iter().filter(|x| !is_lookup(x)).cloned().collect();
    check_fields(&cat, &plain)?;
    Ok(Lookup { field: f, collection, local, foreign, filter, order, limit, fields })
}

/// The value a document joins on (`_sid` is the system id).
fn key_of(doc: &Document, field: &str) -> Value {
    if field == "_sid" {
        return Value::String(doc._sid.clone());
    }
    doc.get_ref(field).cloned().unwrap_or(Value::Null)
}

/// The joined rows of each distinct local value, in the lookup's order and within its limit.
fn matches_by_key(ctx: &Ctx, l: &Lookup, keys: &[Value]) -> Result<HashMap<usize, Vec<Arc<Document>>>> {
    let mut out: HashMap<usize, Vec<Arc<Document>>> = HashMap::new();
    let cat = ctx.db.inner.collection(&l.collection)?;
    let indexed = l.foreign != "_sid" && cat.index(&l.foreign).is_some_and(|d| !d.elements);
    let mut held = 0usize;
    if indexed {
        // One index probe per distinct key, with the lookup's filter, order and limit.
        for (i, k) in keys.iter().enumerate() {
            let filter = match &l.filter {
                Filter::All => Filter::Eq(l.foreign.clone(), k.clone()),
                other => Filter::And(vec![Filter::Eq(l.foreign.clone(), k.clone()), other.clone()]),
            };
            let spec = QuerySpec { filter, order: l.order.clone(), limit: l.limit, ..Default::default() };
            let rows = ctx.db.inner.run_query(&l.collection, spec, true, ctx.budget).map_err(at(l.field.pos))?;
            held += rows.len();
            ctx.budget.hold(held)?;
            out.insert(i, rows.into_iter().map(|(_, d)| d).collect());
        }
        return Ok(out);
    }
    // No index: read the other collection once (filtered) and group it by the foreign field.
    let wanted: BTreeMap<OrdValue, usize> = keys.iter().enumerate().map(|(i, k)| (OrdValue(k.clone()), i)).collect();
    let mut groups: HashMap<usize, Vec<Row>> = HashMap::new();
    // A per-parent limit keeps each group small while reading: unordered groups stop at the
    // limit, ordered ones are cut back to their best rows whenever they double.
    let cap = l.limit.map(|n| if l.order.is_empty() { n } else { n.saturating_mul(2) });
    let visit = |row: Row| -> Result<()> {
        let Some(i) = wanted.get(&OrdValue(key_of(&row.1, &l.foreign))) else { return Ok(()) };
        let group = groups.entry(*i).or_default();
        if (l.order.is_empty() || l.limit == Some(0)) && l.limit.is_some_and(|n| group.len() >= n) {
            return Ok(());
        }
        group.push(row);
        held += 1;
        if let (Some(cap), Some(n)) = (cap, l.limit) {
            if group.len() > cap {
                group.sort_by(|a, b| compare_rows(a, b, &l.order, false));
                held -= group.len() - n;
                group.truncate(n);
            }
        }
        ctx.budget.hold(held)
    };
    ctx.db.inner.for_each_match(&cat, l.filter.clone(), ctx.budget, visit).map_err(at(l.field.pos))?;
    for (i, mut rows) in groups {
        if !l.order.is_empty() {
            rows.sort_by(|a, b| compare_rows(a, b, &l.order, false));
        }
        if let Some(n) = l.limit {
            rows.truncate(n);
        }
        out.insert(i, rows.into_iter().map(|(_, d)| d).collect());
    }
    Ok(out)
}

/// Projects `rows` by `fields`, filling each `lookup` selection with its joined documents
/// (which may hold lookups of their own; the parser bounds the nesting).
pub(crate) fn project_with_lookups(ctx: &Ctx, rows: &[Arc<Document>], fields: &[Field]) -> Result<Json> {
    let plain: Vec<Field> = fields.iter().filter(|f| !is_lookup(f)).cloned().collect();
    let mut joined: Vec<(&Field, Vec<usize>, HashMap<usize, Json>)> = Vec::new();
    for f in fields.iter().filter(|f| is_lookup(f)) {
        let l = read(ctx, f)?;
        // Distinct local values, each joined once.
        let mut index: BTreeMap<OrdValue, usize> = BTreeMap::new();
        let mut keys = Vec::new();
        let mut of_row = Vec::with_capacity(rows.len());
        for d in rows {
            let k = key_of(d, &l.local);
            if k.is_null() {
                of_row.push(usize::MAX);
                continue;
            }
            let next = keys.len();
            let i = *index.entry(OrdValue(k.clone())).or_insert_with(|| {
                keys.push(k);
                next
            });
            of_row.push(i);
        }
        let found = matches_by_key(ctx, &l, &keys)?;
        let mut projected = HashMap::with_capacity(found.len());
        for (i, docs) in found {
            projected.insert(i, project_with_lookups(ctx, &docs, &l.fields)?);
        }
        joined.push((f, of_row, projected));
    }
    let mut out = Vec::with_capacity(rows.len());
    for (r, d) in rows.iter().enumerate() {
        let Json::Object(mut base) = project(d, &plain, ctx.debug_audit) else { continue };
        let mut obj = Map::with_capacity(fields.len() + 1);
        let mut lookups = joined.iter();
        for f in fields {
            let key = f.response_key().to_string();
            if is_lookup(f) {
                let v = lookups
                    .next()
                    .and_then(|(_, of_row, projected)| of_row.get(r).and_then(|i| projected.get(i)).cloned())
                    .unwrap_or_else(|| Json::Array(Vec::new()));
                obj.insert(key, v);
            } else if let Some(v) = base.remove(&key) {
                obj.insert(key, v);
            }
        }
        if let Some(sid) = base.remove("_sid") {
            obj.insert("_sid".into(), sid);
        }
        out.push(Json::Object(obj));
    }
    Ok(Json::Array(out))
}
