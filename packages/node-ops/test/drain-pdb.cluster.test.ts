// A PodDisruptionBudget blocking a drain on the real test cluster: the apiserver answers 429 until
// the budget allows the disruption; the drain fails after its timeout naming pod and budget, and
// stops at once when aborted.
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import type { V1Pod, V1PodDisruptionBudget } from '@kubernetes/client-node';
import { ResourceTypes } from '@keiko/kube-runtime';
import { AbortedError } from '../src/abort';
import { drainNode, DrainError } from '../src/drain';
import { DrainRunner, type DrainState } from '../src/engine/drain-runner';
import {
  cleanUp,
  client,
  createNamespace,
  createTestNode,
  eventually,
  isRunning,
  podsOf,
  spreadDeployment,
  uniqueName,
} from './support/cluster';

const ns = uniqueName('node-ops-pdb');
const [nodeA, nodeB] = [`${ns}-a`, `${ns}-b`];
const createdNodes: string[] = [];
let webOnA: V1Pod;

const quiet = { info: () => {}, warn: () => {}, error: () => {}, debug: () => {} };

const policy = {
  deleteEmptyDirData: false,
  ignoreDaemonSets: true,
  force: false,
  pollIntervalMs: 250,
  evictionRetryIntervalMs: 500,
};

beforeAll(async () => {
  await createNamespace(ns);
  for (const name of [nodeA, nodeB]) {
    await createTestNode(name, ns);
    createdNodes.push(name);
  }
  await client.create(ResourceTypes.Deployment, spreadDeployment(ns, 'web', ns, 2));
  const web = await eventually('web running on both nodes', async () => {
    const pods = (await podsOf(ns, 'app=web')).filter(isRunning);
    return pods.length === 2 && new Set(pods.map((p) => p.spec?.nodeName)).size === 2 ? pods : undefined;
  });
  webOnA = web.find((p) => p.spec?.nodeName === nodeA) as V1Pod;
  await client.create<V1PodDisruptionBudget>(ResourceTypes.PodDisruptionBudget, {
    apiVersion: 'policy/v1',
    kind: 'PodDisruptionBudget',
    metadata: { name: 'web-pdb', namespace: ns },
    spec: { minAvailable: 2, selector: { matchLabels: { app: 'web' } } },
  });
  // The disruption controller must have counted the pods, or every eviction is refused anyway.
  await eventually('web-pdb observed with 2 healthy pods', async () => {
    const pdb = await client.get<V1PodDisruptionBudget>(ResourceTypes.PodDisruptionBudget, ns, 'web-pdb');
    return pdb?.status?.observedGeneration === pdb?.metadata?.generation && pdb?.status?.currentHealthy === 2;
  });
});

afterAll(async () => {
  await cleanUp(ns, createdNodes);
});

async function expectWebOnAUntouched(): Promise<void> {
  const pod = await client.get<V1Pod>(ResourceTypes.Pod, ns, webOnA.metadata?.name as string);
  expect(pod?.metadata?.uid).toBe(webOnA.metadata?.uid);
  expect(pod?.metadata?.deletionTimestamp).toBeUndefined();
}

describe('a PodDisruptionBudget that allows no disruption', () => {
  it('fails the drain after the timeout with a DrainError naming the pod and the budget', async () => {
    const started = Date.now();
    const err = await drainNode(client, nodeA, { ...policy, timeoutMs: 4000 }).catch((e: unknown) => e);
    const took = Date.now() - started;

    expect(err).toBeInstanceOf(DrainError);
    const drainError = err as DrainError;
    const pod = `${ns}/${webOnA.metadata?.name}`;
    expect(drainError.message).toMatch(
      new RegExp(
        `^drain node ${nodeA}: eviction of pod ${pod} blocked by PodDisruptionBudget ${ns}/web-pdb for [34]s \\(needs 2 healthy pods, has 2\\)$`,
      ),
    );
    expect(drainError.failures).toEqual([
      { pod, reason: 'DisruptionBudget', disruptionBudgets: [`${ns}/web-pdb`], message: expect.any(String) },
    ]);
    expect(took).toBeGreaterThanOrEqual(4000);
    expect(took).toBeLessThan(8000);
    await expectWebOnAUntouched();
  });

  it('stops promptly when aborted', async () => {
    const controller = new AbortController();
    const drain = drainNode(client, nodeA, { ...policy, timeoutMs: 60_000, signal: controller.signal });
    await new Promise((r) => setTimeout(r, 1500));
    const abortedAt = Date.now();
    controller.abort(new Error('operator cancelled the upgrade'));
    const err = await drain.catch((e: unknown) => e);

    expect(Date.now() - abortedAt).toBeLessThan(1000);
    expect(err).toBeInstanceOf(AbortedError);
    expect((err as AbortedError).message).toBe(`drain node ${nodeA}: aborted`);
    expect(((err as AbortedError).cause as Error).message).toBe('operator cancelled the upgrade');
    await expectWebOnAUntouched();
  });

  it("the engine's DrainRunner reports the blocked drain to its owner, keeps it until forgotten, and aborts on request", async () => {
    const done: Array<[string, string, DrainState]> = [];
    const runner = new DrainRunner({
      client,
      log: quiet,
      signal: () => undefined,
      onDone: (owner, key, state) => done.push([owner, key, state]),
    });
    const req = {
      owner: 'ig/web',
      key: nodeA,
      nodeName: nodeA,
      cordonedBy: 'test/runner',
      timeoutMs: 3000,
      pollIntervalMs: 250,
    };
    runner.start(req);
    runner.start(req); // a second start while one runs is a no-op
    expect(runner.running()).toBe(1);
    const [owner, key, state] = await eventually('the drain to fail', async () => done[0]);
    expect([owner, key, done.length]).toEqual(['ig/web', nodeA, 1]);
    expect(state).toMatchObject({
      state: 'failed',
      reason: 'DisruptionBudget',
      pods: [`${ns}/${webOnA.metadata?.name}`],
      podDisruptionBudgets: [`${ns}/web-pdb`],
    });
    expect(runner.states('ig/web').get(nodeA)?.state).toBe('failed');
    runner.forget('ig/web', nodeA);
    expect(runner.states('ig/web').size).toBe(0);

    runner.start({ ...req, timeoutMs: 60_000 });
    await runner.abort('ig/web', nodeA, 'the node left the plan');
    expect(runner.states('ig/web').size).toBe(0);
    expect(done).toHaveLength(1); // an aborted drain reports nothing: its owner's record still says "drain"
    await expectWebOnAUntouched();
  });

  it('completes once the budget allows the disruption', async () => {
    await client.patch(ResourceTypes.PodDisruptionBudget, ns, 'web-pdb', { spec: { minAvailable: 1 } });
    const result = await drainNode(client, nodeA, { ...policy, timeoutMs: 30_000 });
    expect(result.evicted).toEqual([`${ns}/${webOnA.metadata?.name}`]);
    expect(await client.get(ResourceTypes.Pod, ns, webOnA.metadata?.name as string)).toBeUndefined();
  });
});
