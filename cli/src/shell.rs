//! `aurora shell`: an interactive AQL shell with history and multi-line statements.
//!
//! A statement is complete when its braces (and brackets, parentheses) balance outside strings
//! and `#` comments; a line ending in `;` also ends it. Lines starting with `.` (when no
//! statement is pending) are shell commands. Fed from a pipe, the shell prints no prompts and
//! exits with 1 if any statement failed.

use crate::cli::{close_db, emit, open_db, parse_vars, stats_json, ShellArgs};
use crate::exit::{self, Failure};
use crate::render::OutputMode;
use aurora_db::{Aurora, ExecuteRequest};
use rustyline::error::ReadlineError;
use rustyline::{Config, DefaultEditor};
use serde_json::{Map, Value as Json};
use std::io::IsTerminal;
use std::path::PathBuf;
use tokio::runtime::Runtime;

const HELP: &str = "\
Enter AQL; a statement runs when its braces balance (or at a line ending in `;`).
  .help              this text
  .exit, .quit       leave (Ctrl-D works too; Ctrl-C discards the current statement)
  .collections       collections and their document counts
  .schema [NAME]     schema of one collection (or all)
  .stats             collections, schemas and the job queue
  .mode table|json|pretty   output format
  .set NAME=VALUE    set a variable for later statements (value parsed as JSON, else a string)
  .unset NAME        remove a variable
  .vars              show the variables";

/// Where a statement being typed stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Balance {
    /// More lines are needed.
    Incomplete,
    /// The statement can run.
    Complete,
}

/// Whether `text` is a complete statement: at least one opening brace and every brace,
/// bracket and parenthesis closed, ignoring strings and `#` comments. A closing excess also
/// counts as complete (the engine reports the syntax error).
pub fn balance(text: &str) -> Balance {
    let mut depth: i64 = 0;
    let mut opened = false;
    let mut in_str = false;
    let mut escaped = false;
    let mut in_comment = false;
    for c in text.chars() {
        if in_comment {
            in_comment = c != '\n';
            continue;
        }
        if in_str {
            match c {
                _ if escaped => escaped = false,
                '\\' => escaped = true,
                '"' => in_str = false,
                // An unterminated string ends at the line end (the engine will say so).
                '\n' => in_str = false,
                _ => {}
            }
            continue;
        }
        match c {
            '"' => in_str = true,
            '#' => in_comment = true,
            '{' | '[' | '(' => {
                depth += 1;
                opened = true;
            }
            '}' | ']' | ')' => {
                depth -= 1;
                if depth < 0 {
                    return Balance::Complete;
                }
            }
            _ => {}
        }
    }
    if opened && depth == 0 {
        Balance::Complete
    } else {
        Balance::Incomplete
    }
}

fn default_history() -> Option<PathBuf> {
    std::env::var_os("HOME").filter(|h| !h.is_empty()).map(|h| PathBuf::from(h).join(".aurora_history"))
}

enum Meta {
    Continue,
    Exit,
}

struct Session<'a> {
    rt: &'a Runtime,
    db: Aurora,
    mode: OutputMode,
    vars: Map<String, Json>,
    failures: usize,
}

impl Session<'_> {
    fn report(&mut self, f: &Failure) {
        self.failures += 1;
        eprintln!("{f}");
    }

    fn print(&mut self, text: &str) {
        if let Err(f) = emit(text) {
            self.report(&f);
        }
    }

    fn run_statement(&mut self, aql: &str) {
        let req = ExecuteRequest::new(aql).variables(Json::Object(self.vars.clone()));
        match self.rt.block_on(self.db.execute_lean(req)) {
            Ok(r) => {
                let text = self.mode.render(&r.to_json());
                self.print(&text);
            }
            Err(e) => self.report(&Failure::engine(&e, Some(("<shell>", aql)))),
        }
    }

    fn meta(&mut self, line: &str) -> Meta {
        let (cmd, arg) = line.split_once(char::is_whitespace).unwrap_or((line, ""));
        let arg = arg.trim();
        match cmd {
            ".exit" | ".quit" | ".q" => return Meta::Exit,
            ".help" | ".h" | ".?" => self.print(HELP),
            ".collections" | ".tables" => {
                let mut lines = Vec::new();
                for name in self.db.collection_names() {
                    let n = self.rt.block_on(self.db.count(&name)).unwrap_or(0);
                    lines.push(format!("{name}  ({n} documents)"));
                }
                let text = if lines.is_empty() { "(no collections)".to_string() } else { lines.join("\n") };
                self.print(&text);
            }
            ".schema" | ".stats" => match self.rt.block_on(stats_json(&self.db)) {
                Ok(mut s) => {
                    if cmd == ".schema" {
                        if let Some(list) = s["collections"].as_array_mut() {
                            list.retain(|c| arg.is_empty() || c["name"] == arg);
                            if list.is_empty() {
                                self.report(&Failure::new(exit::QUERY, format!("error: no collection `{arg}`")));
                                return Meta::Continue;
                            }
                            s = Json::Array(std::mem::take(list));
                        }
                    }
                    let text = self.mode.render(&s);
                    self.print(&text);
                }
                Err(e) => self.report(&Failure::engine(&e, None)),
            },
            ".mode" => match arg {
                "table" => self.mode = OutputMode::Table,
                "json" => self.mode = OutputMode::Json { pretty: false },
                "pretty" => self.mode = OutputMode::Json { pretty: true },
                _ => self.report(&Failure::usage("usage: .mode table|json|pretty")),
            },
            ".set" => match parse_vars(None, &[arg.to_string()]) {
                Ok(Json::Object(m)) => self.vars.extend(m),
                Ok(_) => {}
                Err(f) => self.report(&f),
            },
            ".unset" => {
                self.vars.shift_remove(arg.trim_start_matches('$'));
            }
            ".vars" => {
                let text = serde_json::to_string_pretty(&self.vars).unwrap_or_default();
                self.print(&text);
            }
            other => self.report(&Failure::usage(format!("error: unknown command {other}; try .help"))),
        }
        Meta::Continue
    }
}

/// Runs the shell until `.exit` or end of input.
pub fn run_shell(rt: &Runtime, a: ShellArgs) -> Result<u8, Failure> {
    let interactive = std::io::stdin().is_terminal();
    let db = rt.block_on(open_db(&a.db, false))?;
    let config = Config::builder().auto_add_history(false).max_history_size(1000).map(|b| b.build());
    let mut editor = match config.and_then(DefaultEditor::with_config) {
        Ok(e) => e,
        Err(e) => {
            let _ = rt.block_on(close_db(&db));
            return Err(Failure::io(format!("error[IO]: cannot start the line editor: {e}")));
        }
    };
    let history = if a.no_history { None } else { a.history.clone().or_else(default_history) };
    if let Some(h) = &history {
        // A missing file is the normal first run.
        let _ = editor.load_history(h);
    }
    if interactive {
        eprintln!("Aurora DB shell on {} — .help for commands, .exit to quit", a.db.display());
    }
    let mode = if a.out.json || a.out.table || !interactive {
        a.out.mode()
    } else if std::io::stdout().is_terminal() {
        OutputMode::Table
    } else {
        OutputMode::Json { pretty: true }
    };
    let mut s = Session { rt, db, mode, vars: Map::new(), failures: 0 };
    let mut buf = String::new();
    loop {
        let prompt = if buf.is_empty() { "aurora> " } else { "   ...> " };
        match editor.readline(prompt) {
            Ok(line) => {
                if buf.is_empty() {
                    let t = line.trim();
                    if t.is_empty() || t.starts_with('#') {
                        continue;
                    }
                    if t.starts_with('.') {
                        let _ = editor.add_history_entry(t);
                        match s.meta(t) {
                            Meta::Exit => break,
                            Meta::Continue => continue,
                        }
                    }
                }
                buf.push_str(&line);
                buf.push('\n');
                let forced = line.trim_end().ends_with(';');
                if forced || balance(&buf) == Balance::Complete {
                    let stmt = buf.trim_end().trim_end_matches(';').trim_end().to_string();
                    buf.clear();
                    let _ = editor.add_history_entry(stmt.as_str());
                    if !stmt.trim().is_empty() {
                        s.run_statement(&stmt);
                    }
                }
            }
            Err(ReadlineError::Interrupted) => {
                buf.clear();
                continue;
            }
            Err(ReadlineError::Eof) => break,
            Err(e) => {
                s.report(&Failure::io(format!("error[IO]: reading input: {e}")));
                break;
            }
        }
    }
    if !buf.trim().is_empty() {
        s.report(&Failure::new(exit::QUERY, "error: incomplete statement at end of input (unbalanced braces)"));
    }
    if let Some(h) = &history {
        if let Err(e) = editor.save_history(h) {
            eprintln!("warning: cannot save history to {}: {e}", h.display());
        }
    }
    rt.block_on(close_db(&s.db))?;
    Ok(if !interactive && s.failures > 0 { exit::QUERY } else { exit::OK })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statements_end_when_braces_balance() {
        assert_eq!(balance("query {\n"), Balance::Incomplete);
        assert_eq!(balance("query { users { name } }\n"), Balance::Complete);
        assert_eq!(balance("query {\n users(where: {name: {eq: \"}\"}}) { name }\n"), Balance::Incomplete);
        assert_eq!(balance("query {\n users(where: {name: {eq: \"}\"}}) { name }\n}\n"), Balance::Complete);
        assert_eq!(balance("query { # } comment\n"), Balance::Incomplete);
        assert_eq!(balance("query { a(x: \"\\\"}\") }"), Balance::Complete);
        assert_eq!(balance("query"), Balance::Incomplete);
        assert_eq!(balance("}"), Balance::Complete);
    }
}
