import { eventually } from '@keiko/testenv';

export { eventually };
// Helpers for the tests against the real test cluster (kube-apiserver + controller-manager +
// scheduler + KWOK), started or reused by packages/testenv's jest global setup.
import type { V1Deployment, V1Node, V1Pod, V1Taint, V1Toleration } from '@kubernetes/client-node';
import { KubeClient, ResourceTypes, type ResourceType } from '@keiko/kube-runtime';
import { createSimulatedNode, kubeConfigFromEnv } from '@keiko/testenv';

export const kc = kubeConfigFromEnv();
export const client = new KubeClient(kc);

export const DaemonSetType: ResourceType = {
  group: 'apps',
  version: 'v1',
  plural: 'daemonsets',
  kind: 'DaemonSet',
  namespaced: true,
};

/** Test nodes carry this label and a matching NoSchedule taint so only the test's own pods land on them. */
export const TEST_NODE_KEY = 'keiko.io/node-ops-test';

export function testTaint(scope: string): V1Taint {
  return { key: TEST_NODE_KEY, value: scope, effect: 'NoSchedule' };
}

export function testToleration(scope: string): V1Toleration {
  return { key: TEST_NODE_KEY, operator: 'Equal', value: scope, effect: 'NoSchedule' };
}

export function uniqueName(prefix: string): string {
  return `${prefix}-${Date.now().toString(36)}-${Math.random().toString(36).slice(2, 6)}`;
}

/** A namespace with its default ServiceAccount (created by the controller-manager; pods need it). */
export async function createNamespace(name: string): Promise<void> {
  await client.create(ResourceTypes.Namespace, { apiVersion: 'v1', kind: 'Namespace', metadata: { name } });
  await eventually(`default ServiceAccount in ${name}`, () =>
    client.get(ResourceTypes.ServiceAccount, name, 'default'),
  );
}

export async function createTestNode(
  name: string,
  scope: string,
  opts: { labels?: Record<string, string>; customStatus?: boolean } = {},
): Promise<V1Node> {
  return createSimulatedNode(kc, {
    name,
    providerID: `aws:///us-west-2a/i-0${Math.floor(Math.random() * 2 ** 48)
      .toString(16)
      .padStart(12, '0')}`,
    labels: { [TEST_NODE_KEY]: scope, ...opts.labels },
    taints: [testTaint(scope)],
    customStatus: opts.customStatus,
  });
}

/**
 * Deletes the namespace, waits for KWOK to finish its pods, then deletes the nodes. In the other
 * order the pods would outlive their nodes until the pod garbage collector gets to them, and the
 * namespace would hang in Terminating meanwhile.
 */
export async function cleanUp(namespace: string | undefined, nodes: string[]): Promise<void> {
  if (namespace) {
    await client.delete(ResourceTypes.Namespace, undefined, namespace).catch(() => undefined);
    await eventually(
      `pods of ${namespace} gone`,
      async () => (await client.list(ResourceTypes.Pod, { namespace })).items.length === 0,
      30_000,
    ).catch(() => undefined);
  }
  for (const name of nodes) await client.delete(ResourceTypes.Node, undefined, name).catch(() => undefined);
}

export async function podsOf(namespace: string, labelSelector: string): Promise<V1Pod[]> {
  return (await client.list<V1Pod>(ResourceTypes.Pod, { namespace, labelSelector })).items;
}

export const isRunning = (p: V1Pod): boolean =>
  p.status?.phase === 'Running' && !p.metadata?.deletionTimestamp;

/** A Deployment spreading `replicas` pods one per test node (required anti-affinity on hostname). */
export function spreadDeployment(
  namespace: string,
  name: string,
  scope: string,
  replicas: number,
): V1Deployment {
  const labels = { app: name };
  return {
    apiVersion: 'apps/v1',
    kind: 'Deployment',
    metadata: { name, namespace },
    spec: {
      replicas,
      selector: { matchLabels: labels },
      template: {
        metadata: { labels },
        spec: {
          nodeSelector: { [TEST_NODE_KEY]: scope },
          tolerations: [testToleration(scope)],
          affinity: {
            podAntiAffinity: {
              requiredDuringSchedulingIgnoredDuringExecution: [
                { labelSelector: { matchLabels: labels }, topologyKey: 'kubernetes.io/hostname' },
              ],
            },
          },
          terminationGracePeriodSeconds: 5,
          containers: [{ name: 'app', image: 'registry.k8s.io/pause:3.10' }],
        },
      },
    },
  };
}
