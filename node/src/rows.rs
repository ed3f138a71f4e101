//! List results built by an object literal compiled once per shape.
//!
//! `JSON.parse` of a point lookup's result costs more than the lookup itself: V8 interns every
//! key and grows each object one property at a time. A list query whose selected values are all
//! scalars has a fixed shape (`aurora_bindings::Rows`), so index.js compiles, once per shape, a
//! function whose object literal makes each row like any JS allocation (`setRowMaker`); the
//! values go over as the arguments of one call. It returns the settled Promise of the result.
//! Other shapes, Ints beyond ±(2^53 − 1) (which become BigInts on the JSON path) and results
//! too large for one call take the JSON text path: the JS values are the same either way.

use aurora_bindings::{Rows, Scalar};
use napi::bindgen_prelude::*;
use napi::sys;
use std::cell::RefCell;
use std::collections::HashMap;
use std::hash::{BuildHasher, Hash, Hasher};
use std::ptr;

/// Most values passed in one call (beyond this, JSON text is as cheap per value).
const MAX_CELLS: usize = 1024;

/// Most shapes remembered per thread (the table starts over when it is full).
const MAX_SHAPES: usize = 512;

thread_local! {
    static SHAPES: RefCell<Shapes> = RefCell::new(Shapes {
        env: ptr::null_mut(),
        maker: ptr::null_mut(),
        compiled: HashMap::new(),
    });
}

/// The compiled row functions of this thread's JS environment.
struct Shapes {
    env: sys::napi_env,
    /// `(key, columns) => function | null` (index.js).
    maker: sys::napi_ref,
    /// Keyed by a hash of key and columns; the entry keeps both to rule out collisions.
    compiled: HashMap<u64, Compiled>,
}

struct Compiled {
    key: String,
    columns: Vec<String>,
    /// `null` when the maker declined the shape (e.g. a `__proto__` key).
    function: Option<sys::napi_ref>,
}

impl Compiled {
    fn is(&self, rows: &Rows) -> bool {
        self.key == rows.key
            && self.columns.len() == rows.columns.len()
            && self.columns.iter().zip(&rows.columns).all(|(a, b)| a == b)
    }
}

fn check(status: sys::napi_status, what: &str) -> Result<()> {
    if status == sys::Status::napi_ok {
        Ok(())
    } else {
        Err(Error::new(Status::from(status), format!("cannot build the result ({what})")))
    }
}

/// Registers the function that compiles row functions: `maker(key, columns)`.
pub fn set_maker(env: sys::napi_env, maker: sys::napi_value) -> Result<()> {
    let mut r = ptr::null_mut();
    check(unsafe { sys::napi_create_reference(env, maker, 1, &mut r) }, "reference")?;
    SHAPES.with(|s| {
        let mut s = s.borrow_mut();
        if s.env == env {
            unsafe { forget_all(&mut s) };
        } else {
            // Another environment's references are not ours to delete.
            s.compiled.clear();
        }
        s.env = env;
        s.maker = r;
    });
    Ok(())
}

/// Drops every compiled function (and the maker) of this thread's environment.
unsafe fn forget_all(s: &mut Shapes) {
    unsafe { forget_compiled(s) };
    if !s.maker.is_null() {
        unsafe { sys::napi_delete_reference(s.env, s.maker) };
        s.maker = ptr::null_mut();
    }
}

/// Drops the compiled functions of this thread's environment.
unsafe fn forget_compiled(s: &mut Shapes) {
    for (_, c) in s.compiled.drain() {
        if let Some(f) = c.function {
            unsafe { sys::napi_delete_reference(s.env, f) };
        }
    }
}

fn shape_hash(rows: &Rows) -> u64 {
    let mut h = foldhash::fast::FixedState::default().build_hasher();
    rows.key.hash(&mut h);
    rows.columns.hash(&mut h);
    h.finish()
}

/// The settled Promise of `rows` as JS objects, or `None` when they take the JSON text path.
pub fn to_js(env: sys::napi_env, rows: &Rows) -> Result<Option<sys::napi_value>> {
    if rows.cells.len() >= MAX_CELLS || rows.cells.iter().any(|c| matches!(c, Scalar::Int(i) if !safe(*i))) {
        return Ok(None);
    }
    let Some(function) = function_for(env, rows)? else { return Ok(None) };
    let mut argv = Vec::with_capacity(rows.cells.len() + 1);
    unsafe {
        argv.push(int(env, rows.len() as i64)?);
        for c in &rows.cells {
            argv.push(scalar(env, c)?);
        }
        let mut undefined = ptr::null_mut();
        check(sys::napi_get_undefined(env, &mut undefined), "undefined")?;
        let mut out = ptr::null_mut();
        check(sys::napi_call_function(env, undefined, function, argv.len(), argv.as_ptr(), &mut out), "row call")?;
        Ok(Some(out))
    }
}

fn safe(i: i64) -> bool {
    (-aurora_bindings::MAX_SAFE_INTEGER..=aurora_bindings::MAX_SAFE_INTEGER).contains(&i)
}

/// The compiled function of this shape (compiling it on first sight).
fn function_for(env: sys::napi_env, rows: &Rows) -> Result<Option<sys::napi_value>> {
    let h = shape_hash(rows);
    let known = SHAPES.with(|s| {
        let s = s.borrow();
        if s.env != env || s.maker.is_null() {
            return Err(());
        }
        Ok(s.compiled.get(&h).map(|c| (c.is(rows), c.function)))
    });
    let reference = match known {
        Err(()) => return Ok(None), // no maker registered in this environment
        Ok(Some((true, f))) => f,
        Ok(Some((false, _))) => return Ok(None), // a hash collision: rare, and JSON works
        Ok(None) => compile(env, rows, h)?,
    };
    let Some(reference) = reference else { return Ok(None) };
    let mut f = ptr::null_mut();
    check(unsafe { sys::napi_get_reference_value(env, reference, &mut f) }, "row function")?;
    Ok((!f.is_null()).then_some(f))
}

/// Asks index.js for the function of a new shape and remembers it.
fn compile(env: sys::napi_env, rows: &Rows, h: u64) -> Result<Option<sys::napi_ref>> {
    let maker_ref = SHAPES.with(|s| s.borrow().maker);
    let function = unsafe {
        let mut maker = ptr::null_mut();
        check(sys::napi_get_reference_value(env, maker_ref, &mut maker), "row maker")?;
        let mut columns = ptr::null_mut();
        check(sys::napi_create_array_with_length(env, rows.columns.len(), &mut columns), "columns")?;
        for (i, c) in rows.columns.iter().enumerate() {
            check(sys::napi_set_element(env, columns, i as u32, string(env, c)?), "column")?;
        }
        let mut undefined = ptr::null_mut();
        check(sys::napi_get_undefined(env, &mut undefined), "undefined")?;
        let args = [string(env, rows.key)?, columns];
        let mut f = ptr::null_mut();
        check(sys::napi_call_function(env, undefined, maker, args.len(), args.as_ptr(), &mut f), "row maker call")?;
        let mut t = 0;
        check(sys::napi_typeof(env, f, &mut t), "typeof")?;
        if t == sys::ValueType::napi_function {
            let mut r = ptr::null_mut();
            check(sys::napi_create_reference(env, f, 1, &mut r), "reference")?;
            Some(r)
        } else {
            None
        }
    };
    SHAPES.with(|s| {
        let mut s = s.borrow_mut();
        if s.compiled.len() >= MAX_SHAPES {
            unsafe { forget_compiled(&mut s) };
        }
        let compiled = Compiled {
            key: rows.key.to_string(),
            columns: rows.columns.iter().map(|c| c.to_string()).collect(),
            function,
        };
        s.compiled.insert(h, compiled);
    });
    Ok(function)
}

unsafe fn string(env: sys::napi_env, s: &str) -> Result<sys::napi_value> {
    let mut v = ptr::null_mut();
    // One-byte strings are what V8 makes of ASCII anyway; creating them skips UTF-8 decoding.
    let status = if s.is_ascii() {
        unsafe { sys::napi_create_string_latin1(env, s.as_ptr().cast(), s.len() as isize, &mut v) }
    } else {
        unsafe { sys::napi_create_string_utf8(env, s.as_ptr().cast(), s.len() as isize, &mut v) }
    };
    check(status, "string")?;
    Ok(v)
}

unsafe fn int(env: sys::napi_env, i: i64) -> Result<sys::napi_value> {
    let mut v = ptr::null_mut();
    let status = match i32::try_from(i) {
        Ok(small) => unsafe { sys::napi_create_int32(env, small, &mut v) },
        Err(_) => unsafe { sys::napi_create_double(env, i as f64, &mut v) },
    };
    check(status, "number")?;
    Ok(v)
}

unsafe fn scalar(env: sys::napi_env, c: &Scalar) -> Result<sys::napi_value> {
    let mut v = ptr::null_mut();
    match *c {
        Scalar::Null => check(unsafe { sys::napi_get_null(env, &mut v) }, "null")?,
        Scalar::Bool(b) => check(unsafe { sys::napi_get_boolean(env, b, &mut v) }, "boolean")?,
        Scalar::Int(i) => return unsafe { int(env, i) },
        Scalar::Float(f) => check(unsafe { sys::napi_create_double(env, f, &mut v) }, "number")?,
        Scalar::Str(s) => return unsafe { string(env, s) },
        Scalar::Uuid(u) => return unsafe { string(env, &u.to_string()) },
    }
    Ok(v)
}
