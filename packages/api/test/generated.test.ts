// The files under charts/*/crds and docs/crds must be what `npm run generate -w @keiko/api` writes now.
import fs from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from '@jest/globals';
import { generatedDirectories, generatedFiles } from '../src/render';
import { repoRoot } from './fixtures';

const HINT = 'stale generated file: run `npm run generate -w @keiko/api`';

describe('generated CRDs and reference pages', () => {
  const files = generatedFiles();

  it.each(files.map((f) => [f.path, f] as const))('%s is up to date', (_path, file) => {
    const target = path.join(repoRoot, file.path);
    const onDisk = fs.existsSync(target) ? fs.readFileSync(target, 'utf8') : `<missing ${file.path}>`;
    try {
      expect(onDisk).toEqual(file.content);
    } catch (err) {
      // The instruction first, then jest's diff of what changed.
      throw new Error(`${file.path}: ${HINT}\n\n${(err as Error).message}`);
    }
  });

  it('leaves nothing else in the generated directories', () => {
    const wanted = new Set(files.map((f) => f.path));
    const extra = generatedDirectories()
      .flatMap((dir) =>
        fs.existsSync(path.join(repoRoot, dir))
          ? fs.readdirSync(path.join(repoRoot, dir)).map((n) => `${dir}/${n}`)
          : [],
      )
      .filter((p) => !wanted.has(p));
    if (extra.length > 0) throw new Error(`not produced by generation: ${extra.join(', ')}; ${HINT}`);
  });

  it('renders deterministically', () => {
    expect(generatedFiles()).toEqual(files);
  });
});
