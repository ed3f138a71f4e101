// ESM entry point of aurora-db: the same objects as the CommonJS entry (index.js).
import { createRequire } from 'node:module';

const require = createRequire(import.meta.url);
const aurora = require('./index.js');

export const { Aurora, AuroraError, Statement, Subscription, open, PRIORITIES } = aurora;
