// Streams and listeners as async iterators: concurrent inserts arrive, break/close end them,
// open/close cycles do not leak.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Aurora, Subscription } from 'aurora-db';
import { sleep, tempDbPath } from './helpers.mjs';

const SCHEMA = 'schema { define collection orders { item: String  qty: Int @indexed } }';
const insert = (db, item, qty) =>
  db.execute('mutation ($i: String, $q: Int) { insertInto(collection: "orders", data: { item: $i, qty: $q }) { item } }', { i: item, q: qty });

async function withDb(fn) {
  const db = await Aurora.open(tempDbPath());
  try {
    await db.execute(SCHEMA);
    return await fn(db);
  } finally {
    await db.close();
  }
}

test('stream() returns an async iterable synchronously; for await receives concurrent inserts', async () => {
  await withDb(async (db) => {
    const stream = db.stream('subscription ($min: Int) { orders(where: { qty: { gte: $min } }) { item qty } }', { min: 5 });
    assert.ok(stream instanceof Subscription);
    assert.ok(!(stream instanceof Promise));
    assert.equal(typeof stream[Symbol.asyncIterator], 'function');
    const writer = (async () => {
      for (let i = 0; i < 10; i++) {
        await insert(db, `i${i}`, i);
        await sleep(2);
      }
    })();
    const seen = [];
    for await (const ev of stream) {
      assert.equal(ev.operation, 'insert');
      assert.equal(ev.collection, 'orders');
      assert.match(ev._sid, /^[0-9a-f-]{36}$/);
      assert.equal(ev.leftFilter, false);
      seen.push(ev.data);
      if (seen.length === 5) break;
    }
    await writer;
    assert.deepEqual(seen, [5, 6, 7, 8, 9].map((q) => ({ item: `i${q}`, qty: q })));
    assert.equal(stream.closed, true, 'break closed the stream');
    assert.deepEqual(await stream.next(), { value: undefined, done: true });
  });
});

test('stream events for update and delete, including leaving the filter', async () => {
  await withDb(async (db) => {
    const stream = db.stream('subscription { orders(where: { qty: { gt: 0 } }) { item qty } }');
    await insert(db, 'a', 1);
    await db.execute('mutation { update(collection: "orders", data: { qty: 2 }, where: { item: { eq: "a" } }) { item } }');
    await db.execute('mutation { update(collection: "orders", data: { qty: 0 }, where: { item: { eq: "a" } }) { item } }');
    const events = [];
    for await (const ev of stream) {
      events.push([ev.operation, ev.data, ev.leftFilter]);
      if (events.length === 3) break;
    }
    assert.deepEqual(events, [
      ['insert', { item: 'a', qty: 1 }, false],
      ['update', { item: 'a', qty: 2 }, false],
      ['delete', { item: 'a', qty: 0 }, true],
    ]);
  });
});

test('listen() yields change events with lsn, data and before', async () => {
  await withDb(async (db) => {
    const listener = db.listen('orders');
    await insert(db, 'x', 1);
    await db.execute('mutation { update(collection: "orders", data: { qty: 3 }, where: { item: { eq: "x" } }) { item } }');
    await db.execute('mutation { deleteFrom(collection: "orders", where: { item: { eq: "x" } }) { item } }');
    const evs = [];
    for await (const ev of listener) {
      evs.push(ev);
      if (evs.length === 3) break;
    }
    assert.deepEqual(evs.map((e) => e.operation), ['insert', 'update', 'delete']);
    assert.ok(evs.every((e) => e.collection === 'orders' && typeof e.lsn === 'number' && e._sid === evs[0]._sid));
    assert.ok(evs[0].lsn < evs[1].lsn && evs[1].lsn < evs[2].lsn);
    assert.deepEqual(evs[0].data, { item: 'x', qty: 1 });
    assert.equal(evs[0].before, null);
    assert.deepEqual(evs[1].before, { item: 'x', qty: 1 });
    assert.deepEqual(evs[1].data, { item: 'x', qty: 3 });
    assert.deepEqual(Object.keys(evs[2]).sort(), ['_sid', 'before', 'collection', 'data', 'lsn', 'operation']);
  });
});

test("listen('*') sees every collection", async () => {
  await withDb(async (db) => {
    await db.execute('schema { define collection other { a: Int } }');
    const all = db.listen('*');
    await insert(db, 'o', 1);
    await db.execute('mutation { insertInto(collection: "other", data: { a: 1 }) { a } }');
    const a = await all.recv(5000);
    const b = await all.recv(5000);
    assert.deepEqual([a.collection, b.collection], ['orders', 'other']);
    all.close();
  });
});

test('recv(timeoutMs) resolves null on timeout; close() ends a pending next()', async () => {
  await withDb(async (db) => {
    const sub = db.listen('orders');
    assert.equal(await sub.recv(20), null);
    const pending = sub.next();
    await sleep(30);
    sub.close();
    assert.deepEqual(await pending, { value: undefined, done: true });
    assert.equal(sub.closed, true);
    await assert.rejects(sub.recv(10), { code: 'CLOSED' });
    sub.close(); // idempotent
  });
});

test('a loop body that throws closes the subscription', async () => {
  await withDb(async (db) => {
    const sub = db.stream('subscription { orders { item } }');
    await insert(db, 'boom', 1);
    await assert.rejects(
      (async () => {
        for await (const _ of sub) throw new Error('body failed');
      })(),
      /body failed/,
    );
    assert.equal(sub.closed, true);
  });
});

test('closing the database ends a pending for-await', async () => {
  const db = await Aurora.open(tempDbPath());
  await db.execute(SCHEMA);
  const sub = db.listen('orders');
  const consumer = (async () => {
    const got = [];
    for await (const ev of sub) got.push(ev.operation);
    return got;
  })();
  await insert(db, 'a', 1);
  await sleep(50);
  await db.close();
  const got = await Promise.race([consumer, sleep(5000).then(() => 'hung')]);
  assert.deepEqual(got, ['insert']);
});

test('a slow listener gets a lagged notice and continues', async () => {
  await withDb(async (db) => {
    const sub = db.listen('orders');
    // Far more events than the listener buffer holds, none consumed meanwhile.
    const N = 5000;
    for (let b = 0; b < N; b += 500) {
      await Promise.all(Array.from({ length: 500 }, (_, j) => insert(db, `l${b + j}`, 1)));
    }
    const first = await sub.recv(5000);
    assert.equal(first.operation, 'lagged', JSON.stringify(first));
    assert.ok(first.missed > 0);
    const next = await sub.recv(5000);
    assert.equal(next.operation, 'insert');
    sub.close();
  });
});

test('200 open/stream/close cycles keep memory bounded', async () => {
  const cycle = async () => {
    const db = await Aurora.open(tempDbPath(), { hotCacheSizeMb: 4, coldCacheCapacityMb: 4 });
    await db.execute(SCHEMA);
    const s = db.stream('subscription { orders { item } }');
    const l = db.listen('orders');
    await insert(db, 'a', 1);
    for await (const _ of s) break;
    await l.recv(1000);
    l.close();
    await db.close();
  };
  for (let i = 0; i < 20; i++) await cycle(); // warm-up
  globalThis.gc?.();
  const before = process.memoryUsage().rss;
  for (let i = 0; i < 200; i++) await cycle();
  globalThis.gc?.();
  await sleep(100);
  const after = process.memoryUsage().rss;
  const grownMb = (after - before) / 2 ** 20;
  // A leak of a database per cycle would cost several MB each (hundreds of MB in total).
  assert.ok(grownMb < 64, `RSS grew by ${grownMb.toFixed(1)} MB over 200 cycles`);
});
