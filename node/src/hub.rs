//! Event-loop glue: Promises settled in batches.
//!
//! `spawn` runs a future on the facade's runtime and returns a Promise. Finished results are
//! queued; the first result of a batch wakes the JS thread through ONE threadsafe function per
//! JS environment, which then settles every queued Promise in one turn of the event loop. (napi's
//! generic future bridge creates a threadsafe function per call, which costs more than a point
//! lookup.) The threadsafe function is referenced only while Promises are pending, so an idle
//! database never keeps the process alive.

use crate::{to_js_error, ERROR_MARK};
use aurora_bindings::BindingError;
use napi::bindgen_prelude::*;
use napi::sys;
use std::cell::RefCell;
use std::collections::HashMap;
use std::ffi::c_void;
use std::future::Future;
use std::ptr;
use std::rc::Rc;
use std::sync::{Arc, Mutex};

/// A result converted to JS on the JS thread.
trait IntoJs: Send {
    unsafe fn into_js(self: Box<Self>, env: sys::napi_env) -> Result<sys::napi_value>;
}

impl<T: ToNapiValue + Send> IntoJs for T {
    unsafe fn into_js(self: Box<Self>, env: sys::napi_env) -> Result<sys::napi_value> {
        unsafe { T::to_napi_value(env, *self) }
    }
}

type Outcome = std::result::Result<Box<dyn IntoJs>, BindingError>;

struct Queue {
    /// Null once the JS environment finalized the threadsafe function.
    tsfn: sys::napi_threadsafe_function,
    done: Vec<(u64, Outcome)>,
}

// The threadsafe function handle may be used from any thread; the queue holds Send values.
unsafe impl Send for Queue {}

struct Shared {
    queue: Mutex<Queue>,
}

impl Shared {
    fn push(&self, id: u64, outcome: Outcome) {
        let mut q = self.queue.lock().unwrap_or_else(|p| p.into_inner());
        if q.tsfn.is_null() {
            return; // the JS environment is gone
        }
        let wake = q.done.is_empty();
        q.done.push((id, outcome));
        if wake {
            unsafe {
                sys::napi_call_threadsafe_function(
                    q.tsfn,
                    ptr::null_mut(),
                    sys::ThreadsafeFunctionCallMode::nonblocking,
                );
            }
        }
    }

    fn tsfn(&self) -> sys::napi_threadsafe_function {
        self.queue.lock().unwrap_or_else(|p| p.into_inner()).tsfn
    }
}

/// The JS-thread half: pending deferreds by id.
struct Local {
    env: sys::napi_env,
    shared: Arc<Shared>,
    pending: RefCell<HashMap<u64, sys::napi_deferred>>,
    next_id: std::cell::Cell<u64>,
    referenced: std::cell::Cell<bool>,
}

thread_local! {
    static HUB: RefCell<Option<Rc<Local>>> = const { RefCell::new(None) };
}

fn check(status: sys::napi_status, what: &str) -> Result<()> {
    if status == sys::Status::napi_ok {
        Ok(())
    } else {
        Err(Error::new(Status::from(status), format!("napi call failed: {what}")))
    }
}

fn local(env: sys::napi_env) -> Result<Rc<Local>> {
    if let Some(l) = HUB.with(|h| h.borrow().clone()) {
        if l.env == env && !l.shared.tsfn().is_null() {
            return Ok(l);
        }
    }
    let shared = Arc::new(Shared { queue: Mutex::new(Queue { tsfn: ptr::null_mut(), done: Vec::new() }) });
    let mut name = ptr::null_mut();
    let label = "aurora-db completion";
    check(
        unsafe { sys::napi_create_string_utf8(env, label.as_ptr().cast(), label.len() as isize, &mut name) },
        "name",
    )?;
    let context = Arc::into_raw(shared.clone()) as *mut c_void;
    let mut tsfn = ptr::null_mut();
    let status = unsafe {
        sys::napi_create_threadsafe_function(
            env,
            ptr::null_mut(),
            ptr::null_mut(),
            name,
            0,
            1,
            ptr::null_mut(),
            Some(finalize),
            context,
            Some(drain),
            &mut tsfn,
        )
    };
    if status != sys::Status::napi_ok {
        drop(unsafe { Arc::from_raw(context as *const Shared) });
        return Err(Error::new(Status::from(status), "cannot create the completion queue"));
    }
    check(unsafe { sys::napi_unref_threadsafe_function(env, tsfn) }, "unref")?;
    shared.queue.lock().unwrap_or_else(|p| p.into_inner()).tsfn = tsfn;
    let l = Rc::new(Local {
        env,
        shared,
        pending: RefCell::new(HashMap::new()),
        next_id: std::cell::Cell::new(1),
        referenced: std::cell::Cell::new(false),
    });
    HUB.with(|h| *h.borrow_mut() = Some(l.clone()));
    Ok(l)
}

/// Runs `fut` on the facade's runtime; the returned Promise settles with its output (or
/// rejects with the engine error).
pub fn spawn<'env, T, F>(env: &'env Env, fut: F) -> Result<PromiseRaw<'env, T>>
where
    T: ToNapiValue + Send + 'static,
    F: Future<Output = std::result::Result<T, BindingError>> + Send + 'static,
{
    let raw_env = env.raw();
    let rt = aurora_bindings::runtime().map_err(to_js_error)?;
    let l = local(raw_env)?;
    let mut deferred = ptr::null_mut();
    let mut promise = ptr::null_mut();
    check(unsafe { sys::napi_create_promise(raw_env, &mut deferred, &mut promise) }, "create promise")?;
    let id = l.next_id.get();
    l.next_id.set(id + 1);
    l.pending.borrow_mut().insert(id, deferred);
    if !l.referenced.get() {
        check(unsafe { sys::napi_ref_threadsafe_function(raw_env, l.shared.tsfn()) }, "ref")?;
        l.referenced.set(true);
    }
    let shared = l.shared.clone();
    rt.spawn(async move {
        let outcome = fut.await.map(|v| Box::new(v) as Box<dyn IntoJs>);
        shared.push(id, outcome);
    });
    Ok(PromiseRaw::new(raw_env, promise))
}

/// A Promise already settled with `outcome` (a call that finished on the JS thread).
pub fn settled<'env, T>(env: &'env Env, outcome: std::result::Result<T, BindingError>) -> Result<PromiseRaw<'env, T>>
where
    T: ToNapiValue,
{
    let raw_env = env.raw();
    let mut deferred = ptr::null_mut();
    let mut promise = ptr::null_mut();
    check(unsafe { sys::napi_create_promise(raw_env, &mut deferred, &mut promise) }, "create promise")?;
    let status = unsafe {
        match outcome {
            Ok(v) => match T::to_napi_value(raw_env, v) {
                Ok(js) => sys::napi_resolve_deferred(raw_env, deferred, js),
                Err(e) => {
                    let e = BindingError::internal(format!("cannot convert the result: {}", e.reason));
                    sys::napi_reject_deferred(raw_env, deferred, error_value(raw_env, &e))
                }
            },
            Err(e) => sys::napi_reject_deferred(raw_env, deferred, error_value(raw_env, &e)),
        }
    };
    check(status, "settle promise")?;
    Ok(PromiseRaw::new(raw_env, promise))
}

thread_local! {
    /// The JS `AuroraError` class of this thread's environment (registered by index.js).
    static ERROR_CLASS: std::cell::Cell<(sys::napi_env, sys::napi_ref)> =
        const { std::cell::Cell::new((ptr::null_mut(), ptr::null_mut())) };
}

/// Registers the class rejections are built with: `new AuroraError(message, code, line, column)`.
pub fn set_error_class(env: sys::napi_env, class: sys::napi_value) -> Result<()> {
    let mut r = ptr::null_mut();
    check(unsafe { sys::napi_create_reference(env, class, 1, &mut r) }, "reference")?;
    let (old_env, old) = ERROR_CLASS.with(|c| c.replace((env, r)));
    if old_env == env && !old.is_null() {
        unsafe { sys::napi_delete_reference(env, old) };
    }
    Ok(())
}

unsafe fn string(env: sys::napi_env, s: &str) -> sys::napi_value {
    let mut v = ptr::null_mut();
    unsafe { sys::napi_create_string_utf8(env, s.as_ptr().cast(), s.len() as isize, &mut v) };
    v
}

/// The rejection value of an engine error: an `AuroraError` when index.js registered the class,
/// else an `Error` whose message carries the error as JSON (index.js converts it).
pub(crate) unsafe fn error_value(env: sys::napi_env, e: &BindingError) -> sys::napi_value {
    let (class_env, class_ref) = ERROR_CLASS.with(|c| c.get());
    if class_env == env && !class_ref.is_null() {
        unsafe {
            let mut class = ptr::null_mut();
            sys::napi_get_reference_value(env, class_ref, &mut class);
            if !class.is_null() {
                let mut null = ptr::null_mut();
                sys::napi_get_null(env, &mut null);
                let position = |p: Option<u32>| {
                    let mut v = null;
                    if let Some(n) = p {
                        sys::napi_create_uint32(env, n, &mut v);
                    }
                    v
                };
                let args =
                    [string(env, &e.message), string(env, e.code.as_str()), position(e.line), position(e.column)];
                let mut err = ptr::null_mut();
                if sys::napi_new_instance(env, class, args.len(), args.as_ptr(), &mut err) == sys::Status::napi_ok {
                    return err;
                }
                let mut ignored = ptr::null_mut();
                sys::napi_get_and_clear_last_exception(env, &mut ignored);
            }
        }
    }
    let message = format!("{ERROR_MARK}{}", e.to_json());
    let mut err = ptr::null_mut();
    unsafe { sys::napi_create_error(env, ptr::null_mut(), string(env, &message), &mut err) };
    err
}

unsafe extern "C" fn drain(env: sys::napi_env, _js_cb: sys::napi_value, context: *mut c_void, _data: *mut c_void) {
    if env.is_null() || context.is_null() {
        return;
    }
    let shared = unsafe { &*(context as *const Shared) };
    let done = std::mem::take(&mut shared.queue.lock().unwrap_or_else(|p| p.into_inner()).done);
    let Some(l) = HUB.with(|h| h.borrow().clone()) else { return };
    if !ptr::eq(Arc::as_ptr(&l.shared), shared) {
        return;
    }
    for (id, outcome) in done {
        let Some(deferred) = l.pending.borrow_mut().remove(&id) else { continue };
        unsafe {
            let mut scope = ptr::null_mut();
            sys::napi_open_handle_scope(env, &mut scope);
            match outcome {
                Ok(v) => match v.into_js(env) {
                    Ok(js) => sys::napi_resolve_deferred(env, deferred, js),
                    Err(e) => {
                        let e = BindingError::internal(format!("cannot convert the result: {}", e.reason));
                        sys::napi_reject_deferred(env, deferred, error_value(env, &e))
                    }
                },
                Err(e) => sys::napi_reject_deferred(env, deferred, error_value(env, &e)),
            };
            sys::napi_close_handle_scope(env, scope);
        }
    }
    if l.pending.borrow().is_empty() && l.referenced.get() {
        unsafe { sys::napi_unref_threadsafe_function(env, l.shared.tsfn()) };
        l.referenced.set(false);
    }
}

unsafe extern "C" fn finalize(_env: sys::napi_env, _data: *mut c_void, context: *mut c_void) {
    if context.is_null() {
        return;
    }
    let shared = unsafe { Arc::from_raw(context as *const Shared) };
    let mut q = shared.queue.lock().unwrap_or_else(|p| p.into_inner());
    q.tsfn = ptr::null_mut();
    q.done.clear();
}
