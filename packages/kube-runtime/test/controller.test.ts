import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { KubeClient, ResourceTypes } from '../src/client';
import { Controller, generationChanged, TerminalError } from '../src/controller';
import { addFinalizer, hasFinalizer, isBeingDeleted, removeFinalizer } from '../src/finalizers';
import { RuntimeMetrics } from '../src/metrics';
import { patchStatus, setCondition, type Condition } from '../src/status';
import {
  createNamespace,
  deleteNamespace,
  eventually,
  installWidgetCrd,
  kc,
  Widget,
  widget,
  type WidgetObject,
} from './support/cluster';

const FINALIZER = 'test.keiko.io/cleanup';

describe('Controller against the real apiserver', () => {
  let ns: string;
  beforeAll(async () => {
    await installWidgetCrd();
    ns = await createNamespace('controller');
  });
  afterAll(async () => {
    await deleteNamespace(ns);
  });

  it('reconciles a CR to a status, then converges with zero further writes', async () => {
    // Its own client, so the writes it makes can be counted.
    const client = new KubeClient(kc);
    const writes: string[] = [];
    // Successful writes only: a write refused as stale (409) changed nothing.
    client.onRequest(
      ({ method, statusCode, path }) =>
        method !== 'GET' &&
        typeof statusCode === 'number' &&
        statusCode < 400 &&
        writes.push(`${method} ${path}`),
    );
    const metrics = new RuntimeMetrics();
    let reconciles = 0;
    const cleaned: string[] = [];

    const controller = new Controller<WidgetObject>({
      name: 'widget',
      client,
      for: Widget,
      forOptions: { namespace: ns, predicates: [generationChanged] },
      metrics,
      workers: 2,
      reconcile: async ({ namespace, name }) => {
        reconciles++;
        const w = controller.primary.getByName(namespace, name);
        if (!w) return;
        if (isBeingDeleted(w)) {
          // The cache may lag our own last write: a one-time step is confirmed with a live read.
          const live = await client.get<WidgetObject>(Widget, namespace, name);
          if (!live || !hasFinalizer(live, FINALIZER)) return;
          cleaned.push(name);
          await removeFinalizer(client, Widget, live, FINALIZER);
          return;
        }
        const withFinalizer = await addFinalizer(client, Widget, w, FINALIZER);
        const conditions = setCondition(w.status?.conditions as Condition[] | undefined, {
          type: 'Ready',
          status: 'True',
          reason: 'Sized',
          message: `size ${w.spec.size}`,
          observedGeneration: w.metadata?.generation,
        });
        await patchStatus(client, Widget, withFinalizer, {
          observedSize: w.spec.size,
          phase: 'Ready',
          conditions,
        });
      },
    });
    await controller.start();
    try {
      const plain = new KubeClient(kc);
      await plain.create(Widget, widget(ns, 'w1', 3));
      const ready = await eventually('status written', async () => {
        const w = await plain.get<WidgetObject>(Widget, ns, 'w1');
        return w?.status?.observedSize === 3 ? w : undefined;
      });
      expect(ready.metadata?.finalizers).toEqual([FINALIZER]);
      expect(ready.spec).toEqual({ size: 3 }); // status writes never touch spec
      expect((ready.status?.conditions as Condition[])[0]).toMatchObject({
        type: 'Ready',
        status: 'True',
        observedGeneration: 1,
      });

      // Converged: let every echo of its own writes come back through the watch, then count.
      await new Promise((r) => setTimeout(r, 2000));
      const settledWrites = writes.length;
      const settledReconciles = reconciles;
      await new Promise((r) => setTimeout(r, 2000));
      expect(writes.length).toBe(settledWrites);
      expect(reconciles).toBe(settledReconciles);
      expect(writes.filter((w) => w.includes('/status'))).toHaveLength(1);

      // A spec change is reconciled; the status follows.
      await plain.patch(Widget, ns, 'w1', { spec: { size: 5 } });
      await eventually('status follows spec', async () =>
        (await plain.get<WidgetObject>(Widget, ns, 'w1'))?.status?.observedSize === 5 ? true : undefined,
      );

      // Deletion passes through the finalizer.
      await plain.delete(Widget, ns, 'w1');
      await eventually('deleted after cleanup', async () =>
        (await plain.get(Widget, ns, 'w1')) ? undefined : true,
      );
      expect(cleaned).toEqual(['w1']);

      const text = await metrics.registry.metrics();
      expect(text).toMatch(
        /controller_runtime_reconcile_total\{controller="widget",result="success"\} [1-9]/,
      );
      expect(text).toMatch(/workqueue_adds_total\{[^}]*name="widget"[^}]*\} [1-9]/);
    } finally {
      await controller.stop(1000);
    }
  });

  it('requeues a failing reconcile with backoff and counts the error', async () => {
    const client = new KubeClient(kc);
    const metrics = new RuntimeMetrics();
    const attempts: number[] = [];
    const controller = new Controller<WidgetObject>({
      name: 'flaky',
      client,
      for: Widget,
      forOptions: { namespace: ns },
      metrics,
      reconcile: async ({ name }) => {
        if (name !== 'flaky') return;
        attempts.push(Date.now());
        if (attempts.length < 3) throw new Error('transient');
      },
    });
    await controller.start();
    try {
      await client.create(Widget, widget(ns, 'flaky', 1));
      await eventually('third attempt succeeds', () => (attempts.length >= 3 ? true : undefined), 10_000);
      await new Promise((r) => setTimeout(r, 300));
      expect(attempts).toHaveLength(3); // success stops the retries
      const text = await metrics.registry.metrics();
      expect(text).toMatch(/controller_runtime_reconcile_errors_total\{controller="flaky"\} 2/);
      expect(text).toMatch(/controller_runtime_reconcile_total\{controller="flaky",result="error"\} 2/);
    } finally {
      await controller.stop(1000);
    }
  });

  it('refuses a status write based on a stale read, and never touches spec', async () => {
    const client = new KubeClient(kc);
    const created = await client.create(Widget, widget(ns, 'stale', 1));
    await client.patch(Widget, ns, 'stale', { spec: { size: 2 } });
    await expect(patchStatus(client, Widget, created, { phase: 'Old' })).rejects.toMatchObject({
      statusCode: 409,
    });
    const fresh = (await client.get<WidgetObject>(Widget, ns, 'stale'))!;
    // A status patch that tries to smuggle a spec change in changes status only.
    await client.patch(
      Widget,
      ns,
      'stale',
      { spec: { size: 99 }, status: { phase: 'New' } },
      { subresource: 'status' },
    );
    const after = (await client.get<WidgetObject>(Widget, ns, 'stale'))!;
    expect(after.spec.size).toBe(2);
    expect(after.status?.phase).toBe('New');
    expect(await patchStatus(client, Widget, after, { phase: 'New' })).toBeUndefined(); // unchanged: no write
    expect(fresh.metadata?.generation).toBe(2);
  });

  it('adds and removes a finalizer without disturbing others', async () => {
    const client = new KubeClient(kc);
    const created = await client.create(Widget, {
      ...widget(ns, 'fin', 1),
      metadata: { name: 'fin', namespace: ns, finalizers: ['other.io/keep'] },
    });
    const added = await addFinalizer(client, Widget, created, FINALIZER);
    expect(added.metadata?.finalizers).toEqual(['other.io/keep', FINALIZER]);
    expect(await addFinalizer(client, Widget, added, FINALIZER)).toBe(added); // idempotent, no write
    const removed = await removeFinalizer(client, Widget, added, FINALIZER);
    expect(removed.metadata?.finalizers).toEqual(['other.io/keep']);
    await client.patch(Widget, ns, 'fin', { metadata: { finalizers: null } });
  });

  it('exposes the cache of a watched kind, and refuses one it does not watch', () => {
    const controller = new Controller<WidgetObject>({
      name: 'caches',
      client: new KubeClient(kc),
      for: Widget,
      reconcile: async () => {},
    }).watches(ResourceTypes.ConfigMap, () => []);
    expect(controller.cacheOf(ResourceTypes.ConfigMap).resource).toBe(ResourceTypes.ConfigMap);
    expect(() => controller.cacheOf(ResourceTypes.Secret)).toThrow(
      'controller caches does not watch secrets.core',
    );
  });

  it('counts terminal errors, panics and timeouts, and applies the error policy', async () => {
    const client = new KubeClient(kc);
    const metrics = new RuntimeMetrics();
    const calls: Record<string, number> = {};
    const policySaw: number[] = [];
    const controller = new Controller<WidgetObject>({
      name: 'failures',
      client: new KubeClient(kc),
      for: Widget,
      namespace: ns,
      metrics,
      reconcileTimeoutMs: 300,
      errorPolicy: (err, _req, failures) => {
        policySaw.push(failures);
        return err instanceof Error && err.message === 'throttled' ? { requeueAfterMs: 60_000 } : undefined;
      },
      reconcile: async ({ name }, { signal }) => {
        calls[name] = (calls[name] ?? 0) + 1;
        if (name === 'terminal') throw new TerminalError('spec.size must be positive');
        if (name === 'panic') (undefined as unknown as { x: number }).x.toFixed();
        if (name === 'throttled') throw new Error('throttled');
        if (name === 'slow')
          await new Promise((_resolve, reject) =>
            signal.addEventListener('abort', () => reject(new Error('aborted')), { once: true }),
          );
      },
    });
    await controller.start();
    try {
      for (const name of ['terminal', 'panic', 'throttled', 'slow'])
        await client.create(Widget, widget(ns, name, 1));
      const value = async (metric: string) => {
        const line = (await metrics.registry.metrics())
          .split('\n')
          .find((l) => l.startsWith(`${metric}{controller="failures"}`));
        return Number(line?.split(' ').pop());
      };
      await eventually(
        'each kind of failure counted',
        async () =>
          (await value('controller_runtime_terminal_reconcile_errors_total')) >= 1 &&
          (await value('controller_runtime_reconcile_panics_total')) >= 1 &&
          (await value('controller_runtime_reconcile_timeouts_total')) >= 1,
      );
      // A terminal error is not retried; a panic is (with backoff); the policy's requeue holds the key back.
      await eventually('the panic retried', () => (calls.panic ?? 0) >= 2);
      expect(calls.terminal).toBe(1);
      expect(calls.throttled).toBe(1);
      expect(policySaw.length).toBeGreaterThan(0);
    } finally {
      await controller.stop(1000);
    }
  });
});
