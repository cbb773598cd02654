// npm run bench -- healthchecks [count] [periods]
// `count` HealthChecks on one cron schedule ('* * * * *': every one fires at the same minute boundary,
// the worst case), run by the bundled active-monitor against a real Argo controller of the bench's own
// instanceID, for `periods` minutes. Measures the submit lag — from a slot to its Workflow reaching the
// bench's watch (not Argo's throughput) — duplicate submissions for one check and slot, and the
// controller's peak memory. Prints one line:
// healthchecks count=.. period_s=60 slots=.. max_submit_lag_s=.. p50_submit_lag_s=.. duplicates=.. missed=.. rss_mb=..
import fs from 'node:fs';
import type * as k8s from '@kubernetes/client-node';
import { HealthCheckKind, type HealthCheck } from '@keiko/api';
import { ArgoWorkflowResource, Informer, KubeClient, type ArgoWorkflow } from '@keiko/kube-runtime';
import {
  applyManifests,
  buildApp,
  ControllerProcess,
  createNamespace,
  deleteNamespace,
  eventually,
  freePort,
  installChartCrds,
  kubeConfigFromEnv,
  startArgoInstance,
  startTestEnv,
  uniqueName,
} from '@keiko/testenv';

const count = Number(process.argv[2] ?? 500);
const periods = Number(process.argv[3] ?? 2);
const env = await startTestEnv({ verbose: true });
Object.assign(process.env, env.env);
const say = (m: string) => process.stderr.write(`[bench] ${m}\n`);
const kc = kubeConfigFromEnv();
const client = new KubeClient(kc);

const bundle = buildApp('active-monitor');
await installChartCrds(kc, 'active-monitor');
const argo = await startArgoInstance(uniqueName('am-bench'));
const ns = await createNamespace('bench-hc');
// A step Argo completes by itself (no pod): the run is over at once, so every minute has a slot to submit.
const workflow = `apiVersion: argoproj.io/v1alpha1
kind: Workflow
spec:
  ttlStrategy: {secondsAfterCompletion: 20}
  entrypoint: done
  templates:
  - name: done
    suspend: {duration: '0'}
`;

const seen = new Map<string, Set<string>>(); // check/slot -> workflow names
const lags: number[] = [];
const workflows = new Informer<ArgoWorkflow>(client, ArgoWorkflowResource, {
  namespace: ns,
  labelSelector: 'activemonitor.keikoproj.io/healthcheck',
});
workflows.addEventHandler({
  onAdd: (wf) => {
    const slot = wf.metadata?.annotations?.['activemonitor.keikoproj.io/slot'] ?? '';
    const key = `${wf.metadata?.labels?.['activemonitor.keikoproj.io/healthcheck']}/${slot}`;
    const names = seen.get(key) ?? new Set<string>();
    if (!names.has(wf.metadata?.name ?? '')) {
      names.add(wf.metadata?.name ?? '');
      lags.push((Date.now() - Date.parse(slot)) / 1000);
    }
    seen.set(key, names);
  },
});
workflows.start();
await workflows.waitForSync();

const controller = new ControllerProcess({
  bundle,
  args: [
    `--namespace=${ns}`,
    '--leader-elect=false',
    `--metrics-port=${await freePort()}`,
    '--health-port=0',
    '--bind-address=127.0.0.1',
    '--log-level=warn',
    '--concurrency=16',
    '--kube-api-qps=400',
    '--kube-api-burst=800',
    `--instance-id=${argo.instanceID}`,
  ],
}).start();
let rssMb = 0;
const sampler = setInterval(() => {
  const m = /VmRSS:\s+(\d+)/.exec(fs.readFileSync(`/proc/${controller.proc.pid}/status`, 'utf8'));
  rssMb = Math.max(rssMb, Number(m?.[1] ?? 0) / 1024);
}, 2000);

const checks: HealthCheck[] = Array.from({ length: count }, (_, i) => ({
  apiVersion: 'activemonitor.keikoproj.io/v1alpha1',
  kind: 'HealthCheck',
  metadata: { name: `check-${i}`, namespace: ns },
  spec: {
    schedule: { cron: '* * * * *' },
    workflow: {
      generateName: `check-${i}-`,
      workflowtimeout: 50,
      resource: { namespace: ns, source: { inline: workflow } },
    },
  },
}));
say(`applying ${count} checks`);
for (let i = 0; i < checks.length; i += 50)
  await applyManifests(kc, checks.slice(i, i + 50) as unknown as k8s.KubernetesObject[]);
// Measure whole minutes: start counting from the first boundary after every check was applied.
const first = Math.ceil((Date.now() + 1000) / 60_000) * 60_000;
say(`measuring ${periods} period(s) from ${new Date(first).toISOString()}`);
lags.length = 0;
seen.clear();
await new Promise((r) => setTimeout(r, first + periods * 60_000 - Date.now() + 15_000));
clearInterval(sampler);

const slots = [...seen.keys()].filter((k) => Date.parse(k.split('/')[1] ?? '') >= first);
const duplicates = [...seen.values()].reduce((n, names) => n + names.size - 1, 0);
const list = (await client.listAll<HealthCheck>(HealthCheckKind, { namespace: ns })).items;
const missed = list.reduce((n, h) => n + (h.status?.missedRuns ?? 0), 0);
const sorted = lags.slice().sort((a, b) => a - b);
console.log(
  `healthchecks count=${count} period_s=60 slots=${slots.length} max_submit_lag_s=${(sorted.at(-1) ?? NaN).toFixed(2)} p50_submit_lag_s=${(sorted[Math.floor(sorted.length / 2)] ?? NaN).toFixed(2)} duplicates=${duplicates} missed=${missed} rss_mb=${rssMb.toFixed(0)}`,
);

// Checks go while the controller runs (it removes their finalizers).
await client.request('DELETE', `/apis/activemonitor.keikoproj.io/v1alpha1/namespaces/${ns}/healthchecks`);
await eventually(
  'checks deleted',
  async () => (await client.list(HealthCheckKind, { namespace: ns })).items.length === 0,
  120_000,
).catch(() => undefined);
await controller.stop();
await workflows.stop();
await argo.stop();
await deleteNamespace(ns);
process.exit(0);
