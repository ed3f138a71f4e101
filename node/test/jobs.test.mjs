// Job attempts as a JS handler sees them: a per-attempt timeout (AQL `enqueueJob(...,
// timeoutMs)`) cancels the attempt (`job.cancelled`), attempts of one job never overlap, and
// stopWorkers() / close() settle only once a running handler has settled. Every wait polls with
// a generous deadline; no sleep is an assertion.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Aurora } from 'aurora-db';
import { sleep, tempDbPath, waitFor } from './helpers.mjs';

// A handler that waits for its cancellation gives up after this long (a missing signal fails
// the test instead of hanging it).
const GIVE_UP_MS = 3000;

async function enqueueTimed(db, jobType, maxRetries) {
  const r = await db.execute(`mutation { enqueueJob(jobType: "${jobType}", timeoutMs: 100, maxRetries: ${maxRetries}) { id } }`);
  return r.enqueueJob.id;
}

const deadLetter = (db, id) =>
  waitFor(async () => {
    const j = await db.jobStatus(id);
    return j && j.status === 'DEAD_LETTER' && j;
  }, { what: `job ${id} to become a dead letter` });

test('a handler looping until its job is cancelled ends early; the job becomes a dead letter', async () => {
  const db = await Aurora.open(tempDbPath());
  try {
    const ends = [];
    db.registerHandler('spin', async (job) => {
      const started = Date.now();
      while (!job.cancelled && Date.now() - started < GIVE_UP_MS) await sleep(2);
      ends.push({ saw: job.cancelled, ms: Date.now() - started });
    });
    await db.startWorkers(2);
    const id = await enqueueTimed(db, 'spin', 0);
    const job = await deadLetter(db, id);
    assert.match(job.lastError, /timed out/);
    assert.equal(job.attempts, 1);
    assert.equal(ends.length, 1, JSON.stringify(ends));
    assert.ok(ends[0].saw, 'the handler saw job.cancelled turn true');
    assert.ok(ends[0].ms < GIVE_UP_MS, `the handler saw its cancellation only after ${ends[0].ms} ms`);
  } finally {
    await db.close();
  }
});

test('attempts of one job never overlap, even when the handler ignores the timeout', async () => {
  const db = await Aurora.open(tempDbPath());
  try {
    let running = 0;
    let most = 0;
    let calls = 0;
    db.registerHandler('sleepy', async () => {
      running++;
      calls++;
      most = Math.max(most, running);
      try {
        await sleep(300); // three times the timeout, ignoring the signal
      } finally {
        running--;
      }
    });
    await db.startWorkers(4);
    const id = await enqueueTimed(db, 'sleepy', 2);
    const job = await deadLetter(db, id);
    assert.equal(job.attempts, 3);
    assert.match(job.lastError, /timed out/);
    assert.deepEqual({ calls, most }, { calls: 3, most: 1 });
  } finally {
    await db.close();
  }
});

for (const how of ['stopWorkers', 'close']) {
  test(`${how}() settles only after the running handler settled`, async () => {
    const db = await Aurora.open(tempDbPath());
    try {
      let started = false;
      const finished = [];
      db.registerHandler('slow', async (job) => {
        started = true;
        await sleep(300);
        finished.push(job.id); // the handler's very last statement
      });
      await db.startWorkers(2);
      const id = await db.enqueue('slow');
      await waitFor(() => started, { what: 'the handler to start' });
      await db[how]();
      assert.deepEqual(finished, [id], `${how}() settled while the handler was still running`);
    } finally {
      await db.close();
    }
  });
}
