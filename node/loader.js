'use strict';
// Finds and loads the native addon, in this order: aurora.node next to this file (a build from
// source: the repository, `npm run build`, or an earlier fallback build); the prebuilt package of
// this platform (aurora-db-<platform>-<arch>[-<abi>], an optional dependency, napi-rs layout);
// else it builds aurora.node from source once (scripts/build.js, needs cargo), saying so.

const fs = require('node:fs');
const path = require('node:path');
const { spawnSync } = require('node:child_process');

/** The napi-rs name of this platform: linux-x64-gnu, linux-arm64-musl, darwin-arm64, win32-x64-msvc... */
function platformName(platform = process.platform, arch = process.arch) {
  if (platform === 'linux') return `linux-${arch}-${isMusl() ? 'musl' : 'gnu'}`;
  if (platform === 'win32') return `win32-${arch}-msvc`;
  return `${platform}-${arch}`;
}

/** True on a musl libc (Alpine): glibc's ldd names itself; else Node's report says which libc runs. */
function isMusl() {
  try {
    return fs.readFileSync('/usr/bin/ldd', 'latin1').includes('musl');
  } catch {
    const header = typeof process.report?.getReport === 'function' ? process.report.getReport().header : null;
    return !header?.glibcVersionRuntime;
  }
}

function buildFromSource(why) {
  const script = path.join(__dirname, 'scripts', 'build.js');
  console.error(`aurora-db: ${why}; building the native addon from source with cargo, once (a few minutes)...`);
  const r = spawnSync(process.execPath, [script], { stdio: ['ignore', 2, 2] });
  if (r.error || r.status !== 0) {
    throw new Error(
      `aurora-db: ${why}, and building it from source failed (${r.error ? r.error.message : `exit ${r.status}`}). ` +
        'Install Rust (https://rustup.rs) and retry, or run `npm run build` inside node_modules/aurora-db.',
    );
  }
}

function requireLocal(file) {
  try {
    return require(file);
  } catch (e) {
    const err = new Error(`aurora-db: cannot load ${file} (${e && e.message}); rebuild it: \`npm run build\` in the package`);
    err.cause = e;
    throw err;
  }
}

/** The addon's exports; throws an Error that says what was tried. */
function loadNative() {
  const local = path.join(__dirname, 'aurora.node');
  if (fs.existsSync(local)) return requireLocal(local);
  const platform = platformName();
  const pkg = `aurora-db-${platform}`;
  let why = `no prebuilt addon for ${platform} (the optional package ${pkg} is not installed)`;
  try {
    return require(pkg);
  } catch (e) {
    const missing = e && e.code === 'MODULE_NOT_FOUND' && String(e.message).includes(`'${pkg}'`);
    if (!missing) why = `the prebuilt addon ${pkg} does not load here (${e && e.message})`;
  }
  buildFromSource(why);
  return requireLocal(local);
}

module.exports = { loadNative, platformName };
