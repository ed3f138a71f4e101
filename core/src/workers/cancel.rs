//! One attempt of a job: a cancellation signal its handler can observe, and a way for the
//! worker to know when every part of the attempt (the handler's future, a host thread it runs
//! on) has let go of the job, so attempts of one job never overlap.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Weak};
use tokio::sync::{oneshot, Notify};

struct Attempt {
    cancelled: AtomicBool,
    wake: Notify,
    /// Fires when the last clone of the token is dropped: the attempt is over.
    done: parking_lot::Mutex<Option<oneshot::Sender<()>>>,
}

impl Drop for Attempt {
    fn drop(&mut self) {
        if let Some(tx) = self.done.get_mut().take() {
            let _ = tx.send(());
        }
    }
}

/// The cancellation signal of one attempt of a job, carried on the [`super::Job`] a handler
/// receives (`job.cancel`). It is raised when the attempt times out or the workers stop; a
/// handler that checks it (or awaits [`CancelToken::cancelled`]) can end early. The attempt is
/// over, and the job may run again, only once every clone of the token is dropped.
#[derive(Clone, Default)]
pub struct CancelToken(Option<Arc<Attempt>>);

impl CancelToken {
    /// A token for a new attempt and the receiver that fires once the attempt is over.
    pub(crate) fn attempt() -> (CancelToken, oneshot::Receiver<()>) {
        let (tx, rx) = oneshot::channel();
        let a =
            Attempt { cancelled: AtomicBool::new(false), wake: Notify::new(), done: parking_lot::Mutex::new(Some(tx)) };
        (CancelToken(Some(Arc::new(a))), rx)
    }

    /// True once the attempt was cancelled (timed out, or the workers are stopping).
    pub fn is_cancelled(&self) -> bool {
        self.0.as_ref().is_some_and(|a| a.cancelled.load(Ordering::Acquire))
    }

    /// Completes once the attempt is cancelled (never, for a job not being run).
    pub async fn cancelled(&self) {
        let Some(a) = &self.0 else { return std::future::pending().await };
        loop {
            let notified = a.wake.notified();
            if a.cancelled.load(Ordering::Acquire) {
                return;
            }
            notified.await;
        }
    }

    /// Raises the signal.
    pub(crate) fn cancel(&self) {
        if let Some(a) = &self.0 {
            cancel(a);
        }
    }

    /// A handle on the attempt that does not keep it going (the worker's view of it).
    pub(crate) fn watch(&self) -> AttemptWatch {
        AttemptWatch(self.0.as_ref().map_or_else(Weak::new, Arc::downgrade))
    }
}

fn cancel(a: &Attempt) {
    a.cancelled.store(true, Ordering::Release);
    a.wake.notify_waiters();
}

/// The worker's view of a running attempt: it can raise the signal and read it while any part
/// of the attempt still runs, without holding the attempt open itself.
#[derive(Clone, Default)]
pub(crate) struct AttemptWatch(Weak<Attempt>);

impl AttemptWatch {
    /// True while the attempt still runs and its signal is raised.
    pub(crate) fn is_cancelled(&self) -> bool {
        self.0.upgrade().is_some_and(|a| a.cancelled.load(Ordering::Acquire))
    }

    /// Raises the signal (nothing when the attempt is already over).
    pub(crate) fn cancel(&self) {
        if let Some(a) = self.0.upgrade() {
            cancel(&a);
        }
    }
}

impl std::fmt::Debug for CancelToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "CancelToken({})", if self.is_cancelled() { "cancelled" } else { "live" })
    }
}

/// Tokens take no part in comparing jobs.
impl PartialEq for CancelToken {
    fn eq(&self, _: &Self) -> bool {
        true
    }
}
