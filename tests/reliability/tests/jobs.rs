//! A job whose process is SIGKILLed while its handler runs is run again after restart, with
//! the interrupted attempt counted.

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

fn runner(db: &std::path::Path, mode: &str) -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_job-runner"));
    c.args([db.to_str().unwrap(), mode]);
    c
}

#[test]
fn job_interrupted_by_sigkill_runs_again_after_restart() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("db");
    let out = runner(&db, "enqueue").output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let id = String::from_utf8(out.stdout).unwrap().trim().to_string();

    let mut child = runner(&db, "hang").stdout(Stdio::piped()).spawn().unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let deadline = Instant::now() + Duration::from_secs(30);
    let first = loop {
        assert!(Instant::now() < deadline, "handler never started");
        if let Some(Ok(l)) = lines.next() {
            if l.starts_with("RUNNING") {
                break l;
            }
        }
    };
    assert_eq!(first, format!("RUNNING {id} 1"));
    child.kill().unwrap(); // SIGKILL mid-run
    child.wait().unwrap();

    let out = runner(&db, "finish").output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let text = String::from_utf8(out.stdout).unwrap();
    assert_eq!(text.trim(), format!("DONE {id} 2"), "ran again, and the handler sees the second attempt");
}
