//! JS values <-> JSON.
//!
//! Into the engine (`JsonIn`): a JS number that is an integer within ±(2^53 − 1) becomes an Int,
//! any other finite number a Float; a BigInt becomes an Int when it fits in 64 bits (else an
//! error); `undefined` object properties are skipped and `undefined` array items become null
//! (as `JSON.stringify` does); `NaN`, `Infinity`, functions and symbols are rejected.
//!
//! Out of the engine (`JsonOut`): built as JS values through N-API (`values`), with no JSON
//! text on the way: an Int within ±(2^53 − 1) becomes a number, a larger one a BigInt; a
//! Float is always a number.

use napi::bindgen_prelude::*;
use napi::sys;
use serde_json::{Map, Number, Value};
use std::ptr;

const MAX_DEPTH: u32 = 128;
const MAX_SAFE_INT: f64 = 9_007_199_254_740_991.0;

/// A JS value converted to JSON on the way into the engine.
pub struct JsonIn(pub Value);

/// JSON from the engine, converted to plain JS values on the JS thread.
pub struct JsonOut(pub Value);

impl JsonOut {
    /// Wraps `v` for the JS thread.
    pub fn new(v: Value) -> JsonOut {
        JsonOut(v)
    }
}

/// An engine result, converted to plain JS values on the JS thread, serialized straight from
/// its documents (no JSON tree in between).
pub struct ResultOut(pub aurora_bindings::ExecutionResult);

impl TypeName for ResultOut {
    fn type_name() -> &'static str {
        "any"
    }
    fn value_type() -> ValueType {
        ValueType::Unknown
    }
}

impl ToNapiValue for ResultOut {
    unsafe fn to_napi_value(env: sys::napi_env, val: Self) -> Result<sys::napi_value> {
        unsafe { crate::values::to_js(env, &val.0) }
    }
}

impl Drop for JsonOut {
    fn drop(&mut self) {
        aurora_bindings::drop_json_flat(std::mem::take(&mut self.0));
    }
}

impl TypeName for JsonIn {
    fn type_name() -> &'static str {
        "any"
    }
    fn value_type() -> ValueType {
        ValueType::Unknown
    }
}

impl TypeName for JsonOut {
    fn type_name() -> &'static str {
        "any"
    }
    fn value_type() -> ValueType {
        ValueType::Unknown
    }
}

impl ToNapiValue for JsonOut {
    unsafe fn to_napi_value(env: sys::napi_env, val: Self) -> Result<sys::napi_value> {
        unsafe { crate::values::to_js(env, &val.0) }
    }
}

/// A JS value passed as a call argument, as JSON (the rules of `JsonIn`).
///
/// # Safety
/// `v` must be a live value of `env`.
pub unsafe fn value(env: sys::napi_env, v: sys::napi_value) -> Result<Value> {
    unsafe { to_json(env, v, MAX_DEPTH) }
}

impl FromNapiValue for JsonIn {
    unsafe fn from_napi_value(env: sys::napi_env, v: sys::napi_value) -> Result<Self> {
        unsafe { to_json(env, v, MAX_DEPTH) }.map(JsonIn)
    }
}

fn invalid(msg: impl Into<String>) -> Error {
    let e = aurora_bindings::BindingError::validation(msg.into());
    Error::new(Status::InvalidArg, format!("{}{}", crate::ERROR_MARK, e.to_json()))
}

fn check(status: sys::napi_status, what: &str) -> Result<()> {
    if status == sys::Status::napi_ok {
        Ok(())
    } else {
        Err(Error::new(Status::from(status), format!("cannot read the JS value ({what})")))
    }
}

unsafe fn type_of(env: sys::napi_env, v: sys::napi_value) -> Result<sys::napi_valuetype> {
    let mut t = 0;
    check(unsafe { sys::napi_typeof(env, v, &mut t) }, "typeof")?;
    Ok(t)
}

unsafe fn to_json(env: sys::napi_env, v: sys::napi_value, depth: u32) -> Result<Value> {
    if depth == 0 {
        return Err(invalid("value nested too deeply (or cyclic) to convert to JSON"));
    }
    Ok(match unsafe { type_of(env, v)? } {
        sys::ValueType::napi_undefined | sys::ValueType::napi_null => Value::Null,
        sys::ValueType::napi_boolean => {
            let mut b = false;
            check(unsafe { sys::napi_get_value_bool(env, v, &mut b) }, "bool")?;
            Value::Bool(b)
        }
        sys::ValueType::napi_number => {
            let mut n = 0f64;
            check(unsafe { sys::napi_get_value_double(env, v, &mut n) }, "number")?;
            number(n)?
        }
        sys::ValueType::napi_string => Value::String(unsafe { string(env, v)? }),
        sys::ValueType::napi_bigint => {
            let mut n = 0i64;
            let mut lossless = false;
            check(unsafe { sys::napi_get_value_bigint_int64(env, v, &mut n, &mut lossless) }, "bigint")?;
            if !lossless {
                return Err(invalid("a BigInt does not fit in a 64-bit signed integer"));
            }
            Value::Number(n.into())
        }
        sys::ValueType::napi_object => unsafe { object(env, v, depth)? },
        sys::ValueType::napi_function => return Err(invalid("a function cannot be stored")),
        sys::ValueType::napi_symbol => return Err(invalid("a symbol cannot be stored")),
        _ => return Err(invalid("this JS value cannot be stored")),
    })
}

/// Strings up to this many UTF-8 bytes are read in one N-API call (most keys and values).
const SHORT_STRING: usize = 256;

/// Reads a JS string. A short one is transcoded straight into a stack buffer; only a string
/// that may not have fit is measured first (N-API's usual two calls).
///
/// # Safety
/// `v` must be a live string value of `env`.
pub unsafe fn string(env: sys::napi_env, v: sys::napi_value) -> Result<String> {
    let mut buf = [0u8; SHORT_STRING];
    let mut len = 0usize;
    check(unsafe { sys::napi_get_value_string_utf8(env, v, buf.as_mut_ptr().cast(), buf.len(), &mut len) }, "string")?;
    // N-API stops before a character that would not fit (up to 4 bytes) and keeps a byte for
    // the NUL: a shorter result than that margin is the whole string.
    if len + 5 <= buf.len() {
        return String::from_utf8(buf[..len].to_vec()).map_err(|_| invalid("a string is not valid UTF-8"));
    }
    check(unsafe { sys::napi_get_value_string_utf8(env, v, ptr::null_mut(), 0, &mut len) }, "string length")?;
    let mut out = vec![0u8; len + 1];
    check(unsafe { sys::napi_get_value_string_utf8(env, v, out.as_mut_ptr().cast(), out.len(), &mut len) }, "string")?;
    out.truncate(len);
    String::from_utf8(out).map_err(|_| invalid("a string is not valid UTF-8"))
}

fn number(n: f64) -> Result<Value> {
    // NaN and ±Infinity fail both tests below: `from_f64` refuses them.
    if n.fract() == 0.0 && n.abs() <= MAX_SAFE_INT {
        return Ok(Value::Number((n as i64).into()));
    }
    Number::from_f64(n).map(Value::Number).ok_or_else(|| invalid(format!("{n} cannot be stored (only finite numbers)")))
}

unsafe fn object(env: sys::napi_env, v: sys::napi_value, depth: u32) -> Result<Value> {
    let mut is_array = false;
    check(unsafe { sys::napi_is_array(env, v, &mut is_array) }, "isArray")?;
    if is_array {
        let mut len = 0u32;
        check(unsafe { sys::napi_get_array_length(env, v, &mut len) }, "length")?;
        let mut out = Vec::with_capacity(len as usize);
        for i in 0..len {
            let mut item = ptr::null_mut();
            check(unsafe { sys::napi_get_element(env, v, i, &mut item) }, "element")?;
            out.push(match unsafe { type_of(env, item)? } {
                sys::ValueType::napi_function | sys::ValueType::napi_symbol => Value::Null,
                _ => unsafe { to_json(env, item, depth - 1)? },
            });
        }
        return Ok(Value::Array(out));
    }
    let mut is_date = false;
    check(unsafe { sys::napi_is_date(env, v, &mut is_date) }, "isDate")?;
    if is_date {
        return Err(invalid("a Date cannot be stored directly; pass date.toISOString() or date.getTime()"));
    }
    let mut keys = ptr::null_mut();
    check(
        unsafe {
            sys::napi_get_all_property_names(
                env,
                v,
                sys::KeyCollectionMode::own_only,
                sys::KeyFilter::enumerable | sys::KeyFilter::skip_symbols,
                sys::KeyConversion::numbers_to_strings,
                &mut keys,
            )
        },
        "keys",
    )?;
    let mut len = 0u32;
    check(unsafe { sys::napi_get_array_length(env, keys, &mut len) }, "keys length")?;
    let mut out = Map::new();
    for i in 0..len {
        let mut key = ptr::null_mut();
        check(unsafe { sys::napi_get_element(env, keys, i, &mut key) }, "key")?;
        let mut item = ptr::null_mut();
        check(unsafe { sys::napi_get_property(env, v, key, &mut item) }, "property")?;
        match unsafe { type_of(env, item)? } {
            sys::ValueType::napi_undefined | sys::ValueType::napi_function | sys::ValueType::napi_symbol => continue,
            _ => {}
        }
        let key = unsafe { string(env, key)? };
        out.insert(key, unsafe { to_json(env, item, depth - 1)? });
    }
    Ok(Value::Object(out))
}
