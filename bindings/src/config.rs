//! Database configuration from JSON, as every host passes it.

use crate::error::BindingError;
use aurora_db::{AuroraConfig, Limits};
use serde_json::{Map, Value};

/// Builds a config from a path and a JSON object of settings. Keys may be snake_case
/// (`hot_cache_size_mb`) or camelCase (`hotCacheSizeMb`); enum values are case-insensitive
/// (`"strict"`, `"Strict"`). Unknown keys are an error, not silently ignored. `limits` is a
/// nested object read the same way (`{"limits": {"maxQueryBytes": 65536}}`); limits left out
/// keep their defaults, and `null` means every default.
pub fn config_from_json(path: &str, settings: &Value) -> Result<AuroraConfig, BindingError> {
    let obj = match settings {
        Value::Null => Map::new(),
        Value::Object(m) => m.clone(),
        other => return Err(BindingError::validation(format!("config must be an object, got {other}"))),
    };
    let known = serde_json::to_value(AuroraConfig::default()).map_err(|e| BindingError::internal(e.to_string()))?;
    let known = known.as_object().cloned().unwrap_or_default();
    let mut out = Map::new();
    for (k, v) in obj {
        let key = snake(&k);
        if !known.contains_key(&key) || key == "db_path" {
            let mut names: Vec<&String> = known.keys().filter(|k| *k != "db_path").collect();
            names.sort();
            return Err(BindingError::validation(format!(
                "unknown config option `{k}`; known options: {}",
                names.iter().map(|s| s.as_str()).collect::<Vec<_>>().join(", ")
            )));
        }
        let v = match (key.as_str(), v) {
            ("durability_mode", Value::String(s)) => Value::String(
                match s.to_ascii_lowercase().as_str() {
                    "none" => "None",
                    "wal" => "WAL",
                    "strict" => "Strict",
                    "synchronous" | "sync" => "Synchronous",
                    _ => {
                        return Err(BindingError::validation(format!(
                            "unknown durability_mode `{s}`; expected none, wal, strict or synchronous"
                        )))
                    }
                }
                .into(),
            ),
            ("cold_mode", Value::String(s)) => Value::String(
                match s.to_ascii_lowercase().as_str() {
                    "highthroughput" | "high_throughput" => "HighThroughput",
                    "lowspace" | "low_space" => "LowSpace",
                    _ => {
                        return Err(BindingError::validation(format!(
                            "unknown cold_mode `{s}`; expected HighThroughput or LowSpace"
                        )))
                    }
                }
                .into(),
            ),
            ("eviction_policy", Value::String(s)) if s.eq_ignore_ascii_case("lru") => Value::String("LRU".into()),
            ("limits", Value::Null) => continue,
            ("limits", Value::Object(inner)) => Value::Object(limits_from_json(&inner)?),
            ("limits", other) => {
                return Err(BindingError::validation(format!(
                    "config option `{k}` must be an object of limits ({}), got {other}",
                    limit_names()?.join(", ")
                )))
            }
            (_, v) => v,
        };
        out.insert(key, v);
    }
    out.insert("db_path".into(), Value::String(path.to_string()));
    serde_json::from_value(Value::Object(out.clone())).map_err(|e| {
        // Name the option: retry each one alone on top of the defaults.
        let bad = out.iter().find(|(k, v)| {
            let mut one = known.clone();
            one.insert((*k).clone(), (*v).clone());
            serde_json::from_value::<AuroraConfig>(Value::Object(one)).is_err()
        });
        match bad {
            Some((k, v)) => BindingError::validation(format!("invalid value {v} for config option `{k}`: {e}")),
            None => BindingError::validation(format!("invalid config: {e}")),
        }
    })
}

/// The known limits (snake_case), sorted.
fn limit_names() -> Result<Vec<String>, BindingError> {
    let defaults = serde_json::to_value(Limits::default()).map_err(|e| BindingError::internal(e.to_string()))?;
    let mut names: Vec<String> = defaults.as_object().map(|m| m.keys().cloned().collect()).unwrap_or_default();
    names.sort();
    Ok(names)
}

/// The `limits` object with snake_case keys; an unknown limit or a value of the wrong type is
/// an error naming it (`limits.max_depth`).
fn limits_from_json(inner: &Map<String, Value>) -> Result<Map<String, Value>, BindingError> {
    let names = limit_names()?;
    let mut out = Map::new();
    for (k, v) in inner {
        let key = snake(k);
        if !names.contains(&key) {
            return Err(BindingError::validation(format!(
                "unknown limit `{k}` in config option `limits`; known limits: {}",
                names.join(", ")
            )));
        }
        let mut one = Map::new();
        one.insert(key.clone(), v.clone());
        if let Err(e) = serde_json::from_value::<Limits>(Value::Object(one)) {
            return Err(BindingError::validation(format!("invalid value {v} for config option `limits.{key}`: {e}")));
        }
        out.insert(key, v.clone());
    }
    Ok(out)
}

fn snake(k: &str) -> String {
    let mut s = String::with_capacity(k.len() + 4);
    for c in k.chars() {
        if c.is_ascii_uppercase() {
            s.push('_');
            s.push(c.to_ascii_lowercase());
        } else {
            s.push(c);
        }
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn camel_and_snake_keys_and_loose_enums() {
        let c = config_from_json("x", &serde_json::json!({"hotCacheSizeMb": 8, "durability_mode": "strict"})).unwrap();
        assert_eq!(c.hot_cache_size_mb, 8);
        assert_eq!(c.durability_mode, aurora_db::DurabilityMode::Strict);
        let e = config_from_json("x", &serde_json::json!({"hot_cache": 1})).unwrap_err();
        assert!(e.message.contains("hot_cache_size_mb"), "{e}");
        assert!(config_from_json("x", &serde_json::json!({"durabilityMode": "fast"})).is_err());
    }

    #[test]
    fn a_wrong_type_names_the_option_and_null_retention_keeps_jobs() {
        let e = config_from_json("x", &serde_json::json!({"worker_threads": 2, "completedJobRetentionMs": "1h"}))
            .unwrap_err();
        assert_eq!(e.code, crate::ErrorCode::Validation);
        assert!(e.message.contains("`completed_job_retention_ms`") && e.message.contains("\"1h\""), "{e}");
        let c = config_from_json("x", &serde_json::json!({"completed_job_retention_ms": null})).unwrap();
        assert_eq!(c.completed_job_retention_ms, None);
    }

    #[test]
    fn limits_take_camel_or_snake_keys_and_keep_the_other_defaults() {
        let c = config_from_json("x", &json!({"limits": {"maxQueryBytes": 1000, "max_depth": 8, "queryTimeMs": 0}}))
            .unwrap();
        let want = Limits { max_query_bytes: 1000, max_depth: 8, query_time_ms: 0, ..Limits::default() };
        assert_eq!(c.limits, want);
        let c = config_from_json("x", &json!({"hotCacheSizeMb": 8, "limits": {}})).unwrap();
        assert_eq!((c.hot_cache_size_mb, c.limits), (8, Limits::default()));
        assert_eq!(config_from_json("x", &json!({"limits": null})).unwrap().limits, Limits::default());
        assert_eq!(config_from_json("x", &Value::Null).unwrap().limits, Limits::default());
    }

    #[test]
    fn an_unknown_limit_names_the_known_ones() {
        let e = config_from_json("x", &json!({"limits": {"maxQueryByte": 10}})).unwrap_err();
        assert_eq!(e.code, crate::ErrorCode::Validation);
        assert!(e.message.contains("`maxQueryByte`") && e.message.contains("`limits`"), "{e}");
        for name in ["max_query_bytes", "max_fragments", "max_depth", "query_time_ms", "plan_cache_bytes"] {
            assert!(e.message.contains(name), "{name} missing from: {e}");
        }
        let e = config_from_json("x", &json!({"maxQueryBytes": 10})).unwrap_err();
        assert!(e.message.contains("unknown config option `maxQueryBytes`") && e.message.contains("limits"), "{e}");
    }

    #[test]
    fn a_wrong_limit_type_names_the_limit() {
        for (bad, name) in [
            (json!({"maxDepth": "deep"}), "`limits.max_depth`"),
            (json!({"max_in_values": -1}), "`limits.max_in_values`"),
            (json!({"queryTimeMs": 1.5}), "`limits.query_time_ms`"),
            (json!({"maxFragments": null}), "`limits.max_fragments`"),
        ] {
            let e = config_from_json("x", &json!({ "limits": bad })).unwrap_err();
            assert_eq!(e.code, crate::ErrorCode::Validation);
            assert!(e.message.contains(name), "{name} missing from: {e}");
        }
        let e = config_from_json("x", &json!({"limits": [1]})).unwrap_err();
        assert!(e.message.contains("`limits` must be an object") && e.message.contains("max_query_bytes"), "{e}");
    }
}
