// The addon-manager end to end, as a user runs it: the bundled controller (node dist/main.js) against
// the test cluster, Addons applied with kubectl, the state read with kubectl and the addons CLI.
// The controller runs as the Helm chart's ServiceAccount, with exactly the chart's RBAC (its ClusterRole
// and leader-election Role, charts/test/support/rbac.ts) and leader election on: a rule missing from
// charts/addon-manager/templates/clusterrole.yaml fails a scenario here, and the last test fails on any
// request the apiserver refused.
// The test cluster runs Argo's real workflow-controller (packages/testenv): it validates and runs the
// Workflows the controller submits; only the step containers are played by testenv's stand-ins (a
// KWOK Stage ends the pods, the executor stand-in performs resource templates as the workflow's
// ServiceAccount). A test makes a step fail with testenv's exit-code annotation.
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import * as k8s from '@kubernetes/client-node';
import type { Addon } from '@keiko/api';
import { ResourceTypes } from '@keiko/kube-runtime';
import { createSimulatedNode, freePort, grantWorkflowServiceAccount, kubectl } from '@keiko/testenv';
import {
  addonPhase,
  ARGO_WORKFLOWS,
  client,
  createNamespace,
  deleteNamespaces,
  eventually,
  events,
  exampleAddon,
  getAddon,
  kc,
  prepareCluster,
  repoRoot,
  resourceWorkflow,
  testAddon,
} from './support/addons';
import { cleanupWorkspace } from '../../charts/test/support/charts';
import { serviceAccountUser, whoAmI, writeKubeConfigAs } from '../../charts/test/support/impersonate';
import { installChartRbac, type ChartRbac } from '../../charts/test/support/rbac';

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

const leaseOf = (namespace: string, name: string) =>
  client.get<k8s.V1Lease>(ResourceTypes.Lease, namespace, name);

/**
 * An install step applying a Deployment and a Service into the add-on's params.namespace: two resource
 * steps, since an Argo resource template applies exactly one object.
 */
const workloadsTemplate = (name: string) => {
  const deployment = resourceWorkflow('apply', [
    'apiVersion: apps/v1',
    'kind: Deployment',
    'metadata:',
    `  name: ${name}`,
    '  namespace: "{{workflow.parameters.namespace}}"',
    'spec:',
    '  replicas: 1',
    `  selector: {matchLabels: {app: ${name}}}`,
    '  template:',
    `    metadata: {labels: {app: ${name}}}`,
    `    spec: {containers: [{name: ${name}, image: registry.k8s.io/pause:3.10}]}`,
  ]);
  const service = [
    '    - name: service',
    '      resource:',
    '        action: apply',
    '        manifest: |',
    '          apiVersion: v1',
    '          kind: Service',
    '          metadata:',
    `            name: ${name}`,
    '            namespace: "{{workflow.parameters.namespace}}"',
    '          spec:',
    `            selector: {app: ${name}}`,
    '            ports: [{port: 80}]',
  ];
  return [
    ...deployment.replace('entrypoint: entry', 'entrypoint: main').trimEnd().split('\n'),
    ...service,
    '    - name: main',
    '      steps:',
    '        - - {name: deployment, template: entry}',
    '        - - {name: service, template: service}',
    '',
  ].join('\n');
};

describe('addon-manager (bundled) end to end', () => {
  /** The Addons' namespace. */
  let ns: string;
  /** The release namespace: the chart's ServiceAccount, leader-election Role and Lease — not the Addons'. */
  let systemNs: string;
  /** An add-on's params.namespace, apart from the Addons' namespace. */
  let appsNs: string;
  let rbac: ChartRbac;
  let tmp: string;
  let kubeconfig: string;
  let controller: ChildProcess;
  let metricsPort: number;
  let nodeName = '';
  let log = '';

  beforeAll(async () => {
    const built = spawnSync('npm', ['run', 'build', '--silent', '-w', '@keiko/addon-manager'], {
      cwd: repoRoot,
      env: { ...process.env, PATH: `${bin}:${process.env.PATH}` },
      encoding: 'utf8',
    });
    if (built.status !== 0) throw new Error(`build failed: ${built.stderr}`);
    await prepareCluster();
    ns = await createNamespace('addon-e2e');
    // The harness plays a kubelet joining, so the add-ons' workloads have a (simulated) node to run on
    // even on a cluster that has no other nodes.
    nodeName = `${ns}-node`;
    await createSimulatedNode(kc, { name: nodeName });
    appsNs = await createNamespace('addon-e2e-apps');
    systemNs = await createNamespace('addon-e2e-system');
    // The chart's identity, as `helm install -n <systemNs>` would create it: its ServiceAccount,
    // ClusterRole and leader-election Role (which also allows Events, but only in systemNs: the Addons
    // live elsewhere, so their Events need the ClusterRole), and a kubeconfig acting as that
    // ServiceAccount. The workflows run as the Addons' namespace's default ServiceAccount, granted what
    // a cluster admin grants it: edit in the Addons' namespace and in the add-ons' params.namespace.
    rbac = await installChartRbac('addon-manager', { namespace: systemNs });
    tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'addon-e2e-'));
    kubeconfig = writeKubeConfigAs(rbac.serviceAccount, path.join(tmp, 'kubeconfig'));
    await grantWorkflowServiceAccount(kc, ns, { namespaces: [ns, appsNs] });
    metricsPort = await freePort();
    const healthPort = await freePort();
    controller = spawn(
      process.execPath,
      [
        bundle,
        '--kubeconfig',
        kubeconfig,
        '--leader-elect=true',
        `--leader-election-id=${rbac.leaseName}`,
        `--leader-election-namespace=${systemNs}`,
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
    // A replica standing by is ready too: wait for it to lead (it holds the chart's Lease — its only
    // Lease, by name, in the release namespace), then for /readyz, which a leader answers only once its
    // Addon cache is synced.
    await eventually(
      "the controller to lead on the chart's Lease",
      async () => !!(await leaseOf(systemNs, rbac.leaseName ?? ''))?.spec?.holderIdentity,
      30_000,
    );
    await eventually(
      'the controller to be ready',
      async () =>
        (await fetch(`http://127.0.0.1:${healthPort}/readyz`).catch(() => undefined))?.status === 200,
      30_000,
    );
  }, 180_000);

  afterAll(async () => {
    if (controller && controller.exitCode === null) {
      const exited = new Promise((r) => controller.once('exit', r));
      controller.kill('SIGTERM');
      await exited;
    }
    await rbac?.uninstall();
    if (ns) await deleteNamespaces(ns);
    if (appsNs) await deleteNamespaces(appsNs);
    if (nodeName)
      await kubectl(kc, ['delete', 'node', nodeName, '--ignore-not-found']).catch(() => undefined);
    if (systemNs) await deleteNamespaces(systemNs);
    if (tmp) fs.rmSync(tmp, { recursive: true, force: true });
    cleanupWorkspace();
    if (process.env.KEIKO_E2E_SHOW_LOG) console.log(log);
  });

  it("acts as the chart's ServiceAccount, and leads on the chart's Lease", async () => {
    const asChart = new k8s.KubeConfig();
    asChart.loadFromFile(kubeconfig);
    expect((await whoAmI(asChart)).username).toBe(serviceAccountUser(rbac.serviceAccount));
    expect(rbac.leaseName).toBeTruthy();
    expect((await leaseOf(systemNs, rbac.leaseName ?? ''))?.spec?.holderIdentity).toBeTruthy();
  });

  it("the talk's example, applied as written, reaches Succeeded and shows in kubectl get addons", async () => {
    await kubectlApply(exampleAddon('examples/talk/addon-cluster-autoscaler.yaml', ns));
    const done = await addonPhase(ns, 'cluster-autoscaler', 'Succeeded');
    // Argo ran them: the elided specs as the documented no-op
    const wfs = await client.list<k8s.KubernetesObject & { status?: { phase?: string } }>(ARGO_WORKFLOWS, {
      namespace: ns,
      labelSelector: 'addonmgr.keikoproj.io/addon=cluster-autoscaler',
    });
    expect(wfs.items.map((w) => w.status?.phase)).toEqual(['Succeeded', 'Succeeded']);
    expect(done.status?.lifecycle?.prereqs).toBe('Succeeded');
    expect(await workflowNames(ns, 'cluster-autoscaler')).toEqual([
      `cluster-autoscaler-install-${done.status?.checksum}-wf`,
      `cluster-autoscaler-prereqs-${done.status?.checksum}-wf`,
    ]);
    const table = await kubectl(kc, ['get', 'addons', '-n', ns]);
    expect(table).toMatch(/NAME\s+PACKAGE\s+VERSION\s+STATUS\s+REASON\s+AGE/);
    expect(table).toMatch(/cluster-autoscaler\s+cluster-autoscaler-addon\s+v0\.1\s+Succeeded/);
    // Events on the Addon, in its namespace (the chart's ClusterRole: events create/patch)
    const reasons = await eventually('the Installed event', async () => {
      const r = (await events(ns, 'cluster-autoscaler')).map((e) => e.reason);
      return r.includes('Installed') ? r : undefined;
    });
    expect(reasons).toEqual(expect.arrayContaining(['WorkflowSubmitted', 'InstallSucceeded', 'Installed']));
  });

  it('a dependent addon waits (Pending, with the reason) until its dependency Succeeded, then installs', async () => {
    // metrics cannot succeed until the test fixes it (its install fails first): dashboards' wait is a
    // state, not a race against how fast Argo runs metrics.
    await kubectlApply(testAddon(ns, 'metrics', { pkgName: `${ns}/metrics`, fail: { install: 'not yet' } }));
    await kubectlApply(testAddon(ns, 'dashboards', { deps: { [`${ns}/metrics`]: '*' } }));
    const waiting = await eventually(
      'dashboards to wait',
      async () => {
        const a = await getAddon(ns, 'dashboards');
        return a?.status?.reason?.startsWith(`waiting for dependencies: ${ns}/metrics (`) ? a : undefined;
      },
      120_000,
    );
    expect(waiting.status?.lifecycle?.installed).toBe('Pending');
    await addonPhase(ns, 'metrics', 'Failed');
    expect((await getAddon(ns, 'dashboards'))?.status?.reason).toMatch(/^waiting for dependencies: /);
    expect(await workflowNames(ns, 'dashboards')).toEqual([]);
    await kubectlApply(testAddon(ns, 'metrics', { pkgName: `${ns}/metrics` }));
    await addonPhase(ns, 'metrics', 'Succeeded');
    await addonPhase(ns, 'dashboards', 'Succeeded');
  }, 480_000);

  it('a failing install workflow gives Failed, with the reason', async () => {
    await kubectlApply(testAddon(ns, 'ingress', { fail: { install: 'chart not found' } }));
    const failed = await addonPhase(ns, 'ingress', 'Failed');
    expect(failed.status?.reason).toBe(
      `install workflow ingress-install-${failed.status?.checksum}-wf failed: Failed: main: Error (exit code 1): chart not found`,
    );
    const table = await kubectl(kc, ['get', 'addon', 'ingress', '-n', ns]);
    expect(table).toMatch(
      /ingress\s+\S+\s+v1\s+Failed\s+install workflow ingress-install-\w+-wf failed: Failed: main: Error \(exit code 1\): chart not found/,
    );
  });

  it('a spec change runs the lifecycle again under a new checksum, after removing the old workflows', async () => {
    await kubectlApply(testAddon(ns, 'dns'));
    const v1 = await addonPhase(ns, 'dns', 'Succeeded');
    const changed = testAddon(ns, 'dns');
    changed.spec.pkgVersion = 'v2';
    await kubectlApply(changed);
    const v2 = await eventually(
      'the new spec to Succeed',
      async () => {
        const a = await getAddon(ns, 'dns');
        return a?.status?.checksum !== v1.status?.checksum && a?.status?.lifecycle?.installed === 'Succeeded'
          ? a
          : undefined;
      },
      180_000,
    );
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
      180_000,
    );
    const del = await client.get<k8s.KubernetesObject & { status?: { phase?: string } }>(
      ARGO_WORKFLOWS,
      ns,
      `logging-delete-${done.status?.checksum}-wf`,
    );
    expect(del?.status?.phase).toBe('Succeeded');
    expect(await client.get(ResourceTypes.ConfigMap, ns, 'logging-install')).toBeUndefined();
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

  it("reports the workloads it installed in the add-on's params.namespace, watched across namespaces", async () => {
    const web = testAddon(ns, 'web', { installNamespace: appsNs, steps: ['install'] });
    web.spec.lifecycle = { install: { template: workloadsTemplate('web') } };
    await kubectlApply(web);
    await addonPhase(ns, 'web', 'Succeeded');
    // KWOK runs the pod, so the Deployment becomes available; a ClusterIP Service is Ready at once.
    const done = await eventually(
      'the Deployment and the Service to show Ready in status.resources',
      async () => {
        const a = await getAddon(ns, 'web');
        const r = a?.status?.resources ?? [];
        return r.length === 2 && r.every((x) => x.status === 'Ready') ? a : undefined;
      },
      120_000,
    );
    expect(done.status?.resources).toEqual([
      {
        kind: 'Deployment',
        group: 'apps',
        name: 'web',
        link: `/apis/apps/v1/namespaces/${appsNs}/deployments/web`,
        status: 'Ready',
      },
      expect.objectContaining({ kind: 'Service', name: 'web', status: 'Ready' }),
    ]);
  }, 300_000);

  it("waits for the Secrets in spec.secrets to exist in the add-on's namespace before installing", async () => {
    const vault = testAddon(ns, 'vault', { installNamespace: appsNs });
    vault.spec.secrets = [{ name: 'vault-token' }];
    await kubectlApply(vault);
    const waiting = await eventually('vault to wait for its secret', async () => {
      const a = await getAddon(ns, 'vault');
      return a?.status?.reason?.startsWith('waiting for secrets') ? a : undefined;
    });
    expect(waiting.status?.reason).toBe(
      `waiting for secrets vault-token in namespace ${appsNs} (spec.secrets)`,
    );
    expect(waiting.status?.lifecycle?.installed).toBe('Pending');
    await kubectl(kc, ['create', 'secret', 'generic', 'vault-token', '-n', appsNs, '--from-literal=token=x']);
    const done = await addonPhase(ns, 'vault', 'Succeeded');
    expect(await workflowNames(ns, 'vault')).toEqual([
      `vault-install-${done.status?.checksum}-wf`,
      `vault-prereqs-${done.status?.checksum}-wf`,
    ]);
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

  // After the /metrics test, which counts exactly one delete submission.
  it('a failing delete shows Delete Failed and runs again (its Event counting the attempts) until the template is fixed', async () => {
    await kubectlApply(testAddon(ns, 'sticky', { fail: { delete: 'cleanup refused' } }));
    const installed = await addonPhase(ns, 'sticky', 'Succeeded');
    await kubectl(kc, ['delete', 'addon', 'sticky', '-n', ns, '--wait=false']);
    const failed = await addonPhase(ns, 'sticky', 'Delete Failed');
    const wfName = `sticky-delete-${installed.status?.checksum}-wf`;
    expect(failed.status?.reason).toMatch(
      new RegExp(
        `^delete workflow ${wfName} failed: Failed: main: Error \\(exit code 1\\): cleanup refused; it runs again at `,
      ),
    );
    // A repeated Event is patched (count), not created again: the chart's events patch.
    const repeated = await eventually(
      'the DeleteFailed event to count a second failure',
      async () => {
        const list = await client.list<k8s.CoreV1Event>(ResourceTypes.Event, {
          namespace: ns,
          fieldSelector: 'involvedObject.name=sticky',
        });
        return list.items.find((e) => e.reason === 'DeleteFailed' && (e.count ?? 0) >= 2);
      },
      120_000,
    );
    expect(repeated.message).toBe(
      `delete workflow ${wfName} failed: Failed: main: Error (exit code 1): cleanup refused`,
    );
    expect(await getAddon(ns, 'sticky')).toBeDefined();
    // Fixing spec.lifecycle.delete while deleting is allowed: the next attempt succeeds and the Addon goes.
    const fixed = testAddon(ns, 'sticky');
    await kubectl(kc, [
      'patch',
      'addon',
      'sticky',
      '-n',
      ns,
      '--type=merge',
      '-p',
      JSON.stringify({ spec: { lifecycle: fixed.spec.lifecycle } }),
    ]);
    await eventually(
      'the Addon to be gone',
      async () => (await getAddon(ns, 'sticky')) === undefined,
      180_000,
    );
  }, 480_000);

  // Last: every scenario above ran under the chart's RBAC; a refused call that the controller only
  // logged (an informer retrying its LIST, an Event it could not record) fails here.
  it("was never refused a request by the apiserver (403) under the chart's RBAC", () => {
    expect(log).not.toBe('');
    expect(log.split('\n').filter((l) => /\b403\b|forbidden/i.test(l))).toEqual([]);
  });
});
