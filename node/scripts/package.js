#!/usr/bin/env node
'use strict';
// Makes the npm release tarballs (napi-rs layout) from an addon built for one target triple:
//   <out>/aurora-db-<version>.tgz              the main package: JS, types and the crates for a
//                                              from-source build, with one optionalDependency per
//                                              triple of package.json `napi.targets`, no install script
//   <out>/aurora-db-<platform>-<version>.tgz   only the prebuilt addon, with `os`, `cpu`, `libc`
//
//   node scripts/package.js --addon <libaurora_node.so> --target x86_64-unknown-linux-gnu --out dist/node

const { execFileSync } = require('node:child_process');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');

const pkgDir = path.resolve(__dirname, '..');
const npm = process.platform === 'win32' ? 'npm.cmd' : 'npm';
const ARCH = { x86_64: 'x64', aarch64: 'arm64', i686: 'ia32', armv7: 'arm', riscv64gc: 'riscv64' };
const OS = { linux: 'linux', apple: 'darwin', windows: 'win32', freebsd: 'freebsd' };

/** npm fields of a Rust target triple: x86_64-unknown-linux-gnu -> linux-x64-gnu, os linux, cpu x64, libc glibc. */
function platformOf(triple) {
  const parts = triple.split('-');
  const cpu = ARCH[parts[0]];
  const system = OS[parts.find((p) => OS[p])];
  const abi = ['gnu', 'musl', 'msvc'].find((a) => parts[parts.length - 1].startsWith(a));
  if (!cpu || !system) throw new Error(`unsupported target triple ${triple}`);
  const withAbi = system === 'linux' || system === 'win32';
  const name = withAbi && abi ? `${system}-${cpu}-${abi}` : `${system}-${cpu}`;
  const libc = system === 'linux' && abi ? [abi === 'musl' ? 'musl' : 'glibc'] : undefined;
  return { name, os: [system], cpu: [cpu], libc };
}

function arg(name) {
  const i = process.argv.indexOf(`--${name}`);
  if (i < 0 || !process.argv[i + 1]) throw new Error(`missing --${name}`);
  return process.argv[i + 1];
}

function pack(dir, dest, ...extra) {
  const file = execFileSync(npm, ['pack', '--silent', '--pack-destination', dest, ...extra], { cwd: dir, encoding: 'utf8' });
  return path.join(dest, file.trim().split('\n').pop());
}

const addon = path.resolve(arg('addon'));
const out = path.resolve(arg('out'));
const triple = arg('target');
const meta = JSON.parse(fs.readFileSync(path.join(pkgDir, 'package.json'), 'utf8'));
const platform = platformOf(triple);
if (!meta.napi.targets.includes(triple)) throw new Error(`${triple} is not in package.json napi.targets`);
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'aurora-npm-'));
fs.mkdirSync(out, { recursive: true });

// The main package: `npm pack` of node/ (prepack.js adds the crates), plus the optional dependencies.
const plain = pack(pkgDir, tmp);
execFileSync('tar', ['xzf', plain, '-C', tmp]);
const mainDir = path.join(tmp, 'package');
const main = JSON.parse(fs.readFileSync(path.join(mainDir, 'package.json'), 'utf8'));
main.optionalDependencies = Object.fromEntries(meta.napi.targets.map((t) => [`${meta.name}-${platformOf(t).name}`, meta.version]));
fs.writeFileSync(path.join(mainDir, 'package.json'), `${JSON.stringify(main, null, 2)}\n`);
console.log(pack(mainDir, out, '--ignore-scripts'));

// The platform package: the addon alone.
const platDir = path.join(tmp, platform.name);
const binary = `${meta.napi.binaryName}.${platform.name}.node`;
fs.mkdirSync(platDir);
fs.copyFileSync(addon, path.join(platDir, binary));
const platPkg = {
  name: `${meta.name}-${platform.name}`,
  version: meta.version,
  description: `The prebuilt native addon of ${meta.name} for ${platform.name} (${triple})`,
  license: meta.license,
  main: binary,
  files: [binary],
  os: platform.os,
  cpu: platform.cpu,
  ...(platform.libc ? { libc: platform.libc } : {}),
  engines: meta.engines,
};
fs.writeFileSync(path.join(platDir, 'package.json'), `${JSON.stringify(platPkg, null, 2)}\n`);
fs.writeFileSync(path.join(platDir, 'README.md'), `# ${platPkg.name}\n\n${platPkg.description}. Install \`${meta.name}\`, not this package.\n`);
console.log(pack(platDir, out, '--ignore-scripts'));
fs.rmSync(tmp, { recursive: true, force: true });
