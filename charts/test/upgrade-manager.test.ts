// What is upgrade-manager's own in its chart: the exact ClusterRole, the AWS settings, and — acting
// as its ServiceAccount — the calls a rolling upgrade makes are allowed and others are not.
import type * as k8s from '@kubernetes/client-node';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { createNamespace, deleteNamespace } from '@keiko/testenv';
import { KubeClient, ResourceTypes } from '@keiko/kube-runtime';
import {
  allFeaturesValues,
  cleanupWorkspace,
  findObject,
  preparedChart,
  renderChart,
} from './support/charts';
import { kubeConfigAs, statusOf } from './support/impersonate';
import { installChartRbac, type ChartRbac } from './support/rbac';

const CHART = 'upgrade-manager';

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
