// The eks provisioner's warm pool (spec.eks.warmPool): what the spec wants and the call that takes the
// group there. Pure.
//
// A warm pool keeps pre-initialized (stopped) instances beside the group; scaling out draws on them.
// Its instances are not in service: they report `Warmed:*` lifecycle states (DescribeWarmPool) and are
// never nodes of the group (see instancegroup/fleet.ts).
import type { FieldProblem, InstanceGroup } from '@keiko/api';
import type { WarmPoolConfig } from '@keiko/aws';

export const WARM_POOL_FIELD = 'spec.eks.warmPool';

/** What PutWarmPool is given: maxGroupPreparedCapacity -1 follows the group's maximum size. */
export interface DesiredWarmPool {
  minSize: number;
  maxGroupPreparedCapacity: number;
}

/**
 * Why the spec's warm pool cannot be applied: AWS refuses warm pools for groups with a mixed instances
 * policy or that launch spot instances. Empty when it can (or the spec has none).
 */
export function warmPoolConflicts(ig: InstanceGroup): FieldProblem[] {
  const eks = ig.spec.eks;
  if (!eks?.warmPool) return [];
  const config = eks.configuration;
  const out: FieldProblem[] = [];
  if (config?.mixedInstancesPolicy)
    out.push({
      field: WARM_POOL_FIELD,
      message:
        'AWS does not allow a warm pool on a group with configuration.mixedInstancesPolicy; the warm pool is not applied',
    });
  else if (config?.spotPrice)
    out.push({
      field: WARM_POOL_FIELD,
      message:
        'AWS does not allow a warm pool on a group that launches spot instances (configuration.spotPrice); the warm pool is not applied',
    });
  return out;
}

/** The warm pool the group should have; undefined when none (no warmPool, or one AWS would refuse). */
export function desiredWarmPool(ig: InstanceGroup): DesiredWarmPool | undefined {
  const pool = ig.spec.eks?.warmPool;
  if (!pool || warmPoolConflicts(ig).length > 0) return undefined;
  const max = pool.maxSize;
  return { minSize: pool.minSize ?? 0, maxGroupPreparedCapacity: max === undefined || max < 0 ? -1 : max };
}

export type WarmPoolAction =
  | { action: 'none' }
  | { action: 'put'; config: DesiredWarmPool; create: boolean }
  | { action: 'delete' }
  /** A deleted pool is still being emptied (PendingDelete): AWS refuses a new one until it is gone. */
  | { action: 'wait' };

/** The call that turns the group's pool (`current`, from DescribeWarmPool) into `desired`. */
export function warmPoolAction(
  current: WarmPoolConfig | undefined,
  desired: DesiredWarmPool | undefined,
): WarmPoolAction {
  const deleting = current?.status === 'PendingDelete';
  if (!desired) return current && !deleting ? { action: 'delete' } : { action: 'none' };
  if (deleting) return { action: 'wait' };
  if (!current) return { action: 'put', config: desired, create: true };
  // AWS reports an unset (or -1) maximum as absent, and an unset minimum as 0.
  const currentMax =
    current.maxGroupPreparedCapacity === undefined || current.maxGroupPreparedCapacity < 0
      ? -1
      : current.maxGroupPreparedCapacity;
  const same = (current.minSize ?? 0) === desired.minSize && currentMax === desired.maxGroupPreparedCapacity;
  return same ? { action: 'none' } : { action: 'put', config: desired, create: false };
}

/** `min 1, max the group's maximum` — for events and messages. */
export function describeWarmPool(pool: DesiredWarmPool): string {
  return `min ${pool.minSize}, max ${pool.maxGroupPreparedCapacity < 0 ? "the group's maximum" : String(pool.maxGroupPreparedCapacity)}`;
}
