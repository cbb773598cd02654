// minion-manager's decisions, as pure functions: which groups it manages (upstream's tags), which market a
// group should buy (prices, threshold with hysteresis, capacity-failure cool-down), what to do about it
// (switch, recommend, report) and which instances to replace now (budget, stability, not-terminate).
// No I/O here: the controller gathers the facts and carries out the plan.

export const TAG_CLUSTER = 'KubernetesCluster';
export const TAG_MODE = 'k8s-minion-manager';
export const TAG_NOT_TERMINATE = 'k8s-minion-manager/not-terminate';
/** instance-manager's ownership tag (packages/api TAG_INSTANCE_GROUP): such groups are only recommended to. */
export const TAG_INSTANCE_GROUP = 'instancegroups.keikoproj.io/InstanceGroup';
/** Upstream's event: reason and the kind of the object it is about (named after the group). */
export const RECOMMENDATION_REASON = 'SpotRecommendationGiven';
export const RECOMMENDATION_KIND = 'SpotPriceInfo';

export type Market = 'spot' | 'on-demand';
/** How the group picks its instances: only the first two are switched. */
export type Mechanism = 'mixed-instances' | 'launch-template' | 'launch-configuration';

export type OptIn =
  { managed: false } | { managed: true; wantSpot: boolean; notTerminate: boolean; warning?: string };

/** Which groups minion-manager manages, from upstream's tags; an unknown mode value means no-spot. */
export function readOptIn(tags: Readonly<Record<string, string>>, clusterName: string): OptIn {
  const mode = tags[TAG_MODE];
  if (tags[TAG_CLUSTER] !== clusterName || mode === undefined) return { managed: false };
  const notTerminate = (tags[TAG_NOT_TERMINATE] ?? '').trim().toLowerCase() === 'true';
  const value = mode.trim().toLowerCase();
  if (value === 'use-spot') return { managed: true, wantSpot: true, notTerminate };
  if (value === 'no-spot') return { managed: true, wantSpot: false, notTerminate };
  return {
    managed: true,
    wantSpot: false,
    notTerminate,
    warning: `tag ${TAG_MODE}="${mode}" is neither use-spot nor no-spot: treated as no-spot`,
  };
}

export interface DecisionSettings {
  /** Spot when spot <= threshold x on-demand (upstream 0.8). */
  threshold: number;
  /** Once on spot, stay until spot > (threshold + hysteresis) x on-demand: prices at the boundary do not flap. */
  hysteresis: number;
  /** How long a capacity failure keeps a group on on-demand. */
  cooldownMs: number;
}

export interface PriceFacts {
  /** The highest current spot price across the group's AZs (upstream's rule), USD/hour. */
  spot?: number;
  onDemand?: number;
}

export interface Decision {
  market: Market;
  reason: string;
  /** A capacity cool-down in force until then (epoch ms). */
  cooldownUntil?: number;
}

/** The market a managed group should buy now. `current` is the market it is configured for. */
export function decideMarket(
  optIn: Extract<OptIn, { managed: true }>,
  current: Market,
  prices: PriceFacts,
  capacityFailureAt: number | undefined,
  settings: DecisionSettings,
  now: number,
): Decision {
  if (!optIn.wantSpot) return { market: 'on-demand', reason: optIn.warning ?? `tagged ${TAG_MODE}=no-spot` };
  if (capacityFailureAt !== undefined && now < capacityFailureAt + settings.cooldownMs) {
    const cooldownUntil = capacityFailureAt + settings.cooldownMs;
    return {
      market: 'on-demand',
      reason: `spot capacity failure at ${new Date(capacityFailureAt).toISOString()}: on-demand until ${new Date(cooldownUntil).toISOString()}`,
      cooldownUntil,
    };
  }
  if (prices.spot === undefined || prices.onDemand === undefined || prices.onDemand <= 0)
    return { market: 'on-demand', reason: `missing price data (${missingPrices(prices)})` };
  const ratio = prices.spot / prices.onDemand;
  const limit = current === 'spot' ? settings.threshold + settings.hysteresis : settings.threshold;
  const words = `spot ${prices.spot} / on-demand ${prices.onDemand} = ${ratio.toFixed(3)}`;
  return ratio <= limit
    ? { market: 'spot', reason: `${words} <= ${limit.toFixed(3)}` }
    : { market: 'on-demand', reason: `${words} > ${limit.toFixed(3)}` };
}

function missingPrices(prices: PriceFacts): string {
  const missing = [prices.spot === undefined && 'spot', prices.onDemand === undefined && 'on-demand'];
  return `no ${missing.filter(Boolean).join(' or ') || 'valid'} price`;
}

const CAPACITY_CODES =
  /InsufficientInstanceCapacity|capacity-oversubscribed|capacity-not-available|MaxSpotInstanceCountExceeded/i;

export interface ActivityFacts {
  statusCode: string;
  statusMessage?: string;
  description?: string;
  startTime?: Date;
}

/** When the newest capacity failure among the group's scaling activities happened (epoch ms), if any. */
export function lastCapacityFailure(activities: readonly ActivityFacts[]): number | undefined {
  const times = activities
    .filter(
      (a) =>
        a.statusCode === 'Failed' && CAPACITY_CODES.test(`${a.statusMessage ?? ''} ${a.description ?? ''}`),
    )
    .map((a) => a.startTime?.getTime() ?? 0);
  return times.length > 0 ? Math.max(...times) : undefined;
}

/** The highest spot price among the group's AZs for its instance type; undefined when one AZ has none. */
export function groupSpotPrice(
  prices: ReadonlyMap<string, number>,
  instanceType: string,
  zones: readonly string[],
): number | undefined {
  if (zones.length === 0) return undefined;
  let highest = 0;
  for (const zone of zones) {
    const price = prices.get(spotPriceKey(zone, instanceType));
    if (price === undefined) return undefined;
    highest = Math.max(highest, price);
  }
  return highest;
}

export const spotPriceKey = (zone: string, instanceType: string) => `${zone}/${instanceType}`;

export type GroupAction =
  | { kind: 'none' }
  | { kind: 'switch'; to: Market }
  | { kind: 'recommend'; to: Market }
  | { kind: 'report'; reason: string };

/** What to do with the group's configuration: launch-configuration groups and instance-manager's are not edited. */
export function groupAction(
  mechanism: Mechanism,
  ownedByInstanceGroup: boolean,
  current: Market,
  decided: Market,
): GroupAction {
  if (mechanism === 'launch-configuration')
    return {
      kind: 'report',
      reason:
        'the group uses a launch configuration (retired by AWS); move it to a launch template to let minion-manager switch it',
    };
  if (ownedByInstanceGroup) return { kind: 'recommend', to: decided };
  return current === decided ? { kind: 'none' } : { kind: 'switch', to: decided };
}

export interface InstanceFacts {
  id: string;
  lifecycleState: string;
  healthStatus: string;
  /** From DescribeInstances' InstanceLifecycle; undefined when not known (not yet described). */
  market?: Market;
}

export interface GroupShape {
  desiredCapacity: number;
  instances: readonly InstanceFacts[];
  /** A mixed-instances group's OnDemandBaseCapacity: on-demand even when the group buys spot. */
  onDemandBase?: number;
}

/** Upstream's budget: round(1 % of desired), at least 1. */
export function replacementBudget(desiredCapacity: number): number {
  return Math.max(1, Math.round(desiredCapacity * 0.01));
}

/** Why the group is not stable enough to take an instance away, or undefined when it is. */
export function instabilityOf(group: GroupShape): string | undefined {
  const inService = group.instances.filter((i) => i.lifecycleState === 'InService');
  const unhealthy = inService.filter((i) => i.healthStatus !== 'Healthy');
  if (unhealthy.length > 0) return `${unhealthy.length} unhealthy instance(s)`;
  if (inService.length !== group.instances.length)
    return `${group.instances.length - inService.length} instance(s) not InService`;
  if (inService.length < group.desiredCapacity)
    return `${inService.length} of ${group.desiredCapacity} desired instances in service`;
  return undefined;
}

/** Instances running in the other market than the group is configured for. */
export function wrongMarketInstances(group: GroupShape, market: Market): InstanceFacts[] {
  return group.instances.filter(
    (i) => i.lifecycleState === 'InService' && i.market !== undefined && i.market !== market,
  );
}

export type ReplacementPlan =
  { kind: 'replace'; instanceIds: string[] } | { kind: 'wait'; reason: string } | { kind: 'done' };

/** Which wrong-market instances to replace now: none while not-terminate, while unstable, past the budget. */
export function planReplacements(group: GroupShape, market: Market, notTerminate: boolean): ReplacementPlan {
  // A spot group keeps its on-demand base: AWS launches those on-demand again, so they are never wrong.
  const base = market === 'spot' ? Math.max(0, group.onDemandBase ?? 0) : 0;
  const wrong = wrongMarketInstances(group, market).slice(base);
  if (wrong.length === 0) return { kind: 'done' };
  if (notTerminate)
    return { kind: 'wait', reason: `tagged ${TAG_NOT_TERMINATE}=true: instances are not replaced` };
  const unstable = instabilityOf(group);
  if (unstable) return { kind: 'wait', reason: `group not stable: ${unstable}` };
  const budget = replacementBudget(group.desiredCapacity);
  return { kind: 'replace', instanceIds: wrong.slice(0, budget).map((i) => i.id) };
}

/** Spot savings per hour of the instances running on spot now. */
export function estimatedSavingsPerHour(prices: PriceFacts, spotInstances: number): number {
  if (prices.spot === undefined || prices.onDemand === undefined) return 0;
  return Math.max(0, prices.onDemand - prices.spot) * spotInstances;
}

/** Upstream's recommendation message, which instance-manager reads. */
export function recommendationMessage(market: Market, spotPrice: number | undefined): string {
  return JSON.stringify({
    apiVersion: 'v1alpha1',
    spotPrice: spotPrice === undefined ? '' : spotPrice.toFixed(6),
    useSpot: market === 'spot',
  });
}
