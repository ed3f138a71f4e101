//! Prepared statements as the hosts hold them: one design behind Python's, Node's, the C ABI's
//! and UniFFI's `prepare`.

use crate::database::Database;
use crate::eager::Execution;
use crate::error::BindingError;
use crate::guard;
use crate::runtime::{block_on, on_runtime, run_here, runtime};
use aurora_db::aql::ExecutionResult;
use aurora_db::ExecuteOptions;
use serde_json::Value;

/// AQL parsed and compiled once ([`Database::prepare`]), run with new variables. Cheap to
/// clone. Closing its database (any clone of the handle) makes every run fail with `CLOSED`.
#[derive(Clone)]
pub struct Statement {
    db: Database,
    stmt: aurora_db::Statement,
    /// The text's key in the handle's eager-cost table.
    key: u64,
}

impl std::fmt::Debug for Statement {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Statement").field("text", &self.stmt.text()).finish()
    }
}

impl Database {
    /// Parses, checks and compiles `aql` once. Syntax errors are reported here; errors of the
    /// data or schema (unknown collection, wrong variable type) by each run.
    pub fn prepare(&self, aql: &str) -> Result<Statement, BindingError> {
        guard(|| {
            let stmt = self.aurora()?.prepare(aql)?;
            Ok(Statement { db: self.clone(), stmt, key: crate::eager::key(aql) })
        })
    }
}

impl Statement {
    /// The AQL text it was prepared from.
    pub fn text(&self) -> &str {
        self.stmt.text()
    }

    /// The engine statement, once the handle is known to be open (and not inherited through
    /// `fork()`).
    fn ready(&self) -> Result<aurora_db::Statement, BindingError> {
        self.db.aurora()?;
        Ok(self.stmt.clone())
    }

    /// Runs the statement and returns the SPEC §4.11 JSON. Blocks; call from host threads only.
    pub fn execute(&self, variables: Value) -> Result<Value, BindingError> {
        guard(|| {
            let stmt = self.ready()?;
            Ok(block_on(stmt.execute_json(variables))??)
        })
    }

    /// Like [`Statement::execute`], returning the result as JSON text.
    pub fn execute_text(&self, variables: Value) -> Result<String, BindingError> {
        guard(|| {
            let stmt = self.ready()?;
            Ok(block_on(async move { stmt.execute_json_text(variables).await.map(|t| t.text) })??)
        })
    }

    /// Runs the statement on the calling thread and returns the lean result (the host turns
    /// it into its values). Blocks while it waits (a group commit); for synchronous host APIs.
    pub fn execute_sync(&self, variables: Value) -> Result<ExecutionResult, BindingError> {
        guard(|| {
            let stmt = self.ready()?;
            Ok(run_here(async move { stmt.execute_with(variables, &ExecuteOptions::default()).await })??)
        })
    }

    /// Async form of [`Statement::execute`] (runs on the facade's runtime).
    pub async fn execute_async(&self, variables: Value) -> Result<Value, BindingError> {
        let stmt = guard(|| self.ready())?;
        on_runtime(async move { stmt.execute_json(variables).await }).await
    }

    /// Async form of [`Statement::execute_text`].
    pub async fn execute_text_async(&self, variables: Value) -> Result<String, BindingError> {
        let stmt = guard(|| self.ready())?;
        on_runtime(async move { stmt.execute_json_text(variables).await.map(|t| t.text) }).await
    }

    /// Runs the statement for an async host, as [`Database::execute_eager`]: on the calling
    /// thread when its recent runs were cheap, else on the runtime.
    pub fn execute_eager(&self, variables: Value) -> Execution<ExecutionResult> {
        let prepared = guard(|| Ok((self.ready()?, runtime()?)));
        let (stmt, rt) = match prepared {
            Ok(x) => x,
            Err(e) => return Execution::Ready(Err(e)),
        };
        self.db
            .eager()
            .run(&rt, self.key, async move { Ok(stmt.execute_with(variables, &ExecuteOptions::default()).await?) })
    }
}
