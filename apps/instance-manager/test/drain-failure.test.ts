// A rolling update whose drain a PodDisruptionBudget blocks, against the real apiserver (evictions
// refused by the real PDB controller's status) and the AWS emulator: the node is never left cordoned,
// each failure is recorded on the node, the other nodes are replaced, and after a second failure the
// rotation stops with RollingUpdate=False/DrainFailed and a Warning Event — nothing terminated.
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { InstanceGroupKind, type InstanceGroup } from '@keiko/api';
import { ResourceTypes } from '@keiko/kube-runtime';
import { DRAIN_FAILURE_ANNOTATION } from '@keiko/node-ops';
import type { V1Node, V1Pod, V1PodDisruptionBudget } from '@kubernetes/client-node';
import { SIMULATOR_LABEL } from '../sandbox/node-simulator';
import { example } from './support/fixtures';
import { startWorld, waitUntil, type World } from './support/world';

let world: World;
beforeAll(async () => {
  world = await startWorld({ prefix: 'im-pdb', drainTimeoutMs: 2_000 });
});
afterAll(async () => {
  await world?.stop();
});

async function groupNodes(groupName: string): Promise<V1Node[]> {
  const group = await world.aws.autoScaling.describeGroup(groupName);
  const ids = new Set(group?.instances.map((i) => i.id));
  const nodes = (
    await world.client.listAll<V1Node>(ResourceTypes.Node, {
      labelSelector: `${SIMULATOR_LABEL}=${world.namespace}`,
    })
  ).items;
  return nodes.filter((n) => ids.has(n.spec?.providerID?.split('/').pop() ?? ''));
}

describe('rollingUpdate with a drain a PodDisruptionBudget blocks', () => {
  it('gives the node back, replaces the others, and stops with DrainFailed after a second failure', async () => {
    const ig = structuredClone(example('instance-manager/hello-world-sandbox.yaml')) as InstanceGroup;
    ig.metadata = { name: 'blocked' };
    delete ig.status;
    const cf = ig.spec['eks-cf']!;
    cf.minSize = 2;
    cf.maxSize = 3;
    ig.spec.strategy = { type: 'rollingUpdate', rollingUpdate: { maxUnavailable: 1 } };
    await world.apply(ig);
    const ready = await world.waitFor('blocked', 'Ready', (g) => g.status?.currentState === 'Ready', 90_000);
    const asg = ready.status?.activeScalingGroupName ?? '';
    const [pinned, other] = (await groupNodes(asg)).map((n) => n.metadata?.name ?? '');

    // One pod on the first node, protected by a PDB that allows no disruption.
    await world.client.create<V1Pod>(ResourceTypes.Pod, {
      apiVersion: 'v1',
      kind: 'Pod',
      metadata: { name: 'guarded', namespace: world.namespace, labels: { app: 'guarded' } },
      spec: { nodeName: pinned, containers: [{ name: 'c', image: 'registry.invalid/c:1' }] },
    });
    await world.client.create(ResourceTypes.PodDisruptionBudget, {
      apiVersion: 'policy/v1',
      kind: 'PodDisruptionBudget',
      metadata: { name: 'guarded', namespace: world.namespace },
      spec: { minAvailable: 1, selector: { matchLabels: { app: 'guarded' } } },
    });
    await waitUntil('the PDB to count the pod healthy', async () => {
      const pdb = await world.client.get<V1PodDisruptionBudget>(
        ResourceTypes.PodDisruptionBudget,
        world.namespace,
        'guarded',
      );
      return pdb?.status?.currentHealthy === 1;
    });

    const changed = structuredClone(ready);
    const configuration = changed.spec['eks-cf']?.configuration;
    if (!configuration) throw new Error('fixture: eks-cf configuration');
    configuration.instanceType = 'm3.large';
    await world.client.replace(InstanceGroupKind, changed);

    const failed = await waitUntil(
      'the rotation to stop with DrainFailed',
      async () => {
        const g = await world.get('blocked');
        const c = g?.status?.conditions?.find((x) => x.type === 'RollingUpdate');
        return c?.reason === 'DrainFailed' ? { g: g!, c } : undefined;
      },
      150_000,
      500,
      () => world.explain('blocked'),
    );
    expect(failed.c.status).toBe('False');
    expect(failed.c.message).toContain(pinned);
    expect(failed.c.message).toContain('guarded');

    const nodes = await groupNodes(asg);
    const guardedNode = nodes.find((n) => n.metadata?.name === pinned);
    // The blocked node is still there, in service, with the two failures recorded on it.
    expect(guardedNode?.spec?.unschedulable ?? false).toBe(false);
    const record = JSON.parse(guardedNode?.metadata?.annotations?.[DRAIN_FAILURE_ANNOTATION] ?? '{}');
    expect(record).toMatchObject({ attempts: 2, round: String(failed.g.metadata.generation) });
    // The other node was replaced meanwhile.
    expect(nodes.map((n) => n.metadata?.name)).not.toContain(other);
    const events = await world.events('blocked');
    expect(events.filter((e) => e.reason === 'NodeReturned' && e.message?.includes(pinned!))).toHaveLength(2);
    expect(events.some((e) => e.reason === 'UpgradeFailed')).toBe(true);
    expect(events.some((e) => e.reason === 'InstanceTerminated' && e.message?.includes(pinned!))).toBe(false);

    await world.client.delete(ResourceTypes.PodDisruptionBudget, world.namespace, 'guarded');
    await world.client.delete(ResourceTypes.Pod, world.namespace, 'guarded', { gracePeriodSeconds: 0 });
    await world.remove('blocked');
  }, 240_000);
});
