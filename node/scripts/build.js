#!/usr/bin/env node
'use strict';
// Builds the native addon (aurora.node) from source with `cargo build --release`: `npm run build`,
// node/test.sh, and loader.js when no prebuilt platform package matches the machine.
//
// Two layouts: in the repository, node/ is itself the crate (a member of the root workspace);
// in a packed package, native/ holds a small Cargo workspace (core, bindings and the node crate)
// that `npm pack` put there (scripts/prepack.js). The cdylib cargo links is the addon: napi-rs's
// build script (napi-build) adds the platform's link flags, so no other tool is needed.

const { spawnSync } = require('node:child_process');
const fs = require('node:fs');
const path = require('node:path');

const pkgDir = path.resolve(__dirname, '..');
const packaged = path.join(pkgDir, 'native', 'node', 'Cargo.toml');
const manifest = fs.existsSync(packaged) ? packaged : path.join(pkgDir, 'Cargo.toml');
const out = path.join(pkgDir, 'aurora.node');

const cargo = process.env.CARGO || 'cargo';
const probe = spawnSync(cargo, ['--version'], { stdio: 'ignore' });
if (probe.error || probe.status !== 0) {
  console.error('aurora-db: building the native addon needs Rust (cargo) on PATH: https://rustup.rs');
  process.exit(1);
}

console.error(`aurora-db: building the native addon from ${path.relative(pkgDir, manifest)} (cargo, release)...`);
const args = ['build', '--release', '--manifest-path', manifest, '-p', 'aurora-node', '--message-format=json-render-diagnostics'];
const r = spawnSync(cargo, args, { cwd: pkgDir, stdio: ['ignore', 'pipe', 'inherit'], encoding: 'utf8', maxBuffer: 256 * 2 ** 20 });
if (r.error) throw r.error;
if (r.status !== 0) process.exit(r.status ?? 1);

// The cdylib's file (libaurora_node.so, libaurora_node.dylib, aurora_node.dll) from cargo's report.
const lib = r.stdout
  .split('\n')
  .filter((line) => line.startsWith('{'))
  .map((line) => JSON.parse(line))
  .filter((m) => m.reason === 'compiler-artifact' && m.target && m.target.name === 'aurora_node')
  .flatMap((m) => m.filenames)
  .find((f) => /\.(so|dylib|dll)$/.test(f));
if (!lib) {
  console.error('aurora-db: cargo finished but reported no aurora_node library');
  process.exit(1);
}
// Copy to a temporary name first: a process that has the old addon loaded keeps its mapping.
fs.copyFileSync(lib, `${out}.tmp`);
fs.renameSync(`${out}.tmp`, out);
console.error(`aurora-db: built ${out}`);
