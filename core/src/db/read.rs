//! The read path: queries on a snapshot, documents by system id, counts.

use super::catalog::Catalog;
use super::{Aurora, Inner};
use crate::error::Result;
use crate::index::Indexes;
use crate::query::planner::{self, QuerySpec, Row};
use crate::query::{Budget, Filter};
use crate::storage::cache::PassAllowance;
use crate::storage::memtable::Snapshot;
use crate::types::Document;

impl Inner {
    /// Runs a query on a fresh snapshot, within `budget`.
    pub(crate) fn run_query(
        &self,
        collection: &str,
        spec: QuerySpec,
        check_fields: bool,
        budget: &Budget,
    ) -> Result<Vec<Row>> {
        let cat = self.collection(collection)?;
        let snap = self.snapshot();
        self.run_query_in(&cat, &snap, spec, check_fields, budget)
    }

    /// Runs a query on `snap`, within `budget`: every document read counts against its
    /// deadline. No lock is held while it runs, so commits go on.
    pub(crate) fn run_query_in(
        &self,
        cat: &Catalog,
        snap: &Snapshot,
        spec: QuerySpec,
        check_fields: bool,
        budget: &Budget,
    ) -> Result<Vec<Row>> {
        let spec = QuerySpec { filter: planner::prepare_filter(cat, spec.filter, check_fields)?, ..spec };
        let ix = Indexes::new(snap, cat, &self.index_cache);
        let pass = PassAllowance::new(&self.cache);
        planner::run(&ix, &spec, budget, &|rowid| {
            budget.tick()?;
            self.fetch_row_in_pass(cat, snap, rowid, Some(&pass))
        })
    }

    /// Plans and runs a query on a fresh snapshot, reporting what the planner chose and how
    /// many documents it read and returned.
    pub(crate) fn explain_query(
        &self,
        cat: &Catalog,
        spec: QuerySpec,
        budget: &Budget,
    ) -> Result<(crate::query::explain::Explain, Vec<Row>)> {
        let snap = self.snapshot();
        let spec = QuerySpec { filter: planner::prepare_filter(cat, spec.filter, true)?, ..spec };
        let ix = Indexes::new(&snap, cat, &self.index_cache);
        let mut report = crate::query::explain::plan(&ix, &spec)?;
        let examined = std::cell::Cell::new(0u64);
        let pass = PassAllowance::new(&self.cache);
        let rows = planner::run(&ix, &spec, budget, &|rowid| {
            budget.tick()?;
            examined.set(examined.get() + 1);
            self.fetch_row_in_pass(cat, &snap, rowid, Some(&pass))
        })?;
        report.examined_rows = examined.get();
        report.actual_rows = rows.len() as u64;
        Ok((report, rows))
    }

    /// Plans and runs a count of a filter's matches, reporting the plan and documents read.
    pub(crate) fn explain_count(
        &self,
        cat: &Catalog,
        filter: Filter,
        budget: &Budget,
    ) -> Result<(crate::query::explain::Explain, u64)> {
        let snap = self.snapshot();
        let filter = planner::prepare_filter(cat, filter, true)?;
        let ix = Indexes::new(&snap, cat, &self.index_cache);
        let mut report = crate::query::explain::count_plan(&ix, &filter)?;
        let examined = std::cell::Cell::new(0u64);
        let pass = PassAllowance::new(&self.cache);
        let n = planner::count(&ix, &filter, &|rowid| {
            budget.tick()?;
            examined.set(examined.get() + 1);
            self.fetch_row_in_pass(cat, &snap, rowid, Some(&pass))
        })?;
        report.examined_rows = examined.get();
        report.actual_rows = n;
        Ok((report, n))
    }

    /// Calls `visit` with every document matching `filter`, in row id order, on one snapshot
    /// and holding none of them (a join's scan of the other collection).
    pub(crate) fn for_each_match(
        &self,
        cat: &Catalog,
        filter: Filter,
        budget: &Budget,
        mut visit: impl FnMut(Row) -> Result<()>,
    ) -> Result<()> {
        let snap = self.snapshot();
        let filter = planner::prepare_filter(cat, filter, true)?;
        let ix = Indexes::new(&snap, cat, &self.index_cache);
        let cand = planner::candidates(&ix, &filter)?;
        let ids = match cand.set {
            Some(s) => s,
            None => ix.live()?,
        };
        let pass = PassAllowance::new(&self.cache);
        for rowid in ids.iter() {
            budget.tick()?;
            let Some(doc) = self.fetch_row_in_pass(cat, &snap, rowid, Some(&pass))? else { continue };
            if cand.exact || filter.matches(&doc) {
                visit((rowid, doc))?;
            }
        }
        Ok(())
    }

    /// Counts matches of a filter, within `budget`.
    pub(crate) fn count_matches(
        &self,
        collection: &str,
        filter: Filter,
        check_fields: bool,
        budget: &Budget,
    ) -> Result<u64> {
        let cat = self.collection(collection)?;
        let snap = self.snapshot();
        let filter = planner::prepare_filter(&cat, filter, check_fields)?;
        let ix = Indexes::new(&snap, &cat, &self.index_cache);
        let pass = PassAllowance::new(&self.cache);
        planner::count(&ix, &filter, &|rowid| {
            budget.tick()?;
            self.fetch_row_in_pass(&cat, &snap, rowid, Some(&pass))
        })
    }
}

impl Aurora {
    /// Starts a fluent query on a collection.
    pub fn query(&self, collection: &str) -> crate::query::QueryBuilder {
        crate::query::QueryBuilder::new(self.clone(), collection)
    }

    /// Reads one document by its system id.
    pub async fn get_document(&self, collection: &str, sid: &str) -> Result<Option<Document>> {
        let sid = super::parse_sid(sid)?;
        let cat = self.inner.collection(collection)?;
        Ok(self.inner.fetch(&cat, sid)?.map(|d| (*d).clone()))
    }

    /// Number of documents in a collection (O(1): a counter).
    pub async fn count(&self, collection: &str) -> Result<u64> {
        let cat = self.inner.collection(collection)?;
        let snap = self.inner.snapshot();
        Indexes::new(&snap, &cat, &self.inner.index_cache).count()
    }

    /// Reads a document by system id into a serde type.
    pub async fn get_as<T: serde::de::DeserializeOwned>(&self, collection: &str, sid: &str) -> Result<Option<T>> {
        match self.get_document(collection, sid).await? {
            Some(d) => Ok(Some(d.to_struct()?)),
            None => Ok(None),
        }
    }
}
