// Documents as users store them, through the Node API of Aurora vs better-sqlite3 storing the
// same documents as JSON text (expression indexes, `JSON.parse` of each result).
//
//   node bench/documents.mjs [--docs 20000] [--lookups 2000] [--slices 10] [--passes 7] [--json]
//
// Two shapes: `user` = { username, email, age, active, tags: [..] } and `nested` = the same
// plus profile: { city, zip, joined }. Aurora inserts with one variable per field and looks up
// by the unique email; SQLite inserts `JSON.stringify(doc)` and looks up through a unique
// expression index on `json_extract(doc, '$.email')`, parsing the row's JSON. Same durability:
// Aurora's default WAL mode vs SQLite WAL + synchronous=NORMAL; one autocommit insert per
// document on both sides.
//
// Aurora runs four ways: sync / Promise API, each with a prepared statement and with the AQL
// text passed on every call. better-sqlite3 always uses prepared statements. Inserts go in
// --slices slices and lookups in --passes passes, the sides taking turns slice by slice, so a
// slow moment of the machine lands on every side alike; each figure is the median slice/pass.
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
const N = opt('docs', 20000);
const LOOKUPS = opt('lookups', 2000);
const SLICES = opt('slices', 10);
const PASSES = opt('passes', 7);
const JSON_OUT = args.includes('--json');

let Database;
try {
  Database = require('better-sqlite3');
  new Database(':memory:').close();
} catch (e) {
  console.error(`better-sqlite3 is not usable (${e.message.split('\n')[0]}).\nRun \`npm install\` in node/ first.`);
  process.exit(2);
}

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'aurora-docbench-'));
process.on('exit', () => fs.rmSync(tmp, { recursive: true, force: true }));
let seq = 0;
const freshPath = (name) => path.join(tmp, `${name}-${seq++}`);
const now = () => process.hrtime.bigint();
const us = (t0) => Number(now() - t0) / 1e3;
const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

const TAGS = ['red', 'green', 'blue', 'admin', 'beta', 'ops'];
const SHAPES = {
  user: {
    doc: (i) => ({
      username: `user${i}`,
      email: `user${i}@example.com`,
      age: 18 + (i % 62),
      active: i % 3 !== 0,
      tags: [TAGS[i % 6], TAGS[(i * 7) % 6]],
    }),
    schema: 'schema { define collection users { username: String! @unique  email: String! @unique  age: Int @indexed  active: Boolean  tags: [String] } }',
    insert:
      'mutation ($u: String!, $e: String!, $a: Int, $ac: Boolean, $t: [String]) { insertInto(collection: "users", data: { username: $u, email: $e, age: $a, active: $ac, tags: $t }) { username } }',
    vars: (d) => ({ u: d.username, e: d.email, a: d.age, ac: d.active, t: d.tags }),
    lookup: 'query ($e: String) { users(where: { email: { eq: $e } }) { username email age active tags } }',
  },
  nested: {
    doc: (i) => ({
      ...SHAPES.user.doc(i),
      profile: { city: ['Oslo', 'Lima', 'Pune', 'Kyiv'][i % 4], zip: 10000 + (i % 9000), joined: `2026-0${1 + (i % 9)}-15` },
    }),
    schema:
      'schema { define collection users { username: String! @unique  email: String! @unique  age: Int @indexed  active: Boolean  tags: [String]  profile: Object } }',
    insert:
      'mutation ($u: String!, $e: String!, $a: Int, $ac: Boolean, $t: [String], $p: Object) { insertInto(collection: "users", data: { username: $u, email: $e, age: $a, active: $ac, tags: $t, profile: $p }) { username } }',
    vars: (d) => ({ u: d.username, e: d.email, a: d.age, ac: d.active, t: d.tags, p: d.profile }),
    lookup: 'query ($e: String) { users(where: { email: { eq: $e } }) { username email age active tags profile } }',
  },
};

/** One Aurora side: `insert(i)` and `lookup(email)` return nothing / the document. */
function auroraSide(shape, api, prepared) {
  const db = Aurora.openSync(freshPath('aurora'));
  db.executeSync(shape.schema);
  const ins = prepared ? db.prepare(shape.insert) : null;
  const get = prepared ? db.prepare(shape.lookup) : null;
  let insert, lookup;
  if (api === 'sync') {
    insert = prepared ? (d) => ins.executeSync(shape.vars(d)) : (d) => db.executeSync(shape.insert, shape.vars(d));
    lookup = prepared ? (e) => get.executeSync({ e }).users[0] : (e) => db.executeSync(shape.lookup, { e }).users[0];
  } else {
    insert = prepared ? (d) => ins.execute(shape.vars(d)) : (d) => db.execute(shape.insert, shape.vars(d));
    lookup = prepared
      ? async (e) => (await get.execute({ e })).users[0]
      : async (e) => (await db.execute(shape.lookup, { e })).users[0];
  }
  return { insert, lookup, async: api !== 'sync', close: () => db.close() };
}

function sqliteSide() {
  const db = new Database(`${freshPath('sqlite')}.db`);
  db.pragma('journal_mode = WAL');
  db.pragma('synchronous = NORMAL');
  db.exec(`CREATE TABLE users (id INTEGER PRIMARY KEY, doc TEXT NOT NULL);
    CREATE UNIQUE INDEX users_username ON users(json_extract(doc, '$.username'));
    CREATE UNIQUE INDEX users_email ON users(json_extract(doc, '$.email'));
    CREATE INDEX users_age ON users(json_extract(doc, '$.age'));`);
  const ins = db.prepare('INSERT INTO users (doc) VALUES (?)');
  const get = db.prepare("SELECT doc FROM users WHERE json_extract(doc, '$.email') = ?");
  return {
    insert: (d) => ins.run(JSON.stringify(d)),
    lookup: (e) => {
      const row = get.get(e);
      return row && JSON.parse(row.doc);
    },
    async: false,
    close: async () => db.close(),
  };
}

/** Times `work(i)` over `ids`, awaiting each call on async sides; µs per call. */
async function timed(side, ids, work) {
  const t = now();
  if (side.async) for (const i of ids) await work(i);
  else for (const i of ids) work(i);
  return us(t) / ids.length;
}

const WAYS = [
  ['sync, prepared', 'sync', true],
  ['sync, text', 'sync', false],
  ['Promise, prepared', 'promise', true],
  ['Promise, text', 'promise', false],
];

const report = {};
for (const [shapeName, shape] of Object.entries(SHAPES)) {
  const sides = { sqlite: sqliteSide() };
  for (const [name, api, prepared] of WAYS) sides[name] = auroraSide(shape, api, prepared);
  const docs = Array.from({ length: N }, (_, i) => shape.doc(i));
  const insertUs = Object.fromEntries(Object.keys(sides).map((k) => [k, []]));
  const per = Math.ceil(N / SLICES);
  for (let s = 0; s < SLICES; s++) {
    const ids = Array.from({ length: Math.min(per, N - s * per) }, (_, j) => s * per + j);
    for (const [k, side] of Object.entries(sides)) insertUs[k].push(await timed(side, ids, (i) => side.insert(docs[i])));
  }
  const order = Array.from({ length: LOOKUPS }, (_, j) => `user${(j * 7919) % N}@example.com`);
  const lookupUs = Object.fromEntries(Object.keys(sides).map((k) => [k, []]));
  for (let p = 0; p <= PASSES; p++) {
    for (const [k, side] of Object.entries(sides)) {
      let found = 0;
      const t = now();
      if (side.async) for (const e of order) found += (await side.lookup(e))?.email === e ? 1 : 0;
      else for (const e of order) found += side.lookup(e)?.email === e ? 1 : 0;
      const perCall = us(t) / LOOKUPS;
      if (found !== LOOKUPS) throw new Error(`${k} found ${found} of ${LOOKUPS}`);
      if (p > 0) lookupUs[k].push(perCall); // pass 0 warms up
    }
  }
  report[shapeName] = {};
  for (const k of Object.keys(sides)) {
    report[shapeName][k] = { insertUs: median(insertUs[k]), lookupUs: median(lookupUs[k]) };
    await sides[k].close();
  }
}

console.log(`aurora-db vs better-sqlite3 (JSON documents): ${N} inserts in ${SLICES} slices, ${LOOKUPS} lookups by unique email × ${PASSES} passes; medians`);
console.log(`node ${process.version}, ${os.cpus().length} CPUs, load ${os.loadavg().map((x) => x.toFixed(2)).join(' ')}`);
for (const [shapeName, r] of Object.entries(report)) {
  const s = r.sqlite;
  console.log('');
  console.log(`${shapeName.padEnd(22)}  insert µs   inserts/s   vs sqlite   lookup µs   vs sqlite`);
  for (const [k, v] of Object.entries(r)) {
    const rate = Math.round(1e6 / v.insertUs);
    console.log(
      `${k.padEnd(22)}  ${v.insertUs.toFixed(2).padStart(9)}   ${String(rate).padStart(9)}   ${(s.insertUs / v.insertUs).toFixed(2).padStart(8)}×   ${v.lookupUs.toFixed(2).padStart(9)}   ${(s.lookupUs / v.lookupUs).toFixed(2).padStart(8)}×`,
    );
  }
}
console.log('');
console.log('"vs sqlite" is speed relative to better-sqlite3: above 1.00× is faster.');
if (JSON_OUT) console.log(JSON.stringify({ docs: N, lookups: LOOKUPS, slices: SLICES, passes: PASSES, report }));
