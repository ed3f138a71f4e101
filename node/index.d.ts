// Type definitions of aurora-db (the runtime is index.js / index.mjs; both export the same API).

/** A value as stored in and returned by Aurora. Integers beyond ±(2^53 − 1) are `bigint`s. */
export type JsonValue = null | boolean | number | bigint | string | JsonValue[] | { [key: string]: JsonValue };

/** A document (or any JSON object) as returned by Aurora. */
export type Document = { [field: string]: JsonValue };

/** Stable error codes, the same in every Aurora binding. */
export type ErrorCode =
  | 'SYNTAX'
  | 'VALIDATION'
  | 'NOT_FOUND'
  | 'UNIQUE_VIOLATION'
  | 'TYPE_ERROR'
  | 'CLOSED'
  | 'IO'
  | 'HANDLER'
  | 'INTERNAL'
  | 'LIMIT';

/** Job priority; any letter case is accepted (`'high'`, `'High'`). */
export type JobPriority =
  | 'LOW'
  | 'NORMAL'
  | 'HIGH'
  | 'CRITICAL'
  | 'low'
  | 'normal'
  | 'high'
  | 'critical'
  | (string & {});

export type JobStatusName = 'PENDING' | 'RUNNING' | 'COMPLETED' | 'FAILED' | 'DEAD_LETTER';

/**
 * Bounds on what one request may cost (`AuroraConfig.limits`); camelCase or snake_case keys,
 * unknown keys are rejected, limits left out keep their defaults. A request past a limit fails
 * with code `LIMIT`, naming the limit.
 */
export interface AuroraLimits {
  /** Longest AQL text accepted, in bytes (default 1 MiB). */
  maxQueryBytes?: number;
  /** Most fragment definitions in one AQL text (default 1000). */
  maxFragments?: number;
  /** Most fields a selection may have once every fragment is expanded (default 10000). */
  maxSelectionFields?: number;
  /** Deepest nesting of selections, fragment spreads, filters and values (default 64). */
  maxDepth?: number;
  /** Most root fields (aliases included) in one operation (default 256). */
  maxRootFields?: number;
  /** Most values in one `in` list (default 10000). */
  maxInValues?: number;
  /** Most documents one query may return or hold at once (default 1000000). */
  maxResultRows?: number;
  /** Time budget of one query in ms; 0 disables it (default 30000). */
  queryTimeMs?: number;
  /** Largest commit (the encoded size of all its writes), in bytes (default 256 MiB). */
  maxCommitBytes?: number;
  /** Byte budget of the cache of parsed AQL texts (default 16 MiB). */
  planCacheBytes?: number;
  max_query_bytes?: number;
  max_fragments?: number;
  max_selection_fields?: number;
  max_depth?: number;
  max_root_fields?: number;
  max_in_values?: number;
  max_result_rows?: number;
  query_time_ms?: number;
  max_commit_bytes?: number;
  plan_cache_bytes?: number;
}

/** Database settings (`AuroraConfig`); camelCase or snake_case keys, unknown keys are rejected. */
export interface AuroraConfig {
  /** LRU memory budget for hot documents (default 256). */
  hotCacheSizeMb?: number;
  evictionPolicy?: 'LRU' | 'lru';
  /** sled page cache (default 1024). */
  coldCacheCapacityMb?: number;
  coldMode?: 'HighThroughput' | 'LowSpace' | (string & {});
  /** Start the job workers on open (default false). */
  workersEnabled?: boolean;
  /** Default worker concurrency (default 4). */
  workerThreads?: number;
  enableWriteBuffering?: boolean;
  writeBufferSize?: number;
  writeBufferFlushIntervalMs?: number;
  enableWal?: boolean;
  /** `none`, `wal` (default), `strict` or `synchronous`, any case. */
  durabilityMode?: 'None' | 'WAL' | 'Strict' | 'Synchronous' | 'none' | 'wal' | 'strict' | 'synchronous' | (string & {});
  checkpointIntervalMs?: number;
  autoCompact?: boolean;
  compactIntervalMins?: number;
  /** When set, every mutation is appended to this file as one JSON line. */
  auditLogPath?: string | null;
  /** Bounds on what one request may cost; `null` keeps every default. */
  limits?: AuroraLimits | null;
  hot_cache_size_mb?: number;
  eviction_policy?: 'LRU' | 'lru';
  cold_cache_capacity_mb?: number;
  cold_mode?: 'HighThroughput' | 'LowSpace' | (string & {});
  workers_enabled?: boolean;
  worker_threads?: number;
  enable_write_buffering?: boolean;
  write_buffer_size?: number;
  write_buffer_flush_interval_ms?: number;
  enable_wal?: boolean;
  durability_mode?: 'None' | 'WAL' | 'Strict' | 'Synchronous' | 'none' | 'wal' | 'strict' | 'synchronous' | (string & {});
  checkpoint_interval_ms?: number;
  auto_compact?: boolean;
  compact_interval_mins?: number;
  audit_log_path?: string | null;
}

/** Options of `execute`. */
export interface ExecuteOptions {
  /** Every returned document carries its `_sid`. */
  debugAudit?: boolean;
  debug_audit?: boolean;
  /** Run only the operation with this name of a document holding several. */
  operationName?: string | null;
  operation_name?: string | null;
}

/** Options of `enqueue`. */
export interface EnqueueOptions {
  /** Default `'NORMAL'`. */
  priority?: JobPriority;
  /** Default 3. */
  maxRetries?: number;
  max_retries?: number;
}

/** What `explain` reports for one root field of a query. */
export interface QueryPlan {
  collection: string;
  /** `list`, `page`, `aggregate` or `count`. */
  kind: 'list' | 'page' | 'aggregate' | 'count';
  /** How rows are found. */
  strategy: 'empty' | 'indexWalk' | 'indexLookup' | 'fullScan' | 'counter' | 'indexCount';
  /** The index walked in order (`indexWalk`), else null. */
  walkedIndex: string | null;
  /** Indexed fields that served the filter or the order. */
  indexes: string[];
  estimatedRows: number;
  examinedRows: number;
  actualRows: number;
  /** Documents were checked against (part of) the filter after the indexes. */
  residualFilter: boolean;
  sort: 'none' | 'index' | 'full' | { topK: number };
  /** Pages only: read with `last`/`before`. */
  backward?: boolean;
}

/** What `memoryStats` reports: bytes held by each cache and buffer, and the budgets. */
export interface MemoryStats {
  hotCacheBytes: number;
  hotCacheBudget: number;
  hotCacheDocuments: number;
  planCacheBytes: number;
  planCacheBudget: number;
  planCacheEntries: number;
  writeBufferEntries: number;
  writeBufferBytes: number;
  indexCacheBytes: number;
  indexCacheBudget: number;
  coldCacheBudget: number;
}

/** A job as handlers, `jobStatus` and `deadLetters` see it. */
export interface Job {
  id: string;
  jobType: string;
  status: JobStatusName;
  priority: 'LOW' | 'NORMAL' | 'HIGH' | 'CRITICAL';
  attempts: number;
  maxRetries: number;
  lastError: string | null;
  payload: Document;
}

/** A job as a handler receives it. */
export interface RunningJob extends Job {
  /** True once this attempt was cancelled (it timed out, or the workers are stopping). */
  readonly cancelled: boolean;
}

/** An event of an AQL subscription (`db.stream`): the projected document. */
export interface StreamEvent {
  operation: 'insert' | 'update' | 'delete';
  collection: string;
  _sid: string;
  data: Document | null;
  /** True when an update made the document stop matching the filter (reported as a delete). */
  leftFilter: boolean;
}

/** A change event of a listener (`db.listen`). */
export interface ChangeEvent {
  operation: 'insert' | 'update' | 'delete';
  collection: string;
  _sid: string;
  lsn: number;
  /** The document after the change (null for a delete). */
  data: Document | null;
  /** The document before an update or delete, when known. */
  before: Document | null;
}

/** Sent instead of events a slow subscriber missed; the subscription continues. */
export interface LaggedEvent {
  operation: 'lagged';
  missed: number;
}

/** An engine error. AQL errors carry the 1-based `line` and `column`. */
export declare class AuroraError extends Error {
  constructor(message: string, code?: ErrorCode, line?: number | null, column?: number | null);
  readonly name: 'AuroraError';
  code: ErrorCode;
  line: number | null;
  column: number | null;
  static readonly CODES: readonly ErrorCode[];
}

/**
 * A live subscription, returned synchronously by `db.stream()` and `db.listen()`. Iterate it
 * with `for await`; `break` closes it, as does `close()`.
 */
export declare class Subscription<E = StreamEvent | ChangeEvent | LaggedEvent> implements AsyncIterableIterator<E> {
  private constructor();
  /** The next event, or `null` when `timeoutMs` passes first; rejects with `CLOSED` once closed. */
  recv(timeoutMs?: number | null): Promise<E | null>;
  /** Async-iterator protocol: the next event, `{ done: true }` once closed. */
  next(): Promise<IteratorResult<E, undefined>>;
  /** Closes the subscription (called by `break`). */
  return(): Promise<IteratorResult<E, undefined>>;
  /** Closes the subscription and rethrows `error`. */
  throw(error?: unknown): Promise<IteratorResult<E, undefined>>;
  [Symbol.asyncIterator](): this;
  /** Closes the subscription; a pending `next()` ends. Idempotent. */
  close(): void;
  readonly closed: boolean;
}

/**
 * A prepared AQL statement (`db.prepare(aql)`): parsed and planned once, run with new
 * variables. Once its database is closed every run fails with `CLOSED`; a schema change
 * keeps it valid.
 */
export declare class Statement {
  private constructor();
  /** The AQL text it was prepared from. */
  readonly text: string;
  /** Runs the statement with `variables`; resolves to plain JS data keyed by root field. */
  execute<T = any>(variables?: Record<string, unknown> | null): Promise<T>;
  /** Like `execute`, on the calling thread (blocks the event loop): the result, or a throw. */
  executeSync<T = any>(variables?: Record<string, unknown> | null): T;
}

/** An open database. */
export declare class Aurora {
  private constructor();
  /** Opens (or creates) the database in directory `path`. */
  static open(path: string, config?: AuroraConfig | null): Promise<Aurora>;
  /** Like `open`, on the calling thread (blocks the event loop while the database opens). */
  static openSync(path: string, config?: AuroraConfig | null): Aurora;
  /** The directory the database was opened at. */
  readonly path: string;
  /** True once `close()` ran. */
  readonly closed: boolean;
  /**
   * Executes AQL. Pass values as `variables` (never by building AQL text) to be safe from
   * injection. Resolves to plain JS data keyed by root field (SPEC §4.11).
   */
  execute<T = any>(aql: string, variables?: Record<string, unknown> | null, options?: ExecuteOptions | null): Promise<T>;
  /**
   * Like `execute`, on the calling thread: returns the result or throws an AuroraError. Blocks
   * the event loop until the call ends (a durable write waits for its fsync).
   */
  executeSync<T = any>(aql: string, variables?: Record<string, unknown> | null, options?: ExecuteOptions | null): T;
  /** Parses and plans `aql` once; throws an AuroraError (`SYNTAX`) for text that does not parse. */
  prepare(aql: string): Statement;
  /** Opens an AQL subscription (`subscription { coll(where: ...) { fields } }`). */
  stream(aql: string, variables?: Record<string, unknown> | null): Subscription<StreamEvent | LaggedEvent>;
  /** Listens to every change of `collection` (`'*'`: all collections). */
  listen(collection: string): Subscription<ChangeEvent | LaggedEvent>;
  /**
   * Registers the handler of `jobType`. It may be sync or async; a throw or a rejected Promise
   * fails the attempt (retried with backoff, then dead-lettered).
   */
  registerHandler(jobType: string, handler: (job: RunningJob) => unknown): void;
  /** Enqueues a job; resolves to its id. */
  enqueue(jobType: string, payload?: Record<string, unknown> | null, options?: EnqueueOptions | null): Promise<string>;
  /** Starts the worker pool (`concurrency` defaults to the config's `workerThreads`). */
  startWorkers(concurrency?: number | null): Promise<void>;
  /** Stops the worker pool; running jobs finish or return to Pending. */
  stopWorkers(): Promise<void>;
  /** The job with this id, or null. */
  jobStatus(id: string): Promise<Job | null>;
  /** How each root field of a query runs, keyed like its result (see {@link QueryPlan}). */
  explain(aql: string, variables?: Record<string, unknown> | null): Promise<Record<string, QueryPlan>>;
  /** Bytes each cache and buffer holds, next to its budget. */
  memoryStats(): Promise<MemoryStats>;
  /** Jobs that ran out of retries. */
  deadLetters(): Promise<Job[]>;
  /** Closes the database (stops workers, ends subscriptions). Idempotent. */
  close(): Promise<void>;
}

/** Same as `Aurora.open(path, config)`. */
export declare function open(path: string, config?: AuroraConfig | null): Promise<Aurora>;

/** The job priorities, lowest first. */
export declare const PRIORITIES: readonly ['LOW', 'NORMAL', 'HIGH', 'CRITICAL'];

