import { describe, expect, it } from '@jest/globals';
import { WorkloadResources } from '../src/addon/constants';
import {
  belongsToAddon,
  objectStatuses,
  readiness,
  selectorMatches,
  type ObservedObject,
} from '../src/addon/resources';

const deployment = (
  name: string,
  ns: string,
  labels: Record<string, string>,
  status: Record<string, unknown>,
  replicas = 2,
): ObservedObject => ({
  rt: WorkloadResources.Deployment,
  obj: {
    metadata: { name, namespace: ns, labels, generation: 3 },
    spec: { replicas },
    status: { observedGeneration: 3, ...status },
  },
});

describe('status.resources', () => {
  it('matches label selectors with matchLabels and every operator', () => {
    const labels = { app: 'er', tier: 'infra' };
    expect(selectorMatches({ matchLabels: { app: 'er' } }, labels)).toBe(true);
    expect(selectorMatches({ matchLabels: { app: 'x' } }, labels)).toBe(false);
    expect(
      selectorMatches(
        { matchExpressions: [{ key: 'tier', operator: 'In', values: ['infra', 'web'] }] },
        labels,
      ),
    ).toBe(true);
    expect(
      selectorMatches({ matchExpressions: [{ key: 'tier', operator: 'NotIn', values: ['infra'] }] }, labels),
    ).toBe(false);
    expect(selectorMatches({ matchExpressions: [{ key: 'gone', operator: 'DoesNotExist' }] }, labels)).toBe(
      true,
    );
    expect(selectorMatches({ matchExpressions: [{ key: 'gone', operator: 'Exists' }] }, labels)).toBe(false);
  });

  it("finds an addon's objects in params.namespace as well as its own namespace (the original looked only in its own)", () => {
    const scope = { name: 'er', namespace: 'addon-manager-system', installNamespace: 'er-ns' };
    const part = { 'app.kubernetes.io/part-of': 'er' };
    expect(belongsToAddon(scope, { metadata: { namespace: 'er-ns', labels: part } })).toBe(true);
    expect(belongsToAddon(scope, { metadata: { namespace: 'addon-manager-system', labels: part } })).toBe(
      true,
    );
    expect(belongsToAddon(scope, { metadata: { namespace: 'elsewhere', labels: part } })).toBe(false);
    expect(
      belongsToAddon(scope, {
        metadata: { namespace: 'er-ns', labels: { 'app.kubernetes.io/part-of': 'other' } },
      }),
    ).toBe(false);
    // with a selector, the selector decides
    const selected = { ...scope, selector: { matchLabels: { app: 'er' } } };
    expect(
      belongsToAddon(selected, { metadata: { namespace: 'er-ns', labels: { ...part, app: 'er' } } }),
    ).toBe(true);
    expect(belongsToAddon(selected, { metadata: { namespace: 'er-ns', labels: part } })).toBe(false);
  });

  it('says Ready only when the rollout is complete', () => {
    expect(readiness(deployment('d', 'n', {}, { updatedReplicas: 2, availableReplicas: 2 }))).toBe('Ready');
    expect(readiness(deployment('d', 'n', {}, { updatedReplicas: 2, availableReplicas: 1 }))).toBe(
      'InProgress',
    );
    expect(
      readiness(
        deployment('d', 'n', {}, { observedGeneration: 2, updatedReplicas: 2, availableReplicas: 2 }),
      ),
    ).toBe('InProgress');
    const ds = (status: Record<string, unknown>) =>
      readiness({
        rt: WorkloadResources.DaemonSet,
        obj: { metadata: { generation: 1 }, status: { observedGeneration: 1, ...status } },
      });
    expect(ds({ desiredNumberScheduled: 3, numberReady: 3, updatedNumberScheduled: 3 })).toBe('Ready');
    expect(ds({ desiredNumberScheduled: 3, numberReady: 2, updatedNumberScheduled: 3 })).toBe('InProgress');
    const job = (type: string) =>
      readiness({
        rt: WorkloadResources.Job,
        obj: { metadata: {}, status: { conditions: [{ type, status: 'True' }] } },
      });
    expect(job('Complete')).toBe('Ready');
    expect(job('Failed')).toBe('Unknown');
    expect(
      readiness({
        rt: WorkloadResources.Service,
        obj: { metadata: {}, spec: { type: 'LoadBalancer' }, status: {} },
      }),
    ).toBe('InProgress');
    expect(
      readiness({ rt: WorkloadResources.Service, obj: { metadata: {}, spec: { type: 'ClusterIP' } } }),
    ).toBe('Ready');
  });

  it('lists them sorted, with kind, group, name, link and status', () => {
    expect(
      objectStatuses([
        deployment('b', 'er-ns', {}, { updatedReplicas: 2, availableReplicas: 2 }),
        deployment('a', 'er-ns', {}, {}),
      ]),
    ).toEqual([
      {
        kind: 'Deployment',
        group: 'apps',
        name: 'a',
        link: '/apis/apps/v1/namespaces/er-ns/deployments/a',
        status: 'InProgress',
      },
      {
        kind: 'Deployment',
        group: 'apps',
        name: 'b',
        link: '/apis/apps/v1/namespaces/er-ns/deployments/b',
        status: 'Ready',
      },
    ]);
  });
});
