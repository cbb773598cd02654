// spec.eks.configuration.mixedInstancesPolicy.instancePool: the mixed instances policy's instance types
// derived from the group's instanceType instead of listed. As in keikoproj/instance-manager, the one pool
// is SubFamilyFlexible: the instanceType first, then every type of the same family and generation (any
// attribute letters: m5 -> m5a, m5ad, m5d, m5dn, m5n, m5zn) with the same default vCPUs, the same memory
// and the same processor architectures — types that run the group's image and pods alike. Each counts
// for one unit of capacity, like the instanceType. Deriving is pure (subFamilyFlexibleTypes); the catalog
// comes from DescribeInstanceTypes (cached for hours by the EC2 port).
//
// On purpose, unlike the original: the family is the letters before the generation number (`inf`, `im`,
// `trn`), not the first letter only, so inf1 is not taken for an i-family type; the order is the
// instanceType, then by name (the original followed the API's order), so renderings do not churn; and at
// most 40 types (AWS's limit on a policy's overrides).
import type { InstanceTypeInfo } from '@keiko/aws';
import type { Resolution } from '../resolve';
import type { GroupContext } from '../types';

export const INSTANCE_POOLS = ['SubFamilyFlexible'] as const;
export type InstancePoolName = (typeof INSTANCE_POOLS)[number];

/** AWS takes at most this many launch template overrides in a mixed instances policy. */
export const MAX_POLICY_OVERRIDES = 40;

/** The pool a spec names (case-insensitive, as the original), or undefined when there is none by that name. */
export function instancePoolName(value: string): InstancePoolName | undefined {
  return INSTANCE_POOLS.find((p) => p.toLowerCase() === value.trim().toLowerCase());
}

export interface InstanceTypeName {
  /** Letters before the generation: `m`, `c`, `inf`, `im`, `trn`... */
  family: string;
  generation: string;
  /** What follows the generation in the class: `a`, `dn`, `zn`, `i-flex`... */
  attributes: string;
  size: string;
}

/** `m5dn.xlarge` -> m / 5 / dn / xlarge. Undefined for names outside that pattern (`u-6tb1.metal`). */
export function parseInstanceTypeName(instanceType: string): InstanceTypeName | undefined {
  const m = /^([a-z]+)(\d+)([a-z0-9-]*)\.([a-z0-9-]+)$/.exec(instanceType.trim().toLowerCase());
  if (!m) return undefined;
  return { family: m[1] ?? '', generation: m[2] ?? '', attributes: m[3] ?? '', size: m[4] ?? '' };
}

function sameArchitectures(a: readonly string[], b: readonly string[]): boolean {
  return a.length === b.length && a.every((x) => b.includes(x));
}

/**
 * The SubFamilyFlexible pool of `primary` in `catalog` (the region's instance types): `primary` first,
 * then its siblings by name. A problem when `primary` is not in the catalog (nothing to derive from).
 */
export function subFamilyFlexibleTypes(
  primary: string,
  catalog: readonly InstanceTypeInfo[],
): { types: string[] } | { problem: string } {
  const wanted = catalog.find((t) => t.instanceType === primary);
  if (!wanted)
    return {
      problem: `instance type ${primary} is not offered in this region, so instancePool SubFamilyFlexible has nothing to derive types from`,
    };
  const name = parseInstanceTypeName(primary);
  if (!name) return { types: [primary] };
  const siblings = catalog
    .filter((t) => {
      if (t.instanceType === primary) return false;
      const other = parseInstanceTypeName(t.instanceType);
      return (
        !!other &&
        other.family === name.family &&
        other.generation === name.generation &&
        t.vcpus === wanted.vcpus &&
        t.memoryMiB === wanted.memoryMiB &&
        sameArchitectures(t.architectures, wanted.architectures)
      );
    })
    .map((t) => t.instanceType)
    .sort();
  return { types: [primary, ...siblings].slice(0, MAX_POLICY_OVERRIDES) };
}

export interface InstancePoolResolution extends Resolution<string[]> {
  warnings: string[];
}

/**
 * The instance types `mixedInstancesPolicy.instancePool` stands for, or no value when the group has no
 * pool (or lists instanceTypes, which win, as in the original). `field` is `spec.eks.configuration`.
 * Reads only (DescribeInstanceTypes); AWS failures are thrown, like the other resolutions.
 */
export async function resolveInstancePool(ctx: GroupContext, field: string): Promise<InstancePoolResolution> {
  const config = ctx.ig.spec.eks?.configuration;
  const policy = config?.mixedInstancesPolicy;
  const poolField = `${field}.mixedInstancesPolicy.instancePool`;
  if (!policy?.instancePool) return { problems: [], warnings: [] };
  if (policy.instanceTypes?.length)
    return {
      problems: [],
      warnings: [`${poolField} is ignored: ${field}.mixedInstancesPolicy.instanceTypes lists the types`],
    };
  const pool = instancePoolName(policy.instancePool);
  if (!pool)
    return {
      problems: [
        {
          field: poolField,
          message: `unknown instance pool ${policy.instancePool} (known: ${INSTANCE_POOLS.join(', ')})`,
        },
      ],
      warnings: [],
    };
  // A missing instanceType is reported by the provisioner ("required").
  if (!config?.instanceType) return { problems: [], warnings: [] };
  const derived = subFamilyFlexibleTypes(config.instanceType, await ctx.aws.ec2.describeInstanceTypes());
  if ('problem' in derived)
    return { problems: [{ field: `${field}.instanceType`, message: derived.problem }], warnings: [] };
  return { value: derived.types, problems: [], warnings: [] };
}
