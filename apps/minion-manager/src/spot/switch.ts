// How a group is told to buy the other market (pure): a MixedInstancesPolicy with the on-demand percentage
// set (0 for spot, 100 for on-demand, price-capacity-optimized spot allocation, the group's base capacity
// and overrides kept), or a launch-template version with or without spot market options for a single-type
// launch-template group. Launch configurations are never written.
import type { MixedInstancesPolicy, ScalingGroup } from '@keiko/aws';
import type { Market, Mechanism } from './plan';

export const SPOT_ALLOCATION_STRATEGY = 'price-capacity-optimized';

export function mechanismOf(group: ScalingGroup): Mechanism {
  if (group.mixedInstancesPolicy) return 'mixed-instances';
  if (group.launchTemplate) return 'launch-template';
  return 'launch-configuration';
}

/** The market the group's configuration buys: spot when nothing above the base is on-demand. */
export function configuredMarket(group: ScalingGroup, templateMarketType: string | undefined): Market {
  const policy = group.mixedInstancesPolicy;
  if (policy)
    return (policy.instancesDistribution?.onDemandPercentageAboveBaseCapacity ?? 100) === 0
      ? 'spot'
      : 'on-demand';
  return templateMarketType === 'spot' ? 'spot' : 'on-demand';
}

/** The group's policy buying `to`, everything else kept. */
export function mixedPolicyFor(policy: MixedInstancesPolicy, to: Market): MixedInstancesPolicy {
  const d = policy.instancesDistribution ?? {};
  return {
    ...policy,
    instancesDistribution: {
      ...d,
      onDemandBaseCapacity: d.onDemandBaseCapacity ?? 0,
      onDemandPercentageAboveBaseCapacity: to === 'spot' ? 0 : 100,
      spotAllocationStrategy: SPOT_ALLOCATION_STRATEGY,
    },
  };
}

/** Launch-template data buying `to`: the spot market options added, or removed. */
export function templateDataFor<T extends { InstanceMarketOptions?: unknown }>(data: T, to: Market): T {
  const { InstanceMarketOptions: _dropped, ...rest } = data;
  void _dropped;
  if (to === 'on-demand') return rest as T;
  return {
    ...rest,
    InstanceMarketOptions: { MarketType: 'spot', SpotOptions: { SpotInstanceType: 'one-time' } },
  } as T;
}

/** The instance type a group's prices are looked up for: its first override, else its template's. */
export function primaryInstanceType(
  group: ScalingGroup,
  templateInstanceType: string | undefined,
): string | undefined {
  return (
    group.mixedInstancesPolicy?.overrides.find((o) => o.instanceType)?.instanceType ?? templateInstanceType
  );
}
