// Type-checked (never run) by types.test.mjs: the public API as an ESM TypeScript user sees it.
import { Aurora, AuroraError, Statement, Subscription, open, PRIORITIES } from 'aurora-db';
import type { AuroraConfig, AuroraLimits, ChangeEvent, ErrorCode, Job, JsonValue, LaggedEvent, QueryPlan, RunningJob, StreamEvent } from 'aurora-db';

const limits: AuroraLimits = { maxQueryBytes: 65536, max_depth: 32, queryTimeMs: 0 };
const config: AuroraConfig = { hotCacheSizeMb: 64, durabilityMode: 'strict', workerThreads: 2, limits };
const db: Aurora = await Aurora.open('db', config);
const db2: Aurora = await open('db2');
const db3: Aurora = Aurora.openSync('db3', config);
const syncRows = db3.executeSync<{ users: { email: string }[] }>('query { users { email } }', null, { debugAudit: false });
const syncEmail: string | undefined = syncRows.users[0]?.email;
const stmt: Statement = db3.prepare('query ($e: String) { users(where: { email: { eq: $e } }) { email tags } }');
const stmtText: string = stmt.text;
const plans = await db.explain('query ($e: String) { users(where: { email: { eq: $e } }) { email } }', { e: 'a' });
const plan: QueryPlan | undefined = plans.users;
const strategy: string | undefined = plan?.strategy;
const examined: number | undefined = plan?.examinedRows;
const viaStmt = await stmt.execute<{ users: { email: string; tags: string[] }[] }>({ e: 'a' });
const tags: string[] | undefined = viaStmt.users[0]?.tags;
const viaStmtSync = stmt.executeSync({ e: 'a' });
const rows = await db.execute<{ users: { email: string }[] }>('query ($e: String) { users(where: { email: { eq: $e } }) { email } }', { e: 'a' });
const first: string | undefined = rows.users[0]?.email;
const anyResult = await db.execute('query { users { email } }', null, { debugAudit: true, operationName: null });
const stream: Subscription<StreamEvent | LaggedEvent> = db.stream('subscription { users { email } }');
for await (const ev of stream) {
  if (ev.operation === 'lagged') {
    const missed: number = ev.missed;
  } else {
    const data: { [k: string]: JsonValue } | null = ev.data;
    const left: boolean = ev.leftFilter;
  }
  break;
}
const listener = db.listen('users');
const ev = await listener.recv(100);
if (ev && ev.operation !== 'lagged') {
  const change: ChangeEvent = ev;
  const lsn: number = change.lsn;
}
listener.close();
const closed: boolean = listener.closed;
db.registerHandler('email', async (job: Job) => {
  const to = job.payload.to;
});
db.registerHandler('sync', (job) => job.attempts);
db.registerHandler('long', async (job: RunningJob) => {
  const stopEarly: boolean = job.cancelled;
});
const id: string = await db.enqueue('email', { to: 'a@x.io' }, { priority: 'high', maxRetries: 5 });
await db.startWorkers(4);
await db.startWorkers();
const job: Job | null = await db.jobStatus(id);
const dead: Job[] = await db.deadLetters();
await db.stopWorkers();
try {
  await db.execute('query {');
} catch (e) {
  if (e instanceof AuroraError) {
    const code: ErrorCode = e.code;
    const line: number | null = e.line;
    const column: number | null = e.column;
    const message: string = e.message;
  }
}
const codes: readonly ErrorCode[] = AuroraError.CODES;
const p: readonly string[] = PRIORITIES;
const path: string = db.path;
await db.close();
await db2.close();
export {};
// @ts-expect-error: unknown config keys are type errors (and rejected at runtime).
const typo: AuroraConfig = { hotCacheSizeMB: 1 };
const snake: AuroraConfig = { hot_cache_size_mb: 8, durability_mode: 'Strict' };
