// active-monitor end to end, as a user runs it: the bundled controller (node dist/main.js) as the Helm
// chart's ServiceAccount (exactly the chart's RBAC: a missing rule fails a scenario), leader election on,
// against the test cluster and a real Argo workflow-controller of this suite's own instanceID (the
// controller's --instance-id), which validates and runs the Workflows; only step containers are played
// by testenv's stand-ins.
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type * as k8s from '@kubernetes/client-node';
import { HealthCheckKind, type HealthCheck } from '@keiko/api';
import { ArgoWorkflowResource, KubeClient, type ArgoWorkflow } from '@keiko/kube-runtime';
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
  uniqueName,
  type ArgoInstance,
} from '@keiko/testenv';
import { cleanupWorkspace } from '../../charts/test/support/charts';
import { writeKubeConfigAs } from '../../charts/test/support/impersonate';
import { installChartRbac, type ChartRbac } from '../../charts/test/support/rbac';

const kc = kubeConfigFromEnv();
const client = new KubeClient(kc);
const RBAC = (kind: string, plural: string, namespaced: boolean) => ({
  group: 'rbac.authorization.k8s.io',
  version: 'v1',
  kind,
  plural,
  namespaced,
});
const Role = RBAC('Role', 'roles', true);
const ClusterRole = RBAC('ClusterRole', 'clusterroles', false);
const ClusterRoleBinding = RBAC('ClusterRoleBinding', 'clusterrolebindings', false);

let bundle: string;
let argo: ArgoInstance;
let rbac: ChartRbac;
let tmp: string;
let kubeconfig: string;
let nsA: string;
let nsB: string;
let controller: ControllerProcess;

async function startController(): Promise<ControllerProcess> {
  return new ControllerProcess({
    bundle,
    identity: { kubeconfig, namespace: rbac.serviceAccount.namespace },
    args: [
      '--leader-elect=true',
      `--leader-election-id=${rbac.leaseName ?? 'active-monitor-leader'}`,
      '--lease-duration=4',
      '--renew-deadline=3',
      '--retry-period=1',
      `--metrics-port=${await freePort()}`,
      '--health-port=0',
      '--bind-address=127.0.0.1',
      `--instance-id=${argo.instanceID}`,
      `--privileged-namespaces=${nsA}`,
      '--shutdown-grace=2',
    ],
    logFile: path.join(tmp, `controller-${Date.now()}.log`),
  }).start();
}

const step = (body: string[], annotations: Record<string, string> = {}) =>
  [
    'apiVersion: argoproj.io/v1alpha1',
    'kind: Workflow',
    'spec:',
    '  entrypoint: start',
    '  templates:',
    '  - name: start',
    ...(Object.keys(annotations).length
      ? [
          '    metadata:',
          '      annotations:',
          ...Object.entries(annotations).map(([k, v]) => `        ${k}: '${v}'`),
        ]
      : []),
    ...body,
    '',
  ].join('\n');
const container = [
  '    container:',
  '      image: busybox:1.36',
  '      command: [sh, -c]',
  '      args: ["echo ok"]',
];
const passing = step(container);
const failing = step(container, {
  'testenv.keiko.io/exit-code': '1',
  'testenv.keiko.io/message': 'service unreachable',
});
/** A run of a few seconds: Argo itself resumes a suspend step after its duration (no pod). */
const slow = step(['    suspend:', "      duration: '10'"]);

function healthCheck(
  ns: string,
  name: string,
  inline: string,
  spec: Partial<HealthCheck['spec']> = {},
): HealthCheck {
  return {
    apiVersion: 'activemonitor.keikoproj.io/v1alpha1',
    kind: 'HealthCheck',
    metadata: { name, namespace: ns },
    spec: {
      repeatAfterSec: 3,
      level: 'namespace',
      workflow: {
        generateName: `${name}-`,
        workflowtimeout: 60,
        resource: { namespace: ns, serviceAccount: `${name}-sa`, source: { inline } },
      },
      ...spec,
    },
  };
}

const apply = (hc: HealthCheck) => applyManifests(kc, [hc as unknown as k8s.KubernetesObject]);
const statusOf = (ns: string, name: string) =>
  client.get<HealthCheck>(HealthCheckKind, ns, name).then((h) => h?.status);
const until = (
  ns: string,
  name: string,
  what: string,
  ok: (s: NonNullable<HealthCheck['status']>) => boolean,
  ms = 90_000,
) =>
  eventually(
    `${ns}/${name}: ${what}`,
    async () => {
      const s = await statusOf(ns, name);
      return s && ok(s) ? s : undefined;
    },
    ms,
  );
const workflowsOf = async (ns: string, name: string) =>
  (
    await client.list<ArgoWorkflow>(ArgoWorkflowResource, {
      namespace: ns,
      labelSelector: `activemonitor.keikoproj.io/healthcheck=${name}`,
    })
  ).items.sort((a, b) => slotOf(a) - slotOf(b));
const slotOf = (w: ArgoWorkflow) =>
  Date.parse(w.metadata?.annotations?.['activemonitor.keikoproj.io/slot'] ?? '');

beforeAll(async () => {
  bundle = buildApp('active-monitor');
  await installChartCrds(kc, 'active-monitor');
  argo = await startArgoInstance(uniqueName('am-e2e'));
  nsA = await createNamespace('am-e2e-a');
  nsB = await createNamespace('am-e2e-b');
  rbac = await installChartRbac('active-monitor', { namespace: await createNamespace('am-e2e-system') });
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'am-e2e-'));
  kubeconfig = writeKubeConfigAs(rbac.serviceAccount, path.join(tmp, 'kubeconfig'));
  controller = await startController();
}, 240_000);

afterAll(async () => {
  // The checks go while the controller runs: it removes their RBAC and finalizers.
  for (const ns of [nsA, nsB].filter(Boolean)) {
    for (const hc of (await client.list<HealthCheck>(HealthCheckKind, { namespace: ns })).items)
      await client.delete(HealthCheckKind, ns, hc.metadata.name ?? '');
    await eventually(
      `${ns}: checks deleted`,
      async () => (await client.list(HealthCheckKind, { namespace: ns })).items.length === 0,
      60_000,
    );
  }
  await controller?.stop(10_000);
  await argo?.stop();
  for (const ns of [nsA, nsB, rbac?.serviceAccount.namespace]) if (ns) await deleteNamespace(ns);
  await rbac?.uninstall();
  if (tmp) fs.rmSync(tmp, { recursive: true, force: true });
  cleanupWorkspace();
});

describe('active-monitor (bundled controller, chart RBAC, real Argo)', () => {
  it('runs checks of one name in two namespaces, every repeatAfterSec from completion, with namespace RBAC cleaned on delete', async () => {
    await apply(healthCheck(nsA, 'probe', passing));
    await apply(healthCheck(nsB, 'probe', passing));
    for (const ns of [nsA, nsB])
      await until(ns, 'probe', 'two passing runs', (s) => (s.successCount ?? 0) >= 2);
    const runs = await workflowsOf(nsA, 'probe');
    for (let i = 1; i < runs.length; i++) {
      const previous = runs[i - 1] as ArgoWorkflow;
      const finished = Date.parse(String(previous.status?.finishedAt ?? ''));
      // The next slot is counted from the previous run's completion (finishedAt is whole seconds).
      if (Number.isFinite(finished))
        expect(slotOf(runs[i] as ArgoWorkflow)).toBeGreaterThanOrEqual(finished + 3_000 - 1_000);
    }
    expect(await client.get(Role, nsB, 'probe-sa-ns-role')).toBeDefined();
    await client.delete(HealthCheckKind, nsB, 'probe');
    await eventually(
      'nsB role removed with its check',
      async () => !(await client.get(Role, nsB, 'probe-sa-ns-role')),
    );
    expect(await client.get(Role, nsA, 'probe-sa-ns-role')).toBeDefined();
  });

  it('runs a cron check at its fire times, with cluster RBAC created and cleaned', async () => {
    await apply(
      healthCheck(nsA, 'cron', passing, {
        repeatAfterSec: undefined,
        schedule: { cron: '@every 4s' },
        level: 'cluster',
      }),
    );
    const s = await until(nsA, 'cron', 'two passing runs', (x) => (x.successCount ?? 0) >= 2);
    expect(Date.parse(s.nextRunAt ?? '') % 4000).toBe(0);
    for (const w of await workflowsOf(nsA, 'cron')) expect(slotOf(w) % 4000).toBe(0);
    const binding = await client.get<k8s.V1ClusterRoleBinding>(
      ClusterRoleBinding,
      undefined,
      'cron-sa-cluster-role-binding',
    );
    expect(binding?.subjects).toEqual([{ kind: 'ServiceAccount', name: 'cron-sa', namespace: nsA }]);
    expect(await client.get(ClusterRole, undefined, 'cron-sa-cluster-role')).toBeDefined();
    await client.delete(HealthCheckKind, nsA, 'cron');
    await eventually(
      'cluster role removed',
      async () => !(await client.get(ClusterRole, undefined, 'cron-sa-cluster-role')),
    );
  });

  it('runs the remedy when the check fails, within remedyRunsLimit, and resets when it passes', async () => {
    const remedyworkflow = {
      generateName: 'fix-',
      resource: { namespace: nsA, serviceAccount: 'fix-sa', source: { inline: passing } },
    };
    const hc = healthCheck(nsA, 'flaky', failing, {
      remedyworkflow,
      remedyRunsLimit: 1,
      remedyResetInterval: 3600,
    });
    await apply(hc);
    const failed = await until(
      nsA,
      'flaky',
      'three failures',
      (s) => (s.failedCount ?? 0) >= 3 && s.remedyStatus === 'Succeeded',
    );
    expect(failed).toMatchObject({ status: 'Failed', remedySuccessCount: 1, remedyTotalRuns: 1 });
    expect(failed.errorMessage).toMatch(/service unreachable/);
    (hc.spec.workflow.resource as { source: { inline: string } }).source.inline = passing;
    await apply(hc);
    const healed = await until(nsA, 'flaky', 'a pass', (s) => s.status === 'Succeeded');
    expect(healed.remedyTotalRuns).toBe(0);
    expect(healed.remedySuccessCount).toBe(1);
  });

  it('after kill -9 mid-run, the next process records the running workflow and submits nothing twice for that slot', async () => {
    await apply(healthCheck(nsA, 'slow', slow, { repeatAfterSec: 600 }));
    const running = await until(nsA, 'slow', 'a run in flight', (s) => !!s.currentWorkflow);
    await controller.kill9();
    await eventually(
      'the workflow to finish without the controller',
      async () => (await workflowsOf(nsA, 'slow')).some((w) => w.status?.phase === 'Succeeded'),
      60_000,
    );
    controller = await startController();
    const done = await until(nsA, 'slow', 'the result recorded', (s) => (s.successCount ?? 0) >= 1);
    expect(done).toMatchObject({
      status: 'Succeeded',
      lastSuccessfulWorkflow: running.currentWorkflow,
      totalHealthCheckRuns: 1,
    });
    expect(done.currentWorkflow).toBeUndefined();
    expect((await workflowsOf(nsA, 'slow')).map((w) => w.metadata?.name)).toEqual([running.currentWorkflow]);
    expect(Date.parse(done.nextRunAt ?? '')).toBeGreaterThan(Date.now() + 500_000);
  });
});
