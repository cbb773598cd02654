// Decisions shared by the provisioners: resource tags, how `image` is resolved, instance architecture,
// managed policy ARNs. Pure.
import type { NodeVolume } from '@keiko/api';
import {
  clusterOwnershipTag,
  TAG_CLUSTER_NAME,
  TAG_INSTANCE_GROUP,
  TAG_KUBERNETES_CLUSTER,
  TAG_NAMESPACE,
} from '../names';

/** A group's `tags` list: [{key: k, value: v}] (keys matched case-insensitively, as the original did). */
export function tagListToRecord(
  tags: ReadonlyArray<Record<string, string>> | undefined,
): Record<string, string> {
  const out: Record<string, string> = {};
  for (const t of tags ?? []) {
    let key: string | undefined;
    let value = '';
    for (const [k, v] of Object.entries(t)) {
      if (k.toLowerCase() === 'key') key = v;
      else if (k.toLowerCase() === 'value') value = v;
    }
    if (key) out[key] = value;
  }
  return out;
}

/** Every tag a group's scaling group (and so its instances) carries: ownership first, the user's last. */
export function groupTags(input: {
  clusterName: string;
  namespace: string;
  name: string;
  nameTag: string;
  userTags?: ReadonlyArray<Record<string, string>>;
}): Record<string, string> {
  return {
    Name: input.nameTag,
    [TAG_KUBERNETES_CLUSTER]: input.clusterName,
    [clusterOwnershipTag(input.clusterName)]: 'owned',
    [TAG_CLUSTER_NAME]: input.clusterName,
    [TAG_NAMESPACE]: input.namespace,
    [TAG_INSTANCE_GROUP]: input.name,
    ...tagListToRecord(input.userTags),
  };
}

/** How a group names its node image. */
export type ImageRef =
  { kind: 'ami'; id: string } | { kind: 'ssm'; parameter: string } | { kind: 'latest' } | { kind: 'missing' };

export function parseImage(image: string | undefined): ImageRef {
  const v = image?.trim() ?? '';
  if (v === '') return { kind: 'missing' };
  if (v.toLowerCase() === 'latest') return { kind: 'latest' };
  if (v.toLowerCase().startsWith('ssm://')) return { kind: 'ssm', parameter: v.slice('ssm://'.length) };
  return { kind: 'ami', id: v };
}

/** Graviton instance types (a1, m6g, c7gn, t4g...) need arm64 images. */
export function isArmInstanceType(instanceType: string | undefined): boolean {
  const family = (instanceType ?? '').split('.')[0] ?? '';
  return family === 'a1' || /^[a-z]+\d+[a-z]*g[a-z]*$/.test(family);
}

/** The public SSM parameter of the EKS-optimized Amazon Linux 2 AMI for a Kubernetes version. */
export function eksOptimizedAmiParameter(
  kubernetesVersion: string,
  instanceType: string | undefined,
): string {
  const os = isArmInstanceType(instanceType) ? 'amazon-linux-2-arm64' : 'amazon-linux-2';
  return `/aws/service/eks/optimized-ami/${kubernetesVersion}/${os}/recommended/image_id`;
}

export const IAM_POLICY_PREFIX = 'arn:aws:iam::aws:policy/';
export const DEFAULT_NODE_POLICIES = [
  'AmazonEKSWorkerNodePolicy',
  'AmazonEKS_CNI_Policy',
  'AmazonEC2ContainerRegistryReadOnly',
];

/**
 * The node role's managed policies: the three every EKS node needs, then the group's own. A bare name
 * is an AWS managed policy; a full ARN (the account's own policy) is kept as is.
 */
export function managedPolicyArns(extra: readonly string[] | undefined): string[] {
  const arns = [...DEFAULT_NODE_POLICIES, ...(extra ?? [])].map((p) =>
    p.startsWith('arn:') ? p : `${IAM_POLICY_PREFIX}${p}`,
  );
  return [...new Set(arns)];
}

/** EC2 block device mappings for a group's volumes (or one root volume of volSize GiB). */
export function blockDeviceMappings(
  volumes: readonly NodeVolume[] | undefined,
  volSize: number | undefined,
  defaultSize = 32,
) {
  const list: NodeVolume[] =
    volumes && volumes.length > 0
      ? [...volumes]
      : [{ name: '/dev/xvda', type: 'gp2', size: volSize && volSize > 0 ? volSize : defaultSize }];
  return list.map((v) => ({
    DeviceName: v.name,
    Ebs: {
      VolumeSize: v.size,
      VolumeType: v.type,
      DeleteOnTermination: v.deleteOnTermination ?? true,
      ...(v.encrypted !== undefined ? { Encrypted: v.encrypted } : {}),
      ...(v.iops !== undefined && v.iops > 0 ? { Iops: v.iops } : {}),
      ...(v.throughput !== undefined && v.throughput > 0 ? { Throughput: v.throughput } : {}),
      ...(v.snapshotId ? { SnapshotId: v.snapshotId } : {}),
    },
  }));
}

/** ISO 8601 duration (PT5M, PT1H30M, PT10S) in ms; undefined when it does not parse. */
export function parseIsoDuration(value: string | undefined): number | undefined {
  if (!value) return undefined;
  const m = /^PT(?:(\d+)H)?(?:(\d+)M)?(?:(\d+)S)?$/.exec(value);
  if (!m || value === 'PT') return undefined;
  return ((Number(m[1] ?? 0) * 60 + Number(m[2] ?? 0)) * 60 + Number(m[3] ?? 0)) * 1000;
}

/** `30%` of `total` rounded up (at least 1 when total > 0), or a plain number. */
export function resolveIntOrPercent(
  value: number | string | undefined,
  total: number,
  fallback: number,
): number {
  if (value === undefined || value === '') return fallback;
  if (typeof value === 'number') return value;
  const m = /^(\d+)%$/.exec(value);
  if (m) return Math.max(total > 0 ? 1 : 0, Math.ceil((Number(m[1]) / 100) * total));
  const n = Number(value);
  return Number.isFinite(n) ? n : fallback;
}
