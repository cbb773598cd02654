// What is instance-manager's own in its chart: the exact ClusterRole, the Roles that hold aws-auth and the
// managed defaults ConfigMap by name, its flags and AWS settings from values, the optional ConfigMap (read
// back with the controller's own parser) — and, acting as its ServiceAccount, the calls it must and must
// not be able to make. Its IAM policy is checked in instance-manager-iam.test.ts.
import type * as k8s from '@kubernetes/client-node';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { createNamespace, deleteNamespace } from '@keiko/testenv';
import { KubeClient, ResourceTypes } from '@keiko/kube-runtime';
import { parseManagedConfig } from '@keiko/api';
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

const CHART = 'instance-manager';

afterAll(cleanupWorkspace);

const argOf = (args: string[] | undefined, flag: string) =>
  args?.filter((a) => a.startsWith(`${flag}=`)).map((a) => a.slice(flag.length + 1));

describe('instance-manager chart', () => {
  it('grants exactly what the InstanceGroup controller calls, cluster-wide', async () => {
    const objects = await renderChart(await preparedChart(CHART));
    expect(ruleLines(findObject<RoleObject>(objects, 'ClusterRole'))).toEqual([
      'instancemgr.keikoproj.io instancegroups: get,list,watch,patch',
      'instancemgr.keikoproj.io instancegroups/status: patch',
      'core nodes: get,list,watch,patch',
      'core pods: get,list',
      'core pods/eviction: create',
      'policy poddisruptionbudgets: list',
      'apps daemonsets: get',
      'core namespaces: get',
      'upgrademgr.keikoproj.io rollingupgrades: get,list,create,delete',
      'core events: create,patch,list',
    ]);
  });

  it('holds kube-system/aws-auth and the managed defaults ConfigMap by name, each in its namespace', async () => {
    const objects = await renderChart(await preparedChart(CHART), {
      release: 'im',
      namespace: 'platform',
    });
    const awsAuth = findObject<RoleObject>(objects, 'Role', 'im-instance-manager-aws-auth');
    expect(awsAuth.metadata?.namespace).toBe('kube-system');
    expect(ruleLines(awsAuth)).toEqual([
      'core configmaps[aws-auth]: get,list,watch,update',
      'core configmaps: create',
    ]);
    const config = findObject<RoleObject>(objects, 'Role', 'im-instance-manager-managed-config');
    expect(config.metadata?.namespace).toBe('platform');
    expect(ruleLines(config)).toEqual(['core configmaps[instance-manager]: get,list,watch']);
    for (const role of [awsAuth, config]) {
      const binding = findObject<Binding>(objects, 'RoleBinding', role.metadata!.name);
      expect(binding.metadata?.namespace).toBe(role.metadata?.namespace);
      expect(binding.roleRef).toMatchObject({ kind: 'Role', name: role.metadata?.name });
      expect(binding.subjects).toEqual([
        { kind: 'ServiceAccount', name: 'im-instance-manager', namespace: 'platform' },
      ]);
    }
    // The controller is told to read the ConfigMap the Role allows.
    const args = containerOf(objects).args;
    expect(argOf(args, '--config-namespace')).toEqual([config.metadata?.namespace]);
    expect(argOf(args, '--config-name')).toEqual(config.rules[0]?.resourceNames);
  });

  it('passes its own flags from values', async () => {
    const dir = await preparedChart(CHART);
    const defaults = containerOf(await renderChart(dir, { namespace: 'platform' })).args;
    expect(defaults).toEqual(
      expect.arrayContaining([
        '--config-namespace=platform',
        '--config-name=instance-manager',
        '--drain-timeout=900',
        '--template-retention=2',
        '--aws-cache-ttl=5',
        '--resync=60',
      ]),
    );
    const all = await renderChart(dir, { namespace: 'platform', valuesFiles: [allFeaturesValues(dir)] });
    expect(containerOf(all).args).toEqual(
      expect.arrayContaining([
        '--config-namespace=kube-public',
        '--config-name=instance-manager-defaults',
        '--drain-timeout=600',
        '--template-retention=5',
        '--aws-cache-ttl=10',
        '--resync=120',
      ]),
    );
    // The managed-config Role follows managedConfig.namespace/name.
    const config = findObject<RoleObject>(all, 'Role', 'keiko-im-managed-config');
    expect(config.metadata?.namespace).toBe('kube-public');
    expect(config.rules[0]?.resourceNames).toEqual(['instance-manager-defaults']);
  });

  it('passes aws.region and aws.endpoint to the SDK, and nothing when they are empty', async () => {
    const dir = await preparedChart(CHART);
    const env = async (valuesFiles: string[]) =>
      containerOf(await renderChart(dir, { valuesFiles })).env!.map((e) => e.name);
    expect(await env([])).toEqual(['POD_NAMESPACE', 'POD_NAME']);
    expect(await env([allFeaturesValues(dir)])).toEqual(
      expect.arrayContaining(['AWS_REGION', 'AWS_ENDPOINT_URL']),
    );
  });

  it('creates no managed defaults ConfigMap unless asked', async () => {
    const objects = await renderChart(await preparedChart(CHART));
    expect(objects.filter((o) => o.kind === 'ConfigMap')).toEqual([]);
  });

  it("renders the managed defaults ConfigMap from values in the format the controller's parser reads", async () => {
    const dir = await preparedChart(CHART);
    const objects = await renderChart(dir, { valuesFiles: [allFeaturesValues(dir)] });
    const cm = findObject<k8s.V1ConfigMap>(objects, 'ConfigMap', 'instance-manager-defaults');
    expect(cm.metadata?.namespace).toBe('kube-public');
    const parsed = parseManagedConfig(cm.data);
    expect(parsed?.defaults).toEqual({
      spec: {
        eks: { configuration: { clusterName: 'prod-1', tags: [{ key: 'billing', value: 'platform' }] } },
      },
    });
    expect(parsed?.boundaries).toEqual({
      restricted: ['spec.eks.configuration.clusterName'],
      shared: {
        replace: ['spec.eks.configuration.image'],
        merge: ['spec.eks.configuration.tags'],
        mergeOverride: ['spec.eks.configuration.labels'],
      },
    });
    // Created with nothing in it, it is an empty configuration the parser accepts, not an error.
    const empty = findObject<k8s.V1ConfigMap>(
      await renderChart(dir, { args: ['--set', 'managedConfig.create=true'] }),
      'ConfigMap',
    );
    expect(parseManagedConfig(empty.data)?.boundaries.restricted).toEqual([]);
  });

  it.each([
    [
      'a boundary that is no field path',
      'managedConfig.boundaries.restricted[0]=clusterName',
      '/managedConfig/boundaries/restricted/0',
    ],
    ['an unknown boundary kind', 'managedConfig.boundaries.forbidden[0]=spec.eks', "'forbidden'"],
    ['a negative drain timeout', 'drainTimeoutSeconds=-1', '/drainTimeoutSeconds'],
    ['a resync of 0', 'resyncSeconds=0', '/resyncSeconds'],
  ])('refuses %s, naming it', async (_what, set, mentions) => {
    const dir = await preparedChart(CHART);
    const r = await helmResult(['template', ...renderArgs(dir, { args: ['--set', set] })]);
    expect(r.code).not.toBe(0);
    expect(r.stderr).toContain(mentions);
  });

  it('appends crdStrategyRules for the kinds a crd strategy submits besides RollingUpgrades', async () => {
    const dir = await preparedChart(CHART);
    const role = findObject<RoleObject>(
      await renderChart(dir, { valuesFiles: [allFeaturesValues(dir)] }),
      'ClusterRole',
    );
    expect(ruleLines(role).slice(-2)).toEqual([
      'core events: create,patch,list',
      'argoproj.io workflows: create,get,list,delete',
    ]);
  });

  it('refuses a wildcard in crdStrategyRules, by schema and at render time', async () => {
    const dir = await preparedChart(CHART);
    const rule = [
      '--set',
      'crdStrategyRules[0].apiGroups[0]=argoproj.io',
      '--set',
      'crdStrategyRules[0].resources[0]=workflows',
      '--set',
      'crdStrategyRules[0].verbs[0]=*',
    ];
    const bySchema = await helmResult(['template', ...renderArgs(dir, { args: rule })]);
    expect(bySchema.code).not.toBe(0);
    expect(bySchema.stderr).toContain('/crdStrategyRules/0/verbs/0');
    const byTemplate = await helmResult([
      'template',
      ...renderArgs(dir, { args: ['--skip-schema-validation', ...rule] }),
    ]);
    expect(byTemplate.code).not.toBe(0);
    expect(byTemplate.stderr).toContain('never wildcards');
  });
});

describe('instance-manager ServiceAccount on the test cluster', () => {
  let namespace: string;
  let rbac: ChartRbac;
  let kc: k8s.KubeConfig;
  let client: KubeClient;

  beforeAll(async () => {
    namespace = await createNamespace('charts-im');
    rbac = await installChartRbac(CHART, { namespace });
    kc = kubeConfigAs(rbac.serviceAccount);
    client = new KubeClient(kc);
  });
  afterAll(async () => {
    await rbac?.uninstall();
    if (namespace) await deleteNamespace(namespace);
  });

  it('may run InstanceGroups, cordon and drain nodes, and submit RollingUpgrades, in any namespace', async () => {
    const may: [string, string, string][] = [
      ['watch', 'instancemgr.keikoproj.io', 'instancegroups'],
      ['patch', 'instancemgr.keikoproj.io', 'instancegroups'],
      ['patch', 'instancemgr.keikoproj.io', 'instancegroups/status'],
      ['watch', '', 'nodes'],
      ['patch', '', 'nodes'],
      ['list', '', 'pods'],
      ['create', '', 'pods/eviction'],
      ['list', 'policy', 'poddisruptionbudgets'],
      ['get', 'apps', 'daemonsets'],
      ['get', '', 'namespaces'],
      ['create', 'upgrademgr.keikoproj.io', 'rollingupgrades'],
      ['delete', 'upgrademgr.keikoproj.io', 'rollingupgrades'],
      ['create', '', 'events'],
      ['list', '', 'events'],
    ];
    const denied = [];
    for (const [verb, group, resource] of may)
      if (!(await allowed(kc, verb, group, resource, 'default'))) denied.push(`${verb} ${group}/${resource}`);
    expect(denied).toEqual([]);
    expect(await statusOf(client.list(ResourceTypes.Node))).toBe(200);
  });

  it('may read and update aws-auth — an informer on it alone included — and no other ConfigMap in kube-system', async () => {
    expect(await allowed(kc, 'get', '', 'configmaps', 'kube-system', 'aws-auth')).toBe(true);
    expect(await allowed(kc, 'update', '', 'configmaps', 'kube-system', 'aws-auth')).toBe(true);
    expect(await allowed(kc, 'create', '', 'configmaps', 'kube-system')).toBe(true); // a cluster without aws-auth
    for (const [verb, name] of [
      ['get', 'kube-root-ca.crt'],
      ['update', 'coredns'],
      ['delete', 'aws-auth'],
      ['patch', 'aws-auth'],
    ] as const)
      expect([verb, name, await allowed(kc, verb, '', 'configmaps', 'kube-system', name)]).toEqual([
        verb,
        name,
        false,
      ]);
    // The controller's informer lists and watches with a metadata.name field selector, which the
    // apiserver authorizes as that one name; a list of every ConfigMap there is refused.
    expect(
      await statusOf(
        client.list(ResourceTypes.ConfigMap, {
          namespace: 'kube-system',
          fieldSelector: 'metadata.name=aws-auth',
        }),
      ),
    ).toBe(200);
    expect(await statusOf(client.list(ResourceTypes.ConfigMap, { namespace: 'kube-system' }))).toBe(403);
  });

  it('may read the managed defaults ConfigMap of its release namespace by name, and nothing else there', async () => {
    expect(await allowed(kc, 'get', '', 'configmaps', namespace, 'instance-manager')).toBe(true);
    expect(await allowed(kc, 'watch', '', 'configmaps', namespace, 'instance-manager')).toBe(true);
    expect(await allowed(kc, 'get', '', 'configmaps', namespace, 'other')).toBe(false);
    expect(await allowed(kc, 'update', '', 'configmaps', namespace, 'instance-manager')).toBe(false);
    expect(await allowed(kc, 'get', '', 'configmaps', 'default', 'instance-manager')).toBe(false);
    // 404, not 403: authorized, and there is no ConfigMap (no managed configuration).
    expect(
      await statusOf(client.request('GET', `/api/v1/namespaces/${namespace}/configmaps/instance-manager`)),
    ).toBe(404);
    expect(await statusOf(client.request('GET', `/api/v1/namespaces/${namespace}/configmaps/other`))).toBe(
      403,
    );
  });

  it('may not read Secrets, delete nodes or pods, write InstanceGroup specs, nor change RollingUpgrades', async () => {
    const mayNot: [string, string, string][] = [
      ['get', '', 'secrets'],
      ['list', '', 'secrets'],
      ['delete', '', 'nodes'],
      ['delete', '', 'pods'],
      ['update', '', 'nodes'],
      ['create', 'instancemgr.keikoproj.io', 'instancegroups'],
      ['update', 'instancemgr.keikoproj.io', 'instancegroups'],
      ['delete', 'instancemgr.keikoproj.io', 'instancegroups'],
      ['update', 'upgrademgr.keikoproj.io', 'rollingupgrades'],
      ['patch', 'upgrademgr.keikoproj.io', 'rollingupgrades/status'],
      ['create', 'argoproj.io', 'workflows'],
      ['update', '', 'namespaces'],
    ];
    const granted = [];
    for (const [verb, group, resource] of mayNot)
      if (await allowed(kc, verb, group, resource, 'default')) granted.push(`${verb} ${group}/${resource}`);
    expect(granted).toEqual([]);
    expect(await statusOf(client.list(ResourceTypes.Secret, { namespace: 'kube-system' }))).toBe(403);
  });

  it('may evict pods (the drain path) — the eviction reaches the pod lookup, not a 403', async () => {
    const eviction = {
      apiVersion: 'policy/v1',
      kind: 'Eviction',
      metadata: { name: 'no-such-pod', namespace },
    };
    expect(
      await statusOf(
        client.request('POST', `/api/v1/namespaces/${namespace}/pods/no-such-pod/eviction`, {
          body: eviction,
        }),
      ),
    ).toBe(404);
  });
});
