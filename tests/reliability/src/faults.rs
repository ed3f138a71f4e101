//! Cold stores for fault-injection tests.
//!
//! * [`FaultyStore`] wraps any [`ColdStore`] and fails writes, flushes or reads on command
//!   (always, or one call in N chosen by a seeded generator), counting every injected fault.
//! * [`CrashStore`] is an in-memory store that models what a crash keeps: everything up to the
//!   last durable write plus some prefix of the atomic batches written since (sled recovers a
//!   prefix of its log; redb keeps the last durable commit), so a test can take the image a crash
//!   would leave at any moment.

use aurora_db::storage::{ColdStore, ColdView, KvOp};
use aurora_db::{AuroraError, Result};
use parking_lot::Mutex;
use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;

/// Which operations a [`FaultyStore`] fails.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FaultOp {
    /// Writes (atomic batches of puts and deletes).
    Apply,
    /// Making writes durable (`flush`, or a durable write).
    Flush,
    /// Reads (point reads and range scans).
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

/// The fault switches, shared by a store and its read views.
struct Faults {
    apply: Switch,
    flush: Switch,
    get: Switch,
    rng: AtomicU64,
}

/// A cold store that fails on command.
pub struct FaultyStore {
    inner: Arc<dyn ColdStore>,
    faults: Arc<Faults>,
}

impl FaultyStore {
    /// Wraps `inner`; no faults until switched on. `seed` drives the one-in-N choices.
    pub fn new(inner: Arc<dyn ColdStore>, seed: u64) -> Arc<FaultyStore> {
        Arc::new(FaultyStore {
            inner,
            faults: Arc::new(Faults {
                apply: Switch::default(),
                flush: Switch::default(),
                get: Switch::default(),
                rng: AtomicU64::new(seed | 1),
            }),
        })
    }

    fn switch(&self, op: FaultOp) -> &Switch {
        self.faults.switch(op)
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
}

impl Faults {
    fn switch(&self, op: FaultOp) -> &Switch {
        match op {
            FaultOp::Apply => &self.apply,
            FaultOp::Flush => &self.flush,
            FaultOp::Get => &self.get,
        }
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

struct FaultyView {
    inner: Arc<dyn ColdView>,
    faults: Arc<Faults>,
}

impl ColdView for FaultyView {
    fn get(&self, key: &[u8]) -> Result<Option<Vec<u8>>> {
        self.faults.maybe_fail(FaultOp::Get, "get")?;
        self.inner.get(key)
    }

    fn range(&self, from: &[u8], to: Option<&[u8]>, reverse: bool) -> Result<aurora_db::storage::kv::KvIter<'_>> {
        self.faults.maybe_fail(FaultOp::Get, "range")?;
        self.inner.range(from, to, reverse)
    }
}

impl ColdStore for FaultyStore {
    fn view(&self) -> Result<Arc<dyn ColdView>> {
        Ok(Arc::new(FaultyView { inner: self.inner.view()?, faults: self.faults.clone() }))
    }

    fn write(&self, ops: Vec<KvOp>, durable: bool) -> Result<()> {
        self.faults.maybe_fail(FaultOp::Apply, "write")?;
        if durable {
            self.faults.maybe_fail(FaultOp::Flush, "flush")?;
        }
        self.inner.write(ops, durable)
    }

    fn flush(&self) -> Result<()> {
        self.faults.maybe_fail(FaultOp::Flush, "flush")?;
        self.inner.flush()
    }

    fn kind(&self) -> &'static str {
        self.inner.kind()
    }
}

type Map = BTreeMap<Vec<u8>, Vec<u8>>;

fn replay_into(map: &mut Map, batch: &[KvOp]) {
    for op in batch {
        match op {
            KvOp::Put(k, v) => {
                map.insert(k.clone(), v.clone());
            }
            KvOp::Delete(k) => {
                map.remove(k);
            }
            KvOp::DeleteRange(from, to) => {
                let doomed: Vec<Vec<u8>> = map.range(from.clone()..to.clone()).map(|(k, _)| k.clone()).collect();
                doomed.iter().for_each(|k| {
                    map.remove(k);
                });
            }
        }
    }
}

#[derive(Default)]
struct CrashState {
    /// What readers see.
    live: Arc<Map>,
    /// What survived the last durable write.
    durable: Map,
    /// Batches written since, in order.
    since_flush: Vec<Vec<KvOp>>,
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

    /// Batches written but not yet durable.
    pub fn unflushed(&self) -> usize {
        self.state.lock().since_flush.len()
    }

    /// The store a crash now would leave: the durable state plus the first `keep` of the
    /// batches written since (clamped). The image starts fully durable.
    pub fn crash_image(&self, keep: usize) -> Arc<CrashStore> {
        let st = self.state.lock();
        let mut map = st.durable.clone();
        for w in st.since_flush.iter().take(keep) {
            replay_into(&mut map, w);
        }
        Arc::new(CrashStore {
            state: Mutex::new(CrashState { live: Arc::new(map.clone()), durable: map, since_flush: Vec::new() }),
        })
    }
}

struct CrashView(Arc<Map>);

impl ColdView for CrashView {
    fn get(&self, key: &[u8]) -> Result<Option<Vec<u8>>> {
        Ok(self.0.get(key).cloned())
    }

    fn range(&self, from: &[u8], to: Option<&[u8]>, reverse: bool) -> Result<aurora_db::storage::kv::KvIter<'_>> {
        let upper = to.map_or(std::ops::Bound::Unbounded, std::ops::Bound::Excluded);
        let r =
            self.0.range::<[u8], _>((std::ops::Bound::Included(from), upper)).map(|(k, v)| Ok((k.clone(), v.clone())));
        Ok(if reverse { Box::new(r.rev()) } else { Box::new(r) })
    }
}

impl ColdStore for CrashStore {
    fn view(&self) -> Result<Arc<dyn ColdView>> {
        Ok(Arc::new(CrashView(self.state.lock().live.clone())))
    }

    fn write(&self, ops: Vec<KvOp>, durable: bool) -> Result<()> {
        let mut st = self.state.lock();
        replay_into(Arc::make_mut(&mut st.live), &ops);
        st.since_flush.push(ops);
        if durable {
            drop(st);
            self.flush()?;
        }
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

    fn kind(&self) -> &'static str {
        "memory"
    }
}
