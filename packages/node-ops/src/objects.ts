import type { V1ObjectMeta, V1OwnerReference } from '@kubernetes/client-node';

/** `namespace/name`, how pods and PDBs are named in results and messages. */
export function objectKey(meta: V1ObjectMeta | undefined): string {
  return meta?.namespace ? `${meta.namespace}/${meta.name ?? ''}` : (meta?.name ?? '');
}

/** The ownerReference with controller: true, as metav1.GetControllerOf. */
export function controllerOf(meta: V1ObjectMeta | undefined): V1OwnerReference | undefined {
  return meta?.ownerReferences?.find((ref) => ref.controller === true);
}

/**
 * Milliseconds since the epoch of an API timestamp. Objects read through KubeClient are plain JSON,
 * so a field typed `Date` by client-node actually holds an RFC 3339 string.
 */
export function timestampMs(value: Date | string | undefined): number | undefined {
  if (value === undefined || value === null) return undefined;
  const ms = value instanceof Date ? value.getTime() : Date.parse(value);
  return Number.isNaN(ms) ? undefined : ms;
}

/** RFC 1123 subdomain, what a Node name must be. Checked before a name goes into a field selector. */
const DNS_SUBDOMAIN = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;

export function assertNodeName(name: string, what: string): void {
  if (typeof name !== 'string' || name.length === 0 || name.length > 253 || !DNS_SUBDOMAIN.test(name)) {
    throw new Error(`${what}: ${JSON.stringify(name)} is not a valid node name`);
  }
}
