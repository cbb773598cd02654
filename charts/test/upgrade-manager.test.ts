// What is upgrade-manager's own in its chart: the exact ClusterRole, the AWS settings, and — acting
// as its ServiceAccount — the calls a rolling upgrade makes are allowed and others are not.
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
import { installChartRbac, ruleLines, type Binding, type ChartRbac, type RoleObject } from './support/rbac';

const CHART = 'upgrade-manager';
const JOBS_RULE = 'batch jobs: create,get,list,watch,delete';
const SCRIPT_VALUES: Record<string, string> = {
  'scripts.enabled': 'true',
  'scripts.image': 'registry.example.com/tools:1',
  'scripts.serviceAccountName': 'node-scripts',
};
const setArgs = (values: Record<string, string>) =>
  Object.entries(values).flatMap(([k, v]) => ['--set', `${k}=${v}`]);
const SCRIPTS = setArgs(SCRIPT_VALUES);

afterAll(cleanupWorkspace);

describe('upgrade-manager chart', () => {
  it('grants exactly what a rolling upgrade needs', async () => {
    const objects = await renderChart(await preparedChart(CHART));
    const role = findObject<k8s.V1ClusterRole>(objects, 'ClusterRole');
    expect(
      role.rules?.map(
        (r) => `${r.apiGroups?.join(',') || 'core'} ${r.resources?.join(',')}: ${r.verbs.join(',')}`,
      ),
    ).toEqual([
      'upgrademgr.keikoproj.io rollingupgrades: get,list,watch,update,patch',
      'upgrademgr.keikoproj.io rollingupgrades/status: get,update,patch',
      'upgrademgr.keikoproj.io rollingupgrades/finalizers: update',
      'core nodes: get,list,watch,patch,update',
      'core pods: get,list,watch',
      'core pods/eviction: create',
      'policy poddisruptionbudgets: get,list,watch',
      'apps daemonsets,replicasets,statefulsets: get',
      'core events: create,patch',
    ]);
  });

  it('passes aws.region and aws.endpoint to the SDK, and nothing when they are empty', async () => {
    const dir = await preparedChart(CHART);
    const env = async (valuesFiles: string[]) =>
      findObject<k8s.V1Deployment>(
        await renderChart(dir, { valuesFiles }),
        'Deployment',
      ).spec!.template.spec!.containers[0]!.env!.map((e) => e.name);
    expect(await env([])).not.toEqual(expect.arrayContaining(['AWS_REGION']));
    expect(await env([])).not.toEqual(expect.arrayContaining(['AWS_ENDPOINT_URL']));
    expect(await env([allFeaturesValues(dir)])).toEqual(
      expect.arrayContaining(['AWS_REGION', 'AWS_ENDPOINT_URL']),
    );
  });
});

describe('upgrade-manager chart: scripts', () => {
  it('off by default: no Jobs rule, no scripts flag', async () => {
    const objects = await renderChart(await preparedChart(CHART));
    expect(ruleLines(findObject<RoleObject>(objects, 'ClusterRole'))).not.toContain(JOBS_RULE);
    expect(objects.filter((o) => o.kind === 'Role' && o.metadata?.name?.endsWith('-scripts'))).toEqual([]);
    expect(containerOf(objects).args?.filter((a) => a.startsWith('--scripts'))).toEqual([]);
  });

  it('enabled: the flags from values, and Jobs in the ClusterRole (every namespace is watched)', async () => {
    const objects = await renderChart(await preparedChart(CHART), { args: SCRIPTS });
    expect(ruleLines(findObject<RoleObject>(objects, 'ClusterRole')).at(-1)).toBe(JOBS_RULE);
    expect(containerOf(objects).args).toEqual(
      expect.arrayContaining([
        '--scripts-enabled=true',
        '--scripts-image=registry.example.com/tools:1',
        '--scripts-service-account=node-scripts',
        '--scripts-timeout=600',
        '--scripts-ttl=604800',
      ]),
    );
  });

  it('enabled with watchNamespace: Jobs only in that namespace (a Role), not in the ClusterRole', async () => {
    const objects = await renderChart(await preparedChart(CHART), {
      release: 'um',
      args: [...SCRIPTS, '--set', 'watchNamespace=team-a'],
    });
    expect(ruleLines(findObject<RoleObject>(objects, 'ClusterRole'))).not.toContain(JOBS_RULE);
    const role = findObject<RoleObject>(objects, 'Role', 'um-upgrade-manager-scripts');
    expect(role.metadata?.namespace).toBe('team-a');
    expect(ruleLines(role)).toEqual([JOBS_RULE]);
    const binding = findObject<Binding>(objects, 'RoleBinding', 'um-upgrade-manager-scripts');
    expect(binding.roleRef).toMatchObject({ kind: 'Role', name: 'um-upgrade-manager-scripts' });
    expect(binding.subjects.map((x) => x.name)).toEqual(['um-upgrade-manager']);
  });

  it.each([
    ['scripts.image', 'scripts.enabled needs scripts.image'],
    ['scripts.serviceAccountName', 'scripts.enabled needs scripts.serviceAccountName'],
  ])('enabled without %s: the render fails and says so', async (key, message) => {
    const dir = await preparedChart(CHART);
    const args = setArgs(Object.fromEntries(Object.entries(SCRIPT_VALUES).filter(([k]) => k !== key)));
    const result = await helmResult(['template', ...renderArgs(dir, { args })]);
    expect(result.code).not.toBe(0);
    expect(result.stderr).toContain(message);
  });
});

describe('upgrade-manager ServiceAccount with scripts enabled, on the test cluster', () => {
  let namespace: string;
  let rbac: ChartRbac;

  beforeAll(async () => {
    namespace = await createNamespace('charts-um-scripts');
    rbac = await installChartRbac(CHART, { namespace, args: SCRIPTS });
  });
  afterAll(async () => {
    await rbac?.uninstall();
    if (namespace) await deleteNamespace(namespace);
  });

  it('may create, read and delete Jobs, and nothing more on them', async () => {
    const kc = kubeConfigAs(rbac.serviceAccount);
    for (const verb of ['create', 'get', 'list', 'watch', 'delete'])
      expect(await allowed(kc, verb, 'batch', 'jobs', namespace)).toBe(true);
    for (const verb of ['update', 'patch'])
      expect(await allowed(kc, verb, 'batch', 'jobs', namespace)).toBe(false);
    expect(await allowed(kc, 'create', 'batch', 'cronjobs', namespace)).toBe(false);
  });
});

describe('upgrade-manager ServiceAccount on the test cluster', () => {
  let namespace: string;
  let rbac: ChartRbac;
  let client: KubeClient;

  beforeAll(async () => {
    namespace = await createNamespace('charts-um');
    rbac = await installChartRbac(CHART, { namespace });
    client = new KubeClient(kubeConfigAs(rbac.serviceAccount));
  });
  afterAll(async () => {
    await rbac?.uninstall();
    if (namespace) await deleteNamespace(namespace);
  });

  it('may list nodes and pods, and RollingUpgrades everywhere', async () => {
    expect(await statusOf(client.list(ResourceTypes.Node))).toBe(200);
    expect(await statusOf(client.list(ResourceTypes.Pod))).toBe(200);
    expect(await statusOf(client.list(ResourceTypes.PodDisruptionBudget))).toBe(200);
    const rollingUpgrades = {
      group: 'upgrademgr.keikoproj.io',
      version: 'v1alpha1',
      plural: 'rollingupgrades',
      kind: 'RollingUpgrade',
      namespaced: true,
    };
    expect(await statusOf(client.list(rollingUpgrades))).toBe(200);
  });

  it('may not touch Jobs while scripts are off', async () => {
    expect(await allowed(kubeConfigAs(rbac.serviceAccount), 'create', 'batch', 'jobs', namespace)).toBe(
      false,
    );
    expect(await allowed(kubeConfigAs(rbac.serviceAccount), 'list', 'batch', 'jobs', namespace)).toBe(false);
  });

  it('may not read Secrets or ConfigMaps, nor delete nodes or pods', async () => {
    expect(await statusOf(client.list(ResourceTypes.Secret))).toBe(403);
    expect(await statusOf(client.list(ResourceTypes.Secret, { namespace: 'kube-system' }))).toBe(403);
    expect(await statusOf(client.list(ResourceTypes.ConfigMap))).toBe(403);
    expect(
      await statusOf(client.request('DELETE', '/api/v1/nodes/no-such-node', { query: { dryRun: 'All' } })),
    ).toBe(403);
    expect(await statusOf(client.request('DELETE', `/api/v1/namespaces/${namespace}/pods/no-such-pod`))).toBe(
      403,
    );
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
