// Rolling updates that must not take nodes, against the real apiserver and the AWS emulator:
// - a drain a PodDisruptionBudget blocks (evictions refused by the real PDB status): the node is never
//   left cordoned, each failure is recorded on the node, the other nodes are replaced, and after a second
//   failure the rotation stops with RollingUpdate=False/DrainFailed and a Warning Event, nothing terminated;
// - a group another tool is disrupting (its disruption lock held): nothing starts until it is released.
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { eventually } from '@keiko/testenv';
import { InstanceGroupKind, type InstanceGroup } from '@keiko/api';
import { ResourceTypes } from '@keiko/kube-runtime';
import { DisruptionLocks, DRAIN_FAILURE_ANNOTATION } from '@keiko/node-ops';
import type { V1Pod, V1PodDisruptionBudget } from '@kubernetes/client-node';
import { example } from './support/fixtures';
import { startWorld, type World } from './support/world';

let world: World;
beforeAll(async () => {
  world = await startWorld({ prefix: 'im-pdb', drainTimeoutMs: 2_000 });
});
afterAll(async () => {
  await world?.stop();
});

function sandboxGroup(name: string, size: number): InstanceGroup {
  const ig = structuredClone(example('instance-manager/hello-world-sandbox.yaml')) as InstanceGroup;
  ig.metadata = { name };
  delete ig.status;
  const cf = ig.spec['eks-cf'];
  if (!cf) throw new Error('fixture: eks-cf');
  cf.minSize = size;
  cf.maxSize = size + 1;
  ig.spec.strategy = { type: 'rollingUpdate', rollingUpdate: { maxUnavailable: 1 } };
  return ig;
}

function withNewInstanceType(ig: InstanceGroup): InstanceGroup {
  const changed = structuredClone(ig);
  const configuration = changed.spec['eks-cf']?.configuration;
  if (!configuration) throw new Error('fixture: eks-cf configuration');
  configuration.instanceType = 'm3.large';
  return changed;
}

const rollingCondition = (g: InstanceGroup | undefined) =>
  g?.status?.conditions?.find((c) => c.type === 'RollingUpdate');

describe('rollingUpdate with a drain a PodDisruptionBudget blocks', () => {
  it('gives the node back, replaces the others, and stops with DrainFailed after a second failure', async () => {
    await world.apply(sandboxGroup('blocked', 2));
    const ready = await world.waitFor('blocked', 'Ready', (g) => g.status?.currentState === 'Ready', 90_000);
    const asg = ready.status?.activeScalingGroupName ?? '';
    const [pinned, other] = (await world.groupNodes(asg)).map((n) => n.metadata?.name ?? '');

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
    await eventually('the PDB to count the pod healthy', async () => {
      const pdb = await world.client.get<V1PodDisruptionBudget>(
        ResourceTypes.PodDisruptionBudget,
        world.namespace,
        'guarded',
      );
      return pdb?.status?.currentHealthy === 1;
    });

    await world.client.replace(InstanceGroupKind, withNewInstanceType(ready));

    const failed = await eventually(
      'the rotation to stop with DrainFailed',
      async () => {
        const g = await world.get('blocked');
        const c = rollingCondition(g);
        return g && c?.reason === 'DrainFailed' ? { g, c } : undefined;
      },
      150_000,
      500,
      () => world.explain('blocked'),
    );
    expect(failed.c.status).toBe('False');
    expect(failed.c.message).toContain(pinned);
    expect(failed.c.message).toContain('guarded');

    const nodes = await world.groupNodes(asg);
    const guardedNode = nodes.find((n) => n.metadata?.name === pinned);
    // The blocked node is still there, in service, with the two failures recorded on it.
    expect(guardedNode?.spec?.unschedulable ?? false).toBe(false);
    const record = JSON.parse(guardedNode?.metadata?.annotations?.[DRAIN_FAILURE_ANNOTATION] ?? '{}');
    expect(record).toMatchObject({ attempts: 2, round: String(failed.g.metadata.generation) });
    // The other node was replaced meanwhile.
    expect(nodes.map((n) => n.metadata?.name)).not.toContain(other);
    // Events follow the writes they report.
    const events = await eventually('the UpgradeFailed event', async () => {
      const list = await world.events('blocked');
      return list.some((e) => e.reason === 'UpgradeFailed') ? list : undefined;
    });
    expect(events.filter((e) => e.reason === 'NodeReturned' && e.message?.includes(pinned!))).toHaveLength(2);
    expect(events.some((e) => e.reason === 'InstanceTerminated' && e.message?.includes(pinned!))).toBe(false);

    await world.client.delete(ResourceTypes.PodDisruptionBudget, world.namespace, 'guarded');
    await world.client.delete(ResourceTypes.Pod, world.namespace, 'guarded', { gracePeriodSeconds: 0 });
    await world.remove('blocked');
  }, 240_000);

  it("waits while another tool holds the group's disruption lock, then rotates", async () => {
    await world.apply(sandboxGroup('locked', 1));
    const ready = await world.waitFor('locked', 'Ready', (g) => g.status?.currentState === 'Ready', 90_000);
    const asg = ready.status?.activeScalingGroupName ?? '';
    const [old] = (await world.groupNodes(asg)).map((n) => n.metadata?.name ?? '');
    const locks = new DisruptionLocks(world.client);
    const region = world.clients.config.region;
    expect(await locks.acquire({ region, name: asg }, 'governor/test', 'reaping a node')).toEqual({
      held: true,
    });

    await world.client.replace(InstanceGroupKind, withNewInstanceType(ready));
    const waiting = await eventually('the rotation to wait for the lock', async () => {
      const c = rollingCondition(await world.get('locked'));
      return c?.reason === 'WaitingForScalingGroup' ? c : undefined;
    });
    expect(waiting.message).toContain('governor/test is disrupting');
    const node = (await world.groupNodes(asg)).find((n) => n.metadata?.name === old);
    expect(node?.spec?.unschedulable ?? false).toBe(false);

    await locks.release({ region, name: asg }, 'governor/test');
    await eventually(
      'the node replaced once the lock is free',
      async () => {
        const g = await world.get('locked');
        const nodes = await world.groupNodes(asg);
        return rollingCondition(g)?.reason === 'Complete' && !nodes.some((n) => n.metadata?.name === old);
      },
      120_000,
    );
    // Done: instance-manager gave the lock back.
    await eventually(
      'the lock given back',
      async () => (await locks.holder({ region, name: asg })) === undefined,
    );
    await world.remove('locked');
  }, 240_000);
});
