// Writes every CRD to charts/<tool>/crds/ and every reference page to docs/crds/, and removes files
// in those directories that generation no longer produces. Deterministic: running it twice changes nothing.
import fs from 'node:fs';
import path from 'node:path';
import { GENERATED_MARKDOWN_NOTICE } from '../src/docs';
import { GENERATED_YAML_NOTICE, generatedDirectories, generatedFiles } from '../src/render';

const repoRoot = path.resolve(import.meta.dirname, '..', '..', '..');
const files = generatedFiles();
const wanted = new Set(files.map((f) => f.path));

let written = 0;
for (const file of files) {
  const target = path.join(repoRoot, file.path);
  fs.mkdirSync(path.dirname(target), { recursive: true });
  if (fs.existsSync(target) && fs.readFileSync(target, 'utf8') === file.content) continue;
  fs.writeFileSync(target, file.content);
  written++;
  console.log(`wrote ${file.path}`);
}
for (const dir of generatedDirectories()) {
  for (const name of fs.readdirSync(path.join(repoRoot, dir))) {
    const rel = `${dir}/${name}`;
    if (wanted.has(rel)) continue;
    const text = fs.readFileSync(path.join(repoRoot, rel), 'utf8');
    // Only what generation once wrote is removed; a hand-written file is reported and left alone.
    if (text.startsWith(GENERATED_YAML_NOTICE) || text.includes(GENERATED_MARKDOWN_NOTICE)) {
      fs.rmSync(path.join(repoRoot, rel));
      console.log(`removed stale ${rel}`);
    } else {
      console.warn(`${rel} is not generated; files in ${dir}/ must come from packages/api`);
      process.exitCode = 1;
    }
  }
}
console.log(`${files.length} generated files, ${written} changed`);
