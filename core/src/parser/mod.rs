//! Compatibility paths: `aurora_db::parser::executor::ExecutionResult` as in the README.

pub mod executor {
    //! Execution results and options of AQL.
    pub use crate::aql::{
        ExecuteOptions, ExecuteRequest, ExecutionResult, MigrationResult, MutationResult, QueryResult,
    };
}

pub use crate::aql::parser::{parse, ParseError, MAX_NESTING_DEPTH};
