//! The hottest call, `executeInSlotWith`, as a plain N-API callback.
//!
//! napi-rs wraps every `#[napi]` function in argument checks and a borrow scope that guards
//! class instances against reentrant use: about 0.3 µs a call, as much as a tenth of a point
//! lookup. This function takes no class instance and converts its arguments itself, so it is
//! registered directly; it still catches every panic and throws the same errors.

use crate::{convert, hub, run, slots, texts, Outcome};
use convert::JsonOut;
use napi::bindgen_prelude::*;
use napi::sys;
use std::ptr;

/// `slot, text, name0, value0, name1, value1, name2, value2`.
const ARGS: usize = 8;

/// Adds the raw-callback functions to the module's exports.
pub fn register(env: sys::napi_env, exports: sys::napi_value) -> Result<()> {
    let name = "executeInSlotWith";
    let mut f = ptr::null_mut();
    check("cannot create executeInSlotWith", unsafe {
        sys::napi_create_function(
            env,
            name.as_ptr().cast(),
            name.len() as isize,
            Some(execute_in_slot_with),
            ptr::null_mut(),
            &mut f,
        )
    })?;
    check("cannot export executeInSlotWith", unsafe {
        sys::napi_set_named_property(env, exports, c"executeInSlotWith".as_ptr(), f)
    })
}

fn check(what: &str, status: sys::napi_status) -> Result<()> {
    if status == sys::Status::napi_ok {
        Ok(())
    } else {
        Err(Error::new(Status::from(status), what.to_string()))
    }
}

/// `executeInSlot` for the text numbered `text` (see `texts`) with up to three variables
/// passed as name/value arguments (names left `undefined` are absent): index.js does so for
/// scalar variables, the common call, which spares `JSON.stringify` in JS and JSON parsing and
/// reading the text here. Returns the result's JSON text or a Promise, as `executeInSlot`.
unsafe extern "C" fn execute_in_slot_with(env: sys::napi_env, info: sys::napi_callback_info) -> sys::napi_value {
    let outcome = std::panic::catch_unwind(|| {
        let mut argc = ARGS;
        let mut argv = [ptr::null_mut(); ARGS];
        // N-API fills arguments the caller left out with `undefined`.
        let status =
            unsafe { sys::napi_get_cb_info(env, info, &mut argc, argv.as_mut_ptr(), ptr::null_mut(), ptr::null_mut()) };
        check("cannot read the arguments of executeInSlotWith", status)?;
        let env = Env::from_raw(env);
        let out = call(&env, &argv)?;
        unsafe { Outcome::to_napi_value(env.raw(), out) }
    });
    let error = match outcome {
        Ok(Ok(value)) => return value,
        Ok(Err(e)) => e,
        Err(_) => crate::to_js_error(aurora_bindings::BindingError::internal(
            "internal error: a panic in executeInSlotWith was caught",
        )),
    };
    unsafe { JsError::from(error).throw_into(env) };
    ptr::null_mut()
}

fn call<'env>(env: &'env Env, argv: &[sys::napi_value; ARGS]) -> Result<Outcome<'env>> {
    let slot = unsafe { u32::from_napi_value(env.raw(), argv[0])? };
    let text = unsafe { u32::from_napi_value(env.raw(), argv[1])? };
    let mut vars = serde_json::Map::new();
    for pair in argv[2..].chunks_exact(2) {
        if let Some(name) = unsafe { convert::name(env.raw(), pair[0])? } {
            vars.insert(name, unsafe { convert::value(env.raw(), pair[1])? });
        }
    }
    match slots::get(slot).and_then(|db| Ok((db, texts::get(text)?))) {
        Ok((db, aql)) => run(&db, env, aql, serde_json::Value::Object(vars), None, None),
        Err(e) => hub::settled(env, Err::<JsonOut, _>(e)).map(Either::B),
    }
}
