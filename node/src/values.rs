//! Engine values → JS values, without JSON text.
//!
//! One conversion for every result, event and job: objects, arrays, strings, numbers (an Int
//! beyond ±(2^53 − 1) becomes a BigInt), booleans and null.
//!
//! Building a value one N-API call per property costs about 0.3 µs a property (each call opens
//! a handle scope and a try/catch), more than the lookup that found the document. So the value
//! is encoded (`encode`) into one `Float64Array` of tags and numbers plus one string holding
//! every string, and index.js's decoder (plain code: no code generation) builds the objects with
//! ordinary property stores, which V8 optimizes: three N-API values and one call per result.
//! Property keys repeat from row to row, so each key is sent once per thread and kept in a JS
//! array the decoder reads by index. Without a registered decoder (the addon loaded without
//! index.js), values are built through N-API directly.

use crate::encode::{self, KeyIndex};
use napi::bindgen_prelude::*;
use napi::sys;
use serde::Serialize;
use serde_json::Value;
use std::cell::RefCell;
use std::ptr;

/// Nesting deeper than this is refused (the engine stores nothing deeper).
const MAX_DEPTH: u32 = 256;

const MAX_SAFE: i64 = 9_007_199_254_740_991;

thread_local! {
    /// The decoder's key table in this thread's environment.
    static KEYS: RefCell<Keys> = const { RefCell::new(Keys { env: ptr::null_mut(), array: ptr::null_mut() }) };
}

struct Keys {
    env: sys::napi_env,
    /// A JS array holding the key strings, by index.
    array: sys::napi_ref,
}

fn check(status: sys::napi_status, what: &str) -> Result<()> {
    if status == sys::Status::napi_ok {
        Ok(())
    } else {
        Err(Error::new(Status::from(status), format!("cannot build the JS value ({what})")))
    }
}

/// Builds the JS value of `v` (anything serde serializes as JSON: engine results straight
/// from their documents, or a `serde_json::Value`).
///
/// # Safety
/// `env` must be the live environment of the calling thread.
pub unsafe fn to_js<T: Serialize + ?Sized>(env: sys::napi_env, v: &T) -> Result<sys::napi_value> {
    if let Some(out) = unsafe { decoded(env, v)? } {
        return Ok(out);
    }
    let tree = serde_json::to_value(v)
        .map_err(|e| Error::new(Status::GenericFailure, format!("cannot convert the result: {e}")))?;
    let out = unsafe { build(env, &tree, MAX_DEPTH) };
    aurora_bindings::drop_json_flat(tree);
    out
}

thread_local! {
    /// index.js's decoder `(ops, text, keys) => value` in this thread's environment.
    static DECODER: std::cell::Cell<(sys::napi_env, sys::napi_ref)> =
        const { std::cell::Cell::new((ptr::null_mut(), ptr::null_mut())) };
}

/// Registers the decoder of encoded values (index.js calls this once).
pub fn set_decoder(env: sys::napi_env, decoder: sys::napi_value) -> Result<()> {
    let mut r = ptr::null_mut();
    check(unsafe { sys::napi_create_reference(env, decoder, 1, &mut r) }, "decoder reference")?;
    let (old_env, old) = DECODER.with(|d| d.replace((env, r)));
    if old_env == env && !old.is_null() {
        unsafe { sys::napi_delete_reference(env, old) };
    }
    Ok(())
}

thread_local! {
    /// The keys the decoder's table in this thread's environment holds.
    static KEY_INDEX: RefCell<(usize, KeyIndex)> = RefCell::new((0, KeyIndex::default()));
}

/// `v` built by the registered decoder, or `None` when none is registered in `env`.
unsafe fn decoded<T: Serialize + ?Sized>(env: sys::napi_env, v: &T) -> Result<Option<sys::napi_value>> {
    let (decoder_env, decoder_ref) = DECODER.with(|d| d.get());
    if decoder_env != env || decoder_ref.is_null() {
        return Ok(None);
    }
    let mut decoder = ptr::null_mut();
    check(unsafe { sys::napi_get_reference_value(env, decoder_ref, &mut decoder) }, "decoder")?;
    if decoder.is_null() {
        return Ok(None);
    }
    let keys = unsafe { key_table(env)? };
    let encoded = KEY_INDEX.with(|index| {
        let mut index = index.borrow_mut();
        if index.0 != env as usize {
            *index = (env as usize, KeyIndex::default());
        }
        encode::encode(v, &mut index.1)
    });
    let (ops, text) =
        encoded.map_err(|e| Error::new(Status::GenericFailure, format!("cannot convert the result: {e}")))?;
    unsafe {
        let typed = ops_array(env, &ops)?;
        let args = [typed, string(env, &text)?, keys];
        let mut undefined = ptr::null_mut();
        check(sys::napi_get_undefined(env, &mut undefined), "undefined")?;
        let mut out = ptr::null_mut();
        check(sys::napi_call_function(env, undefined, decoder, args.len(), args.as_ptr(), &mut out), "decode")?;
        Ok(Some(out))
    }
}

thread_local! {
    /// The decoder's `Float64Array` in this thread's environment, reused by every call:
    /// creating an ArrayBuffer per result costs about 1 µs (allocation, then sweeping).
    static OPS: std::cell::Cell<OpsBuffer> = const {
        std::cell::Cell::new(OpsBuffer { env: ptr::null_mut(), array: ptr::null_mut(), data: ptr::null_mut(), len: 0 })
    };
}

#[derive(Clone, Copy)]
struct OpsBuffer {
    env: sys::napi_env,
    array: sys::napi_ref,
    data: *mut f64,
    /// Capacity in numbers.
    len: usize,
}

/// Smallest buffer made (numbers); a larger result gets a buffer of its size, kept for later
/// up to `MAX_KEPT_OPS` (a larger one serves its result only).
const MIN_OPS: usize = 4096;
const MAX_KEPT_OPS: usize = 1 << 18;

/// `ops` copied into the reused `Float64Array` (grown first when too small). The decoder
/// reads it before this thread's next call can write it again: decoding calls nothing native.
unsafe fn ops_array(env: sys::napi_env, ops: &[f64]) -> Result<sys::napi_value> {
    let mut buf = OPS.with(|b| b.get());
    let mut typed = ptr::null_mut();
    if buf.env == env && !buf.array.is_null() && buf.len >= ops.len() {
        check(unsafe { sys::napi_get_reference_value(env, buf.array, &mut typed) }, "ops array")?;
    }
    if typed.is_null() {
        let len = ops.len().max(MIN_OPS);
        let mut data = ptr::null_mut();
        let mut buffer = ptr::null_mut();
        check(unsafe { sys::napi_create_arraybuffer(env, len * 8, &mut data, &mut buffer) }, "ops buffer")?;
        check(
            unsafe { sys::napi_create_typedarray(env, sys::TypedarrayType::float64_array, len, buffer, 0, &mut typed) },
            "ops array",
        )?;
        if len > MAX_KEPT_OPS {
            unsafe { ptr::copy_nonoverlapping(ops.as_ptr(), data.cast::<f64>(), ops.len()) };
            return Ok(typed);
        }
        let mut r = ptr::null_mut();
        check(unsafe { sys::napi_create_reference(env, typed, 1, &mut r) }, "ops reference")?;
        if buf.env == env && !buf.array.is_null() {
            unsafe { sys::napi_delete_reference(env, buf.array) };
        }
        buf = OpsBuffer { env, array: r, data: data.cast(), len };
        OPS.with(|b| b.set(buf));
    }
    unsafe { ptr::copy_nonoverlapping(ops.as_ptr(), buf.data, ops.len()) };
    Ok(typed)
}

/// The JS array of keys the decoder reads by index (created, empty, on first use in `env`).
unsafe fn key_table(env: sys::napi_env) -> Result<sys::napi_value> {
    let known = KEYS.with(|keys| {
        let keys = keys.borrow();
        (keys.env == env).then_some(keys.array)
    });
    let mut array = ptr::null_mut();
    if let Some(r) = known.filter(|r| !r.is_null()) {
        check(unsafe { sys::napi_get_reference_value(env, r, &mut array) }, "key table")?;
    }
    if array.is_null() {
        check(unsafe { sys::napi_create_array(env, &mut array) }, "key table")?;
        let mut r = ptr::null_mut();
        check(unsafe { sys::napi_create_reference(env, array, 1, &mut r) }, "key table reference")?;
        KEYS.with(|keys| {
            let mut keys = keys.borrow_mut();
            if keys.env == env && !keys.array.is_null() {
                unsafe { sys::napi_delete_reference(env, keys.array) };
            }
            keys.env = env;
            keys.array = r;
        });
        // A new table starts empty: so does the index of what it holds.
        KEY_INDEX.with(|index| *index.borrow_mut() = (env as usize, KeyIndex::default()));
    }
    Ok(array)
}

unsafe fn build(env: sys::napi_env, v: &Value, depth: u32) -> Result<sys::napi_value> {
    if depth == 0 {
        return Err(Error::new(Status::GenericFailure, "a result is nested too deeply to convert".to_string()));
    }
    let mut out = ptr::null_mut();
    match v {
        Value::Null => check(unsafe { sys::napi_get_null(env, &mut out) }, "null")?,
        Value::Bool(b) => check(unsafe { sys::napi_get_boolean(env, *b, &mut out) }, "boolean")?,
        Value::Number(n) => return unsafe { number(env, n) },
        Value::String(s) => return unsafe { string(env, s) },
        Value::Array(items) => {
            check(unsafe { sys::napi_create_array_with_length(env, items.len(), &mut out) }, "array")?;
            for (i, item) in items.iter().enumerate() {
                let js = unsafe { build(env, item, depth - 1)? };
                check(unsafe { sys::napi_set_element(env, out, i as u32, js) }, "element")?;
            }
        }
        Value::Object(map) => {
            check(unsafe { sys::napi_create_object(env, &mut out) }, "object")?;
            for (k, item) in map {
                let key = unsafe { string(env, k)? };
                let js = unsafe { build(env, item, depth - 1)? };
                if k == "__proto__" {
                    // A store would set the prototype; JSON.parse makes an own property.
                    unsafe { define(env, out, key, js)? };
                } else {
                    check(unsafe { sys::napi_set_property(env, out, key, js) }, "property")?;
                }
            }
        }
    }
    Ok(out)
}

/// Defines an own, enumerable, writable, configurable property (what JSON.parse makes).
unsafe fn define(env: sys::napi_env, obj: sys::napi_value, key: sys::napi_value, value: sys::napi_value) -> Result<()> {
    let descriptor = sys::napi_property_descriptor {
        utf8name: ptr::null(),
        name: key,
        method: None,
        getter: None,
        setter: None,
        value,
        attributes: sys::PropertyAttributes::writable
            | sys::PropertyAttributes::enumerable
            | sys::PropertyAttributes::configurable,
        data: ptr::null_mut(),
    };
    check(unsafe { sys::napi_define_properties(env, obj, 1, &descriptor) }, "own property")
}

unsafe fn number(env: sys::napi_env, n: &serde_json::Number) -> Result<sys::napi_value> {
    let mut out = ptr::null_mut();
    if let Some(i) = n.as_i64() {
        let status = if let Ok(small) = i32::try_from(i) {
            unsafe { sys::napi_create_int32(env, small, &mut out) }
        } else if (-MAX_SAFE..=MAX_SAFE).contains(&i) {
            unsafe { sys::napi_create_double(env, i as f64, &mut out) }
        } else {
            unsafe { sys::napi_create_bigint_int64(env, i, &mut out) }
        };
        check(status, "number")?;
    } else if let Some(u) = n.as_u64() {
        check(unsafe { sys::napi_create_bigint_uint64(env, u, &mut out) }, "bigint")?;
    } else {
        check(unsafe { sys::napi_create_double(env, n.as_f64().unwrap_or(f64::NAN), &mut out) }, "number")?;
    }
    Ok(out)
}

/// A JS string of `s` (one-byte when ASCII: no UTF-8 decoding).
///
/// # Safety
/// `env` must be the live environment of the calling thread.
pub unsafe fn string(env: sys::napi_env, s: &str) -> Result<sys::napi_value> {
    let mut v = ptr::null_mut();
    let status = if s.is_ascii() {
        unsafe { sys::napi_create_string_latin1(env, s.as_ptr().cast(), s.len() as isize, &mut v) }
    } else {
        unsafe { sys::napi_create_string_utf8(env, s.as_ptr().cast(), s.len() as isize, &mut v) }
    };
    check(status, "string")?;
    Ok(v)
}
