//! Subscriptions for hosts: blocking `next` with timeout, async `next`, and `close` that also
//! wakes a thread blocked in `next`.

use crate::error::{BindingError, ErrorCode};
use crate::runtime::{block_on, runtime};
use aurora_db::{AqlStream, AuroraError, ChangeListener, ChangeType};
use serde_json::{json, Value};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{watch, Mutex};

enum Source {
    Stream(Box<AqlStream>),
    Listener(ChangeListener),
}

/// A live subscription (AQL stream or change listener). Dropping it unsubscribes.
#[derive(Clone)]
pub struct Subscription {
    source: Arc<Mutex<Option<Source>>>,
    closed: Arc<watch::Sender<bool>>,
}

impl Subscription {
    pub(crate) fn from_stream(s: AqlStream) -> Self {
        Self::new(Source::Stream(Box::new(s)))
    }

    pub(crate) fn from_listener(l: ChangeListener) -> Self {
        Self::new(Source::Listener(l))
    }

    fn new(s: Source) -> Self {
        Subscription { source: Arc::new(Mutex::new(Some(s))), closed: Arc::new(watch::channel(false).0) }
    }

    /// Waits for the next event; `Ok(None)` when `timeout` passes first. After `close` (or when
    /// the database closes) it fails with `CLOSED`. A listener that fell behind receives
    /// `{"operation": "lagged", "missed": n}` and continues.
    pub async fn next(&self, timeout: Option<Duration>) -> Result<Option<Value>, BindingError> {
        let mut closed = self.closed.subscribe();
        if *closed.borrow() {
            return Err(BindingError::closed("the subscription"));
        }
        let mut guard = tokio::select! {
            g = self.source.lock() => g,
            _ = closed.wait_for(|c| *c) => return Err(BindingError::closed("the subscription")),
        };
        let Some(src) = guard.as_mut() else { return Err(BindingError::closed("the subscription")) };
        let recv = async {
            match src {
                Source::Stream(s) => s.recv().await.map(|e| e.to_json()),
                Source::Listener(l) => l.recv().await.map(|e| event_json(&e)),
            }
        };
        let sleep = async {
            match timeout {
                Some(t) => tokio::time::sleep(t).await,
                None => std::future::pending().await,
            }
        };
        tokio::select! {
            r = recv => match r {
                Ok(v) => Ok(Some(v)),
                Err(AuroraError::Lagged(n)) => Ok(Some(json!({ "operation": "lagged", "missed": n }))),
                Err(AuroraError::Closed) => Err(BindingError::closed("the database")),
                Err(e) => Err(e.into()),
            },
            _ = sleep => Ok(None),
            _ = closed.wait_for(|c| *c) => Err(BindingError::closed("the subscription")),
        }
    }

    /// Blocking [`Subscription::next`] for host threads (never call it on a runtime thread).
    pub fn next_blocking(&self, timeout: Option<Duration>) -> Result<Option<Value>, BindingError> {
        crate::guard(|| block_on(self.next(timeout))?)
    }

    /// Closes the subscription, waking any caller blocked in `next`. Idempotent.
    pub fn close(&self) {
        self.closed.send_replace(true);
        if let Ok(mut g) = self.source.try_lock() {
            g.take();
        } else {
            // A `next` holds the source: it wakes on the close signal and the drop follows.
            let source = self.source.clone();
            if let Ok(rt) = runtime() {
                rt.spawn(async move {
                    source.lock().await.take();
                });
            }
        }
    }

    /// True once closed.
    pub fn is_closed(&self) -> bool {
        *self.closed.borrow()
    }

    /// `CLOSED` error code helper for hosts that want to end iteration quietly.
    pub fn is_closed_error(e: &BindingError) -> bool {
        e.code == ErrorCode::Closed
    }
}

/// JSON of a change event: `{"operation", "collection", "_sid", "lsn", "data", "before"}`.
fn event_json(e: &aurora_db::ChangeEvent) -> Value {
    let op = match e.change_type {
        ChangeType::Insert => "insert",
        ChangeType::Update => "update",
        ChangeType::Delete => "delete",
    };
    json!({
        "operation": op,
        "collection": e.collection,
        "_sid": e._sid,
        "lsn": e.lsn,
        "data": e.document.as_ref().map(|d| d.to_json()),
        "before": e.before.as_ref().map(|d| d.to_json()),
    })
}
