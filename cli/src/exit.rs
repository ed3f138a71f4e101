//! Exit codes and the error type of the command line.
//!
//! | code | meaning |
//! |---|---|
//! | 0 | success |
//! | 1 | the query failed: AQL syntax, validation, unknown collection/field, type or unique violation |
//! | 2 | usage error: bad arguments or options, unreadable `--var`/`--vars` |
//! | 3 | I/O error: the database cannot be opened (missing, locked by another process, damaged), a file cannot be read or written |
//! | 4 | incomplete import: some input lines were rejected (each reported with its line number; the other documents of a batch the engine refused are skipped), or `--strict` stopped it |
//! | 5 | internal error of the engine |

use aurora_db::AuroraError;
use std::fmt;

/// Success.
pub const OK: u8 = 0;
/// The query (or a statement of the shell fed from a pipe) failed.
pub const QUERY: u8 = 1;
/// Bad command-line usage.
pub const USAGE: u8 = 2;
/// Database or file I/O failed (includes "database locked by another process").
pub const IO: u8 = 3;
/// Some imported lines were rejected.
pub const DATA: u8 = 4;
/// Internal engine error.
pub const INTERNAL: u8 = 5;

/// Text of the exit-code table for `--help`.
pub const EXIT_CODES_HELP: &str = "\
Exit codes:
  0  success
  1  query failed (AQL syntax, validation, not found, type or unique violation)
  2  usage error (bad arguments, --var/--vars not parseable)
  3  I/O error (database cannot be opened or is locked, file unreadable/unwritable)
  4  import incomplete: lines rejected (their refused batch skipped) or --strict stopped it
  5  internal engine error";

/// A failed command: the exit code and the text printed on stderr.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Failure {
    /// Process exit code (one of the constants of this module).
    pub code: u8,
    /// Human-readable report, possibly several lines (source line and caret for AQL errors).
    pub message: String,
}

impl Failure {
    /// A failure with a code and message.
    pub fn new(code: u8, message: impl Into<String>) -> Self {
        Failure { code, message: message.into() }
    }

    /// A usage error (exit code 2).
    pub fn usage(message: impl Into<String>) -> Self {
        Failure::new(USAGE, message)
    }

    /// An I/O error (exit code 3).
    pub fn io(message: impl Into<String>) -> Self {
        Failure::new(IO, message)
    }

    /// An engine error, rendered against the AQL source it came from (if any) so that the
    /// offending line is printed with a caret under the column.
    pub fn engine(err: &AuroraError, source: Option<(&str, &str)>) -> Self {
        Failure::new(code_for(err), crate::render::format_error(err, source))
    }
}

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for Failure {}

/// The exit code for an engine error.
pub fn code_for(err: &AuroraError) -> u8 {
    match err.code() {
        "SYNTAX" | "VALIDATION" | "NOT_FOUND" | "UNIQUE_VIOLATION" | "TYPE_ERROR" => QUERY,
        "IO" => IO,
        _ => INTERNAL,
    }
}
