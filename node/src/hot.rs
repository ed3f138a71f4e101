//! The hottest calls as plain N-API callbacks: `execute` and `executeSync` on a database slot,
//! and the same two on a prepared statement's slot.
//!
//! napi-rs wraps every `#[napi]` function in argument checks and a borrow scope that guards
//! class instances against reentrant use: about 0.3 µs a call, as much as a tenth of a point
//! lookup. These functions take no class instance and convert their arguments themselves, so
//! they are registered directly; they still catch every panic and throw the same errors.
//!
//! Variables of any plain data cross as values (`convert`), results come back as values
//! (`values`): no JSON text either way, and no per-shape code. index.js passes a plain object
//! of variables as name/value argument pairs (`…, "e", "a@x.io"`): reading its properties in JS
//! and the arguments here in one call is much cheaper than walking the object through N-API.

use crate::convert::{self, ResultOut};
use crate::{hub, slots, texts};
use aurora_bindings::{BindingError, Execution, ExecutionResult};
use napi::bindgen_prelude::*;
use napi::sys;
use serde_json::Value;
use std::ptr;

type Callback = unsafe extern "C" fn(sys::napi_env, sys::napi_callback_info) -> sys::napi_value;

/// Adds the raw-callback functions to the module's exports.
pub fn register(env: sys::napi_env, exports: sys::napi_value) -> Result<()> {
    let functions: [(&std::ffi::CStr, Callback); 4] = [
        (c"executeSlot", execute_slot),
        (c"executeSlotSync", execute_slot_sync),
        (c"statementExecute", statement_execute),
        (c"statementExecuteSync", statement_execute_sync),
    ];
    for (name, cb) in functions {
        let mut f = ptr::null_mut();
        let text = name.to_bytes();
        check("cannot create a function", unsafe {
            sys::napi_create_function(env, text.as_ptr().cast(), text.len() as isize, Some(cb), ptr::null_mut(), &mut f)
        })?;
        check("cannot export a function", unsafe { sys::napi_set_named_property(env, exports, name.as_ptr(), f) })?;
    }
    Ok(())
}

fn check(what: &str, status: sys::napi_status) -> Result<()> {
    if status == sys::Status::napi_ok {
        Ok(())
    } else {
        Err(Error::new(Status::from(status), what.to_string()))
    }
}

/// How a call hands its result back.
#[derive(Clone, Copy)]
enum Mode {
    /// The value itself when the call finished on this thread (index.js wraps it with
    /// `Promise.resolve`, much cheaper than a native Promise), else a Promise; engine errors
    /// of a finished call are thrown as `AuroraError` (index.js turns them into a rejection).
    Promise,
    /// The value itself; engine errors are thrown as `AuroraError`.
    Sync,
}

/// Most arguments read: a handle, a text and 16 variables as name/value pairs.
const MAX_ARGS: usize = 2 + 2 * 16;

/// Reads the arguments (missing ones are `undefined`; `argv[..n]` with `n` ≥ `min` are the
/// ones passed) and runs `body`, turning a panic or an error into a JS exception.
unsafe fn with_args(
    env: sys::napi_env,
    info: sys::napi_callback_info,
    min: usize,
    body: impl FnOnce(&Env, &[sys::napi_value]) -> Result<sys::napi_value>,
) -> sys::napi_value {
    let outcome = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        let mut argc = MAX_ARGS;
        let mut argv = [ptr::null_mut(); MAX_ARGS];
        let status =
            unsafe { sys::napi_get_cb_info(env, info, &mut argc, argv.as_mut_ptr(), ptr::null_mut(), ptr::null_mut()) };
        check("cannot read the arguments", status)?;
        if argc > MAX_ARGS {
            return Err(Error::new(Status::InvalidArg, format!("at most {MAX_ARGS} arguments are read")));
        }
        // N-API fills the slots up to the capacity asked for with `undefined`.
        body(&Env::from_raw(env), &argv[..argc.max(min)])
    }));
    let error = match outcome {
        Ok(Ok(value)) => return value,
        Ok(Err(e)) => e,
        Err(_) => crate::to_js_error(BindingError::internal("internal error: a panic in a hot call was caught")),
    };
    unsafe { JsError::from(error).throw_into(env) };
    ptr::null_mut()
}

/// The variables: one value (`undefined`/`null` for none, or any plain data), or name/value
/// pairs when more than one argument follows.
unsafe fn variables(env: &Env, args: &[sys::napi_value]) -> Result<Value> {
    match args {
        [] => return Ok(Value::Null),
        [one] => return unsafe { convert::value(env.raw(), *one) },
        _ => {}
    }
    let mut vars = serde_json::Map::new();
    for pair in args.chunks(2) {
        let name = unsafe { convert::string(env.raw(), pair[0])? };
        let value = match pair.get(1) {
            Some(&v) => unsafe { convert::value(env.raw(), v)? },
            None => Value::Null,
        };
        vars.insert(name, value);
    }
    Ok(Value::Object(vars))
}

/// `executeSlot(slot, text, variables | ...namesAndValues)`: `text` is AQL or its number
/// (`internText`).
unsafe extern "C" fn execute_slot(env: sys::napi_env, info: sys::napi_callback_info) -> sys::napi_value {
    unsafe { with_args(env, info, 3, |env, argv| run_slot(env, argv, Mode::Promise)) }
}

/// `executeSlotSync(slot, text, variables)`: as `executeSlot`, returning the value.
unsafe extern "C" fn execute_slot_sync(env: sys::napi_env, info: sys::napi_callback_info) -> sys::napi_value {
    unsafe { with_args(env, info, 3, |env, argv| run_slot(env, argv, Mode::Sync)) }
}

/// `statementExecute(slot, variables | ...namesAndValues)`.
unsafe extern "C" fn statement_execute(env: sys::napi_env, info: sys::napi_callback_info) -> sys::napi_value {
    unsafe { with_args(env, info, 2, |env, argv| run_statement(env, argv, Mode::Promise)) }
}

/// `statementExecuteSync(slot, variables)`.
unsafe extern "C" fn statement_execute_sync(env: sys::napi_env, info: sys::napi_callback_info) -> sys::napi_value {
    unsafe { with_args(env, info, 2, |env, argv| run_statement(env, argv, Mode::Sync)) }
}

/// The AQL text argument: a string, or the number `internText` gave it.
unsafe fn text(env: &Env, v: sys::napi_value) -> Result<std::result::Result<String, BindingError>> {
    let mut t = 0;
    check("typeof", unsafe { sys::napi_typeof(env.raw(), v, &mut t) })?;
    if t == sys::ValueType::napi_number {
        let n = unsafe { u32::from_napi_value(env.raw(), v)? };
        Ok(texts::get(n))
    } else {
        Ok(Ok(unsafe { String::from_napi_value(env.raw(), v)? }))
    }
}

fn run_slot(env: &Env, argv: &[sys::napi_value], mode: Mode) -> Result<sys::napi_value> {
    let slot = unsafe { u32::from_napi_value(env.raw(), argv[0])? };
    let aql = unsafe { text(env, argv[1])? };
    let vars = unsafe { variables(env, &argv[2..])? };
    let db = match aql.and_then(|aql| Ok((slots::get(&slots::DATABASES, slot)?, aql))) {
        Ok(x) => x,
        Err(e) => return finish(env, mode, Err(e)),
    };
    let (db, aql) = db;
    match mode {
        Mode::Sync => finish(env, mode, db.execute_sync(&aql, vars, false, None)),
        Mode::Promise => match db.execute_eager(aql, vars, false, None) {
            Execution::Ready(outcome) => finish(env, Mode::Sync, outcome),
            pending => settle(env, pending),
        },
    }
}

fn run_statement(env: &Env, argv: &[sys::napi_value], mode: Mode) -> Result<sys::napi_value> {
    let slot = unsafe { u32::from_napi_value(env.raw(), argv[0])? };
    let vars = unsafe { variables(env, &argv[1..])? };
    let stmt = match slots::get(&slots::STATEMENTS, slot) {
        Ok(s) => s,
        Err(e) => return finish(env, mode, Err(e)),
    };
    match mode {
        Mode::Sync => finish(env, mode, stmt.execute_sync(vars)),
        Mode::Promise => match stmt.execute_eager(vars) {
            Execution::Ready(outcome) => finish(env, Mode::Sync, outcome),
            pending => settle(env, pending),
        },
    }
}

/// The Promise of an eager execution: settled now when it finished, else when the runtime does.
pub(crate) fn settle(env: &Env, execution: Execution<ExecutionResult>) -> Result<sys::napi_value> {
    let promise = match execution {
        Execution::Ready(outcome) => hub::settled(env, outcome.map(ResultOut))?,
        Execution::Pending(work) => hub::spawn(env, async move { work.await.map(ResultOut) })?,
    };
    Ok(promise.raw())
}

/// A finished call's result: the value, or a thrown `AuroraError` (either mode: see `Mode`).
fn finish(
    env: &Env,
    _mode: Mode,
    outcome: std::result::Result<ExecutionResult, BindingError>,
) -> Result<sys::napi_value> {
    match outcome {
        Ok(result) => unsafe { crate::values::to_js(env.raw(), &result) },
        Err(e) => {
            unsafe { sys::napi_throw(env.raw(), hub::error_value(env.raw(), &e)) };
            Ok(ptr::null_mut())
        }
    }
}
