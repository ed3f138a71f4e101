//! Scale bench: Aurora next to SQLite at a real size, each phase in a fresh process.
//!
//! ```sh
//! cargo bench -p aurora-db --bench scale [--features mimalloc] -- --n 100000 \
//!     [--engine aurora|sqlite|both] [--small-caches] [--quick] [--dir PATH] [--json PATH]
//! ```
//!
//! Without the feature both engines use the system allocator (glibc malloc), which is what a
//! Rust application gets unless it chooses otherwise.
//!
//! The parent process orchestrates. For each engine it spawns this binary twice with the
//! hidden `--phase load` and `--phase query` arguments, so each phase starts from an empty
//! process and its memory figures (`VmHWM` = peak RSS, `VmRSS` = current RSS, both from
//! `/proc/self/status`) are its own. A child prints its measurements as one JSON line on stdout
//! and its progress on stderr. The parent measures the database's size on disk between the two
//! phases and prints a markdown table (and writes JSON with `--json`).
//!
//! Only the public API is used, so the bench survives changes to the storage engine.
//!
//! Data: user `i` is `{username: "user{i}", email: "user{i}@example.com", age: 18..=80,
//! active, tags: 1-3 of 8}`, drawn from a xorshift generator seeded by `i`. Aurora declares
//! username and email `unique + indexed`, age `indexed`, and loads with
//! `batch_insert_structs`, 1,000 documents per call. SQLite stores the JSON text in
//! `users(id INTEGER PRIMARY KEY, doc TEXT)` with expression indexes on `$.email` and
//! `$.username` (unique) and `$.age`, WAL journal, `synchronous=NORMAL`, 1,000 rows per
//! transaction through one prepared statement, and parses every result row with serde_json
//! (Aurora returns decoded documents).

/// With `--features mimalloc`, the allocator the Python and Node bindings ship with.
#[cfg(feature = "mimalloc")]
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

use aurora_db::types::FieldDefinition;
use aurora_db::{Aurora, AuroraConfig, FieldType, Value};
use rusqlite::{Connection, OptionalExtension};
use serde::{Deserialize, Serialize};
use std::hint::black_box;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::runtime::Runtime;

/// Documents per `batch_insert_structs` call / per SQLite transaction.
const BATCH: usize = 1_000;
/// Seed mixed into every user's generator.
const SEED: u64 = 0x00a0_2026_5ca1_e000;
/// Seed of the lookup key sequence.
const LOOKUP_SEED: u64 = 0x1007_c0de;
/// Tags drawn for each user.
const TAG_POOL: [&str; 8] = ["admin", "beta", "dev", "ops", "sales", "support", "qa", "design"];

const SQL_SCHEMA: &str = "CREATE TABLE users(id INTEGER PRIMARY KEY, doc TEXT NOT NULL);
     CREATE UNIQUE INDEX users_email ON users(json_extract(doc, '$.email'));
     CREATE UNIQUE INDEX users_username ON users(json_extract(doc, '$.username'));
     CREATE INDEX users_age ON users(json_extract(doc, '$.age'));";
const SQL_INSERT: &str = "INSERT INTO users(doc) VALUES (?1)";
const SQL_POINT: &str = "SELECT doc FROM users WHERE json_extract(doc, '$.email') = ?1";
const SQL_AGE_EQ: &str = "SELECT doc FROM users WHERE json_extract(doc, '$.age') = ?1";
const SQL_TOP20: &str = "SELECT doc FROM users \
     WHERE json_extract(doc, '$.active') = 1 AND json_extract(doc, '$.age') > 50 \
     ORDER BY json_extract(doc, '$.age') DESC LIMIT 20";
const SQL_RANGE: &str = "SELECT doc FROM users WHERE json_extract(doc, '$.age') > 70";
const SQL_RANGE_COUNT: &str = "SELECT COUNT(*) FROM users WHERE json_extract(doc, '$.age') > 70";
const SQL_SCAN: &str = "SELECT doc FROM users WHERE json_extract(doc, '$.age') >= 0";
const SQL_COUNT: &str = "SELECT COUNT(*) FROM users";

// ---------------------------------------------------------------------------------------------
// Data

/// One user document.
#[derive(Debug, Clone, Serialize)]
struct User {
    username: String,
    email: String,
    age: i64,
    active: bool,
    tags: Vec<String>,
}

/// xorshift64* generator.
struct XorShift(u64);

impl XorShift {
    /// A generator seeded by `i` (never zero).
    fn seeded(i: u64) -> XorShift {
        XorShift((i ^ SEED).wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1)
    }

    /// Next 64 random bits.
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    /// Uniform-enough value in `0..n`.
    fn below(&mut self, n: u64) -> u64 {
        (self.next() >> 32) % n
    }
}

/// User number `i`, the same in every run and for both engines.
fn user(i: usize) -> User {
    let mut rng = XorShift::seeded(i as u64);
    let age = 18 + rng.below(63) as i64;
    let active = rng.below(2) == 1;
    let ntags = 1 + rng.below(3) as usize;
    let first = rng.below(TAG_POOL.len() as u64) as usize;
    User {
        username: format!("user{i}"),
        email: format!("user{i}@example.com"),
        age,
        active,
        tags: (0..ntags).map(|k| TAG_POOL[(first + k) % TAG_POOL.len()].to_string()).collect(),
    }
}

/// The fields of a user for `insert_into`.
fn aurora_fields(u: &User) -> Vec<(&'static str, Value)> {
    vec![
        ("username", Value::String(u.username.clone())),
        ("email", Value::String(u.email.clone())),
        ("age", Value::Int(u.age)),
        ("active", Value::Bool(u.active)),
        ("tags", Value::Array(u.tags.iter().map(|t| Value::String(t.clone())).collect())),
    ]
}

/// The `X` of the `age == X` row.
const AGE_X: i64 = 42;

// ---------------------------------------------------------------------------------------------
// Command line

/// Which engines the parent runs.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Which {
    Aurora,
    Sqlite,
    Both,
}

/// Parsed arguments (parent and child share them).
#[derive(Debug, Clone)]
struct Args {
    n: usize,
    engine: Which,
    small_caches: bool,
    quick: bool,
    dir: Option<PathBuf>,
    json: Option<PathBuf>,
    /// Hidden: `load` or `query` makes this process a child.
    phase: Option<String>,
    /// Hidden: the database path of a child.
    path: Option<PathBuf>,
}

/// Parses the command line (`cargo bench` adds `--bench`, which is ignored).
fn parse_args() -> Result<Args, String> {
    let mut a = Args {
        n: 100_000,
        engine: Which::Both,
        small_caches: false,
        quick: false,
        dir: None,
        json: None,
        phase: None,
        path: None,
    };
    let mut it = std::env::args().skip(1);
    while let Some(arg) = it.next() {
        let mut value = || it.next().ok_or_else(|| format!("{arg} needs a value"));
        match arg.as_str() {
            "--n" => a.n = value()?.replace('_', "").parse().map_err(|e| format!("--n: {e}"))?,
            "--engine" => {
                a.engine = match value()?.as_str() {
                    "aurora" => Which::Aurora,
                    "sqlite" => Which::Sqlite,
                    "both" => Which::Both,
                    other => return Err(format!("--engine: `{other}` is not aurora, sqlite or both")),
                }
            }
            "--small-caches" => a.small_caches = true,
            "--quick" => a.quick = true,
            "--dir" => a.dir = Some(value()?.into()),
            "--json" => a.json = Some(value()?.into()),
            "--phase" => a.phase = Some(value()?),
            "--path" => a.path = Some(value()?.into()),
            "--bench" => {}
            other => return Err(format!("unknown argument `{other}`")),
        }
    }
    if a.n == 0 {
        return Err("--n must be at least 1".into());
    }
    Ok(a)
}

// ---------------------------------------------------------------------------------------------
// Measurements

/// What a load child reports.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct LoadReport {
    /// Seconds spent in the insert calls.
    insert_s: f64,
    /// Seconds spent closing (flushing) afterwards.
    close_s: f64,
    /// Peak RSS of the load process, KiB.
    peak_rss_kib: u64,
}

/// What a query child reports.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct QueryReport {
    open_ms: f64,
    rss_after_open_kib: u64,
    cold_p50_us: f64,
    cold_p99_us: f64,
    warm_p50_us: f64,
    warm_p99_us: f64,
    age_eq_ms: f64,
    top20_ms: f64,
    /// The first `age > 70` collect of the process (its documents not yet read).
    range_first_ms: f64,
    range_collect_ms: f64,
    range_count_ms: f64,
    count_us: f64,
    commit_p50_ms: f64,
    commit_p99_ms: f64,
    commit_max_ms: f64,
    /// Inserts timed by the commit-latency row, full scans completed meanwhile, and seconds.
    commit_inserts: usize,
    scans: usize,
    commit_s: f64,
    rss_after_queries_kib: u64,
    peak_rss_kib: u64,
    /// Result sizes, compared between the engines.
    check: Check,
}

/// Answers both engines must agree on.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct Check {
    count: usize,
    age_eq: usize,
    top20_ages: Vec<i64>,
    range: usize,
    range_count: usize,
}

/// Everything measured for one engine.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
struct EngineReport {
    load: Option<LoadReport>,
    disk_bytes: Option<u64>,
    query: Option<QueryReport>,
}

/// Reads a `kB` field of `/proc/self/status`.
fn proc_status_kib(field: &str) -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").expect("read /proc/self/status");
    status
        .lines()
        .find_map(|l| l.strip_prefix(field)?.strip_prefix(':'))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or_else(|| panic!("{field} missing from /proc/self/status"))
}

/// Milliseconds of a duration.
fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

/// Median of the durations of `runs` calls, in ms.
fn median_ms(runs: usize, mut f: impl FnMut(usize)) -> f64 {
    let mut v: Vec<Duration> = (0..runs)
        .map(|r| {
            let t = Instant::now();
            f(r);
            t.elapsed()
        })
        .collect();
    v.sort();
    ms(v[v.len() / 2])
}

/// Nearest-rank percentile of sorted durations.
fn pct(sorted: &[Duration], p: f64) -> Duration {
    sorted[((sorted.len() - 1) as f64 * p).round() as usize]
}

/// Total size of the files under `path` (recursively).
fn disk_bytes(path: &Path) -> std::io::Result<u64> {
    let mut total = 0;
    for entry in std::fs::read_dir(path)? {
        let entry = entry?;
        let meta = entry.metadata()?;
        total += if meta.is_dir() { disk_bytes(&entry.path())? } else { meta.len() };
    }
    Ok(total)
}

// ---------------------------------------------------------------------------------------------
// Engines

/// The operations each phase runs, implemented by both engines.
trait Engine {
    /// Inserts one batch in one transaction.
    fn load(&mut self, users: &[User]);
    /// Closes (flushes) the database.
    fn close(self: Box<Self>);
    /// Point lookup by email; true if found.
    fn point(&mut self, email: &str) -> bool;
    /// `age == X`, all documents.
    fn age_eq(&mut self, age: i64) -> usize;
    /// `active && age > 50`, top 20 by age desc; their ages.
    fn top20(&mut self) -> Vec<i64>;
    /// `age > 70`, all documents.
    fn range(&mut self) -> usize;
    /// `age > 70`, counted.
    fn range_count(&mut self) -> usize;
    /// Count of all documents.
    fn count(&mut self) -> usize;
    /// Latency of each single-document insert (users `first..`) made while another thread runs
    /// full scans in a loop, until `plan` is satisfied; also the number of scans completed.
    fn commits_under_scan(&mut self, first: usize, plan: &ScanPlan) -> (Vec<Duration>, usize);
}

/// How long the commit-latency row runs.
struct ScanPlan {
    min_inserts: usize,
    min_scans: usize,
    pause: Duration,
    cap: Duration,
}

impl ScanPlan {
    /// Times `insert(k)` calls, paced, until enough inserts and scans or the time cap. Starts
    /// once the first scan is under way (`started`).
    fn run(&self, started: &AtomicBool, scans: &AtomicUsize, mut insert: impl FnMut(usize)) -> Vec<Duration> {
        while !started.load(Ordering::Acquire) {
            std::thread::sleep(Duration::from_millis(1));
        }
        let t0 = Instant::now();
        let mut lat = Vec::new();
        while (lat.len() < self.min_inserts || scans.load(Ordering::Acquire) < self.min_scans)
            && t0.elapsed() < self.cap
        {
            let t = Instant::now();
            insert(lat.len());
            lat.push(t.elapsed());
            std::thread::sleep(self.pause);
        }
        lat
    }
}

/// Aurora driven through `block_on` on a two-worker runtime.
struct AuroraEngine {
    rt: Runtime,
    db: Aurora,
}

/// A field definition.
fn field(field_type: FieldType, unique: bool, indexed: bool) -> FieldDefinition {
    FieldDefinition { field_type, unique, indexed, nullable: false }
}

impl AuroraEngine {
    /// Opens (creating the collection when `create`).
    fn open(path: &Path, small_caches: bool, create: bool) -> AuroraEngine {
        let rt =
            tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().expect("tokio runtime");
        let mut config = AuroraConfig { db_path: path.to_path_buf(), ..Default::default() };
        if small_caches {
            config.hot_cache_size_mb = 16;
            config.cold_cache_capacity_mb = 64;
        }
        // The sled column of docs/BENCHMARKS.md (inherited by the child processes).
        if std::env::var("AURORA_BENCH_COLD_STORE").as_deref() == Ok("sled") {
            config.cold_store = aurora_db::ColdStoreKind::Sled;
        }
        let db = rt.block_on(Aurora::with_config(config)).expect("open aurora");
        if create {
            rt.block_on(db.new_collection(
                "users",
                vec![
                    ("username", field(FieldType::SCALAR_STRING, true, true)),
                    ("email", field(FieldType::SCALAR_STRING, true, true)),
                    ("age", field(FieldType::SCALAR_INT, false, true)),
                    ("active", field(FieldType::Boolean, false, false)),
                    ("tags", field(FieldType::array_of(FieldType::String), false, false)),
                ],
            ))
            .expect("create users collection");
        }
        AuroraEngine { rt, db }
    }
}

impl Engine for AuroraEngine {
    fn load(&mut self, users: &[User]) {
        self.rt.block_on(self.db.batch_insert_structs("users", users)).expect("aurora batch insert");
    }

    fn close(self: Box<Self>) {
        self.rt.block_on(self.db.close()).expect("aurora close");
    }

    fn point(&mut self, email: &str) -> bool {
        let doc = self.rt.block_on(self.db.query("users").filter(|f| f.eq("email", email)).first_one());
        black_box(doc.expect("aurora point lookup")).is_some()
    }

    fn age_eq(&mut self, age: i64) -> usize {
        let docs = self.rt.block_on(self.db.query("users").filter(|f| f.eq("age", age)).collect());
        black_box(docs.expect("aurora age ==")).len()
    }

    fn top20(&mut self) -> Vec<i64> {
        let q = self
            .db
            .query("users")
            .filter(|f| f.eq("active", true) & f.gt("age", 50i64))
            .order_by("age", false)
            .limit(20)
            .collect();
        let docs = self.rt.block_on(q).expect("aurora top-20");
        docs.iter().map(|d| d.get("age").and_then(|v| v.as_i64()).expect("age is an Int")).collect()
    }

    fn range(&mut self) -> usize {
        let docs = self.rt.block_on(self.db.query("users").filter(|f| f.gt("age", 70i64)).collect());
        black_box(docs.expect("aurora age > 70")).len()
    }

    fn range_count(&mut self) -> usize {
        self.rt.block_on(self.db.query("users").filter(|f| f.gt("age", 70i64)).count()).expect("aurora count age > 70")
    }

    fn count(&mut self) -> usize {
        self.rt.block_on(self.db.query("users").count()).expect("aurora count")
    }

    fn commits_under_scan(&mut self, first: usize, plan: &ScanPlan) -> (Vec<Duration>, usize) {
        let (stop, started, scans) =
            (Arc::new(AtomicBool::new(false)), Arc::new(AtomicBool::new(false)), Arc::new(AtomicUsize::new(0)));
        let scanner = self.rt.spawn({
            let (db, stop, started, scans) = (self.db.clone(), stop.clone(), started.clone(), scans.clone());
            async move {
                while !stop.load(Ordering::Acquire) {
                    started.store(true, Ordering::Release);
                    let docs = db.query("users").filter(|f| f.gte("age", 0i64)).collect().await;
                    black_box(docs.expect("aurora full scan"));
                    scans.fetch_add(1, Ordering::AcqRel);
                }
            }
        });
        let lat = plan.run(&started, &scans, |k| {
            let u = user(first + k);
            self.rt.block_on(self.db.insert_into("users", aurora_fields(&u))).expect("aurora insert_into");
        });
        stop.store(true, Ordering::Release);
        self.rt.block_on(scanner).expect("scan task");
        (lat, scans.load(Ordering::Acquire))
    }
}

/// SQLite through rusqlite, documents as JSON text.
struct SqliteEngine {
    conn: Connection,
    path: PathBuf,
    small_caches: bool,
}

/// Parses a document the way an application would.
fn parse(doc: &str) -> serde_json::Value {
    serde_json::from_str(doc).expect("stored JSON parses")
}

impl SqliteEngine {
    /// Opens a connection with the bench's pragmas.
    fn connect(path: &Path, small_caches: bool) -> Connection {
        let conn = Connection::open(path).expect("open sqlite");
        let mode: String = conn.query_row("PRAGMA journal_mode=WAL", [], |r| r.get(0)).expect("journal_mode");
        assert_eq!(mode, "wal", "SQLite refused WAL mode");
        conn.execute_batch("PRAGMA synchronous=NORMAL;").expect("synchronous");
        if small_caches {
            conn.execute_batch("PRAGMA cache_size=-16000;").expect("cache_size");
        }
        conn.busy_timeout(Duration::from_secs(30)).expect("busy_timeout");
        conn
    }

    /// Opens (creating the table and indexes when `create`).
    fn open(dir: &Path, small_caches: bool, create: bool) -> SqliteEngine {
        let path = dir.join("users.sqlite");
        let conn = Self::connect(&path, small_caches);
        if create {
            conn.execute_batch(SQL_SCHEMA).expect("sqlite schema");
        }
        SqliteEngine { conn, path, small_caches }
    }

    /// All documents of a query, parsed.
    fn docs(conn: &Connection, sql: &str, params: impl rusqlite::Params) -> Vec<serde_json::Value> {
        let mut st = conn.prepare_cached(sql).expect("prepare");
        let rows = st.query_map(params, |r| r.get_ref(0).map(|v| parse(v.as_str().expect("doc is text"))));
        rows.expect("query").collect::<rusqlite::Result<_>>().expect("rows")
    }

    /// A single-integer query.
    fn scalar(&self, sql: &str) -> usize {
        let n: i64 = self.conn.prepare_cached(sql).and_then(|mut st| st.query_row([], |r| r.get(0))).expect(sql);
        n as usize
    }
}

impl Engine for SqliteEngine {
    fn load(&mut self, users: &[User]) {
        let tx = self.conn.transaction().expect("begin");
        {
            let mut st = tx.prepare_cached(SQL_INSERT).expect("prepare insert");
            for u in users {
                st.execute([serde_json::to_string(u).expect("user to JSON")]).expect("sqlite insert");
            }
        }
        tx.commit().expect("commit");
    }

    fn close(self: Box<Self>) {
        self.conn.close().map_err(|(_, e)| e).expect("sqlite close");
    }

    fn point(&mut self, email: &str) -> bool {
        let doc = self
            .conn
            .prepare_cached(SQL_POINT)
            .and_then(|mut st| {
                st.query_row([email], |r| r.get_ref(0).map(|v| parse(v.as_str().expect("text")))).optional()
            })
            .expect("sqlite point lookup");
        black_box(doc).is_some()
    }

    fn age_eq(&mut self, age: i64) -> usize {
        black_box(Self::docs(&self.conn, SQL_AGE_EQ, [age])).len()
    }

    fn top20(&mut self) -> Vec<i64> {
        let docs = Self::docs(&self.conn, SQL_TOP20, []);
        docs.iter().map(|d| d["age"].as_i64().expect("age is an integer")).collect()
    }

    fn range(&mut self) -> usize {
        black_box(Self::docs(&self.conn, SQL_RANGE, [])).len()
    }

    fn range_count(&mut self) -> usize {
        self.scalar(SQL_RANGE_COUNT)
    }

    fn count(&mut self) -> usize {
        self.scalar(SQL_COUNT)
    }

    fn commits_under_scan(&mut self, first: usize, plan: &ScanPlan) -> (Vec<Duration>, usize) {
        let (stop, started, scans) = (AtomicBool::new(false), AtomicBool::new(false), AtomicUsize::new(0));
        let lat = std::thread::scope(|s| {
            s.spawn(|| {
                let reader = Self::connect(&self.path, self.small_caches);
                while !stop.load(Ordering::Acquire) {
                    started.store(true, Ordering::Release);
                    black_box(Self::docs(&reader, SQL_SCAN, []));
                    scans.fetch_add(1, Ordering::AcqRel);
                }
            });
            let lat = plan.run(&started, &scans, |k| {
                let json = serde_json::to_string(&user(first + k)).expect("user to JSON");
                self.conn.prepare_cached(SQL_INSERT).and_then(|mut st| st.execute([json])).expect("sqlite insert");
            });
            stop.store(true, Ordering::Release);
            lat
        });
        (lat, scans.load(Ordering::Acquire))
    }
}

/// Opens the engine named `name` on `path`.
fn open_engine(name: &str, path: &Path, small_caches: bool, create: bool) -> Box<dyn Engine> {
    match name {
        "aurora" => Box::new(AuroraEngine::open(path, small_caches, create)),
        "sqlite" => Box::new(SqliteEngine::open(path, small_caches, create)),
        other => panic!("unknown engine `{other}`"),
    }
}

// ---------------------------------------------------------------------------------------------
// Child phases

/// Loads `n` users into a fresh database and closes it.
fn load_phase(name: &str, path: &Path, n: usize, small_caches: bool) -> LoadReport {
    let mut db = open_engine(name, path, small_caches, true);
    let mut spent = Duration::ZERO;
    let mut next_report = n / 10;
    for start in (0..n).step_by(BATCH) {
        let batch: Vec<User> = (start..(start + BATCH).min(n)).map(user).collect();
        let t = Instant::now();
        db.load(&batch);
        spent += t.elapsed();
        let done = start + batch.len();
        if done >= next_report {
            eprintln!("  [{name} load] {done}/{n} ({:.0} docs/s)", done as f64 / spent.as_secs_f64());
            next_report += (n / 10).max(1);
        }
    }
    let t = Instant::now();
    db.close();
    let close = t.elapsed();
    LoadReport { insert_s: spent.as_secs_f64(), close_s: close.as_secs_f64(), peak_rss_kib: proc_status_kib("VmHWM") }
}

/// Point lookups per pass and timed runs per query row.
fn lookups_and_runs(quick: bool) -> (usize, usize) {
    if quick {
        (2_000, 3)
    } else {
        (20_000, 5)
    }
}

/// Opens the loaded database in this fresh process and runs the query rows.
fn query_phase(name: &str, path: &Path, n: usize, small_caches: bool, quick: bool) -> QueryReport {
    let (lookups, runs) = lookups_and_runs(quick);
    let progress = |what: &str| eprintln!("  [{name} query] {what}");

    let t = Instant::now();
    let mut db = open_engine(name, path, small_caches, false);
    let open_ms = ms(t.elapsed());
    let rss_after_open_kib = proc_status_kib("VmRSS");
    progress(&format!("opened in {open_ms:.1} ms"));

    // The warm pass looks up the same keys again, in the same order.
    let mut rng = XorShift::seeded(LOOKUP_SEED);
    let keys: Vec<String> = (0..lookups).map(|_| format!("user{}@example.com", rng.below(n as u64))).collect();
    let lookup_pass = |db: &mut Box<dyn Engine>| {
        let mut lat: Vec<Duration> = keys
            .iter()
            .map(|email| {
                let t = Instant::now();
                let found = db.point(email);
                let d = t.elapsed();
                assert!(found, "{name}: {email} not found");
                d
            })
            .collect();
        lat.sort();
        (pct(&lat, 0.5).as_secs_f64() * 1e6, pct(&lat, 0.99).as_secs_f64() * 1e6)
    };
    let (cold_p50_us, cold_p99_us) = lookup_pass(&mut db);
    let (warm_p50_us, warm_p99_us) = lookup_pass(&mut db);
    progress(&format!("lookups: cold p50 {cold_p50_us:.1} µs, warm p50 {warm_p50_us:.1} µs"));

    let age_eq = db.age_eq(AGE_X);
    let age_eq_ms = median_ms(runs, |_| {
        black_box(db.age_eq(AGE_X));
    });
    let top20_ages = db.top20();
    let top20_ms = median_ms(runs, |_| {
        black_box(db.top20());
    });
    let t = Instant::now();
    let range = db.range();
    let range_first_ms = ms(t.elapsed());
    let range_collect_ms = median_ms(runs, |_| {
        black_box(db.range());
    });
    let range_count = db.range_count();
    let range_count_ms = median_ms(runs, |_| {
        black_box(db.range_count());
    });
    let count = db.count();
    let count_us = median_ms(runs * 20, |_| {
        black_box(db.count());
    }) * 1e3;
    progress(&format!("age == X {age_eq_ms:.2} ms, top-20 {top20_ms:.2} ms, age > 70 {range_collect_ms:.1} ms"));

    let plan = if quick {
        ScanPlan { min_inserts: 100, min_scans: 1, pause: Duration::from_millis(1), cap: Duration::from_secs(20) }
    } else {
        ScanPlan { min_inserts: 1_000, min_scans: 3, pause: Duration::from_millis(1), cap: Duration::from_secs(300) }
    };
    let t = Instant::now();
    let (mut lat, scans) = db.commits_under_scan(n, &plan);
    let commit_s = t.elapsed().as_secs_f64();
    lat.sort();
    progress(&format!("{} commits during {scans} full scans", lat.len()));
    let rss_after_queries_kib = proc_status_kib("VmRSS");
    db.close();

    QueryReport {
        open_ms,
        rss_after_open_kib,
        cold_p50_us,
        cold_p99_us,
        warm_p50_us,
        warm_p99_us,
        age_eq_ms,
        top20_ms,
        range_first_ms,
        range_collect_ms,
        range_count_ms,
        count_us,
        commit_p50_ms: ms(pct(&lat, 0.5)),
        commit_p99_ms: ms(pct(&lat, 0.99)),
        commit_max_ms: ms(pct(&lat, 1.0)),
        commit_inserts: lat.len(),
        commit_s,
        scans,
        rss_after_queries_kib,
        peak_rss_kib: proc_status_kib("VmHWM"),
        check: Check { count, age_eq, top20_ages, range, range_count },
    }
}

/// Runs a child phase and prints its report as one JSON line.
fn child_main(args: &Args, phase: &str) {
    let engine = match args.engine {
        Which::Aurora => "aurora",
        Which::Sqlite => "sqlite",
        Which::Both => panic!("a child runs one engine"),
    };
    let path = args.path.as_deref().expect("a child needs --path");
    let line = match phase {
        "load" => serde_json::to_string(&load_phase(engine, path, args.n, args.small_caches)),
        "query" => serde_json::to_string(&query_phase(engine, path, args.n, args.small_caches, args.quick)),
        other => panic!("unknown phase `{other}`"),
    };
    println!("{}", line.expect("report to JSON"));
}

// ---------------------------------------------------------------------------------------------
// Parent

/// Runs one phase in a fresh process and parses its JSON line; `None` if it failed.
fn spawn_phase<T: for<'de> Deserialize<'de>>(args: &Args, engine: &str, phase: &str, path: &Path) -> Option<T> {
    let exe = std::env::current_exe().expect("current_exe");
    let mut cmd = Command::new(exe);
    cmd.args(["--phase", phase, "--engine", engine, "--n", &args.n.to_string()]).arg("--path").arg(path);
    if args.small_caches {
        cmd.arg("--small-caches");
    }
    if args.quick {
        cmd.arg("--quick");
    }
    let t = Instant::now();
    let out = cmd.stderr(Stdio::inherit()).output().expect("spawn child phase");
    eprintln!("[{engine}] {phase} process took {:.1} s", t.elapsed().as_secs_f64());
    if !out.status.success() {
        eprintln!("[{engine}] {phase} phase FAILED: {}", out.status);
        return None;
    }
    let stdout = String::from_utf8_lossy(&out.stdout);
    let line = stdout.lines().rev().find(|l| l.starts_with('{'));
    match line.map(serde_json::from_str) {
        Some(Ok(report)) => Some(report),
        Some(Err(e)) => {
            eprintln!("[{engine}] {phase} phase printed bad JSON: {e}");
            None
        }
        None => {
            eprintln!("[{engine}] {phase} phase printed no report");
            None
        }
    }
}

/// Load, measure disk, then query one engine in `dir` (created fresh).
fn run_engine(args: &Args, engine: &str, dir: &Path) -> EngineReport {
    if dir.exists() {
        std::fs::remove_dir_all(dir).expect("remove old database directory");
    }
    std::fs::create_dir_all(dir).expect("create database directory");
    let load: Option<LoadReport> = spawn_phase(args, engine, "load", dir);
    if load.is_none() {
        return EngineReport::default();
    }
    let disk = disk_bytes(dir).map_err(|e| eprintln!("[{engine}] disk size: {e}")).ok();
    let query = spawn_phase(args, engine, "query", dir);
    EngineReport { load, disk_bytes: disk, query }
}

/// One row of the result table.
#[derive(Debug, Serialize)]
struct Row {
    metric: String,
    aurora: Option<f64>,
    sqlite: Option<f64>,
    /// Aurora-is-better ratio (SQLite ÷ Aurora for costs, Aurora ÷ SQLite for throughput).
    ratio: Option<f64>,
}

/// Builds the table rows (each spec: name, whether more is better, how to read it).
fn rows(a: &EngineReport, s: &EngineReport, n: usize) -> Vec<Row> {
    type Get = fn(&EngineReport, usize) -> Option<f64>;
    let specs: Vec<(&str, bool, Get)> = vec![
        ("load: docs/s (insert calls)", true, |r, n| r.load.as_ref().map(|l| n as f64 / l.insert_s)),
        ("load: docs/s (inserts + close)", true, |r, n| r.load.as_ref().map(|l| n as f64 / (l.insert_s + l.close_s))),
        ("load: close after load, s", false, |r, _| r.load.as_ref().map(|l| l.close_s)),
        ("load: peak RSS, MiB", false, |r, _| r.load.as_ref().map(|l| l.peak_rss_kib as f64 / 1024.0)),
        ("disk size after close, MiB", false, |r, _| r.disk_bytes.map(|b| b as f64 / 1048576.0)),
        ("query process: open, ms", false, |r, _| r.query.as_ref().map(|q| q.open_ms)),
        ("query process: RSS after open, MiB", false, |r, _| {
            r.query.as_ref().map(|q| q.rss_after_open_kib as f64 / 1024.0)
        }),
        ("point lookup by email, cold p50, µs", false, |r, _| r.query.as_ref().map(|q| q.cold_p50_us)),
        ("point lookup by email, cold p99, µs", false, |r, _| r.query.as_ref().map(|q| q.cold_p99_us)),
        ("point lookup by email, warm (same keys again) p50, µs", false, |r, _| {
            r.query.as_ref().map(|q| q.warm_p50_us)
        }),
        ("point lookup by email, warm (same keys again) p99, µs", false, |r, _| {
            r.query.as_ref().map(|q| q.warm_p99_us)
        }),
        ("age == 42, collect, ms", false, |r, _| r.query.as_ref().map(|q| q.age_eq_ms)),
        ("active && age > 50, age desc, limit 20, ms", false, |r, _| r.query.as_ref().map(|q| q.top20_ms)),
        ("age > 70, collect, first run, ms", false, |r, _| r.query.as_ref().map(|q| q.range_first_ms)),
        ("age > 70, collect, ms", false, |r, _| r.query.as_ref().map(|q| q.range_collect_ms)),
        ("age > 70, count, ms", false, |r, _| r.query.as_ref().map(|q| q.range_count_ms)),
        ("count(*), µs", false, |r, _| r.query.as_ref().map(|q| q.count_us)),
        ("single insert during full scans, p50, ms", false, |r, _| r.query.as_ref().map(|q| q.commit_p50_ms)),
        ("single insert during full scans, p99, ms", false, |r, _| r.query.as_ref().map(|q| q.commit_p99_ms)),
        ("single insert during full scans, max, ms", false, |r, _| r.query.as_ref().map(|q| q.commit_max_ms)),
        ("query process: RSS after queries, MiB", false, |r, _| {
            r.query.as_ref().map(|q| q.rss_after_queries_kib as f64 / 1024.0)
        }),
        ("query process: peak RSS, MiB", false, |r, _| r.query.as_ref().map(|q| q.peak_rss_kib as f64 / 1024.0)),
    ];
    specs
        .into_iter()
        .map(|(metric, higher, get)| {
            let (av, sv) = (get(a, n), get(s, n));
            let ratio = match (av, sv) {
                (Some(x), Some(y)) if x > 0.0 && y > 0.0 => Some(if higher { x / y } else { y / x }),
                _ => None,
            };
            Row { metric: metric.to_string(), aurora: av, sqlite: sv, ratio }
        })
        .collect()
}

/// A value to three significant digits (whole numbers from 100 up); `—` when missing.
fn fmt_num(v: Option<f64>) -> String {
    match v {
        None => "—".into(),
        Some(x) if x >= 100.0 || x <= 0.0 => format!("{x:.0}"),
        Some(x) => format!("{x:.*}", (2.0 - x.log10().floor()) as usize),
    }
}

/// The whole run, for `--json`.
#[derive(Debug, Serialize)]
struct Summary<'a> {
    command: &'a str,
    n: usize,
    small_caches: bool,
    quick: bool,
    aurora: &'a EngineReport,
    sqlite: &'a EngineReport,
    rows: &'a [Row],
}

/// Orchestrates the child processes and prints the table; false if a phase failed or the
/// engines disagree (the temp dir is removed either way).
fn parent_main(args: &Args) -> bool {
    let shown: Vec<String> = std::env::args().skip(1).filter(|a| a != "--bench").collect();
    let command = format!("cargo bench -p aurora-db --bench scale -- {}", shown.join(" "));
    let temp;
    let base = match &args.dir {
        Some(d) => d.clone(),
        None => {
            temp = tempfile::Builder::new().prefix("aurora-scale-").tempdir().expect("temp dir");
            temp.path().to_path_buf()
        }
    };
    eprintln!("scale bench: N = {}, data in {}", args.n, base.display());
    let run = |which: Which, name: &str| {
        if args.engine == which || args.engine == Which::Both {
            run_engine(args, name, &base.join(name))
        } else {
            EngineReport::default()
        }
    };
    let aurora = run(Which::Aurora, "aurora");
    let sqlite = run(Which::Sqlite, "sqlite");

    let mut ok = true;
    if let (Some(a), Some(s)) = (&aurora.query, &sqlite.query) {
        if a.check != s.check {
            eprintln!("MISMATCH between engines: aurora {:?}, sqlite {:?}", a.check, s.check);
            ok = false;
        }
    }
    for (name, r) in [("aurora", &aurora), ("sqlite", &sqlite)] {
        if let Some(q) = &r.query {
            if q.check.count != args.n {
                eprintln!("{name}: count is {}, expected {}", q.check.count, args.n);
                ok = false;
            }
        }
    }

    let table = rows(&aurora, &sqlite, args.n);
    let caches = if args.small_caches {
        "small caches (Aurora hot 16 MiB + cold 64 MiB, SQLite cache_size=-16000)"
    } else {
        "default caches"
    };
    println!();
    println!("`{command}`");
    println!();
    println!("N = {}, {caches}. Ratio > 1 means Aurora is better (SQLite ÷ Aurora for times, sizes", args.n);
    let runs = lookups_and_runs(args.quick).1;
    println!("and memory; Aurora ÷ SQLite for docs/s). Query times are the median of {runs} runs after a first one;");
    println!("latencies are each operation timed on its own.");
    println!();
    println!("| metric | Aurora | SQLite | ratio |");
    println!("|---|---:|---:|---:|");
    for r in &table {
        let ratio = r.ratio.map_or("—".into(), |x| format!("{}×", fmt_num(Some(x))));
        println!("| {} | {} | {} | {ratio} |", r.metric, fmt_num(r.aurora), fmt_num(r.sqlite));
    }
    for (name, r) in [("Aurora", &aurora), ("SQLite", &sqlite)] {
        if let Some(q) = &r.query {
            println!(
                "\n{name}: {} timed inserts during {} full scans (`age >= 0`, collect) in {:.1} s; \
                 age > 70 matches {} documents.",
                q.commit_inserts, q.scans, q.commit_s, q.check.range
            );
        }
    }

    if let Some(path) = &args.json {
        let summary = Summary {
            command: &command,
            n: args.n,
            small_caches: args.small_caches,
            quick: args.quick,
            aurora: &aurora,
            sqlite: &sqlite,
            rows: &table,
        };
        let json = serde_json::to_string_pretty(&summary).expect("summary to JSON");
        std::fs::write(path, json).unwrap_or_else(|e| panic!("write {}: {e}", path.display()));
    }
    let wanted = |which| args.engine == which || args.engine == Which::Both;
    let failed = (wanted(Which::Aurora) && aurora.query.is_none()) || (wanted(Which::Sqlite) && sqlite.query.is_none());
    ok && !failed
}

fn main() {
    let args = parse_args().unwrap_or_else(|e| {
        eprintln!("scale bench: {e}");
        std::process::exit(2);
    });
    match args.phase.clone() {
        Some(phase) => child_main(&args, &phase),
        None => {
            if !parent_main(&args) {
                std::process::exit(1);
            }
        }
    }
}
