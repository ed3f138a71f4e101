//! Fault injection for tests: make the next few WAL fsyncs or segment rotations fail, as a
//! failing disk would. Nothing is injected unless a test asks; the check is one atomic load.

use std::sync::atomic::{AtomicU32, Ordering};

/// Where a fault can be injected.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Point {
    /// `fdatasync` of a WAL segment.
    WalSync,
    /// Creating the next WAL segment.
    WalRotate,
}

static WAL_SYNC: AtomicU32 = AtomicU32::new(0);
static WAL_ROTATE: AtomicU32 = AtomicU32::new(0);

fn counter(p: Point) -> &'static AtomicU32 {
    match p {
        Point::WalSync => &WAL_SYNC,
        Point::WalRotate => &WAL_ROTATE,
    }
}

/// Makes the next `n` operations at `point` fail with an I/O error (process-wide; for tests).
pub fn inject(point: Point, n: u32) {
    counter(point).store(n, Ordering::SeqCst);
}

/// Fails if a fault is pending at `point` (and consumes it).
pub(crate) fn check(point: Point) -> std::io::Result<()> {
    let c = counter(point);
    if c.load(Ordering::Relaxed) == 0 {
        return Ok(());
    }
    match c.fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1)) {
        Ok(_) => Err(std::io::Error::other(format!("injected fault at {point:?}"))),
        Err(_) => Ok(()),
    }
}
