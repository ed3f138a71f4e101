//! Write buffer: committed writes waiting to be batched into the cold store.
//!
//! Reads consult the buffer before the cold store, so a write is never invisible
//! between its commit and its flush.

use crate::error::Result;
use crate::storage::cold::{BatchOp, ColdStore};
use parking_lot::{Mutex, RwLock};
use std::collections::HashMap;
use std::sync::Arc;

type TreeMap = HashMap<Vec<u8>, Option<Arc<Vec<u8>>>>;
type Snapshot = HashMap<String, TreeMap>;

/// Pending puts (`Some`) and deletes (`None`) per tree, plus the batch being flushed.
#[derive(Default)]
pub struct WriteBuffer {
    active: Mutex<(Snapshot, usize, u64)>,
    flushing: RwLock<Option<Arc<Snapshot>>>,
    flush_lock: Mutex<()>,
}

/// Result of a buffer lookup.
pub enum Buffered {
    /// The buffer holds this value.
    Value(Arc<Vec<u8>>),
    /// The buffer holds a delete.
    Deleted,
    /// The buffer knows nothing; ask the cold store.
    Unknown,
}

impl WriteBuffer {
    /// Records a committed write with its LSN; returns the number of buffered entries.
    pub fn put(&self, tree: &str, key: Vec<u8>, value: Option<Arc<Vec<u8>>>, lsn: u64) -> usize {
        let mut a = self.active.lock();
        let t = a.0.entry(tree.to_string()).or_default();
        if t.insert(key, value).is_none() {
            a.1 += 1;
        }
        a.2 = a.2.max(lsn);
        a.1
    }

    /// Looks a key up in the active and then the flushing batch.
    pub fn get(&self, tree: &str, key: &[u8]) -> Buffered {
        let found = |m: &Snapshot| m.get(tree).and_then(|t| t.get(key)).cloned();
        if let Some(v) = found(&self.active.lock().0) {
            return v.map_or(Buffered::Deleted, Buffered::Value);
        }
        if let Some(snap) = self.flushing.read().as_ref() {
            if let Some(v) = found(snap) {
                return v.map_or(Buffered::Deleted, Buffered::Value);
            }
        }
        Buffered::Unknown
    }

    /// Number of entries waiting.
    pub fn len(&self) -> usize {
        self.active.lock().1
    }

    /// True when nothing waits.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Moves everything buffered into the cold store; returns the highest LSN written.
    ///
    /// The caller decides whether to make the cold store durable afterwards.
    pub fn flush_into(&self, cold: &dyn ColdStore) -> Result<u64> {
        let _one_at_a_time = self.flush_lock.lock();
        let (snapshot, lsn) = {
            let mut a = self.active.lock();
            let snap = std::mem::take(&mut a.0);
            a.1 = 0;
            (Arc::new(snap), a.2)
        };
        if snapshot.is_empty() {
            return Ok(lsn);
        }
        *self.flushing.write() = Some(snapshot.clone());
        let result = (|| {
            for (tree, entries) in snapshot.iter() {
                let ops: Vec<BatchOp> =
                    entries.iter().map(|(k, v)| (k.clone(), v.as_ref().map(|v| v.as_ref().clone()))).collect();
                cold.apply(tree, ops)?;
            }
            Ok(())
        })();
        if result.is_err() {
            // Put the batch back under newer writes so nothing is lost; a later flush retries it.
            let mut a = self.active.lock();
            for (tree, entries) in snapshot.iter() {
                let t = a.0.entry(tree.clone()).or_default();
                for (k, v) in entries {
                    t.entry(k.clone()).or_insert_with(|| v.clone());
                }
            }
            a.1 = a.0.values().map(|t| t.len()).sum();
        }
        *self.flushing.write() = None;
        result.map(|_| lsn)
    }
}
