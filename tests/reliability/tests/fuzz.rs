//! Bounded fuzzing of the WAL decoder (`aurora_db::storage::wal::decode_segment`): no nightly
//! toolchain here, so no cargo-fuzz; instead proptest properties plus a seeded mutation loop.
//!
//! Properties: random bytes never panic and a reported cut lies inside the input; a well-formed
//! segment decodes to exactly its records, and any truncation of it to a prefix of them; one
//! damaged byte is never silently accepted (an error, or — only in the last segment and only
//! when it hit the last record — that record cut off as a torn tail).
//!
//! `AURORA_FUZZ_ITERS` sets the mutation-loop executions (default 50000), `AURORA_FUZZ_CASES`
//! the proptest cases per property (default 256), `AURORA_SEED` the seed.

use aurora_db::storage::wal::{decode_segment, list_segments, Wal, WalOp, WalRecord};
use aurora_db::AuroraError;
use aurora_reliability::{env_u64, seed, Rng};
use proptest::prelude::*;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::Path;
use std::time::Instant;

/// Builds a real segment with the engine's own writer; returns its bytes and frame offsets.
fn segment(records: &[Vec<WalOp>]) -> (Vec<u8>, Vec<usize>) {
    let dir = tempfile::tempdir().unwrap();
    {
        let mut w = Wal::create(dir.path(), 1, false, aurora_db::storage::wal::DEFAULT_SEGMENT_BYTES).unwrap();
        for (i, ops) in records.iter().enumerate() {
            w.append(i as u64 + 1, ops).unwrap();
        }
    }
    let segs = list_segments(dir.path()).unwrap();
    let bytes = std::fs::read(&segs[0].1).unwrap();
    let mut starts = Vec::new();
    let mut off = 0;
    while off < bytes.len() {
        starts.push(off);
        off += 8 + u32::from_le_bytes(bytes[off..off + 4].try_into().unwrap()) as usize;
    }
    (bytes, starts)
}

fn op_strategy() -> impl Strategy<Value = WalOp> {
    prop_oneof![
        (prop::collection::vec(any::<u8>(), 0..20), prop::option::of(prop::collection::vec(any::<u8>(), 0..80)))
            .prop_map(|(key, value)| WalOp::Raw { key, value }),
        (any::<u32>(), any::<u32>(), prop::collection::vec(any::<u8>(), 16..80))
            .prop_map(|(coll, rowid, doc)| WalOp::PutDoc { coll, rowid, doc: doc.into() }),
        (any::<u32>(), any::<u32>()).prop_map(|(coll, rowid)| WalOp::DeleteDoc { coll, rowid }),
        (any::<u32>(), any::<u16>(), "[a-z]{1,8}").prop_map(|(coll, id, name)| WalOp::Field { coll, id, name }),
    ]
}

fn records_strategy() -> impl Strategy<Value = Vec<Vec<WalOp>>> {
    prop::collection::vec(prop::collection::vec(op_strategy(), 0..4), 1..12)
}

fn decode(bytes: &[u8], is_last: bool) -> aurora_db::Result<(Vec<WalRecord>, Option<u64>)> {
    decode_segment(Path::new("fuzz.wal"), bytes, is_last)
}

fn cases() -> u32 {
    env_u64("AURORA_FUZZ_CASES", 256) as u32
}

proptest! {
    #![proptest_config(ProptestConfig { cases: cases(), ..ProptestConfig::default() })]

    #[test]
    fn random_bytes_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..2048), is_last: bool) {
        match decode(&bytes, is_last) {
            Ok((_, cut)) => {
                prop_assert!(cut.is_none_or(|c| c as usize <= bytes.len()));
                prop_assert!(is_last || cut.is_none(), "only the last segment may be cut");
            }
            Err(AuroraError::Corruption { offset, .. }) => prop_assert!(offset as usize <= bytes.len()),
            Err(other) => prop_assert!(false, "unexpected error kind: {other}"),
        }
    }

    #[test]
    fn well_formed_segments_decode_exactly(records in records_strategy()) {
        let (bytes, _) = segment(&records);
        for is_last in [false, true] {
            let (got, cut) = decode(&bytes, is_last).unwrap();
            prop_assert_eq!(cut, None);
            prop_assert_eq!(got.len(), records.len());
            for (i, r) in got.iter().enumerate() {
                prop_assert_eq!(r.lsn, i as u64 + 1);
                prop_assert_eq!(&r.ops, &records[i]);
            }
        }
    }

    #[test]
    fn truncated_last_segment_keeps_the_complete_records(records in records_strategy(), cut_at in any::<prop::sample::Index>()) {
        let (bytes, starts) = segment(&records);
        let len = cut_at.index(bytes.len() + 1);
        let (got, cut) = decode(&bytes[..len], true).unwrap();
        let complete = starts.iter().skip(1).chain(std::iter::once(&bytes.len())).filter(|&&end| end <= len).count();
        prop_assert_eq!(got.len(), complete, "every complete record is kept");
        let boundary = complete == starts.len() || starts[complete] == len;
        prop_assert_eq!(cut, if boundary { None } else { Some(starts[complete] as u64) });
    }
}

/// Outcome of one damaged-byte execution, checked against the undamaged records.
fn check_single_byte_damage(
    orig: &[WalRecord],
    starts: &[usize],
    pos: usize,
    is_last: bool,
    result: aurora_db::Result<(Vec<WalRecord>, Option<u64>)>,
) -> Result<&'static str, String> {
    let hit = starts.iter().rposition(|&s| s <= pos).unwrap();
    match result {
        Err(AuroraError::Corruption { offset, .. }) => {
            if offset as usize == starts[hit] {
                Ok("error at the damaged record")
            } else {
                Err(format!("error at offset {offset}, damage in the record at {}", starts[hit]))
            }
        }
        Err(e) => Err(format!("unexpected error kind {e}")),
        Ok((got, cut)) => {
            if got.iter().zip(orig).any(|(a, b)| a != b) {
                return Err("a damaged record decoded to different content".into());
            }
            if is_last && hit == starts.len() - 1 && got.len() == orig.len() - 1 && cut == Some(starts[hit] as u64) {
                Ok("torn tail cut")
            } else {
                Err(format!(
                    "accepted with {} of {} records, cut {cut:?} (damage in record {hit})",
                    got.len(),
                    orig.len()
                ))
            }
        }
    }
}

#[test]
fn seeded_mutations_never_panic_nor_pass_silently() {
    let iters = env_u64("AURORA_FUZZ_ITERS", 50_000);
    let seed = seed(0xF022);
    let mut rng = Rng::new(seed);
    let started = Instant::now();
    // A few corpora of different shapes: tiny records, document-sized ones, a single record.
    let mut corpora = Vec::new();
    for (n, vlen) in [(40usize, 8usize), (12, 300), (1, 64), (100, 24)] {
        let records: Vec<Vec<WalOp>> = (0..n)
            .map(|i| {
                vec![WalOp::Raw {
                    key: (i as u128).to_be_bytes().to_vec(),
                    value: if i % 7 == 3 { None } else { Some(vec![(i % 251) as u8; vlen]) },
                }]
            })
            .collect();
        let (bytes, starts) = segment(&records);
        let (orig, _) = decode(&bytes, true).unwrap();
        corpora.push((bytes, starts, orig));
    }
    let interesting: [u32; 8] = [0, 1, 2, 7, 8, 0x7fff_ffff, 0xffff_ffff, (1 << 30) + 1];
    let mut outcomes: std::collections::BTreeMap<&'static str, u64> = Default::default();
    let mut failures = Vec::new();
    for i in 0..iters {
        let (bytes, starts, orig) = &corpora[rng.below(corpora.len() as u64) as usize];
        let is_last = rng.below(2) == 0;
        let mut m = bytes.clone();
        let kind = rng.below(8);
        let mut single_byte = None;
        match kind {
            0 | 1 => {
                // One damaged byte anywhere (bit flip or random value).
                let p = rng.below(m.len() as u64) as usize;
                m[p] ^= if kind == 0 { 1 << rng.below(8) } else { rng.nonzero_byte() };
                single_byte = Some(p);
            }
            2 => {
                // One damaged byte in a record header (length or checksum).
                let s = starts[rng.below(starts.len() as u64) as usize];
                let p = s + rng.below(8) as usize;
                m[p] ^= rng.nonzero_byte();
                single_byte = Some(p);
            }
            3 => {
                // An interesting length in some header.
                let s = starts[rng.below(starts.len() as u64) as usize];
                let v = interesting[rng.below(interesting.len() as u64) as usize];
                m[s..s + 4].copy_from_slice(&v.to_le_bytes());
            }
            4 => {
                // Truncate anywhere.
                m.truncate(rng.below(m.len() as u64 + 1) as usize);
            }
            5 => {
                // Insert random bytes.
                let p = rng.below(m.len() as u64 + 1) as usize;
                let n = 1 + rng.below(32) as usize;
                let ins: Vec<u8> = (0..n).map(|_| rng.next_u64() as u8).collect();
                m.splice(p..p, ins);
            }
            6 => {
                // Delete a slice.
                let p = rng.below(m.len() as u64) as usize;
                let n = (1 + rng.below(64) as usize).min(m.len() - p);
                m.drain(p..p + n);
            }
            _ => {
                // Overwrite a slice with garbage or zeros (a torn or never-written page).
                let p = rng.below(m.len() as u64) as usize;
                let n = (1 + rng.below(512) as usize).min(m.len() - p);
                let zero = rng.below(2) == 0;
                for b in &mut m[p..p + n] {
                    *b = if zero { 0 } else { rng.next_u64() as u8 };
                }
            }
        }
        let result = catch_unwind(AssertUnwindSafe(|| decode(&m, is_last)));
        let outcome = match result {
            Err(_) => {
                failures.push(format!("iteration {i}: decoder panicked (mutation {kind}, is_last {is_last})"));
                "panic"
            }
            Ok(r) => {
                if let Ok((_, Some(c))) = &r {
                    if *c as usize > m.len() || !is_last {
                        failures.push(format!("iteration {i}: cut {c} outside the segment or not last"));
                    }
                }
                match single_byte {
                    Some(p) if m != *bytes => match check_single_byte_damage(orig, starts, p, is_last, r) {
                        Ok(o) => o,
                        Err(e) => {
                            failures.push(format!("iteration {i}: byte {p}, is_last {is_last}: {e}"));
                            "silently accepted"
                        }
                    },
                    _ => match r {
                        Ok(_) => "structural: decoded",
                        Err(AuroraError::Corruption { .. }) => "structural: error",
                        Err(e) => {
                            failures.push(format!("iteration {i}: unexpected error kind {e}"));
                            "unexpected error"
                        }
                    },
                }
            }
        };
        *outcomes.entry(outcome).or_default() += 1;
    }
    eprintln!(
        "RESULT fuzz wal decoder: {iters} mutation executions (seed {seed:#x}) + {} proptest cases x 3 properties: {}; {:.1?}",
        cases(),
        outcomes.iter().map(|(k, v)| format!("{k}={v}")).collect::<Vec<_>>().join(", "),
        started.elapsed()
    );
    assert!(
        failures.is_empty(),
        "{} failures:\n{}",
        failures.len(),
        failures.iter().take(20).cloned().collect::<Vec<_>>().join("\n")
    );
}
