// npm run bench -- informer [count]
// Syncs a cache of N ConfigMaps (LIST in pages, then WATCH) with kube-runtime's Informer in a process of
// its own, bundled and run with plain node exactly as a controller runs in its container, and does the
// same with `kubectl get -w` (a Go client) for comparison. Prints one line:
// informer objects=N sync_s=.. rss_mb=.. kubectl_sync_s=.. kubectl_rss_mb=..
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { build } from 'tsup';
import { bundleOptions } from '../tsup.app';
import { KubeClient, ResourceTypes } from '@keiko/kube-runtime';
import { createNamespace, kubeConfigFromEnv, startTestEnv, toolPaths } from '@keiko/testenv';

const count = Number(process.argv[2] ?? 10_000);
const namespace = `bench-informer-${count}`;

const env = await startTestEnv({ verbose: true });
try {
  Object.assign(process.env, env.env);
  // No client-side rate limit for seeding: the figure is the informer's sync, not the seeding.
  const client = new KubeClient(kubeConfigFromEnv(), { qps: 0 });
  await seed(client);
  const outDir = fs.mkdtempSync(path.join(os.tmpdir(), 'keiko-bench-'));
  await build({
    ...bundleOptions({ 'informer-sync': path.join(import.meta.dirname, 'support/informer-sync.ts') }, outDir),
    silent: true,
  });
  const ours = await runChild(process.execPath, [
    path.join(outDir, 'informer-sync.js'),
    namespace,
    String(count),
  ]);
  fs.rmSync(outDir, { recursive: true, force: true });
  const theirs = await kubectlSync();
  console.log(
    `informer objects=${count} sync_s=${ours.syncS.toFixed(2)} rss_mb=${ours.rssMb.toFixed(0)} kubectl_sync_s=${theirs.syncS.toFixed(2)} kubectl_rss_mb=${theirs.rssMb.toFixed(0)}`,
  );
} finally {
  await env.stop();
}

/** Creates the ConfigMaps once; a reused test cluster keeps them for the next run. */
async function seed(client: KubeClient): Promise<void> {
  if (!(await client.get(ResourceTypes.Namespace, undefined, namespace)))
    await createNamespace(namespace, { exact: true });
  const existing = new Set(
    (await client.listAll(ResourceTypes.ConfigMap, { namespace })).items.map((c) => c.metadata?.name),
  );
  const missing = Array.from({ length: count }, (_, i) => `cm-${i}`).filter((n) => !existing.has(n));
  if (missing.length) process.stderr.write(`[bench] creating ${missing.length} ConfigMaps in ${namespace}\n`);
  const data = { payload: 'x'.repeat(256) };
  for (let i = 0; i < missing.length; i += 50) {
    await Promise.all(
      missing.slice(i, i + 50).map((name) =>
        client.create(ResourceTypes.ConfigMap, {
          apiVersion: 'v1',
          kind: 'ConfigMap',
          metadata: { name, namespace },
          data,
        }),
      ),
    );
  }
}

function runChild(cmd: string, args: string[]): Promise<{ syncS: number; rssMb: number }> {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { env: process.env, stdio: ['ignore', 'pipe', 'inherit'] });
    let out = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    child.on('exit', (code) => {
      if (code !== 0) return reject(new Error(`informer-sync exited ${code}`));
      resolve(JSON.parse(out.trim().split('\n').pop()!) as { syncS: number; rssMb: number });
    });
  });
}

/** kubectl get -w prints every listed object, then watches: synced when N names are out. */
function kubectlSync(): Promise<{ syncS: number; rssMb: number }> {
  return new Promise((resolve, reject) => {
    const started = performance.now();
    const child = spawn(toolPaths().kubectl, ['get', 'configmaps', '-n', namespace, '-w', '-o', 'name'], {
      env: process.env,
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    let lines = 0;
    let buffered = '';
    child.stdout.on('data', (d: Buffer) => {
      buffered += d.toString();
      const parts = buffered.split('\n');
      buffered = parts.pop() ?? '';
      lines += parts.filter((l) => l.startsWith('configmap/cm-')).length;
      if (lines >= count) {
        const syncS = (performance.now() - started) / 1000;
        const rssKb = Number(
          /VmRSS:\s+(\d+)/.exec(fs.readFileSync(`/proc/${child.pid}/status`, 'utf8'))?.[1] ?? 0,
        );
        child.kill('SIGKILL');
        resolve({ syncS, rssMb: rssKb / 1024 });
      }
    });
    child.on('error', reject);
  });
}
