// cordon/uncordon and readiness against the real test cluster.
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import type { V1Node } from '@kubernetes/client-node';
import { KubeClient, ResourceTypes } from '@keiko/kube-runtime';
import { AbortedError } from '../src/abort';
import {
  CORDONED_BY_ANNOTATION,
  cordonedBy,
  cordonNode,
  NodeNotFoundError,
  uncordonNode,
} from '../src/cordon';
import { instanceIdOfNode, nodesByInstanceId } from '../src/instance';
import { waitForNodeReady } from '../src/readiness';
import { cleanUp, client, createTestNode, kc, uniqueName } from './support/cluster';

const scope = uniqueName('node-ops-node');
const cordonTarget = `${scope}-cordon`;
const gated = `${scope}-gated`;
const notReady = `${scope}-notready`;
const createdNodes: string[] = [];

beforeAll(async () => {
  await createTestNode(cordonTarget, scope);
  createdNodes.push(cordonTarget);
  await createTestNode(gated, scope);
  createdNodes.push(gated);
  await createTestNode(notReady, scope, { customStatus: true });
  createdNodes.push(notReady);
});

afterAll(async () => {
  await cleanUp(undefined, createdNodes);
});

const readNode = async (name: string): Promise<V1Node> =>
  (await client.get<V1Node>(ResourceTypes.Node, undefined, name)) as V1Node;

describe('cordonNode / uncordonNode', () => {
  it('cordon is idempotent and marks who cordoned', async () => {
    const first = await cordonNode(client, cordonTarget, { by: 'upgrade-manager/default/ru-1' });
    expect(first.changed).toBe(true);
    expect(first.node.spec?.unschedulable).toBe(true);
    expect(cordonedBy(first.node)).toBe('upgrade-manager/default/ru-1');

    const writes: string[] = [];
    const observed = new KubeClient(kc);
    observed.onRequest((r) => r.method !== 'GET' && writes.push(`${r.method} ${r.path}`));
    const again = await cordonNode(observed, cordonTarget, { by: 'upgrade-manager/default/ru-1' });
    expect(again.changed).toBe(false);
    expect(cordonedBy(again.node)).toBe('upgrade-manager/default/ru-1');
    expect(writes).toEqual([]);

    // Another tool asking later does not take the node over.
    const other = await cordonNode(client, cordonTarget, { by: 'instance-manager/x/y' });
    expect(other.changed).toBe(false);
    expect(cordonedBy(await readNode(cordonTarget))).toBe('upgrade-manager/default/ru-1');
  });

  it('uncordon with onlyIfCordonedBy leaves other owners alone, and is idempotent', async () => {
    const notMine = await uncordonNode(client, cordonTarget, { onlyIfCordonedBy: 'instance-manager/x/y' });
    expect(notMine.changed).toBe(false);
    expect((await readNode(cordonTarget)).spec?.unschedulable).toBe(true);

    const mine = await uncordonNode(client, cordonTarget, {
      onlyIfCordonedBy: 'upgrade-manager/default/ru-1',
    });
    expect(mine.changed).toBe(true);
    const node = await readNode(cordonTarget);
    expect(node.spec?.unschedulable).toBeFalsy();
    expect(node.metadata?.annotations?.[CORDONED_BY_ANNOTATION]).toBeUndefined();

    const again = await uncordonNode(client, cordonTarget, {
      onlyIfCordonedBy: 'upgrade-manager/default/ru-1',
    });
    expect(again.changed).toBe(false);
  });

  it('a node an operator cordoned by hand is not claimed, and not uncordoned by a tool', async () => {
    await client.patch(ResourceTypes.Node, undefined, cordonTarget, { spec: { unschedulable: true } });

    const claim = await cordonNode(client, cordonTarget, { by: 'upgrade-manager/default/ru-2' });
    expect(claim.changed).toBe(false);
    expect(cordonedBy(claim.node)).toBeUndefined();

    const toolUncordon = await uncordonNode(client, cordonTarget, {
      onlyIfCordonedBy: 'upgrade-manager/default/ru-2',
    });
    expect(toolUncordon.changed).toBe(false);
    expect((await readNode(cordonTarget)).spec?.unschedulable).toBe(true);

    // Without onlyIfCordonedBy (an operator's explicit uncordon) it goes.
    expect((await uncordonNode(client, cordonTarget)).changed).toBe(true);
    expect((await readNode(cordonTarget)).spec?.unschedulable).toBeFalsy();
  });

  it('cordon without a mark drops a stale mark', async () => {
    await client.patch(ResourceTypes.Node, undefined, cordonTarget, {
      metadata: { annotations: { [CORDONED_BY_ANNOTATION]: 'stale/tool' } },
    });
    const result = await cordonNode(client, cordonTarget);
    expect(result.changed).toBe(true);
    expect(cordonedBy(result.node)).toBeUndefined();
    await uncordonNode(client, cordonTarget);
  });

  it('a missing node is a NodeNotFoundError', async () => {
    await expect(cordonNode(client, `${scope}-missing`)).rejects.toBeInstanceOf(NodeNotFoundError);
    await expect(uncordonNode(client, `${scope}-missing`)).rejects.toThrow(
      `uncordon node ${scope}-missing: node ${scope}-missing not found`,
    );
  });
});

describe('waitForNodeReady', () => {
  const gate = { matchLabels: { [`${scope}/cni-ready`]: 'true' } };

  it('returns a Ready node at once when it has no gates', async () => {
    const node = await waitForNodeReady(client, gated, { timeoutMs: 5000 });
    expect(node.metadata?.name).toBe(gated);
  });

  it('times out naming the readiness gate label the node lacks', async () => {
    await expect(
      waitForNodeReady(client, gated, { timeoutMs: 1000, gates: [gate], pollIntervalMs: 200 }),
    ).rejects.toThrow(
      `node ${gated} not ready after 1s: missing readiness gate labels ${scope}/cni-ready=true`,
    );
  });

  it('resolves once the gate label appears', async () => {
    const waiting = waitForNodeReady(client, gated, {
      timeoutMs: 20_000,
      gates: [gate],
      pollIntervalMs: 200,
    });
    await new Promise((r) => setTimeout(r, 500));
    await client.patch(ResourceTypes.Node, undefined, gated, { metadata: { labels: gate.matchLabels } });
    const node = await waiting;
    expect(node.metadata?.labels?.[`${scope}/cni-ready`]).toBe('true');
  });

  it('waits for a NotReady node to turn Ready', async () => {
    await expect(waitForNodeReady(client, notReady, { timeoutMs: 800, pollIntervalMs: 200 })).rejects.toThrow(
      new RegExp(`^node ${notReady} not ready after 800ms: (no Ready condition reported|Ready=)`),
    );
    const waiting = waitForNodeReady(client, notReady, { timeoutMs: 20_000, pollIntervalMs: 200 });
    await new Promise((r) => setTimeout(r, 500));
    const now = new Date().toISOString();
    await client.patch(
      ResourceTypes.Node,
      undefined,
      notReady,
      {
        status: {
          conditions: [
            {
              type: 'Ready',
              status: 'True',
              reason: 'KubeletReady',
              message: 'test',
              lastHeartbeatTime: now,
              lastTransitionTime: now,
            },
          ],
        },
      },
      { subresource: 'status', type: 'strategic' },
    );
    expect((await waiting).metadata?.name).toBe(notReady);
  });

  it('waits for a node that does not exist yet', async () => {
    const later = `${scope}-later`;
    const waiting = waitForNodeReady(client, later, { timeoutMs: 30_000, pollIntervalMs: 200 });
    await new Promise((r) => setTimeout(r, 500));
    await createTestNode(later, scope);
    createdNodes.push(later);
    expect((await waiting).metadata?.name).toBe(later);
  });

  it('stops when aborted', async () => {
    const controller = new AbortController();
    const waiting = waitForNodeReady(client, `${scope}-never`, {
      timeoutMs: 30_000,
      signal: controller.signal,
    });
    setTimeout(() => controller.abort(), 300);
    await expect(waiting).rejects.toBeInstanceOf(AbortedError);
  });
});

describe('node <-> instance mapping on real Node objects', () => {
  it('maps the simulated nodes by the instance in their providerID', async () => {
    const nodes = (
      await client.list<V1Node>(ResourceTypes.Node, { labelSelector: `keiko.io/node-ops-test=${scope}` })
    ).items;
    const byInstance = nodesByInstanceId(nodes);
    for (const node of nodes) {
      const id = instanceIdOfNode(node) as string;
      expect(id).toMatch(/^i-0[0-9a-f]{12}$/);
      expect(byInstance.get(id)?.metadata?.name).toBe(node.metadata?.name);
    }
  });
});
