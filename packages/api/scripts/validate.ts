// Checks manifests offline with the same rules the apiserver applies:
//   node_modules/.bin/tsx packages/api/scripts/validate.ts examples/talk/*.yaml
// Prints one line per object and exits 1 when any object has a problem.
import fs from 'node:fs';
import { loadAll } from 'js-yaml';
import { ALL_KINDS, formatProblems, validateKind } from '../src/index';

let failed = false;
for (const file of process.argv.slice(2)) {
  for (const doc of loadAll(fs.readFileSync(file, 'utf8'))) {
    if (typeof doc !== 'object' || doc === null) continue;
    const object = doc as { apiVersion?: string; kind?: string; metadata?: { name?: string } };
    const def = ALL_KINDS.find((d) => d.apiVersion === object.apiVersion && d.kind === object.kind);
    const name = `${file}: ${object.kind ?? '?'}/${object.metadata?.name ?? '?'}`;
    if (!def) {
      console.log(`${name}: not a Keiko kind, skipped`);
      continue;
    }
    const problems = validateKind(def, object);
    failed ||= problems.length > 0;
    console.log(problems.length === 0 ? `${name}: valid` : `${name}: ${formatProblems(problems)}`);
  }
}
process.exitCode = failed ? 1 : 0;
