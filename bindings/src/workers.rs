//! The worker host: foreign job handlers behind one trait per calling style.

use aurora_db::workers::system::Handler;
use aurora_db::workers::Job;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

/// Why a foreign handler failed (its message becomes the job's `lastError`).
pub type HandlerError = String;

/// A boxed future, as returned by async foreign handlers.
pub type BoxFuture<T> = Pin<Box<dyn Future<Output = T> + Send>>;

/// A handler that runs on its calling thread and blocks it (Python, JVM, C). It receives the
/// job as JSON text (`id, jobType, payload, attempts, maxRetries, priority, status`).
pub trait ForeignHandler: Send + Sync {
    /// Runs the job; `Err` fails the attempt (and triggers a retry).
    fn call(&self, job_json: String) -> Result<(), HandlerError>;
}

/// A handler that returns a future (Node promises).
pub trait AsyncForeignHandler: Send + Sync {
    /// Runs the job; `Err` fails the attempt (and triggers a retry).
    fn call(&self, job_json: String) -> BoxFuture<Result<(), HandlerError>>;
}

pub(crate) enum HandlerKind {
    Blocking(Arc<dyn ForeignHandler>),
    Async(Arc<dyn AsyncForeignHandler>),
}

impl HandlerKind {
    /// Adapts a foreign handler to the engine's handler type. Blocking handlers run on the
    /// runtime's blocking pool so host callbacks never stall the async workers; a panic in
    /// either becomes a failed attempt. Both keep the attempt's token until the host call has
    /// returned (or its promise settled), which is what keeps attempts from overlapping.
    pub(crate) fn into_handler(self) -> Handler {
        match self {
            HandlerKind::Blocking(h) => Arc::new(move |job: Job| {
                let h = h.clone();
                Box::pin(async move {
                    let json = crate::database::job_json(&job).to_string();
                    // The host thread holds the attempt until the call returns: if the attempt
                    // times out and its future is abandoned, the job still cannot run again
                    // while this call is running.
                    let attempt = job.cancel.clone();
                    match tokio::task::spawn_blocking(move || {
                        let _attempt = attempt;
                        let _host = crate::runtime::HostCallback::enter();
                        std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| h.call(json)))
                    })
                    .await
                    {
                        Ok(Ok(Ok(()))) => Ok(()),
                        Ok(Ok(Err(e))) => Err(aurora_db::AuroraError::Handler(e)),
                        _ => Err(aurora_db::AuroraError::Handler("handler panicked".into())),
                    }
                })
            }),
            HandlerKind::Async(h) => Arc::new(move |job: Job| {
                let fut = h.call(crate::database::job_json(&job).to_string());
                let attempt = job.cancel;
                Box::pin(async move {
                    // The host's promise holds the attempt until it settles, even when this
                    // future is abandoned (a timeout): the job cannot run again meanwhile.
                    let settled = tokio::spawn(async move {
                        let _attempt = attempt;
                        fut.await
                    });
                    match settled.await {
                        Ok(r) => r.map_err(aurora_db::AuroraError::Handler),
                        Err(_) => Err(aurora_db::AuroraError::Handler("handler panicked".into())),
                    }
                })
            }),
        }
    }
}
