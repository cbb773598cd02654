// Reads what one refresh decides on, with few AWS calls: the cluster's groups (paged, filtered by tag),
// their instances' markets (DescribeInstances batched across groups), the spot prices of every type in use
// (one DescribeSpotPriceHistory across groups), on-demand list prices (cached for hours), and each spot
// group's recent scaling activities. Launch-template versions are resolved for plain template groups
// (numbered versions cached: they never change).
import type {
  AutoScalingPort,
  Ec2Port,
  PricingPort,
  ResolvedLaunchTemplate,
  ScalingActivitiesPort,
  ScalingGroup,
} from '@keiko/aws';
import {
  lastCapacityFailure,
  readOptIn,
  spotPriceKey,
  TAG_CLUSTER,
  TAG_INSTANCE_GROUP,
  type InstanceFacts,
  type Market,
  type Mechanism,
  type OptIn,
} from './plan';
import { configuredMarket, mechanismOf, primaryInstanceType } from './switch';

/** Upstream's product: Linux in a VPC. */
export const SPOT_PRODUCT = 'Linux/UNIX (Amazon VPC)';
const SPOT_WINDOW_MS = 3_600_000;
/** DescribeScalingActivities calls in flight at once (the client's adaptive retry paces them further). */
const ACTIVITY_CONCURRENCY = 8;

export interface ManagedGroup {
  group: ScalingGroup;
  optIn: Extract<OptIn, { managed: true }>;
  mechanism: Mechanism;
  market: Market;
  instanceType?: string;
  instances: InstanceFacts[];
  ownedByInstanceGroup: boolean;
  /** The resolved template version of a plain launch-template group. */
  template?: ResolvedLaunchTemplate;
  capacityFailureAt?: number;
}

export interface Snapshot {
  groups: ManagedGroup[];
  /** `${az}/${type}` -> the latest spot price. */
  spotPrices: Map<string, number>;
  /** type -> on-demand USD/hour. */
  onDemandPrices: Map<string, number>;
}

export interface FactsDeps {
  autoScaling: AutoScalingPort;
  ec2: Ec2Port;
  pricing: PricingPort;
  activities: ScalingActivitiesPort;
  region: string;
  clusterName: string;
  onDemandPriceTtlMs: number;
  now?: () => number;
}

export class MarketFacts {
  private readonly onDemand = new Map<string, { price: number; at: number }>();
  private readonly templates = new Map<string, ResolvedLaunchTemplate>();

  constructor(private readonly d: FactsDeps) {}

  async read(): Promise<Snapshot> {
    const all = await this.d.autoScaling.listGroups({ tags: { [TAG_CLUSTER]: this.d.clusterName } });
    const groups: ManagedGroup[] = [];
    for (const group of all) {
      const optIn = readOptIn(group.tags, this.d.clusterName);
      if (optIn.managed) groups.push(await this.describe(group, optIn));
    }
    await this.addInstanceMarkets(groups);
    await this.addCapacityFailures(groups.filter((g) => g.optIn.wantSpot));
    const types = [...new Set(groups.flatMap((g) => (g.instanceType ? [g.instanceType] : [])))];
    return {
      groups,
      spotPrices: await this.spotPrices(types),
      onDemandPrices: await this.onDemandPrices(types),
    };
  }

  private async describe(
    group: ScalingGroup,
    optIn: Extract<OptIn, { managed: true }>,
  ): Promise<ManagedGroup> {
    const mechanism = mechanismOf(group);
    const needsTemplate =
      mechanism === 'launch-template' ||
      (mechanism === 'mixed-instances' && !primaryInstanceType(group, undefined));
    const template = needsTemplate ? await this.template(group) : undefined;
    const instanceType = primaryInstanceType(group, template?.instanceType ?? template?.data.InstanceType);
    const marketType = template?.data.InstanceMarketOptions?.MarketType;
    return {
      group,
      optIn,
      mechanism,
      market: configuredMarket(group, marketType),
      ...(instanceType ? { instanceType } : {}),
      instances: group.instances.map((i) => ({
        id: i.id,
        lifecycleState: i.lifecycleState,
        healthStatus: i.healthStatus,
      })),
      ownedByInstanceGroup: group.tags[TAG_INSTANCE_GROUP] !== undefined,
      ...(template ? { template } : {}),
    };
  }

  private async template(group: ScalingGroup): Promise<ResolvedLaunchTemplate | undefined> {
    const spec = group.launchTemplate ?? group.mixedInstancesPolicy?.launchTemplate;
    if (!spec?.id && !spec?.name) return undefined;
    const version = spec.version ?? '$Default';
    const key = `${spec.id ?? spec.name}@${version}`;
    const cached = this.templates.get(key);
    if (cached) return cached;
    const ref = spec.id ? { id: spec.id, version } : { name: spec.name ?? '', version };
    const resolved = await this.d.ec2.resolveLaunchTemplateVersion(ref);
    if (/^\d+$/.test(version)) this.templates.set(key, resolved);
    return resolved;
  }

  /** Each spot group's scaling activities, a few groups at a time (one call per group). */
  private async addCapacityFailures(groups: readonly ManagedGroup[]): Promise<void> {
    for (let i = 0; i < groups.length; i += ACTIVITY_CONCURRENCY) {
      await Promise.all(
        groups.slice(i, i + ACTIVITY_CONCURRENCY).map(async (g) => {
          const failure = lastCapacityFailure(await this.d.activities.recentActivities(g.group.name, 20));
          if (failure !== undefined) g.capacityFailureAt = failure;
        }),
      );
    }
  }

  private async addInstanceMarkets(groups: ManagedGroup[]): Promise<void> {
    const ids = groups.flatMap((g) => g.instances.map((i) => i.id));
    if (ids.length === 0) return;
    const markets = new Map<string, Market>();
    for (const i of await this.d.ec2.describeInstances(ids))
      markets.set(i.id, i.lifecycle === 'spot' ? 'spot' : 'on-demand');
    for (const g of groups) {
      for (const i of g.instances) {
        const market = markets.get(i.id);
        if (market) i.market = market;
      }
    }
  }

  private async spotPrices(types: readonly string[]): Promise<Map<string, number>> {
    const latest = new Map<string, { price: number; at: number }>();
    if (types.length === 0) return new Map();
    const now = (this.d.now ?? Date.now)();
    const prices = await this.d.ec2.describeSpotPriceHistory({
      instanceTypes: types,
      productDescriptions: [SPOT_PRODUCT],
      startTime: new Date(now - SPOT_WINDOW_MS),
      endTime: new Date(now),
    });
    for (const p of prices) {
      const key = spotPriceKey(p.availabilityZone, p.instanceType);
      const at = p.timestamp?.getTime() ?? 0;
      const seen = latest.get(key);
      if (!seen || at >= seen.at) latest.set(key, { price: p.price, at });
    }
    return new Map([...latest].map(([k, v]) => [k, v.price]));
  }

  private async onDemandPrices(types: readonly string[]): Promise<Map<string, number>> {
    const now = (this.d.now ?? Date.now)();
    const stale = types.filter((t) => {
      const seen = this.onDemand.get(t);
      return !seen || now - seen.at > this.d.onDemandPriceTtlMs;
    });
    if (stale.length > 0) {
      const fresh = await this.d.pricing.onDemandPrices(this.d.region, stale);
      for (const [type, price] of fresh) this.onDemand.set(type, { price, at: now });
    }
    const out = new Map<string, number>();
    for (const t of types) {
      const seen = this.onDemand.get(t);
      if (seen) out.set(t, seen.price);
    }
    return out;
  }
}
