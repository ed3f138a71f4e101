// 20,000 inserts + 1,000 indexed lookups through the Node API of Aurora vs better-sqlite3.
//
//   node bench/bench.mjs [--rounds 5] [--inserts 20000] [--lookups 1000] [--passes 5] [--batch 200] [--warmup 1000] [--json]
//
// Both databases get the same work and the same durability: Aurora's default `WAL` mode (an
// acknowledged write survives a process crash) vs SQLite in WAL mode with synchronous=NORMAL
// (same guarantee). One autocommit insert per document (no explicit transaction on either
// side), a unique index on email and an index on age; lookups by email fetch the whole row.
//
// better-sqlite3 is synchronous; Aurora's API is Promise-based, measured two ways:
//  - sequential: `await db.execute(...)` one call at a time (latency-bound: every call makes
//    a round trip JS thread -> engine thread -> JS thread);
//  - batched:    the same calls issued together and awaited with Promise.all, in batches of
//    --batch (default 200) calls (throughput; the event loop stays free meanwhile).
// Each figure is the median of --rounds rounds, each on fresh databases. Within a round the
// 1,000 lookups run --passes times on each side, the sides taking turns pass by pass, and the
// median pass counts: one pass takes only a few milliseconds, so a single garbage collection,
// preempted thread or slow moment of the machine would otherwise decide it.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { createRequire } from 'node:module';
import { Aurora } from 'aurora-db';

const require = createRequire(import.meta.url);
const args = process.argv.slice(2);
const opt = (name, def) => {
  const i = args.indexOf(`--${name}`);
  return i >= 0 ? Number(args[i + 1]) : def;
};
const ROUNDS = opt('rounds', 5);
const N = opt('inserts', 20000);
const LOOKUPS = opt('lookups', 1000);
const BATCH = opt("batch", 200);
const WARMUP = opt("warmup", 1000); // lookups run on each side before the timed ones
const PASSES = opt('passes', 5); // timed passes over the lookups per round; the median counts
const JSON_OUT = args.includes('--json');

let Database;
try {
  Database = require('better-sqlite3');
  new Database(':memory:').close();
} catch (e) {
  console.error(`better-sqlite3 is not usable (${e.message.split('\n')[0]}).\nRun \`npm install\` (or \`npm rebuild better-sqlite3\`) in node/ first.`);
  process.exit(2);
}

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'aurora-bench-'));
process.on('exit', () => fs.rmSync(tmp, { recursive: true, force: true }));
let seq = 0;
const freshPath = (name) => path.join(tmp, `${name}-${seq++}`);

const now = () => process.hrtime.bigint();
const ms = (t0) => Number(now() - t0) / 1e6;
const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const email = (i) => `user${i}@example.com`;
const lookupOrder = Array.from({ length: LOOKUPS }, (_, i) => (i * 7919) % N);

const SCHEMA = 'schema { define collection users { email: String! @unique  age: Int @indexed  name: String } }';
const INSERT = 'mutation ($e: String!, $a: Int, $n: String) { insertInto(collection: "users", data: { email: $e, age: $a, name: $n }) { email } }';
const LOOKUP = 'query ($e: String) { users(where: { email: { eq: $e } }) { email age name } }';
const row = (i) => ({ e: email(i), a: i % 100, n: `User ${i}` });

// Each side's database is built (inserts timed) and kept open; then the lookup passes
// alternate between the sides, so a slow moment of the machine lands on all of them alike.
async function auroraSide(mode) {
  const db = await Aurora.open(freshPath('aurora'));
  await db.execute(SCHEMA);
  const t = now();
  if (mode === 'sequential') {
    for (let i = 0; i < N; i++) await db.execute(INSERT, row(i));
  } else {
    for (let b = 0; b < N; b += BATCH) {
      const calls = [];
      for (let i = b; i < Math.min(N, b + BATCH); i++) calls.push(db.execute(INSERT, row(i)));
      await Promise.all(calls);
    }
  }
  const insertMs = ms(t);
  for (let i = 0; i < WARMUP; i++) await db.execute(LOOKUP, { e: email(i) }); // warm-up
  const pass = async () => {
    const t = now();
    let found = 0;
    if (mode === 'sequential') {
      for (const i of lookupOrder) found += (await db.execute(LOOKUP, { e: email(i) })).users.length;
    } else {
      for (let b = 0; b < LOOKUPS; b += BATCH) {
        const rs = await Promise.all(lookupOrder.slice(b, b + BATCH).map((i) => db.execute(LOOKUP, { e: email(i) })));
        for (const r of rs) found += r.users.length;
      }
    }
    if (found !== LOOKUPS) throw new Error(`aurora found ${found} of ${LOOKUPS}`);
    return ms(t);
  };
  return { insertMs, pass, close: () => db.close() };
}

function sqliteSide() {
  const db = new Database(`${freshPath('sqlite')}.db`);
  db.pragma('journal_mode = WAL');
  db.pragma('synchronous = NORMAL');
  db.exec('CREATE TABLE users (email TEXT NOT NULL UNIQUE, age INTEGER, name TEXT); CREATE INDEX users_age ON users(age);');
  const ins = db.prepare('INSERT INTO users (email, age, name) VALUES (?, ?, ?)');
  const t = now();
  for (let i = 0; i < N; i++) {
    const r = row(i);
    ins.run(r.e, r.a, r.n);
  }
  const insertMs = ms(t);
  const get = db.prepare('SELECT email, age, name FROM users WHERE email = ?');
  for (let i = 0; i < WARMUP; i++) get.get(email(i)); // warm-up
  const pass = async () => {
    const t = now();
    let found = 0;
    for (const i of lookupOrder) if (get.get(email(i))) found++;
    if (found !== LOOKUPS) throw new Error(`sqlite found ${found} of ${LOOKUPS}`);
    return ms(t);
  };
  return { insertMs, pass, close: async () => db.close() };
}

const results = { sqlite: [], sequential: [], batched: [] };
for (let r = 0; r < ROUNDS; r++) {
  const sides = { sqlite: sqliteSide(), sequential: await auroraSide('sequential'), batched: await auroraSide('batched') };
  const passes = { sqlite: [], sequential: [], batched: [] };
  for (let p = 0; p < PASSES; p++) for (const k of Object.keys(sides)) passes[k].push(await sides[k].pass());
  for (const [k, side] of Object.entries(sides)) {
    results[k].push({ insertMs: side.insertMs, lookupMs: median(passes[k]) });
    await side.close();
  }
}

const summary = {};
for (const [k, rs] of Object.entries(results)) {
  summary[k] = { insertMs: median(rs.map((r) => r.insertMs)), lookupMs: median(rs.map((r) => r.lookupMs)) };
}
const s = summary.sqlite;
const fmt = (x) => x.toFixed(1).padStart(9);
const us = (total, n) => ((total * 1000) / n).toFixed(2).padStart(7);
const ratio = (a, b) => `${(a / b).toFixed(2)}×`.padStart(7);

console.log(`Aurora (Node API) vs better-sqlite3 — ${N} inserts, ${LOOKUPS} lookups by unique email (median of ${PASSES} passes), median of ${ROUNDS} rounds`);
console.log(`node ${process.version}, ${os.cpus().length} CPUs (${os.cpus()[0]?.model ?? '?'}), load ${os.loadavg().map((x) => x.toFixed(2)).join(' ')}`);
console.log('');
console.log('                          inserts ms   µs/insert  vs sqlite   lookups ms   µs/lookup  vs sqlite');
const line = (name, r) =>
  console.log(`${name.padEnd(26)}${fmt(r.insertMs)}   ${us(r.insertMs, N)}  ${ratio(r.insertMs, s.insertMs)}   ${fmt(r.lookupMs)}   ${us(r.lookupMs, LOOKUPS)}  ${ratio(r.lookupMs, s.lookupMs)}`);
line('better-sqlite3 (WAL/NORMAL)', s);
line('aurora, sequential await', summary.sequential);
line(`aurora, Promise.all×${BATCH}`, summary.batched);
console.log('');
console.log('"vs sqlite" is time relative to better-sqlite3: below 1.00× is faster.');
if (JSON_OUT) console.log(JSON.stringify({ inserts: N, lookups: LOOKUPS, passes: PASSES, rounds: ROUNDS, batch: BATCH, summary, results }));
