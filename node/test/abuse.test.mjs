// The addon under abuse: closing while iterators and recv() are pending, handlers that throw
// (anything, sync or async), handles dropped without close and collected (global.gc in a child
// process started with --expose-gc), handles left open at exit, and thousands of open/close
// cycles with a bounded RSS. Every wait has a timeout, so a hang fails instead of stalling.
// By design a pending recv() without timeout (or a for-await) keeps the process alive until its
// subscription or database is closed, as a pending socket read would.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { Aurora, AuroraError } from 'aurora-db';
import { NODE_DIR, sleep, tempDbPath, waitFor } from './helpers.mjs';

const SCHEMA = 'schema { define collection users { email: String! @unique  name: String  age: Int @indexed } }';
const INSERT = 'mutation ($e: String!, $a: Int) { insertInto(collection: "users", data: { email: $e, age: $a }) { email } }';

/** Rejects if `promise` does not settle within `ms` (a hang becomes a test failure). */
function within(promise, ms, what) {
  let timer;
  const timeout = new Promise((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what} did not settle within ${ms} ms`)), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

/** Settles `promise` to ['ok', value] or ['err', error]. */
const settle = (promise) => promise.then((v) => ['ok', v], (e) => ['err', e]);

test('closing the database ends every pending for-await and rejects pending recv()', async () => {
  const db = await Aurora.open(tempDbPath());
  await db.execute(SCHEMA);
  const stream = db.stream('subscription { users(where: { age: { gte: 18 } }) { email } }');
  const listener = db.listen('users');
  const all = db.listen('*');
  const collect = async (sub) => {
    const out = [];
    for await (const ev of sub) out.push(ev);
    return out;
  };
  const loops = [collect(stream), collect(all)];
  const first = settle(listener.recv());
  await db.execute(INSERT, { e: 'ann@x.io', a: 30 });
  assert.equal((await within(first, 10000, 'first recv'))[1].data.email, 'ann@x.io');
  // Now everything waits for a second event: several recv() at once on one subscription too.
  const pending = [settle(listener.recv()), settle(listener.recv(null)), settle(listener.recv(60000))];
  await sleep(100);
  await within(db.close(), 10000, 'db.close() with pending iterators');
  const [streamEvents, allEvents] = await within(Promise.all(loops), 10000, 'for-await loops after close');
  assert.deepEqual(streamEvents.map((e) => e.data), [{ email: 'ann@x.io' }]);
  assert.deepEqual(allEvents.map((e) => e.operation), ['insert']);
  for (const [kind, err] of await within(Promise.all(pending), 10000, 'pending recv() after close')) {
    assert.equal(kind, 'err');
    assert.ok(err instanceof AuroraError, String(err));
    assert.equal(err.code, 'CLOSED');
  }
  for (const sub of [stream, listener, all]) {
    await assert.rejects(sub.recv(10), { code: 'CLOSED' });
    assert.deepEqual(await sub.next(), { value: undefined, done: true });
    sub.close();
    sub.close();
    assert.equal(sub.closed, true);
  }
  await assert.rejects(db.execute('query { users { email } }'), { code: 'CLOSED' });
  await db.close(); // idempotent
});

test('closing a subscription while recv() and for-await are pending, concurrently', async () => {
  const db = await Aurora.open(tempDbPath());
  try {
    await db.execute(SCHEMA);
    const subs = Array.from({ length: 6 }, (_, i) => (i % 2 ? db.listen('users') : db.stream('subscription { users { email } }')));
    const waits = subs.map((s, i) => (i < 3 ? settle(s.recv()) : settle((async () => { for await (const _ of s); return 'ended'; })())));
    await sleep(50);
    // Close from timers firing concurrently with each other and with an insert.
    await Promise.all([...subs.map((s, i) => sleep(i).then(() => s.close())), db.execute(INSERT, { e: 'b@x.io', a: 1 })]);
    const results = await within(Promise.all(waits), 10000, 'waits after subscription close');
    for (const [i, [kind, v]] of results.entries()) {
      if (i < 3) {
        // recv() either got the racing insert or was rejected with CLOSED.
        assert.ok(kind === 'ok' ? v.operation === 'insert' : v.code === 'CLOSED', `${kind} ${v}`);
      } else {
        assert.deepEqual([kind, v], ['ok', 'ended']);
      }
    }
    assert.ok(subs.every((s) => s.closed));
    assert.deepEqual(await db.execute('query { users { email } }'), { users: [{ email: 'b@x.io' }] });
  } finally {
    await db.close();
  }
});

test('close() racing with busy readers and writers: only CLOSED errors, no hang', async () => {
  const db = await Aurora.open(tempDbPath());
  await db.execute(SCHEMA);
  let stop = false;
  const unexpected = [];
  const guard = (e) => {
    if (!(e instanceof AuroraError && e.code === 'CLOSED')) unexpected.push(e);
  };
  const writer = async (k) => {
    let n = 0;
    try {
      while (!stop) await db.execute(INSERT, { e: `w${k}-${n++}@x.io`, a: n % 90 });
    } catch (e) {
      guard(e);
    }
    return n;
  };
  const reader = async () => {
    const sub = db.listen('users');
    try {
      while (!stop) {
        await sub.recv(5);
        await db.execute('query { users(limit: 3) { email } }');
      }
    } catch (e) {
      guard(e);
    }
  };
  const tasks = [writer(0), writer(1), writer(2), reader(), reader()];
  await sleep(300);
  await within(db.close(), 10000, 'close under load');
  stop = true;
  const counts = await within(Promise.all(tasks), 10000, 'tasks after close');
  assert.deepEqual(unexpected, []);
  assert.ok(counts[0] + counts[1] + counts[2] > 0, 'writers made progress');
});

test('handlers that throw anything fail their job; the workers and the process survive', async () => {
  const db = await Aurora.open(tempDbPath());
  try {
    const uncaught = [];
    const onUncaught = (e) => uncaught.push(e);
    process.on('unhandledRejection', onUncaught);
    const failing = {
      error: [() => { throw new Error('boom'); }, /boom/],
      string: [() => { throw 'a string'; }, /a string/],
      undef: [() => { throw undefined; }, /./],
      nul: [() => { throw null; }, /./],
      symbol: [() => { throw Symbol('sym'); }, /./],
      badToString: [() => { throw { toString() { throw new Error('nested'); } }; }, /./],
      rejects: [() => Promise.reject(new TypeError('rejected')), /rejected/],
      asyncThrows: [async () => { await sleep(1); throw new RangeError('late'); }, /late/],
      deep: [function deep() { return deep(); }, /call stack|Maximum/i],
    };
    for (const [type, [fn]] of Object.entries(failing)) db.registerHandler(type, fn);
    const done = [];
    db.registerHandler('good', (job) => { done.push(job.payload.n); });
    db.registerHandler('junk', () => ({ then: 5 })); // a non-thenable "thenable" result
    const ids = {};
    for (const type of Object.keys(failing)) ids[type] = await db.enqueue(type, { n: 1 }, { maxRetries: 1 });
    const junk = await db.enqueue('junk', {});
    await db.startWorkers(3);
    for (const [type, id] of Object.entries(ids)) {
      const job = await waitFor(async () => {
        const j = await db.jobStatus(id);
        return j.status === 'DEAD_LETTER' && j;
      }, { what: `${type} job dead-lettered` });
      assert.equal(job.attempts, 2, type);
      assert.match(job.lastError ?? '', failing[type][1], `${type}: ${job.lastError}`);
    }
    await waitFor(async () => (await db.jobStatus(junk)).status !== 'PENDING', { what: 'junk job ran' });
    const dead = new Set((await db.deadLetters()).map((j) => j.id));
    for (const id of Object.values(ids)) assert.ok(dead.has(id));
    for (let n = 0; n < 20; n++) await db.enqueue('good', { n });
    await waitFor(() => done.length === 20, { what: '20 good jobs' });
    assert.deepEqual(done.sort((a, b) => a - b), Array.from({ length: 20 }, (_, i) => i));
    process.off('unhandledRejection', onUncaught);
    assert.deepEqual(uncaught, []);
  } finally {
    await within(db.close(), 10000, 'close after failing handlers');
  }
});

/** Runs an ESM `source` in `node --expose-gc`; resolves with code, signal and output. */
function runChild(source, timeoutMs = 40000) {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, ['--expose-gc', '--input-type=module', '-e', source], {
      cwd: NODE_DIR,
      env: { ...process.env, DB_PATH: tempDbPath() },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    child.stdout.on('data', (d) => (out += d));
    child.stderr.on('data', (d) => (out += d));
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    child.on('exit', (code, signal) => {
      clearTimeout(timer);
      resolve({ code, signal, out });
    });
  });
}

const GC_CHILD = `
  import { Aurora } from 'aurora-db';
  const p = process.env.DB_PATH;
  const SCHEMA = ${JSON.stringify(SCHEMA)};
  const INSERT = ${JSON.stringify(INSERT)};
  const tick = () => new Promise((r) => setTimeout(r, 10));
  const collect = async () => { for (let i = 0; i < 3; i++) { global.gc(); await tick(); } };
  // 1. Databases dropped without close (subscriptions still referenced, then dropped too): after
  //    global.gc() the directory is released, so the next round reopens the same path.
  for (let round = 0; round < 8; round++) {
    let db = await Aurora.open(p);
    if (round === 0) await db.execute(SCHEMA);
    let subs = [db.listen('users'), db.stream('subscription { users { email } }'), db.listen('*')];
    await db.execute(INSERT, { e: 'r' + round + '@x.io', a: round });
    db = null;
    await collect();
    const ev = await subs[0].recv(5000);
    if (ev?.operation !== 'insert') throw new Error('a subscription outlived its database badly: ' + JSON.stringify(ev));
    subs = null;
    await collect();
  }
  // 2. Many databases dropped at once with a subscription each, some with a pending recv().
  for (let i = 0; i < 40; i++) {
    const s = (await Aurora.open(p + '-m' + i)).listen('*');
    if (i % 2) s.recv(1 + (i % 7)).catch(() => {});
  }
  await collect();
  // ...and every one of them was released: each path opens again.
  for (let i = 0; i < 40; i += 2) await (await Aurora.open(p + '-m' + i)).close();
  const db = await Aurora.open(p);
  const n = (await db.execute('query { users { aggregate { count } } }')).users.aggregate.count;
  if (n !== 8) throw new Error('count ' + n);
  await db.close();
  // 3. A recv() without timeout keeps the process alive, like a pending socket read: until
  //    its subscription is closed, here from a timer; then it rejects with CLOSED.
  const waiting = (await Aurora.open(p + '-wait')).listen('*');
  setTimeout(() => waiting.close(), 300);
  const t0 = Date.now();
  const code = await waiting.recv().then(() => 'event', (e) => e.code);
  if (code !== 'CLOSED' || Date.now() - t0 < 250) throw new Error('recv() ended early: ' + code);
  // 4. Left open at exit: workers running async and throwing handlers, a recv() with a timeout
  //    pending, an idle subscription.
  const left = await Aurora.open(p + '-left');
  let calls = 0;
  left.registerHandler('slow', async () => { await tick(); calls++; });
  left.registerHandler('boom', () => { throw new Error('boom'); });
  for (let i = 0; i < 40; i++) await left.enqueue(i % 2 ? 'slow' : 'boom', { i });
  await left.startWorkers(4);
  left.listen('*').recv(500).catch(() => {});
  left.listen('users');
  while (calls === 0) await tick();
  console.log('child ok rss=' + (process.memoryUsage().rss >> 10));
`;

test('handles dropped without close are collected; handles left open do not stop the exit', async () => {
  const r = await runChild(GC_CHILD);
  assert.equal(r.signal, null, `child hung and was killed: ${r.out}`);
  assert.equal(r.code, 0, r.out);
  assert.match(r.out, /child ok/);
  assert.doesNotMatch(r.out, /panicked|FATAL|Segmentation/i);
});

test('2000 open/close cycles keep RSS bounded', async () => {
  const cycles = 2000;
  const warmup = 200;
  const paths = [tempDbPath(), tempDbPath()];
  for (const p of paths) {
    const db = await Aurora.open(p);
    await db.execute(SCHEMA);
    await db.close();
  }
  let rssWarm = 0;
  const started = Date.now();
  for (let i = 0; i < cycles; i++) {
    const db = await Aurora.open(paths[i % 2]);
    const sub = i % 3 ? db.listen('users') : db.stream('subscription { users { email } }');
    await db.execute(INSERT, { e: `c${i}@x.io`, a: i % 90 });
    const ev = await within(sub.recv(5000), 10000, `recv of cycle ${i}`);
    assert.equal(ev.data.email, `c${i}@x.io`);
    if (i % 2 === 0) sub.close(); // the others are ended by the database's close
    await db.close();
    if (i + 1 === warmup) rssWarm = process.memoryUsage().rss;
  }
  const rssEnd = process.memoryUsage().rss;
  const db = await Aurora.open(paths[0]);
  const count = (await db.execute('query { users { aggregate { count } } }')).users.aggregate.count;
  await db.close();
  assert.equal(count, cycles / 2);
  console.log(
    `RESULT node open/close cycles=${cycles} in ${((Date.now() - started) / 1000).toFixed(1)} s; ` +
      `RSS after ${warmup}: ${rssWarm >> 10} KiB, after ${cycles}: ${rssEnd >> 10} KiB`,
  );
  // Generous bound (V8's heap moves on its own): a leak of 20 KiB per cycle would add ~35 MiB.
  assert.ok(rssEnd < rssWarm * 1.25 + 24 * 1024 * 1024, `RSS ${rssWarm >> 10} -> ${rssEnd >> 10} KiB`);
});
