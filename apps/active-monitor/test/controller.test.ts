// The HealthCheck controller against the real apiserver and a real Argo workflow-controller (an
// instance of this suite's own instanceID): runs, counters, remedy limits, RBAC and its cleanup, bad input.
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import fs from 'node:fs';
import path from 'node:path';
import type * as k8s from '@kubernetes/client-node';
import { HealthCheckKind, type HealthCheck } from '@keiko/api';
import {
  ArgoWorkflowResource,
  KubeClient,
  Manager,
  parseManagerConfig,
  type ArgoWorkflow,
} from '@keiko/kube-runtime';
import {
  applyManifests,
  createNamespace,
  deleteNamespace,
  eventsOf,
  eventually,
  kubeConfigFromEnv,
  parseManifests,
  startArgoInstance,
  startHttpsServer,
  uniqueName,
  type ArgoInstance,
} from '@keiko/testenv';
import { registerHealthCheckController } from '../src/healthcheck/controller';
import { RbacTypes } from '../src/healthcheck/rbac-apply';

const kc = kubeConfigFromEnv();
const client = new KubeClient(kc);
const repoRoot = path.resolve(import.meta.dirname, '../../..');

function workflowYaml(fail?: string): string {
  const annotations = fail
    ? `\n    metadata:\n      annotations:\n        testenv.keiko.io/exit-code: '1'\n        testenv.keiko.io/message: '${fail}'`
    : '';
  return `apiVersion: argoproj.io/v1alpha1
kind: Workflow
spec:
  entrypoint: start
  templates:
  - name: start${annotations}
    container:
      image: busybox:1.36
      command: [sh, -c]
      args: ["echo check"]
`;
}

function healthCheck(
  ns: string,
  name: string,
  spec: Partial<HealthCheck['spec']> & { fail?: string } = {},
): HealthCheck {
  const { fail, ...rest } = spec;
  return {
    apiVersion: 'activemonitor.keikoproj.io/v1alpha1',
    kind: 'HealthCheck',
    metadata: { name, namespace: ns },
    spec: {
      repeatAfterSec: 5,
      level: 'namespace',
      workflow: {
        generateName: `${name}-`,
        workflowtimeout: 120,
        resource: { namespace: ns, serviceAccount: `${name}-sa`, source: { inline: workflowYaml(fail) } },
      },
      ...rest,
    },
  };
}

const apply = (hc: HealthCheck) => applyManifests(kc, [hc as unknown as k8s.KubernetesObject]);
const get = (ns: string, name: string) => client.get<HealthCheck>(HealthCheckKind, ns, name);
async function statusOf(
  ns: string,
  name: string,
  what: string,
  ok: (s: NonNullable<HealthCheck['status']>) => boolean,
  timeoutMs = 90_000,
) {
  return eventually(
    what,
    async () => {
      const s = (await get(ns, name))?.status;
      return s && ok(s) ? s : undefined;
    },
    timeoutMs,
  );
}

describe('the HealthCheck controller against the real apiserver and Argo', () => {
  let ns: string;
  let argo: ArgoInstance;
  let mgr: Manager;
  let done: Promise<void>;

  beforeAll(async () => {
    const crd = path.join(
      repoRoot,
      'charts/active-monitor/crds/activemonitor.keikoproj.io_healthchecks.yaml',
    );
    await applyManifests(kc, parseManifests(fs.readFileSync(crd, 'utf8')));
    argo = await startArgoInstance(uniqueName('am-ctl'));
    ns = await createNamespace('am-ctl');
    const { config } = parseManagerConfig('active-monitor', [
      'node',
      'active-monitor',
      '--leader-elect=false',
      '--metrics-port=0',
      '--health-port=0',
      `--namespace=${ns}`,
      '--log-level=warn',
    ]);
    mgr = new Manager('active-monitor', config, { kubeConfig: kc });
    registerHealthCheckController(mgr, { instanceId: argo.instanceID });
    done = mgr.start({ handleSignals: false });
  }, 180_000);
  afterAll(async () => {
    // The checks go while the controller runs: it removes their RBAC and finalizers.
    if (ns) {
      for (const hc of (await client.list<HealthCheck>(HealthCheckKind, { namespace: ns })).items)
        await client.delete(HealthCheckKind, ns, hc.metadata.name ?? '');
      await eventually(
        'checks deleted',
        async () => (await client.list(HealthCheckKind, { namespace: ns })).items.length === 0,
        60_000,
      );
    }
    await mgr?.stop();
    await done;
    await argo?.stop();
    if (ns) await deleteNamespace(ns);
  });

  it('runs a check every repeatAfterSec, labelled and owned, with namespace RBAC that goes with the check', async () => {
    await apply(healthCheck(ns, 'pass'));
    const s = await statusOf(ns, 'pass', 'two successful runs', (x) => (x.successCount ?? 0) >= 2);
    expect(s.status).toBe('Succeeded');
    expect(s.failedCount).toBeUndefined();
    expect(Date.parse(s.nextRunAt ?? '') - Date.parse(s.finishedAt ?? '')).toBeGreaterThanOrEqual(4_000);
    const wfs = (await client.list<ArgoWorkflow>(ArgoWorkflowResource, { namespace: ns })).items.filter(
      (w) => w.metadata?.labels?.['activemonitor.keikoproj.io/healthcheck'] === 'pass',
    );
    expect(wfs.length).toBeGreaterThanOrEqual(2);
    const wf = wfs[0] as ArgoWorkflow;
    expect(wf.metadata?.labels?.['workflows.argoproj.io/controller-instanceid']).toBe(argo.instanceID);
    expect(wf.metadata?.ownerReferences?.[0]).toMatchObject({ kind: 'HealthCheck', name: 'pass' });
    expect(wf.spec).toMatchObject({
      serviceAccountName: 'pass-sa',
      activeDeadlineSeconds: 120,
      podGC: { strategy: 'OnPodCompletion' },
    });
    const role = await client.get<k8s.V1Role>(RbacTypes.Role, ns, 'pass-sa-ns-role');
    expect(role?.metadata?.labels).toMatchObject({ 'workflows.argoproj.io/managed-by': 'active-monitor' });
    expect(role?.rules?.flatMap((r) => r.verbs)).not.toContain('delete');
    expect(await client.get(RbacTypes.RoleBinding, ns, 'pass-sa-ns-role-binding')).toBeDefined();

    await client.delete(HealthCheckKind, ns, 'pass');
    await eventually(
      'the role and the check to be gone',
      async () => !(await client.get(RbacTypes.Role, ns, 'pass-sa-ns-role')) && !(await get(ns, 'pass')),
    );
  });

  it('runs the remedy on failure within remedyRunsLimit, and says when the limit holds it back', async () => {
    const remedyworkflow = {
      generateName: 'fix-',
      resource: { namespace: ns, serviceAccount: 'fix-sa', source: { inline: workflowYaml() } },
    };
    await apply(
      healthCheck(ns, 'failing', {
        fail: 'dns lookup failed',
        remedyworkflow,
        remedyRunsLimit: 1,
        remedyResetInterval: 3600,
      }),
    );
    const s = await statusOf(
      ns,
      'failing',
      'two failures and a remedy',
      (x) => (x.failedCount ?? 0) >= 2 && (x.remedySuccessCount ?? 0) >= 1,
    );
    expect(s).toMatchObject({
      status: 'Failed',
      remedyStatus: 'Succeeded',
      remedyTotalRuns: 1,
      remedySuccessCount: 1,
    });
    expect(s.errorMessage).toMatch(/dns lookup failed/);
    await eventually('a RemedySkipped event', async () =>
      (await eventsOf(kc, ns, 'failing')).some((e) => e.reason === 'RemedySkipped'),
    );
    const later = await statusOf(ns, 'failing', 'a third failure', (x) => (x.failedCount ?? 0) >= 3);
    expect(later.remedySuccessCount).toBe(1);
  });

  it('reports bad input as Stopped with the reason and an Event: no schedule, an invalid cron', async () => {
    await apply(healthCheck(ns, 'paused-upstream', { repeatAfterSec: 0 }));
    await apply(healthCheck(ns, 'bad-cron', { repeatAfterSec: undefined, schedule: { cron: '61 * * * *' } }));
    const stopped = await statusOf(ns, 'paused-upstream', 'Stopped', (x) => x.status === 'Stopped');
    expect(stopped.errorMessage).toMatch(/neither spec.repeatAfterSec/);
    const bad = await statusOf(ns, 'bad-cron', 'Stopped', (x) => x.status === 'Stopped');
    expect(bad.errorMessage).toMatch(/spec.schedule.cron "61 \* \* \* \*" is invalid/);
    await eventually('a Stopped event', async () =>
      (await eventsOf(kc, ns, 'bad-cron')).some((e) => e.reason === 'Stopped'),
    );
  });

  it('reads a url source over HTTPS: verifyCert false accepts a self-signed server, verifyCert true refuses it (Failed, retried)', async () => {
    const server = await startHttpsServer({ '/check.yaml': workflowYaml() });
    try {
      const source = (verifyCert: boolean) => ({ url: { path: `${server.url}/check.yaml`, verifyCert } });
      const lax = healthCheck(ns, 'url-lax');
      const strict = healthCheck(ns, 'url-strict', { backoffMin: 2, backoffMax: 4 });
      (lax.spec.workflow.resource as { source: unknown }).source = source(false);
      (strict.spec.workflow.resource as { source: unknown }).source = source(true);
      await apply(lax);
      await apply(strict);
      await statusOf(ns, 'url-lax', 'a pass', (x) => (x.successCount ?? 0) >= 1);
      const refused = await statusOf(ns, 'url-strict', 'Failed', (x) => x.status === 'Failed');
      expect(refused.errorMessage).toMatch(
        /spec.workflow.resource.source.url.path https:\/\/127.0.0.1:\d+\/check.yaml: .*certificate/,
      );
    } finally {
      await server.stop();
    }
  });

  it('reports a workflow Argo refuses as Failed and tries again with backoff, never in a hot loop', async () => {
    const hc = healthCheck(ns, 'refused', { backoffMin: 2, backoffMax: 4 });
    (hc.spec.workflow.resource as { source: { inline: string } }).source.inline = workflowYaml().replace(
      'entrypoint: start',
      'entrypoint: 42\n  notAField: true',
    );
    await apply(hc);
    const s = await statusOf(ns, 'refused', 'Failed', (x) => x.status === 'Failed');
    expect(s.errorMessage).toMatch(/could not submit health check workflow/);
    expect(s.currentWorkflow).toBeUndefined();
    await eventually('a SubmitFailed event', async () =>
      (await eventsOf(kc, ns, 'refused')).some(
        (e) => e.reason === 'SubmitFailed' && /could not submit/.test(e.message ?? ''),
      ),
    );
    // Backoff 2s..4s: a few attempts in 10s, not hundreds.
    const posts: number[] = [];
    mgr.client.onRequest(({ method, path: p }) => {
      if (method === 'POST' && p.includes('/workflows') && p.includes(ns)) posts.push(Date.now());
    });
    await new Promise((r) => setTimeout(r, 10_000));
    expect(posts.length).toBeGreaterThanOrEqual(1);
    expect(posts.length).toBeLessThanOrEqual(6);
  });
});
