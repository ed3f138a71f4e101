// Type-checked (never run) by types.test.mjs: the API from CommonJS TypeScript.
import aurora = require('aurora-db');

async function main(): Promise<void> {
  const db: aurora.Aurora = await aurora.Aurora.open('db');
  const r = await db.execute('query { users { email } }');
  const stmt: aurora.Statement = db.prepare('query { users { email } }');
  const s = stmt.executeSync();
  const opened: aurora.Aurora = aurora.Aurora.openSync('db2');
  const e = new aurora.AuroraError('m', 'IO');
  const sub: aurora.Subscription<aurora.ChangeEvent | aurora.LaggedEvent> = db.listen('*');
  sub.close();
  await db.close();
}
main();
