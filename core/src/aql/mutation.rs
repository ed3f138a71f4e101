//! Mutations: every operation of one `mutation { ... }` block is one atomic commit.

use super::ast::{AstValue, Field, Pos};
use super::convert::{describe, resolve, to_filter, to_usize, to_value};
use super::project::project;
use super::query::{at, Ctx};
use super::result::MutationResult;
use super::update_ops::{self, UpdateOp};
use crate::db::WriteOp;
use crate::error::{AuroraError, Result};
use crate::query::planner::QuerySpec;
use crate::query::Filter;
use crate::types::{DocData, Document};
use crate::value::Value;
use crate::workers::{Job, JobPriority, JobQueue};
use serde_json::Value as Json;
use std::collections::HashMap;

fn err(pos: Pos, msg: impl Into<String>) -> AuroraError {
    AuroraError::invalid_at(msg, pos.line, pos.column)
}

enum Planned {
    Insert {
        coll: String,
        docs: Vec<DocData>,
    },
    Update {
        coll: String,
        filter: Filter,
        changes: DocData,
        /// Operators written in the data (`{ views: { increment: 1 } }`), applied after `changes`.
        ops: Vec<UpdateOp>,
        limit: Option<usize>,
    },
    Delete {
        coll: String,
        filter: Filter,
        limit: Option<usize>,
    },
    /// `upsert`: an update of every match, or, when nothing matches, an insert of `seed` (the
    /// equalities of `where`) with the changes and operators applied.
    Upsert {
        coll: String,
        filter: Filter,
        seed: DocData,
        changes: DocData,
        ops: Vec<UpdateOp>,
    },
    Job {
        job: Job,
    },
    /// `enqueueJobs`: several jobs, enqueued together.
    Jobs {
        jobs: Vec<Job>,
    },
}

fn string_arg(f: &Field, name: &str, ctx: &Ctx) -> Result<String> {
    match f.arg(name).map(|v| resolve(v, ctx.vars, f.pos)).transpose()?.as_deref() {
        Some(AstValue::String(s)) | Some(AstValue::Enum(s)) => Ok(s.clone()),
        Some(other) => Err(err(f.pos, format!("`{name}` of `{}` must be a string, got {}", f.name, describe(other)))),
        None => Err(err(f.pos, format!("`{}` needs the argument `{name}`", f.name))),
    }
}

fn object(v: &AstValue, what: &str, pos: Pos) -> Result<DocData> {
    match to_value(v) {
        Value::Object(m) => Ok(crate::types::doc_data_from_object(m)),
        _ => Err(err(pos, format!("`{what}` must be an object, got {}", describe(v)))),
    }
}

fn check_args(f: &Field, allowed: &[&str]) -> Result<()> {
    for a in &f.args {
        if !allowed.contains(&a.name.as_str()) {
            return Err(err(
                a.pos,
                format!("unknown argument `{}` on `{}`; expected one of {}", a.name, f.name, allowed.join(", ")),
            ));
        }
    }
    Ok(())
}

/// The mutation verbs.
const MUTATIONS: [&str; 7] =
    ["insertInto", "insertMany", "update", "upsert", "deleteFrom", "enqueueJob", "enqueueJobs"];

/// The arguments of `enqueueJob` (and the fields of each job of `enqueueJobs`).
const JOB_FIELDS: [&str; 6] = ["jobType", "payload", "priority", "maxRetries", "delayMs", "timeoutMs"];

/// A job from its fields, read through `get` (an argument or an object's entry, resolved).
fn job_from(get: impl Fn(&str) -> Result<Option<AstValue>>, pos: Pos) -> Result<Job> {
    let job_type = match get("jobType")? {
        Some(AstValue::String(s)) | Some(AstValue::Enum(s)) => s,
        Some(other) => return Err(err(pos, format!("`jobType` must be a string, got {}", describe(&other)))),
        None => return Err(err(pos, "a job needs `jobType`")),
    };
    let mut job = Job::new(job_type);
    if let Some(p) = get("payload")? {
        match to_value(&p).to_json() {
            Json::Object(m) => job.payload = m.into_iter().collect(),
            Json::Null => {}
            _ => return Err(err(pos, "`payload` must be an object")),
        }
    }
    if let Some(p) = get("priority")? {
        let name = match &p {
            AstValue::Enum(s) | AstValue::String(s) => s.clone(),
            other => {
                return Err(err(
                    pos,
                    format!("`priority` must be LOW, NORMAL, HIGH or CRITICAL, got {}", describe(other)),
                ))
            }
        };
        job.priority = JobPriority::parse(&name)
            .ok_or_else(|| err(pos, format!("unknown priority `{name}`; expected LOW, NORMAL, HIGH or CRITICAL")))?;
    }
    if let Some(v) = get("maxRetries")? {
        job.max_retries = u32::try_from(to_usize(&v, "maxRetries", pos)?).unwrap_or(u32::MAX);
    }
    if let Some(v) = get("delayMs")? {
        job = job.with_delay(std::time::Duration::from_millis(to_usize(&v, "delayMs", pos)? as u64));
    }
    if let Some(v) = get("timeoutMs")? {
        job = job.with_timeout(std::time::Duration::from_millis(to_usize(&v, "timeoutMs", pos)? as u64));
    }
    Ok(job)
}

fn plan(ctx: &Ctx, f: &Field) -> Result<Planned> {
    let arg = |name: &str| -> Result<Option<AstValue>> {
        f.arg(name).map(|v| resolve(v, ctx.vars, f.pos).map(|c| c.into_owned())).transpose()
    };
    let limit = |ctx_f: &Field| -> Result<Option<usize>> {
        match arg("limit")? {
            Some(v) => Ok(Some(to_usize(&v, "limit", ctx_f.pos)?)),
            None => Ok(None),
        }
    };
    match f.name.as_str() {
        "insertInto" | "insert" => {
            check_args(f, &["collection", "data"])?;
            let coll = string_arg(f, "collection", ctx)?;
            ctx.db.inner.collection(&coll).map_err(at(f.pos))?;
            match arg("data")? {
                Some(AstValue::List(items)) => {
                    let docs = items.iter().map(|i| object(i, "data", f.pos)).collect::<Result<Vec<_>>>()?;
                    Ok(Planned::Insert { coll, docs })
                }
                Some(v) => Ok(Planned::Insert { coll, docs: vec![object(&v, "data", f.pos)?] }),
                None => Err(err(f.pos, "`insertInto` needs the argument `data`")),
            }
        }
        "insertMany" => {
            check_args(f, &["collection", "data"])?;
            let coll = string_arg(f, "collection", ctx)?;
            ctx.db.inner.collection(&coll).map_err(at(f.pos))?;
            match arg("data")? {
                Some(AstValue::List(items)) => {
                    let docs = items.iter().map(|i| object(i, "data", f.pos)).collect::<Result<Vec<_>>>()?;
                    Ok(Planned::Insert { coll, docs })
                }
                Some(v) => {
                    Err(err(f.pos, format!("`data` of `insertMany` must be a list of documents, got {}", describe(&v))))
                }
                None => Err(err(f.pos, "`insertMany` needs the argument `data`")),
            }
        }
        "update" | "upsert" => {
            let upsert = f.name == "upsert";
            if upsert {
                check_args(f, &["collection", "data", "set", "where"])?;
            } else {
                check_args(f, &["collection", "data", "set", "where", "limit"])?;
            }
            let coll = string_arg(f, "collection", ctx)?;
            ctx.db.inner.collection(&coll).map_err(at(f.pos))?;
            let name = &f.name;
            let mut changes = match (arg("data")?, arg("set")?) {
                (Some(_), Some(_)) => {
                    return Err(err(f.pos, format!("`{name}` takes `data` or its synonym `set`, not both")));
                }
                (Some(v), None) => object(&v, "data", f.pos)?,
                (None, Some(v)) => object(&v, "set", f.pos)?,
                (None, None) => return Err(err(f.pos, format!("`{name}` needs the argument `data` (or `set`)"))),
            };
            // Operators (`{ views: { increment: 1 } }`) only where the text writes them.
            let ops = match f.arg("data").or_else(|| f.arg("set")) {
                Some(raw) => update_ops::extract(raw, ctx.vars, f.pos)?,
                None => Vec::new(),
            };
            changes.retain(|k, _| !ops.iter().any(|o| o.field == k.as_ref() as &str));
            let filter = match arg("where")? {
                Some(AstValue::Null) | None if upsert => {
                    return Err(err(f.pos, "`upsert` needs `where`: the condition that finds the document"))
                }
                Some(AstValue::Null) | None => Filter::All,
                Some(v) => to_filter(&v, ctx.vars, f.pos)?,
            };
            if upsert {
                // Inserted when nothing matches: the equalities of `where`, then the data.
                let mut seed = DocData::new();
                equalities(&filter, &mut seed);
                return Ok(Planned::Upsert { coll, filter, seed, changes, ops });
            }
            Ok(Planned::Update { coll, filter, changes, ops, limit: limit(f)? })
        }
        "deleteFrom" | "delete" => {
            check_args(f, &["collection", "where", "limit"])?;
            let coll = string_arg(f, "collection", ctx)?;
            ctx.db.inner.collection(&coll).map_err(at(f.pos))?;
            let filter = match arg("where")? {
                Some(AstValue::Null) | None => Filter::All,
                Some(v) => to_filter(&v, ctx.vars, f.pos)?,
            };
            Ok(Planned::Delete { coll, filter, limit: limit(f)? })
        }
        "enqueueJob" => {
            check_args(f, &JOB_FIELDS)?;
            let job = job_from(|name| arg(name), f.pos)?;
            Ok(Planned::Job { job })
        }
        "enqueueJobs" => {
            check_args(f, &["jobs"])?;
            let items = match arg("jobs")? {
                Some(AstValue::List(items)) => items,
                Some(other) => {
                    return Err(err(
                        f.pos,
                        format!("`jobs` of `enqueueJobs` must be a list of jobs, got {}", describe(&other)),
                    ))
                }
                None => return Err(err(f.pos, "`enqueueJobs` needs the argument `jobs`")),
            };
            let mut jobs = Vec::with_capacity(items.len());
            for item in items {
                let AstValue::Object(fields) = item else {
                    return Err(err(
                        f.pos,
                        format!("each job of `enqueueJobs` must be an object, got {}", describe(&item)),
                    ));
                };
                if let Some((k, _)) = fields.iter().find(|(k, _)| !JOB_FIELDS.contains(&k.as_str())) {
                    return Err(err(
                        f.pos,
                        format!("unknown job field `{k}`; expected one of {}", JOB_FIELDS.join(", ")),
                    ));
                }
                let get = |name: &str| Ok(fields.iter().find(|(k, _)| k == name).map(|(_, v)| v.clone()));
                jobs.push(job_from(get, f.pos)?);
            }
            Ok(Planned::Jobs { jobs })
        }
        other => Err(err(
            f.pos,
            format!(
                "unknown mutation `{other}`{}; expected one of {}",
                crate::error::hint_for(other, MUTATIONS),
                MUTATIONS.join(", ")
            ),
        )),
    }
}

/// A document as the mutation block sees it: stored (`Existing`) or inserted earlier in the block.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
enum Key {
    Existing(String, u128),
    New(usize),
}

/// The block's working view: every touched document's latest version (`None` = deleted).
#[derive(Default)]
struct Overlay {
    order: Vec<Key>,
    docs: HashMap<Key, (String, Option<DocData>)>,
    next_new: usize,
}

impl Overlay {
    fn set(&mut self, key: Key, coll: &str, data: Option<DocData>) {
        if !self.docs.contains_key(&key) {
            self.order.push(key.clone());
        }
        self.docs.insert(key, (coll.to_string(), data));
    }

    /// Documents of `coll` matching `filter`, seen through the changes made so far.
    fn find(
        &self,
        inner: &crate::db::Inner,
        coll: &str,
        filter: Filter,
        limit: Option<usize>,
        pos: Pos,
        budget: &crate::query::Budget,
    ) -> Result<Vec<(Key, DocData)>> {
        let prepared = {
            let c = inner.collection(coll).map_err(at(pos))?;
            crate::query::planner::prepare_filter(&c, filter, true).map_err(at(pos))?
        };
        let spec = QuerySpec { filter: prepared.clone(), ..Default::default() };
        let mut out = Vec::new();
        for (_, d) in inner.run_query(coll, spec, false, budget).map_err(at(pos))? {
            let key = Key::Existing(coll.to_string(), crate::db::parse_sid(&d._sid)?);
            if !self.docs.contains_key(&key) {
                out.push((key, (*d.data).clone()));
            }
        }
        for key in &self.order {
            if let Some((c, Some(data))) = self.docs.get(key) {
                let doc = Document::new(String::new(), data.clone());
                if c == coll && prepared.matches(&doc) {
                    out.push((key.clone(), data.clone()));
                }
            }
        }
        if let Some(l) = limit {
            out.truncate(l);
        }
        Ok(out)
    }
}

/// What one mutation field produced: documents (key + version at that point), or its jobs.
type FieldOutput = (Vec<(Key, DocData)>, Option<Vec<Job>>);

/// Sets `path` (dotted for nested objects) in `data`, creating intermediate objects.
pub(crate) fn set_path(data: &mut DocData, path: &str, v: Value) -> Result<()> {
    // Each segment is a level of nesting (and of recursion below): bounded like any value.
    let depth = path.bytes().filter(|b| *b == b'.').count() + 1;
    if depth > super::MAX_VALUE_DEPTH {
        return Err(AuroraError::limit(
            "max_depth",
            super::MAX_VALUE_DEPTH,
            format!("the dotted key `{}` nests {depth} levels", crate::error::shown(path)),
        ));
    }
    set_in(data, path, v)
}

/// Sets `path` in a map of fields: a document's (`FieldName` keys) or a nested object's.
fn set_in<K: std::hash::Hash + Eq + for<'a> From<&'a str>>(
    data: &mut indexmap::IndexMap<K, Value>,
    path: &str,
    v: Value,
) -> Result<()> {
    let Some((head, rest)) = path.split_once('.') else {
        data.insert(path.into(), v);
        return Ok(());
    };
    set_in_slot(data.entry(head.into()).or_insert(Value::Null), path, head, rest, v)
}

/// Sets `rest` inside the value at `head` of `path`, making it an object when it is null.
fn set_in_slot(slot: &mut Value, path: &str, head: &str, rest: &str, v: Value) -> Result<()> {
    match slot {
        Value::Object(m) => set_in(m, rest, v),
        Value::Null => {
            let mut m = indexmap::IndexMap::new();
            set_in(&mut m, rest, v)?;
            *slot = Value::Object(m);
            Ok(())
        }
        other => Err(AuroraError::invalid(format!(
            "cannot set `{path}`: `{head}` holds {} , not an object",
            other.type_name()
        ))),
    }
}

/// Expands dotted keys of written data into nested objects.
fn nest(data: DocData) -> Result<DocData> {
    if !data.keys().any(|k| k.contains('.')) {
        return Ok(data);
    }
    let mut out = DocData::new();
    for (k, v) in data {
        set_path(&mut out, &k, v)?;
    }
    Ok(out)
}

/// Checks a mutation's selection before anything is written: fragments inline, fields exist.
fn selection_fields(ctx: &Ctx, f: &Field, coll: &str, written: &[&DocData]) -> Result<Vec<Field>> {
    let fields = super::fragments::expand(&f.selections, ctx.frags, coll)?;
    let c = ctx.db.inner.collection(coll).map_err(at(f.pos))?;
    let st = c;
    if st.schema().fields.is_empty() && st.live_count() == 0 && written.is_empty() {
        return Ok(fields);
    }
    for sel in &fields {
        let top = sel.name.split('.').next().unwrap_or(&sel.name);
        if sel.name == "_sid"
            || sel.name == "id"
            || st.knows_field(&sel.name)
            || written.iter().any(|d| d.contains_key(top))
        {
            continue;
        }
        return Err(super::project::unknown_field(&st, &sel.name, sel.pos));
    }
    Ok(fields)
}

/// Runs the root fields of a mutation as one atomic commit. Operations apply in order and each
/// sees the effect of the ones before it (GraphQL's serial execution of mutation fields).
pub(crate) async fn run(ctx: &Ctx<'_>, fields: &[Field], source: &str) -> Result<Vec<MutationResult>> {
    let planned = fields.iter().map(|f| plan(ctx, f)).collect::<Result<Vec<_>>>()?;
    // Validate every selection (fragments, unknown fields) before anything is written.
    let mut selections = Vec::with_capacity(fields.len());
    let mut counted = Vec::with_capacity(fields.len());
    for (p, f) in planned.iter().zip(fields) {
        let count = match p {
            Planned::Update { .. } | Planned::Delete { .. } | Planned::Upsert { .. } => affected_count_key(f)?,
            _ => None,
        };
        selections.push(match p {
            _ if count.is_some() => Vec::new(),
            Planned::Insert { coll, docs } => selection_fields(ctx, f, coll, &docs.iter().collect::<Vec<_>>())?,
            Planned::Update { coll, changes, .. } => selection_fields(ctx, f, coll, &[changes])?,
            Planned::Upsert { coll, seed, changes, .. } => selection_fields(ctx, f, coll, &[seed, changes])?,
            Planned::Delete { coll, .. } => selection_fields(ctx, f, coll, &[])?,
            Planned::Job { .. } | Planned::Jobs { .. } => {
                check_job_selection(f)?;
                Vec::new()
            }
        });
        counted.push(count);
    }
    let queue = if planned.iter().any(|p| matches!(p, Planned::Job { .. } | Planned::Jobs { .. })) {
        Some(JobQueue::of(ctx.db)?)
    } else {
        None
    };
    // Per field: the documents it returns (key + version at that point), or its job.
    let mut outputs: Vec<FieldOutput> = Vec::with_capacity(planned.len());
    let mut insert_ops: HashMap<Key, usize> = HashMap::new();
    let applied = ctx
        .db
        .inner
        .commit_with(
            |inner| {
                let mut overlay = Overlay::default();
                let mut jobs = Vec::new();
                for (p, f) in planned.into_iter().zip(fields) {
                    let mut docs_out = Vec::new();
                    let mut job_out = None;
                    match p {
                        Planned::Insert { coll, docs } => {
                            // Defaults go into the working copy, so later steps of the block see them.
                            let schema = inner.collection(&coll).map_err(at(f.pos))?.schema();
                            for data in docs {
                                let key = Key::New(overlay.next_new);
                                overlay.next_new += 1;
                                let mut data = nest(data).map_err(at(f.pos))?;
                                crate::schema::apply_defaults(&schema, &mut data);
                                overlay.set(key.clone(), &coll, Some(data.clone()));
                                docs_out.push((key, data));
                            }
                        }
                        Planned::Update { coll, filter, changes, ops, limit } => {
                            for (key, mut data) in overlay.find(inner, &coll, filter, limit, f.pos, ctx.budget)? {
                                for (k, v) in &changes {
                                    set_path(&mut data, k, v.clone()).map_err(at(f.pos))?;
                                }
                                for op in &ops {
                                    op.apply(&mut data, &coll, f.pos)?;
                                }
                                overlay.set(key.clone(), &coll, Some(data.clone()));
                                docs_out.push((key, data));
                            }
                        }
                        Planned::Upsert { coll, filter, seed, changes, ops } => {
                            let mut found = overlay.find(inner, &coll, filter, None, f.pos, ctx.budget)?;
                            if found.is_empty() {
                                let key = Key::New(overlay.next_new);
                                overlay.next_new += 1;
                                let mut seed = seed;
                                let schema = inner.collection(&coll).map_err(at(f.pos))?.schema();
                                crate::schema::apply_defaults(&schema, &mut seed);
                                found.push((key, seed));
                            }
                            for (key, mut data) in found {
                                for (k, v) in &changes {
                                    set_path(&mut data, k, v.clone()).map_err(at(f.pos))?;
                                }
                                for op in &ops {
                                    op.apply(&mut data, &coll, f.pos)?;
                                }
                                let data = nest(data).map_err(at(f.pos))?;
                                overlay.set(key.clone(), &coll, Some(data.clone()));
                                docs_out.push((key, data));
                            }
                        }
                        Planned::Delete { coll, filter, limit } => {
                            for (key, data) in overlay.find(inner, &coll, filter, limit, f.pos, ctx.budget)? {
                                overlay.set(key.clone(), &coll, None);
                                docs_out.push((key, data));
                            }
                        }
                        Planned::Job { job } => {
                            let q = queue.as_ref().ok_or_else(|| AuroraError::Other("job queue unavailable".into()))?;
                            let job = q.prepare(job)?;
                            jobs.push(job.clone());
                            job_out = Some(vec![job]);
                        }
                        Planned::Jobs { jobs: batch } => {
                            let q = queue.as_ref().ok_or_else(|| AuroraError::Other("job queue unavailable".into()))?;
                            let batch = batch.into_iter().map(|j| q.prepare(j)).collect::<Result<Vec<_>>>()?;
                            jobs.extend(batch.iter().cloned());
                            job_out = Some(batch);
                        }
                    }
                    outputs.push((docs_out, job_out));
                }
                let mut ops = Vec::with_capacity(overlay.order.len() + 4 * jobs.len());
                for key in &overlay.order {
                    let Some((coll, data)) = overlay.docs.get(key) else { continue };
                    match (key, data) {
                        (Key::New(_), Some(d)) => {
                            insert_ops.insert(key.clone(), ops.len());
                            ops.push(WriteOp::Insert { collection: coll.clone(), data: d.clone() });
                        }
                        (Key::New(_), None) => {}
                        (Key::Existing(_, sid), Some(d)) => {
                            ops.push(WriteOp::Replace { collection: coll.clone(), sid: *sid, data: d.clone() })
                        }
                        (Key::Existing(_, sid), None) => {
                            ops.push(WriteOp::Delete { collection: coll.clone(), sid: *sid })
                        }
                    }
                }
                if !jobs.is_empty() {
                    let q = queue.as_ref().ok_or_else(|| AuroraError::Other("job queue unavailable".into()))?;
                    ops.extend(q.enqueue_ops(inner, &jobs)?);
                }
                Ok(ops)
            },
            source,
        )
        .await?;

    let op_sid: HashMap<usize, u128> = applied.iter().map(|a| (a.op, a.sid)).collect();
    let sid_of = |key: &Key| -> String {
        match key {
            Key::Existing(_, sid) => crate::db::sid_string(*sid),
            Key::New(_) => {
                insert_ops.get(key).and_then(|i| op_sid.get(i)).map(|s| crate::db::sid_string(*s)).unwrap_or_default()
            }
        }
    };
    let mut out = Vec::with_capacity(fields.len());
    for (((f, (docs_out, job)), sel), count) in fields.iter().zip(outputs).zip(selections).zip(counted) {
        if let Some(jobs) = job {
            out.push(job_result(f, jobs, queue.as_deref())?);
            continue;
        }
        if let Some(key) = count {
            let affected = docs_out.len();
            out.push(MutationResult {
                key: f.response_key().into(),
                operation: f.name.clone(),
                collection: coll_of(f, ctx),
                documents: Vec::new(),
                affected,
                json: serde_json::json!({ key: affected }),
            });
            continue;
        }
        // Show values as stored: the schema widens Int to Float, text to UUID...
        let coll = coll_of(f, ctx);
        let schema = ctx.db.schema(&coll).ok();
        let docs: Vec<Document> = docs_out
            .into_iter()
            .map(|(k, mut d)| {
                if let Some(schema) = &schema {
                    let _ = crate::schema::validate(&coll, schema, &mut d);
                }
                Document::new(sid_of(&k), d)
            })
            .collect();
        let projected: Vec<Json> = docs.iter().map(|d| project(d, &sel, ctx.debug_audit)).collect();
        let single = matches!(f.name.as_str(), "insertInto" | "insert")
            && !matches!(
                f.arg("data").map(|v| resolve(v, ctx.vars, f.pos)).transpose()?.as_deref(),
                Some(AstValue::List(_))
            );
        let json = if single { projected.into_iter().next().unwrap_or(Json::Null) } else { Json::Array(projected) };
        out.push(MutationResult {
            key: f.response_key().into(),
            operation: f.name.clone(),
            collection: coll,
            affected: docs.len(),
            documents: docs,
            json,
        });
    }
    Ok(out)
}

/// The `field: value` equalities of a filter (alone or under `and`), as document fields.
fn equalities(filter: &Filter, out: &mut DocData) {
    match filter {
        Filter::Eq(field, v) if !field.contains('.') && field != "_sid" => {
            out.insert(field.as_str().into(), v.clone());
        }
        Filter::And(parts) => parts.iter().for_each(|p| equalities(p, out)),
        _ => {}
    }
}

/// The job fields a selection may name.
const JOB_SELECTABLE: [&str; 5] = ["id", "jobType", "status", "priority", "maxRetries"];

/// Checks a job mutation's selection before anything is enqueued.
fn check_job_selection(f: &Field) -> Result<()> {
    for s in &f.selections {
        match s {
            super::ast::Selection::Field(x) if JOB_SELECTABLE.contains(&x.name.as_str()) => {}
            super::ast::Selection::Field(x) => {
                return Err(err(
                    x.pos,
                    format!("unknown job field `{}`; expected {}", x.name, JOB_SELECTABLE.join(", ")),
                ))
            }
            super::ast::Selection::FragmentSpread { name, pos } => {
                return Err(err(*pos, format!("fragment `...{name}` cannot be spread in a job's selection")))
            }
        }
    }
    Ok(())
}

/// The response key of `affectedCount` when `f` (an update or delete) selects it. It is
/// selected alone: `update(...) { affectedCount }` answers `{ "affectedCount": n }`.
fn affected_count_key(f: &Field) -> Result<Option<String>> {
    let count = f.selections.iter().find_map(|s| match s {
        super::ast::Selection::Field(x) if x.name == "affectedCount" => Some(x),
        _ => None,
    });
    match count {
        None => Ok(None),
        Some(x) if f.selections.len() == 1 => Ok(Some(x.response_key().to_string())),
        Some(x) => Err(err(
            x.pos,
            format!(
                "`affectedCount` is selected alone (`{}(...) {{ affectedCount }}`), not with document fields",
                f.name
            ),
        )),
    }
}

/// The result of `enqueueJob` (one object) or `enqueueJobs` (a list, in order).
fn job_result(f: &Field, jobs: Vec<Job>, queue: Option<&JobQueue>) -> Result<MutationResult> {
    if let Some(q) = queue {
        q.wake();
    }
    let sels: Vec<&Field> = f
        .selections
        .iter()
        .filter_map(|s| match s {
            super::ast::Selection::Field(x) => Some(x),
            _ => None,
        })
        .collect();
    let shaped = jobs
        .iter()
        .map(|job| {
            let mut m = serde_json::Map::new();
            if sels.is_empty() {
                m.insert("id".into(), Json::String(job.id.clone()));
            }
            for s in &sels {
                let v = match s.name.as_str() {
                    "id" => Json::String(job.id.clone()),
                    "jobType" => Json::String(job.job_type.clone()),
                    "status" => Json::String(job.status.as_str().into()),
                    "priority" => Json::String(job.priority.as_str().into()),
                    "maxRetries" => Json::from(job.max_retries),
                    other => {
                        return Err(err(
                            s.pos,
                            format!("unknown job field `{other}`; expected id, jobType, status, priority, maxRetries"),
                        ))
                    }
                };
                m.insert(s.response_key().into(), v);
            }
            Ok(Json::Object(m))
        })
        .collect::<Result<Vec<_>>>()?;
    let json =
        if f.name == "enqueueJobs" { Json::Array(shaped) } else { shaped.into_iter().next().unwrap_or(Json::Null) };
    Ok(MutationResult {
        key: f.response_key().into(),
        operation: f.name.clone(),
        collection: String::new(),
        documents: Vec::new(),
        affected: jobs.len(),
        json,
    })
}

fn coll_of(f: &Field, ctx: &Ctx) -> String {
    string_arg(f, "collection", ctx).unwrap_or_default()
}

#[cfg(test)]
mod set_path_tests {
    use super::*;

    #[test]
    fn dotted_paths_create_objects_and_refuse_scalars_in_the_way() {
        let mut d = DocData::new();
        set_path(&mut d, "a", Value::Int(1)).expect("top level");
        set_path(&mut d, "p.q.r", Value::Int(2)).expect("new objects");
        set_path(&mut d, "p.s", Value::Bool(true)).expect("into an existing object");
        d.insert("n".into(), Value::Null);
        set_path(&mut d, "n.x", Value::Int(3)).expect("a null becomes an object");
        let json = Document::new("s", d.clone()).to_json();
        assert_eq!(json, serde_json::json!({ "a": 1, "p": { "q": { "r": 2 }, "s": true }, "n": { "x": 3 } }));
        let e = set_path(&mut d, "a.b", Value::Int(4)).expect_err("`a` holds an Int");
        assert!(e.to_string().contains("`a` holds"), "{e}");
        let e = set_path(&mut d, "p.q.r.z", Value::Int(5)).expect_err("`r` holds an Int");
        let deep = vec!["k"; 100_000].join(".");
        let e2 = set_path(&mut d, &deep, Value::Int(6)).expect_err("too deep");
        assert_eq!(e2.code(), "LIMIT", "{e2}");
        assert!(e.to_string().contains("`r` holds"), "{e}");
    }
}
