//! One error type with stable codes for every host language.

use aurora_db::AuroraError;

/// Stable error codes (the same strings in Python, Node, Kotlin, Swift and C).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ErrorCode {
    /// AQL text that does not parse.
    Syntax,
    /// Valid syntax, invalid request (bad argument, variable type, schema conflict...).
    Validation,
    /// Unknown collection, field, document or job.
    NotFound,
    /// A `@unique` constraint was violated.
    UniqueViolation,
    /// A value does not match the schema type.
    TypeError,
    /// The database or handle is closed.
    Closed,
    /// File system or storage failure.
    Io,
    /// A job handler failed.
    Handler,
    /// A bug: includes panics caught at the boundary.
    Internal,
    /// A request went past a configured limit (size, depth, time...) and was refused.
    Limit,
}

impl ErrorCode {
    /// The code as text (`"UNIQUE_VIOLATION"`).
    pub fn as_str(&self) -> &'static str {
        match self {
            ErrorCode::Syntax => "SYNTAX",
            ErrorCode::Validation => "VALIDATION",
            ErrorCode::NotFound => "NOT_FOUND",
            ErrorCode::UniqueViolation => "UNIQUE_VIOLATION",
            ErrorCode::TypeError => "TYPE_ERROR",
            ErrorCode::Closed => "CLOSED",
            ErrorCode::Io => "IO",
            ErrorCode::Handler => "HANDLER",
            ErrorCode::Internal => "INTERNAL",
            ErrorCode::Limit => "LIMIT",
        }
    }

    /// Parses the text form.
    pub fn parse(s: &str) -> Option<ErrorCode> {
        Some(match s {
            "SYNTAX" => ErrorCode::Syntax,
            "VALIDATION" => ErrorCode::Validation,
            "NOT_FOUND" => ErrorCode::NotFound,
            "UNIQUE_VIOLATION" => ErrorCode::UniqueViolation,
            "TYPE_ERROR" => ErrorCode::TypeError,
            "CLOSED" => ErrorCode::Closed,
            "IO" => ErrorCode::Io,
            "HANDLER" => ErrorCode::Handler,
            "INTERNAL" => ErrorCode::Internal,
            "LIMIT" => ErrorCode::Limit,
            _ => return None,
        })
    }

    /// A stable small integer for C (`0` is success there).
    pub fn as_int(&self) -> i32 {
        match self {
            ErrorCode::Syntax => 1,
            ErrorCode::Validation => 2,
            ErrorCode::NotFound => 3,
            ErrorCode::UniqueViolation => 4,
            ErrorCode::TypeError => 5,
            ErrorCode::Closed => 6,
            ErrorCode::Io => 7,
            ErrorCode::Handler => 8,
            ErrorCode::Internal => 9,
            ErrorCode::Limit => 12,
        }
    }
}

/// An engine error as the hosts see it: code, message and (for AQL) line and column.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BindingError {
    /// Stable code.
    pub code: ErrorCode,
    /// Human-readable message.
    pub message: String,
    /// 1-based line of an AQL error.
    pub line: Option<u32>,
    /// 1-based column of an AQL error.
    pub column: Option<u32>,
}

impl BindingError {
    /// An error with a code and message, no position.
    pub fn new(code: ErrorCode, message: impl Into<String>) -> Self {
        BindingError { code, message: message.into(), line: None, column: None }
    }

    /// An `INTERNAL` error.
    pub fn internal(message: impl Into<String>) -> Self {
        Self::new(ErrorCode::Internal, message)
    }

    /// A `VALIDATION` error.
    pub fn validation(message: impl Into<String>) -> Self {
        Self::new(ErrorCode::Validation, message)
    }

    /// A `CLOSED` error.
    pub fn closed(what: &str) -> Self {
        Self::new(ErrorCode::Closed, format!("{what} is closed"))
    }

    /// The error as JSON: `{"code", "message", "line", "column"}`.
    pub fn to_json(&self) -> serde_json::Value {
        serde_json::json!({ "code": self.code.as_str(), "message": self.message, "line": self.line, "column": self.column })
    }
}

impl std::fmt::Display for BindingError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "[{}] {}", self.code.as_str(), self.message)
    }
}

impl std::error::Error for BindingError {}

impl From<AuroraError> for BindingError {
    fn from(e: AuroraError) -> Self {
        let code = ErrorCode::parse(e.code()).unwrap_or(ErrorCode::Internal);
        let (line, column) = match e.position() {
            Some((l, c)) => (Some(l as u32), Some(c as u32)),
            None => (None, None),
        };
        BindingError { code, message: e.to_string(), line, column }
    }
}
