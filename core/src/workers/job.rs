//! Jobs: the unit of work of the durable queue.

use serde::{Deserialize, Serialize};
use std::collections::HashMap;

/// Scheduling priority: Critical > High > Normal > Low.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, Default)]
pub enum JobPriority {
    /// Runs after everything else.
    Low,
    /// The default.
    #[default]
    Normal,
    /// Before Normal.
    High,
    /// Before everything.
    Critical,
}

impl JobPriority {
    /// Parses `LOW | NORMAL | HIGH | CRITICAL` in any case.
    pub fn parse(s: &str) -> Option<JobPriority> {
        match s.to_ascii_uppercase().as_str() {
            "LOW" => Some(JobPriority::Low),
            "NORMAL" => Some(JobPriority::Normal),
            "HIGH" => Some(JobPriority::High),
            "CRITICAL" => Some(JobPriority::Critical),
            _ => None,
        }
    }

    /// Upper-case name as used in AQL.
    pub fn as_str(&self) -> &'static str {
        match self {
            JobPriority::Low => "LOW",
            JobPriority::Normal => "NORMAL",
            JobPriority::High => "HIGH",
            JobPriority::Critical => "CRITICAL",
        }
    }
}

/// Lifecycle state of a job.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum JobStatus {
    /// Waiting to run (possibly scheduled for later or backing off before a retry).
    Pending,
    /// Claimed by a worker.
    Running,
    /// Finished successfully.
    Completed,
    /// Failed its last attempt and will be retried.
    Failed,
    /// Failed more than `max_retries` times; kept for inspection and manual retry.
    DeadLetter,
}

impl JobStatus {
    /// Upper-case name for bindings and JSON.
    pub fn as_str(&self) -> &'static str {
        match self {
            JobStatus::Pending => "PENDING",
            JobStatus::Running => "RUNNING",
            JobStatus::Completed => "COMPLETED",
            JobStatus::Failed => "FAILED",
            JobStatus::DeadLetter => "DEAD_LETTER",
        }
    }
}

/// A unit of work: type, JSON payload, priority and retry bookkeeping.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Job {
    /// Unique id (UUIDv7 text), assigned at creation.
    pub id: String,
    /// Handler key.
    pub job_type: String,
    /// Arbitrary JSON fields for the handler.
    pub payload: HashMap<String, serde_json::Value>,
    /// Scheduling priority.
    pub priority: JobPriority,
    /// Current state.
    pub status: JobStatus,
    /// Attempts started so far (the running attempt included).
    pub attempts: u32,
    /// Retries allowed after the first failure before the job becomes a dead letter.
    pub max_retries: u32,
    /// Creation time, ms since the Unix epoch.
    pub created_at_ms: u64,
    /// Not before this time, ms since the Unix epoch (scheduling and retry backoff).
    pub run_at_ms: u64,
    /// Longest a single attempt may run, in ms.
    pub timeout_ms: Option<u64>,
    /// The last failure's message.
    pub last_error: Option<String>,
    /// Enqueue order, for FIFO within a priority.
    pub seq: u64,
    /// When the job became `Completed` or `DeadLetter`, ms since the Unix epoch (drives the
    /// retention of completed jobs; absent in records written before it existed).
    #[serde(default)]
    pub finished_at_ms: Option<u64>,
    /// Raised when the running attempt times out or the workers stop: a handler that checks
    /// `job.cancel.is_cancelled()` (or awaits `job.cancel.cancelled()`) can end early. Not
    /// stored.
    #[serde(skip)]
    pub cancel: super::cancel::CancelToken,
}

/// Milliseconds since the Unix epoch.
pub fn now_ms() -> u64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_millis() as u64).unwrap_or(0)
}

impl Job {
    /// A pending job of the given type with default priority (Normal) and 3 retries.
    pub fn new(job_type: impl Into<String>) -> Self {
        let now = now_ms();
        Job {
            id: uuid::Uuid::now_v7().to_string(),
            job_type: job_type.into(),
            payload: HashMap::new(),
            priority: JobPriority::Normal,
            status: JobStatus::Pending,
            attempts: 0,
            max_retries: 3,
            created_at_ms: now,
            run_at_ms: now,
            timeout_ms: None,
            last_error: None,
            seq: 0,
            finished_at_ms: None,
            cancel: Default::default(),
        }
    }

    /// Adds a payload field; any JSON-convertible value works (`"a@x.io"`, `42`, `json!({..})`).
    pub fn add_field(mut self, key: impl Into<String>, value: impl Into<serde_json::Value>) -> Self {
        self.payload.insert(key.into(), value.into());
        self
    }

    /// Sets the priority.
    pub fn with_priority(mut self, priority: JobPriority) -> Self {
        self.priority = priority;
        self
    }

    /// Sets how many retries follow the first failure.
    pub fn with_max_retries(mut self, n: u32) -> Self {
        self.max_retries = n;
        self
    }

    /// Runs the job no earlier than `delay` from now (a delay past the year 292 million is
    /// that far).
    pub fn with_delay(mut self, delay: std::time::Duration) -> Self {
        self.run_at_ms = now_ms().saturating_add(u64::try_from(delay.as_millis()).unwrap_or(u64::MAX));
        self
    }

    /// Runs the job no earlier than the given time (ms since the Unix epoch).
    pub fn scheduled_at(mut self, epoch_ms: u64) -> Self {
        self.run_at_ms = epoch_ms;
        self
    }

    /// Fails an attempt that runs longer than `timeout`.
    pub fn with_timeout(mut self, timeout: std::time::Duration) -> Self {
        self.timeout_ms = Some(u64::try_from(timeout.as_millis()).unwrap_or(u64::MAX));
        self
    }
}
