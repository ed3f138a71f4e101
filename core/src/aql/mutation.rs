//! Mutations: every operation of one `mutation { ... }` block is one atomic commit.

use super::ast::{AstValue, Field, Pos};
use super::convert::{describe, resolve, to_filter, to_usize, to_value};
use super::project::project;
use super::query::{at, Ctx};
use super::result::MutationResult;
use crate::db::WriteOp;
use crate::error::{AuroraError, Result};
use crate::query::planner::QuerySpec;
use crate::query::Filter;
use crate::realtime::ChangeType;
use crate::types::{DocData, Document};
use crate::value::Value;
use crate::workers::{Job, JobPriority, JobQueue};
use serde_json::Value as Json;

fn err(pos: Pos, msg: impl Into<String>) -> AuroraError {
    AuroraError::invalid_at(msg, pos.line, pos.column)
}

enum Planned {
    Insert { coll: String, docs: Vec<DocData> },
    Update { coll: String, filter: Filter, changes: DocData, limit: Option<usize> },
    Delete { coll: String, filter: Filter, limit: Option<usize> },
    Job { job: Job },
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
        Value::Object(m) => Ok(m),
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
            ctx.db.inner.collection(&coll)?;
            match arg("data")? {
                Some(AstValue::List(items)) => {
                    let docs = items.iter().map(|i| object(i, "data", f.pos)).collect::<Result<Vec<_>>>()?;
                    Ok(Planned::Insert { coll, docs })
                }
                Some(v) => Ok(Planned::Insert { coll, docs: vec![object(&v, "data", f.pos)?] }),
                None => Err(err(f.pos, "`insertInto` needs the argument `data`")),
            }
        }
        "update" => {
            check_args(f, &["collection", "data", "where", "limit"])?;
            let coll = string_arg(f, "collection", ctx)?;
            ctx.db.inner.collection(&coll)?;
            let changes = match arg("data")? {
                Some(v) => object(&v, "data", f.pos)?,
                None => return Err(err(f.pos, "`update` needs the argument `data`")),
            };
            let filter = match arg("where")? {
                Some(AstValue::Null) | None => Filter::All,
                Some(v) => to_filter(&v, f.pos)?,
            };
            Ok(Planned::Update { coll, filter, changes, limit: limit(f)? })
        }
        "deleteFrom" | "delete" => {
            check_args(f, &["collection", "where", "limit"])?;
            let coll = string_arg(f, "collection", ctx)?;
            ctx.db.inner.collection(&coll)?;
            let filter = match arg("where")? {
                Some(AstValue::Null) | None => Filter::All,
                Some(v) => to_filter(&v, f.pos)?,
            };
            Ok(Planned::Delete { coll, filter, limit: limit(f)? })
        }
        "enqueueJob" => {
            check_args(f, &["jobType", "payload", "priority", "maxRetries", "delayMs", "timeoutMs"])?;
            let mut job = Job::new(string_arg(f, "jobType", ctx)?);
            if let Some(p) = arg("payload")? {
                match to_value(&p).to_json() {
                    Json::Object(m) => job.payload = m.into_iter().collect(),
                    Json::Null => {}
                    _ => return Err(err(f.pos, "`payload` must be an object")),
                }
            }
            if let Some(p) = arg("priority")? {
                let name = match &p {
                    AstValue::Enum(s) | AstValue::String(s) => s.clone(),
                    other => {
                        return Err(err(
                            f.pos,
                            format!("`priority` must be LOW, NORMAL, HIGH or CRITICAL, got {}", describe(other)),
                        ))
                    }
                };
                job.priority = JobPriority::parse(&name).ok_or_else(|| {
                    err(f.pos, format!("unknown priority `{name}`; expected LOW, NORMAL, HIGH or CRITICAL"))
                })?;
            }
            if let Some(v) = arg("maxRetries")? {
                job.max_retries = u32::try_from(to_usize(&v, "maxRetries", f.pos)?).unwrap_or(u32::MAX);
            }
            if let Some(v) = arg("delayMs")? {
                job = job.with_delay(std::time::Duration::from_millis(to_usize(&v, "delayMs", f.pos)? as u64));
            }
            if let Some(v) = arg("timeoutMs")? {
                job = job.with_timeout(std::time::Duration::from_millis(to_usize(&v, "timeoutMs", f.pos)? as u64));
            }
            Ok(Planned::Job { job })
        }
        other => Err(err(
            f.pos,
            format!(
                "unknown mutation `{other}`{}; expected insertInto, update, deleteFrom or enqueueJob",
                crate::error::hint_for(other, ["insertInto", "update", "deleteFrom", "enqueueJob"])
            ),
        )),
    }
}

/// Runs the root fields of a mutation atomically and returns one result per field.
pub(crate) async fn run(ctx: &Ctx<'_>, fields: &[Field], source: &str) -> Result<Vec<MutationResult>> {
    let planned = fields.iter().map(|f| plan(ctx, f)).collect::<Result<Vec<_>>>()?;
    let queue =
        if planned.iter().any(|p| matches!(p, Planned::Job { .. })) { Some(JobQueue::of(ctx.db)?) } else { None };
    let mut ranges: Vec<(usize, usize)> = Vec::with_capacity(planned.len());
    let mut jobs: Vec<Option<Job>> = Vec::with_capacity(planned.len());
    let applied = ctx
        .db
        .inner
        .commit_with(
            |inner| {
                let mut ops = Vec::new();
                for (p, f) in planned.into_iter().zip(fields) {
                    let start = ops.len();
                    let mut job_out = None;
                    match p {
                        Planned::Insert { coll, docs, .. } => {
                            ops.extend(docs.into_iter().map(|data| WriteOp::Insert { collection: coll.clone(), data }));
                        }
                        Planned::Update { coll, filter, changes, limit } => {
                            let spec = QuerySpec { filter, limit, ..Default::default() };
                            for (_, d) in inner.run_query(&coll, spec, true).map_err(at(f.pos))? {
                                let mut data = (*d.data).clone();
                                data.extend(changes.iter().map(|(k, v)| (k.clone(), v.clone())));
                                ops.push(WriteOp::Replace {
                                    collection: coll.clone(),
                                    sid: crate::db::parse_sid(&d._sid)?,
                                    data,
                                });
                            }
                        }
                        Planned::Delete { coll, filter, limit } => {
                            let spec = QuerySpec { filter, limit, ..Default::default() };
                            for (_, d) in inner.run_query(&coll, spec, true).map_err(at(f.pos))? {
                                ops.push(WriteOp::Delete {
                                    collection: coll.clone(),
                                    sid: crate::db::parse_sid(&d._sid)?,
                                });
                            }
                        }
                        Planned::Job { job } => {
                            let q = queue.as_ref().ok_or_else(|| AuroraError::Other("job queue unavailable".into()))?;
                            let (job, op) = q.prepare(job)?;
                            ops.push(op);
                            job_out = Some(job);
                        }
                    }
                    ranges.push((start, ops.len()));
                    jobs.push(job_out);
                }
                Ok(ops)
            },
            source,
        )
        .await?;

    let mut out = Vec::with_capacity(fields.len());
    for ((f, (start, end)), job) in fields.iter().zip(ranges).zip(jobs) {
        if let Some(job) = job {
            let id = job.id.clone();
            if let Some(q) = &queue {
                q.register(job.clone());
            }
            let mut m = serde_json::Map::new();
            let sels: Vec<&Field> = f
                .selections
                .iter()
                .filter_map(|s| match s {
                    super::ast::Selection::Field(x) => Some(x),
                    _ => None,
                })
                .collect();
            if sels.is_empty() {
                m.insert("id".into(), Json::String(id.clone()));
            }
            for s in sels {
                let v = match s.name.as_str() {
                    "id" => Json::String(id.clone()),
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
            out.push(MutationResult {
                key: f.response_key().into(),
                operation: f.name.clone(),
                collection: String::new(),
                documents: Vec::new(),
                affected: 1,
                json: Json::Object(m),
            });
            continue;
        }
        let mine: Vec<&crate::db::Applied> = applied.iter().filter(|a| a.op >= start && a.op < end).collect();
        let fields_sel =
            super::fragments::expand(&f.selections, ctx.frags, mine.first().map_or("", |a| a.collection.as_str()))
                .or_else(|_| super::fragments::expand(&f.selections, ctx.frags, &coll_of(f, ctx)))?;
        let docs: Vec<Document> = mine
            .iter()
            .filter_map(|a| match a.kind {
                ChangeType::Delete => a.before.as_deref().cloned(),
                _ => a.after.as_deref().cloned(),
            })
            .collect();
        let projected: Vec<Json> = docs.iter().map(|d| project(d, &fields_sel, ctx.debug_audit)).collect();
        let single = matches!(f.name.as_str(), "insertInto" | "insert")
            && !matches!(
                f.arg("data").map(|v| resolve(v, ctx.vars, f.pos)).transpose()?.as_deref(),
                Some(AstValue::List(_))
            );
        let json = if single { projected.into_iter().next().unwrap_or(Json::Null) } else { Json::Array(projected) };
        out.push(MutationResult {
            key: f.response_key().into(),
            operation: f.name.clone(),
            collection: mine.first().map(|a| a.collection.clone()).unwrap_or_else(|| coll_of(f, ctx)),
            affected: docs.len(),
            documents: docs,
            json,
        });
    }
    Ok(out)
}

fn coll_of(f: &Field, ctx: &Ctx) -> String {
    string_arg(f, "collection", ctx).unwrap_or_default()
}
