//! Real time: change events (pubsub) and, built on them, live queries and AQL streams.

pub mod pubsub;
pub mod watch;

pub use pubsub::{ChangeEvent, ChangeListener, ChangeType, Hub};
pub use watch::{QueryUpdate, Watcher};
