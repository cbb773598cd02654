import * as k8s from '@kubernetes/client-node';
import { createSimulatedNode } from './nodes';

const ZONES = ['us-west-2a', 'us-west-2b', 'us-west-2c'];

/** Registers `count` simulated nodes (sandbox-node-0..) spread over three zones, if not there yet. */
export async function seedDemoCluster(kc: k8s.KubeConfig, count: number): Promise<void> {
  const core = kc.makeApiClient(k8s.CoreV1Api);
  const existing = new Set((await core.listNode()).items.map((n) => n.metadata?.name));
  for (let i = 0; i < count; i++) {
    const name = `sandbox-node-${i}`;
    if (existing.has(name)) continue;
    await createSimulatedNode(kc, { name, zone: ZONES[i % ZONES.length], instanceType: 'm5.large' });
  }
}

/** A small Deployment so that a fresh cluster shows pods scheduled and Running on simulated nodes. */
export async function demoWorkload(kc: k8s.KubeConfig): Promise<void> {
  const apps = kc.makeApiClient(k8s.AppsV1Api);
  const body: k8s.V1Deployment = {
    metadata: { name: 'hello', namespace: 'default', labels: { app: 'hello' } },
    spec: {
      replicas: 2,
      selector: { matchLabels: { app: 'hello' } },
      template: {
        metadata: { labels: { app: 'hello' } },
        spec: { containers: [{ name: 'hello', image: 'registry.k8s.io/pause:3.10' }] },
      },
    },
  };
  try {
    await apps.createNamespacedDeployment({ namespace: 'default', body });
  } catch (err) {
    if ((err as { code?: number }).code !== 409) throw err;
  }
}
