//! Cold stores for fault-injection tests.
//!
//! * [`FaultyStore`] wraps any [`ColdStore`] and fails `apply`, `flush` or `get` on command
//!   (always, or one call in N chosen by a seeded generator), counting every injected fault.
//! * [`CrashStore`] is an in-memory store that models what a crash keeps: everything up to the
//!   last successful `flush` plus some prefix of the writes applied since (sled recovers a prefix
//!   of its log), so a test can take the image a crash would leave at any moment.

use aurora_db::storage::cold::BatchOp;
use aurora_db::storage::ColdStore;
use aurora_db::{AuroraError, Result};
use parking_lot::Mutex;
use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;

/// Which operations a [`FaultyStore`] fails.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FaultOp {
    /// `apply` (puts and deletes).
    Apply,
    /// `flush` (making applied writes durable).
    Flush,
    /// `get` (point reads).
    Get,
}

#[derive(Default)]
struct Switch {
    /// Fail every call.
    always: AtomicBool,
    /// Fail one call in N (0 = never).
    one_in: AtomicU64,
    /// Faults injected on this operation.
    injected: AtomicU64,
    /// Calls seen.
    calls: AtomicU64,
}

/// A cold store that fails on command.
pub struct FaultyStore {
    inner: Arc<dyn ColdStore>,
    apply: Switch,
    flush: Switch,
    get: Switch,
    rng: AtomicU64,
}

impl FaultyStore {
    /// Wraps `inner`; no faults until switched on. `seed` drives the one-in-N choices.
    pub fn new(inner: Arc<dyn ColdStore>, seed: u64) -> Arc<FaultyStore> {
        Arc::new(FaultyStore {
            inner,
            apply: Switch::default(),
            flush: Switch::default(),
            get: Switch::default(),
            rng: AtomicU64::new(seed | 1),
        })
    }

    fn switch(&self, op: FaultOp) -> &Switch {
        match op {
            FaultOp::Apply => &self.apply,
            FaultOp::Flush => &self.flush,
            FaultOp::Get => &self.get,
        }
    }

    /// Fails every call of `op` from now on (`false` stops it).
    pub fn fail_always(&self, op: FaultOp, on: bool) {
        self.switch(op).always.store(on, Ordering::SeqCst);
    }

    /// Fails about one call of `op` in `n` (0 stops it).
    pub fn fail_one_in(&self, op: FaultOp, n: u64) {
        self.switch(op).one_in.store(n, Ordering::SeqCst);
    }

    /// Stops every fault.
    pub fn heal(&self) {
        for op in [FaultOp::Apply, FaultOp::Flush, FaultOp::Get] {
            self.fail_always(op, false);
            self.fail_one_in(op, 0);
        }
    }

    /// Faults injected so far on `op`.
    pub fn injected(&self, op: FaultOp) -> u64 {
        self.switch(op).injected.load(Ordering::SeqCst)
    }

    /// Faults injected so far on every operation.
    pub fn injected_total(&self) -> u64 {
        [FaultOp::Apply, FaultOp::Flush, FaultOp::Get].iter().map(|&op| self.injected(op)).sum()
    }

    /// Calls of `op` seen so far (failed or not).
    pub fn calls(&self, op: FaultOp) -> u64 {
        self.switch(op).calls.load(Ordering::SeqCst)
    }

    fn next_random(&self) -> u64 {
        // xorshift64*, shared by all threads; races only reorder the sequence.
        let mut x = self.rng.load(Ordering::Relaxed);
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.rng.store(x, Ordering::Relaxed);
        x.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    fn maybe_fail(&self, op: FaultOp, what: &str) -> Result<()> {
        let s = self.switch(op);
        s.calls.fetch_add(1, Ordering::SeqCst);
        let n = s.one_in.load(Ordering::SeqCst);
        let fail = s.always.load(Ordering::SeqCst) || (n > 0 && self.next_random().checked_rem(n) == Some(0));
        if fail {
            s.injected.fetch_add(1, Ordering::SeqCst);
            return Err(AuroraError::Storage(format!("injected fault: cold store {what} failed")));
        }
        Ok(())
    }
}

impl ColdStore for FaultyStore {
    fn get(&self, tree: &str, key: &[u8]) -> Result<Option<Vec<u8>>> {
        self.maybe_fail(FaultOp::Get, "get")?;
        self.inner.get(tree, key)
    }

    fn apply(&self, tree: &str, ops: Vec<BatchOp>) -> Result<()> {
        self.maybe_fail(FaultOp::Apply, "apply")?;
        self.inner.apply(tree, ops)
    }

    fn scan(&self, tree: &str) -> Result<Vec<(Vec<u8>, Vec<u8>)>> {
        self.inner.scan(tree)
    }

    fn tree_names(&self) -> Result<Vec<String>> {
        self.inner.tree_names()
    }

    fn drop_tree(&self, tree: &str) -> Result<()> {
        self.inner.drop_tree(tree)
    }

    fn flush(&self) -> Result<()> {
        self.maybe_fail(FaultOp::Flush, "flush")?;
        self.inner.flush()
    }
}

type Tree = BTreeMap<Vec<u8>, Vec<u8>>;
type Trees = HashMap<String, Tree>;

/// One write applied since the last flush.
#[derive(Clone)]
enum Logged {
    Apply(String, Vec<BatchOp>),
    Drop(String),
}

fn replay_into(trees: &mut Trees, w: &Logged) {
    match w {
        Logged::Apply(tree, ops) => {
            let t = trees.entry(tree.clone()).or_default();
            for (k, v) in ops {
                match v {
                    Some(v) => t.insert(k.clone(), v.clone()),
                    None => t.remove(k),
                };
            }
        }
        Logged::Drop(tree) => {
            trees.remove(tree);
        }
    }
}

#[derive(Default)]
struct CrashState {
    /// What readers see.
    live: Trees,
    /// What survived the last flush.
    durable: Trees,
    /// Writes applied since the last flush, in order.
    since_flush: Vec<Logged>,
}

/// In-memory cold store that can produce the image a crash would leave.
#[derive(Default)]
pub struct CrashStore {
    state: Mutex<CrashState>,
}

impl CrashStore {
    /// An empty store.
    pub fn new() -> Arc<CrashStore> {
        Arc::new(CrashStore::default())
    }

    /// Writes applied but not yet flushed.
    pub fn unflushed(&self) -> usize {
        self.state.lock().since_flush.len()
    }

    /// The store a crash now would leave: the durable state plus the first `keep` of the
    /// writes applied since the last flush (clamped). The image starts fully flushed.
    pub fn crash_image(&self, keep: usize) -> Arc<CrashStore> {
        let st = self.state.lock();
        let mut trees = st.durable.clone();
        for w in st.since_flush.iter().take(keep) {
            replay_into(&mut trees, w);
        }
        Arc::new(CrashStore {
            state: Mutex::new(CrashState { live: trees.clone(), durable: trees, since_flush: Vec::new() }),
        })
    }
}

impl ColdStore for CrashStore {
    fn get(&self, tree: &str, key: &[u8]) -> Result<Option<Vec<u8>>> {
        Ok(self.state.lock().live.get(tree).and_then(|t| t.get(key).cloned()))
    }

    fn apply(&self, tree: &str, ops: Vec<BatchOp>) -> Result<()> {
        let mut st = self.state.lock();
        let w = Logged::Apply(tree.to_string(), ops);
        replay_into(&mut st.live, &w);
        st.since_flush.push(w);
        Ok(())
    }

    fn scan(&self, tree: &str) -> Result<Vec<(Vec<u8>, Vec<u8>)>> {
        Ok(self
            .state
            .lock()
            .live
            .get(tree)
            .map(|t| t.iter().map(|(k, v)| (k.clone(), v.clone())).collect())
            .unwrap_or_default())
    }

    fn tree_names(&self) -> Result<Vec<String>> {
        Ok(self.state.lock().live.keys().cloned().collect())
    }

    fn drop_tree(&self, tree: &str) -> Result<()> {
        let mut st = self.state.lock();
        let w = Logged::Drop(tree.to_string());
        replay_into(&mut st.live, &w);
        st.since_flush.push(w);
        Ok(())
    }

    fn flush(&self) -> Result<()> {
        let mut st = self.state.lock();
        let pending = std::mem::take(&mut st.since_flush);
        for w in &pending {
            replay_into(&mut st.durable, w);
        }
        Ok(())
    }
}
