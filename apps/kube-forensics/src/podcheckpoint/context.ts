// Reading what a capture records about a pod besides its containers: the pod, its owner chain, its node,
// its Events and its container statuses — plain API reads, as the controller's ServiceAccount.
import type { KubeClient, ResourceType } from '@keiko/kube-runtime';
import { ResourceTypes } from '@keiko/kube-runtime';
import type * as k8s from '@kubernetes/client-node';

const OWNER_TYPES: Record<string, ResourceType> = {
  ReplicaSet: { group: 'apps', version: 'v1', plural: 'replicasets', kind: 'ReplicaSet', namespaced: true },
  Deployment: ResourceTypes.Deployment,
  StatefulSet: {
    group: 'apps',
    version: 'v1',
    plural: 'statefulsets',
    kind: 'StatefulSet',
    namespaced: true,
  },
  DaemonSet: { group: 'apps', version: 'v1', plural: 'daemonsets', kind: 'DaemonSet', namespaced: true },
  Job: { group: 'batch', version: 'v1', plural: 'jobs', kind: 'Job', namespaced: true },
  CronJob: { group: 'batch', version: 'v1', plural: 'cronjobs', kind: 'CronJob', namespaced: true },
  ReplicationController: {
    group: '',
    version: 'v1',
    plural: 'replicationcontrollers',
    kind: 'ReplicationController',
    namespaced: true,
  },
};

/** The resource types the owner chain is read from (the chart's RBAC lists them: charts/test derives it). */
export const OWNER_RESOURCE_TYPES = Object.values(OWNER_TYPES);

/**
 * The chain of controller owners above the pod (ReplicaSet, Deployment, ...), nearest first. An owner of
 * a kind it cannot read is recorded by reference only.
 */
export async function ownerChain(client: KubeClient, pod: k8s.V1Pod): Promise<unknown[]> {
  const out: unknown[] = [];
  let refs = pod.metadata?.ownerReferences ?? [];
  const ns = pod.metadata?.namespace;
  for (let depth = 0; depth < 5 && refs.length; depth++) {
    const ref = refs.find((r) => r.controller) ?? refs[0];
    if (!ref) break;
    const rt = OWNER_TYPES[ref.kind];
    const obj = rt ? await client.get<k8s.KubernetesObject>(rt, ns, ref.name) : undefined;
    if (!obj) {
      out.push({ ownerReference: ref, note: rt ? 'not found' : 'kind not read by kube-forensics' });
      break;
    }
    out.push(obj);
    refs = obj.metadata?.ownerReferences ?? [];
  }
  return out;
}

/** The Events about the pod (by its uid), oldest first. */
export async function podEvents(client: KubeClient, pod: k8s.V1Pod): Promise<unknown[]> {
  const list = await client.listAll<k8s.CoreV1Event>(ResourceTypes.Event, {
    namespace: pod.metadata?.namespace,
    fieldSelector: `involvedObject.uid=${pod.metadata?.uid}`,
  });
  return list.items.sort((a, b) =>
    String(a.lastTimestamp ?? a.eventTime ?? '').localeCompare(String(b.lastTimestamp ?? b.eventTime ?? '')),
  );
}

export function containerStatuses(pod: k8s.V1Pod): unknown {
  return {
    containerStatuses: pod.status?.containerStatuses ?? [],
    initContainerStatuses: pod.status?.initContainerStatuses ?? [],
    ephemeralContainerStatuses: pod.status?.ephemeralContainerStatuses ?? [],
  };
}

export async function kubernetesVersion(client: KubeClient): Promise<string | undefined> {
  try {
    return (await client.request<{ gitVersion?: string }>('GET', '/version')).gitVersion;
  } catch {
    return undefined;
  }
}
