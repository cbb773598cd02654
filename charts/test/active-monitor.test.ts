// What is active-monitor's own in its chart: the ConfigMap of workflows that file sources read.
import type * as k8s from '@kubernetes/client-node';
import { afterAll, describe, expect, it } from '@jest/globals';
import { cleanupWorkspace, containerOf, findObject, preparedChart, renderChart } from './support/charts';

afterAll(cleanupWorkspace);

describe('active-monitor chart', () => {
  it('mounts workflowsConfigMap read-only where --workflow-dir points, and nothing without it', async () => {
    const chart = await preparedChart('active-monitor');
    const deployment = (objects: k8s.KubernetesObject[]) =>
      findObject<k8s.V1Deployment>(objects, 'Deployment').spec?.template.spec;
    const plain = await renderChart(chart);
    expect(containerOf(plain).args?.some((a) => a.startsWith('--workflow-dir'))).toBe(false);
    expect(deployment(plain)?.volumes?.map((v) => v.name)).toEqual(['tmp']);

    const mounted = await renderChart(chart, { set: { workflowsConfigMap: 'health-workflows' } });
    expect(containerOf(mounted).args).toContain('--workflow-dir=/etc/active-monitor/workflows');
    expect(deployment(mounted)?.volumes).toContainEqual({
      name: 'workflows',
      configMap: { name: 'health-workflows' },
    });
    expect(containerOf(mounted).volumeMounts).toContainEqual({
      name: 'workflows',
      mountPath: '/etc/active-monitor/workflows',
      readOnly: true,
    });
  });
});
