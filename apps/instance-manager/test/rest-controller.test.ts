// A settled group at rest makes no AWS call on its resyncs; a change of its nodes brings a full pass at once.
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import type { V1Node } from '@kubernetes/client-node';
import { ResourceTypes } from '@keiko/kube-runtime';
import { eventually } from '@keiko/testenv';
import { example } from './support/fixtures';
import { startWorld, type World } from './support/world';

let world: World;
beforeAll(async () => {
  // resync every 10 s (the world's), a full pass at most hourly: every resync of a settled group is skipped.
  world = await startWorld({ prefix: 'im-rest', driftCheckMs: 3_600_000 });
}, 120_000);
afterAll(async () => world?.stop(), 120_000);

async function awsCalls(): Promise<number> {
  const metric = await world.mgr.metrics.registry.getSingleMetric('keiko_aws_api_calls_total')?.get();
  return (metric?.values ?? []).reduce((sum, v) => sum + v.value, 0);
}
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe('a settled group at rest', () => {
  it('spends no AWS call on its resyncs, and a cordoned node brings a full pass', async () => {
    const ig = structuredClone(example('instance-manager/hello-world-sandbox.yaml'));
    ig.metadata = { name: 'rest' };
    delete ig.status;
    if (ig.spec['eks-cf']) Object.assign(ig.spec['eks-cf'], { minSize: 1, maxSize: 2 });
    await world.apply(ig);
    const ready = await world.waitFor('rest', 'Ready', (g) => g.status?.currentState === 'Ready', 120_000);

    await sleep(12_000); // the pass that wrote Ready has ended
    const before = await awsCalls();
    await sleep(25_000); // two resyncs (10 s) of the settled group
    expect(await awsCalls()).toBe(before);

    const nodes = await world.groupNodes(ready.status?.activeScalingGroupName ?? '');
    const node = nodes[0];
    expect(node).toBeDefined();
    await world.client.patch<V1Node>(ResourceTypes.Node, undefined, node?.metadata?.name ?? '', {
      spec: { unschedulable: true },
    });
    await eventually('a full pass after the cordon', async () => (await awsCalls()) > before, 60_000, 500);
  }, 300_000);
});
