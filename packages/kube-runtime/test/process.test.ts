// Process-level contracts of the Manager, each with a real controller process against the test
// cluster: a cache that cannot sync ends the process with the cause; SIGTERM lets a slow reconcile
// finish, then releases the Lease, then exits 0.
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import type { V1ConfigMap } from '@kubernetes/client-node';
import { ResourceTypes } from '../src/client';
import type { Lease } from '../src/leader';
import { startChild, replicaFlags, type Child } from './support/child';
import { client, createNamespace, deleteNamespace, eventually } from './support/cluster';

let ns: string;
const children: Child[] = [];
const start = (...a: Parameters<typeof startChild>) => {
  const c = startChild(...a);
  children.push(c);
  return c;
};

beforeAll(async () => {
  ns = await createNamespace('rt-process');
});
afterAll(async () => {
  for (const c of children) c.proc.kill('SIGKILL');
  await deleteNamespace(ns);
});

const fixtureMap = (name: string): V1ConfigMap => ({
  apiVersion: 'v1',
  kind: 'ConfigMap',
  metadata: { name, namespace: ns, labels: { 'keiko.io/fixture': 'true' } },
  data: {},
});

describe('Manager process', () => {
  it('exits non-zero naming the kind and the likely cause when a cache cannot sync', async () => {
    const child = start(
      'runtime-child.ts',
      [...replicaFlags(ns, 'sync-timeout', 'a'), '--cache-sync-timeout=3'],
      {
        FIXTURE_MODE: 'missing',
      },
    );
    expect(await child.exit).toBe(1);
    const failure = child.lines('caches did not sync in time; exiting')[0];
    expect(String(failure?.error)).toContain(
      'absents.missing.keiko.io: not served by the apiserver (is its CRD installed?)',
    );
  });

  it('on SIGTERM lets a slow reconcile finish, then releases the Lease, then exits 0', async () => {
    const child = start(
      'runtime-child.ts',
      [...replicaFlags(ns, 'sigterm', 'slow-1'), '--shutdown-grace=20'],
      {
        FIXTURE_MODE: 'slow',
        FIXTURE_SLOW_MS: '3000',
      },
    );
    await eventually('the fixture leads', async () => {
      const lease = await client.get<Lease>(ResourceTypes.Lease, ns, 'sigterm');
      return lease?.spec?.holderIdentity === 'slow-1';
    });
    await client.create(ResourceTypes.ConfigMap, fixtureMap('slow'));
    await eventually('the reconcile is in flight', () => child.lines('reconcile started').length > 0);
    child.proc.kill('SIGTERM');
    expect(await child.exit).toBe(0);
    const cm = await client.get<V1ConfigMap>(ResourceTypes.ConfigMap, ns, 'slow');
    expect(cm?.data?.done).toBe('true');
    const lease = await client.get<Lease>(ResourceTypes.Lease, ns, 'sigterm');
    expect(lease?.spec?.holderIdentity ?? '').toBe('');
    const order = child.log
      .map((l) => (/"msg":"(reconcile finished|stopped)"/.exec(l) ?? [])[1])
      .filter(Boolean);
    expect(order).toEqual(['reconcile finished', 'stopped']);
  });

  it('a slow reconcile past the grace period is aborted, and the Lease is still released', async () => {
    const child = start('runtime-child.ts', [...replicaFlags(ns, 'grace', 'slow-2'), '--shutdown-grace=1'], {
      FIXTURE_MODE: 'slow',
      FIXTURE_SLOW_MS: '600000',
    });
    await eventually('the fixture leads', async () => {
      const lease = await client.get<Lease>(ResourceTypes.Lease, ns, 'grace');
      return lease?.spec?.holderIdentity === 'slow-2';
    });
    await client.create(ResourceTypes.ConfigMap, fixtureMap('endless'));
    await eventually('the reconcile is in flight', () => child.lines('reconcile started').length > 0);
    child.proc.kill('SIGTERM');
    expect(await child.exit).toBe(0);
    expect(child.lines('reconcile finished')).toHaveLength(0);
    const lease = await client.get<Lease>(ResourceTypes.Lease, ns, 'grace');
    expect(lease?.spec?.holderIdentity ?? '').toBe('');
  });
});
