//! `aurora import` and `aurora export`: JSON Lines in and out of a collection.

use crate::cli::{close_db, open_db, ExportArgs, ImportArgs};
use crate::exit::{self, Failure};
use aurora_db::{Aurora, CollectionSchema, DocData, Value};
use indicatif::{ProgressBar, ProgressStyle};
use serde_json::{Map, Value as Json};
use std::io::{BufRead, BufReader, BufWriter, IsTerminal, Write};
use std::time::Instant;
use tokio::runtime::Runtime;

/// Rejected lines printed one by one before the rest are only counted.
const MAX_REPORTED: usize = 100;

fn bar(total: Option<u64>, quiet: bool, template: &str) -> ProgressBar {
    if quiet || !std::io::stderr().is_terminal() {
        return ProgressBar::hidden();
    }
    let pb = match total {
        Some(n) => ProgressBar::new(n),
        None => ProgressBar::new_spinner(),
    };
    if let Ok(style) = ProgressStyle::with_template(template) {
        pb.set_style(style.progress_chars("=> "));
    }
    pb
}

/// Import state: counts and the rejected lines.
struct Importer<'a> {
    rt: &'a Runtime,
    db: &'a Aurora,
    collection: &'a str,
    pb: ProgressBar,
    imported: u64,
    rejected: u64,
    strict: bool,
}

impl Importer<'_> {
    fn reject(&mut self, line: u64, reason: &str) {
        self.rejected += 1;
        if self.rejected as usize <= MAX_REPORTED {
            self.pb.suspend(|| eprintln!("line {line}: {reason}"));
        } else if self.rejected as usize == MAX_REPORTED + 1 {
            self.pb.suspend(|| eprintln!("(further rejected lines are only counted)"));
        }
    }

    /// Writes one batch atomically; if the engine rejects it for a data reason, retries the
    /// documents one by one to name the offending lines. Engine failures abort the import.
    fn flush(&mut self, batch: &mut Vec<(u64, DocData)>) -> Result<(), Failure> {
        if batch.is_empty() {
            return Ok(());
        }
        let docs: Vec<DocData> = batch.iter().map(|(_, d)| d.clone()).collect();
        match self.rt.block_on(self.db.batch_insert(self.collection, docs)) {
            Ok(ids) => self.imported += ids.len() as u64,
            Err(e) if exit::code_for(&e) == exit::QUERY => {
                for (line, doc) in batch.drain(..) {
                    match self.rt.block_on(self.db.insert_doc(self.collection, doc)) {
                        Ok(_) => self.imported += 1,
                        Err(e) if exit::code_for(&e) == exit::QUERY => {
                            self.reject(line, &format!("rejected [{}]: {e}", e.code()));
                            if self.strict {
                                return Ok(());
                            }
                        }
                        Err(e) => return Err(self.abort(&e)),
                    }
                }
            }
            Err(e) => return Err(self.abort(&e)),
        }
        batch.clear();
        Ok(())
    }

    fn abort(&self, e: &aurora_db::AuroraError) -> Failure {
        let mut f = Failure::engine(e, None);
        f.message.push_str(&format!("\nimport stopped after {} documents", self.imported));
        f
    }
}

fn to_doc(map: Map<String, Json>) -> DocData {
    map.into_iter().map(|(k, v)| (k.into(), Value::from_json(&v))).collect()
}

/// `aurora import DB COLLECTION FILE`.
pub fn import(rt: &Runtime, a: ImportArgs) -> Result<u8, Failure> {
    let (mut reader, total, label): (Box<dyn BufRead>, Option<u64>, String) = if a.file.as_os_str() == "-" {
        (Box::new(BufReader::new(std::io::stdin())), None, "<stdin>".into())
    } else {
        let f = std::fs::File::open(&a.file)
            .map_err(|e| Failure::io(format!("error[IO]: cannot open {}: {e}", a.file.display())))?;
        let len = f.metadata().map(|m| m.len()).ok();
        (Box::new(BufReader::with_capacity(1 << 20, f)), len, a.file.display().to_string())
    };
    let db = rt.block_on(open_db(&a.db, false))?;
    let result = import_into(rt, &db, &mut reader, total, &label, &a);
    let closed = rt.block_on(close_db(&db));
    let code = result?;
    closed?;
    Ok(code)
}

fn import_into(
    rt: &Runtime,
    db: &Aurora,
    reader: &mut dyn BufRead,
    total: Option<u64>,
    label: &str,
    a: &ImportArgs,
) -> Result<u8, Failure> {
    let started = Instant::now();
    if !db.collection_names().iter().any(|c| c == &a.collection) {
        rt.block_on(db.create_collection(&a.collection, CollectionSchema::default()))
            .map_err(|e| Failure::engine(&e, None))?;
        if !a.quiet {
            eprintln!("created collection `{}` (no schema)", a.collection);
        }
    }
    let pb = bar(
        total,
        a.quiet,
        "{spinner} [{elapsed_precise}] [{wide_bar}] {bytes}/{total_bytes} ({bytes_per_sec}, eta {eta}) {msg}",
    );
    let mut imp = Importer { rt, db, collection: &a.collection, pb, imported: 0, rejected: 0, strict: a.strict };
    let mut batch: Vec<(u64, DocData)> = Vec::with_capacity(a.batch_size as usize);
    let mut raw = Vec::new();
    let (mut line_no, mut read_bytes) = (0u64, 0u64);
    loop {
        raw.clear();
        let n = reader
            .read_until(b'\n', &mut raw)
            .map_err(|e| Failure::io(format!("error[IO]: reading {label} after line {line_no}: {e}")))?;
        if n == 0 {
            break;
        }
        line_no += 1;
        read_bytes += n as u64;
        let text = raw.trim_ascii();
        if text.is_empty() {
            continue;
        }
        match serde_json::from_slice::<Json>(text) {
            Ok(Json::Object(m)) => batch.push((line_no, to_doc(m))),
            Ok(other) => {
                let kind = match other {
                    Json::Array(_) => "an array",
                    Json::String(_) => "a string",
                    Json::Number(_) => "a number",
                    Json::Bool(_) => "a boolean",
                    _ => "null",
                };
                imp.reject(line_no, &format!("expected a JSON object, found {kind}"));
            }
            Err(e) => {
                let msg = e.to_string();
                let msg = msg.split(" at line ").next().unwrap_or(&msg);
                imp.reject(line_no, &format!("column {}: invalid JSON: {msg}", e.column()));
            }
        }
        if imp.strict && imp.rejected > 0 {
            break;
        }
        if batch.len() as u64 >= a.batch_size {
            imp.flush(&mut batch)?;
            imp.pb.set_position(read_bytes);
            imp.pb.set_message(format!("{} documents", imp.imported));
            if imp.strict && imp.rejected > 0 {
                break;
            }
        }
    }
    imp.flush(&mut batch)?;
    imp.pb.finish_and_clear();
    if !a.quiet {
        let mut summary = format!(
            "imported {} documents into `{}` in {:.1}s",
            imp.imported,
            a.collection,
            started.elapsed().as_secs_f64()
        );
        if imp.rejected > 0 {
            summary.push_str(&format!(
                "; {} line(s) rejected{}",
                imp.rejected,
                if a.strict { ", stopped at the first (--strict)" } else { "" }
            ));
        }
        eprintln!("{summary}");
    }
    Ok(if imp.rejected > 0 { exit::DATA } else { exit::OK })
}

/// `aurora export DB COLLECTION [FILE]`.
pub fn export(rt: &Runtime, a: ExportArgs) -> Result<u8, Failure> {
    let db = rt.block_on(open_db(&a.db, true))?;
    let result = export_from(rt, &db, &a);
    let closed = rt.block_on(close_db(&db));
    let code = result?;
    closed?;
    Ok(code)
}

fn export_from(rt: &Runtime, db: &Aurora, a: &ExportArgs) -> Result<u8, Failure> {
    let started = Instant::now();
    let docs = rt.block_on(db.query(&a.collection).collect()).map_err(|e| Failure::engine(&e, None))?;
    let (tmp, target): (Option<std::path::PathBuf>, Box<dyn Write>) = match &a.file {
        Some(path) if path.as_os_str() != "-" => {
            let mut name = path.file_name().unwrap_or_default().to_os_string();
            name.push(".partial");
            let tmp = path.with_file_name(name);
            let f = std::fs::File::create(&tmp)
                .map_err(|e| Failure::io(format!("error[IO]: cannot create {}: {e}", tmp.display())))?;
            (Some(tmp), Box::new(f))
        }
        _ => (None, Box::new(std::io::stdout().lock())),
    };
    let mut w = BufWriter::with_capacity(1 << 20, target);
    let pb = bar(Some(docs.len() as u64), a.quiet, "{spinner} [{elapsed_precise}] [{wide_bar}] {pos}/{len} documents");
    let mut written = 0u64;
    let mut failed = None;
    for (i, doc) in docs.iter().enumerate() {
        let mut obj = Map::new();
        if a.with_sid {
            obj.insert("_sid".into(), Json::String(doc._sid.clone()));
        }
        for (k, v) in doc.data.iter() {
            obj.insert(k.to_string(), v.to_json());
        }
        let r = serde_json::to_writer(&mut w, &obj).map_err(std::io::Error::from).and_then(|_| w.write_all(b"\n"));
        if let Err(e) = r {
            failed = Some(e);
            break;
        }
        written += 1;
        if i % 1024 == 0 {
            pb.set_position(written);
        }
    }
    let r = match failed {
        Some(e) => Err(e),
        None => w.flush(),
    };
    pb.finish_and_clear();
    match r {
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe && tmp.is_none() => return Ok(exit::OK),
        Err(e) => {
            if let Some(t) = &tmp {
                let _ = std::fs::remove_file(t);
            }
            return Err(Failure::io(format!("error[IO]: writing the export: {e}")));
        }
        Ok(()) => {}
    }
    drop(w);
    let dest = match (&tmp, &a.file) {
        (Some(t), Some(path)) => {
            std::fs::rename(t, path)
                .map_err(|e| Failure::io(format!("error[IO]: cannot write {}: {e}", path.display())))?;
            path.display().to_string()
        }
        _ => "stdout".to_string(),
    };
    if !a.quiet {
        eprintln!(
            "exported {written} documents from `{}` to {dest} in {:.1}s",
            a.collection,
            started.elapsed().as_secs_f64()
        );
    }
    Ok(exit::OK)
}
