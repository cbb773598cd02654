// The shared cache and the informer's handler isolation, against the real apiserver.
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import type { V1ConfigMap } from '@kubernetes/client-node';
import { ApiFaultProxy } from '@keiko/testenv';
import { SharedCache } from '../src/cache';
import { KubeClient, ResourceTypes } from '../src/client';
import { Controller } from '../src/controller';
import { Informer } from '../src/informer';
import { client, createNamespace, deleteNamespace, eventually } from './support/cluster';

const CM = ResourceTypes.ConfigMap;
let ns: string;
let proxy: ApiFaultProxy;

beforeAll(async () => {
  ns = await createNamespace('rt-cache');
  proxy = new ApiFaultProxy();
  await proxy.start();
});
afterAll(async () => {
  await proxy.stop();
  await deleteNamespace(ns);
});

const create = (name: string) =>
  client.create<V1ConfigMap>(CM, { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name, namespace: ns } });

describe('SharedCache', () => {
  it('serves two controllers of one kind from one LIST/WATCH', async () => {
    await create('shared-1');
    const counted = new KubeClient(proxy.kubeconfig());
    const cache = new SharedCache(counted);
    const seen: Record<string, string[]> = { a: [], b: [] };
    const controllers = (['a', 'b'] as const).map(
      (name) =>
        new Controller<V1ConfigMap>({
          name,
          client: counted,
          cache,
          for: CM,
          namespace: ns,
          reconcile: async (req) => void seen[name]!.push(req.name),
        }),
    );
    proxy.resetStats();
    await Promise.all(controllers.map((c) => c.start()));
    await create('shared-2');
    await eventually('both controllers to see both objects', () =>
      Object.values(seen).every((keys) => keys.includes('shared-1') && keys.includes('shared-2')),
    );
    const reads = proxy
      .forwardedLog()
      .filter((r) => r.method === 'GET' && r.path.startsWith(`/api/v1/namespaces/${ns}/configmaps?`));
    const watches = reads.filter((r) => r.path.includes('watch=true'));
    // One streaming list (a watch), or one LIST and one WATCH where the server has no streaming list.
    expect(watches).toHaveLength(1);
    expect(reads.length).toBeLessThanOrEqual(2);
    for (const c of controllers) await c.stop(1000);
  });
});

describe('Informer handlers', () => {
  it('a throwing handler loses no event for the others, and the cache keeps up', async () => {
    const informer = new Informer<V1ConfigMap>(client, CM, { namespace: ns });
    const added: string[] = [];
    const updated: string[] = [];
    informer.addEventHandler({
      onAdd: () => {
        throw new Error('handler bug');
      },
      onUpdate: () => {
        throw new Error('handler bug');
      },
    });
    informer.addEventHandler({
      onAdd: (o) => added.push(o.metadata!.name!),
      onUpdate: (_o, n) => updated.push(n.metadata!.name!),
    });
    informer.start();
    await informer.waitForSync();
    for (const name of ['h-1', 'h-2', 'h-3']) await create(name);
    await client.patch(CM, ns, 'h-2', { data: { x: '1' } });
    await eventually(
      'every add and the update to reach the second handler',
      () => ['h-1', 'h-2', 'h-3'].every((n) => added.includes(n)) && updated.includes('h-2'),
    );
    expect(informer.getByName(ns, 'h-2')?.data?.x).toBe('1');
    await informer.stop();
  });

  it('gives listed objects their apiVersion and kind', async () => {
    const list = await client.list<V1ConfigMap>(CM, { namespace: ns });
    expect(list.items.length).toBeGreaterThan(0);
    for (const item of list.items) expect([item.apiVersion, item.kind]).toEqual(['v1', 'ConfigMap']);
  });
});
