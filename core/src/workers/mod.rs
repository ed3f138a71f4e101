//! Workers: a durable priority job queue and the runtime that runs handlers for it.

pub mod cancel;
pub mod job;
pub mod queue;
mod store;
pub mod system;

pub use cancel::CancelToken;
pub use job::{Job, JobPriority, JobStatus};
pub use queue::{JobQueue, QueueStats};
pub use system::{Registered, WorkerConfig, WorkerSystem};
