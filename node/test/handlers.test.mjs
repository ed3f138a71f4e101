// Job handlers written in JS: sync, async, throwing, rejecting; retries and dead letters.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Aurora } from 'aurora-db';
import { sleep, tempDbPath, waitFor } from './helpers.mjs';

async function withDb(fn) {
  const db = await Aurora.open(tempDbPath());
  try {
    return await fn(db);
  } finally {
    await db.close();
  }
}

const status = (db, id, want) =>
  waitFor(async () => {
    const j = await db.jobStatus(id);
    return j && j.status === want && j;
  }, { what: `job ${id} to reach ${want}` });

test('sync and async handlers complete jobs and receive the job', async () => {
  await withDb(async (db) => {
    const seen = [];
    db.registerHandler('sync', (job) => {
      seen.push(['sync', job.payload.n, job.jobType, job.priority, job.attempts]);
    });
    db.registerHandler('async', async (job) => {
      await sleep(5);
      seen.push(['async', job.payload.n, job.jobType, job.priority, job.attempts]);
      return 'ignored return value';
    });
    await db.startWorkers(2);
    const a = await db.enqueue('sync', { n: 1 }, { priority: 'high' });
    const b = await db.enqueue('async', { n: 2n ** 60n }, { priority: 'Critical' });
    assert.match(a, /^[0-9a-f-]{36}$/);
    const ja = await status(db, a, 'COMPLETED');
    const jb = await status(db, b, 'COMPLETED');
    assert.equal(ja.attempts, 1);
    assert.equal(ja.lastError, null);
    assert.deepEqual(jb.payload, { n: 2n ** 60n });
    assert.deepEqual(
      seen.sort((x, y) => x[0].localeCompare(y[0])),
      [
        ['async', 2n ** 60n, 'async', 'CRITICAL', 1],
        ['sync', 1, 'sync', 'HIGH', 1],
      ],
    );
  });
});

test('a sync throw and a rejected promise fail the job; it is retried, then dead-lettered', async () => {
  await withDb(async (db) => {
    let throws = 0;
    let rejects = 0;
    db.registerHandler('throws', () => {
      throws++;
      throw new Error('sync boom');
    });
    db.registerHandler('rejects', async () => {
      rejects++;
      await sleep(1);
      throw new TypeError('async boom');
    });
    db.registerHandler('rejects-value', () => Promise.reject('plain string reason'));
    await db.startWorkers(2);
    const t = await db.enqueue('throws', {}, { maxRetries: 1 });
    const r = await db.enqueue('rejects', {}, { maxRetries: 2 });
    const v = await db.enqueue('rejects-value', {}, { maxRetries: 0 });
    const jt = await status(db, t, 'DEAD_LETTER');
    const jr = await status(db, r, 'DEAD_LETTER');
    const jv = await status(db, v, 'DEAD_LETTER');
    assert.equal(jt.attempts, 2);
    assert.equal(jt.lastError, 'sync boom');
    assert.equal(throws, 2);
    assert.equal(jr.attempts, 3);
    assert.equal(jr.lastError, 'async boom');
    assert.equal(rejects, 3);
    assert.equal(jv.lastError, 'plain string reason');
    const dead = await db.deadLetters();
    assert.deepEqual(dead.map((j) => j.id).sort(), [t, r, v].sort());
  });
});

test('a handler that fails once then succeeds completes on retry', async () => {
  await withDb(async (db) => {
    let calls = 0;
    db.registerHandler('flaky', async () => {
      if (++calls === 1) throw new Error('first try fails');
    });
    await db.startWorkers(1);
    const id = await db.enqueue('flaky', { x: 1 });
    const j = await status(db, id, 'COMPLETED');
    assert.equal(j.attempts, 2);
    assert.equal(calls, 2);
  });
});

test('jobs enqueued from AQL run JS handlers; priorities order the queue', async () => {
  await withDb(async (db) => {
    const order = [];
    db.registerHandler('p', (job) => {
      order.push(job.payload.p);
    });
    for (const p of ['low', 'NORMAL', 'High', 'critical']) await db.enqueue('p', { p: p.toUpperCase() }, { priority: p });
    const r = await db.execute('mutation { enqueueJob(jobType: "p", payload: { p: "AQL" }, priority: LOW) { id } }');
    await db.startWorkers(1);
    await status(db, r.enqueueJob.id, 'COMPLETED');
    await waitFor(() => order.length === 5);
    assert.deepEqual(order, ['CRITICAL', 'HIGH', 'NORMAL', 'LOW', 'AQL']);
  });
});

test('stopWorkers returns; jobs enqueued while stopped stay pending; jobStatus of unknown id is null', async () => {
  await withDb(async (db) => {
    let ran = 0;
    db.registerHandler('x', async () => {
      ran++;
    });
    await db.startWorkers(1);
    await status(db, await db.enqueue('x', {}), 'COMPLETED');
    await db.stopWorkers();
    const id = await db.enqueue('x', {});
    await sleep(200);
    assert.equal((await db.jobStatus(id)).status, 'PENDING');
    assert.equal(ran, 1);
    assert.equal(await db.jobStatus('00000000-0000-0000-0000-000000000000'), null);
  });
});

test('a handler may use the database (execute inside a handler)', async () => {
  await withDb(async (db) => {
    await db.execute('schema { define collection log { msg: String } }');
    db.registerHandler('log', async (job) => {
      await db.execute('mutation ($m: String) { insertInto(collection: "log", data: { msg: $m }) { msg } }', { m: job.payload.msg });
    });
    await db.startWorkers(2);
    const ids = await Promise.all(['a', 'b', 'c'].map((msg) => db.enqueue('log', { msg })));
    for (const id of ids) await status(db, id, 'COMPLETED');
    const r = await db.execute('query { log(orderBy: { msg: ASC }) { msg } }');
    assert.deepEqual(r.log, [{ msg: 'a' }, { msg: 'b' }, { msg: 'c' }]);
  });
});

test('close() while a handler is running resolves; the job is completed or back to pending', async () => {
  const path = tempDbPath();
  const db = await Aurora.open(path);
  let finished = false;
  db.registerHandler('slow', async () => {
    await sleep(300);
    finished = true;
  });
  await db.startWorkers(1);
  const id = await db.enqueue('slow', {});
  await waitFor(async () => (await db.jobStatus(id)).status === 'RUNNING');
  await db.close();
  assert.equal(db.closed, true);
  const again = await Aurora.open(path);
  try {
    const j = await again.jobStatus(id);
    assert.ok(['COMPLETED', 'PENDING'].includes(j.status), j.status);
    if (j.status === 'COMPLETED') assert.ok(finished);
  } finally {
    await again.close();
  }
});
