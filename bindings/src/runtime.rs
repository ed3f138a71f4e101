//! The process-wide tokio runtime, safe across `fork()`.
//!
//! A forked child inherits the parent's memory but none of its threads: the parent's runtime
//! would hang. The runtime is therefore keyed by process id; a child gets a fresh one (the
//! parent's copy is leaked, never dropped, since its threads do not exist in the child).

use crate::error::BindingError;
use parking_lot::Mutex;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Arc;
use tokio::runtime::Runtime;

static RUNTIME: Mutex<Option<(u32, Arc<Runtime>)>> = Mutex::new(None);

/// This process's id, cached (0 = not known): `getpid` is a system call, and every host call
/// checks it. A fork handler clears it in the child, which then reads its own id.
static PID: AtomicU32 = AtomicU32::new(0);

/// The id of this process, as `std::process::id()`, without a system call per use.
pub(crate) fn pid() -> u32 {
    #[cfg(unix)]
    {
        static HOOK: std::sync::Once = std::sync::Once::new();
        extern "C" fn forget_pid_in_child() {
            PID.store(0, Ordering::Relaxed);
        }
        // SAFETY: registers a handler that only stores to an atomic (async-signal-safe).
        HOOK.call_once(|| unsafe {
            libc::pthread_atfork(None, None, Some(forget_pid_in_child));
        });
        match PID.load(Ordering::Relaxed) {
            0 => {
                let p = std::process::id();
                PID.store(p, Ordering::Relaxed);
                p
            }
            p => p,
        }
    }
    #[cfg(not(unix))]
    {
        std::process::id()
    }
}

/// True in a process forked from one that had already used Aurora.
pub fn is_forked_child() -> bool {
    RUNTIME.lock().as_ref().is_some_and(|(owner, _)| *owner != pid())
}

/// The runtime of this process, created on first use.
pub fn runtime() -> Result<Arc<Runtime>, BindingError> {
    let pid = pid();
    let mut slot = RUNTIME.lock();
    if let Some((owner, rt)) = slot.as_ref() {
        if *owner == pid {
            return Ok(rt.clone());
        }
    }
    if let Some((_, stale)) = slot.take() {
        std::mem::forget(stale);
    }
    let rt = Arc::new(
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .thread_name("aurora-rt")
            .enable_all()
            .build()
            .map_err(|e| BindingError::internal(format!("cannot start the async runtime: {e}")))?,
    );
    *slot = Some((pid, rt.clone()));
    Ok(rt)
}

/// Runs a future to completion from a host thread (never from a runtime thread).
pub(crate) fn block_on<F: std::future::Future>(f: F) -> Result<F::Output, BindingError> {
    if tokio::runtime::Handle::try_current().is_ok() && !IN_HOST_CALLBACK.get() {
        return Err(BindingError::internal(
            "a blocking Aurora call was made from inside the async runtime; use the async variant",
        ));
    }
    Ok(runtime()?.block_on(f))
}

/// Runs a future to completion on the calling host thread: polled once in place (a read, or a
/// write that needs no fsync, ends there without the cost of entering the runtime's blocking
/// section), then, if it has to wait, driven by [`block_on`].
pub(crate) fn run_here<F: std::future::Future>(f: F) -> Result<F::Output, BindingError> {
    let rt = runtime()?;
    let mut f = std::pin::pin!(f);
    {
        let _enter = rt.enter();
        let mut cx = std::task::Context::from_waker(std::task::Waker::noop());
        if let std::task::Poll::Ready(out) = f.as_mut().poll(&mut cx) {
            return Ok(out);
        }
    }
    block_on(f)
}

/// Runs `work` on the facade's runtime and awaits it from any executor; a panic in the engine
/// becomes an `INTERNAL` error.
pub(crate) async fn on_runtime<T, E, F>(work: F) -> Result<T, BindingError>
where
    T: Send + 'static,
    E: Into<BindingError> + Send + 'static,
    F: std::future::Future<Output = Result<T, E>> + Send + 'static,
{
    let task = runtime()?.spawn(work);
    match task.await {
        Ok(r) => r.map_err(Into::into),
        Err(e) => Err(join_error(e)),
    }
}

/// The error of a runtime task that did not finish (it panicked or was cancelled).
pub(crate) fn join_error(e: tokio::task::JoinError) -> BindingError {
    if e.is_panic() {
        BindingError::internal("internal error: a panic in the engine was caught")
    } else {
        BindingError::internal(e.to_string())
    }
}

thread_local! {
    static IN_HOST_CALLBACK: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
}

/// Marks the current thread, while the guard lives, as running a blocking host callback (a job
/// handler on the runtime's blocking pool, not an async worker): the host's code may then make
/// blocking Aurora calls, e.g. a handler that writes to the database.
pub(crate) struct HostCallback(bool);

impl HostCallback {
    pub(crate) fn enter() -> Self {
        HostCallback(IN_HOST_CALLBACK.replace(true))
    }
}

impl Drop for HostCallback {
    fn drop(&mut self) {
        IN_HOST_CALLBACK.set(self.0);
    }
}
