// Smoke test of the aurora-db npm tarballs installed in an empty project (scripts/test-packages.sh).
// Usage (in that project): node smoke.mjs EXPECTED_VERSION DB_DIR -- one line per check, exit 1 on a failure.
import fs from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';

const [expected, dbPath] = process.argv.slice(2);
const project = process.cwd();
const require = createRequire(path.join(project, 'package.json'));
let failures = 0;
function check(ok, what) {
  console.log(`${ok ? 'ok' : 'FAILED'}: ${what}`);
  if (!ok) failures++;
}

const modules = path.join(project, 'node_modules');
const main = JSON.parse(fs.readFileSync(path.join(modules, 'aurora-db', 'package.json'), 'utf8'));
const platforms = Object.keys(main.optionalDependencies ?? {}).filter((p) => fs.existsSync(path.join(modules, p)));
check(main.version === expected, `aurora-db ${main.version}`);
check(platforms.length === 1, `one platform package installed: ${platforms}`);
const platform = JSON.parse(fs.readFileSync(path.join(modules, platforms[0], 'package.json'), 'utf8'));
check(platform.version === expected && platform.libc !== undefined, `${platform.name} ${platform.version} (libc ${platform.libc})`);
const scripts = fs.readdirSync(modules).flatMap((d) => {
  const file = path.join(modules, d, 'package.json');
  const s = fs.existsSync(file) ? JSON.parse(fs.readFileSync(file, 'utf8')).scripts ?? {} : {};
  return ['preinstall', 'install', 'postinstall'].filter((k) => k in s).map((k) => `${d}:${k}`);
});
check(scripts.length === 0, `no install scripts in node_modules (${scripts})`);

const { Aurora, AuroraError } = require('aurora-db');
const addon = Object.keys(require.cache).find((f) => f.endsWith('.node'));
check(addon?.includes(`${path.sep}${platform.name}${path.sep}`), `addon loaded from the platform package: ${addon}`);
check(!fs.existsSync(path.join(modules, 'aurora-db', 'aurora.node')), 'nothing was built from source');

const db = await Aurora.open(dbPath);
await db.execute('schema { define collection users { email: String! @unique  age: Int } }');
const events = db.stream('subscription { users { email } }');
const insert = 'mutation ($e: String!, $a: Int) { insertInto(collection: "users", data: { email: $e, age: $a }) { email } }';
const inserted = await db.execute(insert, { e: 'ann@x.io', a: 41 });
check(JSON.stringify(inserted) === '{"insertInto":{"email":"ann@x.io"}}', `insert with variables: ${JSON.stringify(inserted)}`);
const found = await db.execute('query ($min: Int) { users(where: { age: { gte: $min } }) { email age } }', { min: 40 });
check(JSON.stringify(found) === '{"users":[{"email":"ann@x.io","age":41}]}', `query: ${JSON.stringify(found)}`);
const event = await events.recv(10000);
check(event?.data?.email === 'ann@x.io', `subscription event: ${JSON.stringify(event)}`);
events.close();

const seen = [];
db.registerHandler('greet', async (job) => {
  seen.push(job.payload);
});
await db.startWorkers();
const id = await db.enqueue('greet', { to: 'ann@x.io' });
let status = null;
for (let i = 0; i < 1000 && status?.status !== 'COMPLETED'; i++) {
  await new Promise((r) => setTimeout(r, 20));
  status = await db.jobStatus(id);
}
check(status?.status === 'COMPLETED' && JSON.stringify(seen) === '[{"to":"ann@x.io"}]', `job: ${JSON.stringify(seen)}`);

const err = await db.execute('query { nope { x } }').catch((e) => e);
check(err instanceof AuroraError && err.code === 'NOT_FOUND', `error code ${err.code}`);
await db.close();
process.exit(failures ? 1 : 0);
