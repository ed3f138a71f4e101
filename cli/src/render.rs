//! Output: result tables, JSON, and AQL errors with the offending line and a caret.

use aurora_db::AuroraError;
use comfy_table::{presets, Table};
use serde_json::{Map, Value as Json};

/// Longest text shown in one table cell before it is cut with `…`.
const MAX_CELL_CHARS: usize = 80;

/// How results are printed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OutputMode {
    /// Boxed tables, one per root field.
    Table,
    /// One JSON document (indented when `pretty`).
    Json {
        /// Indent the JSON.
        pretty: bool,
    },
}

impl OutputMode {
    /// Renders a JSON value in this mode (tables for results keyed by root field).
    pub fn render(&self, value: &Json) -> String {
        match self {
            OutputMode::Table => render_tables(value),
            OutputMode::Json { pretty: true } => serde_json::to_string_pretty(value).unwrap_or_default(),
            OutputMode::Json { pretty: false } => value.to_string(),
        }
    }
}

/// Formats an engine error. With the AQL source (`(label, text)`), errors that carry a position
/// are followed by the source line and a caret under the column:
///
/// ```text
/// error[SYNTAX]: AQL syntax error at line 2, column 36: expected ...
///  --> <arg>:2:36
///   |
/// 2 |   users(where: { age: { gt: 25 } } {
///   |                                    ^
/// ```
pub fn format_error(err: &AuroraError, source: Option<(&str, &str)>) -> String {
    let mut out = format!("error[{}]: {err}", err.code());
    if let (Some((line, column)), Some((label, text))) = (err.position(), source) {
        out.push('\n');
        out.push_str(&caret_snippet(label, text, line, column));
    }
    out
}

/// The ` --> label:line:col` block with the source line and a caret (1-based line and column).
pub fn caret_snippet(label: &str, text: &str, line: usize, column: usize) -> String {
    let mut out = format!(" --> {label}:{line}:{column}");
    let Some(src) = text.lines().nth(line.saturating_sub(1)) else {
        return out;
    };
    let src = src.trim_end_matches('\r');
    let num = line.to_string();
    let pad = " ".repeat(num.len());
    // Keep tabs so the caret lines up with the source however the terminal expands them.
    let lead: String = src.chars().take(column.saturating_sub(1)).map(|c| if c == '\t' { '\t' } else { ' ' }).collect();
    out.push_str(&format!("\n{pad} |\n{num} | {src}\n{pad} | {lead}^"));
    out
}

/// Renders an execution result (`{"root": value, ...}`) as one titled table per root field.
pub fn render_tables(value: &Json) -> String {
    let mut out = Vec::new();
    match value {
        Json::Object(map) if !map.is_empty() => {
            for (key, v) in map {
                render_value(key, v, &mut out);
            }
        }
        Json::Object(_) => out.push("(empty result)".to_string()),
        other => render_value("result", other, &mut out),
    }
    out.join("\n")
}

fn render_value(title: &str, value: &Json, out: &mut Vec<String>) {
    match value {
        Json::Array(items) if items.iter().all(Json::is_object) => {
            let rows: Vec<&Map<String, Json>> = items.iter().filter_map(Json::as_object).collect();
            out.push(format!("{title}:"));
            out.push(rows_table(&rows));
            out.push(count_line(rows.len()));
        }
        Json::Array(items) => {
            out.push(format!("{title}:"));
            let mut t = new_table();
            t.set_header(vec!["value"]);
            for i in items {
                t.add_row(vec![cell(i)]);
            }
            out.push(t.to_string());
            out.push(count_line(items.len()));
        }
        Json::Object(map) if map.get("edges").is_some_and(Json::is_array) => {
            let edges = map.get("edges").and_then(Json::as_array).map(Vec::as_slice).unwrap_or_default();
            let nodes: Vec<&Map<String, Json>> =
                edges.iter().filter_map(|e| e.get("node").and_then(Json::as_object)).collect();
            out.push(format!("{title}:"));
            out.push(rows_table(&nodes));
            let mut footer = count_line(nodes.len());
            if let Some(Json::Object(pi)) = map.get("pageInfo") {
                let parts: Vec<String> = pi.iter().map(|(k, v)| format!("{k}: {}", cell(v))).collect();
                footer.push_str(&format!("; pageInfo {{ {} }}", parts.join(", ")));
            }
            out.push(footer);
        }
        Json::Object(map) if map.values().any(|v| v.as_array().is_some_and(|a| a.iter().any(Json::is_object))) => {
            // A root holding sub-results (e.g. `groupBy` beside `aggregate`): one table each.
            for (k, v) in map {
                render_value(&format!("{title}.{k}"), v, out);
            }
        }
        Json::Object(map) => {
            out.push(format!("{title}:"));
            out.push(rows_table(&[map]));
        }
        scalar => out.push(format!("{title}: {}", cell(scalar))),
    }
}

fn count_line(n: usize) -> String {
    if n == 1 {
        "(1 row)".to_string()
    } else {
        format!("({n} rows)")
    }
}

fn new_table() -> Table {
    let mut t = Table::new();
    t.load_preset(presets::UTF8_FULL_CONDENSED);
    t
}

/// A table whose columns are the union of the rows' (flattened) keys, in first-seen order.
fn rows_table(rows: &[&Map<String, Json>]) -> String {
    let flat: Vec<Vec<(String, &Json)>> = rows
        .iter()
        .map(|r| {
            let mut cols = Vec::new();
            flatten("", r, &mut cols);
            cols
        })
        .collect();
    let mut columns: Vec<String> = Vec::new();
    for row in &flat {
        for (k, _) in row {
            if !columns.contains(k) {
                columns.push(k.clone());
            }
        }
    }
    if columns.is_empty() {
        return if rows.is_empty() { "(no rows)".to_string() } else { "(no fields)".to_string() };
    }
    let mut t = new_table();
    t.set_header(columns.clone());
    for row in &flat {
        let cells: Vec<String> = columns
            .iter()
            .map(|c| row.iter().find(|(k, _)| k == c).map(|(_, v)| cell(v)).unwrap_or_default())
            .collect();
        t.add_row(cells);
    }
    t.to_string()
}

/// Nested objects become dotted columns (`address.city`); arrays stay one JSON cell.
fn flatten<'a>(prefix: &str, map: &'a Map<String, Json>, out: &mut Vec<(String, &'a Json)>) {
    for (k, v) in map {
        let name = if prefix.is_empty() { k.clone() } else { format!("{prefix}.{k}") };
        match v {
            Json::Object(inner) if !inner.is_empty() => flatten(&name, inner, out),
            _ => out.push((name, v)),
        }
    }
}

fn cell(v: &Json) -> String {
    let s = match v {
        Json::String(s) => s.clone(),
        Json::Null => "null".to_string(),
        other => other.to_string(),
    };
    let s = s.replace(['\n', '\r', '\t'], " ");
    if s.chars().count() > MAX_CELL_CHARS {
        let cut: String = s.chars().take(MAX_CELL_CHARS - 1).collect();
        format!("{cut}…")
    } else {
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn caret_lines_up_under_the_column() {
        let s = caret_snippet("<arg>", "query {\n\tusers(where: x {\n}", 2, 15);
        assert!(s.contains("2 | \tusers(where: x {"), "{s}");
        assert!(s.ends_with("  | \t             ^"), "{s:?}");
    }

    #[test]
    fn caret_past_the_last_line_prints_only_the_location() {
        assert_eq!(caret_snippet("f.aql", "query {", 3, 1), " --> f.aql:3:1");
    }

    #[test]
    fn tables_flatten_nested_fields_and_count_rows() {
        let t = render_tables(&json!({"users": [{"name": "Ann", "address": {"city": "Oslo"}}, {"name": "Bob"}]}));
        assert!(t.starts_with("users:"), "{t}");
        assert!(t.contains("address.city") && t.contains("Oslo") && t.contains("(2 rows)"), "{t}");
    }

    #[test]
    fn pagination_aggregates_and_scalars() {
        let t = render_tables(&json!({"u": {"edges": [{"cursor": "c1", "node": {"n": 1}}],
            "pageInfo": {"hasNextPage": false, "endCursor": "c1"}}}));
        assert!(t.contains("hasNextPage: false"), "{t}");
        let t = render_tables(&json!({"o": {"aggregate": {"count": 3, "avg": 20.0}}}));
        assert!(t.contains("aggregate.count") && t.contains("20.0"), "{t}");
        let t = render_tables(&json!({"o": {"groupBy": [{"key": "a", "count": 2}]}}));
        assert!(t.contains("o.groupBy:") && t.contains("(1 row)"), "{t}");
        assert_eq!(render_tables(&json!({})), "(empty result)");
    }
}
