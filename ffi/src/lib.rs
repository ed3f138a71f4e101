//! Aurora DB for Kotlin, Swift and C: one library carrying the UniFFI exports ([`Aurora`],
//! [`Subscription`], [`JobHandler`], [`AuroraError`]) and the C ABI of `include/aurora.h`
//! ([`c_api`]).
//!
//! This crate only converts types. Every behaviour (runtime, JSON execution, subscriptions,
//! worker hosting, error codes, panic guards) lives in the `aurora-bindings` facade.

uniffi::setup_scaffolding!();

pub mod c_api;
mod uniffi_api;

pub use uniffi_api::{aurora_version, Aurora, AuroraError, ErrorCode, ExecuteOptions, JobHandler, Subscription};

use aurora_bindings::BindingError;
use serde_json::Value;

/// Parses an optional JSON argument (`None` or blank text is JSON `null`).
pub(crate) fn parse_json(what: &str, text: Option<&str>) -> Result<Value, BindingError> {
    match text.map(str::trim) {
        None | Some("") => Ok(Value::Null),
        Some(t) => {
            serde_json::from_str(t).map_err(|e| BindingError::validation(format!("{what} is not valid JSON: {e}")))
        }
    }
}

/// Milliseconds to the facade's timeout (`None`: wait for ever).
pub(crate) fn timeout(ms: Option<u64>) -> Option<std::time::Duration> {
    ms.map(std::time::Duration::from_millis)
}
