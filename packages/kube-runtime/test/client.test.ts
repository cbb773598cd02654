// The client against the real apiserver behind a fault proxy: retries that are safe and bounded, one
// small connection pool, and a signal that stops every call.
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import type { V1ConfigMap } from '@kubernetes/client-node';
import { ApiFaultProxy } from '@keiko/testenv';
import { ApiError, KubeClient, ResourceTypes, type RequestObserver } from '../src/client';
import { client as direct, createNamespace, deleteNamespace, eventually } from './support/cluster';

const CM = ResourceTypes.ConfigMap;
let proxy: ApiFaultProxy;
let ns: string;
/** No client-side rate limit: these tests are about retries and connections. */
const unlimited = () => new KubeClient(proxy.kubeconfig(), { qps: 0 });
const configMap = (name: string): V1ConfigMap => ({
  apiVersion: 'v1',
  kind: 'ConfigMap',
  metadata: { name, namespace: ns },
  data: { a: '1' },
});

beforeAll(async () => {
  proxy = new ApiFaultProxy();
  await proxy.start();
  ns = await createNamespace('rt-client');
});
afterAll(async () => {
  await proxy.stop();
  await deleteNamespace(ns);
});

describe('KubeClient retries', () => {
  it('retries 429 for any verb, waiting as long as Retry-After says', async () => {
    const client = unlimited();
    proxy.resetStats();
    proxy.failNext(2, 429, 1);
    const started = Date.now();
    await client.create(CM, configMap('after-429'));
    expect(Date.now() - started).toBeGreaterThanOrEqual(2000);
    expect(proxy.stats()).toMatchObject({ faulted: 2, writesForwarded: 1 });
    expect(await client.get(CM, ns, 'after-429')).toBeDefined();
  });

  it('retries a 503 of a read and of a guarded write, never of an unguarded create', async () => {
    const client = unlimited();
    proxy.failNext(2, 503);
    expect(await client.get(CM, ns, 'after-429')).toBeDefined();

    proxy.resetStats();
    proxy.failNext(1, 503);
    const err = await client.create(CM, configMap('not-twice')).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ApiError);
    expect((err as ApiError).statusCode).toBe(503);
    expect(proxy.stats().writesForwarded).toBe(0);

    const live = (await client.get<V1ConfigMap>(CM, ns, 'after-429'))!;
    proxy.failNext(1, 503);
    const updated = await client.replace(CM, { ...live, data: { a: '2' } });
    expect(updated.data?.a).toBe('2');
  });

  it('converges through a storm of 429 and 503 without a hot loop', async () => {
    const client = new KubeClient(proxy.kubeconfig()); // the default limit: 20/s, burst 30
    proxy.resetStats();
    proxy.failShare({ share: 0.3, status: 503 });
    const results = await Promise.all(
      Array.from({ length: 60 }, (_, i) => client.get(CM, ns, i % 2 ? 'after-429' : 'absent')),
    );
    proxy.clearFaults();
    expect(results.filter(Boolean)).toHaveLength(30);
    const { requests, faulted } = proxy.stats();
    expect(faulted).toBeGreaterThan(0);
    // Each failed attempt is retried once more, never in a tight loop: about 60 / 0.7 attempts.
    expect(requests).toBeLessThan(60 * 2);
  });
});

describe('KubeClient connections', () => {
  it('serves 1,000 requests from 8 concurrent workers over at most 4 connections', async () => {
    const client = unlimited();
    await client.get(CM, ns, 'after-429');
    proxy.resetStats();
    let left = 1000;
    const worker = async () => {
      while (left-- > 0) await client.get(CM, ns, 'after-429');
    };
    await Promise.all(Array.from({ length: 8 }, worker));
    const { connections, requests } = proxy.stats();
    expect(requests).toBe(1000);
    expect(connections).toBeLessThanOrEqual(4);
    await client.close();
  });

  it('counts a request that got no answer as <error>', async () => {
    const seen: Parameters<RequestObserver>[0][] = [];
    const client = new KubeClient(proxy.kubeconfig(), { qps: 0, maxRetries: 0 });
    client.onRequest((r) => seen.push(r));
    proxy.partition();
    try {
      await expect(client.get(CM, ns, 'after-429')).rejects.toThrow();
    } finally {
      proxy.heal();
    }
    expect(seen.map((r) => r.statusCode)).toEqual(['<error>']);
  });
});

describe('KubeClient signal', () => {
  it('aborts an in-flight write when its signal aborts; the write never reaches the apiserver', async () => {
    const lost = new AbortController();
    const client = unlimited().withSignal(lost.signal);
    proxy.resetStats();
    proxy.pause();
    const write = client.create(CM, configMap('deposed')).catch((e: unknown) => e);
    await eventually('the write to reach the proxy', () => proxy.stats().requests === 1);
    lost.abort(new Error('leadership lost'));
    expect(String(await write)).toContain('leadership lost');
    // The abort closes the connection; a partition heals only later (the new leader waits out the
    // lease), so the proxy has seen the client go before it lets the held request through.
    await eventually('the proxy to see the client go', () => proxy.stats().abandoned === 1);
    proxy.resume();
    await eventually('the held write to be dropped', () => proxy.stats().dropped === 1);
    expect(proxy.stats().writesForwarded).toBe(0);
    expect(await direct.get(CM, ns, 'deposed')).toBeUndefined();

    // Later calls fail at once, without a request.
    await expect(client.get(CM, ns, 'after-429')).rejects.toThrow('leadership lost');
    expect(proxy.stats().requests).toBe(1);
  });
});
