import type * as k8s from '@kubernetes/client-node';
import type { KubeClient, ResourceType } from './client';

export function hasFinalizer(obj: k8s.KubernetesObject, finalizer: string): boolean {
  return obj.metadata?.finalizers?.includes(finalizer) ?? false;
}

export function isBeingDeleted(obj: k8s.KubernetesObject): boolean {
  return !!obj.metadata?.deletionTimestamp;
}

/**
 * Adds `finalizer` (no-op when present). Call before the first external side effect, so deletion
 * always passes through cleanup. The JSON patch tests the list it read: a concurrent change makes it
 * fail (422/409) rather than drop someone else's finalizer. Returns the updated object.
 */
export async function addFinalizer<T extends k8s.KubernetesObject>(
  client: KubeClient,
  rt: ResourceType,
  obj: T,
  finalizer: string,
): Promise<T> {
  if (hasFinalizer(obj, finalizer)) return obj;
  const current = obj.metadata?.finalizers;
  const patch = current
    ? [
        { op: 'test', path: '/metadata/finalizers', value: current },
        { op: 'add', path: '/metadata/finalizers/-', value: finalizer },
      ]
    : [
        { op: 'test', path: '/metadata/resourceVersion', value: obj.metadata?.resourceVersion },
        { op: 'add', path: '/metadata/finalizers', value: [finalizer] },
      ];
  return client.patch<T>(rt, obj.metadata?.namespace, obj.metadata?.name ?? '', patch, { type: 'json' });
}

/** Removes `finalizer` (no-op when absent), leaving every other finalizer in place. */
export async function removeFinalizer<T extends k8s.KubernetesObject>(
  client: KubeClient,
  rt: ResourceType,
  obj: T,
  finalizer: string,
): Promise<T> {
  const current = obj.metadata?.finalizers ?? [];
  const i = current.indexOf(finalizer);
  if (i < 0) return obj;
  const patch = [
    { op: 'test', path: `/metadata/finalizers/${i}`, value: finalizer },
    { op: 'remove', path: `/metadata/finalizers/${i}` },
  ];
  return client.patch<T>(rt, obj.metadata?.namespace, obj.metadata?.name ?? '', patch, { type: 'json' });
}
