//! Reactive watchers: a live query's initial result, then Added / Modified / Removed diffs.
//!
//! One dispatcher thread per database reads the change stream and routes each change only to
//! the watchers it can affect: watchers with an equality predicate are indexed by
//! (field, value), the rest by collection. Writers never wait for watchers.

use super::pubsub::ChangeEvent;
use crate::db::{Aurora, Inner};
use crate::error::{AuroraError, Result};
use crate::query::planner::QuerySpec;
use crate::query::{Filter, QueryBuilder};
use crate::types::Document;
use crate::value::OrdValue;
use indexmap::IndexMap;
use parking_lot::Mutex;
use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Weak};
use std::time::Duration;
use tokio::sync::mpsc;

/// Buffered updates per watcher; past this the watcher resynchronises by re-running its query.
const WATCHER_BUFFER: usize = 4096;

/// A change to a live query's result.
#[derive(Debug, Clone, PartialEq)]
pub enum QueryUpdate {
    /// A document entered the result (inserted, or updated into the filter / top-k).
    Added(Document),
    /// A document of the result changed and is still in it.
    Modified {
        /// The version before.
        old: Document,
        /// The version after.
        new: Document,
    },
    /// A document left the result (deleted, or updated out of the filter / top-k).
    Removed(Document),
}

impl QueryUpdate {
    /// System id of the document concerned.
    pub fn sid(&self) -> &str {
        match self {
            QueryUpdate::Added(d) | QueryUpdate::Removed(d) => &d._sid,
            QueryUpdate::Modified { new, .. } => &new._sid,
        }
    }
}

struct WatchState {
    collection: String,
    spec: QuerySpec,
    members: Mutex<IndexMap<String, Arc<Document>>>,
    tx: mpsc::Sender<QueryUpdate>,
    overflowed: AtomicBool,
}

impl WatchState {
    fn windowed(&self) -> bool {
        self.spec.limit.is_some() || self.spec.offset > 0
    }

    fn send(&self, u: QueryUpdate) {
        if self.tx.try_send(u).is_err() {
            self.overflowed.store(true, Ordering::Release);
        }
    }

    /// Classifies one change without re-running the query (re-runs only for windowed results
    /// the change may reorder).
    fn apply(&self, inner: &Inner, ev: &ChangeEvent) {
        let after = ev.document.as_ref().filter(|d| self.spec.filter.matches(d));
        if self.windowed() {
            let member = self.members.lock().contains_key(&ev._sid);
            if member || after.is_some() {
                self.resync(inner);
            }
            return;
        }
        let mut members = self.members.lock();
        match (members.get(&ev._sid).cloned(), after) {
            (Some(old), Some(new)) => {
                members.insert(ev._sid.clone(), new.clone());
                self.send(QueryUpdate::Modified { old: (*old).clone(), new: (**new).clone() });
            }
            (None, Some(new)) => {
                members.insert(ev._sid.clone(), new.clone());
                self.send(QueryUpdate::Added((**new).clone()));
            }
            (Some(old), None) => {
                members.shift_remove(&ev._sid);
                self.send(QueryUpdate::Removed((*old).clone()));
            }
            (None, None) => {}
        }
    }

    /// Re-runs the query and emits the difference to the known result.
    fn resync(&self, inner: &Inner) {
        let rows = match inner.run_query(&self.collection, self.spec.clone(), false, &crate::query::Budget::unlimited())
        {
            Ok(r) => r,
            Err(e) => {
                tracing::warn!("watcher on `{}` could not refresh: {e}", self.collection);
                return;
            }
        };
        let fresh: IndexMap<String, Arc<Document>> = rows.into_iter().map(|(_, d)| (d._sid.clone(), d)).collect();
        let mut members = self.members.lock();
        for (sid, old) in members.iter() {
            if !fresh.contains_key(sid) {
                self.send(QueryUpdate::Removed((**old).clone()));
            }
        }
        for (sid, new) in &fresh {
            match members.get(sid) {
                None => self.send(QueryUpdate::Added((**new).clone())),
                Some(old) if old.data != new.data => {
                    self.send(QueryUpdate::Modified { old: (**old).clone(), new: (**new).clone() })
                }
                Some(_) => {}
            }
        }
        *members = fresh;
    }
}

#[derive(Default)]
struct CollectionWatchers {
    general: HashSet<u64>,
    by_eq: HashMap<String, std::collections::BTreeMap<OrdValue, HashSet<u64>>>,
}

/// The (field, value) of a watcher's equality predicate, used to route changes to it.
type RouteKey = (String, OrdValue);

/// A registered watcher and its route.
type Registered = (Arc<WatchState>, Option<RouteKey>);

/// All watchers of a database and the routing indexes over them.
#[derive(Default)]
pub(crate) struct Registry {
    next_id: AtomicU64,
    watchers: Mutex<HashMap<u64, Registered>>,
    routes: Mutex<HashMap<String, CollectionWatchers>>,
    dispatcher_started: AtomicBool,
}

/// The first top-level equality predicate of a filter, used as the routing key.
fn eq_key(f: &Filter) -> Option<(String, OrdValue)> {
    match f {
        Filter::Eq(field, v) => Some((field.clone(), OrdValue(v.clone()))),
        Filter::And(parts) => parts.iter().find_map(eq_key),
        _ => None,
    }
}

impl Registry {
    fn route(&self, ev: &ChangeEvent) -> Vec<Arc<WatchState>> {
        let ids: HashSet<u64> = {
            let routes = self.routes.lock();
            let Some(cw) = routes.get(&ev.collection) else { return Vec::new() };
            let mut ids = cw.general.clone();
            for (field, by_value) in &cw.by_eq {
                for doc in [&ev.before, &ev.document].into_iter().flatten() {
                    let v = doc.get_ref(field).cloned().unwrap_or_default();
                    if let Some(s) = by_value.get(&OrdValue(v)) {
                        ids.extend(s);
                    }
                }
            }
            ids
        };
        let w = self.watchers.lock();
        ids.iter().filter_map(|id| w.get(id).map(|(s, _)| s.clone())).collect()
    }

    fn remove(&self, id: u64) {
        let Some((st, key)) = self.watchers.lock().remove(&id) else { return };
        let mut routes = self.routes.lock();
        if let Some(cw) = routes.get_mut(&st.collection) {
            match key {
                Some((field, v)) => {
                    if let Some(m) = cw.by_eq.get_mut(&field) {
                        if let Some(s) = m.get_mut(&v) {
                            s.remove(&id);
                            if s.is_empty() {
                                m.remove(&v);
                            }
                        }
                        if m.is_empty() {
                            cw.by_eq.remove(&field);
                        }
                    }
                }
                None => {
                    cw.general.remove(&id);
                }
            }
        }
    }

    /// Number of live watchers (for tests and stats).
    pub(crate) fn len(&self) -> usize {
        self.watchers.lock().len()
    }

    fn start_dispatcher(self: &Arc<Self>, db: &Aurora) -> Result<()> {
        if self.dispatcher_started.swap(true, Ordering::AcqRel) {
            return Ok(());
        }
        let mut rx = db.listen_all();
        let weak_db: Weak<Inner> = Arc::downgrade(&db.inner);
        let reg = Arc::downgrade(self);
        std::thread::Builder::new()
            .name("aurora-watchers".into())
            .spawn(move || loop {
                let ev = rx.blocking_recv();
                let (Some(reg), Some(inner)) = (reg.upgrade(), weak_db.upgrade()) else { return };
                match ev {
                    Ok(ev) => {
                        for w in reg.route(&ev) {
                            w.apply(&inner, &ev);
                        }
                    }
                    Err(AuroraError::Lagged(_)) => {
                        let all: Vec<_> = reg.watchers.lock().values().map(|(s, _)| s.clone()).collect();
                        all.iter().for_each(|w| w.resync(&inner));
                    }
                    Err(_) => return,
                }
            })
            .map_err(|e| AuroraError::Other(format!("cannot start the watcher dispatcher: {e}")))?;
        Ok(())
    }
}

/// A live query. `initial()` is the result when it started; `next()` yields the diffs.
/// Dropping it unregisters it.
pub struct Watcher {
    id: u64,
    state: Arc<WatchState>,
    registry: Weak<Registry>,
    rx: mpsc::Receiver<QueryUpdate>,
    initial: Vec<Document>,
    debounce: Option<Duration>,
    db: Weak<Inner>,
    ready: std::collections::VecDeque<QueryUpdate>,
}

impl Watcher {
    /// The query's result at the moment the watcher started.
    pub fn initial(&self) -> &[Document] {
        &self.initial
    }

    /// The current result as the watcher knows it.
    pub fn current(&self) -> Vec<Document> {
        self.state.members.lock().values().map(|d| (**d).clone()).collect()
    }

    /// The next update; with a debounce, updates arriving within the window are coalesced per
    /// document. `None` once the database is closed.
    pub async fn next(&mut self) -> Option<QueryUpdate> {
        loop {
            if let Some(u) = self.ready.pop_front() {
                return Some(u);
            }
            if self.state.overflowed.swap(false, Ordering::AcqRel) {
                while self.rx.try_recv().is_ok() {}
                if let Some(inner) = self.db.upgrade() {
                    self.state.resync(&inner);
                }
            }
            let first = self.rx.recv().await?;
            let mut batch = vec![first];
            if let Some(d) = self.debounce {
                let deadline = tokio::time::Instant::now() + d;
                while let Ok(Some(u)) = tokio::time::timeout_at(deadline, self.rx.recv()).await {
                    batch.push(u);
                }
            }
            self.ready.extend(coalesce(batch));
        }
    }
}

/// Merges several updates of one document into the one that has the same net effect.
fn coalesce(batch: Vec<QueryUpdate>) -> Vec<QueryUpdate> {
    let mut out: IndexMap<String, Option<QueryUpdate>> = IndexMap::new();
    for u in batch {
        let sid = u.sid().to_string();
        let merged = match (out.swap_remove(&sid).flatten(), u) {
            (None, u) => Some(u),
            (Some(QueryUpdate::Added(_)), QueryUpdate::Modified { new, .. }) => Some(QueryUpdate::Added(new)),
            (Some(QueryUpdate::Added(_)), QueryUpdate::Removed(_)) => None,
            (Some(QueryUpdate::Modified { old, .. }), QueryUpdate::Modified { new, .. }) => {
                Some(QueryUpdate::Modified { old, new })
            }
            (Some(QueryUpdate::Modified { old, .. }), QueryUpdate::Removed(_)) => Some(QueryUpdate::Removed(old)),
            (Some(QueryUpdate::Removed(old)), QueryUpdate::Added(new)) => Some(QueryUpdate::Modified { old, new }),
            (Some(_), u) => Some(u),
        };
        out.insert(sid, merged);
    }
    out.into_values().flatten().collect()
}

impl Drop for Watcher {
    fn drop(&mut self) {
        if let Some(r) = self.registry.upgrade() {
            r.remove(self.id);
        }
    }
}

impl QueryBuilder {
    /// Starts a live query: the current result, then diffs as writes change it.
    pub async fn watch(self) -> Result<Watcher> {
        let QueryBuilder { db, collection, spec, debounce } = self;
        let registry = db.extension("watch_registry", Registry::default);
        registry.start_dispatcher(&db)?;
        let (tx, rx) = mpsc::channel(WATCHER_BUFFER);
        let spec = {
            let coll = db.inner.collection(&collection)?;
            QuerySpec { filter: crate::query::planner::prepare_filter(&coll, spec.filter, false)?, ..spec }
        };
        let state = Arc::new(WatchState {
            collection: collection.clone(),
            spec: spec.clone(),
            members: Mutex::new(IndexMap::new()),
            tx,
            overflowed: AtomicBool::new(false),
        });
        let key = eq_key(&spec.filter);
        let id = registry.next_id.fetch_add(1, Ordering::Relaxed);
        // Register before the initial read so no change between the two is missed; the
        // commit lock orders the read against writes.
        {
            registry.watchers.lock().insert(id, (state.clone(), key.clone()));
            let mut routes = registry.routes.lock();
            let cw = routes.entry(collection.clone()).or_default();
            match &key {
                Some((f, v)) => {
                    cw.by_eq.entry(f.clone()).or_default().entry(v.clone()).or_default().insert(id);
                }
                None => {
                    cw.general.insert(id);
                }
            }
        }
        let initial = {
            let _no_writes = db.inner.commit.lock();
            let rows = db.inner.run_query(&collection, spec, false, &crate::query::Budget::unlimited())?;
            *state.members.lock() = rows.iter().map(|(_, d)| (d._sid.clone(), d.clone())).collect();
            rows.into_iter().map(|(_, d)| (*d).clone()).collect()
        };
        Ok(Watcher {
            id,
            state,
            registry: Arc::downgrade(&registry),
            rx,
            initial,
            debounce,
            db: Arc::downgrade(&db.inner),
            ready: Default::default(),
        })
    }
}

impl Aurora {
    /// Number of live watchers on this database.
    pub fn watcher_count(&self) -> usize {
        self.extension("watch_registry", Registry::default).len()
    }
}
