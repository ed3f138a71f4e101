//! AQL, the Aurora Query Language: pest grammar → AST → validation → the shared planner.
//!
//! Values should be passed as variables (`$name`), never spliced into the text: variables
//! are typed and checked, and they let one cached parse serve every value.

pub mod ast;
mod convert;
mod exec;
mod explain;
mod fragments;
mod json_text;
mod lookup;
mod mutation;
pub mod parser;
mod plan;
mod project;
mod query;
pub mod result;
mod rows;
mod schema_ops;
mod statement;
pub mod subscription;
mod update_ops;

pub use convert::MAX_VALUE_DEPTH;
pub(crate) use exec::plan_cache_usage;
pub use exec::{parse, parse_with, ExecuteOptions, ExecuteRequest};
pub use json_text::{JsonText, MAX_SAFE_INTEGER};
pub use result::{ExecutionResult, MigrationResult, MutationResult, QueryResult, SchemaResult, SubscriptionResult};
pub use rows::{Rows, Scalar};
pub use schema_ops::MIGRATION_COLLECTION;
pub use statement::Statement;
