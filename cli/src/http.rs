//! `aurora serve`: AQL over HTTP (actix-web).
//!
//! | route | body / query | answer |
//! |---|---|---|
//! | `POST /aql` | `{"query": "...", "variables": {...}, "operationName": "...", "debugAudit": false, "explain": false}` | the result JSON of SPEC §4.11; with `"explain": true`, each root field's plan (`Aurora::explain`) |
//! | `GET /subscribe?query=...&variables=<json>` | | `text/event-stream`: `event: subscribed`, then `data: {event json}` per change |
//! | `POST /jobs` | `{"jobType": "...", "payload": {...}, "priority": "HIGH", "maxRetries": 3, "delayMs": 0, "timeoutMs": 60000}` | `201 {"id": "..."}` |
//! | `GET /jobs/{id}` | | the job's status |
//! | `GET /health` | | `{"status": "ok"}` |
//! | `OPTIONS *` (CORS preflight) | | `204` for an origin listed with `--cors-origin` |
//!
//! POST bodies must be sent as `Content-Type: application/json` (optionally `; charset=utf-8`).
//! `POST /jobs` accepts `maxRetries` 0 to [`MAX_JOB_RETRIES`], `delayMs` 0 to [`MAX_JOB_MS`] and
//! `timeoutMs` 1 to [`MAX_JOB_MS`], and no other fields.
//!
//! Every request first passes [`crate::http_policy`]: its `Host` must name the server and its
//! `Origin`, if any, must be the server's own or listed with `--cors-origin` (else 403); then
//! at most [`ServerConfig::max_requests`] are handled at once (else 503 at once, no queue).
//!
//! Errors are `{"code", "message", "line", "column"}` with 400 (SYNTAX, VALIDATION, TYPE_ERROR,
//! LIMIT: a request past one of the database's `limits`, BAD_REQUEST), 401 (UNAUTHORIZED), 403 (FORBIDDEN: foreign `Host` or `Origin`), 404
//! (NOT_FOUND), 405, 409 (UNIQUE_VIOLATION), 413 (PAYLOAD_TOO_LARGE), 415
//! (UNSUPPORTED_MEDIA_TYPE), 503 (CLOSED, UNAVAILABLE: too many requests or subscriptions),
//! 504 (TIMEOUT) or 500 (IO, INTERNAL, HANDLER: a generic message with an incident number; the
//! details go to the server's stderr only).

// Handlers return `Result<_, HttpResponse>`: the error *is* the response to send, built once
// per failed request, so its size does not matter.
#![allow(clippy::result_large_err)]

use crate::cli::{close_db, open_db, ServeArgs};
use crate::exit::{self, Failure};
use crate::http_policy::{self, OriginVerdict, Policy};
use actix_web::body::{EitherBody, MessageBody};
use actix_web::dev::{ServerHandle, ServiceRequest, ServiceResponse};
use actix_web::http::header::{HeaderMap, HeaderValue};
use actix_web::http::{header, Method, StatusCode, Version};
use actix_web::middleware::{from_fn, Next};
use actix_web::web::{self, Bytes, BytesMut};
use actix_web::{mime, App, HttpMessage, HttpRequest, HttpResponse, HttpServer};
use aurora_db::{Aurora, AuroraError, ExecuteOptions, ExecuteRequest, Job, JobPriority};
use futures_util::StreamExt;
use serde_json::{json, Map, Value as Json};
use std::collections::HashMap;
use std::io::Write;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::Duration;
use tokio::sync::{watch, Semaphore};
use tokio::time::Instant;

/// How the server runs.
#[derive(Debug, Clone)]
pub struct ServerConfig {
    /// Listening address; port 0 picks a free port (see [`Server::local_addr`]).
    pub bind: SocketAddr,
    /// When set, every request must carry `Authorization: Bearer <token>` (else 401).
    pub token: Option<String>,
    /// Largest request body accepted (else 413).
    pub max_body_bytes: usize,
    /// Time limit of one request, body included (else 504). Subscriptions are exempt.
    pub request_timeout: Duration,
    /// HTTP worker threads (`None`: one per core).
    pub workers: Option<usize>,
    /// Most concurrent subscriptions (else 503).
    pub max_subscriptions: usize,
    /// Interval of SSE keep-alive comments (they also detect clients that went away).
    pub keep_alive: Duration,
    /// Most requests handled at once; one more is answered 503 at once (not queued). A
    /// subscription counts until its event stream starts.
    pub max_requests: usize,
    /// More names accepted in the `Host` header, with any port (`--allow-host`), besides the
    /// bind address; a `name:port` entry matches that port only.
    pub allowed_hosts: Vec<String>,
    /// Web origins (`scheme://host[:port]`) allowed to call the server from a browser
    /// (`--cors-origin`); requests from any other foreign origin are refused.
    pub cors_origins: Vec<String>,
}

impl ServerConfig {
    /// Checks the settings [`serve`] relies on: a token for a non-loopback address, a
    /// non-zero request cap, well-formed host names and origins.
    pub fn check(&self) -> Result<(), String> {
        let token = self.token.as_deref().is_some_and(|t| !t.is_empty());
        if !self.bind.ip().is_loopback() && !token {
            return Err(format!(
                "refusing to serve {} (not a loopback address) without a bearer token: anyone who can reach it \
                 could read and change the database; set AURORA_TOKEN (or --token)",
                self.bind
            ));
        }
        if self.max_requests == 0 || self.max_subscriptions == 0 {
            return Err("max_requests and max_subscriptions must be at least 1".into());
        }
        self.allowed_hosts.iter().try_for_each(|h| http_policy::check_host_name(h))?;
        self.cors_origins.iter().try_for_each(|o| http_policy::check_origin(o))
    }
}

impl Default for ServerConfig {
    fn default() -> Self {
        ServerConfig {
            bind: SocketAddr::from(([127, 0, 0, 1], 7070)),
            token: None,
            max_body_bytes: 1024 * 1024,
            request_timeout: Duration::from_secs(30),
            workers: None,
            max_subscriptions: 1024,
            keep_alive: Duration::from_secs(15),
            max_requests: 256,
            allowed_hosts: Vec::new(),
            cors_origins: Vec::new(),
        }
    }
}

/// A running server.
pub struct Server {
    addr: SocketAddr,
    handle: ServerHandle,
    task: tokio::task::JoinHandle<std::io::Result<()>>,
    shutdown: watch::Sender<bool>,
}

impl Server {
    /// The address the server is bound to (with the real port when 0 was asked for).
    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }

    /// `http://addr` of the server.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Ends open subscriptions, stops accepting, lets running requests finish (5 s at most)
    /// and waits for the server to stop. The database stays open.
    pub async fn stop(self) {
        let _ = self.shutdown.send(true);
        self.handle.stop(true).await;
        let _ = self.task.await;
    }

    /// Waits until the server stops by itself (it only does on a fatal error).
    pub async fn wait(&mut self) -> std::io::Result<()> {
        match (&mut self.task).await {
            Ok(r) => r,
            Err(e) => Err(std::io::Error::other(e.to_string())),
        }
    }
}

struct State {
    db: Aurora,
    /// The multi-threaded runtime the engine work runs on (requests survive their timeout there).
    engine: tokio::runtime::Handle,
    token: Option<String>,
    max_body: usize,
    timeout: Duration,
    subscriptions: Arc<AtomicUsize>,
    max_subscriptions: usize,
    keep_alive: Duration,
    shutdown: watch::Receiver<bool>,
    incidents: AtomicU64,
    /// Accepted `Host` and `Origin` values; set once the port is known, before serving.
    policy: OnceLock<Policy>,
    /// One permit per request being handled.
    requests: Arc<Semaphore>,
    max_requests: usize,
}

/// Longest `delayMs` and `timeoutMs` accepted by `POST /jobs`: 10 × 365 days.
pub const MAX_JOB_MS: u64 = 10 * 365 * 86_400_000;
/// Most `maxRetries` accepted by `POST /jobs`.
pub const MAX_JOB_RETRIES: u64 = 100_000;
/// Fields `POST /jobs` accepts.
const JOB_FIELDS: &str = "jobType, payload, priority, maxRetries, delayMs, timeoutMs";

fn json_response(status: StatusCode, body: &Json) -> HttpResponse {
    HttpResponse::build(status).content_type("application/json").body(body.to_string())
}

/// The error body `{code, message, line, column}`.
pub fn error_response(status: StatusCode, code: &str, message: &str, pos: Option<(usize, usize)>) -> HttpResponse {
    json_response(
        status,
        &json!({"code": code, "message": message, "line": pos.map(|p| p.0), "column": pos.map(|p| p.1)}),
    )
}

fn bad_request(message: impl AsRef<str>) -> HttpResponse {
    error_response(StatusCode::BAD_REQUEST, "BAD_REQUEST", message.as_ref(), None)
}

fn validation(message: impl AsRef<str>) -> HttpResponse {
    error_response(StatusCode::BAD_REQUEST, "VALIDATION", message.as_ref(), None)
}

fn forbidden(message: impl AsRef<str>) -> HttpResponse {
    error_response(StatusCode::FORBIDDEN, "FORBIDDEN", message.as_ref(), None)
}

fn unavailable(message: impl AsRef<str>) -> HttpResponse {
    let mut r = error_response(StatusCode::SERVICE_UNAVAILABLE, "UNAVAILABLE", message.as_ref(), None);
    r.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
    r
}

/// Whether a `Content-Type` value is `application/json`, optionally with `charset=utf-8`.
fn is_json(content_type: &mime::Mime) -> bool {
    content_type.type_() == mime::APPLICATION
        && content_type.subtype() == mime::JSON
        && content_type.suffix().is_none()
        && content_type.params().all(|(name, value)| name == mime::CHARSET && value == mime::UTF_8)
}

/// Refuses a body not declared as JSON: a web page can send `text/plain`, form or multipart
/// bodies to any address without the browser asking the server first (no CORS preflight), so
/// this is what keeps other sites from posting AQL.
fn require_json(req: &HttpRequest) -> Result<(), HttpResponse> {
    if req.mime_type().ok().flatten().is_some_and(|m| is_json(&m)) {
        return Ok(());
    }
    let got = match req.headers().get(header::CONTENT_TYPE) {
        None => "no Content-Type".to_string(),
        Some(v) => format!("Content-Type {:?}", v.to_str().unwrap_or("(not text)")),
    };
    Err(error_response(
        StatusCode::UNSUPPORTED_MEDIA_TYPE,
        "UNSUPPORTED_MEDIA_TYPE",
        &format!("the request body must be sent as `Content-Type: application/json` (optionally `; charset=utf-8`); got {got}"),
        None,
    ))
}

/// HTTP status for an engine error code.
pub fn status_for(code: &str) -> StatusCode {
    match code {
        "SYNTAX" | "VALIDATION" | "TYPE_ERROR" | "LIMIT" => StatusCode::BAD_REQUEST,
        "NOT_FOUND" => StatusCode::NOT_FOUND,
        "UNIQUE_VIOLATION" => StatusCode::CONFLICT,
        "CLOSED" => StatusCode::SERVICE_UNAVAILABLE,
        _ => StatusCode::INTERNAL_SERVER_ERROR,
    }
}

impl State {
    /// The `Host` and `Origin` checks; `Ok` says whether the answer needs CORS headers.
    fn admit(&self, req: &HttpRequest) -> Result<OriginVerdict, HttpResponse> {
        let policy = self.policy.get().ok_or_else(|| unavailable("the server is starting"))?;
        let host = req.headers().get(header::HOST).map(|v| v.to_str().unwrap_or(""));
        // HTTP/1.0 allows a request without Host; browsers always send one.
        if host.is_some() || req.version() != Version::HTTP_10 {
            policy.check_host(host).map_err(forbidden)?;
        }
        let origin = match req.headers().get(header::ORIGIN) {
            None => None,
            Some(v) => Some(v.to_str().map_err(|_| forbidden("the Origin header is not text"))?),
        };
        policy.check_origin(origin).map_err(forbidden)
    }

    /// The 503 for a request past [`ServerConfig::max_requests`].
    fn busy(&self) -> HttpResponse {
        unavailable(format!(
            "the server is already handling its maximum of {} requests at once; retry shortly",
            self.max_requests
        ))
    }

    fn authorize(&self, req: &HttpRequest) -> Result<(), HttpResponse> {
        let Some(token) = &self.token else { return Ok(()) };
        let given = req
            .headers()
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.split_once(' '))
            .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("bearer"))
            .map(|(_, t)| t.trim());
        match given {
            Some(t) if constant_time_eq(t.as_bytes(), token.as_bytes()) => Ok(()),
            _ => Err(HttpResponse::Unauthorized()
                .insert_header((header::WWW_AUTHENTICATE, "Bearer"))
                .content_type("application/json")
                .body(
                    json!({"code": "UNAUTHORIZED", "message": "missing or invalid bearer token",
                           "line": null, "column": null})
                    .to_string(),
                )),
        }
    }

    /// A 500 that reveals nothing: the details go to stderr under an incident number.
    fn internal(&self, code: &str, detail: &dyn std::fmt::Display) -> HttpResponse {
        let n = self.incidents.fetch_add(1, Ordering::Relaxed) + 1;
        eprintln!("aurora serve: incident {n}: [{code}] {detail}");
        error_response(
            StatusCode::INTERNAL_SERVER_ERROR,
            code,
            &format!("internal error (incident {n}; details are in the server log)"),
            None,
        )
    }

    fn engine_error(&self, e: &AuroraError) -> HttpResponse {
        let status = status_for(e.code());
        if status == StatusCode::INTERNAL_SERVER_ERROR {
            return self.internal(e.code(), e);
        }
        let message = if e.code() == "CLOSED" { "the database is closed".to_string() } else { e.to_string() };
        error_response(status, e.code(), &message, e.position())
    }

    fn timeout(&self) -> HttpResponse {
        error_response(
            StatusCode::GATEWAY_TIMEOUT,
            "TIMEOUT",
            &format!(
                "the request took longer than {} ms (a write it carried may still complete)",
                self.timeout.as_millis()
            ),
            None,
        )
    }

    /// Runs engine work on the engine runtime, bounded by the request's deadline. On timeout
    /// the work is not cut in the middle (no half-applied commit): it finishes in the background.
    async fn run<T, F>(&self, deadline: Instant, work: F) -> Result<T, HttpResponse>
    where
        F: std::future::Future<Output = aurora_db::Result<T>> + Send + 'static,
        T: Send + 'static,
    {
        let task = self.engine.spawn(work);
        match tokio::time::timeout_at(deadline, task).await {
            Err(_) => Err(self.timeout()),
            Ok(Err(join)) => Err(self.internal("INTERNAL", &join)),
            // The query's time budget ended with the request's deadline: the request timed out.
            Ok(Ok(Err(AuroraError::Limit { limit: "query_time_ms", .. }))) if Instant::now() >= deadline => {
                Err(self.timeout())
            }
            Ok(Ok(Err(e))) => Err(self.engine_error(&e)),
            Ok(Ok(Ok(v))) => Ok(v),
        }
    }

    /// Reads the body within the size limit and the deadline, and parses it as a JSON object.
    async fn read_json(
        &self,
        req: &HttpRequest,
        mut payload: web::Payload,
        deadline: Instant,
    ) -> Result<Map<String, Json>, HttpResponse> {
        require_json(req)?;
        let declared = req
            .headers()
            .get(header::CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok())
            .and_then(|s| s.trim().parse::<u64>().ok());
        let too_large = || {
            error_response(
                StatusCode::PAYLOAD_TOO_LARGE,
                "PAYLOAD_TOO_LARGE",
                &format!("the request body is larger than {} bytes", self.max_body),
                None,
            )
        };
        // A body announced far over the limit is refused at once; a modestly larger one is read
        // (and dropped) first so that the client sees the 413 instead of a reset connection.
        let drain_cap = self.max_body.saturating_mul(8);
        if declared.is_some_and(|n| n > drain_cap as u64) {
            return Err(too_large());
        }
        let mut buf = BytesMut::new();
        let mut overflow = declared.is_some_and(|n| n > self.max_body as u64);
        let mut seen = 0usize;
        loop {
            match tokio::time::timeout_at(deadline, payload.next()).await {
                Err(_) => return Err(self.timeout()),
                Ok(None) => break,
                Ok(Some(Err(e))) => return Err(bad_request(format!("cannot read the request body: {e}"))),
                Ok(Some(Ok(chunk))) => {
                    seen = seen.saturating_add(chunk.len());
                    if seen > self.max_body {
                        overflow = true;
                        buf.clear();
                        if seen > drain_cap {
                            break;
                        }
                    } else {
                        buf.extend_from_slice(&chunk);
                    }
                }
            }
        }
        if overflow {
            return Err(too_large());
        }
        if buf.iter().all(u8::is_ascii_whitespace) {
            return Err(bad_request("the request body is empty; expected a JSON object"));
        }
        match serde_json::from_slice::<Json>(&buf) {
            Ok(Json::Object(m)) => Ok(m),
            Ok(_) => Err(bad_request("the request body must be a JSON object")),
            // Well-formed but deeper than the reader goes: refused as the engine refuses a value
            // nested too deeply.
            Err(e) if e.to_string().starts_with("recursion limit exceeded") => {
                Err(validation(format!("the request body nests values too deeply: {e}")))
            }
            Err(e) => Err(bad_request(format!("the request body is not valid JSON: {e}"))),
        }
    }
}

/// Compares two byte strings in time independent of where they differ.
fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    let mut diff = a.len() ^ b.len();
    for (i, x) in a.iter().enumerate() {
        diff |= usize::from(x ^ b.get(i % b.len().max(1)).copied().unwrap_or(0));
    }
    diff == 0
}

fn deadline(st: &State) -> Instant {
    Instant::now() + st.timeout
}

/// Runs before every route: refuses a foreign `Host` or `Origin` (403), answers CORS
/// preflights, refuses a request past the cap (503), and adds the CORS headers to the answer.
async fn guard(
    req: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<EitherBody<impl MessageBody>>, actix_web::Error> {
    let Some(st) = req.app_data::<web::Data<State>>().cloned() else {
        return Err(actix_web::error::ErrorInternalServerError("server state missing"));
    };
    let verdict = match st.admit(req.request()) {
        Ok(v) => v,
        Err(refusal) => return Ok(req.into_response(refusal).map_into_right_body()),
    };
    let mut res = if is_preflight(req.request()) {
        req.into_response(preflight()).map_into_right_body()
    } else {
        match st.requests.clone().try_acquire_owned() {
            Err(_) => req.into_response(st.busy()).map_into_right_body(),
            // The permit is held until the handler has answered (a subscription: until its
            // event stream starts; `max_subscriptions` bounds the streams).
            Ok(_permit) => next.call(req).await?.map_into_left_body(),
        }
    };
    add_cors(res.headers_mut(), &verdict);
    Ok(res)
}

/// A CORS preflight: `OPTIONS` with `Origin` and `Access-Control-Request-Method`.
fn is_preflight(req: &HttpRequest) -> bool {
    req.method() == Method::OPTIONS
        && req.headers().contains_key(header::ORIGIN)
        && req.headers().contains_key(header::ACCESS_CONTROL_REQUEST_METHOD)
}

/// The answer to a preflight from an admitted origin (no token needed: browsers send none).
fn preflight() -> HttpResponse {
    HttpResponse::NoContent()
        .insert_header((header::ACCESS_CONTROL_ALLOW_METHODS, "GET, POST, OPTIONS"))
        .insert_header((header::ACCESS_CONTROL_ALLOW_HEADERS, "Authorization, Content-Type"))
        .insert_header((header::ACCESS_CONTROL_MAX_AGE, "600"))
        .finish()
}

/// Echoes an origin listed with `--cors-origin`; any answer to a request with an `Origin`
/// varies with it.
fn add_cors(headers: &mut HeaderMap, verdict: &OriginVerdict) {
    if *verdict == OriginVerdict::Absent {
        return;
    }
    headers.append(header::VARY, HeaderValue::from_static("Origin"));
    if let OriginVerdict::Cors(origin) = verdict {
        if let Ok(v) = HeaderValue::from_str(origin) {
            headers.insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, v);
            headers.insert(
                header::ACCESS_CONTROL_EXPOSE_HEADERS,
                HeaderValue::from_static("WWW-Authenticate, Retry-After"),
            );
        }
    }
}

/// `POST /aql`.
async fn aql(req: HttpRequest, payload: web::Payload, st: web::Data<State>) -> HttpResponse {
    let deadline = deadline(&st);
    let run = async {
        st.authorize(&req)?;
        let mut body = st.read_json(&req, payload, deadline).await?;
        let explain = match body.remove("explain") {
            None | Some(Json::Null) => false,
            Some(Json::Bool(b)) => b,
            Some(_) => return Err(validation("`explain` must be a boolean")),
        };
        let mut request = execute_request(body)?;
        // The query stops itself when the request's deadline passes (it would otherwise run on
        // in the background after the 504).
        request.options.timeout = Some(deadline.saturating_duration_since(Instant::now()));
        let db = st.db.clone();
        let text = st
            .run(deadline, async move {
                match explain {
                    true => db.explain(request).map(|plan| plan.to_string()),
                    false => db.execute_json_text(request).await.map(|t| t.text),
                }
            })
            .await?;
        Ok::<_, HttpResponse>(HttpResponse::Ok().content_type("application/json").body(text))
    };
    run.await.unwrap_or_else(|e| e)
}

/// Reads `{query, variables, operationName, debugAudit}` (also `options: {operation_name, debug_audit}`).
fn execute_request(mut body: Map<String, Json>) -> Result<ExecuteRequest, HttpResponse> {
    let aql = match body.remove("query") {
        // An empty text goes to the engine, which reports it as a syntax error at 1:1.
        Some(Json::String(q)) => q,
        Some(_) => return Err(validation("`query` must be a string of AQL")),
        None => return Err(validation("missing `query` (the AQL text)")),
    };
    let variables = match body.remove("variables") {
        None | Some(Json::Null) => Json::Null,
        Some(v @ Json::Object(_)) => v,
        Some(_) => return Err(validation("`variables` must be a JSON object")),
    };
    let options = body.remove("options").unwrap_or(Json::Null);
    let flag = |a: &str, b: &str| body.get(a).or_else(|| options.get(b)).cloned();
    let debug_audit = match flag("debugAudit", "debug_audit") {
        None | Some(Json::Null) => false,
        Some(Json::Bool(b)) => b,
        Some(_) => return Err(validation("`debugAudit` must be a boolean")),
    };
    let operation_name = match flag("operationName", "operation_name") {
        None | Some(Json::Null) => None,
        Some(Json::String(s)) => Some(s),
        Some(_) => return Err(validation("`operationName` must be a string")),
    };
    Ok(ExecuteRequest { aql, variables, options: ExecuteOptions { debug_audit, operation_name, ..Default::default() } })
}

/// A subscription slot, released when the event stream is dropped.
struct SubscriptionSlot(Arc<AtomicUsize>);

impl Drop for SubscriptionSlot {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::AcqRel);
    }
}

struct Feed {
    stream: aurora_db::AqlStream,
    shutdown: watch::Receiver<bool>,
    keep_alive: Duration,
    greeted: bool,
    done: bool,
    _slot: SubscriptionSlot,
}

fn sse(event: Option<&str>, data: &Json) -> Bytes {
    match event {
        Some(name) => Bytes::from(format!("event: {name}\ndata: {data}\n\n")),
        None => Bytes::from(format!("data: {data}\n\n")),
    }
}

/// `GET /subscribe?query=...&variables=...`: server-sent events, one `data:` line per change.
async fn subscribe(req: HttpRequest, st: web::Data<State>) -> HttpResponse {
    if let Err(r) = st.authorize(&req) {
        return r;
    }
    let params = match web::Query::<HashMap<String, String>>::from_query(req.query_string()) {
        Ok(p) => p.into_inner(),
        Err(e) => return bad_request(format!("bad query string: {e}")),
    };
    let mut body = Map::new();
    if let Some(q) = params.get("query") {
        body.insert("query".into(), Json::String(q.clone()));
    }
    if let Some(v) = params.get("variables") {
        match serde_json::from_str::<Json>(v) {
            Ok(v) => body.insert("variables".into(), v),
            Err(e) => return bad_request(format!("`variables` is not valid JSON: {e}")),
        };
    }
    if let Some(op) = params.get("operationName") {
        body.insert("operationName".into(), Json::String(op.clone()));
    }
    let request = match execute_request(body) {
        Ok(r) => r,
        Err(r) => return r,
    };
    if *st.shutdown.borrow() {
        return error_response(StatusCode::SERVICE_UNAVAILABLE, "UNAVAILABLE", "the server is stopping", None);
    }
    if st.subscriptions.fetch_add(1, Ordering::AcqRel) >= st.max_subscriptions {
        st.subscriptions.fetch_sub(1, Ordering::AcqRel);
        return error_response(StatusCode::SERVICE_UNAVAILABLE, "UNAVAILABLE", "too many open subscriptions", None);
    }
    let slot = SubscriptionSlot(st.subscriptions.clone());
    let stream = match st.db.stream_now(request) {
        Ok(s) => s,
        Err(e) => return st.engine_error(&e),
    };
    let feed = Feed {
        stream,
        shutdown: st.shutdown.clone(),
        keep_alive: st.keep_alive,
        greeted: false,
        done: false,
        _slot: slot,
    };
    let events = futures_util::stream::unfold(feed, |mut f| async move {
        if f.done {
            return None;
        }
        if !f.greeted {
            f.greeted = true;
            let hello = sse(Some("subscribed"), &json!({"collection": f.stream.collection()}));
            return Some((Ok::<_, std::convert::Infallible>(hello), f));
        }
        let chunk = tokio::select! {
            ev = f.stream.recv() => match ev {
                Ok(ev) => sse(None, &ev.to_json()),
                Err(AuroraError::Lagged(n)) => sse(Some("lagged"), &json!({"code": "LAGGED", "missed": n})),
                Err(e) => {
                    f.done = true;
                    let message = if e.code() == "CLOSED" { "the database is closed".to_string() } else { "the subscription ended".to_string() };
                    sse(Some("error"), &json!({"code": e.code(), "message": message}))
                }
            },
            _ = tokio::time::sleep(f.keep_alive) => Bytes::from_static(b": keep-alive\n\n"),
            _ = f.shutdown.changed() => return None,
        };
        Some((Ok(chunk), f))
    });
    HttpResponse::Ok()
        .content_type("text/event-stream")
        .insert_header((header::CACHE_CONTROL, "no-cache"))
        .insert_header(("X-Accel-Buffering", "no"))
        .streaming(events)
}

/// `POST /jobs`: `{jobType, payload, priority, maxRetries, delayMs, timeoutMs}` → `201 {"id": ...}`.
async fn enqueue(req: HttpRequest, payload: web::Payload, st: web::Data<State>) -> HttpResponse {
    let deadline = deadline(&st);
    let run = async {
        st.authorize(&req)?;
        let body = st.read_json(&req, payload, deadline).await?;
        let job = job_from_body(body)?;
        let db = st.db.clone();
        let id = st.run(deadline, async move { db.enqueue(job).await }).await?;
        Ok(json_response(StatusCode::CREATED, &json!({"id": id})))
    };
    run.await.unwrap_or_else(|e| e)
}

/// Builds a job from a `POST /jobs` body, refusing unknown fields and numbers out of range.
fn job_from_body(mut body: Map<String, Json>) -> Result<Job, HttpResponse> {
    let job_type = match body.remove("jobType") {
        Some(Json::String(t)) if !t.trim().is_empty() => t,
        _ => return Err(validation("`jobType` (a non-empty string) is required")),
    };
    let mut job = Job::new(job_type);
    match body.remove("payload") {
        None | Some(Json::Null) => {}
        Some(Json::Object(m)) => job.payload = m.into_iter().collect(),
        Some(_) => return Err(validation("`payload` must be a JSON object")),
    }
    match body.remove("priority") {
        None | Some(Json::Null) => {}
        Some(Json::String(p)) => {
            job.priority = JobPriority::parse(&p).ok_or_else(|| {
                validation(format!("unknown `priority` {p:?}; expected LOW, NORMAL, HIGH or CRITICAL"))
            })?
        }
        Some(_) => return Err(validation("`priority` must be one of the strings LOW, NORMAL, HIGH, CRITICAL")),
    }
    if let Some(n) = int_field(&mut body, "maxRetries", 0, MAX_JOB_RETRIES, "")? {
        // In range, so it fits: MAX_JOB_RETRIES < u32::MAX.
        job.max_retries = u32::try_from(n).unwrap_or(u32::MAX);
    }
    // The engine adds the delay to the current time: the cap keeps that sum far from overflow.
    if let Some(ms) = int_field(&mut body, "delayMs", 0, MAX_JOB_MS, " (ms)")? {
        job = job.with_delay(Duration::from_millis(ms));
    }
    if let Some(ms) = int_field(&mut body, "timeoutMs", 1, MAX_JOB_MS, " (ms)")? {
        job = job.with_timeout(Duration::from_millis(ms));
    }
    if let Some(field) = body.keys().next() {
        return Err(validation(format!("unknown field `{field}` in the job; expected {JOB_FIELDS}")));
    }
    Ok(job)
}

/// Removes an optional integer field, which must lie in `min..=max` (null counts as absent).
fn int_field(
    body: &mut Map<String, Json>,
    name: &str,
    min: u64,
    max: u64,
    unit: &str,
) -> Result<Option<u64>, HttpResponse> {
    match body.remove(name) {
        None | Some(Json::Null) => Ok(None),
        Some(v) => match v.as_u64().filter(|n| (min..=max).contains(n)) {
            Some(n) => Ok(Some(n)),
            None => Err(validation(format!("`{name}` must be an integer from {min} to {max}{unit}; got {v}"))),
        },
    }
}

/// `GET /jobs/{id}`.
async fn job_status(req: HttpRequest, path: web::Path<String>, st: web::Data<State>) -> HttpResponse {
    if let Err(r) = st.authorize(&req) {
        return r;
    }
    let id = path.into_inner();
    let job = match st.db.workers() {
        Ok(w) => w.get_job(&id),
        Err(e) => return st.engine_error(&e),
    };
    match job {
        None => error_response(StatusCode::NOT_FOUND, "NOT_FOUND", &format!("job {id} not found"), None),
        Some(j) => json_response(
            StatusCode::OK,
            &json!({
                "id": j.id, "jobType": j.job_type, "status": j.status.as_str(), "priority": j.priority.as_str(),
                "attempts": j.attempts, "maxRetries": j.max_retries, "timeoutMs": j.timeout_ms,
                "lastError": j.last_error, "payload": j.payload,
            }),
        ),
    }
}

/// `GET /health`.
async fn health(req: HttpRequest, st: web::Data<State>) -> HttpResponse {
    if let Err(r) = st.authorize(&req) {
        return r;
    }
    if st.db.is_closed() {
        return json_response(StatusCode::SERVICE_UNAVAILABLE, &json!({"status": "closed"}));
    }
    json_response(StatusCode::OK, &json!({"status": "ok", "version": env!("CARGO_PKG_VERSION")}))
}

async fn not_found(req: HttpRequest, st: web::Data<State>) -> HttpResponse {
    if let Err(r) = st.authorize(&req) {
        return r;
    }
    error_response(StatusCode::NOT_FOUND, "NOT_FOUND", &format!("no route {} {}", req.method(), req.path()), None)
}

async fn method_not_allowed(req: HttpRequest, st: web::Data<State>) -> HttpResponse {
    if let Err(r) = st.authorize(&req) {
        return r;
    }
    error_response(
        StatusCode::METHOD_NOT_ALLOWED,
        "METHOD_NOT_ALLOWED",
        &format!("{} is not allowed on {}", req.method(), req.path()),
        None,
    )
}

/// Binds `config.bind`, starts serving `db` on the current tokio runtime (engine work runs on
/// it too, so it should be multi-threaded) and returns the running server.
pub async fn serve(db: Aurora, config: ServerConfig) -> std::io::Result<Server> {
    let engine = tokio::runtime::Handle::try_current()
        .map_err(|_| std::io::Error::other("serve() must be called inside a tokio runtime"))?;
    config.check().map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidInput, e))?;
    let (tx, rx) = watch::channel(false);
    let state = web::Data::new(State {
        db,
        engine,
        token: config.token.clone().filter(|t| !t.is_empty()),
        max_body: config.max_body_bytes,
        timeout: config.request_timeout,
        subscriptions: Arc::new(AtomicUsize::new(0)),
        max_subscriptions: config.max_subscriptions,
        keep_alive: config.keep_alive,
        shutdown: rx,
        incidents: AtomicU64::new(0),
        policy: OnceLock::new(),
        requests: Arc::new(Semaphore::new(config.max_requests)),
        max_requests: config.max_requests,
    });
    let app_state = state.clone();
    let mut server = HttpServer::new(move || {
        App::new()
            .app_data(app_state.clone())
            .wrap(from_fn(guard))
            .service(web::resource("/aql").route(web::post().to(aql)).default_service(web::to(method_not_allowed)))
            .service(
                web::resource("/subscribe")
                    .route(web::get().to(subscribe))
                    .default_service(web::to(method_not_allowed)),
            )
            .service(web::resource("/jobs").route(web::post().to(enqueue)).default_service(web::to(method_not_allowed)))
            .service(
                web::resource("/jobs/{id}")
                    .route(web::get().to(job_status))
                    .default_service(web::to(method_not_allowed)),
            )
            .service(web::resource("/health").route(web::get().to(health)).default_service(web::to(method_not_allowed)))
            .default_service(web::to(not_found))
    })
    .disable_signals()
    .shutdown_timeout(5)
    .client_request_timeout(Duration::from_secs(10))
    .backlog(1024);
    if let Some(n) = config.workers {
        server = server.workers(n.max(1));
    }
    let server = server.bind(config.bind)?;
    let addr = server.addrs().first().copied().ok_or_else(|| std::io::Error::other("no address bound"))?;
    // Set before the first request can arrive: `run` starts accepting.
    let _ = state.policy.set(Policy::new(addr, &config.allowed_hosts, &config.cors_origins));
    let running = server.run();
    let handle = running.handle();
    let task = tokio::spawn(running);
    Ok(Server { addr, handle, task, shutdown: tx })
}

/// `aurora serve`: runs until Ctrl-C or SIGTERM, then stops gracefully and closes the database.
pub async fn run_serve(a: ServeArgs) -> Result<u8, Failure> {
    if !a.public && !a.bind.ip().is_loopback() {
        return Err(Failure::usage(format!(
            "error: refusing to listen on {} (not a loopback address) without --public",
            a.bind.ip()
        )));
    }
    if a.token.as_deref().is_some_and(str::is_empty) {
        return Err(Failure::usage("error: --token is empty"));
    }
    if a.public && a.token.is_none() {
        return Err(Failure::usage(
            "error: --public needs a bearer token: without one anyone who can reach the address could read and \
             change the database; set AURORA_TOKEN (or --token)",
        ));
    }
    let config = ServerConfig {
        bind: a.bind,
        token: a.token.clone(),
        max_body_bytes: a.max_body,
        request_timeout: Duration::from_millis(a.timeout_ms.max(1)),
        workers: a.workers,
        max_subscriptions: a.max_subscriptions,
        max_requests: a.max_requests,
        allowed_hosts: a.allow_host.clone(),
        cors_origins: a.cors_origin.clone(),
        ..ServerConfig::default()
    };
    config.check().map_err(|e| Failure::usage(format!("error: {e}")))?;
    let db = open_db(&a.db, false).await?;
    let mut server = match serve(db.clone(), config).await {
        Ok(s) => s,
        Err(e) => {
            let _ = close_db(&db).await;
            return Err(Failure::io(format!("error[IO]: cannot listen on {}: {e}", a.bind)));
        }
    };
    {
        let mut out = std::io::stdout().lock();
        let _ = writeln!(out, "listening on {}", server.url());
        let _ = out.flush();
    }
    eprintln!(
        "aurora: serving {} on {}{}; Ctrl-C to stop",
        a.db.display(),
        server.url(),
        if a.token.is_some() { " (bearer token required)" } else { "" }
    );
    let outcome = tokio::select! {
        _ = shutdown_signal() => Ok(()),
        r = server.wait() => r,
    };
    eprintln!("aurora: stopping");
    server.stop().await;
    close_db(&db).await?;
    outcome.map(|_| exit::OK).map_err(|e| Failure::io(format!("error[IO]: server failed: {e}")))
}

async fn shutdown_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        match signal(SignalKind::terminate()) {
            Ok(mut term) => {
                tokio::select! {
                    _ = tokio::signal::ctrl_c() => {},
                    _ = term.recv() => {},
                }
            }
            Err(_) => {
                let _ = tokio::signal::ctrl_c().await;
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn token_comparison() {
        assert!(constant_time_eq(b"secret", b"secret"));
        assert!(!constant_time_eq(b"secret", b"secreT"));
        assert!(!constant_time_eq(b"secret", b"secret2"));
        assert!(!constant_time_eq(b"", b"x"));
        assert!(constant_time_eq(b"", b""));
    }

    #[test]
    fn statuses() {
        assert_eq!(status_for("SYNTAX"), StatusCode::BAD_REQUEST);
        assert_eq!(status_for("NOT_FOUND"), StatusCode::NOT_FOUND);
        assert_eq!(status_for("UNIQUE_VIOLATION"), StatusCode::CONFLICT);
        assert_eq!(status_for("LIMIT"), StatusCode::BAD_REQUEST);
        assert_eq!(status_for("IO"), StatusCode::INTERNAL_SERVER_ERROR);
    }

    #[test]
    fn request_bodies() {
        let ok = execute_request(
            json!({"query": "query { a { b } }", "variables": {"x": 1}, "operationName": "Q"})
                .as_object()
                .cloned()
                .unwrap_or_default(),
        );
        assert!(ok.is_ok_and(|r| r.options.operation_name.as_deref() == Some("Q") && r.variables["x"] == 1));
        for bad in [json!({}), json!({"query": 1}), json!({"query": "q", "variables": [1]})] {
            assert!(execute_request(bad.as_object().cloned().unwrap_or_default()).is_err());
        }
    }
}
