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
const argo = await startArgoInstance(uniqueName('am-bench'), { stopOnExit: true });
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
/** Per check/slot: seconds from the slot to the Workflow's creationTimestamp, and to its arrival on our watch. */
const lags = new Map<string, { created: number; watched: number }>();
const workflows = new Informer<ArgoWorkflow>(client, ArgoWorkflowResource, {
  namespace: ns,
  labelSelector: 'activemonitor.keikoproj.io/healthcheck',
});
// Each check's latest run and when it finished: a slot whose previous run was still in Argo at the slot
// measures Argo's throughput, not the controller's lag (the check waits for it) — counted as `blocked`.
const latest = new Map<string, { name: string; finishedAt?: number }>();
const blocked = new Set<string>();
const checkOf = (wf: ArgoWorkflow) => wf.metadata?.labels?.['activemonitor.keikoproj.io/healthcheck'] ?? '';
workflows.addEventHandler({
  onUpdate: (_o, wf) => {
    const run = latest.get(checkOf(wf));
    const t = Date.parse(String(wf.status?.finishedAt ?? ''));
    if (run && run.name === wf.metadata?.name && Number.isFinite(t)) run.finishedAt = t;
  },
});
workflows.addEventHandler({
  onAdd: (wf) => {
    const slot = wf.metadata?.annotations?.['activemonitor.keikoproj.io/slot'] ?? '';
    const key = `${wf.metadata?.labels?.['activemonitor.keikoproj.io/healthcheck']}/${slot}`;
    const names = seen.get(key) ?? new Set<string>();
    if (!names.has(wf.metadata?.name ?? '')) {
      names.add(wf.metadata?.name ?? '');
      const created = Date.parse(String(wf.metadata?.creationTimestamp ?? ''));
      // finishedAt has whole seconds: a run that ended in the second before the slot did not block it.
      const prev = latest.get(checkOf(wf));
      if (prev && (prev.finishedAt === undefined || prev.finishedAt > Date.parse(slot) - 1000))
        blocked.add(key);
      const done = Date.parse(String(wf.status?.finishedAt ?? ''));
      latest.set(checkOf(wf), {
        name: wf.metadata?.name ?? '',
        ...(Number.isFinite(done) ? { finishedAt: done } : {}),
      });
      if (!lags.has(key))
        lags.set(key, {
          created: (created - Date.parse(slot)) / 1000,
          watched: (Date.now() - Date.parse(slot)) / 1000,
        });
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
    '--concurrency=32',
    '--kube-api-qps=400',
    '--kube-api-burst=800',
    `--instance-id=${argo.instanceID}`,
  ],
}).start();
process.on('exit', () => controller.proc.kill('SIGKILL'));
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
const last = first + (periods - 1) * 60_000;
await new Promise((r) => setTimeout(r, last + 45_000 - Date.now()));
clearInterval(sampler);

const inWindow = (k: string) => {
  const t = Date.parse(k.slice(k.indexOf('/') + 1));
  return t >= first && t <= last;
};
const slots = [...seen.keys()].filter(inWindow);
const duplicates = [...seen.values()].reduce((n, names) => n + names.size - 1, 0);
const window = slots
  .filter((k) => !blocked.has(k))
  .map((k) => lags.get(k))
  .filter((l) => l !== undefined);
const created = window.map((l) => l.created).sort((a, b) => a - b);
const watched = window.map((l) => l.watched).sort((a, b) => a - b);
const list = (await client.listAll<HealthCheck>(HealthCheckKind, { namespace: ns })).items;
const missed = list.reduce((n, h) => n + (h.status?.missedRuns ?? 0), 0);
const fmt = (v: number | undefined) => (v ?? NaN).toFixed(1);
// max_submit_lag_s: slot -> creationTimestamp (whole seconds, the apiserver's); watched: slot -> our watch saw it.
console.log(
  `healthchecks count=${count} period_s=60 slots=${slots.length}/${count * periods} max_submit_lag_s=${fmt(created.at(-1))} p50_submit_lag_s=${fmt(created[Math.floor(created.length / 2)])} max_watch_lag_s=${fmt(watched.at(-1))} blocked=${slots.filter((k) => blocked.has(k)).length} duplicates=${duplicates} missed=${missed} rss_mb=${rssMb.toFixed(0)}`,
);

// Checks go while the controller runs (it removes their finalizers).
for (const h of list) await client.delete(HealthCheckKind, ns, h.metadata.name ?? '').catch(() => false);
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
