// Scripts exit by themselves: no handle keeps the event loop alive after close, and
// registered handlers do not keep it alive either.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { NODE_DIR, tempDbPath } from './helpers.mjs';

/** Runs `source` in a child node (CommonJS or ESM); resolves with code, output and duration. */
function runChild(source, { esm = false, timeoutMs = 15000 } = {}) {
  return new Promise((resolve) => {
    const started = Date.now();
    const child = spawn(process.execPath, [esm ? '--input-type=module' : '--input-type=commonjs', '-e', source], {
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
      resolve({ code, signal, out, ms: Date.now() - started });
    });
  });
}

test('a script that opens, works (execute, stream, listen, jobs) and closes exits by itself', async () => {
  const r = await runChild(`
    const { Aurora } = require('aurora-db');
    (async () => {
      const db = await Aurora.open(process.env.DB_PATH);
      await db.execute('schema { define collection t { a: Int } }');
      const s = db.stream('subscription { t { a } }');
      const l = db.listen('t');
      await db.execute('mutation { insertInto(collection: "t", data: { a: 1 }) { a } }');
      for await (const ev of s) break;
      await l.recv(1000);
      db.registerHandler('j', async () => {});
      await db.startWorkers(1);
      const id = await db.enqueue('j', {});
      while ((await db.jobStatus(id)).status !== 'COMPLETED') await new Promise((r) => setTimeout(r, 10));
      // l is left open on purpose: close() of the database must not hang on it.
      await db.close();
      console.log('done');
    })();
  `);
  assert.equal(r.signal, null, `killed after hanging: ${r.out}`);
  assert.equal(r.code, 0, r.out);
  assert.match(r.out, /done/);
  assert.ok(r.ms < 10000, `took ${r.ms} ms`);
});

test('a script that registers a handler and never closes exits by itself', async () => {
  const r = await runChild(`
    import { Aurora } from 'aurora-db';
    const db = await Aurora.open(process.env.DB_PATH);
    db.registerHandler('j', async (job) => { console.log('ran', job.payload.n); });
    await db.startWorkers(2);
    const id = await db.enqueue('j', { n: 7 });
    while ((await db.jobStatus(id)).status !== 'COMPLETED') await new Promise((r) => setTimeout(r, 10));
    await db.execute('schema { define collection t { a: Int } }');
    console.log('end of script');
  `, { esm: true });
  assert.equal(r.signal, null, `killed after hanging: ${r.out}`);
  assert.equal(r.code, 0, r.out);
  assert.match(r.out, /ran 7/);
  assert.match(r.out, /end of script/);
  assert.ok(r.ms < 10000, `took ${r.ms} ms`);
});

test('a script that only opens a database (never closes, no workers) exits by itself', async () => {
  const r = await runChild(`
    const { Aurora } = require('aurora-db');
    Aurora.open(process.env.DB_PATH).then(async (db) => {
      await db.execute('schema { define collection t { a: Int } }');
      db.listen('t'); // an unconsumed subscription does not keep the process alive
      console.log('opened');
    });
  `);
  assert.equal(r.signal, null, `killed after hanging: ${r.out}`);
  assert.equal(r.code, 0, r.out);
  assert.match(r.out, /opened/);
});

test('a sync throw in a handler never kills the process', async () => {
  const r = await runChild(`
    const { Aurora } = require('aurora-db');
    (async () => {
      const db = await Aurora.open(process.env.DB_PATH);
      db.registerHandler('bad', () => { throw new Error('sync throw'); });
      db.registerHandler('worse', () => { null.boom; });
      await db.startWorkers(2);
      const a = await db.enqueue('bad', {}, { maxRetries: 0 });
      const b = await db.enqueue('worse', {}, { maxRetries: 0 });
      for (const id of [a, b]) while ((await db.jobStatus(id)).status !== 'DEAD_LETTER') await new Promise((r) => setTimeout(r, 10));
      console.log('still alive', (await db.jobStatus(b)).lastError);
      await db.close();
    })();
  `);
  assert.equal(r.code, 0, r.out);
  assert.match(r.out, /still alive .*null/);
});

test('a pending execute keeps the process alive until it settles', async () => {
  const r = await runChild(`
    const { Aurora } = require('aurora-db');
    Aurora.open(process.env.DB_PATH).then((db) => {
      db.execute('schema { define collection t { a: Int } }').then((r) => {
        console.log('settled', JSON.stringify(r));
        return db.close();
      });
    });
  `);
  assert.equal(r.code, 0, r.out);
  assert.match(r.out, /settled \{"schema"/);
});
