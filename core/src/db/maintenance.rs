//! Background maintenance: buffer flushes, checkpoints (WAL truncation), compaction and the
//! retention of completed jobs.

use super::{write_checkpoint, Inner};
use crate::error::{AuroraError, Result};
use crate::index::CollectionState;
use crate::storage::codec::decode_doc;
use crate::storage::wal;
use parking_lot::RwLock;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Weak};
use std::time::{Duration, Instant};

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
                let now = Instant::now();
                let result = (|| -> Result<()> {
                    if let (Some(every), Some(w)) = (wal_sync_every, &inner.wal_shared) {
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
                        || (now.duration_since(last_flush) >= flush_every && !inner.buffer.is_empty())
                    {
                        last_flush = now;
                        if let Err(e) = inner.cold().and_then(|cold| inner.buffer.flush_into(&*cold)) {
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
    /// Flushes buffered writes into the cold store, makes it durable, records the checkpoint
    /// LSN and deletes the WAL segments it covers. A write still buffered is never dropped:
    /// segments go only after the data they hold is durable in the cold store.
    pub(crate) fn checkpoint(&self) -> Result<()> {
        self.check_open()?;
        self.checkpoint_inner()
    }

    pub(super) fn checkpoint_inner(&self) -> Result<()> {
        let _one = self.checkpoint_lock.lock();
        let (lsn, segment) = {
            let mut cs = self.commit.lock();
            let lsn = cs.next_lsn - 1;
            let seg = match cs.wal.as_mut() {
                Some(w) => Some(w.rotate()?),
                None => None,
            };
            (lsn, seg)
        };
        let stored = self.cold().and_then(|cold| {
            self.buffer.flush_into(&*cold)?;
            write_checkpoint(&*cold, lsn)?;
            cold.flush()
        });
        if let Err(e) = stored {
            return Err(self.cold_store_error("checkpoint failed (the WAL is kept)", e));
        }
        self.note_cold_ok();
        {
            let mut f = self.sync_flushed.lock();
            *f = (*f).max(lsn);
        }
        if let Some(seg) = segment {
            remove_segments_before(&self.wal_dir, seg)?;
        }
        Ok(())
    }

    /// Checkpoints, then rebuilds the in-memory state of collections where more than half the
    /// row ids are holes left by deletes, so bitmaps stay dense.
    pub(crate) fn compact(&self) -> Result<()> {
        self.checkpoint()?;
        let colls: Vec<Arc<RwLock<CollectionState>>> = self.collections.read().values().cloned().collect();
        for c in colls {
            if c.read().hole_ratio() < 0.5 {
                continue;
            }
            let _cs = self.commit.lock();
            self.buffer.flush_into(&*self.cold()?)?;
            let mut st = c.write();
            let mut fresh = CollectionState::new(st.id, &st.name, st.schema.clone());
            for (k, v) in self.cold()?.scan(&st.tree)? {
                if let Some(sid) = super::sid_from_key(&k) {
                    fresh.insert(sid, &decode_doc(&v)?);
                }
            }
            *st = fresh;
        }
        Ok(())
    }
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
