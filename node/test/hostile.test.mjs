// Every case of tests/hostile/ (see the README there) through `await db.execute`: each ends with
// its expected outcome (an AuroraError with its `code` and `message_contains`, or the exact
// result), inside its time bound, and the process survives it (the database still answers).
//
// Time: only the `execute` call is timed. node/test.sh builds the addon in release
// (`napi build --release`), so `max_ms` applies as it is; AURORA_DEBUG_ADDON=1 multiplies it by
// 20 for a debug build of the addon. A case over its bound runs once more on a fresh database
// and is judged by the faster run; it is within its bound when its wall time or the process's
// CPU time (process.cpuUsage(), every thread) is: on a loaded machine the wall time also counts
// waiting for a core, the CPU time only the work the input caused.
//
// Memory: the bound is on the process's peak resident set: the kernel's high-water mark
// (`VmHWM`) is reset before the call (/proc/self/clear_refs) and compared with the resident set
// before it; twice `max_mb`, since RSS also counts pages V8 and the allocator keep. Without
// /proc, the growth of process.memoryUsage().rss after the call is checked instead.
//
// The variable nested 100,000 arrays deep is built natively (a loop): the addon's conversion
// refuses it at its 128-level bound with a VALIDATION error, the expected outcome.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { Aurora, AuroraError } from 'aurora-db';
import { REPO_DIR, tempDbPath, tempDir } from './helpers.mjs';

const CORPUS = path.join(REPO_DIR, 'tests', 'hostile');
const SCALE = process.env.AURORA_DEBUG_ADDON === '1' ? 20 : 1;
const DIR = tempDir('aurora-node-hostile-');
let runs = 0;

function loadCases() {
  const cases = [];
  for (const f of fs.readdirSync(CORPUS).filter((n) => n.endsWith('.json')).sort()) {
    for (const c of JSON.parse(fs.readFileSync(path.join(CORPUS, f), 'utf8')).cases) cases.push({ file: f, ...c });
  }
  return cases;
}

/** The AQL text of a case: a string, or parts to concatenate (see the corpus README). */
function buildText(aql) {
  if (typeof aql === 'string') return aql;
  const out = [];
  for (const part of aql) {
    if (part.text !== undefined) {
      out.push(part.text);
    } else if (part.repeat.includes('{i')) {
      for (let i = 0; i < part.count; i++) out.push(part.repeat.replaceAll('{i+1}', String(i + 1)).replaceAll('{i}', String(i)));
    } else {
      out.push(part.repeat.repeat(part.count));
    }
  }
  return out.join('');
}

function buildVariables(c) {
  const gen = c.variables_gen;
  if (!gen) return c.variables ?? null;
  if (gen.list !== undefined) return { [gen.name]: Array.from({ length: gen.list }, (_, i) => i) };
  let v = 1;
  for (let i = 0; i < gen.nest; i++) v = [v];
  return { [gen.name]: v };
}

/** A line of /proc/self/status in KiB, or null without /proc. */
function statusKib(key) {
  try {
    const line = fs.readFileSync('/proc/self/status', 'utf8').split('\n').find((l) => l.startsWith(`${key}:`));
    return line ? Number(line.split(/\s+/)[1]) : null;
  } catch {
    return null;
  }
}

function resetPeakRss() {
  try {
    fs.writeFileSync('/proc/self/clear_refs', '5');
    return true;
  } catch {
    return false;
  }
}

function short(v) {
  const s = String(v);
  return s.length <= 200 ? s : `${s.slice(0, 200)}... (${s.length} chars)`;
}

/** Runs a case on a fresh database: the outcome, its time and the memory growth (MiB or null). */
async function runOnce(c) {
  const dbPath = path.join(DIR, `db${runs++}`);
  const db = await Aurora.open(dbPath);
  try {
    for (const s of c.setup ?? []) await db.execute(s);
    const text = buildText(c.aql);
    const vars = buildVariables(c);
    const rssBefore = statusKib('VmRSS');
    const peakMeasured = rssBefore !== null && resetPeakRss();
    const heapBefore = process.memoryUsage().rss;
    const cpuBefore = process.cpuUsage();
    const started = performance.now();
    let result;
    let error = null;
    try {
      result = await db.execute(text, vars);
    } catch (e) {
      error = e;
    }
    const ms = performance.now() - started;
    const cpu = process.cpuUsage(cpuBefore);
    const cpuMs = (cpu.user + cpu.system) / 1000;
    const grownMib = peakMeasured
      ? (statusKib('VmHWM') - rssBefore) / 1024
      : (process.memoryUsage().rss - heapBefore) / 1048576;
    // The database still answers after the case.
    await db.execute('schema { define collection alive_after { a: Int } }');
    assert.deepEqual(await db.execute('query { alive_after { a } }'), { alive_after: [] });
    return { result, error, ms, cpuMs, grownMib };
  } finally {
    await db.close();
    fs.rmSync(dbPath, { recursive: true, force: true });
  }
}

function checkOutcome(c, { result, error }) {
  const where = `${c.file} :: ${c.name}`;
  const { code, message_contains: needle } = c.expect;
  if (code !== undefined) {
    assert.ok(error !== null, `${where}: expected ${code}, got a result ${short(JSON.stringify(result))}`);
    assert.ok(error instanceof AuroraError, `${where}: not an AuroraError: ${short(String(error))}`);
    assert.equal(error.code, code, `${where}: expected ${code}, got [${error.code}] ${short(error.message)}`);
    if (needle !== undefined) assert.ok(error.message.includes(needle), `${where}: message ${short(error.message)} lacks ${needle}`);
  } else {
    assert.equal(error, null, `${where}: unexpected error [${error?.code}] ${short(String(error?.message))}`);
    if (c.expect.result !== undefined) assert.deepEqual(result, c.expect.result, where);
  }
}

const CASES = loadCases();

test('the corpus has cases', () => {
  assert.ok(CASES.length >= 20, `only ${CASES.length} hostile cases in ${CORPUS}`);
});

for (const c of CASES) {
  test(`hostile ${c.file} :: ${c.name}`, async (t) => {
    const maxMs = (c.max_ms ?? 100) * SCALE;
    const maxMib = 2 * (c.max_mb ?? 64);
    const runs = [await runOnce(c)];
    checkOutcome(c, runs[0]);
    if (runs[0].ms > maxMs) {
      runs.push(await runOnce(c));
      checkOutcome(c, runs[1]);
    }
    const ms = Math.min(...runs.map((r) => r.ms));
    const cpuMs = Math.min(...runs.map((r) => r.cpuMs));
    const grown = runs.at(-1).grownMib;
    t.diagnostic(`${ms.toFixed(1)} ms (${cpuMs.toFixed(1)} ms CPU), peak RSS +${grown.toFixed(1)} MiB`);
    assert.ok(ms <= maxMs || cpuMs <= maxMs, `${c.name}: took ${ms.toFixed(0)} ms (${cpuMs.toFixed(0)} ms CPU), more than ${maxMs} ms`);
    assert.ok(grown <= maxMib, `${c.name}: RSS grew ${grown.toFixed(1)} MiB, more than ${maxMib} MiB`);
  });
}

test('values nested past the conversion bound (or cyclic) are VALIDATION errors', async () => {
  const db = await Aurora.open(tempDbPath());
  try {
    await db.execute('schema { define collection users { a: Int  o: Any } }');
    const q = 'query Q($v: Any) { users(where: { o: { eq: $v } }) { a } }';
    const cyclic = [];
    cyclic.push(cyclic);
    const cyclicObject = { k: null };
    cyclicObject.k = cyclicObject;
    for (const v of [cyclic, cyclicObject]) {
      await assert.rejects(db.execute(q, { v }), (e) => e instanceof AuroraError && e.code === 'VALIDATION');
    }
    let shallow = 1;
    for (let i = 0; i < 10; i++) shallow = [shallow];
    assert.deepEqual(await db.execute(q, { v: shallow }), { users: [] });
  } finally {
    await db.close();
  }
});

test('limits in the config: a text longer than maxQueryBytes is a LIMIT error', async () => {
  const db = await Aurora.open(tempDbPath(), { limits: { maxQueryBytes: 1000 } });
  try {
    await db.execute('schema { define collection users { a: Int } }');
    assert.deepEqual(await db.execute('query { users { a } }'), { users: [] });
    await assert.rejects(db.execute(`query { users { a } } #${'x'.repeat(1000)}`), (e) => {
      assert.ok(e instanceof AuroraError);
      assert.equal(e.code, 'LIMIT');
      assert.match(e.message, /max_query_bytes/);
      return true;
    });
  } finally {
    await db.close();
  }
  await assert.rejects(Aurora.open(tempDbPath(), { limits: { max_query_byte: 1 } }), (e) => {
    assert.equal(e.code, 'VALIDATION');
    assert.match(e.message, /max_query_bytes/);
    return true;
  });
});
