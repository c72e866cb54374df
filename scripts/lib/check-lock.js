// Exits non-zero unless node_modules matches package-lock.json: every installed package at its
// locked version, every locked package that is not optional installed, nothing unlocked installed.
// Used by scripts/lib/npm-install after its `npm install --no-save` fallback.
const { readFileSync } = require('node:fs');
const { join } = require('node:path');

const root = join(__dirname, '..', '..');
const locked = JSON.parse(readFileSync(join(root, 'package-lock.json'), 'utf8')).packages;
const installed = JSON.parse(readFileSync(join(root, 'node_modules', '.package-lock.json'), 'utf8')).packages;
const problems = [];
for (const [path, entry] of Object.entries(installed)) {
  const want = locked[path];
  if (!want) problems.push(`${path}@${entry.version} is installed but not in package-lock.json`);
  else if (want.version !== entry.version) problems.push(`${path} is ${entry.version}, package-lock.json says ${want.version}`);
}
for (const [path, entry] of Object.entries(locked)) {
  if (path && !entry.optional && !entry.link && !installed[path]) problems.push(`${path}@${entry.version} is locked but not installed`);
}
if (problems.length > 0) {
  console.error(`node_modules does not match package-lock.json (run npm install and commit the lock file):\n  ${problems.join('\n  ')}`);
  process.exit(1);
}
