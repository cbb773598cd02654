// npm run bench -- client [requests] [workers]
// 1,000 GETs of one ConfigMap from 8 concurrent workers through one KubeClient (its rate limit off: this
// measures the transport, not the limiter), with a TCP proxy in front of the test apiserver counting
// the connections opened; then the same GET with kubectl (a process each, as scripts use it).
// Prints one line:
// client requests=1000 connections=<n> p50_ms=.. p99_ms=.. kubectl_p50_ms=..
import { spawnSync } from 'node:child_process';
import { KubeClient, ResourceTypes } from '@keiko/kube-runtime';
import { kubeConfigFromEnv, startTestEnv, TcpProxy, toolPaths } from '@keiko/testenv';

const requests = Number(process.argv[2] ?? 1000);
const workers = Number(process.argv[3] ?? 8);
const namespace = 'default';
const name = 'bench-client';

const env = await startTestEnv({ verbose: true });
try {
  Object.assign(process.env, env.env);
  const kc = kubeConfigFromEnv();
  const direct = new KubeClient(kc);
  if (!(await direct.get(ResourceTypes.ConfigMap, namespace, name)))
    await direct.create(ResourceTypes.ConfigMap, {
      apiVersion: 'v1',
      kind: 'ConfigMap',
      metadata: { name, namespace },
      data: { payload: 'x'.repeat(256) },
    });
  const server = new URL(kc.getCurrentCluster()!.server);
  const proxy = new TcpProxy(server.hostname, Number(server.port));
  const port = await proxy.start();
  kc.clusters = kc.clusters.map((c) => ({ ...c, server: `https://127.0.0.1:${port}` }));
  const client = new KubeClient(kc, { qps: 0 });
  const latencies = await load(client);
  await client.close();
  await proxy.stop();
  const kubectl = kubectlLatencies(20);
  console.log(
    `client requests=${requests} connections=${proxy.connections} p50_ms=${pct(latencies, 50)} p99_ms=${pct(latencies, 99)} kubectl_p50_ms=${pct(kubectl, 50)}`,
  );
} finally {
  await env.stop();
}

async function load(client: KubeClient): Promise<number[]> {
  const latencies: number[] = [];
  let left = requests;
  const worker = async () => {
    while (left-- > 0) {
      const started = performance.now();
      await client.get(ResourceTypes.ConfigMap, namespace, name);
      latencies.push(performance.now() - started);
    }
  };
  await Promise.all(Array.from({ length: workers }, worker));
  return latencies;
}

function kubectlLatencies(n: number): number[] {
  return Array.from({ length: n }, () => {
    const started = performance.now();
    const run = spawnSync(toolPaths().kubectl, ['get', 'configmap', name, '-n', namespace, '-o', 'json'], {
      env: process.env,
      stdio: 'ignore',
    });
    if (run.status !== 0) throw new Error(`kubectl exited ${run.status}`);
    return performance.now() - started;
  });
}

function pct(values: number[], p: number): string {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]!.toFixed(1);
}
