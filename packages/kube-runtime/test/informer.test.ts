import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import * as k8s from '@kubernetes/client-node';
import { compactEtcd, TcpProxy } from '@keiko/testenv';
import { KubeClient, ResourceTypes } from '../src/client';
import { Informer, objectKey } from '../src/informer';
import { client, createNamespace, deleteNamespace, eventually, kc } from './support/cluster';

type Recorded = { type: 'add' | 'update' | 'delete'; key: string; rv?: string };

function record<T extends k8s.KubernetesObject>(informer: Informer<T>): Recorded[] {
  const seen: Recorded[] = [];
  informer.addEventHandler({
    onAdd: (o) => seen.push({ type: 'add', key: objectKey(o) }),
    onUpdate: (_old, o) => seen.push({ type: 'update', key: objectKey(o), rv: o.metadata?.resourceVersion }),
    onDelete: (o) => seen.push({ type: 'delete', key: objectKey(o) }),
  });
  return seen;
}

const cm = (namespace: string, name: string, data: Record<string, string> = {}): k8s.V1ConfigMap => ({
  apiVersion: 'v1',
  kind: 'ConfigMap',
  metadata: { name, namespace, labels: { app: 'informer-test' } },
  data,
});

describe('Informer', () => {
  let ns: string;
  beforeAll(async () => {
    ns = await createNamespace('informer');
  });
  afterAll(async () => {
    await deleteNamespace(ns);
  });

  it('lists existing objects, then sees create, update and delete', async () => {
    await client.create(ResourceTypes.ConfigMap, cm(ns, 'before'));
    const informer = new Informer<k8s.V1ConfigMap>(client, ResourceTypes.ConfigMap, {
      namespace: ns,
      pageSize: 1, // exercise paging of the initial LIST
      indexers: { byApp: (o) => [o.metadata?.labels?.app ?? ''] },
    });
    const seen = record(informer);
    informer.start();
    try {
      await informer.waitForSync();
      expect(informer.hasSynced()).toBe(true);
      // kube-root-ca.crt is created in every namespace by the controller-manager
      expect(informer.getByName(ns, 'before')?.metadata?.name).toBe('before');

      await client.create(ResourceTypes.ConfigMap, cm(ns, 'x', { v: '1' }));
      await eventually('add of x', () => informer.getByName(ns, 'x'));
      await client.patch(ResourceTypes.ConfigMap, ns, 'x', { data: { v: '2' } });
      await eventually('update of x', () => informer.getByName(ns, 'x')?.data?.v === '2' || undefined);
      expect(
        informer
          .byIndex('byApp', 'informer-test')
          .map((o) => o.metadata?.name)
          .sort(),
      ).toEqual(['before', 'x']);
      await client.delete(ResourceTypes.ConfigMap, ns, 'x');
      await eventually('delete of x', () => (informer.getByName(ns, 'x') ? undefined : true));

      const forX = seen.filter((e) => e.key === `${ns}/x`).map((e) => e.type);
      expect(forX).toEqual(['add', 'update', 'delete']);
      expect(seen.filter((e) => e.key === `${ns}/before`).map((e) => e.type)).toEqual(['add']);
      expect(informer.byIndex('byApp', 'informer-test').map((o) => o.metadata?.name)).toEqual(['before']);
      expect(informer.listCount).toBe(1);
    } finally {
      await informer.stop();
    }
  });

  it('re-lists after 410 Gone and emits exactly the changes it missed', async () => {
    // The informer reaches the apiserver through a proxy the test can cut. PodTemplates bypass the
    // watch cache in the test cluster, so compacting etcd expires the informer's resourceVersion.
    const server = new URL(kc.getCurrentCluster()!.server);
    const proxy = new TcpProxy(server.hostname, Number(server.port));
    const port = await proxy.start();
    const proxied = new k8s.KubeConfig();
    proxied.loadFromString(kc.exportConfig().replace(server.origin, `https://127.0.0.1:${port}`));
    const viaProxy = new KubeClient(proxied);

    const tpl = (name: string, image: string): k8s.V1PodTemplate => ({
      apiVersion: 'v1',
      kind: 'PodTemplate',
      metadata: { name, namespace: ns },
      template: { spec: { containers: [{ name: 'c', image }] } },
    });
    for (const n of ['keep', 'change', 'remove'])
      await client.create(ResourceTypes.PodTemplate, tpl(n, 'one'));

    const informer = new Informer<k8s.V1PodTemplate>(viaProxy, ResourceTypes.PodTemplate, {
      namespace: ns,
      backoff: { initialMs: 100, maxMs: 500 },
    });
    const seen = record(informer);
    informer.start();
    try {
      await informer.waitForSync();
      expect(informer.keys().sort()).toEqual([`${ns}/change`, `${ns}/keep`, `${ns}/remove`]);
      seen.length = 0;

      proxy.cut();
      await client.patch(
        ResourceTypes.PodTemplate,
        ns,
        'change',
        { template: { spec: { containers: [{ name: 'c', image: 'two' }] } } },
        { type: 'strategic' },
      );
      await client.delete(ResourceTypes.PodTemplate, ns, 'remove');
      await client.create(ResourceTypes.PodTemplate, tpl('new', 'one'));
      await compactEtcd();
      proxy.restore();

      await eventually('re-list after 410', () => (informer.listCount === 2 ? true : undefined), 30_000);
      await eventually('cache converged', () =>
        informer.keys().length === 3 && informer.getByName(ns, 'new') ? true : undefined,
      );
      expect(informer.keys().sort()).toEqual([`${ns}/change`, `${ns}/keep`, `${ns}/new`]);
      expect(informer.getByName(ns, 'change')?.template?.spec?.containers[0]?.image).toBe('two');
      expect(seen.map((e) => `${e.type} ${e.key}`).sort()).toEqual([
        `add ${ns}/new`,
        `delete ${ns}/remove`,
        `update ${ns}/change`,
      ]);

      // and it keeps watching after the re-list
      await client.delete(ResourceTypes.PodTemplate, ns, 'keep');
      await eventually('delete seen after re-list', () =>
        informer.getByName(ns, 'keep') ? undefined : true,
      );
    } finally {
      await informer.stop();
      await proxy.stop();
    }
  });

  it('redelivers every object on resync', async () => {
    const informer = new Informer<k8s.V1ConfigMap>(client, ResourceTypes.ConfigMap, {
      namespace: ns,
      resyncPeriodMs: 300,
      labelSelector: 'app=informer-test',
    });
    const seen = record(informer);
    informer.start();
    try {
      await informer.waitForSync();
      await eventually(
        'two resyncs',
        () =>
          seen.filter((e) => e.type === 'update' && e.key === `${ns}/before`).length >= 2 ? true : undefined,
        5_000,
      );
    } finally {
      await informer.stop();
    }
  });
});
