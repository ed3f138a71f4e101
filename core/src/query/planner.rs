//! Planner and executor: filter → index lookups (bitmap algebra) → residual → order → page.

use super::budget::Budget;
use super::filter::Filter;
use crate::db::catalog::{Catalog, IndexDef};
use crate::error::{hint_for, AuroraError, Result};
use crate::index::Indexes;
use crate::schema::coerce;
use crate::types::{Document, FieldType};
use crate::value::Value;
use roaring::RoaringBitmap;
use std::cmp::Ordering;
use std::ops::Bound;
use std::sync::Arc;

/// What to read: filter, ordering, window.
#[derive(Debug, Clone, Default)]
pub struct QuerySpec {
    /// Predicate (`Filter::All` for none).
    pub filter: Filter,
    /// Sort keys: field path and ascending flag, most significant first.
    pub order: Vec<(String, bool)>,
    /// Maximum number of documents.
    pub limit: Option<usize>,
    /// Documents to skip.
    pub offset: usize,
    /// Only documents strictly after this position in the query's order (cursor pagination):
    /// the walk skips what comes before instead of loading it.
    pub after: Option<Cursor>,
    /// Ties of the order are broken newest first instead of oldest first: with every
    /// direction of `order` flipped, the query reads its forward order backwards (`last`).
    pub ties_desc: bool,
}

/// A position in a query's order: the sort keys of a document and its system id (which breaks
/// ties, in insertion order).
#[derive(Debug, Clone, PartialEq)]
pub struct Cursor {
    /// The document's values of the `order` fields, in order.
    pub keys: Vec<Value>,
    /// The document's system id.
    pub sid: String,
}

impl Cursor {
    /// True when `doc` comes strictly after this position under `order` (ties by system id,
    /// descending when `ties_desc`).
    pub fn precedes(&self, doc: &Document, order: &[(String, bool)], ties_desc: bool) -> bool {
        for ((field, asc), k) in order.iter().zip(&self.keys) {
            let v = doc.get_ref(field).unwrap_or(&Value::Null);
            let o = v.total_cmp(k);
            if o != Ordering::Equal {
                return if *asc { o == Ordering::Greater } else { o == Ordering::Less };
            }
        }
        if ties_desc {
            doc._sid.as_str() < self.sid.as_str()
        } else {
            doc._sid.as_str() > self.sid.as_str()
        }
    }
}

/// Loads a document by row id.
pub type Fetch<'a> = &'a dyn Fn(u32) -> Result<Option<Arc<Document>>>;

/// A row id with its loaded document.
pub type Row = (u32, Arc<Document>);

/// Index-derived superset of the matches; `exact` when no residual check is needed.
#[derive(Debug)]
pub struct Candidates {
    /// Row ids that may match (`None` = every live row).
    pub set: Option<RoaringBitmap>,
    /// True when every row in `set` is known to match.
    pub exact: bool,
}

/// The index that can answer a leaf predicate: a whole-value index answers comparisons,
/// ranges, prefixes and null checks; an element index (a list field) answers `contains` and
/// null checks.
pub(crate) fn index_for(ix: &Indexes<'_>, f: &Filter) -> Option<IndexDef> {
    let def = ix.cat.index(f.field()?)?;
    let serves = match f {
        Filter::IsNull(_) | Filter::IsNotNull(_) => true,
        Filter::Contains(..) => def.elements,
        Filter::Eq(..)
        | Filter::Ne(..)
        | Filter::In(..)
        | Filter::Gt(..)
        | Filter::Gte(..)
        | Filter::Lt(..)
        | Filter::Lte(..)
        | Filter::Between(..)
        | Filter::StartsWith(..) => !def.elements,
        _ => false,
    };
    serves.then_some(def)
}

/// Resolves the indexable parts of a filter to bitmaps.
pub fn candidates(ix: &Indexes<'_>, f: &Filter) -> Result<Candidates> {
    let exact = |set: RoaringBitmap| Ok(Candidates { set: Some(set), exact: true });
    let none = Ok(Candidates { set: None, exact: false });
    let range = |d: &IndexDef, lo: Bound<&Value>, hi: Bound<&Value>| exact(ix.range(d, lo, hi)?);
    match f {
        Filter::All => Ok(Candidates { set: None, exact: true }),
        Filter::And(fs) => {
            let mut set: Option<RoaringBitmap> = None;
            let mut all_exact = true;
            for f in fs {
                let c = candidates(ix, f)?;
                all_exact &= c.exact;
                if let Some(s) = c.set {
                    set = Some(match set {
                        Some(acc) => acc & s,
                        None => s,
                    });
                }
            }
            Ok(Candidates { set, exact: all_exact })
        }
        Filter::Or(fs) => {
            let mut acc = RoaringBitmap::new();
            let mut all_exact = true;
            for f in fs {
                let c = candidates(ix, f)?;
                match c.set {
                    Some(s) => acc |= s,
                    None => return none,
                }
                all_exact &= c.exact;
            }
            Ok(Candidates { set: Some(acc), exact: all_exact })
        }
        Filter::Not(inner) => match candidates(ix, inner)? {
            Candidates { set: Some(s), exact: true } => exact(ix.live()? - s),
            _ => none,
        },
        leaf => {
            let Some(d) = index_for(ix, leaf) else { return none };
            match leaf {
                Filter::Eq(_, v) | Filter::Contains(_, v) => exact(ix.eq(&d, v)?),
                Filter::Ne(_, v) => exact(ix.live()? - ix.eq(&d, v)?),
                Filter::In(_, vs) => {
                    let mut acc = RoaringBitmap::new();
                    for v in vs {
                        acc |= ix.eq(&d, v)?;
                    }
                    exact(acc)
                }
                Filter::Gt(_, v) => range(&d, Bound::Excluded(v), Bound::Unbounded),
                Filter::Gte(_, v) => range(&d, Bound::Included(v), Bound::Unbounded),
                Filter::Lt(_, v) => range(&d, Bound::Unbounded, Bound::Excluded(v)),
                Filter::Lte(_, v) => range(&d, Bound::Unbounded, Bound::Included(v)),
                Filter::Between(_, lo, hi) => range(&d, Bound::Included(lo), Bound::Included(hi)),
                Filter::StartsWith(_, p) => exact(ix.prefix(&d, p)?),
                Filter::IsNull(_) => exact(ix.eq(&d, &Value::Null)?),
                Filter::IsNotNull(_) => exact(ix.live()? - ix.eq(&d, &Value::Null)?),
                _ => none,
            }
        }
    }
}

/// Filter operator names of AQL, for hints.
pub(crate) const FILTER_OPERATORS: &[&str] = &[
    "eq",
    "ne",
    "gt",
    "gte",
    "lt",
    "lte",
    "in",
    "nin",
    "notIn",
    "contains",
    "containsAny",
    "containsAll",
    "matches",
    "startsWith",
    "endsWith",
    "isNull",
    "isNotNull",
    "between",
    "not",
];

/// Checks filter fields and value types against the collection, and normalises values
/// (text to UUID for Uuid fields). Unknown fields are an error naming the closest known one.
pub fn prepare_filter(state: &Catalog, f: Filter, check_fields: bool) -> Result<Filter> {
    let schema = state.schema();
    let check = |field: &str| -> Result<()> {
        if let (true, Some((top, rest))) = (check_fields, field.split_once('.')) {
            if let Some(def) = schema.fields.get(top) {
                if !matches!(def.field_type, FieldType::Object | FieldType::Any) {
                    return Err(AuroraError::invalid(format!(
                        "unknown filter operator `{rest}` on field `{top}`{}: `{top}` is {} and has no sub-fields; \
                         operators are {}",
                        hint_for(rest, FILTER_OPERATORS.iter().copied()),
                        def.field_type,
                        FILTER_OPERATORS.join(", ")
                    )));
                }
            }
        }
        if !check_fields || state.accepts_field(field) {
            Ok(())
        } else {
            Err(state.unknown_field(field))
        }
    };
    let norm = |field: &str, v: Value| -> Result<Value> {
        check(field)?;
        let Some(def) = schema.fields.get(field) else {
            return Ok(v);
        };
        let mut v = v;
        match (&def.field_type, &v) {
            (_, Value::Null) => Ok(v),
            (FieldType::Int | FieldType::Float, Value::Int(_) | Value::Float(_)) => Ok(v),
            (FieldType::Array(inner), x) if !matches!(x, Value::Array(_)) => {
                coerce(&state.name, field, inner, &mut v)?;
                Ok(v)
            }
            (t, _) => {
                coerce(&state.name, field, t, &mut v)?;
                Ok(v)
            }
        }
    };
    Ok(match f {
        Filter::All => Filter::All,
        Filter::Eq(fl, v) => Filter::Eq(fl.clone(), norm(&fl, v)?),
        Filter::Ne(fl, v) => Filter::Ne(fl.clone(), norm(&fl, v)?),
        Filter::Gt(fl, v) => Filter::Gt(fl.clone(), norm(&fl, v)?),
        Filter::Gte(fl, v) => Filter::Gte(fl.clone(), norm(&fl, v)?),
        Filter::Lt(fl, v) => Filter::Lt(fl.clone(), norm(&fl, v)?),
        Filter::Lte(fl, v) => Filter::Lte(fl.clone(), norm(&fl, v)?),
        Filter::Between(fl, a, b) => Filter::Between(fl.clone(), norm(&fl, a)?, norm(&fl, b)?),
        Filter::In(fl, vs) => {
            let vs = vs.into_iter().map(|v| norm(&fl, v)).collect::<Result<Vec<_>>>()?;
            Filter::In(fl, vs)
        }
        Filter::Contains(fl, v) => {
            check(&fl)?;
            // An element of a typed list is compared as the list stores it (text to UUID, dates
            // normalised), which is also how its element index holds it.
            // Numbers compare across Int and Float, as `eq` does; null is never an element.
            let keep = |inner: &FieldType| {
                v.is_null()
                    || matches!(v, Value::Int(_) | Value::Float(_))
                        && matches!(inner, FieldType::Int | FieldType::Float)
            };
            let v = match schema.fields.get(fl.as_str()).map(|d| &d.field_type) {
                Some(FieldType::Array(inner)) if !keep(inner) => {
                    let mut v = v;
                    coerce(&state.name, &fl, inner, &mut v)?;
                    v
                }
                _ => v,
            };
            Filter::Contains(fl, v)
        }
        Filter::StartsWith(fl, p) => {
            check(&fl)?;
            Filter::StartsWith(fl, p)
        }
        Filter::EndsWith(fl, p) => {
            check(&fl)?;
            Filter::EndsWith(fl, p)
        }
        Filter::Matches(fl, p) => {
            check(&fl)?;
            Filter::Matches(fl, p)
        }
        Filter::IsNull(fl) => {
            check(&fl)?;
            Filter::IsNull(fl)
        }
        Filter::IsNotNull(fl) => {
            check(&fl)?;
            Filter::IsNotNull(fl)
        }
        Filter::And(fs) => {
            Filter::And(fs.into_iter().map(|f| prepare_filter(state, f, check_fields)).collect::<Result<_>>()?)
        }
        Filter::Or(fs) => {
            Filter::Or(fs.into_iter().map(|f| prepare_filter(state, f, check_fields)).collect::<Result<_>>()?)
        }
        Filter::Not(f) => Filter::Not(Box::new(prepare_filter(state, *f, check_fields)?)),
    })
}

/// An ordered walk of one index chosen for a query: top-k without sorting everything.
pub(crate) struct Walk<'f> {
    /// The index walked (the query's only sort field).
    pub def: crate::db::catalog::IndexDef,
    /// Walk direction.
    pub asc: bool,
    /// Predicates on the sort field, checked on the index keys (they also bound the walk).
    pub key_preds: Vec<&'f Filter>,
    /// The rest of the filter, checked on the documents.
    pub rest: Filter,
    /// What the indexes give for `rest`.
    pub rest_cand: Candidates,
    /// Rows to find: limit + offset.
    pub want: usize,
}

/// Decides whether a query walks its sort field's index: one indexed sort field, a limit, and
/// more candidates than a few times the rows wanted (else sorting the candidates is cheaper).
/// Predicates on the sort field bound the walk to their range, so a range + top-k never
/// materialises the whole range.
pub(crate) fn choose_walk<'f>(ix: &Indexes<'_>, spec: &'f QuerySpec) -> Result<Option<Walk<'f>>> {
    let want = spec.limit.map(|l| l.saturating_add(spec.offset));
    let ([(field, asc)], Some(want)) = (spec.order.as_slice(), want) else { return Ok(None) };
    let Some(def) = ix.cat.index(field).filter(|d| !d.elements) else { return Ok(None) };
    let (key_preds, rest) = split_key_predicates(&spec.filter, field);
    let rest_cand = candidates(ix, &rest)?;
    let threshold = want.saturating_mul(4).max(64);
    let walk = match &rest_cand.set {
        None => !key_preds.is_empty() || ix.count()? as usize > threshold,
        Some(s) => s.len() as usize > threshold,
    };
    Ok(walk.then_some(Walk { def, asc: *asc, key_preds, rest, rest_cand, want }))
}

/// Runs a query and returns the matching rows in result order.
pub fn run(ix: &Indexes<'_>, spec: &QuerySpec, budget: &Budget, fetch: Fetch<'_>) -> Result<Vec<Row>> {
    if spec.limit == Some(0) {
        return Ok(Vec::new());
    }
    let want = spec.limit.map(|l| l.saturating_add(spec.offset));
    let after = |doc: &Document| spec.after.as_ref().is_none_or(|c| c.precedes(doc, &spec.order, spec.ties_desc));

    if let Some(w) = choose_walk(ix, spec)? {
        let residual = !w.rest_cand.exact;
        let (lo, hi) = key_bounds(&w.key_preds);
        let mut out = Vec::with_capacity(w.want.min(1024));
        // Takes the rows of one value, in tie order; true once enough rows are found.
        let take = |ids: roaring::RoaringBitmap, out: &mut Vec<Row>| -> Result<bool> {
            let ids = match &w.rest_cand.set {
                Some(s) => ids & s,
                None => ids,
            };
            for rowid in in_tie_order(ids, spec.ties_desc) {
                let Some(doc) = fetch(rowid)? else { continue };
                if residual && !w.rest.matches(&doc) || !after(&doc) {
                    continue;
                }
                out.push((rowid, doc));
                if out.len() >= w.want {
                    return Ok(true);
                }
            }
            Ok(false)
        };
        if w.def.unique {
            // One row per value (nulls aside): whole groups are as cheap as they get.
            for item in ix.walk_range(&w.def, lo, hi, w.asc)? {
                let (key, ids) = item?;
                budget.tick()?;
                if w.key_preds.iter().all(|p| p.test_value(Some(&key))) && take(ids, &mut out)? {
                    break;
                }
            }
        } else {
            // A value's rows are read a chunk at a time, so a top-k over a value held by
            // millions of rows reads only the chunks it needs.
            'walk: for item in ix.walk_values(&w.def, lo, hi, w.asc)? {
                let (key, encoded) = item?;
                budget.tick()?;
                if w.key_preds.iter().any(|p| !p.test_value(Some(&key))) {
                    continue;
                }
                for chunk in ix.value_chunks(&w.def, &encoded, spec.ties_desc)? {
                    if take((*chunk?).clone(), &mut out)? {
                        break 'walk;
                    }
                }
            }
        }
        return Ok(out.into_iter().skip(spec.offset).collect());
    }
    run_unordered_or_sorted(ix, spec, &candidates(ix, &spec.filter)?, want, budget, fetch)
}

/// The range the key predicates of an ordered walk allow (`(Unbounded, Unbounded)` when none
/// bounds it): the walk starts and stops there instead of reading every key.
fn key_bounds<'a>(preds: &[&'a Filter]) -> (Bound<&'a Value>, Bound<&'a Value>) {
    let mut lo = Bound::Unbounded;
    let mut hi = Bound::Unbounded;
    // Only values an index range can hold bound the walk (a null, a list or an object does not).
    let rangeable =
        |v: &Value| matches!(v, Value::Bool(_) | Value::Int(_) | Value::Float(_) | Value::String(_) | Value::Uuid(_));
    for p in preds.iter().filter(|p| match p {
        Filter::Between(_, a, b) => rangeable(a) && rangeable(b),
        other => other.value().is_some_and(rangeable),
    }) {
        match p {
            Filter::Gt(_, v) => lo = Bound::Excluded(v),
            Filter::Gte(_, v) => lo = Bound::Included(v),
            Filter::Lt(_, v) => hi = Bound::Excluded(v),
            Filter::Lte(_, v) => hi = Bound::Included(v),
            Filter::Between(_, a, b) => {
                lo = Bound::Included(a);
                hi = Bound::Included(b);
            }
            Filter::Eq(_, v) => {
                lo = Bound::Included(v);
                hi = Bound::Included(v);
            }
            _ => {}
        }
    }
    // Bounds of two kinds (a number and a string) would exclude everything the walk must see:
    // the key predicates still check each key.
    match (&lo, &hi) {
        (Bound::Included(a) | Bound::Excluded(a), Bound::Included(b) | Bound::Excluded(b)) if !a.comparable(b) => {
            (Bound::Unbounded, Bound::Unbounded)
        }
        _ => (lo, hi),
    }
}

/// Splits an And filter into leaf predicates on `field` (checkable on index keys) and the rest.
pub(crate) fn split_key_predicates<'a>(f: &'a Filter, field: &str) -> (Vec<&'a Filter>, Filter) {
    let on_field = |p: &Filter| {
        p.field() == Some(field)
            && matches!(
                p,
                Filter::Eq(..)
                    | Filter::Gt(..)
                    | Filter::Gte(..)
                    | Filter::Lt(..)
                    | Filter::Lte(..)
                    | Filter::Between(..)
                    | Filter::In(..)
                    | Filter::IsNull(_)
                    | Filter::IsNotNull(_)
                    | Filter::StartsWith(..)
            )
    };
    match f {
        Filter::And(parts) => {
            let keys: Vec<&Filter> = parts.iter().filter(|p| on_field(p)).collect();
            let rest: Vec<Filter> = parts.iter().filter(|p| !on_field(p)).cloned().collect();
            let rest = match rest.len() {
                0 => Filter::All,
                1 => rest.into_iter().next().unwrap_or(Filter::All),
                _ => Filter::And(rest),
            };
            (keys, rest)
        }
        leaf if on_field(leaf) => (vec![leaf], Filter::All),
        other => (Vec::new(), other.clone()),
    }
}

fn run_unordered_or_sorted(
    ix: &Indexes<'_>,
    spec: &QuerySpec,
    cand: &Candidates,
    want: Option<usize>,
    budget: &Budget,
    fetch: Fetch<'_>,
) -> Result<Vec<Row>> {
    let residual = !cand.exact;
    let accept = |rowid: u32| -> Result<Option<Row>> {
        let Some(doc) = fetch(rowid)? else { return Ok(None) };
        if residual && !spec.filter.matches(&doc) {
            return Ok(None);
        }
        if spec.after.as_ref().is_some_and(|c| !c.precedes(&doc, &spec.order, spec.ties_desc)) {
            return Ok(None);
        }
        Ok(Some((rowid, doc)))
    };
    let live;
    let ids = match &cand.set {
        Some(s) => s,
        None => {
            live = ix.live()?;
            &live
        }
    };
    // Unordered results come in insertion order, which `ties_desc` reverses.
    let ids: Box<dyn Iterator<Item = u32>> =
        if spec.ties_desc && spec.order.is_empty() { Box::new(ids.iter().rev()) } else { Box::new(ids.iter()) };
    if spec.order.is_empty() {
        let mut out = Vec::new();
        for rowid in ids {
            if let Some(row) = accept(rowid)? {
                out.push(row);
                if want.is_some_and(|w| out.len() >= w) {
                    break;
                }
                budget.hold(out.len())?;
            }
        }
        return Ok(out.into_iter().skip(spec.offset).collect());
    }

    // With a limit, only the best `want` rows are kept: the buffer is cut back to them each
    // time it doubles, so memory stays O(want) however many rows match.
    let mut rows = Vec::new();
    for rowid in ids {
        if let Some(row) = accept(rowid)? {
            rows.push(row);
            match want {
                Some(k) if rows.len() >= k.saturating_mul(2).max(64) => {
                    sort_rows(&mut rows, &spec.order, spec.ties_desc, want)
                }
                _ => budget.hold(rows.len())?,
            }
        }
    }
    sort_rows(&mut rows, &spec.order, spec.ties_desc, want);
    Ok(rows.into_iter().skip(spec.offset).take(spec.limit.unwrap_or(usize::MAX)).collect())
}

/// Compares two documents by the sort keys, ties broken by row id (insertion order, reversed
/// when `ties_desc`).
pub fn compare_rows(a: &Row, b: &Row, order: &[(String, bool)], ties_desc: bool) -> Ordering {
    for (field, asc) in order {
        let va = a.1.get_ref(field).unwrap_or(&Value::Null);
        let vb = b.1.get_ref(field).unwrap_or(&Value::Null);
        let o = va.total_cmp(vb);
        if o != Ordering::Equal {
            return if *asc { o } else { o.reverse() };
        }
    }
    if ties_desc {
        b.0.cmp(&a.0)
    } else {
        a.0.cmp(&b.0)
    }
}

/// The row ids of one index key in tie order.
fn in_tie_order(ids: roaring::RoaringBitmap, ties_desc: bool) -> Box<dyn Iterator<Item = u32>> {
    if ties_desc {
        Box::new(ids.into_iter().rev())
    } else {
        Box::new(ids.into_iter())
    }
}

fn sort_rows(rows: &mut Vec<Row>, order: &[(String, bool)], ties_desc: bool, want: Option<usize>) {
    let cmp = |a: &Row, b: &Row| compare_rows(a, b, order, ties_desc);
    if let Some(k) = want {
        if k > 0 && k < rows.len() {
            rows.select_nth_unstable_by(k - 1, cmp);
            rows.truncate(k);
        }
    }
    rows.sort_unstable_by(cmp);
}

/// Counts matches, without loading documents when the indexes answer exactly.
pub fn count(ix: &Indexes<'_>, filter: &Filter, fetch: Fetch<'_>) -> Result<u64> {
    let cand = candidates(ix, filter)?;
    if cand.exact {
        return match cand.set {
            Some(s) => Ok(s.len()),
            None => ix.count(),
        };
    }
    let ids = match cand.set {
        Some(s) => s,
        None => ix.live()?,
    };
    let mut n = 0;
    for rowid in ids.iter() {
        if let Some(doc) = fetch(rowid)? {
            if filter.matches(&doc) {
                n += 1;
            }
        }
    }
    Ok(n)
}
