//! Change events broadcast per collection and globally, in commit order.

use crate::error::{AuroraError, Result};
use crate::types::Document;
use parking_lot::RwLock;
use std::collections::HashMap;
use std::sync::Arc;
use tokio::sync::broadcast;

/// Capacity of each listener's buffer; a listener further behind is told how much it missed.
pub const LISTENER_BUFFER: usize = 4096;

/// Kind of change.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum ChangeType {
    /// A new document.
    Insert,
    /// A document replaced or modified.
    Update,
    /// A document removed.
    Delete,
}

/// One committed change.
#[derive(Debug, Clone)]
pub struct ChangeEvent {
    /// Commit sequence number (events arrive in increasing LSN order).
    pub lsn: u64,
    /// What happened.
    pub change_type: ChangeType,
    /// Collection changed.
    pub collection: String,
    /// System id of the document.
    pub _sid: String,
    /// The document after the change (`None` for deletes).
    pub document: Option<Arc<Document>>,
    /// The document before the change (updates and deletes).
    pub before: Option<Arc<Document>>,
}

impl ChangeEvent {
    /// The current version for inserts/updates, the last version for deletes.
    pub fn doc(&self) -> Option<&Arc<Document>> {
        self.document.as_ref().or(self.before.as_ref())
    }
}

/// Broadcast channels: one per collection plus one for everything.
pub struct Hub {
    all: broadcast::Sender<Arc<ChangeEvent>>,
    per_collection: RwLock<HashMap<String, broadcast::Sender<Arc<ChangeEvent>>>>,
}

impl Default for Hub {
    fn default() -> Self {
        Hub { all: broadcast::channel(LISTENER_BUFFER).0, per_collection: RwLock::new(HashMap::new()) }
    }
}

impl Hub {
    /// True when someone listens to this collection (so events are worth building).
    pub fn has_listeners(&self, collection: &str) -> bool {
        self.all.receiver_count() > 0
            || self.per_collection.read().get(collection).is_some_and(|s| s.receiver_count() > 0)
    }

    /// Sends an event to the collection's and the global listeners; never blocks.
    pub fn publish(&self, ev: ChangeEvent) {
        let ev = Arc::new(ev);
        if let Some(s) = self.per_collection.read().get(&ev.collection) {
            if s.receiver_count() > 0 {
                let _ = s.send(ev.clone());
            }
        }
        if self.all.receiver_count() > 0 {
            let _ = self.all.send(ev);
        }
    }

    /// Subscribes to one collection.
    pub fn listen(&self, collection: &str) -> ChangeListener {
        if let Some(s) = self.per_collection.read().get(collection) {
            return ChangeListener { rx: s.subscribe() };
        }
        let mut map = self.per_collection.write();
        let s = map.entry(collection.to_string()).or_insert_with(|| broadcast::channel(LISTENER_BUFFER).0);
        ChangeListener { rx: s.subscribe() }
    }

    /// Subscribes to every collection.
    pub fn listen_all(&self) -> ChangeListener {
        ChangeListener { rx: self.all.subscribe() }
    }
}

/// A subscription to change events; dropping it unsubscribes.
pub struct ChangeListener {
    rx: broadcast::Receiver<Arc<ChangeEvent>>,
}

impl ChangeListener {
    /// Next event. `Err(Lagged(n))` tells that `n` events were dropped because this listener
    /// fell behind; the following call continues with the oldest event still buffered.
    pub async fn recv(&mut self) -> Result<ChangeEvent> {
        match self.rx.recv().await {
            Ok(ev) => Ok((*ev).clone()),
            Err(broadcast::error::RecvError::Lagged(n)) => Err(AuroraError::Lagged(n)),
            Err(broadcast::error::RecvError::Closed) => Err(AuroraError::Closed),
        }
    }

    /// Next event without waiting: `Ok(None)` when none is pending.
    pub fn try_recv(&mut self) -> Result<Option<ChangeEvent>> {
        match self.rx.try_recv() {
            Ok(ev) => Ok(Some((*ev).clone())),
            Err(broadcast::error::TryRecvError::Empty) => Ok(None),
            Err(broadcast::error::TryRecvError::Lagged(n)) => Err(AuroraError::Lagged(n)),
            Err(broadcast::error::TryRecvError::Closed) => Err(AuroraError::Closed),
        }
    }

    /// Blocking receive for threads outside any async runtime.
    pub fn blocking_recv(&mut self) -> Result<ChangeEvent> {
        match self.rx.blocking_recv() {
            Ok(ev) => Ok((*ev).clone()),
            Err(broadcast::error::RecvError::Lagged(n)) => Err(AuroraError::Lagged(n)),
            Err(broadcast::error::RecvError::Closed) => Err(AuroraError::Closed),
        }
    }
}
