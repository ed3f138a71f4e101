'use strict';
// Aurora DB for Node.js. A thin layer over the native addon (prebuilt per platform, or built
// from the Rust crates in this package: see loader.js): it builds `AuroraError`s, implements the
// async-iterator protocol of subscriptions, and wraps job handlers so that a throw or a
// rejection fails the job instead of reaching the native side. Every behaviour lives in the
// Rust engine.

const { loadNative } = require('./loader.js');

const native = loadNative();

const ERROR_MARK = 'AURORA_ERROR:';
const CODES = Object.freeze([
  'SYNTAX',
  'VALIDATION',
  'NOT_FOUND',
  'UNIQUE_VIOLATION',
  'TYPE_ERROR',
  'CLOSED',
  'IO',
  'HANDLER',
  'INTERNAL',
  'LIMIT',
]);
const PRIORITIES = Object.freeze(['LOW', 'NORMAL', 'HIGH', 'CRITICAL']);

/** An engine error: `code` is one of `AuroraError.CODES`; AQL errors carry `line`/`column`. */
class AuroraError extends Error {
  constructor(message, code = 'INTERNAL', line = null, column = null) {
    super(message);
    this.name = 'AuroraError';
    this.code = code;
    this.line = line;
    this.column = column;
  }
}
Object.defineProperty(AuroraError, 'CODES', { value: CODES, enumerable: true });
// Promises settled by the engine (execute, enqueue, subscription next) reject with AuroraError.
native.setErrorClass(AuroraError);

/**
 * Compiles the function that builds a list result of one shape: `{ [key]: rows }` where each
 * row is `{ columns[0]: cell, ... }`, as the Promise `execute` returns. An object literal makes
 * each row as cheaply as any JS allocation, much cheaper than `JSON.parse` of its text. The
 * native side calls it once per shape, then passes each result's cells to the function. A
 * `__proto__` key (which a literal would take as the prototype) or an environment that forbids
 * compiling code returns null: such results come as JSON text.
 */
function rowMaker(key, columns) {
  if (key === '__proto__' || columns.includes('__proto__')) return null;
  const width = columns.length;
  // The first row comes as named parameters (a point lookup needs nothing else), the others
  // from the rest array.
  const params = columns.map((_, i) => `a${i}`);
  const literal = (value) => `{ ${columns.map((c, i) => `${JSON.stringify(c)}: ${value(i)}`).join(', ')} }`;
  const first = literal((i) => params[i]);
  const k = JSON.stringify(key);
  const body =
    `if (n === 1) return Promise.resolve({ ${k}: [${first}] });` +
    ` const rows = []; if (n > 0) rows.push(${first});` +
    ` for (let i = 1, j = 0; i < n; i++, j += ${width}) rows.push(${literal((i) => `v[j + ${i}]`)});` +
    ` return Promise.resolve({ ${k}: rows });`;
  try {
    return new Function('n', ...params, '...v', body);
  } catch {
    return null;
  }
}
native.setRowMaker(rowMaker);

/** Turns whatever the native side threw into an AuroraError (argument errors become VALIDATION). */
function toAuroraError(e) {
  if (e instanceof AuroraError) return e;
  const msg = e && typeof e.message === 'string' ? e.message : String(e);
  const at = msg.indexOf(ERROR_MARK);
  if (at >= 0) {
    try {
      const j = JSON.parse(msg.slice(at + ERROR_MARK.length));
      return new AuroraError(j.message, j.code, j.line ?? null, j.column ?? null);
    } catch {
      // fall through
    }
  }
  const code = e && (e.code === 'InvalidArg' || e.code === 'NumberExpected' || e.code === 'StringExpected' ||
    e.code === 'ObjectExpected' || e.code === 'FunctionExpected' || e.code === 'BooleanExpected')
    ? 'VALIDATION'
    : 'INTERNAL';
  const err = new AuroraError(msg, code);
  err.cause = e;
  return err;
}

/** Runs a native call that returns a Promise; every failure becomes a rejected AuroraError. */
function call(fn) {
  try {
    return fn().catch((e) => {
      throw toAuroraError(e);
    });
  } catch (e) {
    return Promise.reject(toAuroraError(e));
  }
}

/**
 * Like `call`, for native calls whose Promise already rejects with AuroraError (the hot paths:
 * no extra Promise per call); only a synchronous throw (argument conversion) is converted.
 */
function callDirect(fn) {
  try {
    return fn();
  } catch (e) {
    return Promise.reject(toAuroraError(e));
  }
}

/** A value `JSON.stringify` and the native conversion agree on, with no nesting. */
function isScalar(v) {
  switch (typeof v) {
    case 'string':
    case 'boolean':
      return true;
    case 'number':
      return Number.isFinite(v) && (!Number.isInteger(v) || Math.abs(v) <= Number.MAX_SAFE_INTEGER);
    default:
      return v === null;
  }
}

// True when `JSON.stringify(v)` means exactly what the native conversion (src/convert.rs) would
// make of `v`: strings, booleans, null, finite numbers (integers only within ±(2^53 − 1), which
// become Ints either way) in plain objects and arrays. Anything else — BigInt, NaN, undefined,
// class instances, deep nesting — takes the native path, which applies its rules and errors.
function plainData(v, depth) {
  if (typeof v !== 'object' || v === null) return isScalar(v);
  if (depth >= 32) return false;
  if (Array.isArray(v)) {
    for (let i = 0; i < v.length; i++) if (!plainData(v[i], depth + 1)) return false;
    return true;
  }
  const proto = Object.getPrototypeOf(v);
  if (proto !== Object.prototype && proto !== null) return false;
  for (const k in v) if (!Object.hasOwn(v, k) || !plainData(v[k], depth + 1)) return false;
  return true;
}

// AQL texts by number (see src/texts.rs): the native side need not read the text each call.
const MAX_TEXTS = 4096;
const textNumbers = new Map();
let textsFull = false;

/** The number of an AQL text, or undefined once this thread numbered MAX_TEXTS texts. */
function textNumber(aql) {
  let n = textNumbers.get(aql);
  if (n === undefined && !textsFull) {
    try {
      n = native.internText(aql);
      textNumbers.set(aql, n);
    } catch {
      textsFull = true; // the thread's table is full (another copy of this module shares it)
    }
    if (textNumbers.size >= MAX_TEXTS) textsFull = true;
  }
  return n;
}

/**
 * Executes through `executeInSlotWith` when `vars` is a plain object of at most three scalar
 * variables (`undefined` ones are left out, as `JSON.stringify` does) and the text has a
 * number; returns undefined for anything else, which then goes over as JSON text.
 */
function withScalars(slot, aql, vars) {
  const proto = Object.getPrototypeOf(vars);
  if (proto !== Object.prototype && proto !== null) return undefined;
  const text = textNumber(aql);
  if (text === undefined) return undefined;
  let n = 0;
  let k0, v0, k1, v1, k2, v2;
  for (const k in vars) {
    if (!Object.hasOwn(vars, k)) return undefined;
    const v = vars[k];
    if (v === undefined) continue;
    if (!isScalar(v)) return undefined;
    if (n === 0) (k0 = k), (v0 = v);
    else if (n === 1) (k1 = k), (v1 = v);
    else if (n === 2) (k2 = k), (v2 = v);
    else return undefined;
    n++;
  }
  return native.executeInSlotWith(slot, text, k0, v0, k1, v1, k2, v2);
}

function checkString(value, what) {
  if (typeof value !== 'string') throw new AuroraError(`${what} must be a string, got ${typeof value}`, 'VALIDATION');
}

function checkTimeout(timeoutMs) {
  if (timeoutMs === undefined || timeoutMs === null) return null;
  if (typeof timeoutMs !== 'number' || Number.isNaN(timeoutMs) || timeoutMs < 0) {
    throw new AuroraError('timeoutMs must be a non-negative number', 'VALIDATION');
  }
  return timeoutMs;
}

const DONE = Object.freeze({ value: undefined, done: true });

/**
 * A live subscription: an AQL stream (`db.stream`) or a change listener (`db.listen`).
 * Use it with `for await`; `break` (or `close()`) ends it.
 */
class Subscription {
  #native;

  constructor(nativeSubscription) {
    if (!(nativeSubscription instanceof native.NativeSubscription)) {
      throw new TypeError('Subscription objects are created by db.stream() and db.listen()');
    }
    this.#native = nativeSubscription;
  }

  /**
   * Resolves to the next event, or `null` when `timeoutMs` passes first (no timeout: waits).
   * Rejects with an AuroraError `CLOSED` once the subscription or its database is closed.
   */
  recv(timeoutMs) {
    return callDirect(() => this.#native.next(checkTimeout(timeoutMs)));
  }

  /** Async-iterator protocol: the next event, or `{ done: true }` once closed. */
  async next() {
    try {
      const value = await this.#native.next(null);
      return { value, done: false };
    } catch (e) {
      const err = toAuroraError(e);
      if (err.code === 'CLOSED') {
        this.#native.close();
        return DONE;
      }
      throw err;
    }
  }

  /** Called by `break` / `return` in `for await`: closes the subscription. */
  async return() {
    this.#native.close();
    return DONE;
  }

  /** Called when the loop body throws: closes the subscription. */
  async throw(error) {
    this.#native.close();
    throw error;
  }

  [Symbol.asyncIterator]() {
    return this;
  }

  /** Closes the subscription; a pending `next()`/`recv()` ends (done / CLOSED). Idempotent. */
  close() {
    this.#native.close();
  }

  /** True once closed (explicitly, or by `break` out of a `for await`). */
  get closed() {
    return this.#native.closed;
  }
}

function errorMessage(e) {
  if (e instanceof Error) return e.message || e.name || 'handler failed';
  if (typeof e === 'string') return e;
  try {
    return JSON.stringify(e) ?? String(e);
  } catch {
    return String(e);
  }
}

/** An open Aurora database. Create it with `await Aurora.open(path, config)`. */
class Aurora {
  #native;
  #path;
  #slot;

  constructor(nativeDatabase, path) {
    if (!(nativeDatabase instanceof native.NativeDatabase)) {
      throw new TypeError('use `await Aurora.open(path, config)` to open a database');
    }
    this.#native = nativeDatabase;
    this.#path = path;
    this.#slot = nativeDatabase.slot();
  }

  /** Opens (or creates) the database in directory `path`. */
  static open(path, config) {
    return call(() => {
      checkString(path, 'path');
      return native.open(path, config ?? null).then((n) => new Aurora(n, path));
    });
  }

  /** The directory this database was opened at. */
  get path() {
    return this.#path;
  }

  /** True once `close()` ran. */
  get closed() {
    return this.#native.closed;
  }

  /** Executes AQL with optional variables; resolves to plain JS data (SPEC §4.11 shapes). */
  execute(aql, variables, options) {
    try {
      checkString(aql, 'aql');
      const plain = options === undefined || options === null;
      let out;
      // The common call (no options, a few scalar variables) passes them as arguments.
      if (plain && (variables === undefined || variables === null)) out = native.executeInSlot(this.#slot, aql, 'null');
      else if (plain && typeof variables === 'object') out = withScalars(this.#slot, aql, variables);
      if (out === undefined) {
        // Other plain data goes over as JSON text (much cheaper than reading it through N-API).
        const text = typeof variables === 'object' && plainData(variables, 0) ? JSON.stringify(variables) : undefined;
        const debugAudit = Boolean(options?.debugAudit ?? options?.debug_audit ?? false);
        const operationName = options?.operationName ?? options?.operation_name ?? null;
        if (plain && text !== undefined) out = native.executeInSlot(this.#slot, aql, text);
        else if (text !== undefined) out = this.#native.executeText(aql, text, debugAudit, operationName);
        else out = this.#native.execute(aql, variables, debugAudit, operationName);
      }
      // A call that finished at once hands back a Promise built by `rowMaker`'s function, or
      // its JSON text: parsing that here is cheaper than building the objects natively.
      return typeof out === 'string' ? Promise.resolve(JSON.parse(out)) : out;
    } catch (e) {
      return Promise.reject(toAuroraError(e));
    }
  }

  /** Opens an AQL subscription; returns (synchronously) an async-iterable Subscription. */
  stream(aql, variables) {
    try {
      checkString(aql, 'aql');
      return new Subscription(this.#native.stream(aql, variables ?? null));
    } catch (e) {
      throw toAuroraError(e);
    }
  }

  /** Listens to every change of `collection` (`'*'` for all); returns an async-iterable Subscription. */
  listen(collection) {
    try {
      checkString(collection, 'collection');
      return new Subscription(this.#native.listen(collection));
    } catch (e) {
      throw toAuroraError(e);
    }
  }

  /**
   * Registers the handler of a job type. `handler(job)` may be sync or async; a throw or a
   * rejected Promise fails the attempt (the job is retried, then dead-lettered).
   */
  registerHandler(jobType, handler) {
    checkString(jobType, 'jobType');
    if (typeof handler !== 'function') throw new AuroraError('handler must be a function', 'VALIDATION');
    const native = this.#native;
    const wrapped = async (job) => {
      // Live: true once the attempt times out or the workers stop, so a long handler can end early.
      Object.defineProperty(job, 'cancelled', { get: () => native.jobCancelled(job.id), enumerable: false });
      try {
        await handler(job);
        return null;
      } catch (e) {
        return errorMessage(e);
      }
    };
    try {
      this.#native.registerHandler(jobType, wrapped);
    } catch (e) {
      throw toAuroraError(e);
    }
  }

  /** Enqueues a job; resolves to its id. */
  enqueue(jobType, payload, options) {
    return callDirect(() => {
      checkString(jobType, 'jobType');
      const priority = options?.priority ?? 'NORMAL';
      checkString(priority, 'priority');
      const maxRetries = options?.maxRetries ?? options?.max_retries ?? null;
      if (maxRetries !== null && !(Number.isInteger(maxRetries) && maxRetries >= 0)) {
        throw new AuroraError('maxRetries must be a non-negative integer', 'VALIDATION');
      }
      return this.#native.enqueue(jobType, payload ?? null, priority, maxRetries);
    });
  }

  /** Starts the worker pool (`concurrency` defaults to the config's `workerThreads`). */
  startWorkers(concurrency) {
    return call(async () => {
      if (concurrency !== undefined && concurrency !== null && !(Number.isInteger(concurrency) && concurrency > 0)) {
        throw new AuroraError('concurrency must be a positive integer', 'VALIDATION');
      }
      this.#native.startWorkers(concurrency ?? null);
    });
  }

  /** Stops the worker pool; running jobs finish or return to Pending. */
  stopWorkers() {
    return call(() => this.#native.stopWorkers());
  }

  /** The job with this id (`{id, jobType, status, priority, attempts, maxRetries, lastError, payload}`), or null. */
  jobStatus(id) {
    return call(() => {
      checkString(id, 'id');
      return this.#native.jobStatus(id);
    });
  }

  /** Bytes each cache and buffer holds, next to its budget. */
  memoryStats() {
    return call(() => this.#native.memoryStats());
  }

  /** Jobs that ran out of retries. */
  deadLetters() {
    return call(() => this.#native.deadLetters());
  }

  /** Closes the database (stops the workers, ends subscriptions). Idempotent. */
  close() {
    return call(() => this.#native.close());
  }
}

/** Same as `Aurora.open(path, config)`. */
function open(path, config) {
  return Aurora.open(path, config);
}

module.exports = { Aurora, AuroraError, Subscription, open, PRIORITIES };
