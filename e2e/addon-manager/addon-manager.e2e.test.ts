// The addon-manager end to end, as a user runs it: the bundled controller (node dist/main.js) against
// the test cluster, Addons applied with kubectl, the state read with kubectl and the addons CLI.
// Argo's workflow-controller cannot be built here (its Go module is not served by this project's
// proxy), so the workflow simulator (apps/addon-manager/test/support) plays its part: it runs every
// Workflow to Succeeded — or Failed when the test annotates it — and applies what it would apply.
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import type * as k8s from '@kubernetes/client-node';
import type { Addon } from '@keiko/api';
import { freePort, kubectl } from '@keiko/testenv';
import {
  addonPhase,
  client,
  createNamespace,
  deleteNamespaces,
  eventually,
  exampleAddon,
  getAddon,
  installWorkflowCrd,
  kc,
  repoRoot,
  testAddon,
} from '../../apps/addon-manager/test/support/cluster';
import {
  ARGO_WORKFLOWS,
  SIMULATE_ANNOTATION,
  SIMULATE_MESSAGE_ANNOTATION,
  WorkflowSimulator,
} from '../../apps/addon-manager/test/support/workflow-simulator';

const bundle = path.join(repoRoot, 'apps/addon-manager/dist/main.js');
const bin = path.join(repoRoot, 'node_modules/.bin');

/** kubectl apply -f of one object, through a file, as a user would. */
async function kubectlApply(obj: Addon): Promise<void> {
  const file = path.join(fs.mkdtempSync(path.join(repoRoot, '.testenv', 'e2e-addon-')), 'addon.json');
  fs.writeFileSync(file, JSON.stringify(obj));
  await kubectl(kc, ['apply', '-f', file]);
  fs.rmSync(path.dirname(file), { recursive: true, force: true });
}

const workflowNames = async (ns: string, addon: string) =>
  (
    await client.list<k8s.KubernetesObject>(ARGO_WORKFLOWS, {
      namespace: ns,
      labelSelector: `addonmgr.keikoproj.io/addon=${addon}`,
    })
  ).items
    .map((w) => w.metadata?.name ?? '')
    .sort();

describe('addon-manager (bundled) end to end', () => {
  let ns: string;
  let controller: ChildProcess;
  let simulator: WorkflowSimulator;
  let metricsPort: number;
  let log = '';

  beforeAll(async () => {
    const built = spawnSync('npm', ['run', 'build', '--silent', '-w', '@keiko/addon-manager'], {
      cwd: repoRoot,
      env: { ...process.env, PATH: `${bin}:${process.env.PATH}` },
      encoding: 'utf8',
    });
    if (built.status !== 0) throw new Error(`build failed: ${built.stderr}`);
    await installWorkflowCrd();
    ns = await createNamespace('addon-e2e');
    simulator = new WorkflowSimulator({ kubeConfig: kc, namespace: ns, startDelayMs: 100, runMs: 400 });
    await simulator.start();
    metricsPort = await freePort();
    const healthPort = await freePort();
    controller = spawn(
      process.execPath,
      [
        bundle,
        '--leader-elect=false',
        `--metrics-port=${metricsPort}`,
        `--health-port=${healthPort}`,
        '--bind-address=127.0.0.1',
        `--namespace=${ns}`,
        '--delete-retry-interval=2',
        '--workflow-crd-poll=2',
      ],
      { env: process.env, stdio: ['ignore', 'pipe', 'pipe'] },
    );
    controller.stdout?.on('data', (d: Buffer) => (log += d.toString()));
    controller.stderr?.on('data', (d: Buffer) => (log += d.toString()));
    await eventually(
      'the controller to be ready',
      async () => (await fetch(`http://127.0.0.1:${healthPort}/readyz`)).status === 200,
      30_000,
    );
  }, 180_000);

  afterAll(async () => {
    if (controller && controller.exitCode === null) {
      const exited = new Promise((r) => controller.once('exit', r));
      controller.kill('SIGTERM');
      await exited;
    }
    await simulator?.stop();
    if (ns) await deleteNamespaces(ns);
    if (process.env.KEIKO_E2E_SHOW_LOG) console.log(log);
  });

  it("the talk's example, applied as written, reaches Succeeded and shows in kubectl get addons", async () => {
    await kubectlApply(exampleAddon('examples/talk/addon-cluster-autoscaler.yaml', ns));
    const done = await addonPhase(ns, 'cluster-autoscaler', 'Succeeded');
    expect(done.status?.lifecycle?.prereqs).toBe('Succeeded');
    expect(await workflowNames(ns, 'cluster-autoscaler')).toEqual([
      `cluster-autoscaler-install-${done.status?.checksum}-wf`,
      `cluster-autoscaler-prereqs-${done.status?.checksum}-wf`,
    ]);
    const table = await kubectl(kc, ['get', 'addons', '-n', ns]);
    expect(table).toMatch(/NAME\s+PACKAGE\s+VERSION\s+STATUS\s+REASON\s+AGE/);
    expect(table).toMatch(/cluster-autoscaler\s+cluster-autoscaler-addon\s+v0\.1\s+Succeeded/);
  });

  it('a dependent addon waits (Pending, with the reason) until its dependency Succeeded, then installs', async () => {
    await kubectlApply(
      testAddon(ns, 'metrics', {
        pkgName: `${ns}/metrics`,
        annotations: { install: { 'workflows.keiko.io/simulate-duration': '3000' } },
      }),
    );
    await kubectlApply(testAddon(ns, 'dashboards', { deps: { [`${ns}/metrics`]: '*' } }));
    const waiting = await eventually('dashboards to wait', async () => {
      const a = await getAddon(ns, 'dashboards');
      return a?.status?.reason === `waiting for dependencies: ${ns}/metrics (Pending)` ? a : undefined;
    });
    expect(waiting.status?.lifecycle?.installed).toBe('Pending');
    expect(await workflowNames(ns, 'dashboards')).toEqual([]);
    await addonPhase(ns, 'metrics', 'Succeeded');
    await addonPhase(ns, 'dashboards', 'Succeeded');
  });

  it('a failing install workflow gives Failed, with the reason', async () => {
    await kubectlApply(
      testAddon(ns, 'ingress', {
        annotations: {
          install: { [SIMULATE_ANNOTATION]: 'fail', [SIMULATE_MESSAGE_ANNOTATION]: 'chart not found' },
        },
      }),
    );
    const failed = await addonPhase(ns, 'ingress', 'Failed');
    expect(failed.status?.reason).toBe(
      `install workflow ingress-install-${failed.status?.checksum}-wf failed: Failed: chart not found`,
    );
    const table = await kubectl(kc, ['get', 'addon', 'ingress', '-n', ns]);
    expect(table).toMatch(
      /ingress\s+\S+\s+v1\s+Failed\s+install workflow ingress-install-\w+-wf failed: Failed: chart not found/,
    );
  });

  it('a spec change runs the lifecycle again under a new checksum, after removing the old workflows', async () => {
    await kubectlApply(testAddon(ns, 'dns'));
    const v1 = await addonPhase(ns, 'dns', 'Succeeded');
    const changed = testAddon(ns, 'dns');
    changed.spec.pkgVersion = 'v2';
    await kubectlApply(changed);
    const v2 = await eventually('the new spec to Succeed', async () => {
      const a = await getAddon(ns, 'dns');
      return a?.status?.checksum !== v1.status?.checksum && a?.status?.lifecycle?.installed === 'Succeeded'
        ? a
        : undefined;
    });
    expect(v2.spec.pkgVersion).toBe('v2');
    expect(await workflowNames(ns, 'dns')).toEqual([
      `dns-install-${v2.status?.checksum}-wf`,
      `dns-prereqs-${v2.status?.checksum}-wf`,
    ]);
  });

  it('delete runs the delete workflow, then removes the finalizer', async () => {
    await kubectlApply(testAddon(ns, 'logging'));
    const done = await addonPhase(ns, 'logging', 'Succeeded');
    expect(done.metadata.finalizers).toEqual(['delete.addonmgr.keikoproj.io']);
    await kubectl(kc, ['delete', 'addon', 'logging', '-n', ns, '--wait=false']);
    await eventually(
      'the Addon to be gone',
      async () => (await getAddon(ns, 'logging')) === undefined,
      30_000,
    );
    expect(simulator.runs.find((r) => r.name === `logging-delete-${done.status?.checksum}-wf`)).toMatchObject(
      {
        phase: 'Succeeded',
        operations: [`delete ConfigMap/${ns}/logging-install`],
      },
    );
  });

  it('a dependency cycle is rejected', async () => {
    await kubectlApply(testAddon(ns, 'ping', { pkgName: `${ns}/ping`, deps: { [`${ns}/pong`]: '*' } }));
    await kubectlApply(testAddon(ns, 'pong', { pkgName: `${ns}/pong`, deps: { [`${ns}/ping`]: '*' } }));
    const rejected = await eventually('ping to report the cycle', async () => {
      const a = await getAddon(ns, 'ping');
      return a?.status?.reason?.includes('dependency cycle') ? a : undefined;
    });
    expect(rejected.status?.lifecycle?.installed).toBe('Validation Failed');
    expect(rejected.status?.reason).toBe(
      `spec.pkgDeps: dependency cycle: ${ns}/ping -> ${ns}/pong -> ${ns}/ping`,
    );
    expect(await workflowNames(ns, 'ping')).toEqual([]);
  });

  it('the addons CLI prints the dependency tree with states; /metrics counts addons by phase', async () => {
    const out = spawnSync(
      path.join(bin, 'tsx'),
      [path.join(repoRoot, 'apps/addon-manager/src/cli.ts'), 'addons', '-n', ns],
      {
        env: process.env,
        encoding: 'utf8',
      },
    );
    expect(out.status).toBe(0);
    const lines = out.stdout.split('\n');
    expect(lines[0]).toMatch(/^ADDON\s+PACKAGE\s+VERSION\s+STATUS\s+REASON$/);
    const at = lines.findIndex((l) => l.startsWith(`${ns}/metrics `));
    expect(lines[at]).toMatch(/Succeeded/);
    expect(lines[at + 1]).toMatch(new RegExp(`^└── ${ns}/dashboards\\s+${ns}/dashboards\\s+v1\\s+Succeeded`));
    expect(out.stdout).toMatch(new RegExp(`${ns}/ping\\s.*Validation Failed`));

    const metrics = await (await fetch(`http://127.0.0.1:${metricsPort}/metrics`)).text();
    expect(metrics).toMatch(/keiko_addon_manager_addons\{phase="Succeeded"\} [1-9]/);
    expect(metrics).toMatch(/keiko_addon_manager_addons\{phase="Failed"\} 1/);
    expect(metrics).toMatch(/keiko_addon_manager_workflow_submissions_total\{step="delete"\} 1/);
    expect(metrics).toMatch(
      /keiko_addon_manager_lifecycle_step_duration_seconds_bucket\{le="\+Inf",step="install"\} [1-9]/,
    );
  });
});
