// Every way to run AQL gives exactly the same JS values: the Promise `execute` finished on the
// JS thread or on the runtime, `executeSync`, with options, and prepared statements (async and
// sync). Variables and results cross as values, with no JSON text and no generated code.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createRequire } from 'node:module';
import path from 'node:path';
import { spawnSync } from 'node:child_process';
import { Aurora } from 'aurora-db';
import { NODE_DIR, tempDbPath } from './helpers.mjs';

const native = createRequire(import.meta.url)(path.join(NODE_DIR, 'aurora.node'));

const SCHEMA = 'schema { define collection things { k: String! @unique  n: Int  f: Float  s: String  b: Boolean  o: Object  l: [Int] } }';
const INSERT = 'mutation ($d: Object) { insertInto(collection: "things", data: $d) { k } }';
const DOCS = [
  { k: 'a', n: 1, f: 2.5, s: 'ascii', b: true, o: { x: 1 }, l: [1, 2] },
  { k: 'b', n: -7, f: -0.5, s: 'ü ✓ 😀', b: false },
  { k: 'c', n: Number.MAX_SAFE_INTEGER, f: 1e300, s: '', b: null },
  { k: 'd', n: 0, f: 0.1, s: 'quote " backslash \\ nul \u0000 line\n' },
  { k: 'e', n: 2n ** 62n },
  { k: 'f' },
];

const QUERIES = [
  'query { things { k n f s b } }',
  'query { things(where: { n: { gt: -100 } }) { k n } }',
  'query { things { key: k number: n text: s } }',
  'query { things { k k } }', // a repeated key
  'query { things { k o } }', // an object value
  'query { things { k l } }', // an array value
  'query { things { k missing: n } }',
  'query { things(where: { k: { eq: "nope" } }) { k } }',
  'query { things(where: { k: { in: ["a", "b", "c", "d", "f"] } }) { k n f s b } }',
  'query { things(where: { k: { eq: "e" } }) { k n } }', // an Int beyond 2^53: a BigInt
  'query { __proto__: things { k } }', // a key an object literal would take as the prototype
  'query { things { __proto__: k n } }',
  'query { things { k _sid } }',
  'query { things(limit: 2, orderBy: { k: DESC }) { s } }',
  'query { stuff: things { f } }',
];

async function seeded(config) {
  const db = await Aurora.open(tempDbPath(), config);
  await db.execute(SCHEMA);
  for (const d of DOCS) await db.execute(INSERT, { d });
  return db;
}

/** Replaces system ids (different in each database) by their order of appearance. */
function withoutSids(result) {
  const seen = new Map();
  return JSON.parse(
    JSON.stringify(result, (k, v) => (typeof v === 'bigint' ? `${v}n` : v)).replace(/"[0-9a-f]{8}-[0-9a-f-]{27}"/g, (sid) => {
      if (!seen.has(sid)) seen.set(sid, `sid${seen.size}`);
      return `"${seen.get(sid)}"`;
    }),
  );
}

test('execute, executeSync, options and prepared statements give the same values', async () => {
  // eagerBudgetUs 0: every Promise call runs on the runtime.
  const [fast, general] = await Promise.all([seeded(), seeded({ eagerBudgetUs: 0 })]);
  try {
    for (const q of QUERIES) {
      const expected = await general.execute(q);
      const same = (got, how) => {
        if (q.includes('_sid')) assert.deepEqual(withoutSids(got), withoutSids(expected), `${q} (${how})`);
        else assert.deepEqual(got, expected, `${q} (${how})`);
      };
      const stmt = fast.prepare(q);
      // The first run of a text goes to the runtime; the later ones finish on this thread.
      for (let i = 0; i < 4; i++) {
        same(await fast.execute(q), `execute, run ${i}`);
        same(fast.executeSync(q), `executeSync, run ${i}`);
        same(await fast.execute(q, null, {}), `execute with options, run ${i}`);
        same(fast.executeSync(q, undefined, {}), `executeSync with options, run ${i}`);
        same(await stmt.execute(), `statement, run ${i}`);
        same(stmt.executeSync(null), `statement sync, run ${i}`);
      }
    }
    const floats = await fast.execute('query { things { f } }');
    assert.ok(Object.is(floats.things[1].f, -0.5) && Object.is(floats.things[3].f, 0.1));
    const big = await fast.execute('query { things(where: { k: { eq: "e" } }) { n } }');
    assert.equal(big.things[0].n, 2n ** 62n);
    const proto = await fast.execute('query { things { __proto__: k } }');
    assert.equal(Object.getPrototypeOf(proto.things[0]), Object.prototype);
    assert.equal(Object.getOwnPropertyDescriptor(proto.things[0], '__proto__').value, 'a');
    // debugAudit adds `_sid` to each row unless selected.
    const audited = await fast.execute('query { things(where: { k: { eq: "a" } }) { k } }', null, { debugAudit: true });
    assert.deepEqual(Object.keys(audited.things[0]), ['k', '_sid']);
  } finally {
    await Promise.all([fast.close(), general.close()]);
  }
});

test('large lists (beyond one call) and many shapes come out right', async () => {
  const db = await Aurora.open(tempDbPath());
  try {
    await db.execute('schema { define collection big { i: Int @unique  t: String } }');
    for (let i = 0; i < 600; i++) await db.execute('mutation ($i: Int) { insertInto(collection: "big", data: { i: $i, t: "x" }) { i } }', { i });
    for (let run = 0; run < 3; run++) {
      const all = await db.execute('query { big(orderBy: { i: ASC }) { i t } }'); // 1,200 values
      assert.equal(all.big.length, 600);
      assert.deepEqual(all.big[599], { i: 599, t: 'x' });
      const some = await db.execute('query { big(orderBy: { i: ASC }, limit: 300) { i t } }');
      assert.deepEqual(some.big.map((r) => r.i), [...Array(300).keys()]);
    }
    // More shapes than the native side keeps: it starts over and stays correct.
    for (let i = 0; i < 700; i++) {
      const r = await db.execute(`query { big(where: { i: { eq: ${i % 600} } }) { a${i}: i } }`);
      assert.deepEqual(r, { big: [{ [`a${i}`]: i % 600 }] });
    }
    // More texts than are numbered for the native side (4,096 per thread): the rest go over
    // as strings, with the same results.
    for (let i = 0; i < 4200; i++) {
      const r = await db.execute(`query ($i: Int) { big(where: { i: { eq: $i } }) { i } } # text ${i}`, { i: i % 600 });
      assert.deepEqual(r, { big: [{ i: i % 600 }] });
    }
  } finally {
    await db.close();
  }
});

test('the native functions hand back the value itself once a text is known to be cheap', async () => {
  const n = await native.open(tempDbPath(), null);
  try {
    const slot = n.slot();
    await native.executeSlot(slot, SCHEMA, null);
    for (const d of DOCS.filter((d) => typeof d.n !== 'bigint')) await native.executeSlot(slot, INSERT, { d });
    const q = 'query ($k: String) { things(where: { k: { eq: $k } }) { k o l } }';
    const first = native.executeSlot(slot, q, { k: 'a' });
    assert.ok(first instanceof Promise, 'the first run of a text goes to the runtime');
    const expected = { things: [{ k: 'a', o: { x: 1 }, l: [1, 2] }] };
    assert.deepEqual(await first, expected);
    // How fast a run was is measured, so a preempted run (a busy machine) keeps the text on the
    // runtime for a few more calls; awaited runs bring it back. Bounded: it must become eager.
    let settled = null;
    for (let i = 0; i < 500 && settled === null; i++) {
      const r = native.executeSlot(slot, q, 'k', 'a');
      if (r instanceof Promise) assert.deepEqual(await r, expected);
      else settled = r;
    }
    assert.ok(settled !== null, 'a cheap text finishes at once: the value itself');
    assert.deepEqual(await settled, expected);
    assert.deepEqual(native.executeSlotSync(slot, q, { k: 'a' }), expected);
    const stmt = n.prepare(q);
    assert.equal(stmt.text, q);
    assert.deepEqual(native.statementExecuteSync(stmt.slot(), { k: 'a' }), expected);
    assert.deepEqual(await native.statementExecute(stmt.slot(), { k: 'a' }), expected);
    // Slots that hold nothing are errors, not crashes.
    assert.throws(() => native.executeSlot(9999, q, null), { code: 'VALIDATION' });
    assert.throws(() => native.statementExecuteSync(9999, null), { code: 'VALIDATION' });
    assert.throws(() => native.executeSlotSync('x', q, null));
  } finally {
    await n.close();
  }
});

test('variables mean the same on every path: no options, options, sync and prepared', async () => {
  const db = await Aurora.open(tempDbPath());
  try {
    await db.execute('schema { define collection c { k: String! @unique  v: Any  w: Any } }');
    const put = 'mutation ($k: String, $v: Any, $w: Any) { insertInto(collection: "c", data: { k: $k, v: $v, w: $w }) { v w } }';
    const values = [0, -0, 1, -7, 2.5, 0.1, 1e-7, Number.MAX_SAFE_INTEGER, -Number.MAX_SAFE_INTEGER, 1e21, 2 ** 60, 'ü ✓', '', 'x'.repeat(5000), true, false, null];
    // Strings around the one-call read's 256-byte buffer, ending in 1-, 2- and 4-byte characters.
    for (let n = 248; n <= 260; n++) values.push('x'.repeat(n), 'x'.repeat(n - 2) + 'é', 'x'.repeat(n - 4) + '😀');
    const stmt = db.prepare(put);
    for (const [i, v] of values.entries()) {
      // No options: the slot path. Options: the class method path.
      const fast = await db.execute(put, { k: `a${i}`, v, w: undefined });
      const general = await db.execute(put, { k: `j${i}`, v, w: undefined }, {});
      assert.deepEqual(db.executeSync(put, { k: `s${i}`, v, w: undefined }), fast, `value #${i} (sync)`);
      assert.deepEqual(stmt.executeSync({ k: `t${i}`, v, w: undefined }), fast, `value #${i} (statement)`);
      assert.deepEqual(fast, general, `value #${i}`);
      assert.ok(Object.is(fast.insertInto.v, general.insertInto.v), `value #${i}: ${fast.insertInto.v}`);
      if (typeof v === 'string') assert.equal(fast.insertInto.v, v, `string #${i} comes back whole`);
      assert.equal(fast.insertInto.w, null);
    }
    // Integral numbers within 2^53 are Ints, others Floats, on both paths.
    const ints = await db.execute('query ($v: Int) { c(where: { v: { eq: $v } }) { k } }', { v: -7 });
    assert.deepEqual(ints.c.map((d) => d.k).sort(), ['a3', 'j3', 's3', 't3']);
    const floats = await db.execute('query ($v: Float) { c(where: { v: { eq: $v } }) { k } }', { v: 2 ** 60 });
    assert.deepEqual(floats.c.map((d) => d.k).sort(), ['a10', 'j10', 's10', 't10']);
    // Four variables, BigInts and class instances are read the same way.
    const four = 'query ($a: Any, $b: Any, $c: Any, $d: Any) { c(where: { v: { in: [$a, $b, $c, $d] } }) { k } }';
    assert.equal((await db.execute(four, { a: 0, b: 1, c: 2.5, d: -7 })).c.length, 20); // 0 and -0 are both 0
    assert.equal((await db.execute('query ($v: Int) { c(where: { v: { eq: $v } }) { k } }', { v: 1n })).c.length, 4);
    class Vars { constructor() { this.v = 1; } }
    assert.equal((await db.execute('query ($v: Int) { c(where: { v: { eq: $v } }) { k } }', new Vars())).c.length, 4);
    // Errors are the same on every path: rejections, and AuroraError throws from the sync ones.
    const byInt = 'query ($v: Int) { c(where: { v: { eq: $v } }) { k } }';
    for (const options of [undefined, {}]) {
      await assert.rejects(db.execute(byInt, { v: 'text' }, options), { name: 'AuroraError', code: 'VALIDATION' });
      await assert.rejects(db.execute(put, { k: 'a0', v: 1 }, options), { name: 'AuroraError', code: 'UNIQUE_VIOLATION' });
      await assert.rejects(db.execute(put, { k: 'n', v: NaN }, options), { name: 'AuroraError', code: 'VALIDATION' });
      assert.throws(() => db.executeSync(byInt, { v: 'text' }, options), { name: 'AuroraError', code: 'VALIDATION' });
      assert.throws(() => db.executeSync(put, { k: 'a0', v: 1 }, options), { name: 'AuroraError', code: 'UNIQUE_VIOLATION' });
      assert.throws(() => db.executeSync(put, { k: 'n', v: NaN }, options), { name: 'AuroraError', code: 'VALIDATION' });
    }
    await assert.rejects(stmt.execute({ k: 'a0', v: 1 }), { name: 'AuroraError', code: 'UNIQUE_VIOLATION' });
    assert.throws(() => stmt.executeSync({ k: 'n', v: NaN }), { name: 'AuroraError', code: 'VALIDATION' });
  } finally {
    await db.close();
  }
});

test('with code generation from strings disallowed, every path gives the same results', async () => {
  const script = `
    const { Aurora } = require(${JSON.stringify(NODE_DIR)});
    (async () => {
      const db = await Aurora.open(${JSON.stringify(tempDbPath())});
      await db.execute('schema { define collection c { k: String! @unique  n: Int } }');
      await db.execute('mutation { insertInto(collection: "c", data: { k: "a", n: 1 }) { k } }');
      const out = [];
      const q = 'query ($k: String) { c(where: { k: { eq: $k } }) { k n } }';
      const stmt = db.prepare(q);
      for (let i = 0; i < 5; i++) out.push(await db.execute(q, { k: 'a' }), db.executeSync(q, { k: 'a' }), stmt.executeSync({ k: 'a' }));
      await db.close();
      console.log(JSON.stringify(out));
    })();`;
  const r = spawnSync(process.execPath, ['--disallow-code-generation-from-strings', '-e', script], { encoding: 'utf8', timeout: 60000 });
  assert.equal(r.status, 0, r.stderr);
  assert.deepEqual(JSON.parse(r.stdout), Array(15).fill({ c: [{ k: 'a', n: 1 }] }));
});

test('the addon loaded without index.js (no decoder) builds the same values through N-API', () => {
  const script = `
    const n = require(${JSON.stringify(path.join(NODE_DIR, 'aurora.node'))});
    const db = n.openSync(${JSON.stringify(tempDbPath())}, null);
    const slot = db.slot();
    n.executeSlotSync(slot, ${JSON.stringify(SCHEMA)}, null);
    for (const d of ${JSON.stringify(DOCS.filter((d) => typeof d.n !== 'bigint'))}) n.executeSlotSync(slot, ${JSON.stringify(INSERT)}, { d });
    n.executeSlotSync(slot, ${JSON.stringify(INSERT)}, { d: { k: 'e', n: 2n ** 62n } });
    const out = n.executeSlotSync(slot, 'query { things(orderBy: { k: ASC }) { k n f s b o l __proto__: k } }', null);
    const e = out.things.find((t) => t.k === 'e');
    console.log(JSON.stringify({ out, bigint: typeof e.n, proto: Object.getPrototypeOf(out.things[0]) === Object.prototype }, (k, v) => (typeof v === 'bigint' ? String(v) : v)));`;
  const r = spawnSync(process.execPath, ['-e', script], { encoding: 'utf8', timeout: 60000 });
  assert.equal(r.status, 0, r.stderr);
  const got = JSON.parse(r.stdout);
  assert.equal(got.bigint, 'bigint');
  assert.equal(got.proto, true);
  assert.equal(got.out.things.length, 6);
  // JSON.parse, as an object literal would take `__proto__` as the prototype.
  const first = JSON.parse('{"k":"a","n":1,"f":2.5,"s":"ascii","b":true,"o":{"x":1},"l":[1,2],"__proto__":"a"}');
  assert.deepEqual(got.out.things[0], first);
});
