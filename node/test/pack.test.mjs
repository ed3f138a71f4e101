// From-source install: `npm pack` of node/ (no prebuilt platform package), then `npm install
// ./aurora-db-<version>.tgz` in an empty project runs no install script; the first `require`
// finds no prebuilt addon, builds it from the crates inside the tarball, says so, and works
// (CommonJS, ESM). Slow: it compiles the engine. To reuse already compiled dependencies it builds into
// the repository's target/ directory (set AURORA_PACK_TARGET_DIR to use another one, e.g. an
// empty directory for a fully cold build).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { NODE_DIR, REPO_DIR, tempDir } from './helpers.mjs';

const npm = process.platform === 'win32' ? 'npm.cmd' : 'npm';

function run(cmd, args, opts) {
  const r = spawnSync(cmd, args, { encoding: 'utf8', maxBuffer: 64 * 2 ** 20, ...opts });
  if (r.status !== 0) {
    throw new Error(`${cmd} ${args.join(' ')} failed (${r.status ?? r.signal}):\n${r.stdout}\n${r.stderr}`);
  }
  return r.stdout;
}

test('npm pack + npm install of the tarball, then the first require builds from source and works', { timeout: 30 * 60 * 1000 }, () => {
  const version = JSON.parse(fs.readFileSync(path.join(NODE_DIR, 'package.json'), 'utf8')).version;
  const dest = tempDir('aurora-pack-');
  run(npm, ['pack', '--pack-destination', dest], { cwd: NODE_DIR });
  const tgz = path.join(dest, `aurora-db-${version}.tgz`);
  assert.ok(fs.existsSync(tgz), 'tarball created');
  assert.ok(!fs.existsSync(path.join(NODE_DIR, 'native')), 'postpack removed the generated workspace');

  const listing = execFileSync('tar', ['tzf', tgz], { encoding: 'utf8' }).split('\n');
  for (const f of [
    'package/index.js',
    'package/index.mjs',
    'package/index.d.ts',
    'package/loader.js',
    'package/README.md',
    'package/scripts/build.js',
    'package/native/Cargo.toml',
    'package/native/core/Cargo.toml',
    'package/native/core/src/lib.rs',
    'package/native/bindings/Cargo.toml',
    'package/native/node/Cargo.toml',
    'package/native/node/src/lib.rs',
  ]) {
    assert.ok(listing.includes(f), `${f} is in the tarball`);
  }
  assert.ok(!listing.some((f) => f.endsWith('.node')), 'no prebuilt binary in the tarball');

  const project = tempDir('aurora-consumer-');
  fs.writeFileSync(path.join(project, 'package.json'), JSON.stringify({ name: 'consumer', version: '1.0.0', private: true }));
  run(npm, ['install', '--no-audit', '--no-fund', tgz], { cwd: project });
  const installed = path.join(project, 'node_modules', 'aurora-db');
  const scripts = JSON.parse(fs.readFileSync(path.join(installed, 'package.json'), 'utf8')).scripts ?? {};
  assert.deepEqual(['preinstall', 'install', 'postinstall'].filter((s) => s in scripts), [], 'no install script');
  assert.ok(!fs.existsSync(path.join(installed, 'aurora.node')), 'nothing built at install');

  const env = { ...process.env, CARGO_TARGET_DIR: process.env.AURORA_PACK_TARGET_DIR || path.join(REPO_DIR, 'target') };
  const first = spawnSync(process.execPath, ['-e', "require('aurora-db')"], { cwd: project, env, encoding: 'utf8', maxBuffer: 64 * 2 ** 20 });
  assert.equal(first.status, 0, first.stderr);
  assert.match(first.stderr, /no prebuilt addon for .*building the native addon from source/);
  assert.ok(fs.existsSync(path.join(installed, 'aurora.node')), 'the first require built aurora.node');

  const dbPath = path.join(project, 'db');
  const cjs = run(process.execPath, ['-e', `
    const { Aurora, AuroraError } = require('aurora-db');
    (async () => {
      const db = await Aurora.open(${JSON.stringify(dbPath)});
      await db.execute('schema { define collection users { email: String! @unique } }');
      const r = await db.execute('mutation ($e: String!) { insertInto(collection: "users", data: { email: $e }) { email } }', { e: 'a@x.io' });
      const e = await db.execute('query { nope { x } }').catch((e) => e);
      console.log(JSON.stringify(r), e instanceof AuroraError, e.code);
      await db.close();
    })();
  `], { cwd: project });
  assert.equal(cjs.trim(), '{"insertInto":{"email":"a@x.io"}} true NOT_FOUND');

  const esm = run(process.execPath, ['--input-type=module', '-e', `
    import { Aurora } from 'aurora-db';
    const db = await Aurora.open(${JSON.stringify(dbPath)});
    const s = db.stream('subscription { users { email } }');
    await db.execute('mutation { insertInto(collection: "users", data: { email: "b@x.io" }) { email } }');
    for await (const ev of s) { console.log(ev.data.email); break; }
    console.log(JSON.stringify(await db.execute('query { users(orderBy: { email: ASC }) { email } }')));
    await db.close();
  `], { cwd: project });
  assert.equal(esm.trim(), 'b@x.io\n{"users":[{"email":"a@x.io"},{"email":"b@x.io"}]}');
});
