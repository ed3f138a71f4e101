// The Promise API: results, value conversion, errors with codes and positions, closed handles.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Aurora, AuroraError, open, PRIORITIES } from 'aurora-db';
import { tempDbPath } from './helpers.mjs';

const SCHEMA = 'schema { define collection users { email: String! @unique  age: Int @indexed  score: Float  tags: [String]  meta: Object } }';
const INSERT = 'mutation ($d: Object) { insertInto(collection: "users", data: $d) { email age score tags meta } }';

async function withDb(fn, config) {
  const db = await Aurora.open(tempDbPath(), config);
  try {
    await db.execute(SCHEMA);
    return await fn(db);
  } finally {
    await db.close();
  }
}

test('open, execute and close resolve with plain JS data', async () => {
  const path = tempDbPath();
  const db = await open(path, { durabilityMode: 'wal', hot_cache_size_mb: 16 });
  assert.ok(db instanceof Aurora);
  assert.equal(db.path, path);
  assert.equal(db.closed, false);
  const schema = await db.execute(SCHEMA);
  assert.deepEqual(schema, { schema: [{ collection: 'users', status: 'created' }] });
  const r = await db.execute(
    'mutation ($e: String!, $a: Int) { insertInto(collection: "users", data: { email: $e, age: $a }) { email age } }',
    { e: 'a@x.io', a: 30 },
  );
  assert.deepEqual(r, { insertInto: { email: 'a@x.io', age: 30 } });
  assert.equal(Object.getPrototypeOf(r), Object.prototype, 'plain objects');
  assert.deepEqual(Object.keys(r.insertInto), ['email', 'age'], 'selection order');
  const q = await db.execute('query { users(where: { age: { gt: 25 } }) { email } }');
  assert.deepEqual(q, { users: [{ email: 'a@x.io' }] });
  await db.close();
  assert.equal(db.closed, true);
  await db.close(); // idempotent
});

test('memoryStats reports each cache next to its budget; a closed handle rejects', async () => {
  const db = await Aurora.open(tempDbPath(), { hot_cache_size_mb: 8 });
  await db.execute(SCHEMA);
  await db.execute(INSERT, { d: { email: 'a@x.io', age: 3 } });
  const m = await db.memoryStats();
  assert.equal(m.hotCacheBudget, 8 * 1024 * 1024);
  assert.ok(m.writeBufferEntries > 0 && m.writeBufferBytes > 0);
  assert.ok(m.indexCacheBytes >= 0 && m.indexCacheBytes <= m.indexCacheBudget);
  assert.ok(m.coldCacheBudget > 0);
  await db.close();
  await assert.rejects(db.memoryStats(), (e) => e instanceof AuroraError && e.code === 'CLOSED');
});

test('explain reports each root field plan; mutations and closed handles reject', async () => {
  const db = await Aurora.open(tempDbPath());
  await db.execute(SCHEMA);
  for (let i = 0; i < 10; i++) await db.execute(INSERT, { d: { email: `u${i}@x.io`, age: i } });
  const plan = await db.explain('query ($e: String) { one: users(where: { email: { eq: $e } }) { age } top: users(orderBy: { age: DESC }, limit: 2) { age } }', { e: 'u3@x.io' });
  assert.equal(plan.one.strategy, 'indexLookup');
  assert.deepEqual(plan.one.indexes, ['email']);
  assert.equal(plan.one.actualRows, 1);
  assert.deepEqual(plan.top.sort, { topK: 2 });
  assert.deepEqual(await db.execute('query @explain { top: users(orderBy: { age: DESC }, limit: 2) { age } }'), { top: plan.top });
  await assert.rejects(db.explain('mutation { deleteFrom(collection: "users") { age } }'), (e) => e instanceof AuroraError && e.code === 'VALIDATION');
  await assert.rejects(db.explain(42), (e) => e instanceof AuroraError && e.code === 'VALIDATION');
  assert.deepEqual(await db.execute('query { users { aggregate { count } } }'), { users: { aggregate: { count: 10 } } });
  await db.close();
  await assert.rejects(db.explain('query { users { age } }'), (e) => e instanceof AuroraError && e.code === 'CLOSED');
});

test('values round-trip: nested objects, arrays, floats, booleans, null, unicode', async () => {
  await withDb(async (db) => {
    const data = { email: 'ü@x.io ✓', age: -7, score: 2.5, tags: ['a', 'b'], meta: { deep: { list: [1, 2.25, true, null, 'x'] }, ok: false } };
    const r = await db.execute(INSERT, { d: data });
    assert.deepEqual(r.insertInto, data);
    const q = await db.execute('query { users { email meta } }');
    assert.deepEqual(q.users[0].meta, data.meta);
  });
});

test('64-bit integers: safe ints are numbers, larger ones are BigInt both ways', async () => {
  await withDb(async (db) => {
    const big = 2n ** 62n + 1n;
    const r1 = await db.execute(INSERT, { d: { email: 'big', age: big } });
    assert.equal(r1.insertInto.age, big);
    assert.equal(typeof r1.insertInto.age, 'bigint');
    const r2 = await db.execute(INSERT, { d: { email: 'neg', age: -(2n ** 63n) } });
    assert.equal(r2.insertInto.age, -(2n ** 63n));
    const r3 = await db.execute(INSERT, { d: { email: 'safe', age: Number.MAX_SAFE_INTEGER } });
    assert.equal(r3.insertInto.age, Number.MAX_SAFE_INTEGER);
    assert.equal(typeof r3.insertInto.age, 'number');
    const r4 = await db.execute(INSERT, { d: { email: 'smallbig', age: 5n } });
    assert.equal(r4.insertInto.age, 5, 'a BigInt that fits is returned as a number');
    const q = await db.execute('query ($a: Int) { users(where: { age: { eq: $a } }) { email } }', { a: big });
    assert.deepEqual(q.users, [{ email: 'big' }]);
    // Repeated calls finish on the JS thread: a large Int must still arrive exact, as a
    // BigInt, every time, and safe ones as numbers.
    for (let i = 0; i < 50; i++) {
      const r = await db.execute('query ($e: String) { users(where: { email: { eq: $e } }) { email age } }', { e: i % 2 ? 'big' : 'safe' });
      assert.deepEqual(r.users, [{ email: i % 2 ? 'big' : 'safe', age: i % 2 ? big : Number.MAX_SAFE_INTEGER }]);
    }
    await assert.rejects(db.execute(INSERT, { d: { email: 'x', age: 2n ** 64n } }), { name: 'AuroraError', code: 'VALIDATION' });
    // An integral number beyond 2^53 is not exact in JS: it is stored as a Float.
    await assert.rejects(db.execute(INSERT, { d: { email: 'y', age: 2 ** 60 } }), { code: 'TYPE_ERROR' });
  });
});

test('plain variables and other variables (null prototypes, undefined properties) mean the same', async () => {
  await withDb(async (db) => {
    await db.execute('schema { define collection c { k: String! @unique  v: Any } }');
    const values = [0, -0, 1, -7, 2.5, 0.1, 1e-7, Number.MAX_SAFE_INTEGER, -Number.MAX_SAFE_INTEGER, 1e21, 2 ** 60, 'ü ✓', '', true, false, null,
      [1, 2.25, 'x', null], { deep: { list: [1, { a: 1.5 }] } }, Object.assign(Object.create(null), { n: 3 })];
    const kinds = [];
    for (const [i, v] of values.entries()) {
      const plain = await db.execute('mutation ($d: Object) { insertInto(collection: "c", data: $d) { v } }', { d: { k: `p${i}`, v } });
      const other = await db.execute('mutation ($d: Object) { insertInto(collection: "c", data: $d) { v } }', { d: { k: `n${i}`, v, skip: undefined } });
      assert.deepEqual(plain, other, `value #${i}`);
      assert.equal(Object.is(plain.insertInto.v, other.insertInto.v) || typeof v === 'object', true, `value #${i}`);
      kinds.push(await db.execute('query ($k: String) { c(where: { k: { eq: $k } }) { v } }', { k: `p${i}` }));
    }
    // Integers stay Ints, fractions Floats, and an integral number beyond 2^53 a Float, on both paths.
    const typed = await db.execute('query { c(where: { v: { eq: 2.5 } }) { k } }');
    assert.deepEqual(typed.c.map((d) => d.k).sort(), ['n4', 'p4']);
    assert.equal(kinds[7].c[0].v, Number.MAX_SAFE_INTEGER);
  });
});

test('undefined properties are skipped, NaN and functions are rejected', async () => {
  await withDb(async (db) => {
    const r = await db.execute(INSERT, { d: { email: 'u', age: undefined, tags: ['a', undefined] } });
    assert.deepEqual(r.insertInto, { email: 'u', age: null, score: null, tags: ['a', null], meta: null });
    await assert.rejects(db.execute(INSERT, { d: { email: 'n', score: NaN } }), { code: 'VALIDATION' });
    await assert.rejects(db.execute(INSERT, { d: { email: 'n', score: Infinity } }), { code: 'VALIDATION' });
    await assert.rejects(db.execute(INSERT, { d: { email: 'n', meta: new Date() } }), { code: 'VALIDATION' });
    const cyclic = { email: 'c' };
    cyclic.self = cyclic;
    await assert.rejects(db.execute(INSERT, { d: cyclic }), { code: 'VALIDATION' });
  });
});

test('AQL errors reject with AuroraError, code, line and column', async () => {
  await withDb(async (db) => {
    const syntax = await db.execute('query {\n  users { email ').catch((e) => e);
    assert.ok(syntax instanceof AuroraError);
    assert.ok(syntax instanceof Error);
    assert.equal(syntax.name, 'AuroraError');
    assert.equal(syntax.code, 'SYNTAX');
    assert.equal(syntax.line, 2);
    assert.equal(typeof syntax.column, 'number');
    assert.match(syntax.message, /line 2/);
    assert.ok(syntax.stack.includes('AuroraError'));

    const notFound = await db.execute('query { userz { email } }').catch((e) => e);
    assert.equal(notFound.code, 'NOT_FOUND');
    assert.match(notFound.message, /users/, 'suggests the closest name');

    await db.execute(INSERT, { d: { email: 'dup' } });
    const dup = await db.execute(INSERT, { d: { email: 'dup' } }).catch((e) => e);
    assert.equal(dup.code, 'UNIQUE_VIOLATION');
    assert.equal(dup.line, null);
    assert.equal(dup.column, null);

    const type = await db.execute(INSERT, { d: { email: 't', age: 'old' } }).catch((e) => e);
    assert.equal(type.code, 'TYPE_ERROR');

    const variable = await db.execute('query Q($a: Int) { users(where: { age: { eq: $a } }) { email } }', { a: 'x' }).catch((e) => e);
    assert.equal(variable.code, 'VALIDATION');
  });
});

test('bad arguments reject (never throw synchronously) with VALIDATION', async () => {
  await withDb(async (db) => {
    const p = db.execute(42);
    assert.ok(p instanceof Promise);
    await assert.rejects(p, { name: 'AuroraError', code: 'VALIDATION' });
    await assert.rejects(db.execute('query { users { email } }', 'not an object'), { code: 'VALIDATION' });
    await assert.rejects(db.enqueue('job', {}, { priority: 'urgent' }), { code: 'VALIDATION' });
    await assert.rejects(db.enqueue('job', {}, { maxRetries: -1 }), { code: 'VALIDATION' });
    await assert.rejects(db.enqueue('job', [1, 2]), { code: 'VALIDATION' });
    await assert.rejects(db.startWorkers(0), { code: 'VALIDATION' });
    assert.throws(() => db.stream(1), { code: 'VALIDATION' });
    assert.throws(() => db.prepare(1), { code: 'VALIDATION' });
    assert.throws(() => db.executeSync(1), { code: 'VALIDATION' });
    assert.throws(() => db.prepare('query { users { email'), { name: 'AuroraError', code: 'SYNTAX' });
    assert.throws(() => db.registerHandler('x', 'not a function'), { code: 'VALIDATION' });
  });
  await assert.rejects(Aurora.open(tempDbPath(), { bogusOption: 1 }), { code: 'VALIDATION' });
  await assert.rejects(Aurora.open(tempDbPath(), { durabilityMode: 'fast' }), { code: 'VALIDATION' });
  await assert.rejects(Aurora.open('/proc/forbidden/db'), { code: 'IO' });
  assert.throws(() => new Aurora({}), TypeError);
});

test('a closed database rejects with CLOSED everywhere', async () => {
  const db = await Aurora.open(tempDbPath());
  await db.execute(SCHEMA);
  const stmt = db.prepare('query { users { email } }');
  await db.close();
  await assert.rejects(db.execute('query { users { email } }'), { name: 'AuroraError', code: 'CLOSED' });
  assert.throws(() => db.executeSync('query { users { email } }'), { name: 'AuroraError', code: 'CLOSED' });
  assert.throws(() => db.prepare('query { users { email } }'), { name: 'AuroraError', code: 'CLOSED' });
  await assert.rejects(stmt.execute(), { name: 'AuroraError', code: 'CLOSED' });
  assert.throws(() => stmt.executeSync(), { name: 'AuroraError', code: 'CLOSED' });
  await assert.rejects(db.enqueue('job', {}), { code: 'CLOSED' });
  await assert.rejects(db.jobStatus('x'), { code: 'CLOSED' });
  await assert.rejects(db.startWorkers(), { code: 'CLOSED' });
  assert.throws(() => db.stream('subscription { users { email } }'), { code: 'CLOSED' });
  assert.throws(() => db.listen('users'), { code: 'CLOSED' });
  assert.throws(() => db.registerHandler('job', () => {}), { code: 'CLOSED' });
  await db.stopWorkers();
  await db.close();
});

test('the database reopens with its data (WAL replay through Node)', async () => {
  const path = tempDbPath();
  let db = await Aurora.open(path);
  await db.execute(SCHEMA);
  for (let i = 0; i < 50; i++) await db.execute(INSERT, { d: { email: `e${i}`, age: i } });
  await db.close();
  db = await Aurora.open(path);
  const r = await db.execute('query { users(where: { age: { gte: 48 } }, orderBy: { age: DESC }) { email } }');
  assert.deepEqual(r.users, [{ email: 'e49' }, { email: 'e48' }]);
  await db.close();
});

test('many concurrent executes resolve independently', async () => {
  await withDb(async (db) => {
    const results = await Promise.allSettled(
      Array.from({ length: 500 }, (_, i) => (i % 10 === 9 ? db.execute('query { nope { x } }') : db.execute(INSERT, { d: { email: `c${i}`, age: i } }))),
    );
    results.forEach((r, i) => {
      if (i % 10 === 9) assert.equal(r.reason.code, 'NOT_FOUND');
      else assert.equal(r.value.insertInto.age, i);
    });
    const n = await db.execute('query { users { aggregate { count } } }');
    assert.equal(n.users.aggregate.count, 450);
  });
});

test('execute options: debugAudit adds _sid, operationName picks an operation', async () => {
  await withDb(async (db) => {
    await db.execute(INSERT, { d: { email: 'a', age: 1 } });
    const r = await db.execute('query { users { email } }', null, { debugAudit: true });
    assert.match(r.users[0]._sid, /^[0-9a-f-]{36}$/);
    const two = 'query A { users { email } } query B { users { age } }';
    assert.deepEqual(await db.execute(two, {}, { operationName: 'B' }), { users: [{ age: 1 }] });
  });
});

test('exports', () => {
  assert.deepEqual([...PRIORITIES], ['LOW', 'NORMAL', 'HIGH', 'CRITICAL']);
  assert.deepEqual([...AuroraError.CODES], ['SYNTAX', 'VALIDATION', 'NOT_FOUND', 'UNIQUE_VIOLATION', 'TYPE_ERROR', 'CLOSED', 'IO', 'HANDLER', 'INTERNAL', 'LIMIT']);
  const e = new AuroraError('m', 'IO');
  assert.equal(e.code, 'IO');
  assert.equal(e.line, null);
});
