// npm run bench -- <name>: runs bench/<name>.ts, which prints its one-line result.
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';

const dir = import.meta.dirname;
const names = fs
  .readdirSync(dir)
  .filter((f) => f.endsWith('.ts') && f !== 'run.ts')
  .map((f) => f.slice(0, -3));
const name = process.argv[2];
if (!name || !names.includes(name)) {
  console.error(`usage: npm run bench -- <name>; benchmarks: ${names.join(', ') || '(none yet)'}`);
  process.exit(2);
}
const tsx = path.join(dir, '..', 'node_modules', '.bin', 'tsx');
const run = spawnSync(tsx, [path.join(dir, `${name}.ts`), ...process.argv.slice(3)], { stdio: 'inherit' });
process.exit(run.status ?? 1);
