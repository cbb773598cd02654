// What is addon-manager's own in its chart: the exact ClusterRole, its flags, the optional ServiceAccount
// its workflows run as — and, acting as each ServiceAccount, the calls they must and must not be able to make.
import type * as k8s from '@kubernetes/client-node';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { createNamespace, deleteNamespace } from '@keiko/testenv';
import { KubeClient, ResourceTypes } from '@keiko/kube-runtime';
import {
  allFeaturesValues,
  cleanupWorkspace,
  containerOf,
  findObject,
  helmResult,
  preparedChart,
  renderArgs,
  renderChart,
} from './support/charts';
import { allowed, kubeConfigAs, statusOf } from './support/impersonate';
import { installChartRbac, type Binding, type ChartRbac, type RoleObject, ruleLines } from './support/rbac';

const CHART = 'addon-manager';
const WORKFLOW_SA = 'addon-manager-workflow-installer-sa';

afterAll(cleanupWorkspace);

describe('addon-manager chart', () => {
  it('grants exactly what the Addon controller calls', async () => {
    const objects = await renderChart(await preparedChart(CHART));
    expect(ruleLines(findObject<RoleObject>(objects, 'ClusterRole'))).toEqual([
      'addonmgr.keikoproj.io addons: get,list,watch,patch',
      'addonmgr.keikoproj.io addons/status: patch',
      'addonmgr.keikoproj.io addons/finalizers: update',
      'argoproj.io workflows: get,list,watch,create,delete',
      'apps deployments,daemonsets,statefulsets: list,watch',
      'core services: list,watch',
      'batch jobs,cronjobs: list,watch',
      'core secrets: get',
      'core events: create,patch',
    ]);
  });

  it('passes its own flags from values, and no AWS settings (the controller calls no cloud API)', async () => {
    const dir = await preparedChart(CHART);
    const defaults = containerOf(await renderChart(dir));
    expect(defaults.args).toEqual(
      expect.arrayContaining(['--delete-retry-interval=60', '--workflow-crd-poll=30']),
    );
    expect(defaults.env?.map((e) => e.name)).toEqual(['POD_NAMESPACE', 'POD_NAME']);
    const all = containerOf(await renderChart(dir, { valuesFiles: [allFeaturesValues(dir)] }));
    expect(all.args).toEqual(
      expect.arrayContaining(['--delete-retry-interval=120', '--workflow-crd-poll=10']),
    );
  });

  it('creates no workflow ServiceAccount by default', async () => {
    const objects = await renderChart(await preparedChart(CHART));
    expect(objects.filter((o) => o.kind === 'ServiceAccount').map((o) => o.metadata?.name)).toEqual([
      'keiko-test-addon-manager',
    ]);
    expect(objects.filter((o) => o.kind === 'ClusterRole')).toHaveLength(1);
  });

  it("creates the workflow ServiceAccount on request: its own ClusterRole of the values' rules, bound to it alone", async () => {
    const objects = await renderChart(await preparedChart(CHART), {
      release: 'addons',
      namespace: 'addon-manager-system',
      args: ['--set', 'workflowServiceAccount.create=true'],
    });
    const sa = findObject(objects, 'ServiceAccount', WORKFLOW_SA);
    expect(sa.metadata?.namespace).toBe('addon-manager-system');
    const role = findObject<RoleObject>(objects, 'ClusterRole', 'addons-addon-manager-workflow');
    expect(ruleLines(role)).toEqual(['argoproj.io workflowtaskresults: create,patch']);
    const binding = findObject<Binding>(objects, 'ClusterRoleBinding', 'addons-addon-manager-workflow');
    expect(binding.roleRef).toMatchObject({ kind: 'ClusterRole', name: 'addons-addon-manager-workflow' });
    expect(binding.subjects).toEqual([
      { kind: 'ServiceAccount', name: WORKFLOW_SA, namespace: 'addon-manager-system' },
    ]);
    // The controller's own role and binding are untouched and still come first.
    expect(objects.find((o) => o.kind === 'ServiceAccount')?.metadata?.name).toBe('addons-addon-manager');
    expect(objects.find((o) => o.kind === 'ClusterRole')?.metadata?.name).toBe('addons-addon-manager');
  });

  it("takes the platform team's rules, name and annotations for the workflow ServiceAccount", async () => {
    const dir = await preparedChart(CHART);
    const objects = await renderChart(dir, { release: 'keiko', valuesFiles: [allFeaturesValues(dir)] });
    expect(findObject(objects, 'ServiceAccount', 'addon-installer').metadata?.annotations).toEqual({
      'eks.amazonaws.com/role-arn': 'arn:aws:iam::111122223333:role/keiko-addon-installer',
    });
    const role = findObject<RoleObject>(objects, 'ClusterRole', 'keiko-am-workflow');
    expect(ruleLines(role)).toEqual([
      'argoproj.io workflowtaskresults: create,patch',
      'core namespaces,serviceaccounts,configmaps,services: get,list,create,patch,update,delete',
      'apps deployments,daemonsets: get,list,create,patch,update,delete',
      'rbac.authorization.k8s.io clusterroles,clusterrolebindings[cluster-autoscaler]: get,patch,update,delete',
    ]);
    expect(role.rules.at(-1)?.resourceNames).toEqual(['cluster-autoscaler']);
    expect(
      findObject<Binding>(objects, 'ClusterRoleBinding', 'keiko-am-workflow').subjects.map((s) => s.name),
    ).toEqual(['addon-installer']);
  });

  it('leaves the workflow ClusterRole out with rbac.create=false, and keeps the ServiceAccount', async () => {
    const objects = await renderChart(await preparedChart(CHART), {
      args: ['--set', 'workflowServiceAccount.create=true', '--set', 'rbac.create=false'],
    });
    expect(objects.filter((o) => /Role/.test(o.kind ?? ''))).toEqual([]);
    expect(findObject(objects, 'ServiceAccount', WORKFLOW_SA)).toBeDefined();
  });

  it.each([
    [
      'a wildcard verb',
      'workflowServiceAccount.rules[0].verbs[0]=*',
      '/workflowServiceAccount/rules/0/verbs/0',
    ],
    [
      'a wildcard resource',
      'workflowServiceAccount.rules[0].resources[0]=*',
      '/workflowServiceAccount/rules/0/resources/0',
    ],
    [
      'a wildcard API group',
      'workflowServiceAccount.rules[0].apiGroups[0]=*',
      '/workflowServiceAccount/rules/0/apiGroups/0',
    ],
  ])('refuses %s in the workflow rules, naming it', async (_what, set, mentions) => {
    const dir = await preparedChart(CHART);
    // Every field given, so only the wildcard is wrong.
    const base = [
      '--set',
      'workflowServiceAccount.create=true',
      '--set',
      'workflowServiceAccount.rules[0].apiGroups[0]=argoproj.io',
      '--set',
      'workflowServiceAccount.rules[0].resources[0]=workflowtaskresults',
      '--set',
      'workflowServiceAccount.rules[0].verbs[0]=create',
    ];
    const r = await helmResult(['template', ...renderArgs(dir, { args: [...base, '--set', set] })]);
    expect(r.code).not.toBe(0);
    expect(r.stderr).toContain(mentions);
  });

  it('refuses a wildcard at render time too, when the schema is skipped', async () => {
    const dir = await preparedChart(CHART);
    const r = await helmResult([
      'template',
      ...renderArgs(dir, {
        args: [
          '--skip-schema-validation',
          '--set',
          'workflowServiceAccount.create=true',
          '--set',
          'workflowServiceAccount.rules[0].apiGroups[0]=',
          '--set',
          'workflowServiceAccount.rules[0].resources[0]=secrets',
          '--set',
          'workflowServiceAccount.rules[0].verbs[0]=*',
        ],
      }),
    ]);
    expect(r.code).not.toBe(0);
    expect(r.stderr).toContain('never wildcards');
  });

  it("refuses a workflow ServiceAccount that is the controller's own", async () => {
    const dir = await preparedChart(CHART);
    const r = await helmResult([
      'template',
      ...renderArgs(dir, {
        args: ['--set', 'workflowServiceAccount.create=true', '--set', `serviceAccount.name=${WORKFLOW_SA}`],
      }),
    ]);
    expect(r.code).not.toBe(0);
    expect(r.stderr).toContain('the workflows need an account of their own');
  });
});

describe('addon-manager ServiceAccounts on the test cluster', () => {
  let namespace: string;
  let other: string;
  let rbac: ChartRbac;
  let kc: k8s.KubeConfig;
  let workflowKc: k8s.KubeConfig;

  beforeAll(async () => {
    namespace = await createNamespace('charts-am');
    other = await createNamespace('charts-am-addon');
    rbac = await installChartRbac(CHART, {
      namespace,
      args: ['--set', 'workflowServiceAccount.create=true'],
    });
    kc = kubeConfigAs(rbac.serviceAccount);
    workflowKc = kubeConfigAs({ namespace, name: WORKFLOW_SA });
  });
  afterAll(async () => {
    await rbac?.uninstall();
    if (namespace) await deleteNamespace(namespace);
    if (other) await deleteNamespace(other);
  });

  it('the controller may run Addons and their Workflows, and watch workloads, in any namespace', async () => {
    const may: [string, string, string][] = [
      ['watch', 'addonmgr.keikoproj.io', 'addons'],
      ['patch', 'addonmgr.keikoproj.io', 'addons'],
      ['patch', 'addonmgr.keikoproj.io', 'addons/status'],
      ['update', 'addonmgr.keikoproj.io', 'addons/finalizers'],
      ['create', 'argoproj.io', 'workflows'],
      ['delete', 'argoproj.io', 'workflows'],
      ['get', 'argoproj.io', 'workflows'],
      ['watch', 'apps', 'deployments'],
      ['list', 'batch', 'cronjobs'],
      ['list', '', 'services'],
      ['get', '', 'secrets'],
      ['create', '', 'events'],
    ];
    const denied = [];
    for (const [verb, group, resource] of may)
      if (!(await allowed(kc, verb, group, resource, other))) denied.push(`${verb} ${group}/${resource}`);
    expect(denied).toEqual([]);
    const client = new KubeClient(kc);
    expect(await statusOf(client.list(ResourceTypes.Deployment))).toBe(200);
    // spec.secrets: a get by name in an add-on's params.namespace is authorized (404: there is none)
    expect(await statusOf(client.request('GET', `/api/v1/namespaces/${other}/secrets/no-such-secret`))).toBe(
      404,
    );
  });

  it('the controller may not read Secrets wholesale, change workloads, nor write Addon specs', async () => {
    const mayNot: [string, string, string][] = [
      ['list', '', 'secrets'],
      ['watch', '', 'secrets'],
      ['get', '', 'configmaps'],
      ['get', '', 'pods'],
      ['create', 'apps', 'deployments'],
      ['get', 'apps', 'deployments'],
      ['delete', '', 'services'],
      ['update', 'addonmgr.keikoproj.io', 'addons'],
      ['create', 'addonmgr.keikoproj.io', 'addons'],
      ['delete', 'addonmgr.keikoproj.io', 'addons'],
      ['update', 'argoproj.io', 'workflows'],
      ['patch', 'argoproj.io', 'workflows/status'],
      ['create', 'argoproj.io', 'workflowtaskresults'],
    ];
    const granted = [];
    for (const [verb, group, resource] of mayNot)
      if (await allowed(kc, verb, group, resource, other)) granted.push(`${verb} ${group}/${resource}`);
    expect(granted).toEqual([]);
    const client = new KubeClient(kc);
    expect(await statusOf(client.list(ResourceTypes.Secret, { namespace: other }))).toBe(403);
  });

  it('the workflow ServiceAccount may report step results, and by default nothing else', async () => {
    expect(await allowed(workflowKc, 'create', 'argoproj.io', 'workflowtaskresults', namespace)).toBe(true);
    expect(await allowed(workflowKc, 'patch', 'argoproj.io', 'workflowtaskresults', other)).toBe(true);
    const granted = [];
    for (const [verb, group, resource] of [
      ['create', 'argoproj.io', 'workflows'],
      ['create', 'apps', 'deployments'],
      ['create', '', 'configmaps'],
      ['get', '', 'secrets'],
      ['create', 'rbac.authorization.k8s.io', 'clusterroles'],
      ['patch', 'addonmgr.keikoproj.io', 'addons'],
    ] as const)
      if (await allowed(workflowKc, verb, group, resource, other))
        granted.push(`${verb} ${group}/${resource}`);
    expect(granted).toEqual([]);
  });
});
