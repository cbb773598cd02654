// The Addon controller in-process against the real test cluster, whose Argo workflow-controller runs
// the workflows it submits (the step containers played by packages/testenv's stand-ins).
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import type * as k8s from '@kubernetes/client-node';
import { AddonKind, normalizeAddon, type Addon } from '@keiko/api';
import { Manager, parseManagerConfig, ResourceTypes } from '@keiko/kube-runtime';
import { applyManifests, createSimulatedNode, grantWorkflowServiceAccount, kubectl } from '@keiko/testenv';
import { addonChecksum } from '../src/addon/checksum';
import { ADDON_FINALIZER, ArgoWorkflowResource, WorkflowLabels } from '../src/addon/constants';
import {
  registerAddonController,
  type AddonControllerHandle,
  type AddonControllerOptions,
} from '../src/addon/controller';
import type { Workflow } from '../src/addon/workflow';
import {
  addonPhase,
  client,
  createNamespace,
  deleteNamespaces,
  eventually,
  events,
  exampleAddon,
  getAddon,
  kc,
  prepareCluster,
  privateWorkflowCrd,
  testAddon,
} from './support/cluster';

interface Running {
  mgr: Manager;
  handle: AddonControllerHandle;
  writes: string[];
  stop(): Promise<void>;
}

async function startController(
  ns: string,
  opts: AddonControllerOptions = {},
  flags: string[] = [],
): Promise<Running> {
  const { config } = parseManagerConfig('addon-manager', [
    'node',
    'addon-manager',
    '--leader-elect=false',
    '--metrics-port=0',
    '--health-port=0',
    `--namespace=${ns}`,
    '--log-level=warn',
    ...flags,
  ]);
  const mgr = new Manager('addon-manager', config, { kubeConfig: kc });
  const writes: string[] = [];
  mgr.client.onRequest(
    ({ method, path, statusCode }) =>
      method !== 'GET' &&
      typeof statusCode === 'number' &&
      statusCode < 400 &&
      writes.push(`${method} ${path}`),
  );
  const handle = registerAddonController(mgr, { crdPollMs: 1_000, deleteRetryMs: 2_000, ...opts });
  const done = mgr.start({ handleSignals: false });
  await eventually('the controller to start', () => handle.controller.primary.hasSynced());
  return {
    mgr,
    handle,
    writes,
    stop: async () => {
      await mgr.stop();
      await done;
    },
  };
}

const apply = (obj: Addon) => applyManifests(kc, [obj as k8s.KubernetesObject]);
const workflowsOf = async (ns: string, rt = ArgoWorkflowResource) =>
  (await client.list<Workflow>(rt, { namespace: ns })).items;
const checksumOf = (a: Addon) => addonChecksum(normalizeAddon(a).spec);

describe('the Addon controller against the real apiserver', () => {
  let ns: string;
  let controller: Running;
  const extraNamespaces: string[] = [];

  // A node of this suite's own for the add-ons' workloads: other suites' nodes come and go (or are tainted).
  let node = '';
  beforeAll(async () => {
    await prepareCluster();
    ns = await createNamespace('addon-ctl');
    node = `${ns}-node`;
    await createSimulatedNode(kc, { name: node });
    // The test addons' workflows run as the namespace's default ServiceAccount: what an admin grants.
    await grantWorkflowServiceAccount(kc, ns);
    controller = await startController(ns);
  });
  afterAll(async () => {
    await controller?.stop();
    await deleteNamespaces(ns, ...extraNamespaces);
    if (node) await client.delete(ResourceTypes.Node, undefined, node).catch(() => false);
  });

  it("takes the talk's example as written to Succeeded: prereqs, install, delete as Workflows with the addon's parameters", async () => {
    const talk = exampleAddon('examples/talk/addon-cluster-autoscaler.yaml', ns);
    await apply(talk);
    const done = await addonPhase(ns, 'cluster-autoscaler', 'Succeeded', 180_000);
    const checksum = checksumOf(done);
    expect(done.status).toMatchObject({
      checksum,
      lifecycle: { prereqs: 'Succeeded', installed: 'Succeeded' },
    });
    expect(done.metadata.finalizers).toEqual([ADDON_FINALIZER]);
    expect(done.status?.starttime).toEqual(expect.any(Number));
    const wfs = (await workflowsOf(ns)).filter(
      (w) => w.metadata?.labels?.[WorkflowLabels.addon] === 'cluster-autoscaler',
    );
    expect(wfs.map((w) => w.metadata?.name).sort()).toEqual([
      `cluster-autoscaler-install-${checksum}-wf`,
      `cluster-autoscaler-prereqs-${checksum}-wf`,
    ]);
    const install = wfs.find((w) => w.metadata?.name?.includes('-install-'))!;
    expect(install.metadata?.ownerReferences).toEqual([
      {
        apiVersion: 'addonmgr.keikoproj.io/v1alpha1',
        kind: 'Addon',
        name: 'cluster-autoscaler',
        uid: done.metadata.uid,
        controller: false,
        blockOwnerDeletion: true,
      },
    ]);
    expect(install.spec).toMatchObject({
      arguments: {
        parameters: [
          { name: 'namespace', value: 'addon-cluster-autoscaler-ns' },
          { name: 'clusterName', value: 'my-example.cluster.k8s.local' },
          { name: 'clusterRegion', value: 'us-west-2' },
        ],
      },
      ttlStrategy: { secondsAfterCompletion: 259200 },
      activeDeadlineSeconds: 3600,
    });
    // Argo ran the elided spec as the documented no-op, and a Warning says so.
    expect(install.status?.phase).toBe('Succeeded');
    expect(install.spec?.entrypoint).toBe('elided-spec-noop');
    await eventually('the lifecycle events', async () => {
      const all = await events(ns, 'cluster-autoscaler');
      const reasons = all.map((e) => e.reason);
      return (
        ['WorkflowSubmitted', 'PrereqsSucceeded', 'InstallSucceeded', 'Installed'].every((r) =>
          reasons.includes(r),
        ) &&
        all.some(
          (e) =>
            e.type === 'Warning' &&
            e.reason === 'WorkflowRendered' &&
            /elided\?\); submitted as a no-op/.test(e.message ?? ''),
        )
      );
    });
    // printer columns: the single pane view
    const table = await kubectl(kc, ['get', 'addons', '-n', ns, 'cluster-autoscaler']);
    expect(table.split('\n')[0]).toMatch(/^NAME\s+PACKAGE\s+VERSION\s+STATUS\s+REASON\s+AGE$/);
    expect(table.split('\n')[1]).toMatch(
      /^cluster-autoscaler\s+cluster-autoscaler-addon\s+v0\.1\s+Succeeded\s+\S+$/,
    );
  }, 240_000);

  it('converges: once Succeeded it writes nothing more', async () => {
    await addonPhase(ns, 'cluster-autoscaler', 'Succeeded');
    const before = controller.writes.length;
    // a resync-like nudge: reconcile the addon again a few times
    for (let i = 0; i < 3; i++) controller.handle.controller.queue.add(`${ns}/cluster-autoscaler`);
    await new Promise((r) => setTimeout(r, 1_500));
    expect(controller.writes.slice(before).filter((w) => w.includes('/addons/cluster-autoscaler'))).toEqual(
      [],
    );
  });

  it("applies the full example's manifests with the default labels and reports its workloads in params.namespace", async () => {
    const installNs = `${ns}-ca`;
    extraNamespaces.push(installNs);
    // The prereqs create the install namespace, a ServiceAccount and cluster RBAC: the workflow's
    // ServiceAccount needs cluster-wide rights for that (as the chart's installer role gives it).
    await grantWorkflowServiceAccount(kc, ns, {
      serviceAccount: 'addon-manager-workflow-installer-sa',
      clusterRole: 'cluster-admin',
    });
    const full = exampleAddon('examples/addon-manager/cluster-autoscaler.yaml', ns, installNs);
    full.metadata.name = 'ca-full';
    await apply(full);
    const done = await addonPhase(ns, 'ca-full', 'Succeeded', 240_000);
    expect(done.status?.conditions?.find((c) => c.type === 'Validated')).toMatchObject({
      status: 'True',
      reason: 'ValidateSucceeded',
    });
    const deployment = await client.get<k8s.V1Deployment>(
      ResourceTypes.Deployment,
      installNs,
      'cluster-autoscaler',
    );
    expect(deployment?.metadata?.labels).toEqual({
      app: 'cluster-autoscaler',
      'app.kubernetes.io/name': 'ca-full',
      'app.kubernetes.io/part-of': 'ca-full',
      'app.kubernetes.io/version': 'v0.1',
      'app.kubernetes.io/managed-by': 'addonmgr.keikoproj.io',
    });
    // Made by the prereqs workflow's resource steps (Argo's executor part played by the testenv stand-in).
    const sa = await client.get<k8s.V1ServiceAccount>(
      ResourceTypes.ServiceAccount,
      installNs,
      'cluster-autoscaler',
    );
    expect(sa?.metadata?.labels).toMatchObject({
      'k8s-app': 'cluster-autoscaler',
      'app.kubernetes.io/managed-by': 'addonmgr.keikoproj.io',
      'app.kubernetes.io/part-of': 'ca-full',
    });
    // KWOK runs the pods: the Deployment becomes Ready in status.resources
    const withResources = await eventually(
      'the Deployment to show Ready in status.resources',
      async () => {
        const a = await getAddon(ns, 'ca-full');
        return a?.status?.resources?.some((r) => r.status === 'Ready') ? a : undefined;
      },
      60_000,
    );
    expect(withResources.status?.resources).toEqual([
      {
        kind: 'Deployment',
        group: 'apps',
        name: 'cluster-autoscaler',
        link: `/apis/apps/v1/namespaces/${installNs}/deployments/cluster-autoscaler`,
        status: 'Ready',
      },
    ]);
  }, 360_000);

  it('waits for a dependency to Succeed, then installs', async () => {
    await apply(testAddon(ns, 'base', { pkgName: `${ns}/base` }));
    await apply(testAddon(ns, 'app', { deps: { [`${ns}/base`]: '*' } }));
    const waiting = await eventually('app to wait for base', async () => {
      const a = await getAddon(ns, 'app');
      return a?.status?.reason?.startsWith('waiting for dependencies') ? a : undefined;
    });
    expect(waiting.status?.lifecycle?.installed).toBe('Pending');
    // base's own phase when app looked: anything but Succeeded (Argo may already be running base).
    expect(waiting.status?.reason).toMatch(
      new RegExp(`^waiting for dependencies: ${ns}/base \\((?!Succeeded\\))\\w+\\)$`),
    );
    expect(
      (await workflowsOf(ns)).filter((w) => w.metadata?.labels?.[WorkflowLabels.addon] === 'app'),
    ).toEqual([]);
    const base = await addonPhase(ns, 'base', 'Succeeded');
    const app = await addonPhase(ns, 'app', 'Succeeded', 180_000);
    expect(app.status?.conditions?.find((c) => c.type === 'DependenciesReady')).toMatchObject({
      status: 'True',
      reason: 'DependenciesSucceeded',
    });
    const appPrereqs = (await workflowsOf(ns)).find(
      (w) => w.metadata?.name === `app-prereqs-${checksumOf(app)}-wf`,
    );
    const baseInstall = (await workflowsOf(ns)).find(
      (w) => w.metadata?.name === `base-install-${checksumOf(base)}-wf`,
    );
    expect(Date.parse(String(appPrereqs?.metadata?.creationTimestamp))).toBeGreaterThanOrEqual(
      Date.parse(String(baseInstall?.status?.finishedAt)) - 1_000,
    );
  }, 360_000);

  it('a failing install workflow gives Failed with its message, an Event and a failure count', async () => {
    await apply(testAddon(ns, 'broken', { fail: { install: 'helm upgrade: timed out' } }));
    const failed = await addonPhase(ns, 'broken', 'Failed', 180_000);
    expect(failed.status?.reason).toBe(
      `install workflow broken-install-${checksumOf(failed)}-wf failed: Failed: main: Error (exit code 1): helm upgrade: timed out`,
    );
    expect(failed.status?.lifecycle?.prereqs).toBe('Succeeded');
    await eventually('an InstallFailed event', async () =>
      (await events(ns, 'broken')).some(
        (e) => e.type === 'Warning' && e.reason === 'InstallFailed' && e.message === failed.status?.reason,
      ),
    );
    const metrics = await controller.mgr.metrics.registry.metrics();
    expect(metrics).toMatch(/keiko_addon_manager_workflow_failures_total\{step="install"\} [1-9]/);
    expect(metrics).toMatch(/keiko_addon_manager_workflow_submissions_total\{step="prereqs"\} [1-9]/);
    expect(metrics).toMatch(/keiko_addon_manager_addons\{phase="Failed"\} [1-9]/);
    expect(metrics).toMatch(
      /keiko_addon_manager_lifecycle_step_duration_seconds_count\{step="prereqs"\} [1-9]/,
    );
  }, 240_000);

  it('a spec change removes the old workflows and runs the lifecycle again under a new checksum', async () => {
    const v1 = testAddon(ns, 'upgrade');
    await apply(v1);
    const first = await addonPhase(ns, 'upgrade', 'Succeeded');
    const oldChecksum = first.status!.checksum!;
    await client.patch(AddonKind, ns, 'upgrade', { spec: { pkgVersion: 'v2' } });
    const second = await eventually(
      'the new spec to Succeed',
      async () => {
        const a = await getAddon(ns, 'upgrade');
        return a?.status?.checksum !== oldChecksum && a?.status?.lifecycle?.installed === 'Succeeded'
          ? a
          : undefined;
      },
      180_000,
    );
    expect(second.status?.checksum).toBe(checksumOf(second));
    const names = (await workflowsOf(ns))
      .filter((w) => w.metadata?.labels?.[WorkflowLabels.addon] === 'upgrade')
      .map((w) => w.metadata?.name);
    expect(names.sort()).toEqual([
      `upgrade-install-${second.status?.checksum}-wf`,
      `upgrade-prereqs-${second.status?.checksum}-wf`,
    ]);
    await eventually('a SpecChanged event', async () =>
      (await events(ns, 'upgrade')).some((e) => e.reason === 'SpecChanged'),
    );
  }, 420_000);

  it('deletes through the delete workflow, and removes the finalizer only after it succeeds', async () => {
    await apply(testAddon(ns, 'gone'));
    const done = await addonPhase(ns, 'gone', 'Succeeded');
    expect(await client.get(ResourceTypes.ConfigMap, ns, 'gone-install')).toBeDefined();
    await client.delete(AddonKind, ns, 'gone');
    await eventually(
      'the Addon to be deleted',
      async () => (await getAddon(ns, 'gone')) === undefined,
      180_000,
    );
    const del = (await workflowsOf(ns)).find(
      (w) => w.metadata?.name === `gone-delete-${checksumOf(done)}-wf`,
    );
    expect(del?.status?.phase).toBe('Succeeded');
    expect(await client.get(ResourceTypes.ConfigMap, ns, 'gone-install')).toBeUndefined();
  }, 360_000);

  it('a failing delete shows Delete Failed and is run again until it succeeds — never dropped', async () => {
    await apply(testAddon(ns, 'sticky', { fail: { delete: 'forbidden' } }));
    const installed = await addonPhase(ns, 'sticky', 'Succeeded');
    await client.delete(AddonKind, ns, 'sticky');
    const failed = await addonPhase(ns, 'sticky', 'Delete Failed', 180_000);
    const wfName = `sticky-delete-${checksumOf(installed)}-wf`;
    expect(failed.status?.reason).toMatch(
      new RegExp(
        `^delete workflow ${wfName} failed: Failed: main: Error \\(exit code 1\\): forbidden; it runs again at `,
      ),
    );
    expect(failed.metadata.finalizers).toEqual([ADDON_FINALIZER]);
    // retried: Argo runs the same delete workflow again and it fails a second time (the Event counts it)
    await eventually(
      'a second attempt',
      async () => {
        const list = await client.list<k8s.CoreV1Event>(ResourceTypes.Event, {
          namespace: ns,
          fieldSelector: 'involvedObject.name=sticky',
        });
        return list.items.some((e) => e.reason === 'DeleteFailed' && (e.count ?? 0) >= 2);
      },
      120_000,
    );
    expect(await getAddon(ns, 'sticky')).toBeDefined();
    // fix the delete template: the Addon goes away
    const fixed = testAddon(ns, 'sticky');
    await client.patch(AddonKind, ns, 'sticky', { spec: { lifecycle: fixed.spec.lifecycle } });
    await eventually(
      'the Addon to be deleted',
      async () => (await getAddon(ns, 'sticky')) === undefined,
      180_000,
    );
  }, 480_000);

  it('rejects a dependency cycle on both addons, and submits nothing', async () => {
    await apply(testAddon(ns, 'cyc-a', { pkgName: `${ns}/cyc-a`, deps: { [`${ns}/cyc-b`]: '*' } }));
    await apply(testAddon(ns, 'cyc-b', { pkgName: `${ns}/cyc-b`, deps: { [`${ns}/cyc-a`]: '*' } }));
    // cyc-a first finds cyc-b missing; once cyc-b exists both see the cycle
    const cycle = (name: string) =>
      eventually(`${name} to report the cycle`, async () => {
        const got = await getAddon(ns, name);
        return got?.status?.lifecycle?.installed === 'Validation Failed' &&
          got.status.reason?.includes('cycle')
          ? got
          : undefined;
      });
    const a = await cycle('cyc-a');
    const b = await cycle('cyc-b');
    expect(a.status?.reason).toBe(
      `spec.pkgDeps: dependency cycle: ${ns}/cyc-a -> ${ns}/cyc-b -> ${ns}/cyc-a`,
    );
    expect(b.status?.reason).toBe(
      `spec.pkgDeps: dependency cycle: ${ns}/cyc-b -> ${ns}/cyc-a -> ${ns}/cyc-b`,
    );
    expect(a.metadata.finalizers ?? []).toEqual([]);
    expect(
      (await workflowsOf(ns)).filter((w) => w.metadata?.labels?.[WorkflowLabels.addon]?.startsWith('cyc-')),
    ).toEqual([]);
  });

  it('names a missing dependency by field, and proceeds once it appears', async () => {
    await apply(testAddon(ns, 'needs-dns', { deps: { 'core-dns': '*' } }));
    const invalid = await addonPhase(ns, 'needs-dns', 'Validation Failed');
    expect(invalid.status?.reason).toBe(
      `spec.pkgDeps.core-dns: no Addon with pkgName core-dns, and no Addon named core-dns in namespace ${ns}`,
    );
    await apply(testAddon(ns, 'core-dns'));
    await addonPhase(ns, 'needs-dns', 'Succeeded', 240_000);
  }, 300_000);
});

describe('the Addon controller without Argo Workflows', () => {
  let ns: string;
  const group = `wf${Date.now().toString(36)}.test.keiko.io`;
  const { rt, crd } = privateWorkflowCrd(group);
  let controller: Running | undefined;

  beforeAll(async () => {
    await prepareCluster();
    ns = await createNamespace('addon-nocrd');
  });
  afterAll(async () => {
    await controller?.stop();
    await deleteNamespaces(ns);
    await client.delete(
      {
        group: 'apiextensions.k8s.io',
        version: 'v1',
        plural: 'customresourcedefinitions',
        kind: 'CustomResourceDefinition',
        namespaced: false,
      },
      undefined,
      `workflows.${group}`,
    );
  });

  it('says plainly that the Workflow CRD is missing, then submits once it is installed', async () => {
    controller = await startController(ns, { workflowResource: rt });
    await apply(testAddon(ns, 'patient'));
    const waiting = await eventually('the reason to name the missing CRD', async () => {
      const a = await getAddon(ns, 'patient');
      return a?.status?.reason?.startsWith('Argo Workflows is not installed') ? a : undefined;
    });
    expect(waiting.status?.lifecycle?.installed).toBe('Pending');
    expect(waiting.status?.conditions?.find((c) => c.type === 'WorkflowsAvailable')).toMatchObject({
      status: 'False',
      reason: 'WorkflowCRDNotFound',
    });
    expect(waiting.metadata.finalizers ?? []).toEqual([]);
    await eventually('a Warning event', async () =>
      (await events(ns, 'patient')).some((e) => e.type === 'Warning' && e.reason === 'WorkflowCRDNotFound'),
    );

    // A Workflow CRD under this suite's own group: no workflow-controller runs that group, so the addon
    // goes as far as submitting its first workflow.
    // (kubectl wait may see the new CRD before it has any condition: apply again until Established)
    await eventually(
      'the private Workflow CRD to be Established',
      () => applyManifests(kc, [crd]).then(() => true),
      120_000,
    );
    const submitted = await eventually(
      'the prereqs workflow to be submitted',
      async () => {
        const a = await getAddon(ns, 'patient');
        return a?.status?.reason?.startsWith('prereqs workflow') ? a : undefined;
      },
      60_000,
    );
    expect(submitted.status?.conditions?.find((c) => c.type === 'WorkflowsAvailable')).toMatchObject({
      status: 'True',
    });
    expect((await workflowsOf(ns, rt)).map((w) => w.metadata?.name)).toEqual([
      `patient-prereqs-${checksumOf(submitted)}-wf`,
    ]);
  });
});

describe('the Addon controller in dry-run', () => {
  let ns: string;
  let controller: Running | undefined;

  beforeAll(async () => {
    await prepareCluster();
    ns = await createNamespace('addon-dry');
  });
  afterAll(async () => {
    await controller?.stop();
    await deleteNamespaces(ns);
  });

  it('renders and reports the workflows it would submit, submitting nothing', async () => {
    controller = await startController(ns, {}, ['--dry-run=true']);
    const a = testAddon(ns, 'rehearsal');
    await apply(a);
    const reported = await eventually('the dry-run reason', async () => {
      const got = await getAddon(ns, 'rehearsal');
      return got?.status?.reason?.startsWith('dry run:') ? got : undefined;
    });
    const c = checksumOf(reported);
    expect(reported.status?.reason).toBe(
      `dry run: would submit prereqs workflow rehearsal-prereqs-${c}-wf, then install workflow rehearsal-install-${c}-wf`,
    );
    expect(reported.metadata.finalizers ?? []).toEqual([]);
    expect(await workflowsOf(ns)).toEqual([]);
    const message = `would submit prereqs workflow rehearsal-prereqs-${c}-wf with parameters namespace=${ns}, clusterName=test-cluster, clusterRegion=us-west-2`;
    await eventually('a DryRun event', async () =>
      (await events(ns, 'rehearsal')).some((e) => e.reason === 'DryRun' && e.message === message),
    );
  });
});
