// npm run e2e [-- <tool>]: every end-to-end suite under e2e/, or one tool's (e2e/<tool>/).
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';

const root = path.resolve(import.meta.dirname, '..');
const tool = process.argv[2];
const suites = fs
  .readdirSync(path.join(root, 'e2e'), { withFileTypes: true })
  .filter((d) => d.isDirectory())
  .map((d) => d.name);
if (tool && !suites.includes(tool)) {
  console.error(`e2e: no suite e2e/${tool}/; suites: ${suites.join(', ')}`);
  process.exit(2);
}
const args = [
  '--disable-warning=ExperimentalWarning',
  '--experimental-vm-modules',
  path.join(root, 'node_modules/jest/bin/jest.js'),
  '--config',
  path.join(root, 'e2e/jest.config.js'),
  ...(tool ? [`e2e/${tool}/`] : []),
  ...process.argv.slice(3),
];
const run = spawnSync(process.execPath, args, { stdio: 'inherit', cwd: root });
process.exit(run.status ?? 1);
