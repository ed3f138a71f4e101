//! Planner and executor: filter → index lookups (bitmap algebra) → residual → order → page.

use super::budget::Budget;
use super::filter::Filter;
use crate::error::{hint_for, AuroraError, Result};
use crate::index::{CollectionState, RowIdIter, RowIds};
use crate::schema::coerce;
use crate::types::{Document, FieldType};
use crate::value::Value;
use roaring::RoaringBitmap;
use std::borrow::Cow;
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
    /// True when `doc` comes strictly after this position under `order`.
    pub fn precedes(&self, doc: &Document, order: &[(String, bool)]) -> bool {
        for ((field, asc), k) in order.iter().zip(&self.keys) {
            let v = doc.get_ref(field).unwrap_or(&Value::Null);
            let o = v.total_cmp(k);
            if o != Ordering::Equal {
                return if *asc { o == Ordering::Greater } else { o == Ordering::Less };
            }
        }
        doc._sid.as_str() > self.sid.as_str()
    }
}

/// Loads a document by row id and system id.
pub type Fetch<'a> = &'a dyn Fn(u32, u128) -> Result<Option<Arc<Document>>>;

/// A row id with its loaded document.
pub type Row = (u32, Arc<Document>);

/// Index-derived superset of the matches; `exact` when no residual check is needed.
#[derive(Debug)]
pub struct Candidates<'a> {
    /// Row ids that may match (`None` = every live row); borrowed from the index when one
    /// equality answers it (a point lookup then copies no bitmap).
    pub set: Option<IdSet<'a>>,
    /// True when every row in `set` is known to match.
    pub exact: bool,
}

/// A set of candidate row ids: borrowed from an index, or computed.
#[derive(Debug)]
pub enum IdSet<'a> {
    /// The rows of one index key (one row, for a unique key).
    Index(RowIds<'a>),
    /// Rows computed from several keys or indexes.
    Owned(RoaringBitmap),
}

impl<'a> IdSet<'a> {
    /// Number of rows.
    pub fn len(&self) -> u64 {
        match self {
            IdSet::Index(ids) => ids.len(),
            IdSet::Owned(bm) => bm.len(),
        }
    }

    /// True when there are no rows.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The rows in ascending order.
    pub fn iter(&self) -> RowIdIter<'_> {
        match self {
            IdSet::Index(ids) => ids.iter(),
            IdSet::Owned(bm) if bm.len() == 1 => RowIdIter::One(bm.min()),
            IdSet::Owned(bm) => RowIdIter::Set(bm.iter()),
        }
    }

    /// The rows as a bitmap (borrowed when there is one).
    pub fn bitmap(&self) -> Cow<'_, RoaringBitmap> {
        match self {
            IdSet::Index(RowIds::Set(bm)) => Cow::Borrowed(*bm),
            IdSet::Index(ids) => Cow::Owned(ids.to_bitmap()),
            IdSet::Owned(bm) => Cow::Borrowed(bm),
        }
    }

    /// The rows in both sets.
    fn intersect(self, other: IdSet<'a>) -> IdSet<'a> {
        match (self, other) {
            (IdSet::Index(RowIds::One(r)), o) | (o, IdSet::Index(RowIds::One(r))) => {
                let hit = match &o {
                    IdSet::Index(ids) => ids.contains(r),
                    IdSet::Owned(bm) => bm.contains(r),
                };
                if hit {
                    IdSet::Index(RowIds::One(r))
                } else {
                    IdSet::Owned(RoaringBitmap::new())
                }
            }
            (a, b) => IdSet::Owned(a.bitmap().as_ref() & b.bitmap().as_ref()),
        }
    }
}

/// Resolves the indexable parts of a filter to bitmaps.
pub fn candidates<'a>(state: &'a CollectionState, f: &Filter) -> Candidates<'a> {
    let exact = |set: RoaringBitmap| Candidates { set: Some(IdSet::Owned(set)), exact: true };
    let none = Candidates { set: None, exact: false };
    let ix = |field: &str| state.index(field);
    match f {
        Filter::All => Candidates { set: None, exact: true },
        Filter::Eq(fl, v) => ix(fl).map_or(none, |i| match i.eq_ref(v) {
            Some(ids) => Candidates { set: Some(IdSet::Index(ids)), exact: true },
            None => exact(RoaringBitmap::new()),
        }),
        Filter::Ne(fl, v) => ix(fl).map_or(none, |i| exact(state.live() - i.eq(v))),
        Filter::In(fl, vs) => ix(fl).map_or(none, |i| exact(vs.iter().fold(RoaringBitmap::new(), |a, v| a | i.eq(v)))),
        Filter::Gt(fl, v) => ix(fl).map_or(none, |i| exact(i.range(Bound::Excluded(v), Bound::Unbounded))),
        Filter::Gte(fl, v) => ix(fl).map_or(none, |i| exact(i.range(Bound::Included(v), Bound::Unbounded))),
        Filter::Lt(fl, v) => ix(fl).map_or(none, |i| exact(i.range(Bound::Unbounded, Bound::Excluded(v)))),
        Filter::Lte(fl, v) => ix(fl).map_or(none, |i| exact(i.range(Bound::Unbounded, Bound::Included(v)))),
        Filter::Between(fl, lo, hi) => {
            ix(fl).map_or(none, |i| exact(i.range(Bound::Included(lo), Bound::Included(hi))))
        }
        Filter::StartsWith(fl, p) => ix(fl).map_or(none, |i| exact(i.prefix(p))),
        Filter::IsNull(fl) => ix(fl).map_or(none, |i| exact(i.eq(&Value::Null))),
        Filter::IsNotNull(fl) => ix(fl).map_or(none, |i| exact(state.live() - i.eq(&Value::Null))),
        Filter::Contains(..) | Filter::EndsWith(..) => none,
        Filter::And(fs) => {
            let mut set: Option<IdSet<'a>> = None;
            let mut all_exact = true;
            for c in fs.iter().map(|f| candidates(state, f)) {
                all_exact &= c.exact;
                if let Some(s) = c.set {
                    set = Some(match set {
                        Some(acc) => acc.intersect(s),
                        None => s,
                    });
                }
            }
            Candidates { set, exact: all_exact }
        }
        Filter::Or(fs) => {
            let mut acc = RoaringBitmap::new();
            let mut all_exact = true;
            for c in fs.iter().map(|f| candidates(state, f)) {
                match c.set {
                    Some(s) => acc |= s.bitmap().as_ref(),
                    None => return none,
                }
                all_exact &= c.exact;
            }
            Candidates { set: Some(IdSet::Owned(acc)), exact: all_exact }
        }
        Filter::Not(inner) => match candidates(state, inner) {
            Candidates { set: Some(s), exact: true } => exact(state.live() - s.bitmap().as_ref()),
            _ => none,
        },
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
    "startsWith",
    "endsWith",
    "isNull",
    "isNotNull",
    "between",
];

/// Checks filter fields and value types against the collection, and normalises values
/// (text to UUID for Uuid fields). Unknown fields are an error naming the closest known one.
pub fn prepare_filter(state: &CollectionState, f: Filter, check_fields: bool) -> Result<Filter> {
    let check = |field: &str| -> Result<()> {
        if let (true, Some((top, rest))) = (check_fields, field.split_once('.')) {
            if let Some(def) = state.schema.fields.get(top) {
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
            Err(AuroraError::FieldNotFound {
                line: 0,
                column: 0,
                collection: state.name.clone(),
                field: field.to_string(),
                hint: hint_for(field, state.known_fields()),
            })
        }
    };
    let norm = |field: &str, v: Value| -> Result<Value> {
        check(field)?;
        let Some(def) = state.schema.fields.get(field) else {
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

/// Runs a query and returns the matching rows in result order.
pub fn run(state: &CollectionState, spec: &QuerySpec, budget: &Budget, fetch: Fetch<'_>) -> Result<Vec<Row>> {
    if spec.limit == Some(0) {
        return Ok(Vec::new());
    }
    let want = spec.limit.map(|l| l.saturating_add(spec.offset));
    let after = |doc: &Document| spec.after.as_ref().is_none_or(|c| c.precedes(doc, &spec.order));

    // Ordered walk of an index: top-k without sorting everything. Predicates on the sort
    // field are checked on the index keys during the walk (and end it once past the range),
    // so a range + top-k never materialises the whole range.
    if let ([(field, asc)], Some(want)) = (spec.order.as_slice(), want) {
        if let Some(ix) = state.index(field) {
            let (key_preds, rest) = split_key_predicates(&spec.filter, field);
            let rest_cand = candidates(state, &rest);
            let threshold = want.saturating_mul(4).max(64);
            let walk = match &rest_cand.set {
                None => !key_preds.is_empty() || state.count() as usize > threshold,
                Some(s) => s.len() as usize > threshold,
            };
            if walk {
                let residual = !rest_cand.exact;
                let rest_set = rest_cand.set.as_ref().map(|s| s.bitmap());
                let mut out = Vec::with_capacity(want.min(1024));
                'walk: for (key, ids) in ix.iter_ordered(*asc) {
                    if let Some(p) = key_preds.iter().find(|p| !p.test_value(Some(key))) {
                        if past_end(p, key, *asc) {
                            break;
                        }
                        continue;
                    }
                    let ids = match &rest_set {
                        Some(s) => ids & s.as_ref(),
                        None => ids.clone(),
                    };
                    for rowid in ids {
                        let Some(sid) = state.sid_of(rowid) else { continue };
                        let Some(doc) = fetch(rowid, sid)? else { continue };
                        if residual && !rest.matches(&doc) || !after(&doc) {
                            continue;
                        }
                        out.push((rowid, doc));
                        if out.len() >= want {
                            break 'walk;
                        }
                    }
                }
                return Ok(out.into_iter().skip(spec.offset).collect());
            }
        }
    }
    run_unordered_or_sorted(state, spec, &candidates(state, &spec.filter), want, budget, fetch)
}

/// Splits an And filter into leaf predicates on `field` (checkable on index keys) and the rest.
fn split_key_predicates<'a>(f: &'a Filter, field: &str) -> (Vec<&'a Filter>, Filter) {
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

/// True when a key that fails `p` means every later key of the walk fails it too.
fn past_end(p: &Filter, key: &Value, asc: bool) -> bool {
    let beyond = |bound: &Value, upper: bool| key.comparable(bound) && (upper == asc);
    match p {
        Filter::Lt(_, b) | Filter::Lte(_, b) => beyond(b, true) && key.total_cmp(b) != Ordering::Less,
        Filter::Gt(_, b) | Filter::Gte(_, b) => beyond(b, false) && key.total_cmp(b) != Ordering::Greater,
        Filter::Between(_, lo, hi) => {
            if asc {
                key.comparable(hi) && key.total_cmp(hi) == Ordering::Greater
            } else {
                key.comparable(lo) && key.total_cmp(lo) == Ordering::Less
            }
        }
        _ => false,
    }
}

fn run_unordered_or_sorted(
    state: &CollectionState,
    spec: &QuerySpec,
    cand: &Candidates<'_>,
    want: Option<usize>,
    budget: &Budget,
    fetch: Fetch<'_>,
) -> Result<Vec<Row>> {
    let residual = !cand.exact;
    let accept = |rowid: u32| -> Result<Option<Row>> {
        let Some(sid) = state.sid_of(rowid) else { return Ok(None) };
        let Some(doc) = fetch(rowid, sid)? else { return Ok(None) };
        if residual && !spec.filter.matches(&doc) {
            return Ok(None);
        }
        if spec.after.as_ref().is_some_and(|c| !c.precedes(&doc, &spec.order)) {
            return Ok(None);
        }
        Ok(Some((rowid, doc)))
    };
    let ids = match &cand.set {
        Some(s) => s.iter(),
        None => RowIdIter::Set(state.live().iter()),
    };
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
                Some(k) if rows.len() >= k.saturating_mul(2).max(64) => sort_rows(&mut rows, &spec.order, want),
                _ => budget.hold(rows.len())?,
            }
        }
    }
    sort_rows(&mut rows, &spec.order, want);
    Ok(rows.into_iter().skip(spec.offset).take(spec.limit.unwrap_or(usize::MAX)).collect())
}

/// Compares two documents by the sort keys, ties broken by row id (insertion order).
pub fn compare_rows(a: &Row, b: &Row, order: &[(String, bool)]) -> Ordering {
    for (field, asc) in order {
        let va = a.1.get_ref(field).unwrap_or(&Value::Null);
        let vb = b.1.get_ref(field).unwrap_or(&Value::Null);
        let o = va.total_cmp(vb);
        if o != Ordering::Equal {
            return if *asc { o } else { o.reverse() };
        }
    }
    a.0.cmp(&b.0)
}

fn sort_rows(rows: &mut Vec<Row>, order: &[(String, bool)], want: Option<usize>) {
    let cmp = |a: &Row, b: &Row| compare_rows(a, b, order);
    if let Some(k) = want {
        if k > 0 && k < rows.len() {
            rows.select_nth_unstable_by(k - 1, cmp);
            rows.truncate(k);
        }
    }
    rows.sort_unstable_by(cmp);
}

/// Counts matches, without loading documents when the indexes answer exactly.
pub fn count(state: &CollectionState, filter: &Filter, fetch: Fetch<'_>) -> Result<u64> {
    let cand = candidates(state, filter);
    if cand.exact {
        return Ok(cand.set.map_or(state.count(), |s| s.len()));
    }
    let ids = match &cand.set {
        Some(s) => s.iter(),
        None => RowIdIter::Set(state.live().iter()),
    };
    let mut n = 0;
    for rowid in ids {
        if let Some(sid) = state.sid_of(rowid) {
            if let Some(doc) = fetch(rowid, sid)? {
                if filter.matches(&doc) {
                    n += 1;
                }
            }
        }
    }
    Ok(n)
}
