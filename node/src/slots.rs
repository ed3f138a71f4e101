//! Open databases and prepared statements by slot number, for the hottest calls.
//!
//! A method call on a napi-rs class unwraps the JS object, checks its type tag and registers a
//! borrow: more than half a microsecond, as much as a point lookup. So each JS `Aurora` and
//! `Statement` asks its native handle for a slot once, and the hot calls (`hot`) pass that
//! number to a plain function. Slots live in the JS thread's registry (each worker thread has
//! its own) and are freed when the native handle is collected.

use aurora_bindings::{BindingError, Database, Statement};
use std::cell::RefCell;
use std::thread::LocalKey;

/// Handles of one kind by slot, with the free slots to reuse.
pub struct Registry<T> {
    items: Vec<Option<T>>,
    free: Vec<u32>,
}

impl<T> Registry<T> {
    const fn new() -> Self {
        Registry { items: Vec::new(), free: Vec::new() }
    }
}

thread_local! {
    /// Open databases of this thread.
    pub static DATABASES: RefCell<Registry<Database>> = const { RefCell::new(Registry::new()) };
    /// Prepared statements of this thread.
    pub static STATEMENTS: RefCell<Registry<Statement>> = const { RefCell::new(Registry::new()) };
}

/// Registers `item` on this thread; returns its slot.
pub fn register<T: Clone + 'static>(registry: &'static LocalKey<RefCell<Registry<T>>>, item: &T) -> u32 {
    registry.with(|r| {
        let mut r = r.borrow_mut();
        match r.free.pop() {
            Some(i) => {
                r.items[i as usize] = Some(item.clone());
                i
            }
            None => {
                r.items.push(Some(item.clone()));
                (r.items.len() - 1) as u32
            }
        }
    })
}

/// Frees a slot (its handle was collected).
pub fn release<T: 'static>(registry: &'static LocalKey<RefCell<Registry<T>>>, slot: u32) {
    registry.with(|r| {
        let mut r = r.borrow_mut();
        if let Some(entry) = r.items.get_mut(slot as usize) {
            if entry.take().is_some() {
                r.free.push(slot);
            }
        }
    });
}

/// The handle in `slot` (a clone: cheap, and the registry is not borrowed while it runs).
pub fn get<T: Clone + 'static>(
    registry: &'static LocalKey<RefCell<Registry<T>>>,
    slot: u32,
) -> Result<T, BindingError> {
    registry.with(|r| r.borrow().items.get(slot as usize).cloned().flatten()).ok_or_else(|| {
        BindingError::validation(format!(
            "no handle in slot {slot} on this thread (pass handles between threads by reopening)"
        ))
    })
}
