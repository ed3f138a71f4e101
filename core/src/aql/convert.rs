//! AST values → engine values: variables (declared types checked), filters and orderings.

use super::ast::{AstValue, Pos, TypeRef, VariableDef};
use crate::config::Limits;
use crate::error::{AuroraError, Result};
use crate::query::Filter;
use crate::value::Value;

/// Deepest nesting accepted in values that arrive as variables (AQL text is limited by the parser).
pub const MAX_VALUE_DEPTH: usize = 64;

/// Resolved variables of one operation. An operation usually declares a handful: scanning them
/// costs less than hashing the name, and building them allocates no table.
#[derive(Debug)]
pub(crate) struct Vars {
    values: Vec<(String, AstValue)>,
    /// Positions in `values` by name, once there are too many to search (an operation usually
    /// declares a handful, and comparing a few names beats hashing one).
    index: Option<HashMap<String, usize>>,
    /// Longest `in` list a filter may have (`Limits::max_in_values`).
    pub(crate) max_in_values: usize,
}

impl Default for Vars {
    fn default() -> Self {
        Vars { values: Vec::new(), index: None, max_in_values: crate::config::Limits::default().max_in_values }
    }
}

/// Past this many variables, lookups go through a hash index.
const SCANNED_VARIABLES: usize = 16;

impl Vars {
    /// The value of variable `name`.
    pub(crate) fn get(&self, name: &str) -> Option<&AstValue> {
        match &self.index {
            Some(ix) => ix.get(name).and_then(|&i| self.values.get(i)).map(|(_, v)| v),
            None => self.values.iter().find(|(n, _)| n == name).map(|(_, v)| v),
        }
    }

    /// Sets variable `name` (a repeated declaration replaces the earlier one).
    fn insert(&mut self, name: String, value: AstValue) {
        let found = match &self.index {
            Some(ix) => ix.get(&name).copied(),
            None => self.values.iter().position(|(n, _)| *n == name),
        };
        match found {
            Some(i) => self.values[i].1 = value,
            None => {
                if let Some(ix) = self.index.as_mut() {
                    ix.insert(name.clone(), self.values.len());
                }
                self.values.push((name, value));
                if self.index.is_none() && self.values.len() > SCANNED_VARIABLES {
                    self.index = Some(self.values.iter().enumerate().map(|(i, (n, _))| (n.clone(), i)).collect());
                }
            }
        }
    }
}

fn err(pos: Pos, msg: impl Into<String>) -> AuroraError {
    AuroraError::invalid_at(msg, pos.line, pos.column)
}

/// Checks provided variables against the declarations and fills in defaults.
pub(crate) fn resolve_variables(defs: &[VariableDef], provided: &serde_json::Value, limits: &Limits) -> Result<Vars> {
    let provided = match provided {
        serde_json::Value::Null => None,
        serde_json::Value::Object(m) => Some(m),
        other => return Err(AuroraError::invalid(format!("variables must be a JSON object, got {other}"))),
    };
    let mut out = Vars { max_in_values: limits.max_in_values, ..Vars::default() };
    for d in defs {
        let given = provided.and_then(|m| m.get(&d.name));
        let v = match (given, &d.default) {
            (Some(j), _) => {
                check_type(&d.ty, j, &d.name, d.pos)?;
                json_to_ast(j, 0).map_err(|m| err(d.pos, m))?
            }
            (None, Some(def)) => def.clone(),
            (None, None) => {
                if matches!(d.ty, TypeRef::NonNull(_)) {
                    return Err(err(
                        d.pos,
                        format!("variable `${}` of type {} was not provided", d.name, type_name(&d.ty)),
                    ));
                }
                AstValue::Null
            }
        };
        out.insert(d.name.clone(), v);
    }
    Ok(out)
}

/// Human form of a type reference (`[Int]!`).
pub(crate) fn type_name(t: &TypeRef) -> String {
    match t {
        TypeRef::Named(n) => n.clone(),
        TypeRef::List(i) => format!("[{}]", type_name(i)),
        TypeRef::NonNull(i) => format!("{}!", type_name(i)),
    }
}

fn check_type(t: &TypeRef, v: &serde_json::Value, name: &str, pos: Pos) -> Result<()> {
    use serde_json::Value as J;
    let bad = || {
        let got = match v {
            J::Null => "null",
            J::Bool(_) => "Boolean",
            J::Number(n) if n.is_i64() || n.is_u64() => "Int",
            J::Number(_) => "Float",
            J::String(_) => "String",
            J::Array(_) => "list",
            J::Object(_) => "object",
        };
        err(pos, format!("variable `${name}` is declared {} but was given {got} {}", type_name(t), preview(v)))
    };
    match (t, v) {
        (TypeRef::NonNull(_), J::Null) => Err(bad()),
        (TypeRef::NonNull(i), _) => check_type(i, v, name, pos),
        (_, J::Null) => Ok(()),
        (TypeRef::List(i), J::Array(items)) => items.iter().try_for_each(|x| check_type(i, x, name, pos)),
        (TypeRef::List(_), _) => Err(bad()),
        (TypeRef::Named(n), _) => {
            let ok = match n.as_str() {
                "Int" => v.as_i64().is_some(),
                "Float" => v.is_number(),
                "String" => v.is_string(),
                "Boolean" | "Bool" => v.is_boolean(),
                "Uuid" | "UUID" => v.as_str().is_some_and(|s| uuid::Uuid::parse_str(s).is_ok()),
                "ID" => v.is_string() || v.as_i64().is_some(),
                "Object" | "JSON" => v.is_object(),
                "Date" => v.as_str().is_some_and(|s| crate::schema::dates::normalize_date(s).is_ok()),
                "DateTime" => v.as_str().is_some_and(|s| crate::schema::dates::normalize_datetime(s).is_ok()),
                "Any" => true,
                other => {
                    return Err(err(pos, format!("variable `${name}` has unknown type `{other}`")));
                }
            };
            if ok {
                Ok(())
            } else {
                Err(bad())
            }
        }
    }
}

fn json_to_ast(v: &serde_json::Value, depth: usize) -> std::result::Result<AstValue, String> {
    if depth > MAX_VALUE_DEPTH {
        return Err(format!("value nested deeper than {MAX_VALUE_DEPTH} levels"));
    }
    Ok(match v {
        serde_json::Value::Null => AstValue::Null,
        serde_json::Value::Bool(b) => AstValue::Bool(*b),
        serde_json::Value::Number(n) => match n.as_i64() {
            Some(i) => AstValue::Int(i),
            None => AstValue::Float(n.as_f64().unwrap_or(f64::NAN)),
        },
        serde_json::Value::String(s) => AstValue::String(s.clone()),
        serde_json::Value::Array(a) => {
            AstValue::List(a.iter().map(|x| json_to_ast(x, depth + 1)).collect::<std::result::Result<_, _>>()?)
        }
        serde_json::Value::Object(m) => AstValue::Object(
            m.iter()
                .map(|(k, x)| Ok((k.clone(), json_to_ast(x, depth + 1)?)))
                .collect::<std::result::Result<_, String>>()?,
        ),
    })
}

/// A JSON value for an error message: scalars as written (long strings cut), containers by size
/// only (printing one would recurse through a nesting of any depth).
fn preview(v: &serde_json::Value) -> String {
    use serde_json::Value as J;
    match v {
        J::Array(a) => format!("(a list of {} items)", a.len()),
        J::Object(m) => format!("(an object of {} fields)", m.len()),
        J::String(s) => format!("{:?}", crate::error::shown(s)),
        other => other.to_string(),
    }
}

/// True when the value contains a `$variable` anywhere.
pub(crate) fn has_variables(v: &AstValue) -> bool {
    match v {
        AstValue::Variable(_) => true,
        AstValue::List(items) => items.iter().any(has_variables),
        AstValue::Object(fields) => fields.iter().any(|(_, x)| has_variables(x)),
        _ => false,
    }
}

/// Replaces variables by their values (recursively); literal values are borrowed, not copied.
pub(crate) fn resolve<'a>(v: &'a AstValue, vars: &'a Vars, pos: Pos) -> Result<std::borrow::Cow<'a, AstValue>> {
    use std::borrow::Cow;
    if !has_variables(v) {
        return Ok(Cow::Borrowed(v));
    }
    Ok(match v {
        AstValue::Variable(n) => match vars.get(n) {
            Some(x) => Cow::Borrowed(x),
            None => return Err(err(pos, format!("variable `${n}` is used but not declared"))),
        },
        AstValue::List(items) => Cow::Owned(AstValue::List(
            items.iter().map(|i| resolve(i, vars, pos).map(Cow::into_owned)).collect::<Result<_>>()?,
        )),
        AstValue::Object(fields) => Cow::Owned(AstValue::Object(
            fields.iter().map(|(k, x)| Ok((k.clone(), resolve(x, vars, pos)?.into_owned()))).collect::<Result<_>>()?,
        )),
        other => Cow::Borrowed(other),
    })
}

/// A literal (after `resolve`) as a document value; enum names become strings.
pub(crate) fn to_value(v: &AstValue) -> Value {
    match v {
        AstValue::Null | AstValue::Variable(_) => Value::Null,
        AstValue::Bool(b) => Value::Bool(*b),
        AstValue::Int(i) => Value::Int(*i),
        AstValue::Float(f) => Value::Float(*f),
        AstValue::String(s) | AstValue::Enum(s) => Value::String(s.clone()),
        AstValue::List(items) => Value::Array(items.iter().map(to_value).collect()),
        AstValue::Object(fields) => Value::Object(fields.iter().map(|(k, v)| (k.clone(), to_value(v))).collect()),
    }
}

use crate::query::planner::FILTER_OPERATORS as OPERATORS;
use std::collections::HashMap;

/// A value with a top-level `$variable` replaced by the variable's value (which holds none).
pub(crate) fn deref<'a>(v: &'a AstValue, vars: &'a Vars, pos: Pos) -> Result<&'a AstValue> {
    match v {
        AstValue::Variable(n) => {
            vars.get(n).ok_or_else(|| err(pos, format!("variable `${n}` is used but not declared")))
        }
        other => Ok(other),
    }
}

/// Converts a `where:` object to a filter. Variables are looked up where they occur, so a
/// filter with `$x` operands is converted without first copying its whole tree.
pub(crate) fn to_filter(v: &AstValue, vars: &Vars, pos: Pos) -> Result<Filter> {
    filter_at(v, "", vars, pos)
}

fn filter_at(v: &AstValue, prefix: &str, vars: &Vars, pos: Pos) -> Result<Filter> {
    let v = deref(v, vars, pos)?;
    let AstValue::Object(fields) = v else {
        return Err(err(
            pos,
            format!("a filter must be an object like {{ field: {{ eq: value }} }}, got {}", describe(v)),
        ));
    };
    let mut parts = Vec::new();
    for (k, val) in fields {
        match k.as_str() {
            "and" | "AND" | "or" | "OR" => {
                let AstValue::List(items) = deref(val, vars, pos)? else {
                    return Err(err(pos, format!("`{k}` takes a list of filters")));
                };
                let subs = items.iter().map(|i| filter_at(i, prefix, vars, pos)).collect::<Result<Vec<_>>>()?;
                parts.push(if k.eq_ignore_ascii_case("and") { Filter::And(subs) } else { Filter::Or(subs) });
            }
            "not" | "NOT" => parts.push(Filter::Not(Box::new(filter_at(val, prefix, vars, pos)?))),
            field => {
                let path = if prefix.is_empty() { field.to_string() } else { format!("{prefix}.{field}") };
                parts.push(field_filter(&path, val, vars, pos)?);
            }
        }
    }
    Ok(match parts.len() {
        0 => Filter::All,
        1 => parts.pop().unwrap_or(Filter::All),
        _ => Filter::And(parts),
    })
}

fn field_filter(path: &str, v: &AstValue, vars: &Vars, pos: Pos) -> Result<Filter> {
    if let AstValue::Variable(_) = v {
        // `{ email: $e }`: a variable here is always the value compared, whatever it holds: an
        // object passed in cannot turn into operators (variables never change the structure).
        return Ok(Filter::Eq(path.to_string(), to_value(deref(v, vars, pos)?)));
    }
    let AstValue::Object(ops) = v else {
        // Shorthand: `{ email: "a@x.io" }` means equality.
        return Ok(Filter::Eq(path.to_string(), to_value(&*resolve(v, vars, pos)?)));
    };
    if ops.is_empty() {
        return Err(err(pos, format!("empty condition for field `{path}`")));
    }
    if !ops.iter().all(|(k, _)| OPERATORS.contains(&k.as_str())) {
        if ops.iter().any(|(k, _)| OPERATORS.contains(&k.as_str())) {
            let bad = ops.iter().find(|(k, _)| !OPERATORS.contains(&k.as_str())).map(|(k, _)| k.as_str()).unwrap_or("");
            return Err(err(
                pos,
                format!(
                    "unknown filter operator `{bad}` on field `{path}`{}; expected one of {}",
                    crate::error::hint_for(bad, OPERATORS.iter().copied()),
                    OPERATORS.join(", ")
                ),
            ));
        }
        // A nested object filter: `{ address: { city: { eq: "Oslo" } } }`.
        return filter_at(v, path, vars, pos);
    }
    let mut parts = Vec::new();
    for (op, val) in ops {
        // An operand is usually a bare `$x` or a literal: borrowed either way.
        let val = &*resolve(val, vars, pos)?;
        let f = path.to_string();
        let list = |val: &AstValue| -> Result<Vec<Value>> {
            match val {
                AstValue::List(items) if items.len() > vars.max_in_values => Err(AuroraError::Limit {
                    limit: "max_in_values",
                    value: vars.max_in_values as u64,
                    message: format!("`{op}` on `{path}` lists {} values", items.len()),
                    line: pos.line,
                    column: pos.column,
                }),
                AstValue::List(items) => Ok(items.iter().map(to_value).collect()),
                other => Err(err(pos, format!("`{op}` on `{path}` takes a list, got {}", describe(other)))),
            }
        };
        let text = |val: &AstValue| -> Result<String> {
            match val {
                AstValue::String(s) => Ok(s.clone()),
                other => Err(err(pos, format!("`{op}` on `{path}` takes a string, got {}", describe(other)))),
            }
        };
        let flag = |val: &AstValue| -> Result<bool> {
            match val {
                AstValue::Bool(b) => Ok(*b),
                other => Err(err(pos, format!("`{op}` on `{path}` takes true or false, got {}", describe(other)))),
            }
        };
        parts.push(match op.as_str() {
            "eq" => Filter::Eq(f, to_value(val)),
            "ne" => Filter::Ne(f, to_value(val)),
            "gt" => Filter::Gt(f, to_value(val)),
            "gte" => Filter::Gte(f, to_value(val)),
            "lt" => Filter::Lt(f, to_value(val)),
            "lte" => Filter::Lte(f, to_value(val)),
            "in" => Filter::In(f, list(val)?),
            "nin" | "notIn" => Filter::Not(Box::new(Filter::In(f, list(val)?))),
            "contains" => Filter::Contains(f, to_value(val)),
            // Any / all of the values: an array holding them, or a string holding them as parts.
            "containsAny" => Filter::Or(list(val)?.into_iter().map(|x| Filter::Contains(f.clone(), x)).collect()),
            "containsAll" => Filter::And(list(val)?.into_iter().map(|x| Filter::Contains(f.clone(), x)).collect()),
            "matches" => {
                let pattern = crate::query::Pattern::new(&text(val)?).map_err(|e| err(pos, e.to_string()))?;
                Filter::Matches(f, pattern)
            }
            "startsWith" => Filter::StartsWith(f, text(val)?),
            "endsWith" => Filter::EndsWith(f, text(val)?),
            "isNull" => {
                if flag(val)? {
                    Filter::IsNull(f)
                } else {
                    Filter::IsNotNull(f)
                }
            }
            "isNotNull" => {
                if flag(val)? {
                    Filter::IsNotNull(f)
                } else {
                    Filter::IsNull(f)
                }
            }
            // `{ age: { not: { gt: 5 } } }` negates the field's conditions; `{ not: v }` is `ne`.
            "not" => match val {
                AstValue::Object(_) => Filter::Not(Box::new(field_filter(path, val, vars, pos)?)),
                other => Filter::Ne(f, to_value(other)),
            },
            "between" => match list(val)?.as_slice() {
                [lo, hi] => Filter::Between(f, lo.clone(), hi.clone()),
                _ => return Err(err(pos, format!("`between` on `{path}` takes [low, high]"))),
            },
            _ => unreachable_operator(op, pos)?,
        });
    }
    Ok(if parts.len() == 1 { parts.pop().unwrap_or(Filter::All) } else { Filter::And(parts) })
}

fn unreachable_operator(op: &str, pos: Pos) -> Result<Filter> {
    Err(err(pos, format!("unknown filter operator `{op}`")))
}

/// Converts `orderBy:` (object, list of objects, or a field name) to sort keys.
pub(crate) fn to_order(v: &AstValue, pos: Pos) -> Result<Vec<(String, bool)>> {
    let dir = |d: &AstValue| -> Result<bool> {
        match d {
            AstValue::Enum(s) | AstValue::String(s) if s.eq_ignore_ascii_case("asc") => Ok(true),
            AstValue::Enum(s) | AstValue::String(s) if s.eq_ignore_ascii_case("desc") => Ok(false),
            other => Err(err(pos, format!("sort direction must be ASC or DESC, got {}", describe(other)))),
        }
    };
    match v {
        AstValue::String(s) | AstValue::Enum(s) => Ok(vec![(s.clone(), true)]),
        AstValue::List(items) => {
            let mut out = Vec::new();
            for i in items {
                out.extend(to_order(i, pos)?);
            }
            Ok(out)
        }
        AstValue::Object(fields) => {
            // `{ field: "age", direction: DESC }` form.
            if let Some((_, AstValue::String(f))) = fields.iter().find(|(k, _)| k == "field") {
                let asc = match fields.iter().find(|(k, _)| k == "direction") {
                    Some((_, d)) => dir(d)?,
                    None => true,
                };
                return Ok(vec![(f.clone(), asc)]);
            }
            fields.iter().map(|(k, d)| Ok((k.clone(), dir(d)?))).collect()
        }
        other => Err(err(pos, format!("orderBy takes {{ field: ASC|DESC }}, got {}", describe(other)))),
    }
}

/// Short description of a value for error messages.
pub(crate) fn describe(v: &AstValue) -> String {
    match v {
        AstValue::Null => "null".into(),
        AstValue::Bool(b) => b.to_string(),
        AstValue::Int(i) => format!("the integer {i}"),
        AstValue::Float(f) => format!("the number {f}"),
        AstValue::String(s) => format!("the string {:?}", crate::error::shown(s)),
        AstValue::Enum(e) => format!("`{e}`"),
        AstValue::Variable(n) => format!("${n}"),
        AstValue::List(_) => "a list".into(),
        AstValue::Object(_) => "an object".into(),
    }
}

/// A non-negative integer argument.
pub(crate) fn to_usize(v: &AstValue, what: &str, pos: Pos) -> Result<usize> {
    match v {
        AstValue::Int(i) if *i >= 0 => Ok(*i as usize),
        other => Err(err(pos, format!("`{what}` takes a non-negative integer, got {}", describe(other)))),
    }
}
