//! Argument parsing and the one-shot commands (`exec`, `stats`, `compact`, `migrate`).

use crate::exit::{self, Failure, EXIT_CODES_HELP};
use crate::render::OutputMode;
use aurora_db::{Aurora, AuroraConfig, ExecuteOptions, ExecuteRequest};
#[cfg(feature = "http")]
use clap::builder::TypedValueParser as _;
use clap::{Args, Parser, Subcommand};
use serde_json::{json, Map, Value as Json};
use std::ffi::OsString;
use std::io::{IsTerminal, Read, Write};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// Aurora DB command line: run AQL, an interactive shell, import/export, maintenance and
/// (feature `http`) an HTTP server.
#[derive(Debug, Parser)]
#[command(name = "aurora", version, after_help = EXIT_CODES_HELP, arg_required_else_help = true)]
pub struct Cli {
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// The subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run AQL (an argument, `-f FILE`, or `-` / a pipe for stdin) and print the result.
    Exec(ExecArgs),
    /// Interactive shell: statements end when their braces balance; `.help` lists commands.
    Shell(ShellArgs),
    /// Import a JSON Lines file (one JSON object per line) into a collection.
    Import(ImportArgs),
    /// Export a collection as JSON Lines (to a file or stdout).
    Export(ExportArgs),
    /// Collections, document counts, schemas and the job queue.
    Stats(StatsArgs),
    /// Checkpoint the WAL and compact the storage.
    Compact(DbArg),
    /// Run a migration file (`migrate { "v1": { ... } }`); versions already applied are skipped.
    Migrate(MigrateArgs),
    /// Serve AQL over HTTP (POST /aql, GET /subscribe as server-sent events, POST /jobs).
    #[cfg(feature = "http")]
    Serve(ServeArgs),
}

/// Output selection shared by the commands that print results.
#[derive(Debug, Args, Clone, Copy)]
pub struct OutputArgs {
    /// Print JSON (the default when stdout is not a terminal).
    #[arg(long, conflicts_with = "table")]
    pub json: bool,
    /// Print tables (the default on a terminal).
    #[arg(long)]
    pub table: bool,
    /// Indent JSON output (the default on a terminal).
    #[arg(long)]
    pub pretty: bool,
}

impl OutputArgs {
    /// The mode these flags select, given whether stdout is a terminal.
    pub fn mode(&self) -> OutputMode {
        let tty = std::io::stdout().is_terminal();
        if self.json || (!self.table && !tty) {
            OutputMode::Json { pretty: self.pretty || tty }
        } else {
            OutputMode::Table
        }
    }
}

/// `aurora exec`.
#[derive(Debug, Args)]
pub struct ExecArgs {
    /// Database directory (created if missing).
    pub db: PathBuf,
    /// AQL text; `-` reads it from stdin.
    #[arg(conflicts_with = "file")]
    pub aql: Option<String>,
    /// Read the AQL from this file (`-` for stdin).
    #[arg(short = 'f', long = "file", value_name = "FILE")]
    pub file: Option<PathBuf>,
    /// A variable: the value is parsed as JSON, falling back to a plain string
    /// (`--var min=18`, `--var name=Ann`, `--var 'tags=["a"]'`). Repeatable; wins over --vars.
    #[arg(long = "var", value_name = "NAME=VALUE")]
    pub var: Vec<String>,
    /// All variables as one JSON object.
    #[arg(long = "vars", value_name = "JSON")]
    pub vars: Option<String>,
    /// Run only the operation with this name.
    #[arg(long, value_name = "NAME")]
    pub operation: Option<String>,
    /// Return `_sid` with every document.
    #[arg(long)]
    pub debug_audit: bool,
    /// Print how each root field of the query runs (strategy, indexes, rows) instead of its
    /// result.
    #[arg(long)]
    pub explain: bool,
    #[command(flatten)]
    #[allow(missing_docs)]
    pub out: OutputArgs,
}

/// `aurora shell`.
#[derive(Debug, Args)]
pub struct ShellArgs {
    /// Database directory (created if missing).
    pub db: PathBuf,
    /// History file (default: $AURORA_HISTORY, else ~/.aurora_history).
    #[arg(long, value_name = "FILE", env = "AURORA_HISTORY")]
    pub history: Option<PathBuf>,
    /// Do not read or write a history file.
    #[arg(long, conflicts_with = "history")]
    pub no_history: bool,
    #[command(flatten)]
    #[allow(missing_docs)]
    pub out: OutputArgs,
}

/// `aurora import`.
#[derive(Debug, Args)]
pub struct ImportArgs {
    /// Database directory (created if missing).
    pub db: PathBuf,
    /// Target collection (created without a schema if missing).
    pub collection: String,
    /// JSON Lines file; `-` reads stdin.
    pub file: PathBuf,
    /// Documents per atomic batch.
    #[arg(long, default_value_t = 1000, value_parser = clap::value_parser!(u64).range(1..=1_000_000))]
    pub batch_size: u64,
    /// Stop at the first rejected line: batches written before it stay, nothing from the
    /// batch holding it on is written. Without it a bad line is skipped, and so is the rest of
    /// a batch the engine refuses (batches are all-or-nothing).
    #[arg(long)]
    pub strict: bool,
    /// Drop a top-level `_sid` (the system id written by `export --with-sid`); the documents
    /// get new ids. Without it such a line is rejected.
    #[arg(long)]
    pub drop_sid: bool,
    /// No progress bar, and no summary unless lines were rejected.
    #[arg(short, long)]
    pub quiet: bool,
}

/// `aurora export`.
#[derive(Debug, Args)]
pub struct ExportArgs {
    /// Database directory (must exist).
    pub db: PathBuf,
    /// Collection to export.
    pub collection: String,
    /// Output file (default: stdout).
    pub file: Option<PathBuf>,
    /// Add each document's system id as `_sid`.
    #[arg(long)]
    pub with_sid: bool,
    /// No progress bar or summary.
    #[arg(short, long)]
    pub quiet: bool,
}

/// `aurora stats`.
#[derive(Debug, Args)]
pub struct StatsArgs {
    /// Database directory (must exist).
    pub db: PathBuf,
    /// Also check every index against the stored documents.
    #[arg(long)]
    pub verify: bool,
    #[command(flatten)]
    #[allow(missing_docs)]
    pub out: OutputArgs,
}

/// A command that only needs the database.
#[derive(Debug, Args)]
pub struct DbArg {
    /// Database directory (must exist).
    pub db: PathBuf,
}

/// `aurora migrate`.
#[derive(Debug, Args)]
pub struct MigrateArgs {
    /// Database directory (created if missing).
    pub db: PathBuf,
    /// File holding a `migrate { ... }` block (`-` for stdin).
    pub file: PathBuf,
    #[command(flatten)]
    #[allow(missing_docs)]
    pub out: OutputArgs,
}

/// `aurora serve`.
#[cfg(feature = "http")]
#[derive(Debug, Args)]
pub struct ServeArgs {
    /// Database directory (created if missing).
    pub db: PathBuf,
    /// Address to listen on (port 0 picks a free port; the bound address is printed on stdout).
    #[arg(long, default_value = "127.0.0.1:7070")]
    pub bind: std::net::SocketAddr,
    /// Require `Authorization: Bearer TOKEN` on every request (prefer the env variable:
    /// arguments are visible to other users in the process list).
    #[arg(long, env = "AURORA_TOKEN", hide_env_values = true)]
    pub token: Option<String>,
    /// Largest accepted request body in bytes (larger gets 413).
    #[arg(long, default_value_t = 1024 * 1024)]
    pub max_body: usize,
    /// Per-request time limit in milliseconds (exceeded gets 504; subscriptions are exempt).
    #[arg(long, default_value_t = 30_000)]
    pub timeout_ms: u64,
    /// HTTP worker threads (default: one per core).
    #[arg(long)]
    pub workers: Option<usize>,
    /// Most concurrent subscriptions (more get 503).
    #[arg(long, default_value_t = 1024)]
    pub max_subscriptions: usize,
    /// Allow binding to a non-loopback address (requires a token).
    #[arg(long)]
    pub public: bool,
    /// Most requests handled at once (more get 503 at once; subscriptions count until their
    /// stream starts).
    #[arg(long, default_value_t = 256, value_parser = clap::value_parser!(u32).range(1..=1_000_000).map(|n| n as usize))]
    pub max_requests: usize,
    /// Also answer requests whose Host header names NAME (any port; `NAME:PORT` for one port),
    /// e.g. behind a reverse proxy. Repeatable. Other names get 403 (DNS-rebinding defence).
    #[arg(long, value_name = "NAME")]
    pub allow_host: Vec<String>,
    /// Let web pages from ORIGIN (`https://app.example.com`) call the server (CORS). Repeatable.
    /// Requests from other foreign origins get 403.
    #[arg(long, value_name = "ORIGIN")]
    pub cors_origin: Vec<String>,
}

/// Parses `args` (program name first), runs the command and returns the exit code. Results go
/// to stdout, diagnostics and progress to stderr.
pub fn run<I, T>(args: I) -> u8
where
    I: IntoIterator<Item = T>,
    T: Into<OsString> + Clone,
{
    let cli = match Cli::try_parse_from(args) {
        Ok(c) => c,
        Err(e) => {
            let _ = e.print();
            return if e.use_stderr() { exit::USAGE } else { exit::OK };
        }
    };
    let rt = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return exit::INTERNAL;
        }
    };
    let result = match cli.command {
        Command::Exec(a) => rt.block_on(exec(a)),
        Command::Shell(a) => crate::shell::run_shell(&rt, a),
        Command::Import(a) => crate::transfer::import(&rt, a),
        Command::Export(a) => crate::transfer::export(&rt, a),
        Command::Stats(a) => rt.block_on(stats(a)),
        Command::Compact(a) => rt.block_on(compact(a)),
        Command::Migrate(a) => rt.block_on(migrate(a)),
        #[cfg(feature = "http")]
        Command::Serve(a) => rt.block_on(crate::http::run_serve(a)),
    };
    // Background tasks (server workers, listeners) must not keep the process alive.
    rt.shutdown_timeout(Duration::from_secs(2));
    match result {
        Ok(code) => code,
        Err(f) => {
            eprintln!("{f}");
            f.code
        }
    }
}

/// Opens a database directory for the CLI. With `must_exist`, a missing directory is an I/O
/// error (exit 3) instead of a new empty database.
pub async fn open_db(path: &Path, must_exist: bool) -> Result<Aurora, Failure> {
    if must_exist && !path.exists() {
        return Err(Failure::io(format!("error[IO]: no database at {}", path.display())));
    }
    if path.exists() && !path.is_dir() {
        return Err(Failure::io(format!("error[IO]: {} is not a database directory", path.display())));
    }
    let config = AuroraConfig { db_path: path.to_path_buf(), workers_enabled: false, ..AuroraConfig::default() };
    Aurora::with_config(config).await.map_err(|e| {
        let mut msg = format!("error[{}]: cannot open database {}: {e}", e.code(), path.display());
        if e.to_string().contains("lock") {
            msg.push_str("\nhint: another process (an application or `aurora serve`) has it open");
        }
        Failure::new(exit::IO, msg)
    })
}

/// Closes the database, reporting a failure to flush as an I/O error.
pub async fn close_db(db: &Aurora) -> Result<(), Failure> {
    db.close().await.map_err(|e| Failure::new(exit::IO, format!("error[{}]: closing the database: {e}", e.code())))
}

/// Writes `text` and a newline to stdout; a closed pipe (`| head`) is not an error.
pub fn emit(text: &str) -> Result<(), Failure> {
    let mut out = std::io::stdout().lock();
    match writeln!(out, "{text}").and_then(|_| out.flush()) {
        Err(e) if e.kind() != std::io::ErrorKind::BrokenPipe => {
            Err(Failure::io(format!("error[IO]: writing to stdout: {e}")))
        }
        _ => Ok(()),
    }
}

/// Reads a whole source: a file, or stdin for `-`. Returns the text and a label for messages.
pub fn read_source(path: &Path) -> Result<(String, String), Failure> {
    if path.as_os_str() == "-" {
        let mut s = String::new();
        std::io::stdin().read_to_string(&mut s).map_err(|e| Failure::io(format!("error[IO]: reading stdin: {e}")))?;
        Ok((s, "<stdin>".into()))
    } else {
        let s = std::fs::read_to_string(path)
            .map_err(|e| Failure::io(format!("error[IO]: reading {}: {e}", path.display())))?;
        Ok((s, path.display().to_string()))
    }
}

/// Builds the variables object from `--vars JSON` and repeated `--var name=value`.
pub fn parse_vars(vars: Option<&str>, var: &[String]) -> Result<Json, Failure> {
    let mut out = match vars {
        None => Map::new(),
        Some(text) => match serde_json::from_str::<Json>(text) {
            Ok(Json::Object(m)) => m,
            Ok(_) => return Err(Failure::usage("error: --vars must be a JSON object")),
            Err(e) => return Err(Failure::usage(format!("error: --vars is not valid JSON: {e}"))),
        },
    };
    for item in var {
        let Some((name, value)) = item.split_once('=') else {
            return Err(Failure::usage(format!("error: --var {item:?} is not NAME=VALUE")));
        };
        let name = name.trim().trim_start_matches('$');
        if name.is_empty() {
            return Err(Failure::usage(format!("error: --var {item:?} has an empty name")));
        }
        let value = serde_json::from_str(value).unwrap_or_else(|_| Json::String(value.to_string()));
        out.insert(name.to_string(), value);
    }
    Ok(Json::Object(out))
}

async fn exec(a: ExecArgs) -> Result<u8, Failure> {
    let (aql, label) = match (&a.aql, &a.file) {
        (Some(text), _) if text == "-" => read_source(Path::new("-"))?,
        (Some(text), _) => (text.clone(), "<arg>".to_string()),
        (None, Some(file)) => read_source(file)?,
        (None, None) if !std::io::stdin().is_terminal() => read_source(Path::new("-"))?,
        (None, None) => return Err(Failure::usage("error: give the AQL as an argument, with -f FILE, or on stdin")),
    };
    if aql.trim().is_empty() {
        return Err(Failure::usage(format!("error: no AQL in {label}")));
    }
    let variables = parse_vars(a.vars.as_deref(), &a.var)?;
    let mode = a.out.mode();
    let db = open_db(&a.db, false).await?;
    let options =
        ExecuteOptions { debug_audit: a.debug_audit, operation_name: a.operation.clone(), ..Default::default() };
    let request = ExecuteRequest { aql: aql.clone(), variables, options };
    let result = match a.explain {
        true => db.explain(request),
        false => db.execute_lean(request).await.map(|r| r.to_json()),
    };
    let closed = close_db(&db).await;
    let value = result.map_err(|e| Failure::engine(&e, Some((&label, &aql))))?;
    closed?;
    emit(&mode.render(&value))?;
    Ok(exit::OK)
}

/// The `stats` report as JSON: collections with counts and schemas, and the job queue.
pub async fn stats_json(db: &Aurora) -> Result<Json, aurora_db::AuroraError> {
    let mut collections = Vec::new();
    for name in db.collection_names() {
        let count = db.count(&name).await?;
        let schema = db.schema(&name)?;
        let fields: Vec<Json> = schema
            .fields
            .iter()
            .map(|(f, d)| {
                json!({"name": f, "type": d.field_type.to_string(), "unique": d.unique,
                       "indexed": d.indexed, "nullable": d.nullable})
            })
            .collect();
        collections.push(json!({"name": name, "count": count, "strict": schema.strict, "fields": fields}));
    }
    let q = db.workers()?.queue().stats()?;
    Ok(json!({
        "collections": collections,
        "jobs": {"pending": q.pending, "running": q.running, "completed": q.completed,
                 "failed": q.failed, "deadLetter": q.dead_letter},
        "memory": serde_json::to_value(db.memory_stats())?,
    }))
}

fn stats_tables(s: &Json) -> String {
    use comfy_table::{presets, Table};
    let empty = Vec::new();
    let colls = s["collections"].as_array().unwrap_or(&empty);
    let mut out = Vec::new();
    let mut t = Table::new();
    t.load_preset(presets::UTF8_FULL_CONDENSED);
    t.set_header(vec!["collection", "documents", "fields", "strict"]);
    for c in colls {
        let nfields = c["fields"].as_array().map_or(0, Vec::len);
        t.add_row(vec![
            c["name"].as_str().unwrap_or_default().to_string(),
            c["count"].to_string(),
            nfields.to_string(),
            c["strict"].to_string(),
        ]);
    }
    out.push(if colls.is_empty() { "(no collections)".to_string() } else { t.to_string() });
    for c in colls {
        let fields = c["fields"].as_array().unwrap_or(&empty);
        if fields.is_empty() {
            continue;
        }
        let mut t = Table::new();
        t.load_preset(presets::UTF8_FULL_CONDENSED);
        t.set_header(vec!["field", "type", "unique", "indexed", "nullable"]);
        for f in fields {
            let flag = |k: &str| if f[k].as_bool() == Some(true) { "yes" } else { "" }.to_string();
            t.add_row(vec![
                f["name"].as_str().unwrap_or_default().to_string(),
                f["type"].as_str().unwrap_or_default().to_string(),
                flag("unique"),
                flag("indexed"),
                flag("nullable"),
            ]);
        }
        out.push(format!("schema of {}:\n{t}", c["name"].as_str().unwrap_or_default()));
    }
    let j = &s["jobs"];
    out.push(format!(
        "jobs: {} pending, {} running, {} completed, {} failed, {} dead letters",
        j["pending"], j["running"], j["completed"], j["failed"], j["deadLetter"]
    ));
    let m = &s["memory"];
    let mib = |k: &str| format!("{:.1}", m[k].as_u64().unwrap_or(0) as f64 / (1024.0 * 1024.0));
    out.push(format!(
        "memory (MiB, used of budget): hot cache {} of {}, index cache {} of {}, write buffer {} ({} entries), \
         plan cache {} of {}, cold store cache budget {}",
        mib("hotCacheBytes"),
        mib("hotCacheBudget"),
        mib("indexCacheBytes"),
        mib("indexCacheBudget"),
        mib("writeBufferBytes"),
        m["writeBufferEntries"],
        mib("planCacheBytes"),
        mib("planCacheBudget"),
        mib("coldCacheBudget")
    ));
    out.join("\n")
}

async fn stats(a: StatsArgs) -> Result<u8, Failure> {
    let mode = a.out.mode();
    let db = open_db(&a.db, true).await?;
    let mut report = stats_json(&db).await;
    if a.verify {
        report = match (report, db.verify().await) {
            (Ok(mut r), Ok(())) => {
                r["verified"] = Json::Bool(true);
                Ok(r)
            }
            (Ok(_), Err(e)) | (Err(e), _) => Err(e),
        };
    }
    let closed = close_db(&db).await;
    let report = report.map_err(|e| Failure::engine(&e, None))?;
    closed?;
    let text = match mode {
        OutputMode::Table => {
            let mut t = stats_tables(&report);
            if a.verify {
                t.push_str("\nverify: every index matches the stored documents");
            }
            t
        }
        json_mode => json_mode.render(&report),
    };
    emit(&text)?;
    Ok(exit::OK)
}

/// Total size of the files under `dir`.
fn dir_size(dir: &Path) -> u64 {
    let Ok(entries) = std::fs::read_dir(dir) else { return 0 };
    entries
        .flatten()
        .map(|e| match e.metadata() {
            Ok(m) if m.is_dir() => dir_size(&e.path()),
            Ok(m) => m.len(),
            Err(_) => 0,
        })
        .sum()
}

/// A spinner on stderr (hidden when stderr is not a terminal).
pub fn spinner(message: &str) -> indicatif::ProgressBar {
    let pb = indicatif::ProgressBar::new_spinner();
    pb.set_style(
        indicatif::ProgressStyle::with_template("{spinner} {msg} [{elapsed}]")
            .unwrap_or_else(|_| indicatif::ProgressStyle::default_spinner()),
    );
    pb.set_message(message.to_string());
    pb.enable_steady_tick(Duration::from_millis(100));
    pb
}

async fn compact(a: DbArg) -> Result<u8, Failure> {
    let before = dir_size(&a.db);
    let db = open_db(&a.db, true).await?;
    let started = Instant::now();
    let pb = spinner("compacting");
    let result = async {
        db.checkpoint().await?;
        db.compact().await
    }
    .await;
    pb.finish_and_clear();
    let closed = close_db(&db).await;
    result.map_err(|e| Failure::engine(&e, None))?;
    closed?;
    let after = dir_size(&a.db);
    eprintln!(
        "compacted {} in {:.1}s: {} -> {}",
        a.db.display(),
        started.elapsed().as_secs_f64(),
        indicatif::HumanBytes(before),
        indicatif::HumanBytes(after)
    );
    Ok(exit::OK)
}

async fn migrate(a: MigrateArgs) -> Result<u8, Failure> {
    let (aql, label) = read_source(&a.file)?;
    if !aql.contains("migrate") {
        return Err(Failure::usage(format!("error: {label} holds no `migrate {{ ... }}` block")));
    }
    let mode = a.out.mode();
    let db = open_db(&a.db, false).await?;
    let pb = spinner("migrating");
    let result = db.execute(aql.as_str()).await;
    pb.finish_and_clear();
    let closed = close_db(&db).await;
    let value = result.map_err(|e| Failure::engine(&e, Some((&label, &aql))))?;
    closed?;
    emit(&mode.render(&value.to_json()))?;
    Ok(exit::OK)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn vars_parse_as_json_then_fall_back_to_strings() {
        let v = parse_vars(Some(r#"{"a": 1, "b": "x"}"#), &["b=2".into(), "c=Ann".into(), "$d=[1,true]".into()])
            .unwrap_or_default();
        assert_eq!(v, json!({"a": 1, "b": 2, "c": "Ann", "d": [1, true]}));
        assert_eq!(parse_vars(None, &["s=\"007\"".into()]).unwrap_or_default(), json!({"s": "007"}));
        assert_eq!(parse_vars(None, &["e=".into()]).unwrap_or_default(), json!({"e": ""}));
    }

    #[test]
    fn bad_vars_are_usage_errors() {
        assert_eq!(parse_vars(Some("[1]"), &[]).map_err(|f| f.code), Err(exit::USAGE));
        assert_eq!(parse_vars(Some("{"), &[]).map_err(|f| f.code), Err(exit::USAGE));
        assert_eq!(parse_vars(None, &["novalue".into()]).map_err(|f| f.code), Err(exit::USAGE));
        assert_eq!(parse_vars(None, &["=1".into()]).map_err(|f| f.code), Err(exit::USAGE));
    }
}
