//! Shared pieces of the reliability suites: the workload schema, the crash workload's job
//! handler, the invariant checks and the fault-injecting cold stores.

pub mod faults;

use aurora_db::types::FieldDefinition;
use aurora_db::workers::{Job, WorkerConfig};
use aurora_db::{Aurora, FieldType, Value};
use std::time::Duration;

/// Sequence numbers of transaction documents start here (inside a round's range).
pub const TX_OFFSET: i64 = 500_000;

/// The crash writer enqueues a job for every `JOB_EVERY`-th sequence number.
pub const JOB_EVERY: i64 = 3;

/// Jobs whose number is a multiple of this fail their first attempt (so retries cross crashes).
pub const JOB_FAIL_FIRST_EVERY: i64 = 13;

fn field(t: FieldType, unique: bool, indexed: bool, nullable: bool) -> FieldDefinition {
    FieldDefinition { field_type: t, unique, indexed, nullable }
}

/// Creates the `items` collection used by the crash workload, and `done`, where job handlers
/// record each run.
pub async fn create_schema(db: &Aurora) -> aurora_db::Result<()> {
    db.new_collection(
        "items",
        vec![
            ("seq", field(FieldType::Int, true, true, false)),
            ("email", field(FieldType::String, true, true, false)),
            ("grp", field(FieldType::Int, false, true, true)),
            ("age", field(FieldType::Int, false, true, true)),
        ],
    )
    .await?;
    db.new_collection(
        "done",
        vec![
            ("job", field(FieldType::Int, false, true, false)),
            ("attempt", field(FieldType::Int, false, false, true)),
        ],
    )
    .await
}

/// Number of documents whose `seq` equals `seq`.
pub async fn count_seq(db: &Aurora, seq: i64) -> aurora_db::Result<usize> {
    db.query("items").filter(|f| f.eq("seq", Value::Int(seq))).count().await
}

/// Number of recorded runs of job number `n`.
pub async fn count_runs(db: &Aurora, n: i64) -> aurora_db::Result<usize> {
    db.query("done").filter(|f| f.eq("job", Value::Int(n))).count().await
}

/// Worker settings of the crash workload: fast retries so failed jobs come back quickly.
pub fn job_worker_config() -> WorkerConfig {
    WorkerConfig {
        concurrency: 2,
        retry_base_ms: 20,
        poll_interval: Duration::from_millis(50),
        ..WorkerConfig::default()
    }
}

/// The crash workload's job handler: records the run in `done` (a durable side effect written
/// before the job can be marked completed), failing the first attempt of every
/// [`JOB_FAIL_FIRST_EVERY`]-th job.
pub async fn run_job(db: Aurora, job: Job) -> aurora_db::Result<()> {
    let n = job.payload.get("n").and_then(|v| v.as_i64()).ok_or("job without a number")?;
    db.insert_into("done", vec![("job", Value::Int(n)), ("attempt", Value::Int(job.attempts as i64))]).await?;
    if n % JOB_FAIL_FIRST_EVERY == 0 && job.attempts == 1 {
        return Err("first attempt fails on purpose".into());
    }
    Ok(())
}

/// Resident set size of this process in KiB (`VmRSS` of `/proc/self/status`), if readable.
pub fn rss_kib() -> Option<u64> {
    let s = std::fs::read_to_string("/proc/self/status").ok()?;
    s.lines().find_map(|l| l.strip_prefix("VmRSS:")).and_then(|v| v.split_whitespace().next()?.parse().ok())
}

/// Reads a count from the environment, with a default.
pub fn env_u64(name: &str, default: u64) -> u64 {
    std::env::var(name).ok().and_then(|s| s.trim().parse().ok()).unwrap_or(default)
}

/// Small seeded generator (SplitMix64): reproducible runs without an extra dependency.
#[derive(Debug, Clone)]
pub struct Rng(u64);

impl Rng {
    /// A generator from a seed.
    pub fn new(seed: u64) -> Rng {
        Rng(seed)
    }

    /// Next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in `0..n` (`n > 0`).
    pub fn below(&mut self, n: u64) -> u64 {
        self.next_u64() % n
    }

    /// A byte other than zero (an XOR mask that always changes the byte).
    pub fn nonzero_byte(&mut self) -> u8 {
        (self.below(255) + 1) as u8
    }
}

/// Seed of a randomized suite: `AURORA_SEED` or a fixed default, printed so a run can be repeated.
pub fn seed(default: u64) -> u64 {
    env_u64("AURORA_SEED", default)
}

/// Copies a directory tree.
pub fn copy_dir(from: &std::path::Path, to: &std::path::Path) -> std::io::Result<()> {
    std::fs::create_dir_all(to)?;
    for e in std::fs::read_dir(from)? {
        let e = e?;
        let target = to.join(e.file_name());
        if e.file_type()?.is_dir() {
            copy_dir(&e.path(), &target)?;
        } else {
            std::fs::copy(e.path(), target)?;
        }
    }
    Ok(())
}

/// Regular files under a directory, recursively, sorted.
pub fn files_under(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    if let Ok(rd) = std::fs::read_dir(dir) {
        for e in rd.flatten() {
            let p = e.path();
            if p.is_dir() {
                out.extend(files_under(&p));
            } else {
                out.push(p);
            }
        }
    }
    out.sort();
    out
}

/// How a child process ended.
#[derive(Debug)]
pub enum ChildEnd {
    /// Exited with status 0; its stdout.
    Ok(String),
    /// Exited with another status (a panic is 101); its stderr.
    Failed(Option<i32>, String),
    /// Still running at the deadline: killed.
    Hung,
}

/// Runs a command, killing it after `timeout`.
pub fn run_with_timeout(cmd: &mut std::process::Command, timeout: Duration) -> ChildEnd {
    use std::io::Read;
    use std::process::Stdio;
    let mut child = cmd.stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().expect("spawn child process");
    let mut out = child.stdout.take().unwrap();
    let mut err = child.stderr.take().unwrap();
    let out_t = std::thread::spawn(move || {
        let mut s = String::new();
        let _ = out.read_to_string(&mut s);
        s
    });
    let err_t = std::thread::spawn(move || {
        let mut s = String::new();
        let _ = err.read_to_string(&mut s);
        s
    });
    let deadline = std::time::Instant::now() + timeout;
    let status = loop {
        if let Some(st) = child.try_wait().expect("wait for child") {
            break Some(st);
        }
        if std::time::Instant::now() >= deadline {
            let _ = child.kill();
            let _ = child.wait();
            break None;
        }
        std::thread::sleep(Duration::from_millis(5));
    };
    let stdout = out_t.join().unwrap_or_default();
    let stderr = err_t.join().unwrap_or_default();
    match status {
        None => ChildEnd::Hung,
        Some(st) if st.success() => ChildEnd::Ok(stdout),
        Some(st) => ChildEnd::Failed(st.code(), stderr),
    }
}
