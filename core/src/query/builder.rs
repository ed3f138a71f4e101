//! The fluent query builder: `db.query("users").filter(|f| ...).order_by(..).limit(..)`.

use super::budget::Budget;
use super::filter::{Filter, FilterBuilder};
use super::planner::QuerySpec;
use crate::db::{Aurora, WriteOp};
use crate::error::Result;
use crate::types::Document;
use crate::value::Value;
use std::sync::Arc;
use std::time::Duration;

/// A query under construction; nothing runs until a terminal method is awaited.
#[derive(Clone)]
pub struct QueryBuilder {
    pub(crate) db: Aurora,
    pub(crate) collection: String,
    pub(crate) spec: QuerySpec,
    pub(crate) debounce: Option<Duration>,
}

impl QueryBuilder {
    pub(crate) fn new(db: Aurora, collection: &str) -> Self {
        QueryBuilder { db, collection: collection.to_string(), spec: QuerySpec::default(), debounce: None }
    }

    /// Adds a predicate (several calls are combined with And).
    pub fn filter(mut self, f: impl FnOnce(&FilterBuilder) -> Filter) -> Self {
        let new = f(&FilterBuilder);
        self.spec.filter = std::mem::replace(&mut self.spec.filter, Filter::All).and(new);
        self
    }

    /// Adds a ready-made filter.
    pub fn with_filter(mut self, f: Filter) -> Self {
        self.spec.filter = std::mem::replace(&mut self.spec.filter, Filter::All).and(f);
        self
    }

    /// Orders by a field (dotted paths allowed); `ascending = false` sorts descending.
    pub fn order_by(mut self, field: &str, ascending: bool) -> Self {
        self.spec.order.push((field.to_string(), ascending));
        self
    }

    /// Returns at most `n` documents.
    pub fn limit(mut self, n: usize) -> Self {
        self.spec.limit = Some(n);
        self
    }

    /// Skips the first `n` matches.
    pub fn offset(mut self, n: usize) -> Self {
        self.spec.offset = n;
        self
    }

    /// Coalesces live-query updates arriving within `d` (used by `watch`).
    pub fn debounce(mut self, d: Duration) -> Self {
        self.debounce = Some(d);
        self
    }

    /// The collection queried.
    pub fn collection(&self) -> &str {
        &self.collection
    }

    /// The filter, order and window as built so far.
    pub fn spec(&self) -> &QuerySpec {
        &self.spec
    }

    /// Runs the query and returns the matching documents.
    pub async fn collect(self) -> Result<Vec<Document>> {
        let rows = self.db.inner.run_query(&self.collection, self.spec, false, &Budget::unlimited())?;
        // A row the hot cache does not share is moved out, not copied.
        Ok(rows.into_iter().map(|(_, d)| Arc::try_unwrap(d).unwrap_or_else(|d| (*d).clone())).collect())
    }

    /// Runs the query and deserializes each document into `T`.
    pub async fn collect_as<T: serde::de::DeserializeOwned>(self) -> Result<Vec<T>> {
        self.collect().await?.iter().map(Document::to_struct).collect()
    }

    /// The first match, if any.
    pub async fn first_one(mut self) -> Result<Option<Document>> {
        self.spec.limit = Some(1);
        Ok(self.collect().await?.into_iter().next())
    }

    /// Number of matches; no document is read when the indexes answer.
    pub async fn count(self) -> Result<usize> {
        Ok(self.db.inner.count_matches(&self.collection, self.spec.filter, false, &Budget::unlimited())? as usize)
    }

    /// Deletes every match atomically; returns how many were deleted.
    pub async fn delete(self) -> Result<usize> {
        let QueryBuilder { db, collection, spec, .. } = self;
        let applied = db
            .inner
            .commit_with(
                |inner| {
                    let rows = inner.run_query(&collection, spec, false, &Budget::unlimited())?;
                    Ok(rows
                        .into_iter()
                        .filter_map(|(_, d)| crate::db::parse_sid(&d._sid).ok())
                        .map(|sid| WriteOp::Delete { collection: collection.clone(), sid })
                        .collect())
                },
                "query.delete",
            )
            .await?;
        Ok(applied.len())
    }

    /// Sets the given fields on every match atomically; returns how many were updated.
    pub async fn update<K: Into<String>, V: Into<Value>>(self, fields: Vec<(K, V)>) -> Result<usize> {
        let changes: Vec<(String, Value)> = fields.into_iter().map(|(k, v)| (k.into(), v.into())).collect();
        let QueryBuilder { db, collection, spec, .. } = self;
        let applied = db
            .inner
            .commit_with(
                |inner| {
                    let rows = inner.run_query(&collection, spec, false, &Budget::unlimited())?;
                    let mut ops = Vec::with_capacity(rows.len());
                    for (_, d) in rows {
                        let mut data = (*d.data).clone();
                        for (k, v) in &changes {
                            data.insert(k.into(), v.clone());
                        }
                        ops.push(WriteOp::Replace {
                            collection: collection.clone(),
                            sid: crate::db::parse_sid(&d._sid)?,
                            data,
                        });
                    }
                    Ok(ops)
                },
                "query.update",
            )
            .await?;
        Ok(applied.len())
    }
}
