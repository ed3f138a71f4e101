//! Open databases by slot number, for the hottest call (`execute`).
//!
//! A method call on a napi-rs class unwraps the JS object, checks its type tag and registers a
//! borrow: more than half a microsecond, as much as a point lookup. So each JS `Aurora` asks
//! its native handle for a slot once, and `execute` passes that number to a plain function.
//! Slots live in the JS thread's registry (each worker thread has its own) and are freed when
//! the native handle is collected.

use aurora_bindings::{BindingError, Database};
use std::cell::RefCell;

thread_local! {
    static SLOTS: RefCell<Slots> = const { RefCell::new(Slots { dbs: Vec::new(), free: Vec::new() }) };
}

struct Slots {
    dbs: Vec<Option<Database>>,
    free: Vec<u32>,
}

/// Registers `db` on this thread; returns its slot.
pub fn register(db: &Database) -> u32 {
    SLOTS.with(|s| {
        let mut s = s.borrow_mut();
        match s.free.pop() {
            Some(i) => {
                s.dbs[i as usize] = Some(db.clone());
                i
            }
            None => {
                s.dbs.push(Some(db.clone()));
                (s.dbs.len() - 1) as u32
            }
        }
    })
}

/// Frees a slot (its handle was collected).
pub fn release(slot: u32) {
    SLOTS.with(|s| {
        let mut s = s.borrow_mut();
        if let Some(entry) = s.dbs.get_mut(slot as usize) {
            if entry.take().is_some() {
                s.free.push(slot);
            }
        }
    });
}

/// The database in `slot` (a clone: cheap, and the registry is not borrowed while it runs).
pub fn get(slot: u32) -> Result<Database, BindingError> {
    SLOTS.with(|s| s.borrow().dbs.get(slot as usize).cloned().flatten()).ok_or_else(|| {
        BindingError::validation(format!(
            "no database in slot {slot} on this thread (pass handles between threads by reopening)"
        ))
    })
}
