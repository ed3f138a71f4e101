//! Damaged files: flipped bytes in WAL segments and in the cold store's file. Each damaged copy
//! is opened by a child process (`corrupt-probe check`) with a timeout, so a panic or a hang is
//! caught and counted. Opening must either fail with an error, or succeed with `verify()`
//! passing and every query answer consistent with the documents that were written.
//!
//! `AURORA_CORRUPT_TRIALS` sets the trials per file kind (default 40), `AURORA_SEED` the seed.

use aurora_reliability::{copy_dir, env_u64, files_under, run_with_timeout, seed, ChildEnd, Rng};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

const DOCS: i64 = 120;
const OPEN_TIMEOUT: Duration = Duration::from_secs(30);

fn probe() -> Command {
    Command::new(env!("CARGO_BIN_EXE_corrupt-probe"))
}

fn populate(db: &Path, mode: &str) {
    let out = probe().args(["populate", db.to_str().unwrap(), &DOCS.to_string(), mode]).output().unwrap();
    assert!(out.status.success(), "populate failed: {}", String::from_utf8_lossy(&out.stderr));
}

fn check(db: &Path) -> ChildEnd {
    run_with_timeout(probe().args(["check", db.to_str().unwrap(), &DOCS.to_string()]), OPEN_TIMEOUT)
}

/// Start offsets of the frames of a WAL segment (`len u32 | crc u32 | payload`).
fn frame_starts(bytes: &[u8]) -> Vec<usize> {
    let mut v = Vec::new();
    let mut off = 0;
    while off + 8 <= bytes.len() {
        v.push(off);
        let len = u32::from_le_bytes(bytes[off..off + 4].try_into().unwrap()) as usize;
        off += 8 + len;
    }
    assert_eq!(off, bytes.len(), "the clean segment is well formed");
    v
}

/// Parses `... at offset N: ...` out of a corruption error.
fn error_offset(msg: &str) -> Option<u64> {
    msg.split("at offset ").nth(1)?.split(':').next()?.trim().parse().ok()
}

#[derive(Default)]
struct Tally(BTreeMap<&'static str, usize>);

impl Tally {
    fn add(&mut self, k: &'static str) {
        *self.0.entry(k).or_default() += 1;
    }
    fn get(&self, k: &str) -> usize {
        self.0.get(k).copied().unwrap_or(0)
    }
    fn show(&self) -> String {
        self.0.iter().map(|(k, v)| format!("{k}={v}")).collect::<Vec<_>>().join(", ")
    }
}

fn fresh_copy(base: &Path, work: &Path, trial: u64) -> PathBuf {
    let dir = work.join(format!("t{trial}"));
    copy_dir(base, &dir).unwrap();
    dir
}

#[test]
fn flipped_bytes_in_the_wal() {
    let trials = env_u64("AURORA_CORRUPT_TRIALS", 40);
    let seed = seed(0xC0FFEE);
    let mut rng = Rng::new(seed);
    let tmp = tempfile::tempdir().unwrap();
    let base = tmp.path().join("base");
    populate(&base, "wal");
    let segs: Vec<PathBuf> =
        files_under(&base.join("wal")).into_iter().filter(|p| std::fs::metadata(p).unwrap().len() > 0).collect();
    assert_eq!(segs.len(), 1, "the data set fits one segment: {segs:?}");
    let seg_name = segs[0].file_name().unwrap().to_owned();
    let clean = std::fs::read(&segs[0]).unwrap();
    let starts = frame_starts(&clean);
    let last = *starts.last().unwrap();
    let started = Instant::now();
    let mut tally = Tally::default();
    let mut failures = Vec::new();
    for trial in 0..trials {
        // A third anywhere, a third in a record header (length/checksum), a third in the last record.
        let pos = match trial % 3 {
            0 => rng.below(clean.len() as u64) as usize,
            1 => starts[rng.below(starts.len() as u64) as usize] + rng.below(8) as usize,
            _ => last + rng.below((clean.len() - last) as u64) as usize,
        };
        let dir = fresh_copy(&base, tmp.path(), trial);
        let seg = dir.join("wal").join(&seg_name);
        let mut bytes = clean.clone();
        bytes[pos] ^= rng.nonzero_byte();
        std::fs::write(&seg, &bytes).unwrap();
        let in_tail = pos >= last;
        let in_tail_payload = pos >= last + 8;
        let what = format!("trial {trial}: byte {pos} of {} (last record at {last})", clean.len());
        match check(&dir) {
            ChildEnd::Hung => {
                tally.add("hang");
                failures.push(format!("{what}: open hung"));
            }
            ChildEnd::Failed(code, err) => {
                tally.add("panic/crash");
                failures.push(format!("{what}: probe died ({code:?}): {err}"));
            }
            ChildEnd::Ok(line) => {
                let line = line.trim();
                if let Some(msg) = line.strip_prefix("OPEN_ERR ") {
                    let named = msg.contains(seg_name.to_str().unwrap());
                    match error_offset(msg) {
                        Some(off) if named && off as usize <= pos && starts.contains(&(off as usize)) => tally
                            .add(if in_tail { "error naming file+offset (tail)" } else { "error naming file+offset" }),
                        _ => {
                            tally.add("error without file/offset");
                            failures
                                .push(format!("{what}: error does not name the file and the damaged record: {msg}"));
                        }
                    }
                    if in_tail_payload {
                        failures.push(format!("{what}: damage in the last record's payload is a torn tail: {msg}"));
                    }
                } else if line.starts_with("VERIFY_ERR") || line.starts_with("QUERY_ERR") {
                    tally.add("error after open");
                    failures.push(format!("{what}: the WAL checksum let damage through: {line}"));
                } else if line == "RESULT missing=- wrong=- extra=- inconsistent=-" {
                    tally.add("opened, nothing lost");
                    failures.push(format!("{what}: a damaged record was applied"));
                } else if line == format!("RESULT missing={DOCS} wrong=- extra=- inconsistent=-") && in_tail {
                    tally.add("torn tail discarded");
                } else {
                    tally.add("SILENT LOSS/WRONG");
                    failures.push(format!("{what}: opened with {line}"));
                }
            }
        }
        let _ = std::fs::remove_dir_all(&dir);
    }
    eprintln!(
        "RESULT corruption wal: {trials} flipped bytes (seed {seed:#x}, segment {} bytes, {} records): {}; {:.1?}",
        clean.len(),
        starts.len(),
        tally.show(),
        started.elapsed()
    );
    assert!(failures.is_empty(), "{} bad outcomes:\n{}", failures.len(), failures.join("\n"));
    assert!(tally.get("torn tail discarded") > 0, "no tail damage was exercised");
}

/// The cold store's files: redb's one file (the default store).
fn cold_store_files(db: &Path) -> Vec<PathBuf> {
    files_under(db).into_iter().filter(|p| p.extension().is_some_and(|e| e == "redb")).collect()
}

#[test]
fn flipped_bytes_in_cold_store_files() {
    let trials = env_u64("AURORA_CORRUPT_TRIALS", 40);
    let seed = seed(0x5EED);
    let mut rng = Rng::new(seed);
    let tmp = tempfile::tempdir().unwrap();
    // Two starting points: closed cleanly (everything in the cold store), and killed after a
    // checkpoint (inserts in the cold store, updates and deletes only in the WAL).
    let mut bases = Vec::new();
    for mode in ["closed", "mixed"] {
        let base = tmp.path().join(format!("base-{mode}"));
        populate(&base, mode);
        // An undamaged copy opens and answers everything correctly (the check runs on a copy:
        // opening rewrites sled's files).
        match check(&fresh_copy(&base, tmp.path(), u64::MAX)) {
            ChildEnd::Ok(line) => assert_eq!(line.trim(), "RESULT missing=- wrong=- extra=- inconsistent=-", "{mode}"),
            other => panic!("the undamaged {mode} database does not check out: {other:?}"),
        }
        let _ = std::fs::remove_dir_all(tmp.path().join(format!("t{}", u64::MAX)));
        let files: Vec<(PathBuf, u64)> = cold_store_files(&base)
            .into_iter()
            .map(|p| {
                let len = std::fs::metadata(&p).unwrap().len();
                (p, len)
            })
            .filter(|(_, len)| *len > 0)
            .collect();
        assert!(!files.is_empty());
        bases.push((mode, base, files));
    }
    let started = Instant::now();
    let mut tally = Tally::default();
    let mut per_file: BTreeMap<String, Tally> = BTreeMap::new();
    let mut failures = Vec::new();
    let mut sample_errors: BTreeMap<String, String> = BTreeMap::new();
    for trial in 0..trials {
        let (mode, base, files) = &bases[(trial % 2) as usize];
        // Mostly a byte-weighted choice (the log file), every fourth trial any file (conf, snapshots).
        let (file, len) = if trial % 4 == 3 {
            &files[rng.below(files.len() as u64) as usize]
        } else {
            let total: u64 = files.iter().map(|(_, l)| l).sum();
            let mut at = rng.below(total);
            files
                .iter()
                .find(|(_, l)| {
                    if at < *l {
                        true
                    } else {
                        at -= l;
                        false
                    }
                })
                .unwrap()
        };
        let rel = file.strip_prefix(base).unwrap().to_path_buf();
        let dir = fresh_copy(base, tmp.path(), trial);
        let target = dir.join(&rel);
        let mut bytes = std::fs::read(&target).unwrap();
        // Single flipped bytes and 16-byte bursts of garbage, alternately per base.
        let burst = if (trial / 2) % 2 == 0 { 1 } else { 16 };
        let pos = rng.below(*len) as usize;
        for b in bytes.iter_mut().skip(pos).take(burst) {
            *b ^= rng.nonzero_byte();
        }
        std::fs::write(&target, &bytes).unwrap();
        let what = format!("trial {trial} ({mode}): {burst} byte(s) at {pos} of {} ({len} bytes)", rel.display());
        let kind = rel.file_name().unwrap().to_string_lossy().split('.').next().unwrap_or("?").to_string();
        let outcome: &'static str = match check(&dir) {
            ChildEnd::Hung => {
                failures.push(format!("{what}: open hung"));
                "hang"
            }
            ChildEnd::Failed(code, err) => {
                let err = err.lines().take(3).collect::<Vec<_>>().join(" | ");
                failures.push(format!("{what}: probe died ({code:?}): {err}"));
                "panic/crash"
            }
            ChildEnd::Ok(line) => {
                let line = line.trim().to_string();
                let outcome = if line.starts_with("OPEN_ERR") {
                    "error at open"
                } else if line.starts_with("VERIFY_ERR") {
                    "error at verify"
                } else if line.starts_with("QUERY_ERR") {
                    "error at query"
                } else if line == "RESULT missing=- wrong=- extra=- inconsistent=-" {
                    "opened, all answers correct"
                } else {
                    failures.push(format!("{what}: opened with {line}"));
                    "SILENT LOSS/WRONG"
                };
                if line.contains("_ERR") {
                    sample_errors.entry(format!("{kind}/{outcome}")).or_insert_with(|| line.clone());
                }
                outcome
            }
        };
        tally.add(outcome);
        per_file.entry(kind).or_default().add(outcome);
        let _ = std::fs::remove_dir_all(&dir);
    }
    eprintln!(
        "RESULT corruption cold store: {trials} damaged copies (seed {seed:#x}): {}; per file: {}; {:.1?}",
        tally.show(),
        per_file.iter().map(|(k, t)| format!("{k}: [{}]", t.show())).collect::<Vec<_>>().join(" "),
        started.elapsed()
    );
    for (k, e) in &sample_errors {
        eprintln!("  sample {k}: {e}");
    }
    assert!(failures.is_empty(), "{} bad outcomes:\n{}", failures.len(), failures.join("\n"));
}
