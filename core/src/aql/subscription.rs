//! AQL subscriptions: `subscription { orders(where: ...) { id } }` as a stream of projected changes.

use super::ast::Field;
use super::fragments::expand;
use super::project::{check_fields, project};
use super::query::{at, read_args, Ctx};
use crate::db::Aurora;
use crate::error::{AuroraError, Result};
use crate::query::{planner, Filter};
use crate::realtime::{ChangeEvent, ChangeListener, ChangeType};
use serde_json::{json, Value as Json};

/// A compiled subscription root field.
pub(crate) struct Compiled {
    pub collection: String,
    pub filter: Filter,
    pub fields: Vec<Field>,
}

/// Validates a subscription field against the collection and compiles its filter.
pub(crate) fn compile(ctx: &Ctx, f: &Field) -> Result<Compiled> {
    let coll = ctx.db.inner.collection(&f.name)?;
    let args = read_args(f, ctx.vars, &["where"])?;
    let fields = expand(&f.selections, ctx.frags, &f.name)?;
    check_fields(&coll, &fields)?;
    let filter = planner::prepare_filter(&coll, args.filter, true).map_err(at(f.pos))?;
    Ok(Compiled { collection: f.name.clone(), filter, fields })
}

/// What happened to a document, as seen through the subscription's filter.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StreamOp {
    /// A matching document was inserted, or an update made it match.
    Insert,
    /// A matching document changed and still matches.
    Update,
    /// A matching document was deleted.
    Delete,
    /// An update made a matching document stop matching.
    Leave,
}

/// One delivered change: the projected document and what happened to it.
#[derive(Debug, Clone, PartialEq)]
pub struct StreamEvent {
    /// What happened.
    pub op: StreamOp,
    /// Collection of the document.
    pub collection: String,
    /// System id of the document.
    pub sid: String,
    /// Commit sequence number of the change.
    pub lsn: u64,
    /// The document projected by the subscription's selection (the last version for deletes).
    pub data: Json,
}

impl StreamEvent {
    /// JSON form shared by every binding:
    /// `{"operation": "insert"|"update"|"delete", "collection", "_sid", "data", "leftFilter"}`.
    pub fn to_json(&self) -> Json {
        let operation = match self.op {
            StreamOp::Insert => "insert",
            StreamOp::Update => "update",
            StreamOp::Delete | StreamOp::Leave => "delete",
        };
        json!({
            "operation": operation,
            "collection": self.collection,
            "_sid": self.sid,
            "data": self.data,
            "leftFilter": self.op == StreamOp::Leave,
        })
    }
}

/// A live AQL subscription; dropping it unsubscribes.
pub struct AqlStream {
    compiled: Compiled,
    listener: ChangeListener,
    debug_audit: bool,
}

impl AqlStream {
    /// Collection watched.
    pub fn collection(&self) -> &str {
        &self.compiled.collection
    }

    fn classify(&self, ev: &ChangeEvent) -> Option<StreamEvent> {
        let m = |d: &Option<std::sync::Arc<crate::types::Document>>| {
            d.as_ref().is_some_and(|d| self.compiled.filter.matches(d))
        };
        let (op, doc) = match ev.change_type {
            ChangeType::Insert if m(&ev.document) => (StreamOp::Insert, ev.document.as_ref()?),
            ChangeType::Update => match (m(&ev.before), m(&ev.document)) {
                (true, true) => (StreamOp::Update, ev.document.as_ref()?),
                (false, true) => (StreamOp::Insert, ev.document.as_ref()?),
                (true, false) => (StreamOp::Leave, ev.document.as_ref()?),
                (false, false) => return None,
            },
            ChangeType::Delete if m(&ev.before) => (StreamOp::Delete, ev.before.as_ref()?),
            _ => return None,
        };
        Some(StreamEvent {
            op,
            collection: ev.collection.clone(),
            sid: ev._sid.clone(),
            lsn: ev.lsn,
            data: project(doc, &self.compiled.fields, self.debug_audit),
        })
    }

    /// The next matching change. `Err(Lagged(n))` reports `n` changes lost to a full buffer.
    pub async fn recv(&mut self) -> Result<StreamEvent> {
        loop {
            let ev = self.listener.recv().await?;
            if let Some(out) = self.classify(&ev) {
                return Ok(out);
            }
        }
    }

    /// The next matching change if one is already buffered.
    pub fn try_recv(&mut self) -> Result<Option<StreamEvent>> {
        while let Some(ev) = self.listener.try_recv()? {
            if let Some(out) = self.classify(&ev) {
                return Ok(Some(out));
            }
        }
        Ok(None)
    }

    /// Blocking receive for threads outside an async runtime.
    pub fn blocking_recv(&mut self) -> Result<StreamEvent> {
        loop {
            let ev = self.listener.blocking_recv()?;
            if let Some(out) = self.classify(&ev) {
                return Ok(out);
            }
        }
    }
}

impl Aurora {
    /// Starts an AQL subscription: `db.stream("subscription { orders { id } }")`.
    pub async fn stream(&self, request: impl Into<super::ExecuteRequest>) -> Result<AqlStream> {
        self.stream_now(request.into())
    }

    /// Synchronous form of [`Aurora::stream`] (no await point inside).
    pub fn stream_now(&self, req: super::ExecuteRequest) -> Result<AqlStream> {
        self.inner.check_open()?;
        let plan = super::exec::parse_cached(self, &req.aql)?;
        let doc = &plan.doc;
        let op = doc
            .operations
            .iter()
            .find(|o| o.kind == super::ast::OperationKind::Subscription)
            .ok_or_else(|| AuroraError::invalid("stream() needs a `subscription { ... }` operation"))?;
        let super::ast::OperationBody::Selections(sels) = &op.body else {
            return Err(AuroraError::invalid("malformed subscription"));
        };
        let fields: Vec<&Field> = sels
            .iter()
            .filter_map(|s| match s {
                super::ast::Selection::Field(f) => Some(f),
                _ => None,
            })
            .collect();
        let [f] = fields.as_slice() else {
            return Err(AuroraError::invalid_at(
                "a subscription streams exactly one collection; open one stream per collection",
                op.pos.line,
                op.pos.column,
            ));
        };
        let vars = super::convert::resolve_variables(&op.variables, &req.variables, &self.inner.config.limits)?;
        let budget = crate::query::Budget::for_request(&self.inner.config.limits, req.options.timeout);
        let frags = doc.fragments.iter().map(|f| (f.name.as_str(), f)).collect();
        let ctx = Ctx { db: self, vars: &vars, frags: &frags, debug_audit: req.options.debug_audit, budget: &budget };
        let compiled = compile(&ctx, f)?;
        let listener = self.listen(&compiled.collection);
        Ok(AqlStream { compiled, listener, debug_audit: req.options.debug_audit })
    }
}
