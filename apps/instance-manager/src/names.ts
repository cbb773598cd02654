// Names of everything instance-manager creates for a group. Deterministic from the group's identity
// (cluster, namespace, name), so a restarted controller — or a deletion that arrives before any status
// was written — finds every resource again without having recorded it.
import { createHash } from 'node:crypto';
import { TAG_CLUSTER_NAME, TAG_INSTANCE_GROUP, TAG_NAMESPACE } from '@keiko/api';

/** Tags on every cloud resource of a group (the original instance-manager's keys, so existing resources are found). */
export { TAG_CLUSTER_NAME, TAG_INSTANCE_GROUP, TAG_NAMESPACE } from '@keiko/api';
export const TAG_KUBERNETES_CLUSTER = 'KubernetesCluster';
export const clusterOwnershipTag = (clusterName: string) => `kubernetes.io/cluster/${clusterName}`;

/** Annotations and labels the controller reads or writes. */
export const FINALIZER = 'finalizer.instancegroups.keikoproj.io';
export const LOCK_UPGRADES_ANNOTATION = 'instancemgr.keikoproj.io/lock-upgrades';
export const CONFIG_EXCLUDED_ANNOTATION = 'instancemgr.keikoproj.io/config-excluded';
export const ROLE_LABEL = 'node.kubernetes.io/role';
export const LIFECYCLE_LABEL = 'instancemgr.keikoproj.io/lifecycle';
export const INSTANCE_GROUP_LABEL = 'instancemgr.keikoproj.io/instancegroup';

export function md5(text: string): string {
  return createHash('md5').update(text).digest('hex');
}

/** `<cluster>-<namespace>-<name>`: the original's resource prefix (scaling group, role, stack). */
export function resourcePrefix(clusterName: string, namespace: string, name: string): string {
  return `${clusterName}-${namespace}-${name}`;
}

/**
 * CloudFormation stack names: [a-zA-Z][-a-zA-Z0-9]*, at most 128 characters. Anything else becomes a
 * dash; an over-long name keeps its start and gets a hash suffix so two long names never collide.
 */
export function stackName(clusterName: string, namespace: string, name: string): string {
  let n = resourcePrefix(clusterName, namespace, name).replace(/[^a-zA-Z0-9-]/g, '-');
  if (!/^[a-zA-Z]/.test(n)) n = `ig-${n}`;
  return n.length <= 128 ? n : `${n.slice(0, 119)}-${md5(n).slice(0, 8)}`;
}

/** IAM role and instance profile names: at most 64 characters (the original hashed longer ones). */
export function roleName(clusterName: string, namespace: string, name: string): string {
  const n = resourcePrefix(clusterName, namespace, name).replace(/[^\w+=,.@-]/g, '-');
  return n.length <= 63 ? n : md5(n);
}

/** The owner string put on nodes this controller cordons, and on aws-auth reference counts. */
export function ownerOf(namespace: string, name: string): string {
  return `instance-manager/${namespace}/${name}`;
}

/** `namespace/name`. */
export function groupKey(namespace: string, name: string): string {
  return `${namespace}/${name}`;
}

/** Who a group is, as its cloud resources' tags say (the original's tag keys). */
export interface GroupIdentity {
  clusterName: string;
  namespace: string;
  name: string;
}

export function identityTags(id: GroupIdentity): Record<string, string> {
  return { [TAG_CLUSTER_NAME]: id.clusterName, [TAG_NAMESPACE]: id.namespace, [TAG_INSTANCE_GROUP]: id.name };
}

/**
 * Whether a resource's tags name another group. `<cluster>-<namespace>-<name>` is ambiguous (cluster `c`,
 * namespace `a-b` and cluster `c-a`, namespace `b` give one name). A resource without identity tags — made
 * before they were written — is taken as the group's own, as it always was.
 */
export function ownedByAnotherGroup(
  tags: Readonly<Record<string, string>> | undefined,
  id: GroupIdentity,
): boolean {
  const t = tags ?? {};
  const differs = (key: string, want: string) => t[key] !== undefined && t[key] !== want;
  return (
    differs(TAG_NAMESPACE, id.namespace) ||
    differs(TAG_INSTANCE_GROUP, id.name) ||
    differs(TAG_CLUSTER_NAME, id.clusterName)
  );
}

/** The original's name with a suffix from the group's identity: unambiguous, still within `maxLength`. */
export function disambiguatedName(legacy: string, id: GroupIdentity, maxLength: number): string {
  const suffix = `-${md5(`${id.clusterName}/${id.namespace}/${id.name}`).slice(0, 8)}`;
  return `${legacy.slice(0, maxLength - suffix.length)}${suffix}`;
}

/**
 * The name of a group's main cloud resource: the one its status recorded; else the original's, so groups
 * made by the original instance-manager (or before this rule) keep theirs — unless a resource by that name
 * belongs to another group, then the disambiguated one. `tagsOf` answers undefined when nothing has the name.
 */
export async function resolveResourceName(input: {
  recorded: string | undefined;
  legacy: string;
  id: GroupIdentity;
  maxLength: number;
  tagsOf: (name: string) => Promise<Readonly<Record<string, string>> | undefined>;
}): Promise<string> {
  if (input.recorded) return input.recorded;
  const tags = await input.tagsOf(input.legacy);
  return tags && ownedByAnotherGroup(tags, input.id)
    ? disambiguatedName(input.legacy, input.id, input.maxLength)
    : input.legacy;
}
