//! Health of the cold store: how long it has been failing, and the errors that say so.
//!
//! While the cold store fails, the WAL keeps every committed write (when the WAL is on), so the
//! errors here say what is safe and what to do: sled keeps its first I/O error (a full disk,
//! for example) and fails every later write and flush until it is reopened.

use super::Inner;
use crate::error::AuroraError;
use std::time::Instant;

/// Consecutive cold-store failures since the last success.
#[derive(Default)]
pub(crate) struct ColdHealth {
    failing_since: Option<Instant>,
    failures: u64,
}

impl Inner {
    /// Records a cold-store operation that succeeded (a flush or a checkpoint).
    pub(crate) fn note_cold_ok(&self) {
        let mut h = self.cold_health.lock();
        if h.failing_since.is_some() {
            tracing::info!("the cold store works again after {} failures", h.failures);
        }
        *h = ColdHealth::default();
    }

    /// Records a cold-store failure.
    pub(crate) fn note_cold_error(&self, e: &AuroraError) {
        if matches!(e, AuroraError::Closed) {
            return;
        }
        let mut h = self.cold_health.lock();
        h.failing_since.get_or_insert_with(Instant::now);
        h.failures += 1;
    }

    /// Records a cold-store failure and turns it into an error that says what happened to the
    /// caller's write (`what`), that acknowledged writes are safe in the WAL, and that a cold
    /// store failing for good needs the database reopened.
    pub(crate) fn cold_store_error(&self, what: &str, e: AuroraError) -> AuroraError {
        if matches!(e, AuroraError::Closed) {
            return e;
        }
        self.note_cold_error(&e);
        let (secs, failures) = {
            let h = self.cold_health.lock();
            (h.failing_since.map_or(0.0, |t| t.elapsed().as_secs_f64()), h.failures)
        };
        let safe = if self.wal_shared.get().is_some() {
            "every acknowledged write is safe in the WAL and reaches the cold store once it works again"
        } else {
            "there is no WAL: acknowledged writes not yet in the cold store are only in memory"
        };
        AuroraError::Storage(format!(
            "{what}: the cold store failed ({e}; {failures} failures in a row over {secs:.1} s); {safe}; \
             sled keeps an I/O error such as a full disk until it is reopened, so if this persists, free the \
             space, then close and reopen the database"
        ))
    }
}
