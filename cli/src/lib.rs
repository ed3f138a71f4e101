//! The `aurora` command line and (feature `http`) its HTTP server.
//!
//! The binary is a thin wrapper over [`run`]; the server is reusable from Rust through
//! [`http::serve`], which binds (an ephemeral port works: `127.0.0.1:0`), starts serving and
//! returns a [`http::Server`] handle with the bound address.
//!
//! Exit codes (stable, scripts may rely on them): see [`exit`].

pub mod cli;
pub mod exit;
pub mod render;
pub mod shell;
pub mod transfer;

#[cfg(feature = "http")]
pub mod http;
#[cfg(feature = "http")]
pub mod http_policy;

pub use cli::run;
pub use exit::Failure;
