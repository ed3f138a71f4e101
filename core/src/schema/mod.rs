//! Schema enforcement: type checks and normalisation of documents before they are logged.

pub mod dates;
pub mod rules;

pub use rules::apply_defaults;

use crate::error::{AuroraError, Result};
use crate::types::{CollectionSchema, DocData, FieldType};
use crate::value::Value;

/// Checks `data` against `schema`, widening Int→Float and text→Uuid where declared.
pub fn validate(collection: &str, schema: &CollectionSchema, data: &mut DocData) -> Result<()> {
    for (name, def) in &schema.fields {
        match data.get_mut(name.as_str()) {
            None | Some(Value::Null) => {
                if !def.nullable {
                    return Err(AuroraError::Validation {
                        collection: collection.to_string(),
                        message: format!("field `{name}` ({}) is required and cannot be null", def.field_type),
                    });
                }
            }
            Some(v) => coerce(collection, name, &def.field_type, v)?,
        }
    }
    if !schema.rules.is_empty() {
        rules::check(collection, schema, data)?;
    }
    if schema.strict {
        if let Some(extra) = data.keys().find(|k| !schema.fields.contains_key(k.as_str())) {
            return Err(AuroraError::Validation {
                collection: collection.to_string(),
                message: format!("field `{extra}` is not declared and the collection is strict"),
            });
        }
    }
    for k in data.keys() {
        if k.is_empty() || k == "_sid" {
            return Err(AuroraError::Validation {
                collection: collection.to_string(),
                message: format!("`{k}` is not a valid field name"),
            });
        }
    }
    Ok(())
}

/// Converts one value to the declared type in place, or explains why it cannot be.
pub fn coerce(collection: &str, field: &str, ty: &FieldType, v: &mut Value) -> Result<()> {
    let mismatch = |v: &Value| AuroraError::TypeMismatch {
        line: 0,
        column: 0,
        collection: collection.to_string(),
        field: field.to_string(),
        expected: ty.to_string(),
        actual: v.type_name().to_string(),
    };
    match (ty, &*v) {
        (_, Value::Null) | (FieldType::Any, _) => Ok(()),
        (FieldType::String, Value::String(_))
        | (FieldType::Int, Value::Int(_))
        | (FieldType::Float, Value::Float(_))
        | (FieldType::Boolean, Value::Bool(_))
        | (FieldType::Uuid, Value::Uuid(_))
        | (FieldType::Object, Value::Object(_)) => Ok(()),
        (FieldType::Float, Value::Int(i)) => {
            *v = Value::Float(*i as f64);
            Ok(())
        }
        (FieldType::Uuid, Value::String(s)) => match uuid::Uuid::parse_str(s) {
            Ok(u) => {
                *v = Value::Uuid(u);
                Ok(())
            }
            Err(_) => Err(AuroraError::TypeMismatch {
                line: 0,
                column: 0,
                collection: collection.to_string(),
                field: field.to_string(),
                expected: "Uuid".into(),
                actual: format!("String {s:?} (not a UUID)"),
            }),
        },
        (FieldType::Date | FieldType::DateTime, Value::String(s)) => {
            let normal = match ty {
                FieldType::Date => dates::normalize_date(s),
                _ => dates::normalize_datetime(s),
            };
            match normal {
                Ok(n) => {
                    *v = Value::String(n);
                    Ok(())
                }
                Err(why) => Err(AuroraError::TypeMismatch {
                    line: 0,
                    column: 0,
                    collection: collection.to_string(),
                    field: field.to_string(),
                    expected: ty.to_string(),
                    actual: format!("String ({why})"),
                }),
            }
        }
        (FieldType::Array(inner), Value::Array(_)) => {
            if let Value::Array(items) = v {
                for (i, item) in items.iter_mut().enumerate() {
                    coerce(collection, &format!("{field}[{i}]"), inner, item)?;
                }
            }
            Ok(())
        }
        _ => Err(mismatch(v)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::types::FieldDefinition;

    #[test]
    fn type_errors_name_collection_field_and_types() {
        let schema = CollectionSchema::from_fields(vec![("age", FieldDefinition::new(FieldType::Int))]);
        let mut d: DocData = [("age".into(), Value::String("x".into()))].into_iter().collect();
        let e = validate("users", &schema, &mut d).unwrap_err().to_string();
        assert!(e.contains("users") && e.contains("age") && e.contains("Int") && e.contains("String"), "{e}");
    }

    #[test]
    fn float_fields_widen_ints_and_arrays_check_elements() {
        let schema = CollectionSchema::from_fields(vec![
            ("score", FieldDefinition::new(FieldType::Float)),
            ("tags", FieldDefinition::new(FieldType::array_of(FieldType::String))),
        ]);
        let mut d: DocData = [("score".into(), Value::Int(3))].into_iter().collect();
        validate("c", &schema, &mut d).unwrap();
        assert_eq!(d["score"], Value::Float(3.0));
        let mut bad: DocData =
            [("tags".into(), Value::Array(vec![Value::String("a".into()), Value::Int(1)]))].into_iter().collect();
        assert!(validate("c", &schema, &mut bad).unwrap_err().to_string().contains("tags[1]"));
    }
}
