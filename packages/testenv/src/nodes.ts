import * as k8s from '@kubernetes/client-node';

/**
 * What the test harness registers in place of a kubelet joining the cluster. KWOK then keeps the
 * node Ready (heartbeats, lease) and runs the pods scheduled to it.
 */
export interface SimulatedNode {
  name: string;
  /** e.g. aws:///us-west-2a/i-0123 — how Keiko maps nodes to EC2 instances. */
  providerID?: string;
  zone?: string;
  instanceType?: string;
  labels?: Record<string, string>;
  taints?: k8s.V1Taint[];
  /** Keep the status the test sets (KWOK leaves it alone), e.g. to make a node NotReady. */
  customStatus?: boolean;
}

export function simulatedNodeManifest(n: SimulatedNode): k8s.V1Node {
  return {
    apiVersion: 'v1',
    kind: 'Node',
    metadata: {
      name: n.name,
      labels: {
        'kubernetes.io/hostname': n.name,
        'kubernetes.io/os': 'linux',
        'kubernetes.io/arch': 'amd64',
        type: 'kwok',
        ...(n.zone ? { 'topology.kubernetes.io/zone': n.zone } : {}),
        ...(n.instanceType ? { 'node.kubernetes.io/instance-type': n.instanceType } : {}),
        ...n.labels,
      },
      annotations: {
        'kwok.x-k8s.io/node': 'fake',
        ...(n.customStatus ? { 'kwok.x-k8s.io/status': 'custom' } : {}),
      },
    },
    spec: {
      ...(n.providerID ? { providerID: n.providerID } : {}),
      ...(n.taints ? { taints: n.taints } : {}),
    },
    status: {
      allocatable: { cpu: '32', memory: '256Gi', pods: '110' },
      capacity: { cpu: '32', memory: '256Gi', pods: '110' },
    },
  };
}

/** Registers a simulated node and waits until it is Ready (unless customStatus). */
export async function createSimulatedNode(
  kc: k8s.KubeConfig,
  n: SimulatedNode,
  timeoutMs = 30_000,
): Promise<k8s.V1Node> {
  const core = kc.makeApiClient(k8s.CoreV1Api);
  await core.createNode({ body: simulatedNodeManifest(n) });
  if (n.customStatus) return core.readNode({ name: n.name });
  return waitForNodeReady(kc, n.name, timeoutMs);
}

export function isNodeReady(node: k8s.V1Node): boolean {
  return node.status?.conditions?.some((c) => c.type === 'Ready' && c.status === 'True') ?? false;
}

export async function waitForNodeReady(
  kc: k8s.KubeConfig,
  name: string,
  timeoutMs = 30_000,
): Promise<k8s.V1Node> {
  const core = kc.makeApiClient(k8s.CoreV1Api);
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const node = await core.readNode({ name });
    if (isNodeReady(node)) return node;
    if (Date.now() > deadline) throw new Error(`node ${name} not Ready after ${timeoutMs / 1000}s`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

/**
 * The taints a node registered with (the kubelet's --register-with-taints): without those the node
 * lifecycle controller adds and lifts on its own schedule (node.kubernetes.io/not-ready, unreachable...),
 * which a busy test machine may not have lifted yet when a node just turned Ready.
 */
export function registeredTaints(node: { spec?: { taints?: k8s.V1Taint[] } }): k8s.V1Taint[] {
  return (node.spec?.taints ?? []).filter((t) => !t.key.startsWith('node.kubernetes.io/'));
}
