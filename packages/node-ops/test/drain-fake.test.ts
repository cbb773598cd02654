// drainNode against an in-memory apiserver: the eviction answers a real cluster will not give on
// demand. The real-cluster behaviour is in drain.cluster.test.ts.
import { describe, expect, it } from '@jest/globals';
import { AbortedError } from '../src/abort';
import { ConcurrencyLimit } from '../src/concurrency';
import { CORDONED_BY_ANNOTATION } from '../src/cordon';
import { drainNode, DrainError, type DrainOptions, type DrainProgress } from '../src/drain';
import { FakeCluster } from './support/fake-cluster';
import { NODE, owner, pod, replicaSetPod } from './support/pods';

const fast: DrainOptions = {
  timeoutMs: 400,
  deleteEmptyDirData: false,
  ignoreDaemonSets: true,
  force: false,
  evictionRetryIntervalMs: 20,
  pollIntervalMs: 10,
};

const tooManyRequests = (budget = 'web-pdb') => ({
  status: 429,
  reason: 'TooManyRequests',
  message: "Cannot evict pod as it would violate the pod's disruption budget.",
  details: {
    causes: [
      {
        reason: 'DisruptionBudget',
        message: `The disruption budget ${budget} needs 2 healthy pods and has 2 currently`,
      },
    ],
  },
});

function cluster(): FakeCluster {
  const c = new FakeCluster();
  c.addNode(NODE);
  return c;
}

async function drainError(p: Promise<unknown>): Promise<DrainError> {
  const err = await p.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(DrainError);
  return err as DrainError;
}

describe('drainNode (fake apiserver)', () => {
  it('cordons, evicts with a policy/v1 Eviction for exactly that pod, and waits until the pods are gone', async () => {
    const c = cluster();
    c.terminateAfterPolls = 3;
    c.addPod(replicaSetPod('web-1'));
    c.addPod(replicaSetPod('web-2'));
    c.addPod(pod('fluentd-x', { owner: owner('DaemonSet', 'fluentd') }));
    c.daemonSets.add('shop/fluentd');
    const events: DrainProgress[] = [];

    const result = await drainNode(c, NODE, {
      ...fast,
      gracePeriodSeconds: 30,
      cordonedBy: 'test/drain',
      onProgress: (e) => events.push(e),
    });

    expect(result.evicted.sort()).toEqual(['shop/web-1', 'shop/web-2']);
    expect(result.skipped).toEqual([
      { pod: 'shop/fluentd-x', rule: 'DaemonSet', reason: 'managed by DaemonSet shop/fluentd' },
    ]);
    expect([...c.pods.keys()]).toEqual(['shop/fluentd-x']);
    expect(c.nodes.get(NODE)?.spec?.unschedulable).toBe(true);
    expect(c.nodes.get(NODE)?.metadata?.annotations?.[CORDONED_BY_ANNOTATION]).toBe('test/drain');
    expect(c.evictions.find((e) => e.pod === 'shop/web-1')?.body).toEqual({
      apiVersion: 'policy/v1',
      kind: 'Eviction',
      metadata: { name: 'web-1', namespace: 'shop' },
      deleteOptions: { gracePeriodSeconds: 30, preconditions: { uid: 'web-1-uid' } },
    });
    expect(events[0]).toMatchObject({ type: 'Planned', evict: ['shop/web-1', 'shop/web-2'] });
    expect(
      events
        .filter((e) => e.type === 'PodGone')
        .map((e) => (e as { pod: string }).pod)
        .sort(),
    ).toEqual(['shop/web-1', 'shop/web-2']);
  });

  it('refuses before evicting anything, listing every refusing pod', async () => {
    const c = cluster();
    c.addPod(replicaSetPod('web-1'));
    c.addPod(pod('debug'));
    c.addPod(replicaSetPod('cache', { volumes: [{ name: 'data', emptyDir: {} }] }));

    const err = await drainError(drainNode(c, NODE, fast));

    expect(c.evictions).toEqual([]);
    expect(err.reasons).toEqual(['Refused']);
    expect(err.failures.map((f) => f.pod)).toEqual(['shop/debug', 'shop/cache']);
    expect(err.message).toBe(
      `drain node ${NODE}: pod shop/debug has no controller to recreate it (force evicts it); ` +
        'pod shop/cache uses emptyDir volume(s) data whose data would be lost (deleteEmptyDirData allows it)',
    );
  });

  it('retries a PDB-refused eviction and fails at the timeout naming the pod and the PDB', async () => {
    const c = cluster();
    const web = replicaSetPod('web-7d9', { labels: { app: 'web' } });
    c.addPod(web);
    c.addPod(replicaSetPod('other'));
    c.budgets.push({
      metadata: { name: 'web-pdb', namespace: 'shop' },
      spec: { selector: { matchLabels: { app: 'web' } } },
    });
    c.answerEviction = (p) => (p.metadata?.name === 'web-7d9' ? tooManyRequests() : 'evict');
    const blocked: DrainProgress[] = [];

    const started = Date.now();
    const err = await drainError(
      drainNode(c, NODE, { ...fast, onProgress: (e) => e.type === 'EvictionBlocked' && blocked.push(e) }),
    );

    expect(Date.now() - started).toBeGreaterThanOrEqual(400);
    expect(err.failures).toEqual([
      {
        pod: 'shop/web-7d9',
        reason: 'DisruptionBudget',
        disruptionBudgets: ['shop/web-pdb'],
        message: expect.any(String),
      },
    ]);
    expect(err.message).toMatch(
      new RegExp(
        `^drain node ${NODE.replace(/\./g, '\\.')}: eviction of pod shop/web-7d9 blocked by PodDisruptionBudget shop/web-pdb for \\d+ms \\(needs 2 healthy pods, has 2\\)$`,
      ),
    );
    expect(err.evicted).toEqual(['shop/other']);
    expect(c.pods.has('shop/web-7d9')).toBe(true);
    expect(c.evictions.filter((e) => e.pod === 'shop/web-7d9').length).toBeGreaterThan(3);
    expect(blocked[0]).toEqual({
      type: 'EvictionBlocked',
      pod: 'shop/web-7d9',
      disruptionBudgets: ['shop/web-pdb'],
      message: expect.stringContaining('needs 2'),
    });
  });

  it('goes on once the PDB allows the eviction', async () => {
    const c = cluster();
    c.addPod(replicaSetPod('web-1'));
    let refusals = 3;
    c.answerEviction = () => (refusals-- > 0 ? tooManyRequests() : 'evict');
    const result = await drainNode(c, NODE, fast);
    expect(result.evicted).toEqual(['shop/web-1']);
    expect(c.evictions).toHaveLength(4);
  });

  it('names the PDB from the apiserver message when PDBs cannot be listed', async () => {
    const c = cluster();
    c.addPod(replicaSetPod('web-1'));
    c.answerEviction = () => tooManyRequests('hidden-pdb');
    // No budgets in the fake: the lookup finds none, so the 429's cause is what names it.
    const err = await drainError(drainNode(c, NODE, { ...fast, timeoutMs: 100 }));
    expect(err.failures[0]).toMatchObject({
      reason: 'DisruptionBudget',
      disruptionBudgets: ['shop/hidden-pdb'],
    });
  });

  it('reports throttling 429s (no budget involved) as exhausted retries', async () => {
    const c = cluster();
    c.addPod(replicaSetPod('web-1'));
    c.answerEviction = () => ({
      status: 429,
      reason: 'TooManyRequests',
      message: 'too many requests, please try again later',
    });
    const err = await drainError(drainNode(c, NODE, { ...fast, timeoutMs: 100 }));
    expect(err.failures[0]?.reason).toBe('EvictionRetriesExhausted');
    expect(err.message).toMatch(/eviction of pod shop\/web-1 not accepted for \d+ms: too many requests/);
  });

  it('explains a pod selected by several PDBs', async () => {
    const c = cluster();
    c.addPod(replicaSetPod('web-1', { labels: { app: 'web' } }));
    c.budgets.push(
      { metadata: { name: 'a', namespace: 'shop' }, spec: { selector: { matchLabels: { app: 'web' } } } },
      { metadata: { name: 'b', namespace: 'shop' }, spec: { selector: {} } },
    );
    c.answerEviction = () => ({
      status: 500,
      reason: 'InternalError',
      message:
        'This pod has more than one PodDisruptionBudget, which the eviction subresource does not support.',
    });
    const err = await drainError(drainNode(c, NODE, { ...fast, timeoutMs: 100 }));
    expect(err.failures[0]).toMatchObject({
      reason: 'DisruptionBudget',
      disruptionBudgets: ['shop/a', 'shop/b'],
    });
    expect(err.message).toMatch(/selected by more than one PodDisruptionBudget \(shop\/a, shop\/b\)/);
  });

  it('uses policy/v1beta1 when discovery says the server only serves that', async () => {
    const c = cluster();
    c.discoveryVersion = 'v1beta1';
    c.evictionVersions = ['policy/v1beta1'];
    c.addPod(replicaSetPod('web-1'));
    await drainNode(c, NODE, fast);
    expect(c.evictions.map((e) => e.body.apiVersion)).toEqual(['policy/v1beta1']);
  });

  it('falls back to policy/v1beta1 when discovery fails and the server rejects the v1 kind', async () => {
    const c = cluster();
    c.discoveryVersion = undefined;
    c.evictionVersions = ['policy/v1beta1'];
    c.addPod(replicaSetPod('web-1'));
    c.addPod(replicaSetPod('web-2'));
    const result = await drainNode(c, NODE, { ...fast, maxConcurrentEvictions: 1 });
    expect(result.evicted.sort()).toEqual(['shop/web-1', 'shop/web-2']);
    // One rejected v1 attempt switches the whole drain.
    expect(c.evictions.map((e) => e.body.apiVersion)).toEqual([
      'policy/v1',
      'policy/v1beta1',
      'policy/v1beta1',
    ]);
  });

  it('fails when neither Eviction version is accepted', async () => {
    const c = cluster();
    c.discoveryVersion = undefined;
    c.evictionVersions = [];
    c.addPod(replicaSetPod('web-1'));
    const err = await drainError(drainNode(c, NODE, fast));
    expect(err.failures[0]).toMatchObject({
      reason: 'EvictionFailed',
      message: expect.stringContaining('no kind "Eviction"'),
    });
  });

  it('treats a pod that is already gone (404) as drained', async () => {
    const c = cluster();
    c.addPod(replicaSetPod('web-1'));
    c.answerEviction = (p) => {
      c.pods.delete(`shop/${p.metadata?.name}`);
      return {
        status: 404,
        reason: 'NotFound',
        message: 'pods "web-1" not found',
        details: { name: 'web-1', kind: 'pods' },
      };
    };
    expect((await drainNode(c, NODE, fast)).evicted).toEqual(['shop/web-1']);
  });

  it('does not evict a same-named replacement: the uid precondition fails and the original counts as gone', async () => {
    const c = cluster();
    c.addPod(replicaSetPod('db-0'));
    let first = true;
    c.answerEviction = (p) => {
      if (first) {
        first = false;
        // A StatefulSet-like replacement appears under the same name (on another node) between attempts.
        const replacement = structuredClone(p);
        replacement.metadata!.uid = 'db-0-new-uid';
        replacement.spec!.nodeName = 'other-node';
        c.addPod(replacement);
        return tooManyRequests();
      }
      return 'evict';
    };
    const result = await drainNode(c, NODE, fast);
    expect(result.evicted).toEqual(['shop/db-0']);
    expect(c.pods.get('shop/db-0')?.metadata?.uid).toBe('db-0-new-uid');
    expect(c.pods.get('shop/db-0')?.metadata?.deletionTimestamp).toBeUndefined();
  });

  it('keeps retrying in a terminating namespace until the namespace controller deletes the pod', async () => {
    const c = cluster();
    c.addPod(replicaSetPod('web-1'));
    let refusals = 0;
    c.answerEviction = (p) => {
      if (++refusals === 3) c.pods.delete(`shop/${p.metadata?.name}`);
      return {
        status: 403,
        reason: 'Forbidden',
        message: 'unable to create new content in namespace shop because it is being terminated',
        details: {
          name: 'web-1',
          kind: 'pods',
          causes: [{ reason: 'NamespaceTerminating', message: 'namespace shop is being terminated' }],
        },
      };
    };
    expect((await drainNode(c, NODE, fast)).evicted).toEqual(['shop/web-1']);
    expect(refusals).toBe(3);
  });

  it('stops at once on a permanent error', async () => {
    const c = cluster();
    c.addPod(replicaSetPod('web-1'));
    c.answerEviction = () => ({
      status: 403,
      reason: 'Forbidden',
      message: 'pods "web-1" is forbidden: User cannot create resource "pods/eviction"',
    });
    const started = Date.now();
    const err = await drainError(drainNode(c, NODE, { ...fast, timeoutMs: 10_000 }));
    expect(Date.now() - started).toBeLessThan(2000);
    expect(err.failures[0]).toMatchObject({
      reason: 'EvictionFailed',
      message: expect.stringContaining('forbidden'),
    });
  });

  it('fails pods that were evicted but never left the node', async () => {
    const c = cluster();
    c.terminateAfterPolls = 1_000_000;
    c.addPod(replicaSetPod('web-1'));
    const err = await drainError(drainNode(c, NODE, { ...fast, timeoutMs: 150 }));
    expect(err.failures[0]).toMatchObject({
      reason: 'NotTerminated',
      message: expect.stringMatching(/pod shop\/web-1 was evicted but still on the node after/),
    });
  });

  it('stops waiting for pods deleting longer than skipWaitForDeleteTimeoutSeconds', async () => {
    const c = cluster();
    c.terminateAfterPolls = 1_000_000;
    c.addPod(replicaSetPod('web-1'));
    // The pod's kubelet is gone: it stays terminating. Age its deletionTimestamp past the limit.
    const ageing = setInterval(() => {
      const p = c.pods.get('shop/web-1');
      if (p?.metadata?.deletionTimestamp)
        p.metadata.deletionTimestamp = new Date(Date.now() - 120_000).toISOString() as unknown as Date;
    }, 5);
    try {
      const result = await drainNode(c, NODE, {
        ...fast,
        timeoutMs: 2000,
        skipWaitForDeleteTimeoutSeconds: 60,
      });
      expect(result.evicted).toEqual(['shop/web-1']);
      expect(result.warnings).toEqual([expect.stringContaining('still deleting')]);
    } finally {
      clearInterval(ageing);
    }
  });

  it('evicts an orphaned DaemonSet pod only with force', async () => {
    const c = cluster();
    c.addPod(pod('orphan', { owner: owner('DaemonSet', 'deleted-ds') }));
    const err = await drainError(drainNode(c, NODE, fast));
    expect(err.failures[0]?.message).toMatch(/DaemonSet shop\/deleted-ds, which no longer exists/);
    expect((await drainNode(c, NODE, { ...fast, force: true })).evicted).toEqual(['shop/orphan']);
  });

  it('drains pods that arrive on the node during the drain', async () => {
    const c = cluster();
    c.addPod(replicaSetPod('web-1'));
    c.answerEviction = (p) => {
      if (p.metadata?.name === 'web-1')
        c.addPod(replicaSetPod('late', { owner: owner('ReplicaSet', 'api') }));
      return 'evict';
    };
    const result = await drainNode(c, NODE, fast);
    expect(result.evicted).toEqual(['shop/web-1', 'shop/late']);
    expect(c.pods.size).toBe(0);
  });

  it('fails with NodeNotFound for a node that does not exist', async () => {
    const err = await drainError(drainNode(new FakeCluster(), 'no-such-node', fast));
    expect(err.reasons).toEqual(['NodeNotFound']);
    expect(err.message).toBe('drain node no-such-node: node not found');
  });

  it('refuses a name that is not a node name before any request', async () => {
    const c = cluster();
    await expect(drainNode(c, '', fast)).rejects.toThrow(/is not a valid node name/);
    await expect(drainNode(c, 'a,spec.nodeName!=b', fast)).rejects.toThrow(/is not a valid node name/);
    expect(c.requests).toEqual([]);
  });

  it('stops promptly when aborted, with an AbortedError', async () => {
    const c = cluster();
    c.addPod(replicaSetPod('web-1'));
    c.answerEviction = () => tooManyRequests();
    const controller = new AbortController();
    const drain = drainNode(c, NODE, {
      ...fast,
      timeoutMs: 60_000,
      evictionRetryIntervalMs: 5000,
      signal: controller.signal,
    });
    await new Promise((r) => setTimeout(r, 50));
    const abortedAt = Date.now();
    controller.abort();
    const err = await drain.catch((e: unknown) => e);
    expect(err).toBeInstanceOf(AbortedError);
    expect((err as Error).name).toBe('AbortError');
    expect((err as Error).message).toBe(`drain node ${NODE}: aborted`);
    expect(Date.now() - abortedAt).toBeLessThan(200);
    const evictionsAtAbort = c.evictions.length;
    await new Promise((r) => setTimeout(r, 100));
    expect(c.evictions.length).toBe(evictionsAtAbort);
  });

  it('rejects at once when the signal is already aborted', async () => {
    const c = cluster();
    await expect(drainNode(c, NODE, { ...fast, signal: AbortSignal.abort() })).rejects.toBeInstanceOf(
      AbortedError,
    );
    expect(c.requests).toEqual([]);
  });
});

describe('ConcurrencyLimit', () => {
  it('never runs more than the limit at once and runs everything', async () => {
    const limit = new ConcurrencyLimit(3);
    let active = 0;
    let peak = 0;
    const done = await Promise.all(
      Array.from({ length: 20 }, (_, i) =>
        limit.run(async () => {
          active++;
          peak = Math.max(peak, active);
          await new Promise((r) => setTimeout(r, 1 + (i % 4)));
          active--;
          return i;
        }),
      ),
    );
    expect(peak).toBe(3);
    expect(done).toEqual(Array.from({ length: 20 }, (_, i) => i));
  });

  it('a queued task leaves the queue when aborted', async () => {
    const limit = new ConcurrencyLimit(1);
    let release!: () => void;
    const first = limit.run(() => new Promise<void>((r) => (release = r)));
    const controller = new AbortController();
    const queued = limit.run(async () => 'ran', controller.signal);
    controller.abort();
    await expect(queued).rejects.toBeInstanceOf(AbortedError);
    release();
    await first;
    await expect(limit.run(async () => 'next')).resolves.toBe('next');
  });
});
