//! `aurora import` and `aurora export`: JSON Lines in and out of a collection.

use crate::cli::{close_db, open_db, ExportArgs, ImportArgs};
use crate::exit::{self, Failure};
use aurora_db::value::OrdValue;
use aurora_db::{Aurora, AuroraError, CollectionSchema, DocData, Document, Value};
use indicatif::{ProgressBar, ProgressStyle};
use serde_json::{Map, Value as Json};
use std::collections::HashMap;
use std::fs::File;
use std::io::{BufRead, BufReader, BufWriter, IsTerminal, Write};
use std::path::Path;
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

/// Import state: counts, the rejected lines and where a `--strict` import stopped.
struct Importer<'a> {
    rt: &'a Runtime,
    db: &'a Aurora,
    collection: &'a str,
    pb: ProgressBar,
    imported: u64,
    /// Lines reported as refused (bad JSON, not an object, `_sid`, refused by the engine).
    rejected: u64,
    /// Good documents not written because the engine refused their batch.
    skipped: u64,
    /// `_sid` keys removed under `--drop-sid`.
    dropped_sids: u64,
    strict: bool,
    drop_sid: bool,
    /// `--strict` only: the refused line and the first line of what was not imported.
    stopped: Option<(u64, u64)>,
}

impl Importer<'_> {
    fn reject(&mut self, line: u64, reason: &str) {
        self.rejected += 1;
        self.say(&format!("line {line}: {reason}"));
    }

    /// Prints a report line above the progress bar, up to [`MAX_REPORTED`] lines.
    fn say(&self, text: &str) {
        if self.rejected as usize <= MAX_REPORTED {
            self.pb.suspend(|| eprintln!("{text}"));
        } else if self.rejected as usize == MAX_REPORTED + 1 {
            self.pb.suspend(|| eprintln!("(further rejected lines are only counted)"));
        }
    }

    /// Parses one non-empty input line into a document, or says why it cannot be imported.
    fn parse_line(&mut self, text: &[u8]) -> Result<DocData, String> {
        let mut map = match serde_json::from_slice::<Json>(text) {
            Ok(Json::Object(m)) => m,
            Ok(other) => return Err(format!("expected a JSON object, found {}", kind_of(&other))),
            Err(e) => {
                let msg = e.to_string();
                let msg = msg.split(" at line ").next().unwrap_or(&msg);
                return Err(format!("column {}: invalid JSON: {msg}", e.column()));
            }
        };
        if map.contains_key("_sid") {
            if !self.drop_sid {
                return Err("`_sid` is a system id (as written by `export --with-sid`); the engine assigns new ids \
                            and cannot store it: pass --drop-sid to drop it, or rename the field"
                    .into());
            }
            // `shift_remove` keeps the other fields in their order (`remove` swaps the last one in).
            map.shift_remove("_sid");
            self.dropped_sids += 1;
        }
        Ok(to_doc(map))
    }

    /// Writes one batch with `batch_insert`: all of it or, if the engine refuses it, none of
    /// it. A refused batch is then diagnosed (nothing is written) and reported line by line.
    /// Engine failures that are not about the data abort the import.
    fn flush(&mut self, batch: &mut Vec<(u64, DocData)>) -> Result<(), Failure> {
        if batch.is_empty() {
            return Ok(());
        }
        let docs: Vec<DocData> = batch.iter().map(|(_, d)| d.clone()).collect();
        match self.rt.block_on(self.db.batch_insert(self.collection, docs)) {
            Ok(ids) => self.imported += ids.len() as u64,
            Err(e) if exit::code_for(&e) == exit::QUERY => self.refuse_batch(batch, &e)?,
            Err(e) => return Err(self.abort(&e)),
        }
        batch.clear();
        Ok(())
    }

    /// Reports a batch the engine refused: the offending lines with their errors, then the
    /// batch as a whole, which was not written.
    fn refuse_batch(&mut self, batch: &[(u64, DocData)], error: &AuroraError) -> Result<(), Failure> {
        let (first, last) = match (batch.first(), batch.last()) {
            (Some(f), Some(l)) => (f.0, l.0),
            _ => return Ok(()),
        };
        let offenders =
            self.rt.block_on(find_offenders(self.db, self.collection, batch)).map_err(|e| self.abort(&e))?;
        if offenders.is_empty() {
            // The engine's error could not be tied to a line (it should not happen): say so.
            self.reject(first, &format!("{} (no single line of its batch could be singled out)", refused(error)));
        }
        for (line, reason) in &offenders {
            self.reject(*line, reason);
        }
        let others = (batch.len() as u64).saturating_sub(offenders.len().max(1) as u64);
        self.skipped += others;
        self.say(&format!(
            "{}: batch not imported (a batch is written whole or not at all); {others} other document(s) in it skipped",
            span(first, last)
        ));
        if self.strict {
            self.stopped = Some((offenders.first().map_or(first, |o| o.0), first));
        }
        Ok(())
    }

    fn abort(&self, e: &AuroraError) -> Failure {
        let mut f = Failure::engine(e, None);
        f.message.push_str(&format!("\nimport stopped after {} documents", self.imported));
        f
    }

    /// The closing line: counts, and where a `--strict` import stopped.
    fn summary(&self, collection: &str, started: Instant) -> String {
        let mut s = format!(
            "imported {} documents into `{collection}` in {:.1}s",
            self.imported,
            started.elapsed().as_secs_f64()
        );
        if self.rejected > 0 {
            s.push_str(&format!("; {} line(s) rejected", self.rejected));
        }
        if self.skipped > 0 {
            s.push_str(&format!("; {} other document(s) skipped with their rejected batch", self.skipped));
        }
        if self.dropped_sids > 0 {
            s.push_str(&format!("; {} `_sid` value(s) dropped (documents got new ids)", self.dropped_sids));
        }
        if let Some((line, from)) = self.stopped {
            s.push_str(&format!("; stopped at line {line} (--strict): nothing from line {from} on was imported"));
        }
        s
    }
}

/// `line N` or `lines N-M`.
fn span(first: u64, last: u64) -> String {
    if first == last {
        format!("line {first}")
    } else {
        format!("lines {first}-{last}")
    }
}

fn refused(e: &AuroraError) -> String {
    format!("rejected [{}]: {e}", e.code())
}

fn kind_of(v: &Json) -> &'static str {
    match v {
        Json::Array(_) => "an array",
        Json::String(_) => "a string",
        Json::Number(_) => "a number",
        Json::Bool(_) => "a boolean",
        Json::Object(_) => "an object",
        Json::Null => "null",
    }
}

/// Singles out the documents of a refused batch that the engine rejects, without writing
/// anything: each is checked against the schema as the engine checks it, and its unique values
/// against the stored documents and the earlier documents of the batch.
async fn find_offenders(
    db: &Aurora,
    collection: &str,
    batch: &[(u64, DocData)],
) -> Result<Vec<(u64, String)>, AuroraError> {
    let schema = db.schema(collection)?;
    let mut claimed: HashMap<(String, OrdValue), u64> = HashMap::new();
    let mut out = Vec::new();
    for (line, doc) in batch {
        let mut doc = doc.clone();
        // `validate` also converts values as the engine stores them (Int to Float...), which the
        // unique checks below need.
        if let Err(e) = aurora_db::schema::validate(collection, &schema, &mut doc) {
            out.push((*line, refused(&e)));
        } else if let Some(reason) = unique_clash(db, collection, &schema, &doc, *line, &mut claimed).await? {
            out.push((*line, reason));
        }
    }
    Ok(out)
}

/// The unique-constraint error a document would meet, if any; records its unique values.
async fn unique_clash(
    db: &Aurora,
    collection: &str,
    schema: &CollectionSchema,
    doc: &DocData,
    line: u64,
    claimed: &mut HashMap<(String, OrdValue), u64>,
) -> Result<Option<String>, AuroraError> {
    for field in schema.unique_fields() {
        let Some(value) = doc.get(field).filter(|v| !v.is_null()) else {
            continue;
        };
        let clash = AuroraError::UniqueViolation {
            collection: collection.to_string(),
            field: field.to_string(),
            value: value.to_string(),
        };
        let key = (field.to_string(), OrdValue(value.clone()));
        if let Some(earlier) = claimed.get(&key) {
            return Ok(Some(format!("{} (line {earlier} of the same batch has it too)", refused(&clash))));
        }
        let stored = db.query(collection).filter(|f| f.eq(field, value.clone())).first_one().await?;
        if stored.is_some() {
            return Ok(Some(format!("{} (already stored)", refused(&clash))));
        }
        claimed.insert(key, line);
    }
    Ok(None)
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
    let mut imp = Importer {
        rt,
        db,
        collection: &a.collection,
        pb,
        imported: 0,
        rejected: 0,
        skipped: 0,
        dropped_sids: 0,
        strict: a.strict,
        drop_sid: a.drop_sid,
        stopped: None,
    };
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
        match imp.parse_line(text) {
            Ok(doc) => batch.push((line_no, doc)),
            Err(reason) => {
                imp.reject(line_no, &reason);
                if imp.strict {
                    // The pending batch is dropped: nothing after the last committed batch.
                    imp.stopped = Some((line_no, batch.first().map_or(line_no, |b| b.0)));
                    break;
                }
            }
        }
        if batch.len() as u64 >= a.batch_size {
            imp.flush(&mut batch)?;
            imp.pb.set_position(read_bytes);
            imp.pb.set_message(format!("{} documents", imp.imported));
            if imp.stopped.is_some() {
                break;
            }
        }
    }
    if imp.stopped.is_none() {
        imp.flush(&mut batch)?;
    }
    imp.pb.finish_and_clear();
    let incomplete = imp.rejected > 0 || imp.skipped > 0;
    if !a.quiet || incomplete {
        eprintln!("{}", imp.summary(&a.collection, started));
    }
    Ok(if incomplete { exit::DATA } else { exit::OK })
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
    let (written, dest) = match &a.file {
        Some(path) if path.as_os_str() != "-" => (export_to_file(&docs, path, a)?, path.display().to_string()),
        _ => match export_to_stdout(&docs, a) {
            Ok(n) => (n, "stdout".to_string()),
            // A reader that stopped early (`| head`) is not an error.
            Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => return Ok(exit::OK),
            Err(e) => return Err(write_failure(e, Path::new("stdout"))),
        },
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

/// Writes the export to `FILE.partial`, then makes it durable under `FILE` (see
/// [`publish`]); on failure the partial file is removed and `FILE` is untouched.
fn export_to_file(docs: &[Document], path: &Path, a: &ExportArgs) -> Result<u64, Failure> {
    let mut name = path.file_name().unwrap_or_default().to_os_string();
    name.push(".partial");
    let tmp = path.with_file_name(name);
    let file =
        File::create(&tmp).map_err(|e| Failure::io(format!("error[IO]: cannot create {}: {e}", tmp.display())))?;
    let mut w = BufWriter::with_capacity(1 << 20, file);
    let result = write_docs(&mut w, docs, a).map_err(|e| write_failure(e, &tmp)).and_then(|n| {
        let file = w.into_inner().map_err(|e| write_failure(e.into_error(), &tmp))?;
        publish(file, &tmp, path)?;
        Ok(n)
    });
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    result
}

/// Makes a finished export durable under its final name: fsync the partial file, rename it
/// over the target, then fsync the directory so that the rename itself survives a crash.
fn publish(file: File, tmp: &Path, path: &Path) -> Result<(), Failure> {
    file.sync_all().map_err(|e| write_failure(e, tmp))?;
    drop(file);
    std::fs::rename(tmp, path).map_err(|e| Failure::io(format!("error[IO]: cannot write {}: {e}", path.display())))?;
    sync_dir(path).map_err(|e| {
        Failure::io(format!(
            "error[IO]: {} is written but its directory could not be synced (the rename may not survive a crash): {e}",
            path.display()
        ))
    })
}

/// Fsyncs the directory holding `path` (a no-op where directories cannot be opened).
fn sync_dir(path: &Path) -> std::io::Result<()> {
    #[cfg(unix)]
    {
        let dir = match path.parent() {
            Some(d) if !d.as_os_str().is_empty() => d,
            _ => Path::new("."),
        };
        File::open(dir)?.sync_all()
    }
    #[cfg(not(unix))]
    {
        let _ = path;
        Ok(())
    }
}

/// Writes the export to stdout.
fn export_to_stdout(docs: &[Document], a: &ExportArgs) -> std::io::Result<u64> {
    let mut w = BufWriter::with_capacity(1 << 20, std::io::stdout().lock());
    write_docs(&mut w, docs, a)
}

/// An error while writing the export: a refused document (`InvalidData`) or I/O.
fn write_failure(e: std::io::Error, target: &Path) -> Failure {
    if e.kind() == std::io::ErrorKind::InvalidData {
        return Failure::new(exit::INTERNAL, format!("error: {e}; the export stopped"));
    }
    Failure::io(format!("error[IO]: writing the export to {}: {e}", target.display()))
}

/// Writes one JSON line per document and returns how many were written.
fn write_docs(w: &mut impl Write, docs: &[Document], a: &ExportArgs) -> std::io::Result<u64> {
    let pb = bar(Some(docs.len() as u64), a.quiet, "{spinner} [{elapsed_precise}] [{wide_bar}] {pos}/{len} documents");
    let mut written = 0u64;
    let mut write_all = || -> std::io::Result<()> {
        for doc in docs {
            let obj =
                export_object(doc, a.with_sid).map_err(|m| std::io::Error::new(std::io::ErrorKind::InvalidData, m))?;
            serde_json::to_writer(&mut *w, &obj)?;
            w.write_all(b"\n")?;
            written += 1;
            if written.is_multiple_of(1024) {
                pb.set_position(written);
            }
        }
        w.flush()
    };
    let result = write_all();
    pb.finish_and_clear();
    result.map(|_| written)
}

/// One exported line: the document's fields, with its system id under `_sid` when asked. The
/// engine refuses a user field named `_sid`, so a document holding one (written by other
/// means) stops the export rather than letting either value hide the other.
fn export_object(doc: &Document, with_sid: bool) -> Result<Map<String, Json>, String> {
    if doc.data.contains_key("_sid") {
        return Err(format!("document {} has a field named `_sid`, which is reserved for the system id", doc._sid));
    }
    let mut obj = Map::new();
    if with_sid {
        obj.insert("_sid".into(), Json::String(doc._sid.clone()));
    }
    for (k, v) in doc.data.iter() {
        obj.insert(k.to_string(), v.to_json());
    }
    Ok(obj)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn doc(fields: &[(&str, Value)]) -> aurora_db::Document {
        aurora_db::Document::new(
            "0190a4b2-0000-7000-8000-000000000001",
            fields.iter().map(|(k, v)| ((*k).into(), v.clone())).collect(),
        )
    }

    #[test]
    fn a_sid_field_never_replaces_the_system_id() {
        let d = doc(&[("name", Value::String("Ann".into())), ("_sid", Value::String("user-chosen".into()))]);
        let err = export_object(&d, true).expect_err("a `_sid` field must not clobber the system id");
        assert!(err.contains("`_sid`") && err.contains("0190a4b2-0000-7000-8000-000000000001"), "{err}");
        // Without --with-sid there is nothing to clobber, but the field is still not a user field
        // the engine accepts back: refused as well.
        assert!(export_object(&d, false).is_err());
        let ok = export_object(&doc(&[("name", Value::String("Ann".into()))]), true).unwrap_or_default();
        assert_eq!(
            Json::Object(ok),
            serde_json::json!({"_sid": "0190a4b2-0000-7000-8000-000000000001", "name": "Ann"})
        );
    }
}
