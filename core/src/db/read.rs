//! The read path: document fetch through hot cache → write buffer → cold store, and queries.

use super::{sid_key, sid_string, Aurora, Inner};
use crate::error::Result;
use crate::index::CollectionState;
use crate::query::planner::{self, QuerySpec, Row};
use crate::query::{Budget, Filter};
use crate::storage::buffer::Buffered;
use crate::storage::codec::{approx_size, decode_doc};
use crate::types::Document;
use std::sync::Arc;

impl Inner {
    /// Loads one document of a collection by system id.
    pub(crate) fn fetch(&self, st: &CollectionState, sid: u128) -> Result<Option<Arc<Document>>> {
        let key = (st.id, sid);
        if let Some(d) = self.cache.get(&key) {
            return Ok(Some(d));
        }
        let k = sid_key(sid);
        let bytes = match self.buffer.get(&st.tree, &k) {
            Buffered::Value(v) => v.as_ref().clone(),
            Buffered::Deleted => return Ok(None),
            Buffered::Unknown => match self.cold()?.get(&st.tree, &k)? {
                Some(v) => v,
                None => return Ok(None),
            },
        };
        let data = decode_doc(&bytes)?;
        let size = approx_size(&data);
        let doc = Arc::new(Document::new(sid_string(sid), data));
        self.cache.put_if_absent(key, doc.clone(), size);
        Ok(Some(doc))
    }

    /// Runs a query under the collection's read lock, within `budget`.
    pub(crate) fn run_query(
        &self,
        collection: &str,
        spec: QuerySpec,
        check_fields: bool,
        budget: &Budget,
    ) -> Result<Vec<Row>> {
        let coll = self.collection(collection)?;
        let st = coll.read();
        self.run_query_in(&st, spec, check_fields, budget)
    }

    /// Runs a query on a collection whose read lock the caller holds, within `budget`: every
    /// document read counts against its deadline.
    pub(crate) fn run_query_in(
        &self,
        st: &CollectionState,
        spec: QuerySpec,
        check_fields: bool,
        budget: &Budget,
    ) -> Result<Vec<Row>> {
        let spec = QuerySpec { filter: planner::prepare_filter(st, spec.filter, check_fields)?, ..spec };
        planner::run(st, &spec, budget, &|_, sid| {
            budget.tick()?;
            self.fetch(st, sid)
        })
    }

    /// Counts matches of a filter, within `budget`.
    pub(crate) fn count_matches(
        &self,
        collection: &str,
        filter: Filter,
        check_fields: bool,
        budget: &Budget,
    ) -> Result<u64> {
        let coll = self.collection(collection)?;
        let st = coll.read();
        let filter = planner::prepare_filter(&st, filter, check_fields)?;
        planner::count(&st, &filter, &|_, sid| {
            budget.tick()?;
            self.fetch(&st, sid)
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
        let coll = self.inner.collection(collection)?;
        let st = coll.read();
        Ok(self.inner.fetch(&st, sid)?.map(|d| (*d).clone()))
    }

    /// Number of documents in a collection (O(1)).
    pub async fn count(&self, collection: &str) -> Result<u64> {
        Ok(self.inner.collection(collection)?.read().count())
    }

    /// Reads a document by system id into a serde type.
    pub async fn get_as<T: serde::de::DeserializeOwned>(&self, collection: &str, sid: &str) -> Result<Option<T>> {
        match self.get_document(collection, sid).await? {
            Some(d) => Ok(Some(d.to_struct()?)),
            None => Ok(None),
        }
    }
}
