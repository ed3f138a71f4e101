//! AQL text → [`AqlDocument`]: a pest grammar (`grammar.pest`) plus an AST builder.
//!
//! Guarantees: no input panics or overflows the stack. Bracket nesting deeper
//! than [`MAX_NESTING_DEPTH`] is rejected by a linear pre-scan before pest runs,
//! so recursion is bounded: a document at the limit needs about 100 KiB of
//! stack in release builds (about 350 KiB in debug builds), well inside a
//! default 2 MiB thread. Every error names a 1-based line and column, what was
//! expected (in words) and what was found. Parsing is linear in the input; a
//! typical filtered query parses in roughly 10–20 µs in release builds.

use std::fmt;

use pest::error::{Error as PestError, ErrorVariant, InputLocation};
use pest::iterators::Pair;
use pest::Parser;

use super::ast::{
    AlterAction, AqlDocument, Argument, AstValue, CollectionDef, Directive, Field, FieldDef, Fragment, MigrationStep,
    MigrationVersion, Operation, OperationBody, OperationKind, Pos, Selection, SetStmt, TypeRef, VariableDef,
};

/// Deepest allowed nesting of `{`, `[` and `(`; deeper input is rejected before pest runs.
pub const MAX_NESTING_DEPTH: usize = 64;

mod grammar {
    #![allow(missing_docs)]
    #[derive(pest_derive::Parser)]
    #[grammar = "aql/grammar.pest"]
    pub(super) struct AqlParser;
}

use grammar::{AqlParser, Rule};

/// A parse error with its 1-based position, what was expected and a readable message.
#[derive(Debug, Clone, PartialEq)]
pub struct ParseError {
    /// Human-readable description, e.g. "expected one of `}`, field name; found `)`".
    pub message: String,
    /// 1-based line of the error.
    pub line: usize,
    /// 1-based column (in characters) of the error.
    pub column: usize,
    /// What would have been accepted at that position, in words (may be empty).
    pub expected: Vec<String>,
}

impl fmt::Display for ParseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "line {}, column {}: {}", self.line, self.column, self.message)
    }
}

impl std::error::Error for ParseError {}

type Result<T> = std::result::Result<T, ParseError>;

/// Parses an AQL document (operations and fragments) into its syntax tree.
pub fn parse(text: &str) -> Result<AqlDocument> {
    let mut b = Builder::new(text);
    if let Some(offset) = scan(text).too_deep_at {
        return Err(b.error_at(offset, format!("nesting deeper than {MAX_NESTING_DEPTH} levels"), Vec::new()));
    }
    let mut pairs = match AqlParser::parse(Rule::document, text) {
        Ok(pairs) => pairs,
        Err(e) => return Err(b.pest_error(e)),
    };
    match pairs.next() {
        Some(doc) => b.document(doc),
        None => Err(b.internal(text.len(), "document")),
    }
}

/// How many fragment definitions a text holds, counted without parsing it (the keyword
/// `fragment` outside brackets, strings and comments), so a text with too many is refused
/// before any parse work.
pub fn count_fragment_definitions(text: &str) -> usize {
    scan(text).fragments
}

/// What one linear pass over a text finds before pest runs.
struct Scan {
    /// Byte offset of the first bracket that exceeds [`MAX_NESTING_DEPTH`].
    too_deep_at: Option<usize>,
    /// `fragment` keywords at the top level.
    fragments: usize,
}

/// One linear pass over `text`. Strings, block strings and comments are skipped the way the
/// grammar reads them; where the two could disagree (malformed strings) this errs towards
/// counting more brackets, never fewer.
fn scan(text: &str) -> Scan {
    let b = text.as_bytes();
    let mut out = Scan { too_deep_at: None, fragments: 0 };
    let is_name = |c: u8| c.is_ascii_alphanumeric() || c == b'_';
    let mut depth = 0usize;
    let mut i = 0usize;
    // Offsets an earlier search for a block string's end passed through without finding one:
    // a later search that reaches one of them fails the same way, so every offset is searched
    // at most once and the scan stays linear (`""""\` repeated would otherwise rescan the
    // rest of the text at every quote).
    let mut dead_end: Vec<bool> = Vec::new();
    while i < b.len() {
        match b[i] {
            b'#' => {
                while i < b.len() && b[i] != b'\n' && b[i] != b'\r' {
                    i += 1;
                }
                continue;
            }
            b'"' => {
                if b[i..].starts_with(b"\"\"\"") {
                    // An unterminated block string backtracks in the grammar to an empty
                    // string `""` followed by more input: do the same.
                    i = match block_string_end(b, i + 3, &mut dead_end) {
                        Some(end) => end,
                        None => i + 2,
                    };
                    continue;
                }
                i += 1;
                while i < b.len() {
                    match b[i] {
                        b'\\' => i += 2,
                        b'"' => {
                            i += 1;
                            break;
                        }
                        b'\n' | b'\r' => break,
                        _ => i += 1,
                    }
                }
                continue;
            }
            b'{' | b'[' | b'(' => {
                depth += 1;
                if depth > MAX_NESTING_DEPTH {
                    out.too_deep_at = Some(i);
                    return out;
                }
            }
            b'}' | b']' | b')' => depth = depth.saturating_sub(1),
            b'f' if depth == 0
                && b[i..].starts_with(b"fragment")
                && (i == 0 || !is_name(b[i - 1]))
                && !b.get(i + 8).copied().is_some_and(is_name) =>
            {
                out.fragments += 1;
                i += 8;
                continue;
            }
            _ => {}
        }
        i += 1;
    }
    out
}

/// The offset after the `"""` that closes a block string whose body starts at `from` (an
/// escaped `\"""` does not close it), or `None` when the text ends first. Offsets searched in
/// vain are marked in `dead_end` so that no offset is searched twice.
fn block_string_end(b: &[u8], from: usize, dead_end: &mut Vec<bool>) -> Option<usize> {
    let step = |j: usize| if b[j..].starts_with(b"\\\"\"\"") { j + 4 } else { j + 1 };
    let mut j = from;
    while j < b.len() && !dead_end.get(j).copied().unwrap_or(false) {
        if b[j..].starts_with(b"\"\"\"") {
            return Some(j + 3);
        }
        j = step(j);
    }
    // No end: walk the same path again, marking it.
    if dead_end.is_empty() {
        dead_end.resize(b.len(), false);
    }
    let mut j = from;
    while j < b.len() && !dead_end[j] {
        dead_end[j] = true;
        j = step(j);
    }
    None
}

/// Human words for what a grammar rule stands for in "expected ..." lists.
fn friendly(rule: Rule) -> &'static [&'static str] {
    match rule {
        Rule::EOI => &["end of input"],
        Rule::lbrace | Rule::selection_set | Rule::shorthand_query | Rule::object => &["`{`"],
        Rule::rbrace => &["`}`"],
        Rule::arguments | Rule::variable_defs => &["`(`"],
        Rule::rparen => &["`)`"],
        Rule::list | Rule::list_type => &["`[`"],
        Rule::rbracket => &["`]`"],
        Rule::colon => &["`:`"],
        Rule::equals | Rule::default_value => &["`=`"],
        Rule::bang => &["`!`"],
        Rule::directive => &["`@`"],
        Rule::fragment_spread => &["`...`"],
        Rule::kw_query => &["`query`"],
        Rule::kw_mutation => &["`mutation`"],
        Rule::kw_transaction => &["`transaction`"],
        Rule::kw_subscription => &["`subscription`"],
        Rule::operation => &["`query`", "`mutation`", "`subscription`"],
        Rule::kw_fragment | Rule::fragment_def => &["`fragment`"],
        Rule::kw_on => &["`on`"],
        Rule::kw_schema | Rule::schema_def => &["`schema`"],
        Rule::kw_define | Rule::collection_def => &["`define`"],
        Rule::kw_collection => &["`collection`"],
        Rule::kw_migrate | Rule::migrate_def | Rule::migrate_data_step => &["`migrate`"],
        Rule::kw_alter | Rule::alter_step => &["`alter`"],
        Rule::kw_add | Rule::add_action => &["`add`"],
        Rule::kw_drop | Rule::drop_action => &["`drop`"],
        Rule::kw_rename | Rule::rename_action => &["`rename`"],
        Rule::kw_to => &["`to`"],
        Rule::kw_modify | Rule::modify_action => &["`modify`"],
        Rule::kw_data => &["`data`"],
        Rule::kw_in => &["`in`"],
        Rule::kw_set | Rule::set_stmt => &["`set`"],
        Rule::kw_where | Rule::where_clause => &["`where`"],
        Rule::kw_if | Rule::if_not_exists => &["`if not exists`"],
        Rule::kw_not => &["`not`"],
        Rule::kw_exists => &["`exists`"],
        Rule::kw_enum | Rule::enum_def => &["`enum`"],
        Rule::enum_value => &["enum value"],
        Rule::operation_name => &["operation name"],
        Rule::fragment_name => &["fragment name"],
        Rule::type_condition | Rule::collection_name => &["collection name"],
        Rule::field | Rule::field_name | Rule::field_path | Rule::field_def => &["field name"],
        Rule::argument | Rule::arg_name => &["argument name"],
        Rule::type_ref => &["type"],
        Rule::type_name => &["type name"],
        Rule::directive_name => &["directive name"],
        Rule::object_field | Rule::object_key_path => &["object key"],
        Rule::migration_version | Rule::version_name => &["version string"],
        Rule::variable | Rule::variable_def => &["variable"],
        Rule::value => &["value"],
        Rule::number => &["number"],
        Rule::string | Rule::string_inner | Rule::block_string_inner => &["string"],
        Rule::word => &["identifier"],
        Rule::document => &["`query`", "`mutation`", "`subscription`", "`schema`", "`migrate`", "`fragment`", "`{`"],
        #[allow(unreachable_patterns)]
        _ => &["valid input"],
    }
}

/// The token starting at `offset`, quoted for messages ("`)`", "end of input").
fn found_token(text: &str, offset: usize) -> String {
    const MAX_CHARS: usize = 24;
    let rest = match text.get(offset..) {
        Some(r) if !r.is_empty() => r,
        _ => return "end of input".to_string(),
    };
    let first = match rest.chars().next() {
        Some(c) => c,
        None => return "end of input".to_string(),
    };
    let word_char = |c: char| c.is_alphanumeric() || c == '_' || c == '.' || c == '$';
    let token: String = if rest.starts_with("...") {
        "...".to_string()
    } else if first == '"' {
        let mut end = rest.len();
        let mut escaped = false;
        for (i, c) in rest.char_indices().skip(1) {
            if c == '\n' || c == '\r' {
                end = i;
                break;
            }
            if escaped {
                escaped = false;
            } else if c == '\\' {
                escaped = true;
            } else if c == '"' {
                end = i + 1;
                break;
            }
        }
        rest.get(..end).unwrap_or(rest).to_string()
    } else if word_char(first) || first == '-' {
        let mut s = String::new();
        for (i, c) in rest.char_indices() {
            if !(word_char(c) || (i == 0 && c == '-')) {
                break;
            }
            s.push(c);
        }
        s
    } else {
        first.to_string()
    };
    let mut chars = token.chars();
    let short: String = chars.by_ref().take(MAX_CHARS).collect();
    if chars.next().is_some() {
        format!("`{short}…`")
    } else {
        format!("`{short}`")
    }
}

/// Sort key for "expected" words: closers first, then names and values,
/// then other punctuation and keywords, then end of input.
fn expected_rank(word: &str) -> u8 {
    match word {
        "`}`" | "`)`" | "`]`" => 0,
        "end of input" => 3,
        w if w.starts_with('`') => 2,
        _ => 1,
    }
}

/// Formats an "expected" list: "`}`", "`}` or field name", "one of a, b, c".
fn expected_phrase(expected: &[String]) -> String {
    match expected {
        [] => "valid input".to_string(),
        [one] => one.clone(),
        [a, b] => format!("{a} or {b}"),
        many => format!("one of {}", many.join(", ")),
    }
}

mod builder;
mod lexical;
#[cfg(test)]
mod tests;

use builder::Builder;
