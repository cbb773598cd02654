// Groups for the pure tests: the repository's examples as written, and small builders.
import fs from 'node:fs';
import path from 'node:path';
import { loadYaml } from '@kubernetes/client-node';
import { normalizeInstanceGroup, type InstanceGroup } from '@keiko/api';

export const repoRoot = path.resolve(import.meta.dirname, '../../../..');

/** An example manifest (path relative to examples/), as stored (not normalized). */
export function example(file: string): InstanceGroup {
  return loadYaml<InstanceGroup>(fs.readFileSync(path.join(repoRoot, 'examples', file), 'utf8'));
}

/** The talk's hello-world, normalized as the controller reads it. */
export function talkGroup(): InstanceGroup {
  return normalizeInstanceGroup(example('talk/instancegroup-hello-world.yaml'));
}

export function withMeta(ig: InstanceGroup, meta: Partial<InstanceGroup['metadata']>): InstanceGroup {
  return { ...ig, metadata: { ...ig.metadata, ...meta } };
}
