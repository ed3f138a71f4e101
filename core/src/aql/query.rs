//! Query root fields: lists, cursor pages, aggregates and group-by — all on the shared planner.

use super::ast::{Field, Pos};
use super::convert::{resolve, to_filter, to_order, to_usize, Vars};
use super::fragments::{expand, Fragments};
use super::plan::RootPlan;
use super::project::{check_fields, project, unknown_field};
use super::result::{QueryBody, QueryResult};
use crate::db::catalog::Catalog;
use crate::db::Aurora;
use crate::error::{AuroraError, Result};
use crate::query::planner::{QuerySpec, Row};
use crate::query::Filter;
use crate::types::Document;
use crate::value::Value;
use serde_json::{json, Map, Value as Json};
use std::sync::atomic::{AtomicU64, Ordering as AtomicOrdering};
use std::sync::Arc;

/// What a query execution needs besides the field itself.
pub(crate) struct Ctx<'a> {
    pub db: &'a Aurora,
    pub vars: &'a Vars,
    pub frags: &'a Fragments<'a>,
    pub debug_audit: bool,
    /// The request's time and row budget.
    pub budget: &'a crate::query::Budget,
}

fn err(pos: Pos, msg: impl Into<String>) -> AuroraError {
    AuroraError::invalid_at(msg, pos.line, pos.column)
}

/// Puts the AQL position on errors raised by the planner.
pub(crate) fn at(pos: Pos) -> impl Fn(AuroraError) -> AuroraError {
    move |e| e.at_position(pos.line, pos.column)
}

/// Arguments common to reads: filter, ordering and window.
#[derive(Clone)]
pub(crate) struct ReadArgs {
    pub filter: Filter,
    pub order: Vec<(String, bool)>,
    pub limit: Option<usize>,
    pub offset: usize,
    pub first: Option<usize>,
    pub after: Option<String>,
    /// Backward page size (`last`).
    pub last: Option<usize>,
    /// Backward page bound (`before`): only rows strictly before this cursor.
    pub before: Option<String>,
}

/// Arguments a query root field accepts.
pub(crate) const QUERY_ARGS: &[&str] = &["where", "orderBy", "limit", "offset", "first", "after", "last", "before"];

pub(crate) fn read_args(f: &Field, vars: &Vars, allowed: &[&str]) -> Result<ReadArgs> {
    let mut a = ReadArgs {
        filter: Filter::All,
        order: Vec::new(),
        limit: None,
        offset: 0,
        first: None,
        after: None,
        last: None,
        before: None,
    };
    for arg in &f.args {
        if !allowed.contains(&arg.name.as_str()) {
            return Err(err(
                arg.pos,
                format!("unknown argument `{}` on `{}`; expected one of {}", arg.name, f.name, allowed.join(", ")),
            ));
        }
        if arg.name == "where" {
            // Converted straight from the argument: variables are looked up as they occur.
            if !matches!(super::convert::deref(&arg.value, vars, arg.pos)?, super::ast::AstValue::Null) {
                a.filter = to_filter(&arg.value, vars, arg.pos)?;
            }
            continue;
        }
        let v = resolve(&arg.value, vars, arg.pos)?;
        if matches!(*v, super::ast::AstValue::Null) {
            continue;
        }
        match arg.name.as_str() {
            "orderBy" => a.order = to_order(&v, arg.pos)?,
            "limit" => a.limit = Some(to_usize(&v, "limit", arg.pos)?),
            "offset" => a.offset = to_usize(&v, "offset", arg.pos)?,
            "first" => a.first = Some(to_usize(&v, "first", arg.pos)?),
            "last" => a.last = Some(to_usize(&v, "last", arg.pos)?),
            "after" | "before" => match &*v {
                super::ast::AstValue::String(s) if arg.name == "after" => a.after = Some(s.clone()),
                super::ast::AstValue::String(s) => a.before = Some(s.clone()),
                other => {
                    return Err(err(
                        arg.pos,
                        format!("`{}` takes a cursor string, got {}", arg.name, super::convert::describe(other)),
                    ))
                }
            },
            _ => {}
        }
    }
    if a.last.is_some() || a.before.is_some() {
        let forward = [
            ("first", a.first.is_some()),
            ("after", a.after.is_some()),
            ("offset", a.offset > 0),
            ("limit", a.limit.is_some()),
        ];
        if let Some((name, _)) = forward.iter().find(|(_, set)| *set) {
            let pos = f.args.iter().find(|x| x.name == *name).map_or(f.pos, |x| x.pos);
            return Err(err(
                pos,
                format!("`{name}` pages forward and `last`/`before` page backward; use one direction per query"),
            ));
        }
    }
    Ok(a)
}

/// What a root field's selection asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Mode {
    /// A list of projected documents.
    List,
    /// A cursor page (`edges`, `pageInfo`, `totalCount`).
    Paged,
    /// Aggregates or groups (`aggregate`, `groupBy`).
    Grouped,
}

impl Mode {
    /// The mode of an expanded selection.
    pub(crate) fn of(fields: &[Field]) -> Mode {
        let any = |names: &[&str]| fields.iter().any(|x| names.contains(&x.name.as_str()));
        if any(&["edges", "pageInfo", "totalCount"]) {
            Mode::Paged
        } else if any(&["aggregate", "groupBy"]) {
            Mode::Grouped
        } else {
            Mode::List
        }
    }
}

/// Runs one root field of a query.
pub(crate) fn run_root(ctx: &Ctx, f: &Field) -> Result<QueryResult> {
    let coll = ctx.db.inner.collection(&f.name).map_err(at(f.pos))?;
    let args = read_args(f, ctx.vars, QUERY_ARGS)?;
    let fields: Arc<[Field]> = expand(&f.selections, ctx.frags, &f.name)?.into();
    let mode = Mode::of(&fields);
    run_with(ctx, f, &coll, args, fields, mode, Checked::default())
}

/// Runs one root field compiled in the plan cache: the same steps and checks as [`run_root`]
/// without converting arguments or inlining fragments again.
pub(crate) fn run_planned(ctx: &Ctx, f: &Field, plan: &RootPlan) -> Result<QueryResult> {
    let coll = ctx.db.inner.collection(&f.name).map_err(at(f.pos))?;
    let templated = plan.template.as_ref().and_then(|t| t.args(ctx.vars));
    let (args, all, filter) = match (&plan.args, templated) {
        (Some(a), _) => (a.clone(), Some(&plan.checked_at), None),
        (None, Some(a)) => (a, None, Some(&plan.filter_checked_at)),
        (None, None) => (read_args(f, ctx.vars, QUERY_ARGS)?, None, None),
    };
    let checked = Checked { all, fields: Some(&plan.fields_checked_at), filter };
    run_with(ctx, f, &coll, args, plan.fields.clone(), plan.mode, checked)
}

/// Remembered checks of a planned root field: the shape epochs at which everything (static
/// arguments only), the selected fields, or the fields of a templated filter last passed.
#[derive(Clone, Copy, Default)]
pub(crate) struct Checked<'a> {
    all: Option<&'a AtomicU64>,
    fields: Option<&'a AtomicU64>,
    filter: Option<&'a AtomicU64>,
}

pub(crate) fn check_order(st: &Catalog, order: &[(String, bool)], pos: Pos) -> Result<()> {
    for (o, _) in order {
        if !st.accepts_field(o) {
            return Err(unknown_field(st, o, pos));
        }
    }
    Ok(())
}

fn run_with(
    ctx: &Ctx,
    f: &Field,
    coll: &Catalog,
    args: ReadArgs,
    fields: Arc<[Field]>,
    mode: Mode,
    checked: Checked,
) -> Result<QueryResult> {
    let body = match mode {
        Mode::List => {
            // With static arguments, checks that passed at the current shape epoch pass again
            // (they read nothing else), so they are skipped; filter fields are then known and
            // the planner need not check them.
            let st = coll;
            let epoch = st.shape_epoch();
            let at_epoch = |c: Option<&AtomicU64>| c.is_some_and(|c| c.load(AtomicOrdering::Relaxed) == epoch);
            let passed = at_epoch(checked.all);
            let fields_passed = passed || at_epoch(checked.fields);
            let filter_passed = passed || at_epoch(checked.filter);
            if !passed {
                check_order(st, &args.order, f.pos)?;
            }
            if !fields_passed {
                check_fields(st, &fields)?;
                if let Some(c) = checked.fields {
                    c.store(epoch, AtomicOrdering::Relaxed);
                }
            }
            if args.first.is_some() || args.after.is_some() || args.last.is_some() || args.before.is_some() {
                // A plain list with cursor arguments is the page's nodes.
                let rows = page_rows(ctx, f, &args)?.rows.into_iter().map(|(_, d)| d).collect();
                let body = list_body(ctx, fields, rows)?;
                return Ok(QueryResult {
                    key: f.response_key().to_string(),
                    collection: f.name.clone(),
                    documents: Vec::new(),
                    body,
                });
            }
            let spec = QuerySpec {
                filter: args.filter,
                order: args.order,
                limit: args.limit,
                offset: args.offset,
                after: None,
                ties_desc: false,
            };
            let snap = ctx.db.inner.snapshot();
            let rows = ctx.db.inner.run_query_in(st, &snap, spec, !filter_passed, ctx.budget).map_err(at(f.pos))?;
            if let (false, Some(c)) = (passed, checked.all) {
                c.store(epoch, AtomicOrdering::Relaxed);
            }
            if let (false, Some(c)) = (filter_passed, checked.filter) {
                c.store(epoch, AtomicOrdering::Relaxed);
            }
            let rows = rows.into_iter().map(|(_, d)| d).collect();
            list_body(ctx, fields, rows)?
        }
        Mode::Paged => {
            check_order(coll, &args.order, f.pos)?;
            QueryBody::Json { json: page(ctx, f, &fields, args)?, grouped: false }
        }
        Mode::Grouped => {
            check_order(coll, &args.order, f.pos)?;
            QueryBody::Json { json: aggregate_root(ctx, f, &fields, args)?, grouped: true }
        }
    };
    Ok(QueryResult { key: f.response_key().to_string(), collection: f.name.clone(), documents: Vec::new(), body })
}

/// The body of a list: projected on demand, or built now when the selection joins other
/// collections (`lookup`).
fn list_body(ctx: &Ctx, fields: Arc<[Field]>, rows: Vec<Arc<Document>>) -> Result<QueryBody> {
    if super::lookup::has_lookups(&fields) {
        let json = super::lookup::project_with_lookups(ctx, &rows, &fields)?;
        return Ok(QueryBody::Json { json, grouped: false });
    }
    Ok(QueryBody::Projected { fields, with_sid: ctx.debug_audit, rows })
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn unhex(s: &str) -> Option<Vec<u8>> {
    if !s.len().is_multiple_of(2) {
        return None;
    }
    (0..s.len()).step_by(2).map(|i| u8::from_str_radix(s.get(i..i + 2)?, 16).ok()).collect()
}

fn sort_keys(doc: &Document, order: &[(String, bool)]) -> Vec<Value> {
    order.iter().map(|(f, _)| doc.get_ref(f).cloned().unwrap_or(Value::Null)).collect()
}

fn encode_cursor(doc: &Document, order: &[(String, bool)]) -> String {
    let keys: Vec<Json> = sort_keys(doc, order).iter().map(Value::to_json).collect();
    hex(json!({ "s": doc._sid, "k": keys }).to_string().as_bytes())
}

/// Cursor position: the document's sort keys under the *current* order (recomputed when the
/// document still exists, so a cursor stays valid under any orderBy) and its system id.
fn decode_cursor(
    ctx: &Ctx,
    coll: &str,
    cursor: &str,
    order: &[(String, bool)],
    pos: Pos,
) -> Result<(Vec<Value>, String)> {
    let bad = || err(pos, "invalid cursor: pass an `endCursor` or `cursor` value returned by an earlier page");
    let raw = unhex(cursor).ok_or_else(bad)?;
    let j: Json = serde_json::from_slice(&raw).map_err(|_| bad())?;
    let sid = j.get("s").and_then(Json::as_str).ok_or_else(bad)?.to_string();
    let cat = ctx.db.inner.collection(coll)?;
    let current = crate::db::parse_sid(&sid).ok().and_then(|s| ctx.db.inner.fetch(&cat, s).ok().flatten());
    let keys = match current {
        Some(doc) => sort_keys(&doc, order),
        None => {
            let stored: Vec<Value> =
                j.get("k").and_then(Json::as_array).ok_or_else(bad)?.iter().map(Value::from_json).collect();
            if stored.len() != order.len() {
                return Err(err(pos, "the cursor's document was deleted and the cursor was made with another orderBy"));
            }
            stored
        }
    };
    Ok((keys, sid))
}

/// The rows of one page and whether rows exist before and after it.
pub(crate) struct PageRows {
    pub rows: Vec<Row>,
    pub has_previous: bool,
    pub has_next: bool,
}

/// What one page reads: forward (`first`/`after`) or backward (`last`/`before`, the reversed
/// order read from the cursor). One row more than the page is read, and whether it exists
/// says if the page has a neighbour that way; only the page is read, whatever the number of
/// matches.
pub(crate) struct PageQuery {
    pub spec: QuerySpec,
    backward: bool,
    size: Option<usize>,
    /// A neighbour is known to exist on the side the page was read from (the cursor's side).
    behind: bool,
}

/// The query of one page.
pub(crate) fn page_query(ctx: &Ctx, f: &Field, args: &ReadArgs) -> Result<PageQuery> {
    let cursor = |c: &str| -> Result<crate::query::planner::Cursor> {
        let (keys, sid) = decode_cursor(ctx, &f.name, c, &args.order, f.pos)?;
        Ok(crate::query::planner::Cursor { keys, sid })
    };
    if args.last.is_some() || args.before.is_some() {
        let before = args.before.as_deref().map(cursor).transpose()?;
        let behind = before.is_some();
        let spec = QuerySpec {
            filter: args.filter.clone(),
            order: args.order.iter().map(|(name, asc)| (name.clone(), !asc)).collect(),
            limit: args.last.map(|n| n.saturating_add(1)),
            offset: 0,
            after: before,
            ties_desc: true,
        };
        return Ok(PageQuery { spec, backward: true, size: args.last, behind });
    }
    let size = args.first.or(args.limit);
    let after = args.after.as_deref().map(cursor).transpose()?;
    let behind = after.is_some() || args.offset > 0;
    let spec = QuerySpec {
        filter: args.filter.clone(),
        order: args.order.clone(),
        limit: size.map(|n| n.saturating_add(1)),
        offset: args.offset,
        after,
        ties_desc: false,
    };
    Ok(PageQuery { spec, backward: false, size, behind })
}

impl PageQuery {
    /// Cuts what the page's query returned to the page, in the query's order.
    pub(crate) fn finish(&self, mut rows: Vec<Row>) -> PageRows {
        let more = self.size.is_some_and(|n| rows.len() > n);
        if let Some(n) = self.size {
            rows.truncate(n);
        }
        if self.backward {
            rows.reverse();
            PageRows { rows, has_previous: more, has_next: self.behind }
        } else {
            PageRows { rows, has_previous: self.behind, has_next: more }
        }
    }
}

/// Reads one page.
fn page_rows(ctx: &Ctx, f: &Field, args: &ReadArgs) -> Result<PageRows> {
    let q = page_query(ctx, f, args)?;
    let rows = ctx.db.inner.run_query(&f.name, q.spec.clone(), true, ctx.budget).map_err(at(f.pos))?;
    Ok(q.finish(rows))
}

fn page(ctx: &Ctx, f: &Field, fields: &[Field], args: ReadArgs) -> Result<Json> {
    let PageRows { rows, has_previous, has_next } = page_rows(ctx, f, &args)?;
    let page = &rows[..];
    let coll = ctx.db.inner.collection(&f.name)?;
    let mut out = Map::new();
    for sel in fields {
        let v = match sel.name.as_str() {
            "edges" => {
                let edge_fields = &sel.selections;
                // Nodes that join other collections are projected together (one probe per key).
                let node_sel = edge_fields.iter().find_map(|s| match s {
                    super::ast::Selection::Field(x) if x.name == "node" => Some(x),
                    _ => None,
                });
                let mut joined_nodes = match node_sel {
                    Some(n) => {
                        let node_fields = expand(&n.selections, ctx.frags, &f.name)?;
                        if super::lookup::has_lookups(&node_fields) {
                            check_fields(&coll, &node_fields)?;
                            let docs: Vec<Arc<Document>> = page.iter().map(|(_, d)| d.clone()).collect();
                            match super::lookup::project_with_lookups(ctx, &docs, &node_fields)? {
                                Json::Array(items) => Some(items.into_iter()),
                                _ => None,
                            }
                        } else {
                            None
                        }
                    }
                    None => None,
                };
                let mut edges = Vec::with_capacity(page.len());
                for (_, d) in page {
                    let joined_node = joined_nodes.as_mut().and_then(Iterator::next);
                    let mut e = Map::new();
                    for ef in edge_fields {
                        let super::ast::Selection::Field(ef) = ef else { continue };
                        match ef.name.as_str() {
                            "cursor" => {
                                e.insert(ef.response_key().into(), Json::String(encode_cursor(d, &args.order)));
                            }
                            "node" => {
                                let node = match &joined_node {
                                    Some(n) => n.clone(),
                                    None => {
                                        let node_fields = expand(&ef.selections, ctx.frags, &f.name)?;
                                        check_fields(&coll, &node_fields)?;
                                        project(d, &node_fields, ctx.debug_audit)
                                    }
                                };
                                e.insert(ef.response_key().into(), node);
                            }
                            other => {
                                return Err(err(
                                    ef.pos,
                                    format!("unknown edge field `{other}`; expected cursor or node"),
                                ))
                            }
                        }
                    }
                    edges.push(Json::Object(e));
                }
                Json::Array(edges)
            }
            "pageInfo" => {
                let mut pi = Map::new();
                for pf in &sel.selections {
                    let super::ast::Selection::Field(pf) = pf else { continue };
                    let v = match pf.name.as_str() {
                        "hasNextPage" => Json::Bool(has_next),
                        "hasPreviousPage" => Json::Bool(has_previous),
                        "endCursor" => page.last().map_or(Json::Null, |(_, d)| Json::String(encode_cursor(d, &args.order))),
                        "startCursor" => {
                            page.first().map_or(Json::Null, |(_, d)| Json::String(encode_cursor(d, &args.order)))
                        }
                        other => {
                            return Err(err(
                                pf.pos,
                                format!("unknown pageInfo field `{other}`; expected hasNextPage, hasPreviousPage, startCursor, endCursor"),
                            ))
                        }
                    };
                    pi.insert(pf.response_key().into(), v);
                }
                Json::Object(pi)
            }
            "totalCount" => Json::from(
                ctx.db.inner.count_matches(&f.name, args.filter.clone(), true, ctx.budget).map_err(at(f.pos))?,
            ),
            other => {
                return Err(err(
                    sel.pos,
                    format!("`{other}` cannot be selected next to edges/pageInfo; select it inside `node`"),
                ))
            }
        };
        out.insert(sel.response_key().to_string(), v);
    }
    Ok(Json::Object(out))
}

fn aggregate_root(ctx: &Ctx, f: &Field, fields: &[Field], args: ReadArgs) -> Result<Json> {
    let mut out = Map::new();
    let spec = QuerySpec {
        filter: args.filter.clone(),
        order: args.order,
        limit: args.limit,
        offset: args.offset,
        after: None,
        ties_desc: false,
    };
    let mut rows: Option<Vec<Row>> = None;
    let load = |rows: &mut Option<Vec<Row>>| -> Result<Vec<Row>> {
        if rows.is_none() {
            *rows = Some(ctx.db.inner.run_query(&f.name, spec.clone(), true, ctx.budget).map_err(at(f.pos))?);
        }
        Ok(rows.clone().unwrap_or_default())
    };
    for sel in fields {
        let v = match sel.name.as_str() {
            "aggregate" => {
                if only_counts(&sel.selections) && spec.limit.is_none() && spec.offset == 0 {
                    let n = ctx
                        .db
                        .inner
                        .count_matches(&f.name, args.filter.clone(), true, ctx.budget)
                        .map_err(at(f.pos))?;
                    let mut m = Map::new();
                    for s in &sel.selections {
                        if let super::ast::Selection::Field(x) = s {
                            m.insert(x.response_key().into(), Json::from(n));
                        }
                    }
                    Json::Object(m)
                } else {
                    let rows = load(&mut rows)?;
                    aggregate(ctx, &f.name, &sel.selections, &rows)?
                }
            }
            "groupBy" => {
                let rows = load(&mut rows)?;
                group_by(ctx, &f.name, sel, &rows)?
            }
            other => {
                return Err(err(sel.pos, format!("`{other}` cannot be selected next to aggregate/groupBy")));
            }
        };
        out.insert(sel.response_key().to_string(), v);
    }
    Ok(Json::Object(out))
}

/// True when an `aggregate` selection is only plain `count`s, answered without loading rows.
pub(crate) fn only_counts(sels: &[super::ast::Selection]) -> bool {
    sels.iter().all(|s| matches!(s, super::ast::Selection::Field(x) if x.name == "count" && x.args.is_empty()))
}

fn field_arg(sel: &Field, ctx: &Ctx) -> Result<String> {
    match sel.arg("field").map(|v| resolve(v, ctx.vars, sel.pos)).transpose()?.as_deref() {
        Some(super::ast::AstValue::String(s)) | Some(super::ast::AstValue::Enum(s)) => Ok(s.clone()),
        _ => Err(err(sel.pos, format!("`{}` needs a `field:` argument naming a field", sel.name))),
    }
}

/// Computes `count sum avg min max` over rows; keys are the function names or aliases.
fn aggregate(ctx: &Ctx, coll: &str, sels: &[super::ast::Selection], rows: &[Row]) -> Result<Json> {
    let coll_state = ctx.db.inner.collection(coll)?;
    let mut out = Map::new();
    for s in sels {
        let super::ast::Selection::Field(a) = s else {
            return Err(AuroraError::invalid("fragments cannot be spread inside aggregate"));
        };
        let v = match a.name.as_str() {
            "count" => match a.arg("field") {
                None => Json::from(rows.len()),
                Some(_) => {
                    let field = field_arg(a, ctx)?;
                    Json::from(rows.iter().filter(|(_, d)| d.get_ref(&field).is_some_and(|v| !v.is_null())).count())
                }
            },
            "sum" | "avg" | "min" | "max" => {
                let field = field_arg(a, ctx)?;
                if !coll_state.accepts_field(&field) {
                    return Err(unknown_field(&coll_state, &field, a.pos));
                }
                let vals = rows.iter().filter_map(|(_, d)| d.get_ref(&field)).filter(|v| !v.is_null());
                match a.name.as_str() {
                    "sum" => sum(vals),
                    "avg" => {
                        let nums: Vec<f64> = vals.filter_map(Value::as_f64).collect();
                        if nums.is_empty() {
                            Json::Null
                        } else {
                            serde_json::Number::from_f64(nums.iter().sum::<f64>() / nums.len() as f64)
                                .map_or(Json::Null, Json::Number)
                        }
                    }
                    "min" => vals.min_by(|a, b| a.total_cmp(b)).map_or(Json::Null, Value::to_json),
                    _ => vals.max_by(|a, b| a.total_cmp(b)).map_or(Json::Null, Value::to_json),
                }
            }
            other => {
                return Err(err(a.pos, format!("unknown aggregate `{other}`; expected count, sum, avg, min or max")));
            }
        };
        out.insert(a.response_key().to_string(), v);
    }
    Ok(Json::Object(out))
}

/// Sum that stays an Int while every value is an Int and nothing overflows.
fn sum<'a>(vals: impl Iterator<Item = &'a Value>) -> Json {
    let mut int: Option<i64> = Some(0);
    let mut float = 0.0f64;
    for v in vals {
        match v {
            Value::Int(i) => {
                int = int.and_then(|s| s.checked_add(*i));
                float += *i as f64;
            }
            Value::Float(f) => {
                int = None;
                float += f;
            }
            _ => {}
        }
    }
    match int {
        Some(i) => Json::from(i),
        None => serde_json::Number::from_f64(float).map_or(Json::Null, Json::Number),
    }
}

fn group_by(ctx: &Ctx, coll: &str, sel: &Field, rows: &[Row]) -> Result<Json> {
    let field = field_arg(sel, ctx)?;
    {
        let st = ctx.db.inner.collection(coll)?;
        if !st.accepts_field(&field) {
            return Err(unknown_field(&st, &field, sel.pos));
        }
    }
    let mut groups: std::collections::BTreeMap<crate::value::OrdValue, Vec<Row>> = Default::default();
    for r in rows {
        let k = r.1.get_ref(&field).cloned().unwrap_or(Value::Null);
        groups.entry(crate::value::OrdValue(k)).or_default().push(r.clone());
    }
    let mut out = Vec::with_capacity(groups.len());
    for (key, members) in groups {
        let mut g = Map::new();
        for s in &sel.selections {
            let super::ast::Selection::Field(x) = s else {
                return Err(err(sel.pos, "fragments cannot be spread directly inside groupBy"));
            };
            let v = match x.name.as_str() {
                "key" => key.0.to_json(),
                "count" => Json::from(members.len()),
                "aggregate" => aggregate(ctx, coll, &x.selections, &members)?,
                "nodes" => {
                    let nf = expand(&x.selections, ctx.frags, coll)?;
                    check_fields(&*ctx.db.inner.collection(coll)?, &nf)?;
                    Json::Array(members.iter().map(|(_, d)| project(d, &nf, ctx.debug_audit)).collect())
                }
                other => {
                    return Err(err(
                        x.pos,
                        format!("unknown groupBy field `{other}`; expected key, count, aggregate or nodes"),
                    ))
                }
            };
            g.insert(x.response_key().to_string(), v);
        }
        out.push(Json::Object(g));
    }
    Ok(Json::Array(out))
}
