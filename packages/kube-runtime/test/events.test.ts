// The event recorder against the real test cluster: aggregation into counts, separate events per
// reason, cluster-scoped objects, recreation of deleted events, the spam filter, and failures that
// are logged instead of thrown.
import { describe, expect, it, beforeAll, afterAll } from '@jest/globals';
import * as k8s from '@kubernetes/client-node';
import { kubeConfigFromEnv } from '@keiko/testenv';
import { KubeClient, ResourceTypes } from '../src/client';
import { EventRecorder, type CoreEvent } from '../src/events';
import type { Logger } from '../src/logger';

const client = new KubeClient(kubeConfigFromEnv());
const ns = `events-${Date.now().toString(36)}`;
let namespaceObject: k8s.V1Namespace;
let seq = 0;

/** A real object to record events about (events reference its uid). */
async function configMap(): Promise<k8s.V1ConfigMap> {
  const cm = await client.create<k8s.V1ConfigMap>(ResourceTypes.ConfigMap, {
    apiVersion: 'v1',
    kind: 'ConfigMap',
    metadata: { name: `subject-${++seq}`, namespace: ns },
    data: { a: 'b' },
  });
  // Responses carry apiVersion/kind; keep them explicit for the involvedObject.
  return { ...cm, apiVersion: 'v1', kind: 'ConfigMap' };
}

async function eventsAbout(uid: string, namespace = ns): Promise<CoreEvent[]> {
  const list = await client.list<CoreEvent>(ResourceTypes.Event, {
    namespace,
    fieldSelector: `involvedObject.uid=${uid}`,
  });
  return list.items.sort((x, y) =>
    (x.metadata?.creationTimestamp ?? '')
      .toString()
      .localeCompare((y.metadata?.creationTimestamp ?? '').toString()),
  );
}

function capturingLogger(): Logger & { warnings: { msg: string; meta?: Record<string, unknown> }[] } {
  const warnings: { msg: string; meta?: Record<string, unknown> }[] = [];
  return {
    warnings,
    debug: () => {},
    info: () => {},
    warn: (msg, meta) => warnings.push({ msg, meta }),
    error: (msg, meta) => warnings.push({ msg, meta }),
  };
}

beforeAll(async () => {
  namespaceObject = await client.create<k8s.V1Namespace>(ResourceTypes.Namespace, {
    apiVersion: 'v1',
    kind: 'Namespace',
    metadata: { name: ns },
  });
});

afterAll(async () => {
  await client.delete(ResourceTypes.Namespace, undefined, ns);
  // Events about the (cluster-scoped) namespace live in 'default'.
  const uid = namespaceObject.metadata?.uid;
  if (uid)
    for (const e of await eventsAbout(uid, 'default'))
      await client.delete(ResourceTypes.Event, 'default', e.metadata!.name!);
});

describe('EventRecorder', () => {
  it('aggregates a repeated event into one Event with a count', async () => {
    const recorder = new EventRecorder(client, { component: 'keiko-test', host: 'test-host' });
    const cm = await configMap();
    for (let i = 0; i < 5; i++)
      await recorder.record(cm, 'Warning', 'DrainBlocked', 'eviction of pod x blocked by PDB y');

    const events = await eventsAbout(cm.metadata!.uid!);
    expect(events).toHaveLength(1);
    const e = events[0]!;
    expect(e).toMatchObject({
      type: 'Warning',
      reason: 'DrainBlocked',
      message: 'eviction of pod x blocked by PDB y',
      count: 5,
      source: { component: 'keiko-test', host: 'test-host' },
      reportingComponent: 'keiko-test',
      reportingInstance: 'test-host',
      involvedObject: {
        apiVersion: 'v1',
        kind: 'ConfigMap',
        name: cm.metadata!.name,
        namespace: ns,
        uid: cm.metadata!.uid,
        resourceVersion: cm.metadata!.resourceVersion,
      },
    });
    expect(e.metadata?.namespace).toBe(ns);
    expect(e.metadata?.name).toMatch(new RegExp(`^${cm.metadata!.name}\\.[0-9a-f]+$`));
    expect(Date.parse(e.lastTimestamp!)).toBeGreaterThanOrEqual(Date.parse(e.firstTimestamp!));
  });

  it('aggregates concurrent repeats too (no racing creates)', async () => {
    const recorder = new EventRecorder(client, { component: 'keiko-test' });
    const cm = await configMap();
    await Promise.all(Array.from({ length: 5 }, () => recorder.record(cm, 'Normal', 'Synced', 'synced')));
    const events = await eventsAbout(cm.metadata!.uid!);
    expect(events.map((e) => e.count)).toEqual([5]);
  });

  it('records a different reason as a second Event', async () => {
    const recorder = new EventRecorder(client, { component: 'keiko-test' });
    const cm = await configMap();
    await recorder.record(cm, 'Normal', 'Started', 'upgrade started');
    await recorder.record(cm, 'Normal', 'Started', 'upgrade started');
    await recorder.record(cm, 'Normal', 'Completed', 'upgrade started');
    await recorder.record(cm, 'Warning', 'Started', 'upgrade started');

    const events = await eventsAbout(cm.metadata!.uid!);
    expect(events).toHaveLength(3);
    const byKey = Object.fromEntries(events.map((e) => [`${e.type}/${e.reason}`, e.count]));
    expect(byKey).toEqual({ 'Normal/Started': 2, 'Normal/Completed': 1, 'Warning/Started': 1 });
  });

  it('records events about cluster-scoped objects in the default namespace', async () => {
    const recorder = new EventRecorder(client, { component: 'keiko-test' });
    await recorder.record(
      { ...namespaceObject, apiVersion: 'v1', kind: 'Namespace' },
      'Normal',
      'Observed',
      'namespace seen',
    );
    await recorder.record(
      { ...namespaceObject, apiVersion: 'v1', kind: 'Namespace' },
      'Normal',
      'Observed',
      'namespace seen',
    );
    const events = await eventsAbout(namespaceObject.metadata!.uid!, 'default');
    expect(events).toHaveLength(1);
    expect(events[0]).toMatchObject({ count: 2, involvedObject: { kind: 'Namespace', name: ns } });
    expect(events[0]!.involvedObject.namespace ?? '').toBe('');
  });

  it('creates a new Event when the aggregated one was deleted', async () => {
    const recorder = new EventRecorder(client, { component: 'keiko-test' });
    const cm = await configMap();
    await recorder.record(cm, 'Normal', 'Scaled', 'scaled to 3');
    await recorder.record(cm, 'Normal', 'Scaled', 'scaled to 3');
    const [first] = await eventsAbout(cm.metadata!.uid!);
    expect(first?.count).toBe(2);
    await client.delete(ResourceTypes.Event, ns, first!.metadata!.name!);

    await recorder.record(cm, 'Normal', 'Scaled', 'scaled to 3');
    const events = await eventsAbout(cm.metadata!.uid!);
    expect(events).toHaveLength(1);
    expect(events[0]!.metadata!.name).not.toBe(first!.metadata!.name);
    expect(events[0]!.count).toBe(1);
  });

  it('combines many different messages for one reason into one Event', async () => {
    const recorder = new EventRecorder(client, { component: 'keiko-test', maxSimilarEvents: 4 });
    const cm = await configMap();
    for (let i = 1; i <= 7; i++)
      await recorder.record(cm, 'Normal', 'NodeDrained', `drained node ip-10-0-0-${i}`);
    const events = await eventsAbout(cm.metadata!.uid!);
    // three on their own, then one combined Event counting the remaining four with the latest message
    expect(events).toHaveLength(4);
    const combined = events.find((e) => e.message?.startsWith('(combined from similar events): '));
    expect(combined).toMatchObject({
      count: 4,
      message: '(combined from similar events): drained node ip-10-0-0-7',
    });
  });

  it('limits a hot loop with the per-object spam filter, still counting what it suppressed', async () => {
    const log = capturingLogger();
    const writes: string[] = [];
    const counted = new KubeClient(client.kubeConfig);
    counted.onRequest(({ method, path }) => {
      if (path.includes('/events')) writes.push(method);
    });
    const recorder = new EventRecorder(counted, { component: 'keiko-test', spamBurst: 3, logger: log });
    const cm = await configMap();
    for (let i = 0; i < 10; i++) await recorder.record(cm, 'Warning', 'Failed', 'reconcile failed');
    await recorder.record(cm, 'Warning', 'Other', 'another reason, same object');
    expect(writes).toEqual(['POST', 'PATCH', 'PATCH']);
    const events = await eventsAbout(cm.metadata!.uid!);
    expect(events.map((e) => [e.reason, e.count])).toEqual([['Failed', 3]]);
    expect(log.warnings).toEqual([]);

    // Once a token is back, the next write carries every occurrence, suppressed ones included.
    const refilling = new EventRecorder(client, {
      component: 'keiko-test',
      spamBurst: 1,
      spamRefillIntervalMs: 300,
    });
    const cm2 = await configMap();
    for (let i = 0; i < 4; i++) await refilling.record(cm2, 'Warning', 'Failed', 'reconcile failed');
    expect((await eventsAbout(cm2.metadata!.uid!)).map((e) => e.count)).toEqual([1]);
    await new Promise((r) => setTimeout(r, 350));
    await refilling.record(cm2, 'Warning', 'Failed', 'reconcile failed');
    expect((await eventsAbout(cm2.metadata!.uid!)).map((e) => e.count)).toEqual([5]);
  });

  it('logs instead of throwing when the API call fails', async () => {
    const log = capturingLogger();
    const recorder = new EventRecorder(client, { component: 'keiko-test', logger: log });
    const ghost = {
      apiVersion: 'v1',
      kind: 'ConfigMap',
      metadata: { name: 'ghost', namespace: `${ns}-missing`, uid: 'u-1' },
    };
    await expect(recorder.record(ghost, 'Warning', 'Failed', 'no such namespace')).resolves.toBeUndefined();
    expect(log.warnings).toHaveLength(1);
    expect(log.warnings[0]!.msg).toBe('could not record event');
    expect(String(log.warnings[0]!.meta?.error)).toMatch(/404|not found/i);

    // An apiserver that is not there at all.
    const unreachable = new k8s.KubeConfig();
    unreachable.loadFromOptions({
      clusters: [{ name: 'c', server: 'http://127.0.0.1:1', skipTLSVerify: true }],
      users: [{ name: 'u' }],
      contexts: [{ name: 'x', cluster: 'c', user: 'u' }],
      currentContext: 'x',
    });
    const offline = new EventRecorder(new KubeClient(unreachable), { component: 'keiko-test', logger: log });
    await expect(offline.record(ghost, 'Normal', 'Any', 'thing')).resolves.toBeUndefined();
    expect(log.warnings).toHaveLength(2);

    // An object without a name cannot be referenced: logged, not thrown.
    await expect(recorder.record({ metadata: {} }, 'Normal', 'Any', 'thing')).resolves.toBeUndefined();
    expect(log.warnings).toHaveLength(3);
  });
});
