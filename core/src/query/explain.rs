//! What the planner does for one query — strategy, indexes, estimated and actual rows — so
//! `explain` can show it. It asks the same functions the executor does ([`choose_walk`],
//! [`candidates`]), so the report cannot drift from what runs.

use super::planner::{candidates, choose_walk, index_for, QuerySpec};
use super::Filter;
use crate::error::Result;
use crate::index::Indexes;
use serde_json::{json, Value as Json};

/// How the rows of a query are found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Strategy {
    /// Nothing is read (`limit: 0`).
    Empty,
    /// The sort field's index is walked in order and stops after the page (top-k).
    IndexWalk(String),
    /// Index bitmaps narrow the candidates, which are then read (and sorted when ordered).
    IndexLookup,
    /// Every document of the collection is read.
    FullScan,
    /// A count read from the collection's document counter (no filter).
    Counter,
    /// A count read from the cardinality of index bitmaps (no document read).
    IndexCount,
}

/// How the rows are put in order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Sort {
    /// No `orderBy`: insertion order.
    None,
    /// The index walk yields the order.
    Index,
    /// Only the best `k` rows are kept while reading (bounded memory), then sorted.
    TopK(usize),
    /// Every match is sorted.
    Full,
}

/// The plan of one query and, once run, what it read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Explain {
    /// How rows are found.
    pub strategy: Strategy,
    /// The indexed fields whose bitmaps or keys served the filter or the order.
    pub indexes: Vec<String>,
    /// Rows the plan expects to read: the candidate set's size, the collection's count for a
    /// scan, or the page size for a walk.
    pub estimated_rows: u64,
    /// Whether documents are checked against (part of) the filter after the indexes.
    pub residual_filter: bool,
    /// How the result is ordered.
    pub sort: Sort,
    /// Documents read while running (filled by the caller that ran it).
    pub examined_rows: u64,
    /// Rows returned (filled by the caller that ran it).
    pub actual_rows: u64,
}

impl Explain {
    /// The JSON form every binding returns.
    pub fn to_json(&self) -> Json {
        let (strategy, index) = match &self.strategy {
            Strategy::Empty => ("empty", None),
            Strategy::IndexWalk(f) => ("indexWalk", Some(f.clone())),
            Strategy::IndexLookup => ("indexLookup", None),
            Strategy::FullScan => ("fullScan", None),
            Strategy::Counter => ("counter", None),
            Strategy::IndexCount => ("indexCount", None),
        };
        let sort = match self.sort {
            Sort::None => json!("none"),
            Sort::Index => json!("index"),
            Sort::TopK(k) => json!({ "topK": k }),
            Sort::Full => json!("full"),
        };
        json!({
            "strategy": strategy,
            "walkedIndex": index,
            "indexes": self.indexes,
            "estimatedRows": self.estimated_rows,
            "examinedRows": self.examined_rows,
            "actualRows": self.actual_rows,
            "residualFilter": self.residual_filter,
            "sort": sort,
        })
    }
}

/// The plan the executor would follow for `spec` (row counts of the run left at zero).
pub fn plan(ix: &Indexes<'_>, spec: &QuerySpec) -> Result<Explain> {
    let mut out = Explain {
        strategy: Strategy::Empty,
        indexes: Vec::new(),
        estimated_rows: 0,
        residual_filter: false,
        sort: Sort::None,
        examined_rows: 0,
        actual_rows: 0,
    };
    if spec.limit == Some(0) {
        return Ok(out);
    }
    if let Some(w) = choose_walk(ix, spec)? {
        out.indexes.push(w.def.field.clone());
        used_indexes(ix, &w.rest, &mut out.indexes)?;
        out.strategy = Strategy::IndexWalk(w.def.field);
        out.residual_filter = !w.rest_cand.exact;
        out.sort = Sort::Index;
        out.estimated_rows = w.want as u64;
        return Ok(out);
    }
    let cand = candidates(ix, &spec.filter)?;
    out.residual_filter = !cand.exact;
    match &cand.set {
        Some(s) => {
            out.strategy = Strategy::IndexLookup;
            out.estimated_rows = s.len();
            used_indexes(ix, &spec.filter, &mut out.indexes)?;
        }
        None => {
            out.strategy = Strategy::FullScan;
            out.estimated_rows = ix.count()?;
        }
    }
    let want = spec.limit.map(|l| l.saturating_add(spec.offset));
    out.sort = match (spec.order.is_empty(), want) {
        (true, _) => Sort::None,
        (false, Some(k)) => Sort::TopK(k),
        (false, None) => Sort::Full,
    };
    Ok(out)
}

/// The plan of a count of `filter`'s matches (as [`super::planner::count`] runs it).
pub fn count_plan(ix: &Indexes<'_>, filter: &Filter) -> Result<Explain> {
    let mut out = plan(ix, &QuerySpec { filter: filter.clone(), ..Default::default() })?;
    if !out.residual_filter {
        out.strategy = match out.strategy {
            Strategy::FullScan => Strategy::Counter,
            _ => Strategy::IndexCount,
        };
        out.estimated_rows = 0;
    }
    Ok(out)
}

/// Adds the indexed fields whose bitmaps serve `f` (as [`candidates`] uses them) to `out`;
/// true when `f` gave a candidate set.
fn used_indexes(ix: &Indexes<'_>, f: &Filter, out: &mut Vec<String>) -> Result<bool> {
    let mut push = |field: &str| {
        if !out.iter().any(|x| x == field) {
            out.push(field.to_string());
        }
    };
    Ok(match f {
        Filter::All => false,
        Filter::And(fs) => {
            let mut any = false;
            for f in fs {
                any |= used_indexes(ix, f, out)?;
            }
            any
        }
        Filter::Or(fs) => {
            let mut mine = Vec::new();
            for f in fs {
                if !used_indexes(ix, f, &mut mine)? {
                    return Ok(false);
                }
            }
            for m in mine {
                push(&m);
            }
            true
        }
        Filter::Not(inner) => {
            let c = candidates(ix, inner)?;
            c.exact && c.set.is_some() && used_indexes(ix, inner, out)?
        }
        leaf => match index_for(ix, leaf) {
            Some(def) => {
                push(&def.field);
                true
            }
            None => false,
        },
    })
}
