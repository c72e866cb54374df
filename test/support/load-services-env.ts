import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';

/**
 * Jest setup for the integration and e2e projects: connection settings of the local services
 * written by `scripts/services up` (values already in the environment win).
 */
const file = join(process.env.TIDEMARK_SERVICES_DIR ?? join(__dirname, '..', '..', '.services'), 'env');
if (!existsSync(file)) {
  throw new Error(`${file} is missing: run "scripts/services up" (npm test does it for you)`);
}
for (const line of readFileSync(file, 'utf8').split('\n')) {
  const m = /^export ([A-Z_][A-Z0-9_]*)=(.*)$/.exec(line.trim());
  if (m && process.env[m[1]!] === undefined) process.env[m[1]!] = m[2]!;
}
