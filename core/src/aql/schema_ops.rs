//! `schema { define collection ... }` and `migrate { "version": { ... } }`.

use super::ast::{
    AlterAction, AstValue, CollectionDef, EnumDef, FieldDef, MigrationStep, MigrationVersion, Pos, TypeRef,
};
use super::convert::{to_filter, to_value, Vars};
use super::result::{MigrationResult, SchemaResult};
use crate::db::{Aurora, WriteOp};
use crate::error::{AuroraError, Result};
use crate::schema::rules;
use crate::types::{CollectionSchema, DocData, FieldDefinition, FieldRules, FieldType};
use crate::value::Value;
use std::collections::HashMap;

/// Collection recording applied migration versions.
pub const MIGRATION_COLLECTION: &str = "_sys_migration";

fn err(pos: Pos, msg: impl Into<String>) -> AuroraError {
    AuroraError::invalid_at(msg, pos.line, pos.column)
}

/// Scalar type names, for hints.
const TYPE_NAMES: [&str; 9] = ["String", "Int", "Float", "Boolean", "Uuid", "Object", "Any", "Date", "DateTime"];

/// The engine type of an AQL type, nullability, and the enum it names (if any).
fn field_type<'e>(t: &TypeRef, enums: &'e [EnumDef], pos: Pos) -> Result<(FieldType, bool, Option<&'e EnumDef>)> {
    match t {
        TypeRef::NonNull(inner) => {
            let (ty, _, e) = field_type(inner, enums, pos)?;
            Ok((ty, false, e))
        }
        TypeRef::List(inner) => {
            let (ty, _, e) = field_type(inner, enums, pos)?;
            Ok((FieldType::array_of(ty), true, e))
        }
        TypeRef::Named(n) => {
            if let Some(e) = enums.iter().find(|e| &e.name == n) {
                return Ok((FieldType::String, true, Some(e)));
            }
            FieldType::parse(n).map(|t| (t, true, None)).ok_or_else(|| {
                let known = TYPE_NAMES.iter().copied().chain(enums.iter().map(|e| e.name.as_str()));
                err(
                    pos,
                    format!(
                        "unknown type `{n}`{}; expected String, Int, Float, Boolean, Uuid, Object, Any, Date, \
                         DateTime, an enum declared in the same schema block, or [Type]",
                        crate::error::hint_for(n, known)
                    ),
                )
            })
        }
    }
}

/// Reads `@validate(format:, min:, max:, minLength:, maxLength:, pattern:)` into `rules`.
fn validate_directive(f: &FieldDef, d: &super::ast::Directive, rules: &mut FieldRules) -> Result<()> {
    if d.args.is_empty() {
        return Err(err(f.pos, format!("`@validate` on field `{}` needs at least one rule", f.name)));
    }
    for a in &d.args {
        let bad = |what: &str| err(a.pos, format!("`@validate({}: …)` on field `{}` takes {what}", a.name, f.name));
        let count = |v: &AstValue| match v {
            AstValue::Int(n) if *n >= 0 => Ok(*n as u64),
            _ => Err(bad("a non-negative integer")),
        };
        match a.name.as_str() {
            "format" => match &a.value {
                AstValue::String(s) | AstValue::Enum(s) if rules::FORMATS.contains(&s.as_str()) => {
                    rules.format = Some(s.clone())
                }
                _ => return Err(bad("\"email\", \"url\" or \"uuid\"")),
            },
            "min" | "max" => {
                let n = match &a.value {
                    AstValue::Int(i) => serde_json::Number::from(*i),
                    AstValue::Float(x) => serde_json::Number::from_f64(*x).ok_or_else(|| bad("a finite number"))?,
                    _ => return Err(bad("a number")),
                };
                if a.name == "min" {
                    rules.min = Some(n);
                } else {
                    rules.max = Some(n);
                }
            }
            "minLength" => rules.min_length = Some(count(&a.value)?),
            "maxLength" => rules.max_length = Some(count(&a.value)?),
            "pattern" => match &a.value {
                AstValue::String(s) => {
                    crate::query::Pattern::new(s).map_err(|e| err(a.pos, e.to_string()))?;
                    rules.pattern = Some(s.clone());
                }
                _ => return Err(bad("a regular expression as a string")),
            },
            other => {
                return Err(err(
                    a.pos,
                    format!(
                        "unknown rule `{other}` in @validate on field `{}`{}; rules are format, min, max, minLength, maxLength, pattern",
                        f.name,
                        crate::error::hint_for(other, ["format", "min", "max", "minLength", "maxLength", "pattern"])
                    ),
                ))
            }
        }
    }
    let (lo, hi) = (rules.min.as_ref().and_then(|n| n.as_f64()), rules.max.as_ref().and_then(|n| n.as_f64()));
    if lo.zip(hi).is_some_and(|(lo, hi)| lo > hi) || rules.min_length.zip(rules.max_length).is_some_and(|(a, b)| a > b)
    {
        return Err(err(
            f.pos,
            format!("`@validate` on field `{}` allows no value: a minimum is above its maximum", f.name),
        ));
    }
    Ok(())
}

/// The engine definition of one AQL field definition, with its default, enum and rules.
fn field_def(f: &FieldDef, enums: &[EnumDef]) -> Result<(FieldDefinition, FieldRules)> {
    let (field_type, nullable, enum_def) = field_type(&f.ty, enums, f.pos)?;
    let mut def = FieldDefinition { field_type, unique: false, indexed: false, nullable };
    let mut rules = FieldRules::default();
    if let Some(e) = enum_def {
        rules.enum_name = Some(e.name.clone());
        rules.enum_values = e.values.clone();
    }
    for d in &f.directives {
        match d.name.as_str() {
            "unique" => {
                def.unique = true;
                def.indexed = true;
            }
            "indexed" | "index" => def.indexed = true,
            "nullable" => def.nullable = true,
            "required" => def.nullable = false,
            "validate" => validate_directive(f, d, &mut rules)?,
            other => {
                return Err(err(
                    f.pos,
                    format!(
                        "unknown directive `@{other}` on field `{}`; expected @unique, @indexed or @validate",
                        f.name
                    ),
                ))
            }
        }
    }
    if let Some(v) = &f.default {
        // The default must itself be a valid value of the field: typed, normalised, checked.
        let mut value = to_value(&*super::convert::resolve(v, &Vars::default(), f.pos)?);
        if value.is_null() {
            return Err(err(
                f.pos,
                format!("the default of field `{}` is null; leave the default out instead", f.name),
            ));
        }
        crate::schema::coerce("", &f.name, &def.field_type, &mut value).map_err(|e| {
            let why = match e {
                AuroraError::TypeMismatch { expected, actual, .. } => format!("expected {expected}, got {actual}"),
                other => other.to_string(),
            };
            err(f.pos, format!("the default of field `{}` does not fit its type: {why}", f.name))
        })?;
        let mut probe = DocData::new();
        probe.insert(f.name.as_str().into(), value.clone());
        let one =
            CollectionSchema { rules: [(f.name.clone(), rules.clone())].into_iter().collect(), ..Default::default() };
        rules::check("", &one, &probe)
            .map_err(|e| err(f.pos, format!("the default of field `{}` breaks its own rules: {e}", f.name)))?;
        rules.default = Some(value.to_json());
    }
    Ok((def, rules))
}

/// The enum types collections already use, so a later schema block or a migration can name
/// an enum declared in an earlier block. The block's own declarations come first.
fn known_enums(db: &Aurora, declared: &[EnumDef]) -> Vec<EnumDef> {
    let mut out = declared.to_vec();
    for name in db.collection_names() {
        let Ok(schema) = db.schema(&name) else { continue };
        for r in schema.rules.values() {
            if let Some(n) = r.enum_name.as_ref().filter(|n| !out.iter().any(|e| &e.name == *n)) {
                out.push(EnumDef { name: n.clone(), values: r.enum_values.clone(), pos: Pos::default() });
            }
        }
    }
    out
}

fn collection_schema(c: &CollectionDef, enums: &[EnumDef]) -> Result<CollectionSchema> {
    let mut schema = CollectionSchema::default();
    for d in &c.directives {
        match d.name.as_str() {
            "strict" => schema.strict = true,
            other => {
                return Err(err(
                    c.pos,
                    format!("unknown directive `@{other}` on collection `{}`; expected @strict", c.name),
                ))
            }
        }
    }
    for f in &c.fields {
        let (def, rules) = field_def(f, enums)?;
        if schema.fields.insert(f.name.clone(), def).is_some() {
            return Err(err(f.pos, format!("field `{}` is defined twice in collection `{}`", f.name, c.name)));
        }
        if !rules.is_empty() {
            schema.rules.insert(f.name.clone(), rules);
        }
    }
    Ok(schema)
}

/// Creates the defined collections (all definitions are checked before any is created).
pub(crate) async fn define(db: &Aurora, defs: &[CollectionDef]) -> Result<SchemaResult> {
    let schemas =
        defs.iter().map(|c| Ok((c, collection_schema(c, &known_enums(db, &c.enums))?))).collect::<Result<Vec<_>>>()?;
    let mut out = Vec::new();
    for (c, schema) in schemas {
        if c.if_not_exists && db.inner.collection(&c.name).is_ok() {
            out.push((c.name.clone(), "exists".to_string()));
            continue;
        }
        let created = db.create_collection(&c.name, schema).await?;
        out.push((c.name.clone(), if created { "created" } else { "exists" }.to_string()));
    }
    Ok(SchemaResult { collections: out })
}

async fn ensure_migration_table(db: &Aurora) -> Result<()> {
    let mut schema = CollectionSchema::default();
    schema.fields.insert(
        "version".into(),
        FieldDefinition { field_type: FieldType::String, unique: true, indexed: true, nullable: false },
    );
    schema.fields.insert("applied_at_ms".into(), FieldDefinition::new(FieldType::Int));
    schema.fields.insert("steps".into(), FieldDefinition::new(FieldType::Int));
    db.create_collection(MIGRATION_COLLECTION, schema).await.map(|_| ())
}

/// Applies the versions not yet recorded in `_sys_migration`, each atomically.
pub(crate) async fn migrate(
    db: &Aurora,
    versions: &[MigrationVersion],
    vars: &Vars,
    source: &str,
) -> Result<MigrationResult> {
    ensure_migration_table(db).await?;
    let mut applied_versions = 0;
    for v in versions {
        let done = db
            .query(MIGRATION_COLLECTION)
            .filter(|f| f.eq("version", Value::String(v.version.clone())))
            .count()
            .await?;
        if done > 0 {
            continue;
        }
        apply_version(db, v, vars, source).await?;
        applied_versions += 1;
    }
    Ok(MigrationResult {
        version: versions.last().map(|v| v.version.clone()).unwrap_or_default(),
        steps_applied: applied_versions,
        status: if applied_versions > 0 { "applied" } else { "skipped" }.into(),
    })
}

/// One version: schema changes and data rewrites computed on a working copy, then written in
/// one commit together with the bookkeeping row. On any error nothing of the version remains.
async fn apply_version(db: &Aurora, v: &MigrationVersion, vars: &Vars, source: &str) -> Result<usize> {
    let mut schemas: HashMap<String, CollectionSchema> = HashMap::new();
    let mut docs: HashMap<String, Vec<(String, DocData)>> = HashMap::new();
    let mut touched: Vec<String> = Vec::new();
    let mut steps = 0;
    let fail = |pos: Pos, msg: String| err(pos, format!("migration {} failed: {msg}", v.version));
    let enums = known_enums(db, &[]);
    for step in &v.steps {
        let (coll, pos) = match step {
            MigrationStep::Alter { collection, pos, .. } | MigrationStep::MigrateData { collection, pos, .. } => {
                (collection, *pos)
            }
        };
        if !schemas.contains_key(coll) {
            let schema = db.schema(coll).map_err(|e| fail(pos, e.to_string()))?;
            let all = db.query(coll).collect().await?;
            schemas.insert(coll.clone(), schema);
            docs.insert(coll.clone(), all.into_iter().map(|d| (d._sid, (*d.data).clone())).collect());
            touched.push(coll.clone());
        }
        let schema = schemas.get_mut(coll).ok_or_else(|| fail(pos, format!("collection `{coll}` vanished")))?;
        let rows = docs.get_mut(coll).ok_or_else(|| fail(pos, format!("collection `{coll}` vanished")))?;
        match step {
            MigrationStep::Alter { actions, .. } => {
                for a in actions {
                    steps += 1;
                    match a {
                        AlterAction::Add(f) => {
                            if schema.fields.contains_key(&f.name) {
                                return Err(fail(f.pos, format!("field `{}` already exists in `{coll}`", f.name)));
                            }
                            let (def, field_rules) = field_def(f, &enums)?;
                            // A default fills the existing documents that lack the field.
                            if let Some(default) = &field_rules.default {
                                let value = Value::from_json(default);
                                for (_, d) in rows.iter_mut() {
                                    if !d.contains_key(f.name.as_str()) {
                                        d.insert(f.name.as_str().into(), value.clone());
                                    }
                                }
                            }
                            if !def.nullable
                                && rows.iter().any(|(_, d)| d.get(f.name.as_str()).is_none_or(Value::is_null))
                            {
                                return Err(fail(
                                    f.pos,
                                    format!("cannot add non-null field `{}`: existing documents have no value (add it nullable, set it, then modify)", f.name),
                                ));
                            }
                            schema.fields.insert(f.name.clone(), def);
                            set_rules(schema, &f.name, field_rules);
                        }
                        AlterAction::Drop { field, pos } => {
                            schema.rules.shift_remove(field);
                            if schema.fields.shift_remove(field).is_none()
                                && !rows.iter().any(|(_, d)| d.contains_key(field.as_str()))
                            {
                                return Err(fail(*pos, format!("cannot drop unknown field `{field}` of `{coll}`")));
                            }
                            rows.iter_mut().for_each(|(_, d)| {
                                d.shift_remove(field.as_str());
                            });
                        }
                        AlterAction::Rename { from, to, pos } => {
                            if schema.fields.contains_key(to) {
                                return Err(fail(*pos, format!("cannot rename `{from}` to `{to}`: `{to}` exists")));
                            }
                            let known = schema.fields.contains_key(from)
                                || rows.iter().any(|(_, d)| d.contains_key(from.as_str()));
                            if !known {
                                return Err(fail(*pos, format!("cannot rename unknown field `{from}` of `{coll}`")));
                            }
                            if let Some(i) = schema.fields.get_index_of(from) {
                                if let Some((_, def)) = schema.fields.shift_remove_index(i) {
                                    schema.fields.shift_insert(i, to.clone(), def);
                                }
                            }
                            if let Some(r) = schema.rules.shift_remove(from) {
                                schema.rules.insert(to.clone(), r);
                            }
                            for (_, d) in rows.iter_mut() {
                                if let Some(i) = d.get_index_of(from.as_str()) {
                                    if let Some((_, val)) = d.shift_remove_index(i) {
                                        d.shift_insert(i, to.into(), val);
                                    }
                                }
                            }
                        }
                        AlterAction::Modify(f) => {
                            let (def, field_rules) = field_def(f, &enums)?;
                            for (_, d) in rows.iter_mut() {
                                if let Some(val) = d.get_mut(f.name.as_str()) {
                                    convert(val, &def.field_type).map_err(|m| fail(f.pos, m))?;
                                }
                            }
                            schema.fields.insert(f.name.clone(), def);
                            set_rules(schema, &f.name, field_rules);
                        }
                    }
                }
            }
            MigrationStep::MigrateData { sets, .. } => {
                for s in sets {
                    steps += 1;
                    let filter = match &s.where_clause {
                        Some(w) => Some(to_filter(w, vars, s.pos)?),
                        None => None,
                    };
                    for (sid, d) in rows.iter_mut() {
                        let doc = crate::types::Document::new(sid.clone(), d.clone());
                        if filter.as_ref().is_some_and(|f| !f.matches(&doc)) {
                            continue;
                        }
                        let new = match &s.expr {
                            AstValue::Enum(field) => doc.get_ref(field).cloned().unwrap_or(Value::Null),
                            other => to_value(&*super::convert::resolve(other, vars, s.pos)?),
                        };
                        super::mutation::set_path(d, &s.field, new).map_err(|e| fail(s.pos, e.to_string()))?;
                    }
                }
            }
        }
    }

    // Install the new schemas, then write every document and the bookkeeping row at once.
    let old: Vec<(String, CollectionSchema)> =
        touched.iter().map(|c| Ok((c.clone(), db.schema(c)?))).collect::<Result<_>>()?;
    for c in &touched {
        if let Some(s) = schemas.get(c) {
            db.set_schema(c, s.clone()).await?;
        }
    }
    let mut ops = Vec::new();
    for c in &touched {
        for (sid, data) in docs.remove(c).unwrap_or_default() {
            ops.push(WriteOp::Replace { collection: c.clone(), sid: crate::db::parse_sid(&sid)?, data });
        }
    }
    let mut record = DocData::new();
    record.insert("version".into(), Value::String(v.version.clone()));
    record.insert("applied_at_ms".into(), Value::Int(crate::workers::job::now_ms() as i64));
    record.insert("steps".into(), Value::Int(steps as i64));
    ops.push(WriteOp::Insert { collection: MIGRATION_COLLECTION.into(), data: record });
    if let Err(e) = db.inner.commit(ops, source).await {
        for (c, s) in old {
            db.set_schema(&c, s).await?;
        }
        return Err(match e {
            AuroraError::InvalidQuery { .. } => e,
            other => fail(v.pos, other.to_string()),
        });
    }
    Ok(steps)
}

/// Records a field's rules (or forgets them when it declares none).
fn set_rules(schema: &mut CollectionSchema, field: &str, r: FieldRules) {
    if r.is_empty() {
        schema.rules.shift_remove(field);
    } else {
        schema.rules.insert(field.to_string(), r);
    }
}

/// Converts a stored value for `modify f: T`; lossless or an error.
fn convert(v: &mut Value, to: &FieldType) -> std::result::Result<(), String> {
    let new = match (&*v, to) {
        (Value::Null, _) | (_, FieldType::Any) => return Ok(()),
        (Value::Int(i), FieldType::Float) => Value::Float(*i as f64),
        (Value::Float(f), FieldType::Int) if f.fract() == 0.0 && f.abs() < 9.0e15 => Value::Int(*f as i64),
        (Value::Int(i), FieldType::String) => Value::String(i.to_string()),
        (Value::Float(f), FieldType::String) => Value::String(f.to_string()),
        (Value::Bool(b), FieldType::String) => Value::String(b.to_string()),
        (Value::Uuid(u), FieldType::String) => Value::String(u.to_string()),
        (Value::String(s), FieldType::Int) => {
            Value::Int(s.trim().parse().map_err(|_| format!("cannot convert {s:?} to Int"))?)
        }
        (Value::String(s), FieldType::Float) => {
            Value::Float(s.trim().parse().map_err(|_| format!("cannot convert {s:?} to Float"))?)
        }
        (Value::String(s), FieldType::Boolean) => match s.as_str() {
            "true" => Value::Bool(true),
            "false" => Value::Bool(false),
            _ => return Err(format!("cannot convert {s:?} to Boolean")),
        },
        (Value::String(s), FieldType::Uuid) => {
            Value::Uuid(uuid::Uuid::parse_str(s).map_err(|_| format!("cannot convert {s:?} to Uuid"))?)
        }
        (other, t) => {
            let mut x = other.clone();
            crate::schema::coerce("", "", t, &mut x)
                .map_err(|_| format!("cannot convert {} to {t}", other.type_name()))?;
            x
        }
    };
    *v = new;
    Ok(())
}
