// File sources read from --workflow-dir only: no directory, a path that climbs out of it, an absolute path
// or a symlink pointing out are refused with the field named (the controller's own files, such as its
// ServiceAccount token, are never a HealthCheck's workflow).
import { afterAll, describe, expect, it } from '@jest/globals';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { readSource } from '../src/healthcheck/source';

const root = fs.mkdtempSync(path.join(os.tmpdir(), 'am-source-'));
const dir = path.join(root, 'workflows');
fs.mkdirSync(dir);
fs.writeFileSync(path.join(dir, 'dns.yaml'), 'kind: Workflow\n');
fs.writeFileSync(path.join(root, 'secret'), 'token');
fs.symlinkSync(path.join(root, 'secret'), path.join(dir, 'link.yaml'));
afterAll(() => fs.rmSync(root, { recursive: true, force: true }));

const file = (p: string) => ({ resource: { namespace: 'health', source: { file: { path: p } } } });

describe('file sources', () => {
  it('read a file inside --workflow-dir', async () => {
    expect(await readSource(file('dns.yaml'), 'spec.workflow', dir)).toBe('kind: Workflow\n');
  });

  it('are refused outside it, or without one, naming the field', async () => {
    for (const p of ['../secret', path.join(root, 'secret'), 'link.yaml'])
      await expect(readSource(file(p), 'spec.workflow', dir)).rejects.toThrow(
        `spec.workflow.resource.source.file.path ${p}: is outside --workflow-dir`,
      );
    await expect(readSource(file('dns.yaml'), 'spec.workflow', undefined)).rejects.toThrow(
      /file.path dns.yaml: no --workflow-dir is set/,
    );
  });
});
