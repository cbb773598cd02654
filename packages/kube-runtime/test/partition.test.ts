// A leader cut off from the apiserver mid-operation: each replica reaches the apiserver through a fault
// proxy of its own, so writes are counted per replica where they land. The partitioned leader must
// stop writing at once, make no write once its partition heals, and exit; the other replica takes over.
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import type { V1ConfigMap } from '@kubernetes/client-node';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { ApiFaultProxy } from '@keiko/testenv';
import { ResourceTypes } from '../src/client';
import type { Lease } from '../src/leader';
import { replicaFlags, startChild, type Child } from './support/child';
import { client, createNamespace, deleteNamespace, eventually } from './support/cluster';

let ns: string;
const proxies: ApiFaultProxy[] = [];
const children: Child[] = [];
const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'keiko-partition-'));

/** A writer replica behind a proxy of its own. */
async function replica(identity: string): Promise<{ child: Child; proxy: ApiFaultProxy }> {
  const proxy = new ApiFaultProxy();
  await proxy.start();
  proxies.push(proxy);
  const kubeconfig = path.join(dir, `${identity}.kubeconfig`);
  fs.writeFileSync(kubeconfig, proxy.kubeconfigYaml());
  const child = startChild(
    'runtime-child.ts',
    [...replicaFlags(ns, 'partition', identity), `--kubeconfig=${kubeconfig}`],
    { FIXTURE_MODE: 'writer' },
  );
  children.push(child);
  return { child, proxy };
}

const holder = async () =>
  (await client.get<Lease>(ResourceTypes.Lease, ns, 'partition'))?.spec?.holderIdentity;
const isWrite = (method: string) => ['POST', 'PUT', 'PATCH', 'DELETE'].includes(method);

beforeAll(async () => {
  ns = await createNamespace('rt-partition');
});
afterAll(async () => {
  for (const c of children) c.proc.kill('SIGKILL');
  for (const p of proxies) await p.stop();
  await deleteNamespace(ns);
  fs.rmSync(dir, { recursive: true, force: true });
});

describe('a partitioned leader', () => {
  it('stops writing at once, writes nothing after the partition heals, and exits', async () => {
    const a = await replica('a');
    await eventually('a to lead', async () => (await holder()) === 'a');
    const b = await replica('b');
    await client.create<V1ConfigMap>(ResourceTypes.ConfigMap, {
      apiVersion: 'v1',
      kind: 'ConfigMap',
      metadata: { name: 'work', namespace: ns, labels: { 'keiko.io/fixture': 'true' } },
    });
    await eventually('a to be writing', () => a.child.lines('wrote').length >= 2);

    a.proxy.pause();
    await eventually('a to step down', () => a.child.lines('leadership lost; stopping at once').length > 0);
    // Its calls in flight were aborted: the proxy sees their connections close before the heal.
    await eventually('a to abandon its calls in flight', () => a.proxy.stats().abandoned > 0);
    const healedAt = Date.now();
    a.proxy.resume();

    expect(await a.child.exit).toBe(1);
    await eventually('b to lead', async () => (await holder()) === 'b', 60_000);
    await eventually('b to write', () => b.child.lines('wrote').length > 0);
    const firstWriteOfB = b.proxy.forwardedLog().find((r) => isWrite(r.method))!.at;
    const lateWrites = a.proxy
      .forwardedLog()
      .filter((r) => isWrite(r.method) && r.at >= Math.min(healedAt, firstWriteOfB));
    expect(lateWrites).toEqual([]);
    expect(a.proxy.stats().dropped).toBeGreaterThan(0);
  });
});
