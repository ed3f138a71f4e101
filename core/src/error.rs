//! The one error type of the engine, with a stable machine-readable code per variant.

use std::path::PathBuf;

/// Result alias used across the engine.
pub type Result<T, E = AuroraError> = std::result::Result<T, E>;

/// Everything that can go wrong in Aurora, each variant naming what, where and why.
#[derive(Debug, thiserror::Error)]
pub enum AuroraError {
    /// The named collection does not exist.
    #[error("unknown collection `{}`{hint}{}", shown(name), pos_suffix(*line, *column))]
    CollectionNotFound {
        /// Collection that was asked for.
        name: String,
        /// ", did you mean `x`?" or empty.
        hint: String,
        /// 1-based line in the AQL text, 0 when not from AQL.
        line: usize,
        /// 1-based column in the AQL text, 0 when not from AQL.
        column: usize,
    },
    /// A field name is not known in the collection (AQL errors carry the position).
    #[error("unknown field `{}` in collection `{collection}`{hint}{}", shown(field), pos_suffix(*line, *column))]
    FieldNotFound {
        /// 1-based line in the AQL text, 0 when not from AQL.
        line: usize,
        /// 1-based column in the AQL text, 0 when not from AQL.
        column: usize,
        /// Collection searched.
        collection: String,
        /// Field that was asked for.
        field: String,
        /// ", did you mean `x`?" or empty.
        hint: String,
    },
    /// A document, job or other object was not found.
    #[error("{0} not found")]
    NotFound(String),
    /// A `@unique` field already holds this value in another document.
    #[error("unique constraint violated: collection `{collection}`, field `{field}` already has value {value}")]
    UniqueViolation {
        /// Collection of the constraint.
        collection: String,
        /// Field of the constraint.
        field: String,
        /// The duplicate value, rendered as JSON.
        value: String,
    },
    /// A value does not have the type the schema declares.
    #[error(
        "type mismatch in collection `{collection}`, field `{field}`: expected {expected}, got {actual}{}",
        pos_suffix(*line, *column)
    )]
    TypeMismatch {
        /// 1-based line in the AQL text, 0 when not from AQL.
        line: usize,
        /// 1-based column in the AQL text, 0 when not from AQL.
        column: usize,
        /// Collection of the schema.
        collection: String,
        /// Offending field.
        field: String,
        /// Declared type.
        expected: String,
        /// Type of the value given.
        actual: String,
    },
    /// A non-nullable field is missing or null, or a strict collection got an undeclared field.
    #[error("validation failed in collection `{collection}`: {message}")]
    Validation {
        /// Collection of the schema.
        collection: String,
        /// What is wrong.
        message: String,
    },
    /// `new_collection` with a definition different from the stored one.
    #[error("collection `{0}` already exists with a different definition")]
    SchemaConflict(String),
    /// AQL text that does not parse.
    #[error("AQL syntax error at line {line}, column {column}: {message}")]
    Syntax {
        /// Human description including what was expected.
        message: String,
        /// 1-based line.
        line: usize,
        /// 1-based column.
        column: usize,
    },
    /// AQL that parses but is not valid (unknown fragment, bad variable, wrong argument...).
    #[error("{message}{}", pos_suffix(*line, *column))]
    InvalidQuery {
        /// What is wrong.
        message: String,
        /// 1-based line, 0 when unknown.
        line: usize,
        /// 1-based column, 0 when unknown.
        column: usize,
    },
    /// The database (or a handle derived from it) was closed.
    #[error("the database is closed")]
    Closed,
    /// An operating-system I/O error, with the file it concerns.
    #[error("I/O error on {path}: {source}")]
    Io {
        /// File or directory involved.
        path: PathBuf,
        /// Underlying error.
        #[source]
        source: std::io::Error,
    },
    /// The cold store (sled) failed.
    #[error("storage error: {0}")]
    Storage(String),
    /// A file is damaged in a way recovery must not guess about.
    #[error("corruption in {file} at offset {offset}: {reason}")]
    Corruption {
        /// Damaged file.
        file: PathBuf,
        /// Byte offset of the damage.
        offset: u64,
        /// What was found.
        reason: String,
    },
    /// Encoding or decoding of a value failed.
    #[error("serialization error: {0}")]
    Serialization(String),
    /// A job handler failed; the message is the handler's own.
    #[error("{0}")]
    Handler(String),
    /// A live subscription fell behind and events were dropped.
    #[error("subscriber lagged behind and missed {0} events")]
    Lagged(u64),
    /// A request went past one of the configured limits (`AuroraConfig::limits`) and was
    /// refused (or stopped) before it could exhaust time, memory or stack.
    #[error("limit `{limit}` exceeded: {message} (the limit is {value}){}", pos_suffix(*line, *column))]
    Limit {
        /// Name of the limit, as in the configuration (`max_fragments`).
        limit: &'static str,
        /// The limit's value.
        value: u64,
        /// What went past it.
        message: String,
        /// 1-based line in the AQL text, 0 when not from AQL.
        line: usize,
        /// 1-based column in the AQL text, 0 when not from AQL.
        column: usize,
    },
    /// Anything else, including errors raised by user code through `From<String>`.
    #[error("{0}")]
    Other(String),
}

/// Longest user-supplied text (a name, a literal) quoted whole in an error message.
const SHOWN_BYTES: usize = 96;

/// `text` for an error message: whole when short, else its start and its length, so a
/// megabyte-long name does not become a megabyte-long message.
pub(crate) fn shown(text: &str) -> std::borrow::Cow<'_, str> {
    if text.len() <= SHOWN_BYTES {
        return std::borrow::Cow::Borrowed(text);
    }
    let mut end = SHOWN_BYTES;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    std::borrow::Cow::Owned(format!("{}… ({} bytes)", &text[..end], text.len()))
}

fn pos_suffix(line: usize, column: usize) -> String {
    if line == 0 {
        String::new()
    } else {
        format!(" (line {line}, column {column})")
    }
}

impl AuroraError {
    /// Stable short code, shared by every binding (`"UNIQUE_VIOLATION"`, `"SYNTAX"`...).
    pub fn code(&self) -> &'static str {
        match self {
            AuroraError::CollectionNotFound { .. } | AuroraError::FieldNotFound { .. } | AuroraError::NotFound(_) => {
                "NOT_FOUND"
            }
            AuroraError::UniqueViolation { .. } => "UNIQUE_VIOLATION",
            AuroraError::TypeMismatch { .. } => "TYPE_ERROR",
            AuroraError::Validation { .. } | AuroraError::SchemaConflict(_) | AuroraError::InvalidQuery { .. } => {
                "VALIDATION"
            }
            AuroraError::Syntax { .. } => "SYNTAX",
            AuroraError::Closed => "CLOSED",
            AuroraError::Io { .. } | AuroraError::Storage(_) | AuroraError::Corruption { .. } => "IO",
            AuroraError::Handler(_) => "HANDLER",
            AuroraError::Lagged(_) => "LAGGED",
            AuroraError::Limit { .. } => "LIMIT",
            AuroraError::Serialization(_) | AuroraError::Other(_) => "INTERNAL",
        }
    }

    /// Line and column for AQL errors (1-based), if the error has a position.
    pub fn position(&self) -> Option<(usize, usize)> {
        match self {
            AuroraError::Syntax { line, column, .. } => Some((*line, *column)),
            AuroraError::InvalidQuery { line, column, .. }
            | AuroraError::FieldNotFound { line, column, .. }
            | AuroraError::CollectionNotFound { line, column, .. }
            | AuroraError::TypeMismatch { line, column, .. }
            | AuroraError::Limit { line, column, .. }
                if *line > 0 =>
            {
                Some((*line, *column))
            }
            _ => None,
        }
    }

    /// Attaches an AQL position to an error that has none yet.
    pub(crate) fn at_position(self, l: usize, c: usize) -> AuroraError {
        match self {
            AuroraError::FieldNotFound { line: 0, collection, field, hint, .. } => {
                AuroraError::FieldNotFound { line: l, column: c, collection, field, hint }
            }
            AuroraError::CollectionNotFound { line: 0, name, hint, .. } => {
                AuroraError::CollectionNotFound { line: l, column: c, name, hint }
            }
            AuroraError::TypeMismatch { line: 0, collection, field, expected, actual, .. } => {
                AuroraError::TypeMismatch { line: l, column: c, collection, field, expected, actual }
            }
            AuroraError::InvalidQuery { message, line: 0, .. } => {
                AuroraError::InvalidQuery { message, line: l, column: c }
            }
            AuroraError::Limit { limit, value, message, line: 0, .. } => {
                AuroraError::Limit { limit, value, message, line: l, column: c }
            }
            other => other,
        }
    }

    pub(crate) fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        AuroraError::Io { path: path.into(), source }
    }

    pub(crate) fn invalid(message: impl Into<String>) -> Self {
        AuroraError::InvalidQuery { message: message.into(), line: 0, column: 0 }
    }

    pub(crate) fn invalid_at(message: impl Into<String>, line: usize, column: usize) -> Self {
        AuroraError::InvalidQuery { message: message.into(), line, column }
    }

    /// A refusal by the limit `limit` (whose value is `value`), without a position.
    pub(crate) fn limit(limit: &'static str, value: impl TryInto<u64>, message: impl Into<String>) -> Self {
        AuroraError::Limit {
            limit,
            value: value.try_into().unwrap_or(u64::MAX),
            message: message.into(),
            line: 0,
            column: 0,
        }
    }
}

impl From<String> for AuroraError {
    fn from(s: String) -> Self {
        AuroraError::Other(s)
    }
}

impl From<&str> for AuroraError {
    fn from(s: &str) -> Self {
        AuroraError::Other(s.to_string())
    }
}

impl From<sled::Error> for AuroraError {
    fn from(e: sled::Error) -> Self {
        AuroraError::Storage(e.to_string())
    }
}

impl From<serde_json::Error> for AuroraError {
    fn from(e: serde_json::Error) -> Self {
        AuroraError::Serialization(e.to_string())
    }
}

impl From<postcard::Error> for AuroraError {
    fn from(e: postcard::Error) -> Self {
        AuroraError::Serialization(e.to_string())
    }
}

/// Names longer than this get no "did you mean" hint: the edit distance costs the product of
/// the two lengths, and no real name is that long.
const MAX_HINT_NAME_BYTES: usize = 64;
/// At most this many candidates are compared for a hint.
const MAX_HINT_CANDIDATES: usize = 4_096;

/// Closest candidate to `name` by edit distance, for "did you mean" hints. Bounded: names or
/// candidates over 64 bytes are skipped, and at most 4,096 candidates are compared.
pub fn closest<'a>(name: &str, candidates: impl IntoIterator<Item = &'a str>) -> Option<&'a str> {
    if name.len() > MAX_HINT_NAME_BYTES {
        return None;
    }
    let mut best: Option<(&str, usize)> = None;
    for c in candidates.into_iter().take(MAX_HINT_CANDIDATES) {
        if c.len() > MAX_HINT_NAME_BYTES {
            continue;
        }
        let d = edit_distance(name, c);
        if d <= (name.len().max(c.len()) / 2).max(2) && best.is_none_or(|(_, bd)| d < bd) {
            best = Some((c, d));
        }
    }
    best.map(|(c, _)| c)
}

/// Formats a "did you mean" suffix for error messages.
pub(crate) fn hint_for<'a>(name: &str, candidates: impl IntoIterator<Item = &'a str>) -> String {
    closest(name, candidates).map(|c| format!(", did you mean `{c}`?")).unwrap_or_default()
}

fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut cur = vec![i + 1; b.len() + 1];
        for (j, cb) in b.iter().enumerate() {
            let cost = usize::from(ca != *cb);
            cur[j + 1] = (prev[j] + cost).min(prev[j + 1] + 1).min(cur[j] + 1);
        }
        prev = cur;
    }
    prev[b.len()]
}
