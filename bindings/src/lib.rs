//! The foreign-facing facade of Aurora DB: everything the Python, Node and UniFFI/C wrappers
//! would otherwise write three times. JSON in, JSON out; one error type with stable codes;
//! no panic ever leaves it.

mod config;
mod database;
mod eager;
mod error;
mod runtime;
pub mod sink;
mod statement;
mod subscription;
mod workers;

pub use aurora_db::aql::{ExecutionResult, JsonText, Rows, Scalar, MAX_SAFE_INTEGER};
pub use aurora_db::value::drop_json_flat;
pub use config::config_from_json;
pub use database::Database;
pub use eager::Execution;
pub use error::{BindingError, ErrorCode};
pub use runtime::runtime;
pub use statement::Statement;
pub use subscription::Subscription;
pub use workers::{AsyncForeignHandler, BoxFuture, ForeignHandler, HandlerError};

/// Runs `f`, turning a panic into an `INTERNAL` error instead of unwinding into the host.
pub fn guard<T>(f: impl FnOnce() -> Result<T, BindingError>) -> Result<T, BindingError> {
    match std::panic::catch_unwind(std::panic::AssertUnwindSafe(f)) {
        Ok(r) => r,
        Err(p) => Err(BindingError::internal(panic_message(p.as_ref()))),
    }
}

fn panic_message(p: &(dyn std::any::Any + Send)) -> String {
    let what = p
        .downcast_ref::<&str>()
        .map(|s| s.to_string())
        .or_else(|| p.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "unknown panic".into());
    format!("internal error (panic caught at the binding boundary): {what}")
}
