#!/usr/bin/env node
'use strict';
// Builds the native addon (aurora.node) from source with `napi build --release`.
// Runs as the package's `install` script, and as `npm run build`.
//
// Two layouts: in the repository, node/ is itself the crate (a member of the root workspace);
// in a packed package, native/ holds a small Cargo workspace (core, bindings and the node crate)
// that `npm pack` put there (scripts/prepack.js).

const { spawnSync } = require('node:child_process');
const fs = require('node:fs');
const path = require('node:path');

const pkgDir = path.resolve(__dirname, '..');
const packaged = path.join(pkgDir, 'native', 'node', 'Cargo.toml');
const manifest = fs.existsSync(packaged) ? packaged : path.join(pkgDir, 'Cargo.toml');

function napiCli() {
  const pkgJson = require.resolve('@napi-rs/cli/package.json', { paths: [pkgDir] });
  const pkg = JSON.parse(fs.readFileSync(pkgJson, 'utf8'));
  const bin = typeof pkg.bin === 'string' ? pkg.bin : pkg.bin.napi;
  return path.join(path.dirname(pkgJson), bin);
}

const cargo = spawnSync('cargo', ['--version'], { stdio: 'ignore' });
if (cargo.error || cargo.status !== 0) {
  console.error('aurora-db: building the native addon needs Rust (cargo) on PATH: https://rustup.rs');
  process.exit(1);
}

const args = [
  napiCli(),
  'build',
  '--release',
  '--manifest-path', manifest,
  '--package-json-path', path.join(pkgDir, 'package.json'),
  '--output-dir', pkgDir,
  '--dts', 'native.d.ts',
];
if (process.env.AURORA_NODE_BUILD_VERBOSE) args.push('--verbose');
console.error(`aurora-db: building the native addon from ${path.relative(pkgDir, manifest)} (cargo, release)...`);
const r = spawnSync(process.execPath, args, { cwd: pkgDir, stdio: 'inherit' });
if (r.error) throw r.error;
if (r.status !== 0) process.exit(r.status ?? 1);
if (!fs.existsSync(path.join(pkgDir, 'aurora.node'))) {
  console.error('aurora-db: the build finished but aurora.node is missing');
  process.exit(1);
}
