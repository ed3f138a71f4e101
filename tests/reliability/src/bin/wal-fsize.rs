//! Child process of the fault tests: a WAL append that the kernel refuses, without mounting
//! anything. RLIMIT_FSIZE caps how large this process may grow a file (SIGXFSZ ignored, so
//! `write` fails with EFBIG), which hits the WAL segment exactly like a full disk hits it. The
//! cold store is in memory so only the WAL touches the file system.
//!
//! Usage: wal-fsize DB_DIR — prints one `wal-fsize: ...` line on success, panics otherwise.

use aurora_db::storage::wal::{decode_segment, list_segments};
use aurora_db::storage::{ColdStore, MemStore};
use aurora_db::{Aurora, AuroraConfig, AuroraError, DurabilityMode, Value};
use std::sync::Arc;

fn set_file_size_limit(limit: Option<u64>) {
    let lim = libc::rlimit {
        rlim_cur: limit.map_or(libc::RLIM_INFINITY, |l| l as libc::rlim_t),
        rlim_max: libc::RLIM_INFINITY,
    };
    // SAFETY: plain system calls with a valid pointer to an initialised struct.
    let rc = unsafe { libc::setrlimit(libc::RLIMIT_FSIZE, &lim) };
    assert_eq!(rc, 0, "setrlimit: {}", std::io::Error::last_os_error());
}

fn item(seq: i64) -> Vec<(&'static str, Value)> {
    vec![
        ("seq", Value::Int(seq)),
        ("email", Value::String(format!("e{seq}@x.io"))),
        ("age", Value::Int(seq % 50)),
        ("pad", Value::String("y".repeat(300))),
    ]
}

async fn present(db: &Aurora, seq: i64) -> usize {
    db.query("items").filter(|f| f.eq("seq", seq)).count().await.unwrap()
}

#[tokio::main(flavor = "current_thread")]
async fn main() {
    let dir = std::env::args().nth(1).expect("usage: wal-fsize DB_DIR");
    // SAFETY: ignoring a signal has no preconditions.
    unsafe { libc::signal(libc::SIGXFSZ, libc::SIG_IGN) };
    let cold: Arc<dyn ColdStore> = Arc::new(MemStore::default());
    let cfg = AuroraConfig {
        db_path: dir.into(),
        durability_mode: DurabilityMode::Strict,
        checkpoint_interval_ms: 3_600_000,
        ..Default::default()
    };
    let db = Aurora::open_on(cfg.clone(), cold.clone()).unwrap();
    aurora_reliability::create_schema(&db).await.unwrap();
    let mut acked = Vec::new();
    for seq in 0..100 {
        db.insert_into("items", item(seq)).await.unwrap();
        acked.push(seq);
    }
    let wal = cfg.db_path.join("wal");
    let (_, seg) = list_segments(&wal).unwrap().pop().unwrap();
    let size = std::fs::metadata(&seg).unwrap().len();
    set_file_size_limit(Some(size + 20_000));
    let mut seq = 100;
    let err = loop {
        match db.insert_into("items", item(seq)).await {
            Ok(_) => acked.push(seq),
            Err(e) => break e,
        }
        seq += 1;
        assert!(seq < 10_000, "the file size limit never stopped the WAL");
    };
    let efbig = matches!(&err, AuroraError::Io { source, .. } if source.raw_os_error() == Some(libc::EFBIG));
    assert!(efbig, "expected an IO error (EFBIG), got {err}");
    assert_eq!(present(&db, seq).await, 0, "the refused write is not visible");
    for s in seq + 1..seq + 4 {
        assert!(db.insert_into("items", item(s)).await.is_err(), "still refused");
    }
    let bytes = std::fs::read(&seg).unwrap();
    let (records, cut) = decode_segment(&seg, &bytes, false).expect("no partial record left in the WAL");
    assert!(cut.is_none());
    let failed_at = acked.len();
    // The limit lifted ("space freed"): writes resume.
    set_file_size_limit(None);
    for s in seq + 10..seq + 60 {
        db.insert_into("items", item(s)).await.unwrap();
        acked.push(s);
    }
    for &s in &acked {
        assert_eq!(present(&db, s).await, 1, "acknowledged seq {s}");
    }
    db.close().await.unwrap();
    drop(db);
    let db = Aurora::open_on(cfg, cold).unwrap();
    db.verify().await.unwrap();
    for &s in &acked {
        assert_eq!(present(&db, s).await, 1, "acknowledged seq {s} after reopen");
    }
    assert_eq!(db.query("items").count().await.unwrap(), acked.len(), "no refused write came back");
    db.close().await.unwrap();
    println!(
        "wal-fsize: Strict, file size limit hit after {failed_at} acknowledged writes ({} WAL records intact, no \
         partial record): {err}; 4 refused writes, none visible; writes resumed once the limit was lifted; {} \
         acknowledged writes intact after reopen",
        records.len(),
        acked.len()
    );
}
