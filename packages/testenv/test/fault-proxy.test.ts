// The fault proxy in front of the test apiserver: it forwards requests and watches unchanged, injects
// the failures it is told to, holds requests while paused and drops those whose client gave up, and
// counts what reached the apiserver.
import { afterAll, beforeAll, beforeEach, describe, expect, it } from '@jest/globals';
import * as k8s from '@kubernetes/client-node';
import type http from 'node:http';
import https from 'node:https';
import { ApiFaultProxy, eventually, kubeConfigFromEnv } from '../src/index';

const direct = kubeConfigFromEnv();
const core = direct.makeApiClient(k8s.CoreV1Api);
const token = direct.getCurrentUser()?.token ?? '';
const ca = Buffer.from(direct.getCurrentCluster()?.caData ?? '', 'base64');
const ns = `faultproxy-${Date.now().toString(36)}`;
const proxy = new ApiFaultProxy();
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

interface Reply {
  status: number;
  headers: http.IncomingHttpHeaders;
  body: string;
}

/** A plain HTTPS request to the proxy: `req` to abort it, `reply` for the whole response. */
function call(
  method: string,
  urlPath: string,
  opts: { body?: unknown; agent?: https.Agent | false; userAgent?: string } = {},
): { req: http.ClientRequest; reply: Promise<Reply> } {
  const body = opts.body === undefined ? undefined : JSON.stringify(opts.body);
  const req = https.request(`${proxy.url}${urlPath}`, {
    method,
    ca,
    agent: opts.agent,
    headers: {
      authorization: `Bearer ${token}`,
      'user-agent': opts.userAgent ?? 'fault-proxy-test',
      ...(body ? { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) } : {}),
    },
  });
  const reply = new Promise<Reply>((resolve, reject) => {
    req.on('error', reject);
    req.on('response', (res) => {
      let data = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => (data += c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: data }));
      res.on('error', reject);
    });
  });
  req.end(body);
  return { req, reply };
}

const configMap = (name: string, labels: Record<string, string> = {}) => ({
  metadata: { name, labels },
  data: { k: 'v' },
});

beforeAll(async () => {
  await proxy.start();
  await core.createNamespace({ body: { metadata: { name: ns } } });
});

afterAll(async () => {
  await proxy.stop();
  await core.deleteNamespace({ name: ns }).catch(() => undefined);
});

beforeEach(() => {
  proxy.clearFaults();
  proxy.latency(0);
  proxy.resume();
  proxy.heal();
  proxy.resetStats();
});

describe('ApiFaultProxy', () => {
  it('forwards requests with the copied kubeconfig and records what it forwarded', async () => {
    const kc = proxy.kubeconfig();
    expect(kc.getCurrentCluster()?.server).toBe(proxy.url);
    const yamlCopy = new k8s.KubeConfig();
    yamlCopy.loadFromString(proxy.kubeconfigYaml());
    expect(yamlCopy.getCurrentCluster()?.server).toBe(proxy.url);

    const got = await kc.makeApiClient(k8s.CoreV1Api).readNamespace({ name: ns });
    expect(got.metadata?.name).toBe(ns);
    const created = await call('POST', `/api/v1/namespaces/${ns}/configmaps`, {
      body: configMap('forwarded'),
      userAgent: 'leader-a',
    }).reply;
    expect(created.status).toBe(201);

    const stats = proxy.stats();
    expect(stats).toMatchObject({ requests: 2, forwarded: 2, writesForwarded: 1, faulted: 0, dropped: 0 });
    expect(stats.byUserAgent['leader-a']).toEqual({ requests: 1, writes: 1 });
    expect(proxy.forwardedLog().map((r) => `${r.method} ${r.path}`)).toEqual([
      `GET /api/v1/namespaces/${ns}`,
      `POST /api/v1/namespaces/${ns}/configmaps`,
    ]);
  });

  it('failNext answers with a Kubernetes Status and Retry-After, then forwards again', async () => {
    proxy.failNext(1, 429, 1);
    const first = await call('GET', `/api/v1/namespaces/${ns}`).reply;
    expect(first.status).toBe(429);
    expect(first.headers['retry-after']).toBe('1');
    expect(JSON.parse(first.body)).toMatchObject({
      kind: 'Status',
      apiVersion: 'v1',
      status: 'Failure',
      reason: 'TooManyRequests',
      code: 429,
      details: { retryAfterSeconds: 1 },
    });
    expect((await call('GET', `/api/v1/namespaces/${ns}`).reply).status).toBe(200);
    expect(proxy.stats()).toMatchObject({ requests: 2, faulted: 1, forwarded: 1 });
  });

  it('failShare fails only the matching requests', async () => {
    proxy.failShare({ share: 1, status: 503, methods: ['post'], pathPattern: /\/configmaps/ });
    expect((await call('GET', `/api/v1/namespaces/${ns}/configmaps`).reply).status).toBe(200);
    const write = await call('POST', `/api/v1/namespaces/${ns}/configmaps`, { body: configMap('shed') })
      .reply;
    expect(write.status).toBe(503);
    expect(JSON.parse(write.body)).toMatchObject({ reason: 'ServiceUnavailable', code: 503 });
    expect(write.headers['retry-after']).toBeUndefined();
    proxy.clearFaults();
    expect((await call('GET', `/api/v1/namespaces/${ns}`).reply).status).toBe(200);
    expect(proxy.stats()).toMatchObject({ forwarded: 2, writesForwarded: 0, faulted: 1 });
  });

  it('adds latency before forwarding', async () => {
    proxy.latency(300);
    const t0 = Date.now();
    expect((await call('GET', '/version').reply).status).toBe(200);
    expect(Date.now() - t0).toBeGreaterThanOrEqual(290);
  });

  it('holds requests while paused and never forwards one whose client gave up', async () => {
    proxy.pause();
    const kept = call('GET', `/api/v1/namespaces/${ns}`);
    const aborted = call('POST', `/api/v1/namespaces/${ns}/configmaps`, {
      body: configMap('deposed-write'),
      userAgent: 'deposed-leader',
    });
    aborted.reply.catch(() => undefined);
    await eventually('both requests to reach the proxy', () => proxy.stats().requests === 2);
    await sleep(300);
    expect(proxy.stats().forwarded).toBe(0);

    aborted.req.destroy(); // the deposed leader abandons its write
    await sleep(300); // the proxy sees the client's connection close
    proxy.resume();
    expect((await kept.reply).status).toBe(200);
    await sleep(500);

    expect(proxy.stats()).toMatchObject({ requests: 2, forwarded: 1, writesForwarded: 0, dropped: 1 });
    expect(proxy.stats().byUserAgent['deposed-leader']).toBeUndefined();
    expect(proxy.forwardedLog().map((r) => r.method)).toEqual(['GET']);
    await expect(
      core.readNamespacedConfigMap({ name: 'deposed-write', namespace: ns }),
    ).rejects.toMatchObject({
      code: 404,
    });
  });

  it('streams a watch as events happen, stalls it while paused, and cut() ends it', async () => {
    const events: string[] = [];
    let ended = false;
    const watch = new k8s.Watch(proxy.kubeconfig());
    const controller = await watch.watch(
      `/api/v1/namespaces/${ns}/configmaps`,
      { labelSelector: 'fault-proxy-test=watch' },
      (type, obj: k8s.V1ConfigMap) => events.push(`${type} ${obj.metadata?.name}`),
      () => (ended = true),
    );
    try {
      const labels = { 'fault-proxy-test': 'watch' };
      await core.createNamespacedConfigMap({ namespace: ns, body: configMap('w1', labels) });
      await eventually('ADDED w1 through the proxy', () => events.includes('ADDED w1'));

      proxy.pause();
      await core.createNamespacedConfigMap({ namespace: ns, body: configMap('w2', labels) });
      await sleep(1000);
      expect(events).not.toContain('ADDED w2');
      proxy.resume();
      await eventually('ADDED w2 after resume', () => events.includes('ADDED w2'));
      expect(ended).toBe(false);

      proxy.cut();
      await eventually('the watch to end when the proxy cuts it', () => ended);
    } finally {
      controller.abort();
    }
  });

  it('counts TLS connections; partition() refuses new ones until heal()', async () => {
    await call('GET', '/version', { agent: false }).reply;
    await call('GET', '/version', { agent: false }).reply;
    expect(proxy.stats().connections).toBe(2);
    const keepAlive = new https.Agent({ keepAlive: true, ca });
    try {
      await call('GET', '/version', { agent: keepAlive }).reply;
      await call('GET', '/version', { agent: keepAlive }).reply;
    } finally {
      keepAlive.destroy();
    }
    expect(proxy.stats()).toMatchObject({ connections: 3, requests: 4, forwarded: 4 });

    proxy.partition();
    await expect(call('GET', '/version', { agent: false }).reply).rejects.toThrow();
    proxy.heal();
    expect((await call('GET', '/version', { agent: false }).reply).status).toBe(200);
    expect(proxy.stats().connections).toBe(4);
  });
});
