//! The `aurora` binary driven as a subprocess.

use assert_cmd::Command;
use predicates::prelude::*;
use serde_json::{json, Value as Json};
use std::io::Write;
use std::path::Path;
use std::time::Duration;

fn aurora() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_aurora"));
    c.timeout(Duration::from_secs(120)).env_remove("AURORA_TOKEN").env_remove("AURORA_HISTORY");
    c
}

const SCHEMA: &str = "schema { define collection users { email: String! @unique  name: String  age: Int @indexed } }";
const SEED: &str = r#"mutation {
  a: insertInto(collection: "users", data: { email: "a@x.io", name: "Ann", age: 30 }) { name }
  b: insertInto(collection: "users", data: { email: "b@x.io", name: "Bob", age: 20 }) { name }
  c: insertInto(collection: "users", data: { email: "c@x.io", name: "Cat", age: 40 }) { name }
}"#;

fn seeded(dir: &Path) -> std::path::PathBuf {
    let db = dir.join("db");
    aurora().arg("exec").arg(&db).arg(SCHEMA).assert().success();
    aurora().arg("exec").arg(&db).arg(SEED).assert().success();
    db
}

fn stdout_json(out: &[u8]) -> Json {
    serde_json::from_slice(out).unwrap_or_else(|e| panic!("stdout is not JSON ({e}): {}", String::from_utf8_lossy(out)))
}

#[test]
fn exec_prints_json_when_piped_and_tables_on_request() {
    let dir = tempfile::tempdir().unwrap();
    let db = seeded(dir.path());
    let q = "query { users(where: { age: { gt: 25 } }, orderBy: { age: DESC }) { name age } }";
    let out = aurora().arg("exec").arg(&db).arg(q).assert().success().get_output().stdout.clone();
    assert_eq!(stdout_json(&out), json!({"users": [{"name": "Cat", "age": 40}, {"name": "Ann", "age": 30}]}));

    let out = aurora().args(["exec", "--json"]).arg(&db).arg(q).assert().success().get_output().stdout.clone();
    assert_eq!(stdout_json(&out)["users"][0]["name"], "Cat");

    let out =
        aurora().args(["exec", "--json", "--pretty"]).arg(&db).arg(q).assert().success().get_output().stdout.clone();
    assert!(String::from_utf8_lossy(&out).contains("\n  \"users\": ["));

    let table = aurora().args(["exec", "--table"]).arg(&db).arg(q).assert().success().get_output().stdout.clone();
    let table = String::from_utf8_lossy(&table);
    assert!(table.starts_with("users:\n"), "{table}");
    let header = table.lines().find(|l| l.contains("name")).unwrap_or_default();
    assert!(header.contains("age") && header.find("name") < header.find("age"), "{table}");
    assert!(table.contains("Cat") && table.contains("40") && table.contains("(2 rows)"), "{table}");

    // Aggregates render as a one-row table.
    aurora()
        .args(["exec", "--table"])
        .arg(&db)
        .arg("query { users { aggregate { count avg(field: \"age\") } } }")
        .assert()
        .success()
        .stdout(predicate::str::contains("aggregate.count").and(predicate::str::contains("30.0")));
}

#[test]
fn aql_from_stdin_and_from_a_file() {
    let dir = tempfile::tempdir().unwrap();
    let db = seeded(dir.path());
    let q = "query { users(orderBy: { age: ASC }, limit: 1) { name } }";
    let expected = json!({"users": [{"name": "Bob"}]});

    let out = aurora().arg("exec").arg(&db).arg("-").write_stdin(q).assert().success().get_output().stdout.clone();
    assert_eq!(stdout_json(&out), expected);
    // No AQL argument and a pipe on stdin: read it.
    let out = aurora().arg("exec").arg(&db).write_stdin(q).assert().success().get_output().stdout.clone();
    assert_eq!(stdout_json(&out), expected);

    let file = dir.path().join("q.aql");
    std::fs::write(&file, format!("# the youngest user\n{q}\n")).unwrap();
    let out = aurora().arg("exec").arg(&db).arg("-f").arg(&file).assert().success().get_output().stdout.clone();
    assert_eq!(stdout_json(&out), expected);
    let out =
        aurora().arg("exec").arg(&db).args(["-f", "-"]).write_stdin(q).assert().success().get_output().stdout.clone();
    assert_eq!(stdout_json(&out), expected);

    aurora()
        .arg("exec")
        .arg(&db)
        .arg("-f")
        .arg(dir.path().join("missing.aql"))
        .assert()
        .code(3)
        .stderr(predicate::str::contains("missing.aql"));
}

#[test]
fn variables_from_var_and_vars() {
    let dir = tempfile::tempdir().unwrap();
    let db = seeded(dir.path());
    let q = "query Q($min: Int, $name: String) { users(where: { or: [ { age: { gte: $min } }, { name: { eq: $name } } ] }, orderBy: { age: ASC }) { name } }";
    let run = |args: &[&str]| {
        let out = aurora().arg("exec").arg(&db).arg(q).args(args).assert().success().get_output().stdout.clone();
        stdout_json(&out)
    };
    // `--var min=35` is the JSON number 35; `--var name=Bob` falls back to the string "Bob".
    assert_eq!(run(&["--var", "min=35", "--var", "name=Bob"]), json!({"users": [{"name": "Bob"}, {"name": "Cat"}]}));
    assert_eq!(
        run(&["--vars", r#"{"min": 25, "name": "nobody"}"#]),
        json!({"users": [{"name": "Ann"}, {"name": "Cat"}]})
    );
    // --var wins over --vars.
    assert_eq!(run(&["--vars", r#"{"min": 25, "name": "x"}"#, "--var", "min=99"]), json!({"users": []}));

    // A variable of the wrong type is the engine's validation error: exit 1.
    aurora().arg("exec").arg(&db).arg(q).args(["--var", "min=old"]).assert().code(1);
    // Unparseable --vars / --var are usage errors: exit 2.
    aurora().arg("exec").arg(&db).arg(q).args(["--vars", "{nope"]).assert().code(2);
    aurora().arg("exec").arg(&db).arg(q).args(["--var", "noequals"]).assert().code(2);
}

#[test]
fn errors_show_the_line_and_a_caret_and_use_stable_exit_codes() {
    let dir = tempfile::tempdir().unwrap();
    let db = seeded(dir.path());
    let bad = "query {\n  users(where: { age: { gt: 25 } } {\n    name\n  }\n}";
    let out = aurora().arg("exec").arg(&db).arg(bad).assert().code(1).get_output().stderr.clone();
    let err = String::from_utf8_lossy(&out);
    assert!(err.contains("error[SYNTAX]"), "{err}");
    assert!(err.contains(" --> <arg>:2:36"), "{err}");
    let lines: Vec<&str> = err.lines().collect();
    let src =
        lines.iter().position(|l| l.ends_with("users(where: { age: { gt: 25 } } {")).expect("source line printed");
    let caret = lines[src + 1];
    // The caret sits under column 36 of the source line.
    let src_col0 = lines[src].find("  users").unwrap_or(0);
    assert_eq!(caret.find('^'), Some(src_col0 + 35), "{err}");

    // Unknown field: NOT_FOUND with a suggestion and a caret, still exit 1.
    aurora()
        .arg("exec")
        .arg(&db)
        .arg("query { users { nmae } }")
        .assert()
        .code(1)
        .stderr(predicate::str::contains("did you mean `name`").and(predicate::str::contains("                ^")));
    // Unique violation: exit 1.
    aurora()
        .arg("exec")
        .arg(&db)
        .arg(r#"mutation { insertInto(collection: "users", data: { email: "a@x.io" }) { email } }"#)
        .assert()
        .code(1)
        .stderr(predicate::str::contains("UNIQUE_VIOLATION"));
    // Missing database for commands that need one: exit 3.
    aurora().arg("stats").arg(dir.path().join("nope")).assert().code(3).stderr(predicate::str::contains("no database"));
    aurora().arg("export").arg(dir.path().join("nope")).arg("users").assert().code(3);
    // A file where the database directory should be: exit 3.
    let file = dir.path().join("plain-file");
    std::fs::write(&file, "x").unwrap();
    aurora().arg("exec").arg(&file).arg("query { users { name } }").assert().code(3);
    // Usage errors: exit 2.
    aurora().assert().code(2);
    aurora().arg("exec").assert().code(2);
    aurora().args(["frobnicate"]).assert().code(2);
    aurora().arg("--help").assert().success().stdout(predicate::str::contains("Exit codes"));
}

#[test]
fn shell_runs_multi_line_statements_from_stdin_and_keeps_history() {
    let dir = tempfile::tempdir().unwrap();
    let db = seeded(dir.path());
    let history = dir.path().join("hist").join("aurora_history");
    std::fs::create_dir_all(history.parent().unwrap()).unwrap();
    let script = r#"
.help
.mode json
query {
  users(orderBy: { age: ASC }) {
    name
  }
}
.set min=35
query Q($min: Int) { users(where: { age: { gte: $min } }) { name } }
mutation { insertInto(collection: "users", data: { email: "d@x.io", name: "Dan", age: 50 }) {
  name
} }
.collections
.exit
query { users { name } }
"#;
    let out = aurora()
        .arg("shell")
        .arg(&db)
        .arg("--history")
        .arg(&history)
        .write_stdin(script)
        .assert()
        .success()
        .get_output()
        .clone();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let json_lines: Vec<Json> = stdout.lines().filter_map(|l| serde_json::from_str(l).ok()).collect();
    assert_eq!(
        json_lines,
        vec![
            json!({"users": [{"name": "Bob"}, {"name": "Ann"}, {"name": "Cat"}]}),
            json!({"users": [{"name": "Cat"}]}),
            json!({"insertInto": {"name": "Dan"}}),
        ],
        "{stdout}"
    );
    assert!(stdout.contains(".exit") && stdout.contains("users  (4 documents)"), "{stdout}");
    // Nothing after .exit ran; no prompts are printed when stdin is not a terminal.
    assert!(!stdout.contains("aurora>"), "{stdout}");
    let hist = std::fs::read_to_string(&history).expect("history file written");
    assert!(hist.contains("query Q($min: Int)") && hist.contains(".mode json"), "{hist}");
    assert!(!hist.contains("query { users { name } }"), "{hist}");

    // A failing statement is reported with a caret; the rest still runs; exit 1 at the end.
    let out = aurora()
        .arg("shell")
        .arg(&db)
        .arg("--no-history")
        .arg("--json")
        .write_stdin("query {\n  users { nope }\n}\nquery { users(where: { name: { eq: \"Dan\" } }) { age } }\n")
        .assert()
        .code(1)
        .get_output()
        .clone();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("error[NOT_FOUND]") && stderr.contains("2 |   users { nope }"), "{stderr}");
    assert!(stderr.contains("  |           ^"), "{stderr}");
    assert_eq!(stdout_json(&out.stdout), json!({"users": [{"age": 50}]}));

    // An unfinished statement at end of input is an error, not silently dropped.
    aurora()
        .arg("shell")
        .arg(&db)
        .arg("--no-history")
        .write_stdin("query { users {\n")
        .assert()
        .code(1)
        .stderr(predicate::str::contains("incomplete statement"));
}

fn write_jsonl(path: &Path, n: usize) {
    let mut w = std::io::BufWriter::new(std::fs::File::create(path).unwrap());
    for i in 0..n {
        writeln!(
            w,
            r#"{{"sku":"item-{i}","n":{i},"price":{}.5,"tags":["t{}"],"dims":{{"w":{}}}}}"#,
            i % 100,
            i % 7,
            i % 13
        )
        .unwrap();
    }
    w.flush().unwrap();
}

#[test]
fn import_100k_lines_then_count_and_export_round_trip() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("db");
    let src = dir.path().join("items.jsonl");
    write_jsonl(&src, 100_000);
    aurora()
        .arg("import")
        .arg(&db)
        .arg("items")
        .arg(&src)
        .assert()
        .success()
        .stderr(predicate::str::contains("imported 100000 documents"));
    let out = aurora()
        .arg("exec")
        .arg(&db)
        .arg("query { items { aggregate { count } } }")
        .assert()
        .success()
        .get_output()
        .stdout
        .clone();
    assert_eq!(stdout_json(&out), json!({"items": {"aggregate": {"count": 100000}}}));
    let out = aurora()
        .arg("exec")
        .arg(&db)
        .arg("query { items(where: { sku: { eq: \"item-99999\" } }) { n price tags dims { w } } }")
        .assert()
        .success()
        .get_output()
        .stdout
        .clone();
    assert_eq!(stdout_json(&out), json!({"items": [{"n": 99999, "price": 99.5, "tags": ["t4"], "dims": {"w": 3}}]}));

    // Export to a file: the same documents, in insertion order, byte for byte.
    let exported = dir.path().join("out.jsonl");
    aurora().arg("export").arg(&db).arg("items").arg(&exported).assert().success();
    let a = std::fs::read_to_string(&src).unwrap();
    let b = std::fs::read_to_string(&exported).unwrap();
    assert_eq!(b.lines().count(), 100_000);
    assert!(a == b, "export differs from the imported file");
    assert!(!dir.path().join("out.jsonl.partial").exists());

    // Re-import the export into a second database: same count.
    let db2 = dir.path().join("db2");
    aurora().arg("import").arg(&db2).arg("items").arg(&exported).arg("--quiet").assert().success();
    aurora()
        .arg("stats")
        .arg(&db2)
        .arg("--json")
        .assert()
        .success()
        .stdout(predicate::str::contains(r#""name":"items","count":100000"#));
}

#[test]
fn import_reports_bad_lines_and_skips_rejected_batches_whole() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("db");
    aurora()
        .arg("exec")
        .arg(&db)
        .arg("schema { define collection p { code: String! @unique  qty: Int } }")
        .assert()
        .success();
    let src = dir.path().join("p.jsonl");
    std::fs::write(
        &src,
        concat!(
            "{\"code\": \"a\", \"qty\": 1}\n",
            "{\"code\": \"b\", \"qty\": \n",
            "\n",
            "[1, 2]\n",
            "{\"code\": \"a\", \"qty\": 3}\n",
            "{\"code\": \"c\", \"qty\": \"many\"}\n",
            "{\"code\": \"d\", \"qty\": 4}\n",
            "{\"code\": \"e\", \"qty\": 5}\n",
        ),
    )
    .unwrap();
    // Batches of two documents: [1, 5] (5 repeats 1), [6, 7] (6 has a bad type), [8].
    let out = aurora()
        .arg("import")
        .arg(&db)
        .arg("p")
        .arg(&src)
        .arg("--batch-size")
        .arg("2")
        .assert()
        .code(4)
        .get_output()
        .clone();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("line 2: column") && err.contains("invalid JSON"), "{err}");
    assert!(err.contains("line 4: expected a JSON object, found an array"), "{err}");
    assert!(err.contains("line 5: rejected [UNIQUE_VIOLATION]") && err.contains("line 1"), "{err}");
    assert!(err.contains("line 6: rejected [TYPE_ERROR]"), "{err}");
    assert!(err.contains("lines 1-5: batch not imported") && err.contains("lines 6-7: batch not imported"), "{err}");
    assert!(err.contains("imported 1 documents") && err.contains("4 line(s) rejected"), "{err}");
    assert!(err.contains("2 other document(s) skipped"), "{err}");

    // Nothing of a rejected batch was written: only line 8 is there.
    let out = aurora().arg("export").arg(&db).arg("p").assert().success().get_output().stdout.clone();
    let docs: Vec<Json> = String::from_utf8_lossy(&out).lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    assert_eq!(docs, vec![json!({"code": "e", "qty": 5})]);
    let out = aurora().arg("export").arg(&db).arg("p").arg("--with-sid").assert().success().get_output().stdout.clone();
    let first: Json = serde_json::from_str(String::from_utf8_lossy(&out).lines().next().unwrap_or("")).unwrap();
    assert!(uuid::Uuid::parse_str(first["_sid"].as_str().unwrap_or("")).is_ok(), "{first}");

    // A value already stored is named as such; the batch's other document is not written.
    std::fs::write(&src, "{\"code\": \"f\", \"qty\": 6}\n{\"code\": \"e\", \"qty\": 7}\n").unwrap();
    let out = aurora().arg("import").arg(&db).arg("p").arg(&src).assert().code(4).get_output().clone();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("line 2: rejected [UNIQUE_VIOLATION]") && err.contains("already stored"), "{err}");
    assert!(err.contains("imported 0 documents"), "{err}");
    let out = aurora().arg("export").arg(&db).arg("p").assert().success().get_output().stdout.clone();
    assert_eq!(String::from_utf8_lossy(&out).lines().count(), 1);

    // Unknown collection on export: exit 1.
    aurora().arg("export").arg(&db).arg("nope").assert().code(1).stderr(predicate::str::contains("NOT_FOUND"));
}

#[test]
fn strict_import_writes_nothing_after_the_last_committed_batch() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("db");
    aurora()
        .arg("exec")
        .arg(&db)
        .arg("schema { define collection p { code: String! @unique  qty: Int } }")
        .assert()
        .success();
    let src = dir.path().join("p.jsonl");
    let count = |db: &Path| -> usize {
        let out = aurora().arg("export").arg(db).arg("p").assert().success().get_output().stdout.clone();
        String::from_utf8_lossy(&out).lines().count()
    };
    // A JSON error: the pending batch (line 1) is not committed.
    std::fs::write(&src, "{\"code\": \"a\", \"qty\": 1}\n{\"code\": \"b\", \"qty\": \n{\"code\": \"c\", \"qty\": 3}\n")
        .unwrap();
    aurora().arg("import").arg(&db).arg("p").arg(&src).arg("--strict").assert().code(4).stderr(
        predicate::str::contains("line 2:")
            .and(predicate::str::contains("imported 0 documents"))
            .and(predicate::str::contains("stopped at line 2 (--strict)"))
            .and(predicate::str::contains("nothing from line 1 on was imported")),
    );
    assert_eq!(count(&db), 0);
    // An engine rejection in the second batch: the first batch stays, nothing of the second.
    std::fs::write(
        &src,
        concat!(
            "{\"code\": \"a\", \"qty\": 1}\n",
            "{\"code\": \"b\", \"qty\": 2}\n",
            "{\"code\": \"c\", \"qty\": 3}\n",
            "{\"code\": \"d\", \"qty\": \"four\"}\n",
            "{\"code\": \"e\", \"qty\": 5}\n",
        ),
    )
    .unwrap();
    aurora().arg("import").arg(&db).arg("p").arg(&src).args(["--strict", "--batch-size", "2"]).assert().code(4).stderr(
        predicate::str::contains("line 4: rejected [TYPE_ERROR]")
            .and(predicate::str::contains("imported 2 documents"))
            .and(predicate::str::contains("nothing from line 3 on was imported")),
    );
    assert_eq!(count(&db), 2);
}

#[test]
fn export_with_sid_round_trips_through_import() {
    let dir = tempfile::tempdir().unwrap();
    let db = seeded(dir.path());
    let file = dir.path().join("users.jsonl");
    aurora().arg("export").arg(&db).arg("users").arg(&file).arg("--with-sid").assert().success();
    let text = std::fs::read_to_string(&file).unwrap();
    let sids: Vec<String> = text
        .lines()
        .map(|l| serde_json::from_str::<Json>(l).unwrap()["_sid"].as_str().unwrap_or("").to_string())
        .collect();
    assert!(sids.len() == 3 && sids.iter().all(|s| uuid::Uuid::parse_str(s).is_ok()), "{text}");
    // Without --drop-sid the system ids are refused with a hint (not one error per document
    // from the engine).
    let db2 = dir.path().join("db2");
    aurora()
        .arg("import")
        .arg(&db2)
        .arg("users")
        .arg(&file)
        .assert()
        .code(4)
        .stderr(predicate::str::contains("line 1: `_sid`").and(predicate::str::contains("--drop-sid")));
    aurora()
        .arg("import")
        .arg(&db2)
        .arg("users")
        .arg(&file)
        .arg("--drop-sid")
        .assert()
        .success()
        .stderr(predicate::str::contains("imported 3 documents").and(predicate::str::contains("3 `_sid`")));
    let plain = |db: &Path| aurora().arg("export").arg(db).arg("users").assert().success().get_output().stdout.clone();
    assert_eq!(plain(&db), plain(&db2));
}

#[cfg(target_os = "linux")]
#[test]
fn export_syncs_the_file_before_the_rename_and_the_directory_after() {
    // strace may be missing, or unable to trace (no ptrace in some containers).
    let usable = std::process::Command::new("strace").args(["-o", "/dev/null", "true"]).output();
    if !usable.is_ok_and(|o| o.status.success()) {
        eprintln!("strace is not installed or cannot trace here; skipping");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let db = seeded(dir.path());
    let out_dir = dir.path().canonicalize().unwrap().join("out");
    std::fs::create_dir(&out_dir).unwrap();
    let file = out_dir.join("users.jsonl");
    let log = dir.path().join("strace.log");
    let status = std::process::Command::new("strace")
        .args(["-f", "-y", "-qq", "-e", "trace=fsync,fdatasync,rename,renameat,renameat2", "-o"])
        .arg(&log)
        .arg(env!("CARGO_BIN_EXE_aurora"))
        .arg("export")
        .arg(&db)
        .arg("users")
        .arg(&file)
        .arg("--quiet")
        .status()
        .unwrap();
    assert!(status.success());
    let log = std::fs::read_to_string(&log).unwrap();
    let lines: Vec<&str> = log.lines().collect();
    let find = |pred: &dyn Fn(&str) -> bool| lines.iter().position(|l| pred(l));
    let partial = format!("{}.partial", file.display());
    let rename = find(&|l| l.contains("rename") && l.contains(&partial)).unwrap_or_else(|| panic!("no rename:\n{log}"));
    let file_sync =
        find(&|l| (l.contains("fsync(") || l.contains("fdatasync(")) && l.contains(&format!("<{partial}>")));
    assert!(file_sync.is_some_and(|i| i < rename), "the .partial file is not synced before its rename:\n{log}");
    let dir_sync = find(&|l| l.contains("fsync(") && l.contains(&format!("<{}>)", out_dir.display())));
    assert!(dir_sync.is_some_and(|i| i > rename), "the directory is not synced after the rename:\n{log}");
}

#[test]
fn stats_compact_and_migrate() {
    let dir = tempfile::tempdir().unwrap();
    let db = seeded(dir.path());
    let out =
        aurora().arg("stats").arg(&db).arg("--json").arg("--verify").assert().success().get_output().stdout.clone();
    let s = stdout_json(&out);
    assert_eq!(s["collections"][0]["name"], "users");
    assert_eq!(s["collections"][0]["count"], 3);
    assert_eq!(
        s["collections"][0]["fields"][0],
        json!({"name": "email", "type": "String", "unique": true, "indexed": true, "nullable": false})
    );
    assert_eq!(s["verified"], true);
    // Each cache's bytes next to its budget (defaults: hot 256 MiB, index 64 MiB, cold 1 GiB).
    assert_eq!(s["memory"]["hotCacheBudget"], 256u64 << 20);
    assert_eq!(s["memory"]["indexCacheBudget"], 64u64 << 20);
    assert_eq!(s["memory"]["coldCacheBudget"], 1024u64 << 20);
    assert!(s["memory"]["indexCacheBytes"].as_u64().is_some() && s["memory"]["writeBufferBytes"].as_u64().is_some());
    aurora()
        .arg("stats")
        .arg(&db)
        .arg("--table")
        .assert()
        .success()
        .stdout(predicate::str::contains("schema of users"))
        .stdout(predicate::str::contains("memory (MiB, used of budget): hot cache"));

    aurora().arg("compact").arg(&db).assert().success().stderr(predicate::str::contains("compacted"));

    let m = dir.path().join("m.aql");
    std::fs::write(
        &m,
        r#"migrate { "v1.1.0": { alter collection users { add verified: Boolean }
                     migrate data in users { set verified = true where { age: { gt: 25 } } } } }"#,
    )
    .unwrap();
    let out = aurora().arg("migrate").arg(&db).arg(&m).assert().success().get_output().stdout.clone();
    assert_eq!(stdout_json(&out)["migrate"]["status"], "applied");
    let out = aurora().arg("migrate").arg(&db).arg(&m).assert().success().get_output().stdout.clone();
    assert_eq!(stdout_json(&out)["migrate"]["status"], "skipped");
    let out = aurora()
        .arg("exec")
        .arg(&db)
        .arg("query { users(where: { verified: { eq: true } }, orderBy: { age: ASC }) { name } }")
        .assert()
        .success()
        .get_output()
        .stdout
        .clone();
    assert_eq!(stdout_json(&out), json!({"users": [{"name": "Ann"}, {"name": "Cat"}]}));

    std::fs::write(&m, "migrate { \"v2\": { alter collection users { add x: Nope } } }").unwrap();
    aurora().arg("migrate").arg(&db).arg(&m).assert().code(1).stderr(predicate::str::contains("m.aql:1:"));
    std::fs::write(&m, "query { users { name } }").unwrap();
    aurora().arg("migrate").arg(&db).arg(&m).assert().code(2);
}

#[cfg(feature = "http")]
#[test]
fn serve_prints_its_address_and_holds_the_database() {
    let dir = tempfile::tempdir().unwrap();
    let db = seeded(dir.path());
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_aurora"))
        .arg("serve")
        .arg(&db)
        .args(["--bind", "127.0.0.1:0"])
        .env_remove("AURORA_TOKEN")
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let mut line = String::new();
    let stdout = child.stdout.take().unwrap();
    std::io::BufRead::read_line(&mut std::io::BufReader::new(stdout), &mut line).unwrap();
    let result = std::panic::catch_unwind(|| {
        assert!(line.starts_with("listening on http://127.0.0.1:"), "{line}");
        // The server holds the database: another process cannot open it (exit 3, with a hint).
        aurora()
            .arg("exec")
            .arg(&db)
            .arg("query { users { name } }")
            .assert()
            .code(3)
            .stderr(predicate::str::contains("another process"));
    });
    let _ = child.kill();
    let _ = child.wait();
    result.unwrap();
    // Refuses a public address unless asked.
    aurora().arg("serve").arg(&db).args(["--bind", "0.0.0.0:0"]).assert().code(2);
}

#[cfg(feature = "http")]
#[test]
fn serve_public_requires_a_token() {
    let dir = tempfile::tempdir().unwrap();
    let db = seeded(dir.path());
    for bind in ["0.0.0.0:0", "127.0.0.1:0"] {
        aurora()
            .arg("serve")
            .arg(&db)
            .args(["--bind", bind, "--public"])
            .timeout(Duration::from_secs(20))
            .assert()
            .code(2)
            .stderr(
                predicate::str::contains("--public needs a bearer token").and(predicate::str::contains("AURORA_TOKEN")),
            );
    }
}

#[test]
fn exec_explain_prints_the_plan_of_each_root_field() {
    let dir = tempfile::tempdir().unwrap();
    let db = seeded(dir.path());
    let q = "query { old: users(where: { age: { gt: 25 } }) { name } byName: users(where: { name: { eq: \"Bob\" } }) { age } }";
    let out = aurora().args(["exec", "--explain"]).arg(&db).arg(q).assert().success().get_output().stdout.clone();
    let plan = stdout_json(&out);
    assert_eq!(plan["old"]["strategy"], "indexLookup", "{plan}");
    assert_eq!(plan["old"]["indexes"], json!(["age"]));
    assert_eq!(plan["old"]["actualRows"], 2);
    assert_eq!(
        (plan["byName"]["strategy"].as_str(), plan["byName"]["examinedRows"].as_u64()),
        (Some("fullScan"), Some(3))
    );
    // A mutation is refused (exit code of a validation error) and nothing is written.
    aurora()
        .args(["exec", "--explain"])
        .arg(&db)
        .arg("mutation { deleteFrom(collection: \"users\") { name } }")
        .assert()
        .failure()
        .stderr(predicate::str::contains("plans of queries"));
    let out = aurora()
        .arg("exec")
        .arg(&db)
        .arg("query { users { aggregate { count } } }")
        .assert()
        .success()
        .get_output()
        .stdout
        .clone();
    assert_eq!(stdout_json(&out)["users"]["aggregate"]["count"], 3);
}
