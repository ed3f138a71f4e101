//! The WAL decoder (`aurora_db::storage::wal::decode_segment`) on arbitrary segment bytes.
//!
//! Every input is decoded both as a middle segment and as the last one. Invariants (the same as
//! tests/reliability/tests/fuzz.rs, plus consistency between the two modes):
//! - no panic; the only error is `Corruption` with an offset inside the input;
//! - a middle segment is never cut; a cut of the last segment lies inside the input;
//! - a segment that decodes cleanly as a middle one decodes identically as the last one and
//!   vice versa; where the middle-segment decode fails, the last-segment decode fails at the
//!   same offset or cuts the tail there with the same records;
//! - after a cut, the kept prefix decodes cleanly (in both modes) to exactly the kept records;
//! - every record takes at least 10 bytes (8 of header, 2 of payload).

#![no_main]

use aurora_db::storage::wal::{decode_segment, WalRecord};
use aurora_db::AuroraError;
use libfuzzer_sys::fuzz_target;
use std::path::Path;

type Decoded = Result<(Vec<WalRecord>, Option<u64>), u64>;

fn decode(bytes: &[u8], is_last: bool) -> Decoded {
    match decode_segment(Path::new("fuzz.wal"), bytes, is_last) {
        Ok((records, cut)) => {
            if let Some(c) = cut {
                assert!(is_last, "a middle segment was cut at {c}");
                assert!(c as usize <= bytes.len(), "cut {c} past the end ({} bytes)", bytes.len());
            }
            assert!(records.len() * 10 <= bytes.len(), "{} records from {} bytes", records.len(), bytes.len());
            Ok((records, cut))
        }
        Err(AuroraError::Corruption { offset, file, .. }) => {
            assert!(offset as usize <= bytes.len(), "error offset {offset} past the end ({} bytes)", bytes.len());
            assert_eq!(file, Path::new("fuzz.wal"), "the error names the segment");
            Err(offset)
        }
        Err(other) => panic!("unexpected error kind: {other}"),
    }
}

fuzz_target!(|bytes: &[u8]| {
    let middle = decode(bytes, false);
    let last = decode(bytes, true);
    match (&middle, &last) {
        (Ok((m, None)), Ok((l, None))) => assert_eq!(m, l, "clean segment decodes differently by position"),
        (Err(mo), Err(lo)) => assert_eq!(mo, lo, "errors at different offsets"),
        (Err(mo), Ok((_, Some(cut)))) => assert_eq!(mo, cut, "torn tail cut elsewhere than the damage"),
        _ => panic!("middle {middle:?} vs last {last:?}"),
    }
    if let Ok((kept, Some(cut))) = &last {
        let prefix = &bytes[..*cut as usize];
        for is_last in [false, true] {
            match decode(prefix, is_last) {
                Ok((again, None)) => assert_eq!(&again, kept, "the kept prefix decodes to other records"),
                other => panic!("the kept prefix ({cut} bytes) does not decode cleanly: {other:?}"),
            }
        }
    }
});
