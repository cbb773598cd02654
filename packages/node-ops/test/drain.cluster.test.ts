// drainNode against the real test cluster: the apiserver's Eviction API, the controller-manager
// recreating evicted pods, the scheduler honouring the cordon, KWOK terminating pods.
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import type { V1DaemonSet, V1Node, V1Pod } from '@kubernetes/client-node';
import { ResourceTypes } from '@keiko/kube-runtime';
import { CORDONED_BY_ANNOTATION, cordonedBy } from '../src/cordon';
import { drainNode, DrainError, type DrainProgress } from '../src/drain';
import {
  cleanUp,
  client,
  createNamespace,
  createTestNode,
  DaemonSetType,
  eventually,
  isRunning,
  podsOf,
  spreadDeployment,
  TEST_NODE_KEY,
  testToleration,
  uniqueName,
} from './support/cluster';

const ns = uniqueName('node-ops-drain');
const scope = ns;
const [nodeA, nodeB, nodeC] = ['a', 'b', 'c'].map((s) => `${ns}-${s}`) as [string, string, string];
const createdNodes: string[] = [];

let webOnA: V1Pod;
let agentOnA: V1Pod;
let mirrorPod: V1Pod;

beforeAll(async () => {
  await createNamespace(ns);
  for (const name of [nodeA, nodeB]) {
    await createTestNode(name, scope);
    createdNodes.push(name);
  }
  // Two replicas, one per node: one lands on A.
  await client.create(ResourceTypes.Deployment, spreadDeployment(ns, 'web', scope, 2));
  const web = await eventually('web running on A and B', async () => {
    const pods = (await podsOf(ns, 'app=web')).filter(isRunning);
    return pods.length === 2 && new Set(pods.map((p) => p.spec?.nodeName)).size === 2 ? pods : undefined;
  });
  webOnA = web.find((p) => p.spec?.nodeName === nodeA) as V1Pod;
  // Only now a third node, so the replacement has exactly one place to go.
  await createTestNode(nodeC, scope);
  createdNodes.push(nodeC);

  const daemonSet: V1DaemonSet = {
    apiVersion: 'apps/v1',
    kind: 'DaemonSet',
    metadata: { name: 'agent', namespace: ns },
    spec: {
      selector: { matchLabels: { app: 'agent' } },
      template: {
        metadata: { labels: { app: 'agent' } },
        spec: {
          nodeSelector: { [TEST_NODE_KEY]: scope },
          tolerations: [testToleration(scope)],
          containers: [{ name: 'agent', image: 'registry.k8s.io/pause:3.10' }],
        },
      },
    },
  };
  await client.create(DaemonSetType, daemonSet);
  agentOnA = await eventually('agent running on A', async () =>
    (await podsOf(ns, 'app=agent')).find((p) => p.spec?.nodeName === nodeA && isRunning(p)),
  );

  // What the kubelet posts for a static pod: bound to its node, owned by the Node, the mirror annotation.
  const node = (await client.get<V1Node>(ResourceTypes.Node, undefined, nodeA)) as V1Node;
  mirrorPod = await client.create<V1Pod>(ResourceTypes.Pod, {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: {
      name: `static-${nodeA}`,
      namespace: ns,
      labels: { app: 'static' },
      annotations: { 'kubernetes.io/config.mirror': 'f00d', 'kubernetes.io/config.source': 'file' },
      ownerReferences: [
        { apiVersion: 'v1', kind: 'Node', name: nodeA, uid: node.metadata?.uid as string, controller: true },
      ],
    },
    spec: {
      nodeName: nodeA,
      tolerations: [testToleration(scope)],
      containers: [{ name: 'static', image: 'registry.k8s.io/pause:3.10' }],
    },
  });
  // A pod nothing will recreate.
  await client.create<V1Pod>(ResourceTypes.Pod, {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: { name: 'debug', namespace: ns, labels: { app: 'debug' } },
    spec: {
      nodeName: nodeA,
      tolerations: [testToleration(scope)],
      terminationGracePeriodSeconds: 5,
      containers: [{ name: 'debug', image: 'registry.k8s.io/pause:3.10' }],
    },
  });
  await eventually('debug and static pods running', async () => {
    const pods = [...(await podsOf(ns, 'app=debug')), ...(await podsOf(ns, 'app=static'))];
    return pods.length === 2 && pods.every(isRunning);
  });
});

afterAll(async () => {
  await cleanUp(ns, createdNodes);
});

describe('drainNode on a real cluster', () => {
  const policy = {
    deleteEmptyDirData: false,
    ignoreDaemonSets: true,
    timeoutMs: 60_000,
    pollIntervalMs: 250,
  };

  it('refuses while an unmanaged pod is on the node, evicting nothing', async () => {
    const err = await drainNode(client, nodeA, {
      ...policy,
      force: false,
      cordonedBy: 'node-ops-test/drain',
    }).catch((e: unknown) => e);

    expect(err).toBeInstanceOf(DrainError);
    expect((err as DrainError).message).toBe(
      `drain node ${nodeA}: pod ${ns}/debug has no controller to recreate it (force evicts it)`,
    );
    expect((err as DrainError).reasons).toEqual(['Refused']);
    const stillThere = await client.get<V1Pod>(ResourceTypes.Pod, ns, webOnA.metadata?.name as string);
    expect(stillThere?.metadata?.uid).toBe(webOnA.metadata?.uid);
    expect(stillThere?.metadata?.deletionTimestamp).toBeUndefined();
    // kubectl leaves a refused node cordoned too; the mark says by whom.
    const node = await client.get<V1Node>(ResourceTypes.Node, undefined, nodeA);
    expect(node?.spec?.unschedulable).toBe(true);
    expect(cordonedBy(node as V1Node)).toBe('node-ops-test/drain');
  });

  it('with force evicts the Deployment pod and the unmanaged pod, leaves DaemonSet and mirror pods, and the replacement runs elsewhere', async () => {
    const events: DrainProgress[] = [];
    const result = await drainNode(client, nodeA, {
      ...policy,
      force: true,
      cordonedBy: 'someone-else',
      onProgress: (e) => events.push(e),
    });

    expect(result.evicted.sort()).toEqual([`${ns}/${webOnA.metadata?.name}`, `${ns}/debug`].sort());
    expect(result.skipped).toEqual(
      expect.arrayContaining([
        {
          pod: `${ns}/${agentOnA.metadata?.name}`,
          rule: 'DaemonSet',
          reason: `managed by DaemonSet ${ns}/agent`,
        },
        { pod: `${ns}/${mirrorPod.metadata?.name}`, rule: 'MirrorPod', reason: expect.any(String) },
      ]),
    );
    expect(result.warnings).toEqual([
      expect.stringContaining(`pod ${ns}/debug, which no controller will recreate`),
    ]);
    expect(events.filter((e) => e.type === 'PodGone')).toHaveLength(2);

    // Gone for real: no pod with those uids exists.
    const pods = await client.list<V1Pod>(ResourceTypes.Pod, { namespace: ns });
    const uids = new Set(pods.items.map((p) => p.metadata?.uid));
    expect(uids.has(webOnA.metadata?.uid)).toBe(false);
    expect(pods.items.find((p) => p.metadata?.name === 'debug')).toBeUndefined();
    // Skipped pods stay.
    expect(uids.has(agentOnA.metadata?.uid)).toBe(true);
    expect(uids.has(mirrorPod.metadata?.uid)).toBe(true);

    // The ReplicaSet's replacement can only go to C: A is cordoned, B has the other replica.
    const replacement = await eventually('replacement web pod running', async () =>
      (await podsOf(ns, 'app=web')).find(
        (p) => isRunning(p) && p.metadata?.uid !== webOnA.metadata?.uid && p.spec?.nodeName !== nodeB,
      ),
    );
    expect(replacement.spec?.nodeName).toBe(nodeC);
    expect((await podsOf(ns, 'app=web')).some((p) => p.spec?.nodeName === nodeA)).toBe(false);

    // The first (refused) drain cordoned the node; this one did not re-claim it.
    const node = await client.get<V1Node>(ResourceTypes.Node, undefined, nodeA);
    expect(node?.spec?.unschedulable).toBe(true);
    expect(node?.metadata?.annotations?.[CORDONED_BY_ANNOTATION]).toBe('node-ops-test/drain');
  });

  it('draining a drained node again is a no-op that succeeds', async () => {
    const result = await drainNode(client, nodeA, { ...policy, force: false });
    expect(result.evicted).toEqual([]);
    expect(result.skipped.map((s) => s.rule).sort()).toEqual(['DaemonSet', 'MirrorPod']);
  });
});
