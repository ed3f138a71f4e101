//! Eager execution: a call that is known to be cheap finishes on the caller's thread.
//!
//! An async host call (a Node Promise) normally hops to the runtime and back; for a point lookup
//! that round trip costs ten times the lookup. So the facade remembers how long each AQL text
//! took recently, and when its last runs were cheap and nothing else of this handle is in
//! flight, polls the execution once on the calling thread. If it completes (every read, and
//! every write that needs no fsync), the host gets a settled result; if it would wait (a group
//! commit, a lock held by a long call), the rest runs on the runtime as before. A text seen for
//! the first time, or one whose recent runs were slow, always runs on the runtime, so a large
//! scan or a Strict write never blocks the host's event loop twice in a row.

use crate::error::BindingError;
use crate::workers::BoxFuture;
use parking_lot::Mutex;
use serde_json::Value;
use std::future::Future;
use std::hash::BuildHasher;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll, Waker};
use std::time::{Duration, Instant};

/// A call cheaper than this (moving average of its recent runs) may run on the caller's thread,
/// unless the host's config sets `eager_budget_us` (0 turns eager execution off).
const DEFAULT_BUDGET: Duration = Duration::from_micros(200);

/// The config key (snake_case; camelCase `eagerBudgetUs` is accepted too) of the budget.
const BUDGET_KEY: &str = "eager_budget_us";

/// Texts whose cost is remembered; the table is cleared when it grows past this.
const MAX_TRACKED: usize = 4096;

/// The outcome of an eager call: finished here, or still running on the runtime.
pub enum Execution<T> {
    /// Completed on the calling thread.
    Ready(Result<T, BindingError>),
    /// Completes on the runtime; await it from any executor.
    Pending(BoxFuture<Result<T, BindingError>>),
}

/// Per-handle cost memory and in-flight count.
pub(crate) struct Eager {
    budget_ns: u64,
    /// Moving average cost in nanoseconds, keyed by a hash of the AQL text (a collision only
    /// mispredicts a cost; it cannot change a result).
    costs: Mutex<foldhash::HashMap<u64, u64>>,
    in_flight: AtomicUsize,
}

/// The cost-table key of an AQL text.
pub(crate) fn key(text: &str) -> u64 {
    foldhash::fast::FixedState::default().hash_one(text)
}

/// Removes the eager budget from a host's config object (it is the facade's, not the
/// engine's) and returns the rest with the budget.
pub(crate) fn take_budget(config: &Value) -> Result<(Value, Duration), BindingError> {
    let Value::Object(map) = config else { return Ok((config.clone(), DEFAULT_BUDGET)) };
    let mut rest = map.clone();
    let mut budget = DEFAULT_BUDGET;
    for k in [BUDGET_KEY, "eagerBudgetUs"] {
        if let Some(v) = rest.remove(k) {
            let us = v.as_u64().filter(|us| *us <= 1_000_000).ok_or_else(|| {
                BindingError::validation(format!(
                    "config option `{k}` takes whole microseconds from 0 (never run on the caller's thread) \
                     to 1000000, got {v}"
                ))
            })?;
            budget = Duration::from_micros(us);
        }
    }
    Ok((Value::Object(rest), budget))
}

impl Eager {
    /// Cost memory for one handle, with calls under `budget` allowed on the caller's thread.
    pub(crate) fn new(budget: Duration) -> Self {
        Eager {
            budget_ns: budget.as_nanos().min(u64::MAX as u128) as u64,
            costs: Mutex::default(),
            in_flight: AtomicUsize::new(0),
        }
    }

    fn is_cheap(&self, key: u64) -> bool {
        self.budget_ns > 0
            && self.in_flight.load(Ordering::Acquire) == 0
            && self.costs.lock().get(&key).is_some_and(|&ns| ns < self.budget_ns)
    }

    fn record(&self, key: u64, took: Duration) {
        let ns = took.as_nanos().min(u64::MAX as u128) as u64;
        let mut costs = self.costs.lock();
        if costs.len() >= MAX_TRACKED && !costs.contains_key(&key) {
            costs.clear();
        }
        let slot = costs.entry(key).or_insert(ns);
        // A moving average rides out a preempted run; one run far over budget (an fsync, a big
        // scan) moves the text off the caller's thread at once. Each cheap run then halves the
        // distance back, so a one-off stall (a preempted thread: milliseconds) costs a few
        // round trips through the runtime, while a text that is slow by nature stays off.
        *slot = if ns > self.budget_ns.saturating_mul(10) { ns } else { (*slot + ns) / 2 };
    }

    /// Runs `work` eagerly when the text keyed `k` is known to be cheap, otherwise on `rt`.
    pub(crate) fn run<T, F>(self: &Arc<Self>, rt: &tokio::runtime::Runtime, k: u64, work: F) -> Execution<T>
    where
        T: Send + 'static,
        F: Future<Output = Result<T, BindingError>> + Send + 'static,
    {
        let mut fut: BoxFuture<Result<T, BindingError>> =
            Box::pin(Timed { work, eager: self.clone(), key: k, start: None });
        if self.is_cheap(k) {
            let _enter = rt.enter();
            let mut cx = Context::from_waker(Waker::noop());
            match std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| fut.as_mut().poll(&mut cx))) {
                Ok(Poll::Ready(out)) => return Execution::Ready(out),
                Ok(Poll::Pending) => {} // it has to wait: the runtime finishes it
                Err(_) => {
                    return Execution::Ready(Err(BindingError::internal(
                        "internal error: a panic in the engine was caught",
                    )))
                }
            }
        }
        self.in_flight.fetch_add(1, Ordering::AcqRel);
        let flight = InFlight(self.clone());
        let task = rt.spawn(fut);
        Execution::Pending(Box::pin(async move {
            let _flight = flight;
            task.await.unwrap_or_else(|e| Err(crate::runtime::join_error(e)))
        }))
    }
}

pin_project_lite::pin_project! {
    /// Runs `work` and records how long it took from its first poll to its end. A named future
    /// rather than an `async` block, so the (large) engine future is polled where it was boxed
    /// instead of being moved into the block's await slot first.
    struct Timed<F> {
        #[pin]
        work: F,
        eager: Arc<Eager>,
        key: u64,
        start: Option<Instant>,
    }
}

impl<F: Future> Future for Timed<F> {
    type Output = F::Output;

    fn poll(self: std::pin::Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<F::Output> {
        let me = self.project();
        let start = *me.start.get_or_insert_with(Instant::now);
        let out = std::task::ready!(me.work.poll(cx));
        me.eager.record(*me.key, start.elapsed());
        Poll::Ready(out)
    }
}

/// Counts a call on the runtime until its result is taken (or abandoned).
struct InFlight(Arc<Eager>);

impl Drop for InFlight {
    fn drop(&mut self) {
        self.0.in_flight.fetch_sub(1, Ordering::AcqRel);
    }
}

impl<T> Execution<T> {
    /// Waits for the outcome (immediately when it is ready).
    pub async fn finish(self) -> Result<T, BindingError> {
        match self {
            Execution::Ready(r) => r,
            Execution::Pending(f) => f.await,
        }
    }

    /// Blocks the calling host thread until the outcome is there (never call it from a
    /// runtime thread).
    pub fn wait(self) -> Result<T, BindingError> {
        match self {
            Execution::Ready(r) => r,
            Execution::Pending(f) => crate::runtime::block_on(f)?,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_stall_moves_a_text_off_and_cheap_runs_bring_it_back() {
        let eager = Eager::new(Duration::from_micros(200));
        let us = Duration::from_micros;
        assert!(!eager.is_cheap(1), "an unknown text is not cheap");
        for _ in 0..3 {
            eager.record(1, us(5));
        }
        assert!(eager.is_cheap(1));
        eager.record(1, us(150));
        assert!(eager.is_cheap(1), "a run under budget keeps it cheap");
        eager.record(1, us(3_000));
        assert!(!eager.is_cheap(1), "one run far over budget moves it off at once");
        for _ in 0..3 {
            eager.record(1, us(5));
        }
        assert!(!eager.is_cheap(1), "three cheap runs are not yet enough after a 3 ms stall");
        eager.record(1, us(5));
        assert!(eager.is_cheap(1), "the fourth is");
        // A text slow by nature never runs on the caller's thread.
        for _ in 0..50 {
            eager.record(2, us(300));
            assert!(!eager.is_cheap(2));
        }
        // Nothing runs eagerly with calls of this handle in flight, or with a zero budget.
        eager.in_flight.fetch_add(1, Ordering::AcqRel);
        assert!(!eager.is_cheap(1));
        eager.in_flight.fetch_sub(1, Ordering::AcqRel);
        let off = Eager::new(Duration::ZERO);
        off.record(1, us(1));
        assert!(!off.is_cheap(1));
    }
}
