//! Aurora DB: an embedded, real-time document database.
//!
//! One engine gives an application persistent storage (sled + WAL + hot cache), a query
//! language (AQL), change events, live queries and a durable job queue, with no server to run.
//!
//! ```no_run
//! # async fn demo() -> aurora_db::Result<()> {
//! use aurora_db::{Aurora, FieldType, Value};
//! use aurora_db::types::FieldDefinition;
//! let db = Aurora::open("myapp.db").await?;
//! db.new_collection("users", vec![
//!     ("email", FieldDefinition { field_type: FieldType::SCALAR_STRING, unique: true, indexed: true, nullable: false }),
//! ]).await?;
//! db.insert_into("users", vec![("email", Value::String("a@x.io".into()))]).await?;
//! let n = db.query("users").count().await?;
//! # Ok(()) }
//! ```
#![warn(missing_docs)]

pub mod aql;
pub mod config;
pub mod db;
pub mod error;
pub mod field_name;
pub mod index;
pub mod parser;
pub mod query;
pub mod realtime;
/// Live queries (the README's `aurora_db::reactive::QueryUpdate`).
pub mod reactive {
    pub use crate::realtime::watch::{QueryUpdate, Watcher};
}
pub mod schema;
pub mod storage;
pub mod types;
pub mod value;
pub(crate) mod value_ser;
pub mod workers;

pub use aql::subscription::{AqlStream, StreamEvent, StreamOp};
pub use aql::{ExecuteOptions, ExecuteRequest, ExecutionResult, Statement};
pub use config::{AuroraConfig, ColdStoreKind, ColdStoreMode, DurabilityMode, EvictionPolicy, Limits};
pub use db::{Aurora, MemoryStats, Transaction};
pub use error::{AuroraError, Result};
pub use field_name::FieldName;
pub use query::{Filter, FilterBuilder, QueryBuilder};
pub use realtime::{ChangeEvent, ChangeListener, ChangeType};
pub use types::{CollectionSchema, DocData, Document, FieldDefinition, FieldType};
pub use value::Value;
pub use workers::{Job, JobPriority, JobStatus, WorkerConfig, WorkerSystem};

/// The repository README's Rust examples, compiled and run as doctests.
#[doc = include_str!("../../README.md")]
#[cfg(doctest)]
pub struct ReadmeDoctests;
