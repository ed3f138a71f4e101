//! `explain`: each root field of a query reports the plan it runs — strategy, indexes used,
//! estimated, examined and returned rows — after running it (the counts are real).

use super::ast::Field;
use super::fragments::expand;
use super::project::check_fields;
use super::query::{at, check_order, only_counts, page_query, read_args, Ctx, Mode, QUERY_ARGS};
use super::result::{QueryBody, QueryResult};
use crate::error::Result;
use crate::query::planner::QuerySpec;
use serde_json::{json, Value as Json};

/// Plans and runs one root field of a query, returning its plan report in place of its rows.
pub(crate) fn explain_root(ctx: &Ctx, f: &Field) -> Result<QueryResult> {
    let coll = ctx.db.inner.collection(&f.name).map_err(at(f.pos))?;
    let args = read_args(f, ctx.vars, QUERY_ARGS)?;
    let fields = expand(&f.selections, ctx.frags, &f.name)?;
    let mode = Mode::of(&fields);
    check_order(&coll, &args.order, f.pos)?;
    if mode == Mode::List {
        check_fields(&coll, &fields)?;
    }
    let cursors = args.first.is_some() || args.after.is_some() || args.last.is_some() || args.before.is_some();
    let page = match mode {
        Mode::Paged => Some(page_query(ctx, f, &args)?),
        Mode::List if cursors => Some(page_query(ctx, f, &args)?),
        _ => None,
    };
    let kind = match (mode, &page) {
        (Mode::Grouped, _) => "aggregate",
        (_, Some(_)) => "page",
        _ => "list",
    };
    let spec = match &page {
        Some(q) => q.spec.clone(),
        None => QuerySpec {
            filter: args.filter.clone(),
            order: args.order.clone(),
            limit: args.limit,
            offset: args.offset,
            after: None,
            ties_desc: false,
        },
    };
    let backward = spec.ties_desc;
    let mut out = json!({ "collection": f.name, "kind": kind });
    if mode == Mode::Grouped
        && fields.iter().all(|f| f.name == "aggregate" && only_counts(&f.selections))
        && spec.limit.is_none()
        && spec.offset == 0
    {
        // As the aggregate runs it: a count, from counters or bitmaps when they answer exactly.
        let (report, _) = ctx.db.inner.explain_count(&coll, spec.filter, ctx.budget).map_err(at(f.pos))?;
        if let (Json::Object(o), Json::Object(r)) = (&mut out, report.to_json()) {
            o.extend(r);
            o.insert("kind".into(), Json::from("count"));
        }
        let body = QueryBody::Json { json: out, grouped: false };
        return Ok(QueryResult {
            key: f.response_key().to_string(),
            collection: f.name.clone(),
            documents: Vec::new(),
            body,
        });
    }
    let (report, rows) = ctx.db.inner.explain_query(&coll, spec, ctx.budget).map_err(at(f.pos))?;
    if let (Json::Object(o), Json::Object(r)) = (&mut out, report.to_json()) {
        o.extend(r);
        if let Some(q) = &page {
            // The page's extra row (read to learn whether another page exists) is not returned.
            o.insert("actualRows".into(), Json::from(q.finish(rows).rows.len()));
            o.insert("backward".into(), Json::Bool(backward));
        }
    }
    let body = QueryBody::Json { json: out, grouped: false };
    Ok(QueryResult { key: f.response_key().to_string(), collection: f.name.clone(), documents: Vec::new(), body })
}
