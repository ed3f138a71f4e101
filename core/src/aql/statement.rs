//! Prepared statements: AQL parsed, checked and compiled once, then executed with new variables.
//!
//! A statement holds its compiled plan, so executing it skips the text lookup of the plan
//! cache, and it cannot be evicted from that cache by other texts. Plans depend on the text
//! alone (collections and fields are checked on every run), so a schema change never makes a
//! statement stale. A statement does not keep its database open: once the database is closed
//! or dropped, executing it fails with [`AuroraError::Closed`].

use super::exec::{parse_cached, ExecuteOptions};
use super::plan::Plan;
use super::result::ExecutionResult;
use super::JsonText;
use crate::db::{Aurora, Inner};
use crate::error::{AuroraError, Result};
use serde_json::Value;
use std::sync::{Arc, Weak};

/// A prepared AQL document ([`Aurora::prepare`]). Cheap to clone and `Send + Sync`: one
/// statement may run on many threads at once.
#[derive(Clone)]
pub struct Statement {
    db: Weak<Inner>,
    plan: Arc<Plan>,
}

impl std::fmt::Debug for Statement {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Statement").field("text", &self.plan.text).finish()
    }
}

impl Aurora {
    /// Parses, checks and compiles `aql` once; run it with [`Statement::execute`]. Syntax
    /// errors and the text's limits are reported here; errors that depend on the data or the
    /// schema (an unknown collection, a wrong variable type) are reported by each execution.
    pub fn prepare(&self, aql: &str) -> Result<Statement> {
        self.inner.check_open()?;
        let plan = parse_cached(self, aql)?;
        Ok(Statement { db: Arc::downgrade(&self.inner), plan })
    }
}

impl Statement {
    /// The AQL text this statement was prepared from.
    pub fn text(&self) -> &str {
        &self.plan.text
    }

    /// The database, or `Closed` once it was closed or dropped.
    fn db(&self) -> Result<Aurora> {
        let inner = self.db.upgrade().ok_or(AuroraError::Closed)?;
        inner.check_open()?;
        Ok(Aurora { inner })
    }

    /// Executes the statement with `variables` (a JSON object, or null for none); results as
    /// [`Aurora::execute`] returns them.
    pub async fn execute(&self, variables: Value) -> Result<ExecutionResult> {
        let mut result = self.execute_with(variables, &ExecuteOptions::default()).await?;
        result.materialize();
        Ok(result)
    }

    /// Like [`Statement::execute`] with [`ExecuteOptions`], leaving query results lean (read
    /// them through `to_json`, `into_json_text` or `rows`, as [`Aurora::execute_lean`]).
    pub async fn execute_with(&self, variables: Value, options: &ExecuteOptions) -> Result<ExecutionResult> {
        let db = self.db()?;
        let out = db.run_plan(&self.plan, &variables, options).await;
        crate::value::drop_json_flat(variables);
        out
    }

    /// Executes the statement and returns the SPEC §4.11 JSON.
    pub async fn execute_json(&self, variables: Value) -> Result<Value> {
        Ok(self.execute_with(variables, &ExecuteOptions::default()).await?.into_json())
    }

    /// Executes the statement and returns the SPEC §4.11 JSON as text.
    pub async fn execute_json_text(&self, variables: Value) -> Result<JsonText> {
        self.execute_with(variables, &ExecuteOptions::default()).await?.into_json_text()
    }
}
