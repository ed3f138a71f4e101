//! Audit log: one JSON line per mutated document when `audit_log_path` is set.

use super::{sid_string, Applied, Inner};
use crate::realtime::ChangeType;
use std::io::Write;

impl Inner {
    /// Appends the commit's changes to the audit log (errors are logged, never fatal to the write).
    pub(crate) fn audit(&self, origin: &str, applied: &[Applied]) {
        let Some(log) = &self.audit_log else { return };
        let time = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_millis() as u64)
            .unwrap_or(0);
        let mut out = Vec::new();
        for a in applied {
            let operation = match a.kind {
                ChangeType::Insert => "insert",
                ChangeType::Update => "update",
                ChangeType::Delete => "delete",
            };
            let line = serde_json::json!({
                "time_ms": time,
                "operation": operation,
                "collection": a.collection,
                "_sid": sid_string(a.sid),
                "source": origin,
            });
            out.extend_from_slice(line.to_string().as_bytes());
            out.push(b'\n');
        }
        if let Err(e) = log.lock().write_all(&out) {
            tracing::error!("audit log write failed: {e}");
        }
    }
}
