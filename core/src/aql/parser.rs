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
    if let Some(offset) = excessive_nesting(text) {
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

/// Returns the byte offset of the first bracket that exceeds [`MAX_NESTING_DEPTH`].
///
/// Strings, block strings and comments are skipped the way the grammar reads
/// them; where the two could disagree (malformed strings) this errs towards
/// counting more brackets, never fewer.
fn excessive_nesting(text: &str) -> Option<usize> {
    let b = text.as_bytes();
    let mut depth = 0usize;
    let mut i = 0usize;
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
                    let mut j = i + 3;
                    let mut closed = false;
                    while j < b.len() {
                        if b[j..].starts_with(b"\\\"\"\"") {
                            j += 4;
                        } else if b[j..].starts_with(b"\"\"\"") {
                            j += 3;
                            closed = true;
                            break;
                        } else {
                            j += 1;
                        }
                    }
                    // An unterminated block string backtracks in the grammar to
                    // an empty string `""` followed by more input: do the same.
                    i = if closed { j } else { i + 2 };
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
                    return Some(i);
                }
            }
            b'}' | b']' | b')' => depth = depth.saturating_sub(1),
            _ => {}
        }
        i += 1;
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

/// Walks pest's pairs into the AST, tracking line/column positions incrementally.
struct Builder<'a> {
    text: &'a str,
    /// Byte offset, line and column of the last position computed.
    cursor: (usize, usize, usize),
}

impl<'a> Builder<'a> {
    fn new(text: &'a str) -> Self {
        Builder { text, cursor: (0, 1, 1) }
    }

    /// Line and column of a byte offset; cheap when offsets are visited in order.
    fn pos_at(&mut self, offset: usize) -> Pos {
        let mut offset = offset.min(self.text.len());
        while offset > 0 && !self.text.is_char_boundary(offset) {
            offset -= 1;
        }
        if offset < self.cursor.0 {
            self.cursor = (0, 1, 1);
        }
        let (start, mut line, mut column) = self.cursor;
        for c in self.text.get(start..offset).unwrap_or("").chars() {
            if c == '\n' {
                line += 1;
                column = 1;
            } else {
                column += 1;
            }
        }
        self.cursor = (offset, line, column);
        Pos { line, column }
    }

    fn pos(&mut self, pair: &Pair<'_, Rule>) -> Pos {
        self.pos_at(pair.as_span().start())
    }

    fn error_at(&mut self, offset: usize, message: String, expected: Vec<String>) -> ParseError {
        let Pos { line, column } = self.pos_at(offset);
        ParseError { message, line, column, expected }
    }

    /// An error for a tree shape the grammar should have ruled out (never expected).
    fn internal(&mut self, offset: usize, what: &str) -> ParseError {
        self.error_at(offset, format!("internal parser error: missing {what}"), Vec::new())
    }

    fn pest_error(&mut self, e: PestError<Rule>) -> ParseError {
        let offset = match e.location {
            InputLocation::Pos(p) => p,
            InputLocation::Span((s, _)) => s,
        };
        match e.variant {
            ErrorVariant::ParsingError { positives, negatives } => {
                if self.text.get(offset..).is_some_and(|r| r.starts_with('"')) {
                    // `"""abc` without a closing `"""` backtracks to `""` + `"abc`:
                    // report the block string, not the second string.
                    let block_start =
                        offset.checked_sub(2).filter(|&s| self.text.get(s..).is_some_and(|r| r.starts_with("\"\"\"")));
                    for start in block_start.into_iter().chain([offset]) {
                        if let Some(err) = self.diagnose_string(start) {
                            return err;
                        }
                    }
                }
                let mut expected: Vec<String> = Vec::new();
                for rule in positives {
                    for word in friendly(rule) {
                        if !expected.iter().any(|e| e == word) {
                            expected.push((*word).to_string());
                        }
                    }
                }
                expected.sort_by_key(|w| expected_rank(w));
                let found = found_token(self.text, offset);
                let message = if expected.is_empty() && !negatives.is_empty() {
                    format!("unexpected {found}")
                } else {
                    format!("expected {}; found {found}", expected_phrase(&expected))
                };
                self.error_at(offset, message, expected)
            }
            ErrorVariant::CustomError { message } => {
                let message = if message.contains("limit") {
                    format!("document too complex to parse ({message})")
                } else {
                    message
                };
                self.error_at(offset, message, Vec::new())
            }
        }
    }

    /// Explains why the string literal starting at `offset` does not parse, if it doesn't.
    fn diagnose_string(&mut self, offset: usize) -> Option<ParseError> {
        let rest = self.text.get(offset..)?;
        if rest.starts_with("\"\"\"") {
            let mut i = 3;
            while i < rest.len() {
                let tail = rest.get(i..)?;
                if tail.starts_with("\\\"\"\"") {
                    i += 4;
                } else if tail.starts_with("\"\"\"") {
                    return None;
                } else {
                    i += tail.chars().next().map_or(1, char::len_utf8);
                }
            }
            return Some(self.error_at(
                offset,
                "unterminated block string: expected closing `\"\"\"`".to_string(),
                vec!["`\"\"\"`".to_string()],
            ));
        }
        let mut chars = rest.char_indices().skip(1);
        while let Some((i, c)) = chars.next() {
            match c {
                '"' => return None,
                '\n' | '\r' => break,
                '\\' => {
                    let ok = match chars.next().map(|(_, c)| c) {
                        Some('"' | '\\' | '/' | 'b' | 'f' | 'n' | 'r' | 't') => true,
                        Some('u') => read_unicode_escape(rest, i).is_some(),
                        _ => false,
                    };
                    if !ok {
                        return Some(self.error_at(
                            offset + i,
                            format!(
                                "invalid escape sequence {} in string",
                                found_token_escape(rest.get(i..).unwrap_or(""))
                            ),
                            vec!["escape sequence (\\\" \\\\ \\/ \\b \\f \\n \\r \\t \\uXXXX)".to_string()],
                        ));
                    }
                }
                _ => {}
            }
        }
        Some(self.error_at(
            offset,
            "unterminated string: expected closing `\"` before the end of the line".to_string(),
            vec!["`\"`".to_string()],
        ))
    }

    // ------------------------------------------------------------ document

    fn document(&mut self, pair: Pair<'_, Rule>) -> Result<AqlDocument> {
        let mut operations = Vec::new();
        let mut fragments = Vec::new();
        for p in pair.into_inner() {
            match p.as_rule() {
                Rule::operation => operations.push(self.operation(p)?),
                Rule::shorthand_query => {
                    let pos = self.pos(&p);
                    let mut selections = Vec::new();
                    for q in p.into_inner() {
                        if q.as_rule() == Rule::selection_set {
                            selections = self.selection_set(q)?;
                        }
                    }
                    operations.push(Operation {
                        kind: OperationKind::Query,
                        name: None,
                        variables: Vec::new(),
                        body: OperationBody::Selections(selections),
                        pos,
                    });
                }
                Rule::fragment_def => fragments.push(self.fragment_def(p)?),
                Rule::schema_def => operations.push(self.schema_def(p)?),
                Rule::migrate_def => operations.push(self.migrate_def(p)?),
                _ => {}
            }
        }
        if operations.is_empty() && fragments.is_empty() {
            let expected = ["`query`", "`mutation`", "`subscription`", "`schema`", "`migrate`", "`fragment`", "`{`"];
            return Err(self.error_at(
                self.text.len(),
                "empty document: expected an operation (`query`, `mutation`, `subscription`, \
                 `schema`, `migrate`) or a fragment"
                    .to_string(),
                expected.iter().map(|s| (*s).to_string()).collect(),
            ));
        }
        Ok(AqlDocument { operations, fragments })
    }

    fn operation(&mut self, pair: Pair<'_, Rule>) -> Result<Operation> {
        let pos = self.pos(&pair);
        let mut kind = OperationKind::Query;
        let mut name = None;
        let mut variables = Vec::new();
        let mut selections = Vec::new();
        for p in pair.into_inner() {
            match p.as_rule() {
                Rule::kw_query => kind = OperationKind::Query,
                Rule::kw_mutation => kind = OperationKind::Mutation,
                Rule::kw_subscription => kind = OperationKind::Subscription,
                Rule::operation_name => name = Some(p.as_str().to_string()),
                Rule::variable_defs => {
                    for q in p.into_inner() {
                        if q.as_rule() == Rule::variable_def {
                            variables.push(self.variable_def(q)?);
                        }
                    }
                }
                Rule::selection_set => selections = self.selection_set(p)?,
                _ => {}
            }
        }
        Ok(Operation { kind, name, variables, body: OperationBody::Selections(selections), pos })
    }

    fn variable_def(&mut self, pair: Pair<'_, Rule>) -> Result<VariableDef> {
        let pos = self.pos(&pair);
        let start = pair.as_span().start();
        let mut name = None;
        let mut ty = None;
        let mut default = None;
        for p in pair.into_inner() {
            match p.as_rule() {
                Rule::variable => name = Some(variable_name(p.as_str())),
                Rule::type_ref => ty = Some(self.type_ref(p)?),
                Rule::default_value => {
                    for q in p.into_inner() {
                        if q.as_rule() == Rule::value {
                            default = Some(self.value(q)?);
                        }
                    }
                }
                _ => {}
            }
        }
        match (name, ty) {
            (Some(name), Some(ty)) => Ok(VariableDef { name, ty, default, pos }),
            _ => Err(self.internal(start, "variable name or type")),
        }
    }

    fn type_ref(&mut self, pair: Pair<'_, Rule>) -> Result<TypeRef> {
        let start = pair.as_span().start();
        let mut base = None;
        let mut non_null = false;
        for p in pair.into_inner() {
            match p.as_rule() {
                Rule::type_name => base = Some(TypeRef::Named(p.as_str().to_string())),
                Rule::list_type => {
                    for q in p.into_inner() {
                        if q.as_rule() == Rule::type_ref {
                            base = Some(TypeRef::List(Box::new(self.type_ref(q)?)));
                        }
                    }
                }
                Rule::bang => non_null = true,
                _ => {}
            }
        }
        match base {
            Some(t) if non_null => Ok(TypeRef::NonNull(Box::new(t))),
            Some(t) => Ok(t),
            None => Err(self.internal(start, "type")),
        }
    }

    fn selection_set(&mut self, pair: Pair<'_, Rule>) -> Result<Vec<Selection>> {
        let mut out = Vec::new();
        for p in pair.into_inner() {
            match p.as_rule() {
                Rule::field => out.push(Selection::Field(self.field(p)?)),
                Rule::fragment_spread => {
                    let pos = self.pos(&p);
                    let start = p.as_span().start();
                    let name =
                        p.into_inner().find(|q| q.as_rule() == Rule::fragment_name).map(|q| q.as_str().to_string());
                    match name {
                        Some(name) => out.push(Selection::FragmentSpread { name, pos }),
                        None => return Err(self.internal(start, "fragment name")),
                    }
                }
                _ => {}
            }
        }
        Ok(out)
    }

    fn field(&mut self, pair: Pair<'_, Rule>) -> Result<Field> {
        let pos = self.pos(&pair);
        let start = pair.as_span().start();
        let mut names: Vec<String> = Vec::with_capacity(2);
        let mut args = Vec::new();
        let mut selections = Vec::new();
        for p in pair.into_inner() {
            match p.as_rule() {
                Rule::field_name => names.push(p.as_str().to_string()),
                Rule::arguments => args = self.arguments(p)?,
                Rule::selection_set => selections = self.selection_set(p)?,
                _ => {}
            }
        }
        let (alias, name) = match names.len() {
            1 => (None, names.pop()),
            2 => {
                let name = names.pop();
                (names.pop(), name)
            }
            _ => (None, None),
        };
        match name {
            Some(name) => Ok(Field { alias, name, args, selections, pos }),
            None => Err(self.internal(start, "field name")),
        }
    }

    fn arguments(&mut self, pair: Pair<'_, Rule>) -> Result<Vec<Argument>> {
        let mut out = Vec::new();
        for p in pair.into_inner() {
            if p.as_rule() != Rule::argument {
                continue;
            }
            let pos = self.pos(&p);
            let start = p.as_span().start();
            let mut name = None;
            let mut value = None;
            for q in p.into_inner() {
                match q.as_rule() {
                    Rule::arg_name => name = Some(q.as_str().to_string()),
                    Rule::value => value = Some(self.value(q)?),
                    _ => {}
                }
            }
            match (name, value) {
                (Some(name), Some(value)) => out.push(Argument { name, value, pos }),
                _ => return Err(self.internal(start, "argument")),
            }
        }
        Ok(out)
    }

    // ------------------------------------------------------------ values

    fn value(&mut self, pair: Pair<'_, Rule>) -> Result<AstValue> {
        let start = pair.as_span().start();
        match pair.into_inner().next() {
            Some(inner) => self.value_inner(inner),
            None => Err(self.internal(start, "value")),
        }
    }

    /// Lists and objects recurse here; scalars go to [`Self::scalar`], kept out
    /// of line so the recursive frames stay small (deep nesting, small stacks).
    fn value_inner(&mut self, p: Pair<'_, Rule>) -> Result<AstValue> {
        match p.as_rule() {
            Rule::list => {
                let mut items = Vec::new();
                for q in p.into_inner() {
                    if q.as_rule() == Rule::value {
                        items.push(self.value(q)?);
                    }
                }
                Ok(AstValue::List(items))
            }
            Rule::object => self.object(p),
            _ => self.scalar(p),
        }
    }

    #[inline(never)]
    fn scalar(&mut self, p: Pair<'_, Rule>) -> Result<AstValue> {
        let start = p.as_span().start();
        let s = p.as_str();
        Ok(match p.as_rule() {
            Rule::variable => AstValue::Variable(variable_name(s)),
            Rule::number if !valid_number(s) => {
                return Err(self.error_at(start, format!("invalid number `{s}`"), vec!["number".to_string()]))
            }
            Rule::number if !s.contains(['.', 'e', 'E']) => match s.parse::<i64>() {
                Ok(i) => AstValue::Int(i),
                Err(_) => {
                    return Err(self.error_at(
                        start,
                        format!("integer literal {s} does not fit in a 64-bit signed integer"),
                        vec!["integer between -9223372036854775808 and 9223372036854775807".to_string()],
                    ))
                }
            },
            Rule::number => match s.parse::<f64>() {
                Ok(f) if f.is_finite() => AstValue::Float(f),
                _ => {
                    return Err(self.error_at(
                        start,
                        format!("float literal {s} is out of range"),
                        vec!["finite number".to_string()],
                    ))
                }
            },
            Rule::string => AstValue::String(self.string(p)?),
            Rule::word => match s {
                "true" => AstValue::Bool(true),
                "false" => AstValue::Bool(false),
                "null" => AstValue::Null,
                _ => AstValue::Enum(self.path(&p)?),
            },
            _ => return Err(self.internal(start, "value")),
        })
    }

    fn object(&mut self, pair: Pair<'_, Rule>) -> Result<AstValue> {
        let mut entries = Vec::new();
        for p in pair.into_inner() {
            if p.as_rule() != Rule::object_field {
                continue;
            }
            let start = p.as_span().start();
            let mut key = None;
            let mut value = None;
            for q in p.into_inner() {
                match q.as_rule() {
                    Rule::object_key_path => key = Some(self.path(&q)?),
                    Rule::string => key = Some(self.string(q)?),
                    Rule::value => value = Some(self.value(q)?),
                    _ => {}
                }
            }
            match (key, value) {
                (Some(k), Some(v)) => entries.push((k, v)),
                _ => return Err(self.internal(start, "object field")),
            }
        }
        Ok(AstValue::Object(entries))
    }

    /// The text of a dotted-path pair, rejecting empty segments (`a..b`, `a.`).
    fn path(&mut self, pair: &Pair<'_, Rule>) -> Result<String> {
        let s = pair.as_str();
        if s.split('.').any(str::is_empty) {
            return Err(self.error_at(
                pair.as_span().start(),
                format!("invalid dotted path `{s}`: empty segment"),
                vec!["name after `.`".to_string()],
            ));
        }
        Ok(s.to_string())
    }

    /// The value of a `string` pair (plain or block), escapes resolved.
    fn string(&mut self, pair: Pair<'_, Rule>) -> Result<String> {
        let start = pair.as_span().start();
        match pair.into_inner().next() {
            Some(inner) if inner.as_rule() == Rule::block_string_inner => Ok(block_string_value(inner.as_str())),
            Some(inner) => {
                let offset = inner.as_span().start();
                unescape(inner.as_str()).map_err(|(at, msg)| self.error_at(offset + at, msg, Vec::new()))
            }
            None => Err(self.internal(start, "string contents")),
        }
    }

    // ------------------------------------------------------------ fragments

    fn fragment_def(&mut self, pair: Pair<'_, Rule>) -> Result<Fragment> {
        let pos = self.pos(&pair);
        let start = pair.as_span().start();
        let mut name = None;
        let mut type_condition = None;
        let mut selections = Vec::new();
        for p in pair.into_inner() {
            match p.as_rule() {
                Rule::fragment_name => name = Some(p.as_str().to_string()),
                Rule::type_condition => type_condition = Some(p.as_str().to_string()),
                Rule::selection_set => selections = self.selection_set(p)?,
                _ => {}
            }
        }
        match (name, type_condition) {
            (Some(name), Some(type_condition)) => Ok(Fragment { name, type_condition, selections, pos }),
            _ => Err(self.internal(start, "fragment name or type condition")),
        }
    }

    // ------------------------------------------------------------ schema

    fn schema_def(&mut self, pair: Pair<'_, Rule>) -> Result<Operation> {
        let pos = self.pos(&pair);
        let mut collections = Vec::new();
        for p in pair.into_inner() {
            if p.as_rule() == Rule::collection_def {
                collections.push(self.collection_def(p)?);
            }
        }
        Ok(Operation {
            kind: OperationKind::Schema,
            name: None,
            variables: Vec::new(),
            body: OperationBody::Schema(collections),
            pos,
        })
    }

    fn collection_def(&mut self, pair: Pair<'_, Rule>) -> Result<CollectionDef> {
        let pos = self.pos(&pair);
        let start = pair.as_span().start();
        let mut name = None;
        let mut fields = Vec::new();
        let mut directives = Vec::new();
        for p in pair.into_inner() {
            match p.as_rule() {
                Rule::collection_name => name = Some(p.as_str().to_string()),
                Rule::directive => directives.push(self.directive(p)?),
                Rule::field_def => fields.push(self.field_def(p)?),
                _ => {}
            }
        }
        match name {
            Some(name) => Ok(CollectionDef { name, fields, directives, pos }),
            None => Err(self.internal(start, "collection name")),
        }
    }

    fn field_def(&mut self, pair: Pair<'_, Rule>) -> Result<FieldDef> {
        let pos = self.pos(&pair);
        let start = pair.as_span().start();
        let mut name = None;
        let mut ty = None;
        let mut directives = Vec::new();
        for p in pair.into_inner() {
            match p.as_rule() {
                Rule::field_path => name = Some(self.path(&p)?),
                Rule::type_ref => ty = Some(self.type_ref(p)?),
                Rule::directive => directives.push(self.directive(p)?),
                _ => {}
            }
        }
        match (name, ty) {
            (Some(name), Some(ty)) => Ok(FieldDef { name, ty, directives, pos }),
            _ => Err(self.internal(start, "field name or type")),
        }
    }

    fn directive(&mut self, pair: Pair<'_, Rule>) -> Result<Directive> {
        let start = pair.as_span().start();
        let mut name = None;
        let mut args = Vec::new();
        for p in pair.into_inner() {
            match p.as_rule() {
                Rule::directive_name => name = Some(p.as_str().to_string()),
                Rule::arguments => args = self.arguments(p)?,
                _ => {}
            }
        }
        match name {
            Some(name) => Ok(Directive { name, args }),
            None => Err(self.internal(start, "directive name")),
        }
    }

    // ------------------------------------------------------------ migrations

    fn migrate_def(&mut self, pair: Pair<'_, Rule>) -> Result<Operation> {
        let pos = self.pos(&pair);
        let mut versions = Vec::new();
        for p in pair.into_inner() {
            if p.as_rule() == Rule::migration_version {
                versions.push(self.migration_version(p)?);
            }
        }
        Ok(Operation {
            kind: OperationKind::Migrate,
            name: None,
            variables: Vec::new(),
            body: OperationBody::Migrate(versions),
            pos,
        })
    }

    fn migration_version(&mut self, pair: Pair<'_, Rule>) -> Result<MigrationVersion> {
        let pos = self.pos(&pair);
        let start = pair.as_span().start();
        let mut version = None;
        let mut steps = Vec::new();
        for p in pair.into_inner() {
            match p.as_rule() {
                Rule::string => version = Some(self.string(p)?),
                Rule::version_name => version = Some(p.as_str().to_string()),
                Rule::alter_step => steps.push(self.alter_step(p)?),
                Rule::migrate_data_step => steps.push(self.migrate_data_step(p)?),
                _ => {}
            }
        }
        match version {
            Some(version) => Ok(MigrationVersion { version, steps, pos }),
            None => Err(self.internal(start, "version")),
        }
    }

    fn alter_step(&mut self, pair: Pair<'_, Rule>) -> Result<MigrationStep> {
        let pos = self.pos(&pair);
        let start = pair.as_span().start();
        let mut collection = None;
        let mut actions = Vec::new();
        for p in pair.into_inner() {
            match p.as_rule() {
                Rule::collection_name => collection = Some(p.as_str().to_string()),
                Rule::add_action | Rule::modify_action => {
                    let is_add = p.as_rule() == Rule::add_action;
                    let action_start = p.as_span().start();
                    let def = match p.into_inner().find(|q| q.as_rule() == Rule::field_def) {
                        Some(q) => self.field_def(q)?,
                        None => return Err(self.internal(action_start, "field definition")),
                    };
                    actions.push(if is_add { AlterAction::Add(def) } else { AlterAction::Modify(def) });
                }
                Rule::drop_action => {
                    let action_pos = self.pos(&p);
                    let action_start = p.as_span().start();
                    match p.into_inner().find(|q| q.as_rule() == Rule::field_path) {
                        Some(q) => actions.push(AlterAction::Drop { field: self.path(&q)?, pos: action_pos }),
                        None => return Err(self.internal(action_start, "field name")),
                    }
                }
                Rule::rename_action => {
                    let action_pos = self.pos(&p);
                    let action_start = p.as_span().start();
                    let mut names = Vec::with_capacity(2);
                    for q in p.into_inner() {
                        if q.as_rule() == Rule::field_path {
                            names.push(self.path(&q)?);
                        }
                    }
                    let mut names = names.into_iter();
                    match (names.next(), names.next()) {
                        (Some(from), Some(to)) => actions.push(AlterAction::Rename { from, to, pos: action_pos }),
                        _ => return Err(self.internal(action_start, "field names")),
                    }
                }
                _ => {}
            }
        }
        match collection {
            Some(collection) => Ok(MigrationStep::Alter { collection, actions, pos }),
            None => Err(self.internal(start, "collection name")),
        }
    }

    fn migrate_data_step(&mut self, pair: Pair<'_, Rule>) -> Result<MigrationStep> {
        let pos = self.pos(&pair);
        let start = pair.as_span().start();
        let mut collection = None;
        let mut sets = Vec::new();
        for p in pair.into_inner() {
            match p.as_rule() {
                Rule::collection_name => collection = Some(p.as_str().to_string()),
                Rule::set_stmt => sets.push(self.set_stmt(p)?),
                _ => {}
            }
        }
        match collection {
            Some(collection) => Ok(MigrationStep::MigrateData { collection, sets, pos }),
            None => Err(self.internal(start, "collection name")),
        }
    }

    fn set_stmt(&mut self, pair: Pair<'_, Rule>) -> Result<SetStmt> {
        let pos = self.pos(&pair);
        let start = pair.as_span().start();
        let mut field = None;
        let mut expr = None;
        let mut where_clause = None;
        for p in pair.into_inner() {
            match p.as_rule() {
                Rule::field_path => field = Some(self.path(&p)?),
                Rule::value => expr = Some(self.value(p)?),
                Rule::where_clause => {
                    for q in p.into_inner() {
                        if q.as_rule() == Rule::object {
                            where_clause = Some(self.object(q)?);
                        }
                    }
                }
                _ => {}
            }
        }
        match (field, expr) {
            (Some(field), Some(expr)) => Ok(SetStmt { field, expr, where_clause, pos }),
            _ => Err(self.internal(start, "set statement")),
        }
    }
}

/// Whether a loosely lexed number is `-?digits(.digits)?([eE][+-]?digits)?`.
fn valid_number(s: &str) -> bool {
    fn digits(b: &[u8]) -> usize {
        b.iter().take_while(|c| c.is_ascii_digit()).count()
    }
    let b = s.as_bytes();
    let mut i = usize::from(b.first() == Some(&b'-'));
    let n = digits(&b[i..]);
    if n == 0 {
        return false;
    }
    i += n;
    if b.get(i) == Some(&b'.') {
        let n = digits(&b[i + 1..]);
        if n == 0 {
            return false;
        }
        i += 1 + n;
    }
    if matches!(b.get(i), Some(b'e' | b'E')) {
        i += 1;
        if matches!(b.get(i), Some(b'+' | b'-')) {
            i += 1;
        }
        let n = digits(&b[i..]);
        if n == 0 {
            return false;
        }
        i += n;
    }
    i == b.len()
}

/// `$name` → `name`.
fn variable_name(s: &str) -> String {
    s.strip_prefix('$').unwrap_or(s).to_string()
}

/// Quotes the escape sequence at the start of `s` (a backslash and one more character).
fn found_token_escape(s: &str) -> String {
    let esc: String = s.chars().take(2).collect();
    format!("`{esc}`")
}

/// Resolves escapes in a string body already validated by the grammar.
///
/// Errors carry the byte offset (within `s`) of the offending escape.
fn unescape(s: &str) -> std::result::Result<String, (usize, String)> {
    if !s.contains('\\') {
        return Ok(s.to_string());
    }
    let bytes = s.as_bytes();
    let mut out = String::with_capacity(s.len());
    let mut i = 0usize;
    let mut literal_start = 0usize;
    let bad = |at: usize, what: &str| (at, format!("invalid {what} in string"));
    while i < bytes.len() {
        if bytes[i] != b'\\' {
            i += 1;
            continue;
        }
        out.push_str(s.get(literal_start..i).unwrap_or(""));
        let esc_start = i;
        let simple = match bytes.get(i + 1) {
            Some(b'"') => Some('"'),
            Some(b'\\') => Some('\\'),
            Some(b'/') => Some('/'),
            Some(b'b') => Some('\u{8}'),
            Some(b'f') => Some('\u{c}'),
            Some(b'n') => Some('\n'),
            Some(b'r') => Some('\r'),
            Some(b't') => Some('\t'),
            Some(b'u') => None,
            _ => return Err(bad(esc_start, "escape sequence")),
        };
        if let Some(c) = simple {
            out.push(c);
            i += 2;
        } else {
            let (code, len) = read_unicode_escape(s, i).ok_or_else(|| bad(i, "unicode escape"))?;
            i += len;
            let c = if (0xD800..0xDC00).contains(&code) {
                // A high surrogate must be followed by a `\uXXXX` low surrogate.
                match read_unicode_escape(s, i) {
                    Some((low, low_len)) if (0xDC00..0xE000).contains(&low) => {
                        i += low_len;
                        char::from_u32(0x10000 + ((code - 0xD800) << 10) + (low - 0xDC00))
                    }
                    _ => None,
                }
            } else {
                char::from_u32(code)
            };
            match c {
                Some(c) => out.push(c),
                None => return Err(bad(esc_start, "unicode escape (not a valid code point)")),
            }
        }
        literal_start = i;
    }
    out.push_str(s.get(literal_start..).unwrap_or(""));
    Ok(out)
}

/// Reads `\uXXXX` or `\u{X..}` at byte `i` of `s`: (code point, length in bytes).
fn read_unicode_escape(s: &str, i: usize) -> Option<(u32, usize)> {
    let tail = s.get(i..)?.strip_prefix("\\u")?;
    if let Some(braced) = tail.strip_prefix('{') {
        let close = braced.find('}')?;
        let hex = braced.get(..close)?;
        if hex.is_empty() || hex.len() > 6 || !hex.bytes().all(|b| b.is_ascii_hexdigit()) {
            return None;
        }
        let code = u32::from_str_radix(hex, 16).ok()?;
        Some((code, 2 + 1 + close + 1))
    } else {
        let hex = tail.get(..4)?;
        if !hex.bytes().all(|b| b.is_ascii_hexdigit()) {
            return None;
        }
        Some((u32::from_str_radix(hex, 16).ok()?, 6))
    }
}

/// The value of a `"""block string"""` body (GraphQL rules: common indentation
/// removed, blank first/last lines dropped, `\"""` unescaped).
fn block_string_value(raw: &str) -> String {
    let raw = raw.replace("\\\"\"\"", "\"\"\"");
    let normalized = raw.replace("\r\n", "\n").replace('\r', "\n");
    let lines: Vec<&str> = normalized.split('\n').collect();
    let indent_of = |l: &str| l.len() - l.trim_start_matches([' ', '\t']).len();
    let common = lines
        .iter()
        .skip(1)
        .filter(|l| !l.trim_start_matches([' ', '\t']).is_empty())
        .map(|l| indent_of(l))
        .min()
        .unwrap_or(0);
    let mut out: Vec<&str> = lines
        .iter()
        .enumerate()
        .map(|(n, l)| {
            if n == 0 {
                l
            } else {
                // Leading indentation is ASCII, so `common` (≤ indent) is a char boundary.
                l.get(common.min(indent_of(l))..).unwrap_or("")
            }
        })
        .collect();
    let blank = |l: &&str| l.trim_start_matches([' ', '\t']).is_empty();
    while out.first().is_some_and(blank) {
        out.remove(0);
    }
    while out.last().is_some_and(blank) {
        out.pop();
    }
    out.join("\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ok(text: &str) -> AqlDocument {
        match parse(text) {
            Ok(d) => d,
            Err(e) => panic!("parse failed: {e}\n---\n{text}"),
        }
    }

    fn err(text: &str) -> ParseError {
        match parse(text) {
            Ok(d) => panic!("expected an error, got {d:?}\n---\n{text}"),
            Err(e) => e,
        }
    }

    fn root_fields(doc: &AqlDocument, op: usize) -> &[Selection] {
        match &doc.operations[op].body {
            OperationBody::Selections(s) => s,
            other => panic!("not a selection body: {other:?}"),
        }
    }

    fn field(sel: &Selection) -> &Field {
        match sel {
            Selection::Field(f) => f,
            other => panic!("not a field: {other:?}"),
        }
    }

    fn names(sels: &[Selection]) -> Vec<&str> {
        sels.iter()
            .map(|s| match s {
                Selection::Field(f) => f.response_key(),
                Selection::FragmentSpread { name, .. } => name.as_str(),
            })
            .collect()
    }

    fn obj<'a>(v: &'a AstValue, key: &str) -> &'a AstValue {
        match v {
            AstValue::Object(entries) => entries
                .iter()
                .find(|(k, _)| k == key)
                .map(|(_, v)| v)
                .unwrap_or_else(|| panic!("no key {key} in {v:?}")),
            other => panic!("not an object: {other:?}"),
        }
    }

    #[test]
    fn schema_define() {
        let doc = ok(r#"
            schema {
              define collection users {
                id: Uuid! @unique
                email: String! @unique @indexed
                age: Int @indexed
                tags: [String]
                profile: Object
                score: Float
                active: Boolean
                meta: Any @default(value: 1)
              }
              define collection logs @strict { msg: String, at: [Int!]! }
            }"#);
        let op = &doc.operations[0];
        assert_eq!(op.kind, OperationKind::Schema);
        let OperationBody::Schema(colls) = &op.body else { panic!("not schema") };
        assert_eq!(colls.len(), 2);
        let users = &colls[0];
        assert_eq!(users.name, "users");
        assert_eq!(users.fields.len(), 8);
        assert_eq!(users.fields[0].name, "id");
        assert_eq!(users.fields[0].ty, TypeRef::NonNull(Box::new(TypeRef::Named("Uuid".into()))));
        assert_eq!(users.fields[0].directives[0].name, "unique");
        let email: Vec<_> = users.fields[1].directives.iter().map(|d| d.name.as_str()).collect();
        assert_eq!(email, ["unique", "indexed"]);
        assert_eq!(users.fields[3].ty, TypeRef::List(Box::new(TypeRef::Named("String".into()))));
        assert_eq!(users.fields[7].directives[0].args[0].value, AstValue::Int(1));
        assert_eq!(users.pos, Pos { line: 3, column: 15 });
        let logs = &colls[1];
        assert_eq!(logs.directives[0].name, "strict");
        assert_eq!(
            logs.fields[1].ty,
            TypeRef::NonNull(Box::new(TypeRef::List(Box::new(TypeRef::NonNull(Box::new(TypeRef::Named(
                "Int".into()
            )))))))
        );
    }

    #[test]
    fn mutations() {
        let doc = ok(r#"
            mutation AddStuff {
              insertInto(collection: "users", data: { name: "Ann", age: 31, tags: ["a", "b"],
                         address: { city: "Oslo" }, score: 1.5e3, ratio: -0.25 }) { id name }
              update(collection: "users", data: { active: false }, where: { age: { lt: 18 } }) { id }
              deleteFrom(collection: "users", where: { name: { eq: "Bob" } }) { id }
              enqueueJob(jobType: "email", payload: { to: "a@b.c" }, priority: HIGH, maxRetries: 3) { id }
            }"#);
        let op = &doc.operations[0];
        assert_eq!(op.kind, OperationKind::Mutation);
        assert_eq!(op.name.as_deref(), Some("AddStuff"));
        let roots = root_fields(&doc, 0);
        assert_eq!(names(roots), ["insertInto", "update", "deleteFrom", "enqueueJob"]);
        let ins = field(&roots[0]);
        assert_eq!(ins.arg("collection"), Some(&AstValue::String("users".into())));
        let data = ins.arg("data").expect("data");
        assert_eq!(obj(data, "age"), &AstValue::Int(31));
        assert_eq!(obj(data, "score"), &AstValue::Float(1500.0));
        assert_eq!(obj(data, "ratio"), &AstValue::Float(-0.25));
        assert_eq!(obj(obj(data, "address"), "city"), &AstValue::String("Oslo".into()));
        assert_eq!(names(&ins.selections), ["id", "name"]);
        let job = field(&roots[3]);
        assert_eq!(job.arg("priority"), Some(&AstValue::Enum("HIGH".into())));
        assert_eq!(job.arg("maxRetries"), Some(&AstValue::Int(3)));
    }

    #[test]
    fn filters_order_limit() {
        let doc = ok(r#"query {
  users(where: { or: [ { and: [ { age: { gte: 18 } }, { age: { lte: 65 } } ] },
                       { role: { in: ["admin", "owner"] } } ],
                 address.city: { eq: "Oslo" }, "profile.bio": { contains: "rust" },
                 email: { endsWith: ".no" }, name: { startsWith: "A" },
                 deletedAt: { isNull: true }, nick: { isNotNull: true }, x: { ne: null } },
        orderBy: { age: DESC }, limit: 10, offset: 20) { name email age }
}"#);
        let users = field(&root_fields(&doc, 0)[0]);
        let w = users.arg("where").expect("where");
        let AstValue::Object(entries) = w else { panic!() };
        let keys: Vec<_> = entries.iter().map(|(k, _)| k.as_str()).collect();
        assert_eq!(keys, ["or", "address.city", "profile.bio", "email", "name", "deletedAt", "nick", "x"]);
        assert_eq!(obj(obj(w, "x"), "ne"), &AstValue::Null);
        assert_eq!(users.arg("orderBy"), Some(&AstValue::Object(vec![("age".into(), AstValue::Enum("DESC".into()))])));
        assert_eq!(users.arg("limit"), Some(&AstValue::Int(10)));
        assert_eq!(users.arg("offset"), Some(&AstValue::Int(20)));
        assert_eq!(users.pos, Pos { line: 2, column: 3 });
        assert_eq!(users.args[1].pos, Pos { line: 7, column: 9 });
    }

    #[test]
    fn pagination_aggregate_groupby() {
        let doc = ok(r#"
            query Page($c: String) {
              users(first: 2, after: $c, orderBy: {age: ASC}) {
                edges { cursor node { name } }
                pageInfo { hasNextPage endCursor }
              }
              orders(where: { status: { eq: "paid" } }) {
                aggregate { count sum(field: "amount") total: avg(field: "amount")
                            min(field: "amount") max(field: "amount") }
              }
              byRole: users { groupBy(field: "role") { key count aggregate { count } nodes { name } } }
            }"#);
        let roots = root_fields(&doc, 0);
        let users = field(&roots[0]);
        assert_eq!(users.arg("after"), Some(&AstValue::Variable("c".into())));
        assert_eq!(names(&users.selections), ["edges", "pageInfo"]);
        let edges = field(&users.selections[0]);
        assert_eq!(names(&edges.selections), ["cursor", "node"]);
        let agg = field(&field(&roots[1]).selections[0]);
        assert_eq!(names(&agg.selections), ["count", "sum", "total", "min", "max"]);
        let total = field(&agg.selections[2]);
        assert_eq!(total.alias.as_deref(), Some("total"));
        assert_eq!(total.name, "avg");
        let by_role = field(&roots[2]);
        assert_eq!(by_role.response_key(), "byRole");
        assert_eq!(by_role.name, "users");
        let gb = field(&by_role.selections[0]);
        assert_eq!(gb.name, "groupBy");
        assert_eq!(names(&gb.selections), ["key", "count", "aggregate", "nodes"]);
    }

    #[test]
    fn variables_aliases_fragments() {
        let doc = ok(r#"
            # leading comment
            query Adults($min: Int! = 18, $names: [String!], $o: Object = { a: 1 }) {
              grownups: users(where: { age: { gte: $min } }) { ...UserBits, id }
            }
            fragment UserBits on users { name email }
        "#);
        let op = &doc.operations[0];
        assert_eq!(op.variables.len(), 3);
        assert_eq!(op.variables[0].name, "min");
        assert_eq!(op.variables[0].ty, TypeRef::NonNull(Box::new(TypeRef::Named("Int".into()))));
        assert_eq!(op.variables[0].default, Some(AstValue::Int(18)));
        assert_eq!(op.variables[0].pos, Pos { line: 3, column: 26 });
        assert_eq!(
            op.variables[1].ty,
            TypeRef::List(Box::new(TypeRef::NonNull(Box::new(TypeRef::Named("String".into())))))
        );
        assert_eq!(op.variables[1].default, None);
        let users = field(&root_fields(&doc, 0)[0]);
        assert_eq!(users.alias.as_deref(), Some("grownups"));
        assert_eq!(
            users.selections[0],
            Selection::FragmentSpread { name: "UserBits".into(), pos: Pos { line: 4, column: 64 } }
        );
        let frag = &doc.fragments[0];
        assert_eq!(frag.name, "UserBits");
        assert_eq!(frag.type_condition, "users");
        assert_eq!(names(&frag.selections), ["name", "email"]);
    }

    #[test]
    fn migrations() {
        let doc = ok(r#"
            migrate {
              "v1.1.0": {
                alter collection users {
                  add email_verified: Boolean
                  drop legacy
                  rename name to full_name
                  modify age: Float @indexed
                }
                migrate data in users {
                  set email_verified = false
                  set tier = "gold" where { age: { gt: 30 } }
                  set copy = other_field
                  set n = -3
                  set address.zip = profile.zip where: { x: { isNull: true } }
                }
              }
              "v1.2.0": { alter collection data { drop query } }
            }"#);
        let op = &doc.operations[0];
        assert_eq!(op.kind, OperationKind::Migrate);
        let OperationBody::Migrate(versions) = &op.body else { panic!() };
        assert_eq!(versions.len(), 2);
        assert_eq!(versions[0].version, "v1.1.0");
        assert_eq!(versions[0].steps.len(), 2);
        let MigrationStep::Alter { collection, actions, .. } = &versions[0].steps[0] else { panic!() };
        assert_eq!(collection, "users");
        assert!(matches!(&actions[0], AlterAction::Add(f) if f.name == "email_verified"
            && f.ty == TypeRef::Named("Boolean".into())));
        assert!(matches!(&actions[1], AlterAction::Drop { field, pos }
            if field == "legacy" && *pos == Pos { line: 6, column: 19 }));
        assert!(matches!(&actions[2], AlterAction::Rename { from, to, .. } if from == "name" && to == "full_name"));
        assert!(matches!(&actions[3], AlterAction::Modify(f) if f.name == "age"
            && f.directives[0].name == "indexed"));
        let MigrationStep::MigrateData { collection, sets, .. } = &versions[0].steps[1] else { panic!() };
        assert_eq!(collection, "users");
        assert_eq!(sets.len(), 5);
        assert_eq!(sets[0].expr, AstValue::Bool(false));
        assert_eq!(sets[0].where_clause, None);
        assert_eq!(sets[1].expr, AstValue::String("gold".into()));
        assert!(sets[1].where_clause.is_some());
        assert_eq!(sets[2].expr, AstValue::Enum("other_field".into()));
        assert_eq!(sets[3].expr, AstValue::Int(-3));
        assert_eq!(sets[4].field, "address.zip");
        assert_eq!(sets[4].expr, AstValue::Enum("profile.zip".into()));
        assert!(sets[4].where_clause.is_some());
        let MigrationStep::Alter { collection, actions, .. } = &versions[1].steps[0] else { panic!() };
        assert_eq!(collection, "data");
        assert!(matches!(&actions[0], AlterAction::Drop { field, .. } if field == "query"));
    }

    #[test]
    fn subscription_and_several_operations() {
        let doc = ok(r#"
            subscription Watch { orders(where: { total: { gt: 100 } }) { id total } }
            query { data { query mutation } }
            { fragment schema }
        "#);
        assert_eq!(doc.operations.len(), 3);
        assert_eq!(doc.operations[0].kind, OperationKind::Subscription);
        assert_eq!(doc.operations[0].name.as_deref(), Some("Watch"));
        assert_eq!(doc.operations[0].pos, Pos { line: 2, column: 13 });
        let data = field(&root_fields(&doc, 1)[0]);
        assert_eq!(data.name, "data");
        assert_eq!(names(&data.selections), ["query", "mutation"]);
        assert_eq!(doc.operations[2].kind, OperationKind::Query);
        assert_eq!(names(root_fields(&doc, 2)), ["fragment", "schema"]);
    }

    #[test]
    fn scalar_values_and_strings() {
        let doc = ok(r#"{ f(a: "q\"\\\/\b\f\n\r\t\u00e9\u{1F600}\uD83D\uDE00", b: -9223372036854775808,
                           c: 9223372036854775807, d: 1e3, e: 2.5E-2, g: [], h: {}, i: [[1], [2, [3]]],
                           j: """
                               hello
                                 world \""" x
                           """, k: "ünï", l: true, m: False) }"#);
        let f = field(&root_fields(&doc, 0)[0]);
        assert_eq!(f.arg("a"), Some(&AstValue::String("q\"\\/\u{8}\u{c}\n\r\t\u{e9}\u{1F600}\u{1F600}".into())));
        assert_eq!(f.arg("b"), Some(&AstValue::Int(i64::MIN)));
        assert_eq!(f.arg("c"), Some(&AstValue::Int(i64::MAX)));
        assert_eq!(f.arg("d"), Some(&AstValue::Float(1000.0)));
        assert_eq!(f.arg("e"), Some(&AstValue::Float(0.025)));
        assert_eq!(f.arg("g"), Some(&AstValue::List(vec![])));
        assert_eq!(f.arg("h"), Some(&AstValue::Object(vec![])));
        assert_eq!(f.arg("j"), Some(&AstValue::String("hello\n  world \"\"\" x".into())));
        assert_eq!(f.arg("k"), Some(&AstValue::String("ünï".into())));
        assert_eq!(f.arg("l"), Some(&AstValue::Bool(true)));
        assert_eq!(f.arg("m"), Some(&AstValue::Enum("False".into())));
    }

    #[test]
    fn error_positions_and_words() {
        let e = err("query {\n  users(limit: 10 {\n    name\n  }\n}");
        assert_eq!((e.line, e.column), (2, 19));
        assert!(e.expected.contains(&"`)`".to_string()), "{e}");
        assert!(e.to_string().starts_with("line 2, column 19: expected"), "{e}");
        assert!(e.message.contains("found `{`"), "{e}");

        let e = err("query {\n  users { name ) }\n}");
        assert_eq!((e.line, e.column), (2, 16));
        assert!(e.expected.contains(&"`}`".to_string()), "{e}");
        assert!(e.expected.contains(&"field name".to_string()), "{e}");
        assert!(e.message.ends_with("found `)`"), "{e}");

        let e = err("query { users(where: { age: { gt: } }) { id } }");
        assert_eq!((e.line, e.column), (1, 35));
        assert_eq!(e.expected, ["value"]);

        let e = err("schema { define collection users { age Int } }");
        assert_eq!((e.line, e.column), (1, 40));
        assert!(e.expected.contains(&"`:`".to_string()), "{e}");

        let e = err("query($x Int) { a }");
        assert_eq!((e.line, e.column), (1, 10));

        let e = err("quer { a }");
        assert_eq!((e.line, e.column), (1, 1));
        assert!(e.expected.contains(&"`query`".to_string()), "{e}");
        assert!(e.message.contains("found `quer`"), "{e}");

        let e = err("query { a }\n}");
        assert_eq!((e.line, e.column), (2, 1));
    }

    #[test]
    fn string_errors() {
        let e = err("query { a(s: \"abc\n) }");
        assert_eq!((e.line, e.column), (1, 14));
        assert!(e.message.contains("unterminated string"), "{e}");
        let e = err("query { a(s: \"ab\\qc\") }");
        assert_eq!((e.line, e.column), (1, 17));
        assert!(e.message.contains("invalid escape"), "{e}");
        let e = err("query { a(s: \"\\uD800x\") }");
        assert_eq!((e.line, e.column), (1, 15));
        let e = err("query { a(s: \"\"\"never closed) }");
        assert!(e.message.contains("unterminated block string"), "{e}");
    }

    #[test]
    fn number_errors() {
        let e = err("query { a(n: 9223372036854775808) }");
        assert_eq!((e.line, e.column), (1, 14));
        assert!(e.message.contains("64-bit"), "{e}");
        let e = err("query {\n a(n: -99999999999999999999) }");
        assert_eq!((e.line, e.column), (2, 7));
        let e = err("query { a(n: 1e999) }");
        assert!(e.message.contains("out of range"), "{e}");
        assert!(parse("query { a(n: 12abc) }").is_err());
    }

    #[test]
    fn lexical_details() {
        // BOM, CRLF, commas, comments containing brackets and quotes.
        let doc = ok("\u{FEFF}query {\r\n  a(x: 1,,, y: \"#\") # } ] ) \"\r\n  b,\n} # end");
        let f = root_fields(&doc, 0);
        assert_eq!(names(f), ["a", "b"]);
        assert_eq!(field(&f[1]).pos, Pos { line: 3, column: 3 });
        let e = err("query {\r\n  a(\r\n}");
        assert_eq!((e.line, e.column), (3, 1));
        let e = err("query { a(x: { a..b: 1 }) }");
        assert!(e.message.contains("empty segment"), "{e}");
        assert_eq!((e.line, e.column), (1, 16));
        let e = err("query { a(x: 12abc) }");
        assert_eq!(e.message, "invalid number `12abc`");
        let e = err("query { a(x: -) }");
        assert!(e.message.contains("invalid number"), "{e}");
        // Keywords stay usable as names wherever a name is expected.
        let doc = ok("query query { query(data: data) { mutation on } } \
                      fragment on on on { on }");
        assert_eq!(doc.operations[0].name.as_deref(), Some("query"));
        assert_eq!(doc.fragments[0].name, "on");
        assert_eq!(doc.fragments[0].type_condition, "on");
        let q = field(&root_fields(&doc, 0)[0]);
        assert_eq!(q.arg("data"), Some(&AstValue::Enum("data".into())));
        // `queryX` is a name, not the keyword.
        let e = err("queryX { a }");
        assert_eq!((e.line, e.column), (1, 1));
        assert!(e.message.ends_with("found `queryX`"), "{e}");
    }

    #[test]
    fn empty_documents() {
        for text in ["", "   \n\t,", "# only a comment\n# and another"] {
            let e = err(text);
            assert!(e.message.starts_with("empty document"), "{e}");
        }
    }

    #[test]
    fn deep_nesting_is_rejected_without_overflow() {
        for open in ["{", "[", "("] {
            let text = format!("query {{ a(x: {}", open.repeat(100_000));
            let e = err(&text);
            assert!(e.message.contains("nesting deeper than 64"), "{e}");
            assert_eq!(e.line, 1);
        }
        let e = err(&format!("query {}", "{ a ".repeat(100_000)));
        assert!(e.message.contains("nesting"), "{e}");
        // Exactly at the limit still parses (on a small stack, too).
        let depth = MAX_NESTING_DEPTH - 3; // query{ f( x: ... ) }
        let text = format!("query {{ f(x: {}1{}) }}", "[".repeat(depth), "]".repeat(depth));
        let handle =
            std::thread::Builder::new().stack_size(512 * 1024).spawn(move || parse(&text).map(|_| ())).expect("spawn");
        assert_eq!(handle.join().expect("no panic"), Ok(()));
        // Brackets inside strings and comments do not count.
        let text = format!("query {{ a(s: \"{}\") # {}\n }}", "{".repeat(1000), "[".repeat(1000));
        ok(&text);
    }

    #[test]
    fn mutated_inputs_never_panic() {
        let seeds = [
            "query Q($a: [Int!]! = [1, 2]) { u: users(where: { and: [ { a.b: { eq: \"x\\n\" } } ] }, first: 2) { edges { node { ...F } } } } fragment F on users { id }",
            "schema { define collection users @strict { id: Uuid! @unique tags: [String] @default(value: \"\"\"x\"\"\") } }",
            "migrate { \"v1\": { alter collection c { add f: Int drop g rename a to b modify h: [Float] } migrate data in c { set f = 1 where { x: { gt: 1.5e3 } } } } }",
            "mutation { enqueueJob(jobType: \"e\", payload: {}, priority: HIGH, maxRetries: 3) { id } }",
        ];
        let alphabet: Vec<char> = "{}[]()\":,.$@!#=\\ \n\tqa1-eu\"\"\"é…".chars().collect();
        let mut state: u64 = 0x9E37_79B9_7F4A_7C15;
        let mut next = move || {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state
        };
        for round in 0..4000 {
            let seed = seeds[round % seeds.len()];
            let mut chars: Vec<char> = seed.chars().collect();
            for _ in 0..(1 + next() % 6) {
                let at = (next() as usize) % (chars.len() + 1);
                match next() % 3 {
                    0 if at < chars.len() => {
                        chars.remove(at);
                    }
                    1 if at < chars.len() => {
                        chars[at] = alphabet[(next() as usize) % alphabet.len()];
                    }
                    _ => chars.insert(at, alphabet[(next() as usize) % alphabet.len()]),
                }
            }
            let text: String = chars.into_iter().collect();
            if let Err(e) = parse(&text) {
                assert!(e.line >= 1 && e.column >= 1, "{e} for {text:?}");
                assert!(!e.message.is_empty());
            }
            // Every prefix, too (truncated input).
            if round % 50 == 0 {
                for (i, _) in text.char_indices() {
                    let _ = parse(&text[..i]);
                }
            }
        }
    }
}
