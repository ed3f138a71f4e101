//! `aurora_db._native`: PyO3 glue over the shared bindings facade. Conversion only — the
//! Python-facing API (iterators, decorators, asyncio) lives in `python/aurora_db/__init__.py`.

use aurora_bindings::sink::{self, SinkError, ValueSink};
use aurora_bindings::{BindingError, Database, ErrorCode, Execution, ExecutionResult, ForeignHandler, Statement};
use pyo3::create_exception;
use pyo3::exceptions::{PyException, PyTypeError, PyValueError};
use pyo3::prelude::*;
use pyo3::types::{PyBool, PyDict, PyFloat, PyInt, PyList, PyString, PyTuple};
use pyo3::IntoPyObjectExt;
use serde_json::{Map, Value};
use std::sync::Arc;
use std::time::Duration;

#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

create_exception!(
    aurora_db,
    AuroraError,
    PyException,
    "Base class of every Aurora DB error; has `code`, `line`, `column`."
);
create_exception!(aurora_db, AqlSyntaxError, AuroraError, "AQL text that does not parse (code SYNTAX).");
create_exception!(aurora_db, ValidationError, AuroraError, "A request that is not valid (code VALIDATION).");
create_exception!(aurora_db, NotFound, AuroraError, "Unknown collection, field, document or job (code NOT_FOUND).");
create_exception!(
    aurora_db,
    UniqueViolation,
    AuroraError,
    "A @unique constraint was violated (code UNIQUE_VIOLATION)."
);
create_exception!(aurora_db, SchemaTypeError, AuroraError, "A value does not match the schema type (code TYPE_ERROR).");
create_exception!(aurora_db, ClosedError, AuroraError, "The database or subscription is closed (code CLOSED).");
create_exception!(aurora_db, StorageError, AuroraError, "File system or storage failure (code IO).");
create_exception!(aurora_db, HandlerError, AuroraError, "A job handler failed (code HANDLER).");
create_exception!(aurora_db, InternalError, AuroraError, "A bug in Aurora, including caught panics (code INTERNAL).");
create_exception!(
    aurora_db,
    LimitExceeded,
    AuroraError,
    "A request went past a configured limit (size, depth, time...) and was refused (code LIMIT)."
);

/// Deepest nesting converted from Python values (the engine refuses deeper values anyway);
/// the conversion recurses once per level, so this also bounds its stack use.
const MAX_DEPTH: usize = 64;

fn to_pyerr(e: BindingError) -> PyErr {
    Python::attach(|py| {
        let err = match e.code {
            ErrorCode::Syntax => AqlSyntaxError::new_err(e.message.clone()),
            ErrorCode::Validation => ValidationError::new_err(e.message.clone()),
            ErrorCode::NotFound => NotFound::new_err(e.message.clone()),
            ErrorCode::UniqueViolation => UniqueViolation::new_err(e.message.clone()),
            ErrorCode::TypeError => SchemaTypeError::new_err(e.message.clone()),
            ErrorCode::Closed => ClosedError::new_err(e.message.clone()),
            ErrorCode::Io => StorageError::new_err(e.message.clone()),
            ErrorCode::Handler => HandlerError::new_err(e.message.clone()),
            ErrorCode::Internal => InternalError::new_err(e.message.clone()),
            ErrorCode::Limit => LimitExceeded::new_err(e.message.clone()),
        };
        let v = err.value(py);
        let _ = v.setattr("code", e.code.as_str());
        let _ = v.setattr("line", e.line);
        let _ = v.setattr("column", e.column);
        err
    })
}

/// Builds Python values from an engine value (see `aurora_bindings::sink`): results go
/// straight from the engine's documents to dicts and lists, with no JSON tree in between.
struct PySink<'py> {
    py: Python<'py>,
    /// Open lists and dicts (a dict with the key of its next entry).
    stack: Vec<(Bound<'py, PyAny>, Option<Bound<'py, PyString>>)>,
    root: Option<Bound<'py, PyAny>>,
    /// The Python exception behind a failed step, kept to raise it as it was.
    error: Option<PyErr>,
}

impl<'py> PySink<'py> {
    fn fail(&mut self, e: PyErr) -> SinkError {
        let msg = e.to_string();
        self.error = Some(e);
        SinkError::new(msg)
    }

    fn put(&mut self, v: Bound<'py, PyAny>) -> Result<(), SinkError> {
        let outcome = match self.stack.last_mut() {
            None => {
                self.root = Some(v);
                Ok(())
            }
            Some((container, key)) => match key.take() {
                Some(k) => container.cast::<PyDict>().map_err(PyErr::from).and_then(|d| d.set_item(k, v)),
                None => container.cast::<PyList>().map_err(PyErr::from).and_then(|l| l.append(v)),
            },
        };
        outcome.map_err(|e| self.fail(e))
    }

    fn put_result<T: IntoPyObject<'py>>(&mut self, v: T) -> Result<(), SinkError> {
        match v.into_bound_py_any(self.py) {
            Ok(b) => self.put(b),
            Err(e) => Err(self.fail(e)),
        }
    }

    fn end(&mut self) -> Result<(), SinkError> {
        match self.stack.pop() {
            Some((v, _)) => self.put(v),
            None => Err(SinkError::new("an end without its beginning")),
        }
    }
}

impl ValueSink for PySink<'_> {
    fn null(&mut self) -> Result<(), SinkError> {
        self.put(self.py.None().into_bound(self.py))
    }
    fn bool(&mut self, b: bool) -> Result<(), SinkError> {
        self.put(PyBool::new(self.py, b).to_owned().into_any())
    }
    fn int(&mut self, i: i64) -> Result<(), SinkError> {
        self.put_result(i)
    }
    fn uint(&mut self, u: u64) -> Result<(), SinkError> {
        self.put_result(u)
    }
    fn float(&mut self, f: f64) -> Result<(), SinkError> {
        self.put(PyFloat::new(self.py, f).into_any())
    }
    fn str(&mut self, s: &str) -> Result<(), SinkError> {
        self.put(PyString::new(self.py, s).into_any())
    }
    fn begin_array(&mut self) -> Result<(), SinkError> {
        self.stack.push((PyList::empty(self.py).into_any(), None));
        Ok(())
    }
    fn end_array(&mut self, _count: usize) -> Result<(), SinkError> {
        self.end()
    }
    fn begin_object(&mut self) -> Result<(), SinkError> {
        self.stack.push((PyDict::new(self.py).into_any(), None));
        Ok(())
    }
    fn key(&mut self, k: &str) -> Result<(), SinkError> {
        match self.stack.last_mut() {
            Some((_, key)) => {
                *key = Some(PyString::new(self.py, k));
                Ok(())
            }
            None => Err(SinkError::new("a key outside an object")),
        }
    }
    fn end_object(&mut self, _count: usize) -> Result<(), SinkError> {
        self.end()
    }
}

/// The Python value of an engine result (or any value serde writes as JSON).
fn to_py<'py, T: serde::Serialize + ?Sized>(py: Python<'py>, v: &T) -> PyResult<Bound<'py, PyAny>> {
    let mut sink = PySink { py, stack: Vec::new(), root: None, error: None };
    if let Err(e) = sink::write(v, &mut sink) {
        return Err(sink.error.take().unwrap_or_else(|| to_pyerr(BindingError::internal(e.to_string()))));
    }
    sink.root.ok_or_else(|| to_pyerr(BindingError::internal("the engine wrote no value")))
}

/// Finishes an eager execution (see `aurora_bindings::Execution`): a text known to be cheap
/// ran on this thread with the GIL held (cheaper than releasing it for a call of microseconds);
/// anything else runs on the engine's runtime while this thread waits without the GIL.
fn finish_here<'py>(py: Python<'py>, run: Execution<ExecutionResult>) -> PyResult<Bound<'py, PyAny>> {
    let result = match run {
        Execution::Ready(r) => r,
        pending => py.detach(move || pending.wait()),
    }
    .map_err(to_pyerr)?;
    to_py(py, &result)
}

fn from_py(obj: &Bound<'_, PyAny>, depth: usize) -> PyResult<Value> {
    if depth > MAX_DEPTH {
        // The same refusal (and code) as the engine's for a value nested too deeply.
        return Err(to_pyerr(BindingError::validation(format!("value nested deeper than {MAX_DEPTH} levels"))));
    }
    if obj.is_none() {
        return Ok(Value::Null);
    }
    if let Ok(b) = obj.cast::<PyBool>() {
        return Ok(Value::Bool(b.is_true()));
    }
    if obj.is_instance_of::<PyInt>() {
        return match obj.extract::<i64>() {
            Ok(i) => Ok(Value::from(i)),
            Err(_) => Err(PyValueError::new_err(format!("integer {obj} does not fit in 64 bits"))),
        };
    }
    if let Ok(f) = obj.cast::<PyFloat>() {
        return Ok(serde_json::Number::from_f64(f.value()).map(Value::Number).unwrap_or(Value::Null));
    }
    if let Ok(s) = obj.cast::<PyString>() {
        return Ok(Value::String(s.to_cow()?.into_owned()));
    }
    if let Ok(d) = obj.cast::<PyDict>() {
        let mut m = Map::new();
        for (k, v) in d.iter() {
            let key = k
                .cast::<PyString>()
                .map_err(|_| PyTypeError::new_err(format!("object keys must be str, got {}", k.get_type())))?;
            m.insert(key.to_cow()?.into_owned(), from_py(&v, depth + 1)?);
        }
        return Ok(Value::Object(m));
    }
    if let Ok(l) = obj.cast::<PyList>() {
        return l.iter().map(|x| from_py(&x, depth + 1)).collect::<PyResult<Vec<_>>>().map(Value::Array);
    }
    if let Ok(t) = obj.cast::<PyTuple>() {
        return t.iter().map(|x| from_py(&x, depth + 1)).collect::<PyResult<Vec<_>>>().map(Value::Array);
    }
    Err(PyTypeError::new_err(format!("cannot convert a {} to an Aurora value", obj.get_type())))
}

fn opt_json(obj: Option<&Bound<'_, PyAny>>) -> PyResult<Value> {
    match obj {
        Some(o) => from_py(o, 0),
        None => Ok(Value::Null),
    }
}

/// An open database (see `aurora_db.Aurora` for the documented Python API).
#[pyclass(module = "aurora_db._native", frozen)]
struct NativeDatabase {
    db: Database,
}

#[pymethods]
impl NativeDatabase {
    #[new]
    #[pyo3(signature = (path, config=None))]
    fn new(py: Python<'_>, path: &str, config: Option<&Bound<'_, PyAny>>) -> PyResult<Self> {
        let cfg = opt_json(config)?;
        let path = path.to_string();
        let db = py.detach(move || Database::open(&path, &cfg)).map_err(to_pyerr)?;
        Ok(NativeDatabase { db })
    }

    #[pyo3(signature = (aql, variables=None, debug_audit=false, operation_name=None))]
    fn execute<'py>(
        &self,
        py: Python<'py>,
        aql: &str,
        variables: Option<&Bound<'py, PyAny>>,
        debug_audit: bool,
        operation_name: Option<&str>,
    ) -> PyResult<Bound<'py, PyAny>> {
        let vars = opt_json(variables)?;
        let run = self.db.execute_eager(aql.to_string(), vars, debug_audit, operation_name.map(String::from));
        finish_here(py, run)
    }

    /// Parses and plans `aql` once; run it with `NativeStatement.execute`.
    fn prepare(&self, aql: &str) -> PyResult<NativeStatement> {
        let stmt = self.db.prepare(aql).map_err(to_pyerr)?;
        Ok(NativeStatement { stmt })
    }

    #[pyo3(signature = (aql, variables=None))]
    fn stream(&self, py: Python<'_>, aql: &str, variables: Option<&Bound<'_, PyAny>>) -> PyResult<NativeSubscription> {
        let vars = opt_json(variables)?;
        let db = &self.db;
        let sub = py.detach(|| db.stream(aql, vars)).map_err(to_pyerr)?;
        Ok(NativeSubscription { sub })
    }

    fn listen(&self, collection: &str) -> PyResult<NativeSubscription> {
        Ok(NativeSubscription { sub: self.db.listen(collection).map_err(to_pyerr)? })
    }

    fn register_handler(&self, job_type: &str, handler: Py<PyAny>) -> PyResult<()> {
        self.db.register_handler(job_type, Arc::new(PyHandler { f: handler })).map_err(to_pyerr)
    }

    fn job_cancelled(&self, id: &str) -> PyResult<bool> {
        self.db.job_cancelled(id).map_err(to_pyerr)
    }

    #[pyo3(signature = (job_type, payload=None, priority="normal", max_retries=None))]
    fn enqueue(
        &self,
        py: Python<'_>,
        job_type: &str,
        payload: Option<&Bound<'_, PyAny>>,
        priority: &str,
        max_retries: Option<u32>,
    ) -> PyResult<String> {
        let payload = opt_json(payload)?;
        let db = &self.db;
        py.detach(|| db.enqueue(job_type, payload, priority, max_retries)).map_err(to_pyerr)
    }

    #[pyo3(signature = (concurrency=None))]
    fn start_workers(&self, py: Python<'_>, concurrency: Option<usize>) -> PyResult<()> {
        let db = &self.db;
        py.detach(|| db.start_workers(concurrency)).map_err(to_pyerr)
    }

    fn stop_workers(&self, py: Python<'_>) -> PyResult<()> {
        let db = &self.db;
        py.detach(|| db.stop_workers()).map_err(to_pyerr)
    }

    fn job_status<'py>(&self, py: Python<'py>, id: &str) -> PyResult<Bound<'py, PyAny>> {
        let v = self.db.job_status(id).map_err(to_pyerr)?;
        to_py(py, &v)
    }

    fn memory_stats<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        let v = self.db.memory_stats().map_err(to_pyerr)?;
        to_py(py, &v)
    }

    #[pyo3(signature = (aql, variables=None))]
    fn explain<'py>(
        &self,
        py: Python<'py>,
        aql: &str,
        variables: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<Bound<'py, PyAny>> {
        let vars = opt_json(variables)?;
        let db = &self.db;
        let v = py.detach(|| db.explain(aql, vars)).map_err(to_pyerr)?;
        to_py(py, &v)
    }

    fn dead_letters<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        let v = self.db.dead_letters().map_err(to_pyerr)?;
        to_py(py, &v)
    }

    fn close(&self, py: Python<'_>) -> PyResult<()> {
        let db = &self.db;
        py.detach(|| db.close()).map_err(to_pyerr)
    }

    #[getter]
    fn closed(&self) -> bool {
        self.db.is_closed()
    }
}

/// A live subscription; `next` releases the GIL while it waits.
/// A prepared statement (see `aurora_db.Statement`).
#[pyclass(module = "aurora_db._native", frozen)]
struct NativeStatement {
    stmt: Statement,
}

#[pymethods]
impl NativeStatement {
    #[pyo3(signature = (variables=None))]
    fn execute<'py>(&self, py: Python<'py>, variables: Option<&Bound<'py, PyAny>>) -> PyResult<Bound<'py, PyAny>> {
        let vars = opt_json(variables)?;
        finish_here(py, self.stmt.execute_eager(vars))
    }

    #[getter]
    fn text(&self) -> &str {
        self.stmt.text()
    }
}

#[pyclass(module = "aurora_db._native", frozen)]
struct NativeSubscription {
    sub: aurora_bindings::Subscription,
}

#[pymethods]
impl NativeSubscription {
    /// Next event, or None when `timeout` (seconds) passes first. Raises ClosedError once closed.
    #[pyo3(signature = (timeout=None))]
    fn next<'py>(&self, py: Python<'py>, timeout: Option<f64>) -> PyResult<Bound<'py, PyAny>> {
        let t = match timeout {
            Some(s) if s.is_finite() && s >= 0.0 => Some(Duration::from_secs_f64(s)),
            Some(s) => {
                return Err(PyValueError::new_err(format!("timeout must be a non-negative number of seconds, got {s}")))
            }
            None => None,
        };
        let sub = &self.sub;
        match py.detach(|| sub.next_blocking(t)).map_err(to_pyerr)? {
            Some(v) => to_py(py, &v),
            None => Ok(py.None().into_bound(py)),
        }
    }

    fn close(&self) {
        self.sub.close();
    }

    #[getter]
    fn closed(&self) -> bool {
        self.sub.is_closed()
    }
}

impl Drop for NativeSubscription {
    fn drop(&mut self) {
        self.sub.close();
    }
}

/// A Python callable run for each job; an exception fails the attempt.
struct PyHandler {
    f: Py<PyAny>,
}

impl ForeignHandler for PyHandler {
    fn call(&self, job_json: String) -> Result<(), String> {
        Python::attach(|py| {
            let job: Value = serde_json::from_str(&job_json).map_err(|e| e.to_string())?;
            let arg = to_py(py, &job).map_err(|e| e.to_string())?;
            match self.f.call1(py, (arg,)) {
                Ok(_) => Ok(()),
                Err(e) => {
                    let name = e.get_type(py).name().map(|n| n.to_string()).unwrap_or_else(|_| "Exception".into());
                    Err(format!("{name}: {}", e.value(py)))
                }
            }
        })
    }
}

#[pymodule]
fn _native(m: &Bound<'_, PyModule>) -> PyResult<()> {
    let py = m.py();
    m.add_class::<NativeDatabase>()?;
    m.add_class::<NativeSubscription>()?;
    m.add_class::<NativeStatement>()?;
    m.add("AuroraError", py.get_type::<AuroraError>())?;
    m.add("AqlSyntaxError", py.get_type::<AqlSyntaxError>())?;
    m.add("ValidationError", py.get_type::<ValidationError>())?;
    m.add("NotFound", py.get_type::<NotFound>())?;
    m.add("UniqueViolation", py.get_type::<UniqueViolation>())?;
    m.add("SchemaTypeError", py.get_type::<SchemaTypeError>())?;
    m.add("ClosedError", py.get_type::<ClosedError>())?;
    m.add("StorageError", py.get_type::<StorageError>())?;
    m.add("HandlerError", py.get_type::<HandlerError>())?;
    m.add("InternalError", py.get_type::<InternalError>())?;
    m.add("LimitExceeded", py.get_type::<LimitExceeded>())?;
    // Whether this extension is a debug build (tests scale their time bounds by it).
    m.add("DEBUG_BUILD", cfg!(debug_assertions))?;
    Ok(())
}
