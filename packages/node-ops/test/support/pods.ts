// Pod fixtures for the pure tests: just the fields the drain rules read.
import type { V1OwnerReference, V1Pod, V1Volume } from '@kubernetes/client-node';

export const NODE = 'ip-10-0-1-5.us-west-2.compute.internal';

export function owner(kind: string, name: string): V1OwnerReference {
  return { apiVersion: kind === 'Node' ? 'v1' : 'apps/v1', kind, name, uid: `${name}-uid`, controller: true };
}

export function pod(
  name: string,
  opts: {
    namespace?: string;
    owner?: V1OwnerReference;
    node?: string | null;
    phase?: string;
    volumes?: V1Volume[];
    annotations?: Record<string, string>;
    labels?: Record<string, string>;
    deletionTimestamp?: string;
  } = {},
): V1Pod {
  return {
    metadata: {
      name,
      namespace: opts.namespace ?? 'shop',
      uid: `${name}-uid`,
      ...(opts.owner ? { ownerReferences: [opts.owner] } : {}),
      ...(opts.annotations ? { annotations: opts.annotations } : {}),
      ...(opts.labels ? { labels: opts.labels } : {}),
      ...(opts.deletionTimestamp ? { deletionTimestamp: opts.deletionTimestamp as unknown as Date } : {}),
    },
    spec: {
      ...(opts.node === null ? {} : { nodeName: opts.node ?? NODE }),
      containers: [{ name: 'app', image: 'app' }],
      ...(opts.volumes ? { volumes: opts.volumes } : {}),
    },
    status: { phase: opts.phase ?? 'Running' },
  };
}

export const replicaSetPod = (name: string, extra: Parameters<typeof pod>[1] = {}): V1Pod =>
  pod(name, { owner: owner('ReplicaSet', 'web-7d9'), ...extra });
