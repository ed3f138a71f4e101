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
 * Builds a value the addon encoded (see src/values.rs): `ops` holds the count of keys new to
 * `keys` and their ranges in `text`, then the value as tags (0 null, 1 true, 2 false, 3 number,
 * 4 string range, 5 array of n, 6 object of n keys, each a `keys` index or -1 and a range,
 * 7 BigInt as decimal range). Ordinary property stores, which V8 optimizes, make the objects:
 * far cheaper than one N-API call per property, with no JSON text and no generated code.
 */
function decode(ops, text, keys) {
  let i = 1;
  for (let n = ops[0]; n > 0; n--, i += 2) keys.push(text.slice(ops[i], ops[i + 1]));
  const read = () => {
    switch (ops[i++]) {
      case 0:
        return null;
      case 1:
        return true;
      case 2:
        return false;
      case 3:
        return ops[i++];
      case 4:
        i += 2;
        return text.slice(ops[i - 2], ops[i - 1]);
      case 5: {
        const out = [];
        for (let n = ops[i++]; n > 0; n--) out.push(read());
        return out;
      }
      case 6: {
        const out = {};
        for (let n = ops[i++]; n > 0; n--) {
          let k = ops[i++];
          if (k >= 0) k = keys[k];
          else (i += 2), (k = text.slice(ops[i - 2], ops[i - 1]));
          const v = read();
          // A store would set the prototype; JSON.parse makes an own property, as here.
          if (k === '__proto__') Object.defineProperty(out, k, { value: v, writable: true, enumerable: true, configurable: true });
          else out[k] = v;
        }
        return out;
      }
      case 7:
        i += 2;
        return BigInt(text.slice(ops[i - 2], ops[i - 1]));
      default:
        throw new AuroraError('the addon sent a value this module cannot decode', 'INTERNAL');
    }
  };
  return read();
}
native.setDecoder(decode);

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

// AQL texts by number (see src/texts.rs): the native side need not read the text each call.
const MAX_TEXTS = 4096;
const textNumbers = new Map();
let textsFull = false;

/** The number of an AQL text, or the text itself once this thread numbered MAX_TEXTS texts. */
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
  return n ?? aql;
}

/** The `debugAudit` and `operationName` of an options object (camelCase or snake_case). */
function executeOptions(options) {
  return [
    Boolean(options.debugAudit ?? options.debug_audit ?? false),
    options.operationName ?? options.operation_name ?? null,
  ];
}

/** Most variables passed as name/value arguments (src/hot.rs reads as many). */
const MAX_PAIRS = 16;

/**
 * Calls `fn(...lead, name0, value0, name1, value1, …)` for a plain object of at most
 * MAX_PAIRS own variables (reading its properties here is much cheaper than through N-API;
 * `undefined` ones are left out, as JSON does), else `fn(...lead, vars)`.
 */
function withVars(fn, lead, vars) {
  if (typeof vars === 'object' && vars !== null) {
    const proto = Object.getPrototypeOf(vars);
    if (proto === Object.prototype || proto === null) {
      const args = lead.slice();
      let plain = true;
      for (const k in vars) {
        if (!Object.hasOwn(vars, k) || args.length >= lead.length + 2 * MAX_PAIRS) {
          plain = false;
          break;
        }
        const v = vars[k];
        if (v !== undefined) args.push(k, v);
      }
      if (plain && args.length > lead.length) return fn(...args);
    }
  }
  return fn(...lead, vars);
}

/** A result the addon handed back at once (a call that finished), or its Promise. */
function settled(out) {
  return out instanceof Promise ? out : Promise.resolve(out);
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

/**
 * A prepared AQL statement (`db.prepare(aql)`): parsed and planned once, run with new
 * variables. Closing its database makes every run fail with `CLOSED`; a schema change keeps
 * it valid.
 */
class Statement {
  #native;
  #slot;

  constructor(nativeStatement) {
    if (!(nativeStatement instanceof native.NativeStatement)) {
      throw new TypeError('Statement objects are created by db.prepare(aql)');
    }
    this.#native = nativeStatement;
    this.#slot = nativeStatement.slot();
  }

  /** The AQL text it was prepared from. */
  get text() {
    return this.#native.text;
  }

  /** Runs the statement with `variables`; resolves to plain JS data (SPEC §4.11 shapes). */
  execute(variables) {
    try {
      return settled(withVars(native.statementExecute, [this.#slot], variables));
    } catch (e) {
      return Promise.reject(toAuroraError(e));
    }
  }

  /** Like `execute`, on the calling thread (blocks the event loop): the result, or a throw. */
  executeSync(variables) {
    try {
      return withVars(native.statementExecuteSync, [this.#slot], variables);
    } catch (e) {
      throw toAuroraError(e);
    }
  }
}

/** An open Aurora database. Create it with `await Aurora.open(path, config)` (or `Aurora.openSync`). */
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

  /**
   * Opens (or creates) the database in directory `path` on the calling thread. Blocks the
   * event loop while it opens; `Aurora.open` does the same without blocking.
   */
  static openSync(path, config) {
    try {
      checkString(path, 'path');
      return new Aurora(native.openSync(path, config ?? null), path);
    } catch (e) {
      throw toAuroraError(e);
    }
  }

  /**
   * Executes AQL with optional variables (any plain data); resolves to plain JS data (SPEC
   * §4.11 shapes). Options: `debugAudit`, `operationName`.
   */
  execute(aql, variables, options) {
    try {
      checkString(aql, 'aql');
      if (options === undefined || options === null) {
        return settled(withVars(native.executeSlot, [this.#slot, textNumber(aql)], variables));
      }
      return this.#native.execute(aql, variables ?? null, ...executeOptions(options));
    } catch (e) {
      return Promise.reject(toAuroraError(e));
    }
  }

  /**
   * Like `execute`, on the calling thread: returns the result or throws an AuroraError. It
   * blocks the event loop until the call ends (a durable write waits for its fsync); use it
   * where better-sqlite3 or `node:sqlite`'s `DatabaseSync` would be used.
   */
  executeSync(aql, variables, options) {
    try {
      checkString(aql, 'aql');
      if (options === undefined || options === null) {
        return withVars(native.executeSlotSync, [this.#slot, textNumber(aql)], variables);
      }
      return this.#native.executeSync(aql, variables ?? null, ...executeOptions(options));
    } catch (e) {
      throw toAuroraError(e);
    }
  }

  /**
   * Parses and plans `aql` once and returns a Statement to run with new variables
   * (`stmt.execute(vars)`, `stmt.executeSync(vars)`). Throws an AuroraError (`SYNTAX`, with
   * line and column) for text that does not parse.
   */
  prepare(aql) {
    try {
      checkString(aql, 'aql');
      return new Statement(this.#native.prepare(aql));
    } catch (e) {
      throw toAuroraError(e);
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

  /**
   * How each root field of a query runs, keyed like its result: `strategy` (`indexWalk`,
   * `indexLookup`, `fullScan`, `counter`, `indexCount`), `indexes`, `estimatedRows`,
   * `examinedRows`, `actualRows`, `residualFilter`, `sort`. The query runs, so counts are real.
   */
  explain(aql, variables) {
    return call(() => {
      checkString(aql, 'aql');
      return this.#native.explain(aql, variables ?? null);
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

module.exports = { Aurora, AuroraError, Statement, Subscription, open, PRIORITIES };
