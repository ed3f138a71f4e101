//! Update operators: `{ views: { increment: 1 }, tags: { push: "x" } }` in `update`'s data.
//!
//! An operator is recognised only where the AQL text writes it: a field whose value is a
//! literal one-entry object keyed by an operator name. A variable's content is always a value
//! (variables never change the structure of a request), so `data: $d` sets fields and never
//! runs operators. Each operator reads the document's current value and writes the new one in
//! the same commit as the rest of the update, so a watcher sees one `Modified`.

use super::ast::{AstValue, Pos};
use super::convert::{describe, resolve, to_value, Vars};
use crate::error::{AuroraError, Result};
use crate::types::DocData;
use crate::value::Value;

/// One operator on one field.
#[derive(Debug, Clone)]
pub(crate) struct UpdateOp {
    /// The field (dotted for nested objects).
    pub field: String,
    kind: Kind,
    operand: Value,
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum Kind {
    Increment,
    Decrement,
    Push,
    Pull,
    AddToSet,
}

/// The operators written literally in `data` (the unresolved argument), with their operands
/// resolved; the fields they name are left out of the plain changes by the caller.
pub(crate) fn extract(raw: &AstValue, vars: &Vars, pos: Pos) -> Result<Vec<UpdateOp>> {
    let AstValue::Object(fields) = raw else { return Ok(Vec::new()) };
    let mut out = Vec::new();
    for (field, v) in fields {
        let AstValue::Object(inner) = v else { continue };
        let [(name, operand)] = inner.as_slice() else { continue };
        let kind = match name.as_str() {
            "increment" => Kind::Increment,
            "decrement" => Kind::Decrement,
            "push" => Kind::Push,
            "pull" => Kind::Pull,
            "addToSet" => Kind::AddToSet,
            _ => continue,
        };
        let operand = to_value(&*resolve(operand, vars, pos)?);
        if matches!(kind, Kind::Increment | Kind::Decrement) && !matches!(operand, Value::Int(_) | Value::Float(_)) {
            return Err(AuroraError::invalid_at(
                format!("`{name}` on `{field}` takes a number, got {}", describe(&to_ast(&operand))),
                pos.line,
                pos.column,
            ));
        }
        out.push(UpdateOp { field: field.clone(), kind, operand });
    }
    Ok(out)
}

/// A value back as an AST value, only to describe it in an error.
fn to_ast(v: &Value) -> AstValue {
    match v {
        Value::Null => AstValue::Null,
        Value::Bool(b) => AstValue::Bool(*b),
        Value::Int(i) => AstValue::Int(*i),
        Value::Float(f) => AstValue::Float(*f),
        Value::String(s) => AstValue::String(s.clone()),
        _ => AstValue::Null,
    }
}

impl UpdateOp {
    /// Applies the operator to `data` (a document of `collection`).
    pub(crate) fn apply(&self, data: &mut DocData, collection: &str, pos: Pos) -> Result<()> {
        let current = lookup(data, &self.field).cloned().unwrap_or(Value::Null);
        let mismatch = |expected: &str| AuroraError::TypeMismatch {
            line: pos.line,
            column: pos.column,
            collection: collection.to_string(),
            field: self.field.clone(),
            expected: expected.to_string(),
            actual: current.type_name().to_string(),
        };
        let new = match self.kind {
            Kind::Increment | Kind::Decrement => {
                let sign = if self.kind == Kind::Increment { 1 } else { -1 };
                match (&current, &self.operand) {
                    (Value::Int(_) | Value::Null, Value::Int(b)) => {
                        let a = if let Value::Int(a) = current { a } else { 0 };
                        let b = b.checked_mul(sign).and_then(|b| a.checked_add(b)).ok_or_else(|| {
                            AuroraError::invalid_at(
                                format!("`{}` would overflow a 64-bit integer", self.field),
                                pos.line,
                                pos.column,
                            )
                        })?;
                        Value::Int(b)
                    }
                    (Value::Int(_) | Value::Float(_) | Value::Null, b) => {
                        let a = match current {
                            Value::Int(a) => a as f64,
                            Value::Float(a) => a,
                            _ => 0.0,
                        };
                        let b = match b {
                            Value::Int(b) => *b as f64,
                            Value::Float(b) => *b,
                            _ => return Err(mismatch("a number")),
                        };
                        Value::Float(a + sign as f64 * b)
                    }
                    _ => return Err(mismatch("a number (to increment or decrement)")),
                }
            }
            Kind::Push | Kind::AddToSet => {
                let mut items = match current {
                    Value::Array(items) => items,
                    Value::Null => Vec::new(),
                    _ => return Err(mismatch("an array (to push to)")),
                };
                if self.kind == Kind::Push || !items.iter().any(|i| i.loose_eq(&self.operand)) {
                    items.push(self.operand.clone());
                }
                Value::Array(items)
            }
            Kind::Pull => match current {
                Value::Array(mut items) => {
                    items.retain(|i| !i.loose_eq(&self.operand));
                    Value::Array(items)
                }
                Value::Null => return Ok(()),
                _ => return Err(mismatch("an array (to pull from)")),
            },
        };
        super::mutation::set_path(data, &self.field, new).map_err(super::query::at(pos))
    }
}

/// The value at a dotted `path` of a document, if present.
fn lookup<'a>(data: &'a DocData, path: &str) -> Option<&'a Value> {
    let mut parts = path.split('.');
    let mut v = data.get(parts.next()?)?;
    for p in parts {
        match v {
            Value::Object(m) => v = m.get(p)?,
            _ => return None,
        }
    }
    Some(v)
}
