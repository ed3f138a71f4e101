//! What one request may spend: a deadline checked inside scan loops, and a bound on the rows
//! it holds at once.

use crate::config::Limits;
use crate::error::{AuroraError, Result};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

/// Rows read between two looks at the clock (reading it costs ~20 ns; a row, more).
const TICKS_PER_CHECK: u32 = 256;

/// The time and row budget of one request, shared by everything it runs.
#[derive(Debug)]
pub struct Budget {
    deadline: Option<Instant>,
    /// The configured time budget, for the error message.
    time_ms: u64,
    max_rows: usize,
    ticks: AtomicU32,
}

impl Budget {
    /// No deadline and no row bound (fluent queries: application code, not outside input).
    pub fn unlimited() -> Budget {
        Budget { deadline: None, time_ms: 0, max_rows: usize::MAX, ticks: AtomicU32::new(0) }
    }

    /// The budget of a request starting now: `timeout`, or the configured `query_time_ms`
    /// (0 = none), and the configured row bound.
    pub fn for_request(limits: &Limits, timeout: Option<Duration>) -> Budget {
        let time = timeout.or((limits.query_time_ms > 0).then(|| Duration::from_millis(limits.query_time_ms)));
        Budget {
            deadline: time.and_then(|t| Instant::now().checked_add(t)),
            time_ms: time.map_or(0, |t| t.as_millis().min(u64::MAX as u128) as u64),
            max_rows: limits.max_result_rows,
            ticks: AtomicU32::new(0),
        }
    }

    /// Counts one unit of work (a row read); every few hundred, fails once the deadline has
    /// passed.
    pub fn tick(&self) -> Result<()> {
        let t = self.ticks.fetch_add(1, Ordering::Relaxed).wrapping_add(1);
        if t.is_multiple_of(TICKS_PER_CHECK) {
            self.check()?;
        }
        Ok(())
    }

    /// Fails now if the deadline has passed.
    pub fn check(&self) -> Result<()> {
        match self.deadline {
            Some(d) if Instant::now() >= d => Err(AuroraError::limit(
                "query_time_ms",
                self.time_ms,
                "the request ran past its time budget and was stopped",
            )),
            _ => Ok(()),
        }
    }

    /// Fails when a query would hold more than the allowed rows at once.
    pub fn hold(&self, rows: usize) -> Result<()> {
        if rows > self.max_rows {
            return Err(AuroraError::limit(
                "max_result_rows",
                self.max_rows,
                format!("the query holds more than {} documents at once", self.max_rows),
            ));
        }
        Ok(())
    }
}
