// Every vector of tests/conformance/*.json gives the identical result through Node (see the
// README there).
//
// Limitation: JS has one number type, so the vectors' Int/Float distinction (`20` vs `20.0`)
// cannot be seen here: both arrive as the JS number 20 and numbers are compared by value.
// (Integers beyond ±(2^53 − 1) arrive as BigInt and are compared exactly.)
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { Aurora, AuroraError } from 'aurora-db';
import { REPO_DIR, tempDbPath } from './helpers.mjs';

const VECTORS = path.join(REPO_DIR, 'tests', 'conformance');
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

function loadCases() {
  const cases = [];
  for (const f of fs.readdirSync(VECTORS).filter((n) => n.endsWith('.json')).sort()) {
    for (const c of JSON.parse(fs.readFileSync(path.join(VECTORS, f), 'utf8')).cases) {
      cases.push({ file: f, ...c });
    }
  }
  return cases;
}

function check(expected, actual, at) {
  if (expected === '<any>') return;
  if (expected === '<string>') {
    assert.equal(typeof actual, 'string', `${at}: expected a string, got ${String(actual)}`);
    return;
  }
  if (expected === '<uuid>') {
    assert.ok(typeof actual === 'string' && UUID.test(actual), `${at}: expected a UUID, got ${String(actual)}`);
    return;
  }
  if (Array.isArray(expected)) {
    assert.ok(Array.isArray(actual), `${at}: expected an array, got ${JSON.stringify(actual)}`);
    assert.equal(actual.length, expected.length, `${at}: expected ${expected.length} items, got ${JSON.stringify(actual)}`);
    expected.forEach((e, i) => check(e, actual[i], `${at}/${i}`));
    return;
  }
  if (expected !== null && typeof expected === 'object') {
    assert.ok(actual !== null && typeof actual === 'object' && !Array.isArray(actual), `${at}: expected an object, got ${JSON.stringify(actual)}`);
    assert.deepEqual(Object.keys(actual).sort(), Object.keys(expected).sort(), `${at}: keys differ`);
    for (const k of Object.keys(expected)) check(expected[k], actual[k], `${at}/${k}`);
    return;
  }
  if (typeof expected === 'number') {
    // Int vs Float is not observable in JS (see the note at the top): compare by value.
    assert.equal(typeof actual, 'number', `${at}: expected the number ${expected}, got ${String(actual)}`);
    assert.equal(actual, expected, `${at}`);
    return;
  }
  assert.equal(actual, expected, `${at}`);
}

function pointer(doc, ptr) {
  let v = doc;
  for (const raw of ptr.split('/').slice(1)) {
    const part = raw.replace(/~1/g, '/').replace(/~0/g, '~');
    v = Array.isArray(v) ? v[Number(part)] : v[part];
  }
  return v;
}

const CASES = loadCases();

test('there are enough conformance vectors', () => {
  assert.ok(CASES.length >= 80, `only ${CASES.length} cases`);
});

for (const c of CASES) {
  test(`${c.file} :: ${c.name}`, async () => {
    const db = await Aurora.open(tempDbPath());
    try {
      const captured = {};
      for (const [i, step] of c.steps.entries()) {
        const variables = { ...captured, ...(step.variables ?? {}) };
        const options = {
          debugAudit: Boolean(step.options?.debug_audit),
          operationName: step.options?.operation_name ?? null,
        };
        if (step.expect_error) {
          const exp = step.expect_error;
          const err = await db.execute(step.aql, variables, options).then(
            (r) => assert.fail(`step ${i}: expected an error ${JSON.stringify(exp)}, got ${JSON.stringify(r)}`),
            (e) => e,
          );
          assert.ok(err instanceof AuroraError, `step ${i}: not an AuroraError: ${err}`);
          if ('code' in exp) assert.equal(err.code, exp.code, `step ${i}: ${err.message}`);
          if ('line' in exp) assert.equal(err.line, exp.line, `step ${i}: ${err.message}`);
          if ('column' in exp) assert.equal(err.column, exp.column, `step ${i}: ${err.message}`);
          if ('message_contains' in exp) {
            assert.ok(err.message.includes(exp.message_contains), `step ${i}: ${JSON.stringify(err.message)} lacks ${JSON.stringify(exp.message_contains)}`);
          }
          continue;
        }
        const got = await db.execute(step.aql, variables, options);
        for (const [name, ptr] of Object.entries(step.capture ?? {})) {
          captured[name] = pointer(got, ptr);
          assert.notEqual(captured[name], undefined, `step ${i}: nothing at ${ptr}`);
        }
        if ('expect' in step) check(step.expect, got, `step ${i}`);
      }
    } finally {
      await db.close();
    }
  });
}
