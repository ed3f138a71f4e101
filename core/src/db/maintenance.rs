//! Background maintenance: buffer flushes, checkpoints (WAL truncation), compaction and the
//! retention of completed jobs.

use super::open::LSN_KEY;
use super::{CommitState, Inner};
use crate::error::{AuroraError, Result};
use crate::storage::{keys, wal};
use std::sync::atomic::Ordering;
use std::sync::{Arc, Weak};
use std::time::{Duration, Instant};

/// Bytes flushed to the cold store after which a flush is made durable (see
/// [`Inner::flush_memtable`]).
pub(crate) const UNDURABLE_LIMIT: usize = 64 << 20;

/// Starts the maintenance thread; it holds only a weak handle and stops with the database.
pub(super) fn start(inner: &Arc<Inner>) -> Result<()> {
    let weak: Weak<Inner> = Arc::downgrade(inner);
    let cfg = inner.config.clone();
    let flush_every = Duration::from_millis(cfg.write_buffer_flush_interval_ms.max(10));
    let checkpoint_every = Duration::from_millis(cfg.checkpoint_interval_ms.max(10));
    let compact_every = Duration::from_secs(cfg.compact_interval_mins.max(1) * 60);
    // WAL mode: the log is fsynced on this period, so a power loss keeps what was written
    // before the last sync (Strict and Synchronous fsync every commit).
    let wal_sync_every = (inner.durability == crate::config::DurabilityMode::WAL && cfg.wal_sync_interval_ms > 0)
        .then(|| Duration::from_millis(cfg.wal_sync_interval_ms));
    // Completed jobs past their retention are deleted every half retention (100 ms to 1 min).
    let purge_after = cfg.completed_job_retention_ms.map(Duration::from_millis);
    let purge_every = Duration::from_millis(cfg.completed_job_retention_ms.unwrap_or(0) / 2)
        .clamp(Duration::from_millis(100), Duration::from_secs(60));
    let tick = flush_every.min(Duration::from_millis(200)).min(wal_sync_every.unwrap_or(Duration::MAX));
    let signal = inner.shutdown.clone();
    std::thread::Builder::new()
        .name("aurora-maintenance".into())
        .spawn(move || {
            let mut last_flush = Instant::now();
            let mut last_checkpoint = Instant::now();
            let mut last_compact = Instant::now();
            let mut last_purge = Instant::now();
            let mut last_wal_sync = Instant::now();
            loop {
                // Wait without holding a strong handle, so dropping the last user handle closes now.
                // The flag is read before taking the signal lock: if the user drops the last handle
                // meanwhile, this thread's temporary handle runs the shutdown, which takes that lock.
                let wanted = weak.upgrade().is_some_and(|i| i.flush_wanted.load(Ordering::Acquire));
                {
                    let (lock, cv) = &*signal;
                    let mut stop = lock.lock();
                    if *stop {
                        return;
                    }
                    if !wanted {
                        cv.wait_for(&mut stop, tick);
                    }
                    if *stop {
                        return;
                    }
                }
                let Some(inner) = weak.upgrade() else { return };
                inner.memtable.reap();
                let now = Instant::now();
                let result = (|| -> Result<()> {
                    if let (Some(every), Some(w)) = (wal_sync_every, inner.wal_shared.get()) {
                        if now.duration_since(last_wal_sync) >= every {
                            last_wal_sync = now;
                            w.sync_now()?;
                        }
                    }
                    if now.duration_since(last_checkpoint) >= checkpoint_every {
                        last_checkpoint = now;
                        last_flush = now;
                        inner.checkpoint()?;
                    } else if inner.flush_wanted.swap(false, Ordering::AcqRel)
                        || (now.duration_since(last_flush) >= flush_every && inner.memtable.pending_docs() > 0)
                    {
                        last_flush = now;
                        if let Err(e) = inner.flush_memtable(false) {
                            inner.note_cold_error(&e);
                            return Err(e);
                        }
                    }
                    if let Some(retention) = purge_after {
                        if now.duration_since(last_purge) >= purge_every {
                            last_purge = now;
                            crate::workers::queue::purge_expired(&inner, retention)?;
                        }
                    }
                    if cfg.auto_compact && now.duration_since(last_compact) >= compact_every {
                        last_compact = now;
                        inner.compact()?;
                    }
                    Ok(())
                })();
                if let Err(e) = result {
                    tracing::error!("background maintenance failed (will retry): {e}");
                }
                drop(inner);
            }
        })
        .map_err(|e| AuroraError::io(&cfg.db_path, e))?;
    Ok(())
}

impl Inner {
    /// Writes pending data to the cold store, makes it durable, records the checkpoint LSN and
    /// deletes the WAL segments it covers. A committed write is never dropped: segments go only
    /// after the data they hold is durable in the cold store.
    pub(crate) fn checkpoint(&self) -> Result<()> {
        self.check_open()?;
        self.checkpoint_inner()
    }

    pub(super) fn checkpoint_inner(&self) -> Result<()> {
        self.flush_memtable(true).map_err(|e| self.cold_store_error("checkpoint failed (the WAL is kept)", e))?;
        self.note_cold_ok();
        Ok(())
    }

    /// Moves the pending writes to the cold store in one atomic batch; with `durable`, also makes
    /// them durable and drops the WAL segments they cover. Commits go on meanwhile (into a new
    /// memtable generation).
    ///
    /// A flush becomes a checkpoint once [`UNDURABLE_LIMIT`] bytes were flushed without one:
    /// the cold store reuses freed pages only after a durable commit, so without it a long bulk
    /// load leaves the file full of dead pages (and the WAL long).
    pub(crate) fn flush_memtable(&self, durable: bool) -> Result<()> {
        let _one = self.checkpoint_lock.lock();
        let durable = durable || self.undurable_bytes.load(Ordering::Acquire) >= UNDURABLE_LIMIT;
        // A generation left frozen by a failed flush goes first, with its own LSN.
        if self.memtable.has_frozen() {
            self.write_frozen(durable, None)?;
        }
        let bytes = self.memtable.active_bytes();
        let segment = {
            let mut cs = self.commit.lock();
            self.memtable.freeze(cs.next_lsn - 1);
            match (durable, cs.wal.as_mut()) {
                (true, Some(w)) => Some(w.rotate()?),
                _ => None,
            }
        };
        self.write_frozen(durable, segment)?;
        if durable {
            self.undurable_bytes.store(0, Ordering::Release);
        } else {
            self.undurable_bytes.fetch_add(bytes, Ordering::AcqRel);
        }
        Ok(())
    }

    /// [`Inner::flush_memtable`] for a caller holding the checkpoint and commit locks (schema
    /// changes): everything committed is in the cold store, durably, when it returns.
    pub(crate) fn flush_locked(&self, cs: &mut CommitState) -> Result<()> {
        if self.memtable.has_frozen() {
            self.write_frozen(true, None)?;
        }
        self.memtable.freeze(cs.next_lsn - 1);
        let segment = cs.wal.as_mut().map(|w| w.rotate()).transpose()?;
        self.write_frozen(true, segment)
    }

    /// Writes the frozen generation (if any), installs the new cold view, and after a durable
    /// write drops the WAL segments before `segment`.
    fn write_frozen(&self, durable: bool, segment: Option<u64>) -> Result<()> {
        let cold = self.cold()?;
        let written = self.memtable.flush_frozen(&*cold, &keys::meta(LSN_KEY), durable)?;
        if let Some((lsn, keys)) = written {
            self.index_cache.advance(&with_value_prefixes(keys), cold.view()?);
            self.memtable.drop_frozen();
            self.cold_lsn.fetch_max(lsn, Ordering::AcqRel);
            if durable {
                self.durable_lsn.fetch_max(lsn, Ordering::AcqRel);
            }
        } else if durable {
            cold.flush()?;
        }
        if let (true, Some(seg)) = (durable, segment) {
            remove_segments_before(&self.wal_dir, seg)?;
        }
        Ok(())
    }

    /// Checkpoints (row ids are stable in the paged layout: deleted rows leave holes that the
    /// roaring chunks compress, and the cold store reuses the freed pages).
    pub(crate) fn compact(&self) -> Result<()> {
        self.checkpoint()
    }
}

/// Keys written by a flush, and for posting chunks the value prefix a cached value's rows are
/// kept under (it changes with any of its chunks).
fn with_value_prefixes(mut written: Vec<Vec<u8>>) -> Vec<Vec<u8>> {
    let extra: Vec<Vec<u8>> = written
        .iter()
        .filter(|k| k.first() == Some(&keys::COLL) && k.get(5) == Some(&keys::kind::POSTING) && k.len() > 10)
        .map(|k| k[..k.len() - 2].to_vec())
        .collect();
    written.extend(extra);
    written
}

/// Deletes the WAL segments that start before `segment` (their records are checkpointed).
pub(super) fn remove_segments_before(wal_dir: &std::path::Path, segment: u64) -> Result<()> {
    for (start, path) in wal::list_segments(wal_dir)? {
        if start < segment {
            std::fs::remove_file(&path).map_err(|e| AuroraError::io(&path, e))?;
        }
    }
    Ok(())
}
