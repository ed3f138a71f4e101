//! Field rules beyond the type: defaults, enum values and `@validate(...)` checks.

use crate::error::{AuroraError, Result};
use crate::types::{CollectionSchema, DocData, FieldRules};
use crate::value::Value;

/// Formats `@validate(format: …)` knows.
pub const FORMATS: &[&str] = &["email", "url", "uuid"];

/// Gives every field with a default that `data` leaves out its default (on insert).
pub fn apply_defaults(schema: &CollectionSchema, data: &mut DocData) {
    for (name, rules) in &schema.rules {
        if let Some(default) = &rules.default {
            if !data.contains_key(name.as_str()) {
                data.insert(name.as_str().into(), Value::from_json(default));
            }
        }
    }
}

/// Checks the present, non-null values of `data` against their fields' rules.
pub fn check(collection: &str, schema: &CollectionSchema, data: &DocData) -> Result<()> {
    for (name, rules) in &schema.rules {
        match data.get(name.as_str()) {
            None | Some(Value::Null) => {}
            Some(v) => check_value(name, rules, v)
                .map_err(|message| AuroraError::Validation { collection: collection.to_string(), message })?,
        }
    }
    Ok(())
}

fn check_value(field: &str, rules: &FieldRules, v: &Value) -> std::result::Result<(), String> {
    let length = match v {
        Value::String(s) => Some(s.chars().count() as u64),
        Value::Array(items) => Some(items.len() as u64),
        _ => None,
    };
    if let Some(len) = length {
        if let Some(min) = rules.min_length.filter(|m| len < *m) {
            return Err(format!("field `{field}` fails @validate(minLength: {min}): it has {len}"));
        }
        if let Some(max) = rules.max_length.filter(|m| len > *m) {
            return Err(format!("field `{field}` fails @validate(maxLength: {max}): it has {len}"));
        }
    }
    // The other rules apply to a scalar, or to each element of a list.
    match v {
        Value::Array(items) => items.iter().try_for_each(|item| check_scalar(field, rules, item)),
        other => check_scalar(field, rules, other),
    }
}

fn check_scalar(field: &str, rules: &FieldRules, v: &Value) -> std::result::Result<(), String> {
    if !rules.enum_values.is_empty() {
        let ok = matches!(v, Value::String(s) if rules.enum_values.iter().any(|e| e == s));
        if !ok {
            let name = rules.enum_name.as_deref().unwrap_or("enum");
            return Err(format!(
                "field `{field}` must be one of {} (enum {name}), got {}",
                rules.enum_values.join(", "),
                crate::error::shown(&v.to_json().to_string())
            ));
        }
    }
    if let Some(n) = v.as_f64() {
        if let Some(min) = rules.min.as_ref().filter(|m| m.as_f64().is_some_and(|m| n < m)) {
            return Err(format!("field `{field}` fails @validate(min: {min}): {n} is smaller"));
        }
        if let Some(max) = rules.max.as_ref().filter(|m| m.as_f64().is_some_and(|m| n > m)) {
            return Err(format!("field `{field}` fails @validate(max: {max}): {n} is larger"));
        }
    }
    let Value::String(s) = v else { return Ok(()) };
    if let Some(format) = &rules.format {
        if let Err(why) = check_format(format, s) {
            return Err(format!(
                "field `{field}` fails @validate(format: \"{format}\"): {} {why}",
                crate::error::shown(&format!("{s:?}"))
            ));
        }
    }
    if let (Some(source), Some(p)) = (&rules.pattern, rules.pattern_regex().map_err(|e| e.to_string())?) {
        if !p.is_match(s) {
            return Err(format!(
                "field `{field}` fails @validate(pattern: {:?}): {} does not match",
                source,
                crate::error::shown(&format!("{s:?}"))
            ));
        }
    }
    Ok(())
}

fn check_format(format: &str, s: &str) -> std::result::Result<(), &'static str> {
    match format {
        "email" => {
            // One `@`, a local part, and a domain of dot-separated labels; no spaces.
            let (local, domain) = s.rsplit_once('@').ok_or("is not an email address (no `@`)")?;
            let labels_ok = domain.split('.').count() >= 2
                && domain.split('.').all(|l| !l.is_empty() && l.chars().all(|c| c.is_alphanumeric() || c == '-'));
            if local.is_empty() || local.contains('@') || s.chars().any(char::is_whitespace) || !labels_ok {
                return Err("is not an email address");
            }
            Ok(())
        }
        "url" => match url::Url::parse(s) {
            Ok(u) if u.has_host() => Ok(()),
            _ => Err("is not an absolute URL with a host"),
        },
        "uuid" => uuid::Uuid::parse_str(s).map(|_| ()).map_err(|_| "is not a UUID"),
        _ => Err("has an unknown format rule"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rules(f: impl FnOnce(&mut FieldRules)) -> FieldRules {
        let mut r = FieldRules::default();
        f(&mut r);
        r
    }

    #[test]
    fn each_rule_names_the_field_and_itself() {
        let email = rules(|r| r.format = Some("email".into()));
        assert!(check_value("e", &email, &Value::String("a@x.io".into())).is_ok());
        for bad in ["ax.io", "a@x", "a b@x.io", "@x.io", "a@x..io"] {
            let e = check_value("e", &email, &Value::String(bad.into())).unwrap_err();
            assert!(e.contains("`e`") && e.contains("format: \"email\""), "{bad}: {e}");
        }
        let url = rules(|r| r.format = Some("url".into()));
        assert!(check_value("u", &url, &Value::String("https://x.io/a?b".into())).is_ok());
        assert!(check_value("u", &url, &Value::String("x.io".into())).is_err());
        let range = rules(|r| {
            r.min = Some(0.into());
            r.max = Some(150.into());
        });
        assert!(check_value("age", &range, &Value::Int(150)).is_ok());
        assert!(check_value("age", &range, &Value::Int(151)).unwrap_err().contains("max: 150"));
        assert!(check_value("age", &range, &Value::Float(-0.5)).unwrap_err().contains("min: 0"));
        let len = rules(|r| {
            r.min_length = Some(2);
            r.max_length = Some(3);
        });
        assert!(check_value("n", &len, &Value::String("ééé".into())).is_ok(), "characters, not bytes");
        assert!(check_value("n", &len, &Value::String("a".into())).unwrap_err().contains("minLength: 2"));
        assert!(check_value("n", &len, &Value::Array(vec![Value::Int(1); 4])).unwrap_err().contains("maxLength: 3"));
        let role = rules(|r| {
            r.enum_name = Some("Role".into());
            r.enum_values = vec!["ADMIN".into(), "MEMBER".into()];
        });
        assert!(check_value("role", &role, &Value::String("ADMIN".into())).is_ok());
        let e =
            check_value("role", &role, &Value::Array(vec![Value::String("ADMIN".into()), Value::String("x".into())]));
        assert!(e.unwrap_err().contains("one of ADMIN, MEMBER (enum Role)"));
        let pat = rules(|r| r.pattern = Some("^[a-z]+$".into()));
        assert!(check_value("p", &pat, &Value::String("abc".into())).is_ok());
        assert!(check_value("p", &pat, &Value::String("ab1".into())).unwrap_err().contains("does not match"));
    }
}
