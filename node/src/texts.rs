//! AQL texts by number, for the hottest call (`executeInSlotWith`).
//!
//! Reading an AQL text from a JS string means measuring and transcoding it on every call. An
//! app runs the same few texts over and over (values go in variables), so index.js asks for a
//! number once per text and passes that; the text is copied from this thread's table.

use aurora_bindings::BindingError;
use std::cell::RefCell;

/// Most texts a thread keeps (index.js stops asking beyond this; texts built with values
/// spliced in, instead of variables, then go over as strings).
pub const MAX_TEXTS: usize = 4096;

thread_local! {
    static TEXTS: RefCell<Vec<String>> = const { RefCell::new(Vec::new()) };
}

/// The number of `aql` on this thread (a new one each call: index.js asks once per text).
pub fn intern(aql: String) -> Result<u32, BindingError> {
    TEXTS.with(|t| {
        let mut t = t.borrow_mut();
        if t.len() >= MAX_TEXTS {
            return Err(BindingError::validation(format!("more than {MAX_TEXTS} AQL texts numbered on this thread")));
        }
        t.push(aql);
        Ok((t.len() - 1) as u32)
    })
}

/// The text numbered `id` on this thread.
pub fn get(id: u32) -> Result<String, BindingError> {
    TEXTS
        .with(|t| t.borrow().get(id as usize).cloned())
        .ok_or_else(|| BindingError::validation(format!("no AQL text numbered {id} on this thread")))
}
