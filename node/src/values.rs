//! Engine values → JS values, without JSON text.
//!
//! One conversion for every result, event and job: objects, arrays, strings, numbers (an Int
//! beyond ±(2^53 − 1) becomes a BigInt), booleans and null.
//!
//! Building a value one N-API call per property costs about 0.3 µs a property (each call opens
//! a handle scope and a try/catch), more than the lookup that found the document. So the value
//! is encoded here into one `Float64Array` of tags and numbers plus one string holding every
//! string, and index.js's decoder (plain code: no code generation) builds the objects with
//! ordinary property stores, which V8 optimizes: three N-API values and one call per result.
//! Property keys repeat from row to row, so each key is sent once per thread and kept in a JS
//! array the decoder reads by index. Without a registered decoder (the addon loaded without
//! index.js), values are built through N-API directly.

use napi::bindgen_prelude::*;
use napi::sys;
use serde_json::Value;
use std::cell::RefCell;
use std::collections::HashMap;
use std::ptr;

/// Keys the decoder's table holds per thread; once it is full, other keys are sent inline.
const MAX_KEYS: usize = 4096;

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

/// Builds the JS value of `v`.
///
/// # Safety
/// `env` must be the live environment of the calling thread.
pub unsafe fn to_js(env: sys::napi_env, v: &Value) -> Result<sys::napi_value> {
    match unsafe { decoded(env, v)? } {
        Some(out) => Ok(out),
        None => unsafe { build(env, v, MAX_DEPTH) },
    }
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

/// Tags of the encoded form (index.js's `decode` reads the same numbers).
mod tag {
    pub const NULL: f64 = 0.0;
    pub const TRUE: f64 = 1.0;
    pub const FALSE: f64 = 2.0;
    pub const NUMBER: f64 = 3.0;
    pub const STRING: f64 = 4.0;
    pub const ARRAY: f64 = 5.0;
    pub const OBJECT: f64 = 6.0;
    pub const BIGINT: f64 = 7.0;
    /// A key sent with its object instead of by index (the key table is full).
    pub const INLINE_KEY: f64 = -1.0;
}

/// A value encoded for the decoder: `ops` = new key count, each new key's (start, end) in
/// `text`, then the value; strings are (start, end) ranges of `text` in UTF-16 units.
struct Encoder<'k> {
    ops: Vec<f64>,
    text: String,
    /// `text`'s length in UTF-16 code units (what JS offsets count).
    units: usize,
    keys: &'k mut KeyIndex,
    /// Keys first seen in this value: (index, start, end), sent ahead of the value.
    fresh: Vec<(f64, f64)>,
}

/// The keys the decoder's table holds, by index.
#[derive(Default)]
struct KeyIndex {
    env: usize,
    index: HashMap<Box<str>, u32, foldhash::fast::RandomState>,
}

thread_local! {
    static KEY_INDEX: RefCell<KeyIndex> = RefCell::new(KeyIndex::default());
}

impl Encoder<'_> {
    fn push_text(&mut self, s: &str) -> (f64, f64) {
        let start = self.units;
        self.text.push_str(s);
        self.units += if s.is_ascii() { s.len() } else { s.encode_utf16().count() };
        (start as f64, self.units as f64)
    }

    fn value(&mut self, v: &Value, depth: u32) -> Result<()> {
        if depth == 0 {
            return Err(Error::new(Status::GenericFailure, "a result is nested too deeply to convert".to_string()));
        }
        match v {
            Value::Null => self.ops.push(tag::NULL),
            Value::Bool(true) => self.ops.push(tag::TRUE),
            Value::Bool(false) => self.ops.push(tag::FALSE),
            Value::Number(n) => match (n.as_i64(), n.as_u64()) {
                (Some(i), _) if (-MAX_SAFE..=MAX_SAFE).contains(&i) => self.ops.extend([tag::NUMBER, i as f64]),
                (Some(_), _) | (None, Some(_)) => {
                    let (a, b) = self.push_text(&n.to_string());
                    self.ops.extend([tag::BIGINT, a, b]);
                }
                (None, None) => self.ops.extend([tag::NUMBER, n.as_f64().unwrap_or(f64::NAN)]),
            },
            Value::String(s) => {
                let (a, b) = self.push_text(s);
                self.ops.extend([tag::STRING, a, b]);
            }
            Value::Array(items) => {
                self.ops.extend([tag::ARRAY, items.len() as f64]);
                for item in items {
                    self.value(item, depth - 1)?;
                }
            }
            Value::Object(map) => {
                self.ops.extend([tag::OBJECT, map.len() as f64]);
                for (k, item) in map {
                    self.key(k);
                    self.value(item, depth - 1)?;
                }
            }
        }
        Ok(())
    }

    fn key(&mut self, k: &str) {
        if let Some(&i) = self.keys.index.get(k) {
            self.ops.push(i as f64);
        } else if self.keys.index.len() < MAX_KEYS {
            let i = self.keys.index.len() as u32;
            self.keys.index.insert(k.into(), i);
            let range = self.push_text(k);
            self.fresh.push(range);
            self.ops.push(i as f64);
        } else {
            let (a, b) = self.push_text(k);
            self.ops.extend([tag::INLINE_KEY, a, b]);
        }
    }
}

/// `v` built by the registered decoder, or `None` when none is registered in `env`.
unsafe fn decoded(env: sys::napi_env, v: &Value) -> Result<Option<sys::napi_value>> {
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
    let (ops, text) = KEY_INDEX.with(|index| -> Result<(Vec<f64>, String)> {
        let mut index = index.borrow_mut();
        if index.env != env as usize {
            *index = KeyIndex { env: env as usize, ..Default::default() };
        }
        let mut e = Encoder { ops: vec![0.0], text: String::new(), units: 0, keys: &mut index, fresh: Vec::new() };
        let before = e.keys.index.len();
        if let Err(err) = e.value(v, MAX_DEPTH) {
            // The keys of a value that is not sent never reach the decoder's table.
            e.keys.index.retain(|_, i| (*i as usize) < before);
            return Err(err);
        }
        // Header: the new keys, in index order, ahead of the value.
        let mut ops = Vec::with_capacity(1 + 2 * e.fresh.len() + e.ops.len());
        ops.push(e.fresh.len() as f64);
        for (a, b) in &e.fresh {
            ops.extend([*a, *b]);
        }
        ops.extend_from_slice(&e.ops[1..]);
        Ok((ops, e.text))
    })?;
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
        KEY_INDEX.with(|index| *index.borrow_mut() = KeyIndex { env: env as usize, ..Default::default() });
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
