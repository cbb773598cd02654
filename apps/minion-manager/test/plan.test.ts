// minion-manager's decisions without AWS or a cluster: opt-in tags, the threshold with hysteresis, missing
// data, the capacity cool-down, what is done to which kind of group, and which instances are replaced when.
import { describe, expect, it } from '@jest/globals';
import type { ScalingGroup } from '@keiko/aws';
import {
  decideMarket,
  estimatedSavingsPerHour,
  groupAction,
  groupSpotPrice,
  instabilityOf,
  lastCapacityFailure,
  planReplacements,
  readOptIn,
  recommendationMessage,
  replacementBudget,
  spotPriceKey,
  type DecisionSettings,
  type InstanceFacts,
  type OptIn,
} from '../src/spot/plan';
import {
  configuredMarket,
  mechanismOf,
  mixedPolicyFor,
  primaryInstanceType,
  templateDataFor,
} from '../src/spot/switch';

const settings: DecisionSettings = { threshold: 0.8, hysteresis: 0.05, cooldownMs: 3_600_000 };
const NOW = Date.parse('2026-12-07T12:00:00Z');
const useSpot = { managed: true, wantSpot: true, notTerminate: false } as Extract<OptIn, { managed: true }>;

describe('readOptIn', () => {
  it('manages only groups of the cluster that carry the mode tag', () => {
    expect(readOptIn({ KubernetesCluster: 'other', 'k8s-minion-manager': 'use-spot' }, 'prod')).toEqual({
      managed: false,
    });
    expect(readOptIn({ KubernetesCluster: 'prod' }, 'prod')).toEqual({ managed: false });
    expect(readOptIn({ KubernetesCluster: 'prod', 'k8s-minion-manager': 'use-spot' }, 'prod')).toEqual({
      managed: true,
      wantSpot: true,
      notTerminate: false,
    });
    expect(
      readOptIn(
        {
          KubernetesCluster: 'prod',
          'k8s-minion-manager': 'no-spot',
          'k8s-minion-manager/not-terminate': 'true',
        },
        'prod',
      ),
    ).toEqual({ managed: true, wantSpot: false, notTerminate: true });
  });

  it('treats an unknown mode value as no-spot with a warning naming the value', () => {
    const optIn = readOptIn({ KubernetesCluster: 'prod', 'k8s-minion-manager': 'yes-please' }, 'prod');
    expect(optIn).toMatchObject({ managed: true, wantSpot: false });
    expect(optIn.managed && optIn.warning).toContain('"yes-please"');
  });
});

describe('decideMarket', () => {
  const decide = (
    spot: number | undefined,
    onDemand: number | undefined,
    current: 'spot' | 'on-demand' = 'on-demand',
    failureAt?: number,
  ) =>
    decideMarket(
      useSpot,
      current,
      { ...(spot !== undefined ? { spot } : {}), ...(onDemand !== undefined ? { onDemand } : {}) },
      failureAt,
      settings,
      NOW,
    );

  it('buys spot at or under the threshold, on-demand above it', () => {
    expect(decide(0.03, 0.1).market).toBe('spot');
    expect(decide(0.08, 0.1).market).toBe('spot');
    expect(decide(0.081, 0.1).market).toBe('on-demand');
  });

  it('keeps a spot group on spot inside the hysteresis band, and leaves above it', () => {
    expect(decide(0.082, 0.1, 'spot').market).toBe('spot');
    expect(decide(0.085, 0.1, 'spot').market).toBe('spot');
    expect(decide(0.086, 0.1, 'spot').market).toBe('on-demand');
    // ... while an on-demand group at the same price stays on-demand: no flapping at the boundary.
    expect(decide(0.082, 0.1, 'on-demand').market).toBe('on-demand');
  });

  it('falls back to on-demand when a price is missing', () => {
    expect(decide(undefined, 0.1)).toMatchObject({
      market: 'on-demand',
      reason: expect.stringContaining('no spot'),
    });
    expect(decide(0.01, undefined)).toMatchObject({
      market: 'on-demand',
      reason: expect.stringContaining('on-demand'),
    });
  });

  it('stays on on-demand for the cool-down after a capacity failure, then decides on prices again', () => {
    const failure = NOW - 10 * 60_000;
    const during = decide(0.01, 0.1, 'on-demand', failure);
    expect(during.market).toBe('on-demand');
    expect(during.cooldownUntil).toBe(failure + settings.cooldownMs);
    expect(decide(0.01, 0.1, 'on-demand', NOW - 2 * 3_600_000).market).toBe('spot');
  });

  it('never buys spot for no-spot groups, whatever the price', () => {
    const noSpot = { managed: true, wantSpot: false, notTerminate: false } as const;
    expect(decideMarket(noSpot, 'spot', { spot: 0.001, onDemand: 1 }, undefined, settings, NOW).market).toBe(
      'on-demand',
    );
  });
});

describe('facts to numbers', () => {
  it('takes the highest spot price across the group AZs, and none when an AZ has no price', () => {
    const prices = new Map([
      [spotPriceKey('a', 'm5.large'), 0.02],
      [spotPriceKey('b', 'm5.large'), 0.04],
    ]);
    expect(groupSpotPrice(prices, 'm5.large', ['a', 'b'])).toBe(0.04);
    expect(groupSpotPrice(prices, 'm5.large', ['a', 'c'])).toBeUndefined();
    expect(groupSpotPrice(prices, 'm5.large', [])).toBeUndefined();
  });

  it('finds the newest capacity failure among the activities', () => {
    const at = (iso: string) => new Date(iso);
    expect(
      lastCapacityFailure([
        { statusCode: 'Successful', startTime: at('2026-12-07T11:50:00Z') },
        {
          statusCode: 'Failed',
          statusMessage: 'Could not launch Spot Instances. InsufficientInstanceCapacity - ...',
          startTime: at('2026-12-07T11:40:00Z'),
        },
        {
          statusCode: 'Failed',
          statusMessage: 'capacity-oversubscribed',
          startTime: at('2026-12-07T11:30:00Z'),
        },
        { statusCode: 'Failed', statusMessage: 'AMI not found', startTime: at('2026-12-07T11:55:00Z') },
      ]),
    ).toBe(Date.parse('2026-12-07T11:40:00Z'));
    expect(
      lastCapacityFailure([{ statusCode: 'Failed', statusMessage: 'Invalid IAM role' }]),
    ).toBeUndefined();
  });

  it('estimates savings from the spot instances running now', () => {
    expect(estimatedSavingsPerHour({ spot: 0.03, onDemand: 0.1 }, 3)).toBeCloseTo(0.21);
    expect(estimatedSavingsPerHour({ onDemand: 0.1 }, 3)).toBe(0);
  });

  it('says upstream recommendation message', () => {
    expect(JSON.parse(recommendationMessage('spot', 0.0312))).toEqual({
      apiVersion: 'v1alpha1',
      spotPrice: '0.031200',
      useSpot: true,
    });
    expect(JSON.parse(recommendationMessage('on-demand', undefined))).toMatchObject({
      useSpot: false,
      spotPrice: '',
    });
  });
});

describe('groupAction', () => {
  it('reports launch-configuration groups and leaves them alone', () => {
    expect(groupAction('launch-configuration', false, 'on-demand', 'spot')).toMatchObject({ kind: 'report' });
  });
  it('only recommends for InstanceGroup-owned groups', () => {
    expect(groupAction('mixed-instances', true, 'on-demand', 'spot')).toEqual({
      kind: 'recommend',
      to: 'spot',
    });
  });
  it('switches others when the decision differs', () => {
    expect(groupAction('launch-template', false, 'on-demand', 'spot')).toEqual({
      kind: 'switch',
      to: 'spot',
    });
    expect(groupAction('mixed-instances', false, 'spot', 'spot')).toEqual({ kind: 'none' });
  });
});

describe('replacements', () => {
  const inst = (
    id: string,
    market: 'spot' | 'on-demand',
    state = 'InService',
    health = 'Healthy',
  ): InstanceFacts => ({
    id,
    market,
    lifecycleState: state,
    healthStatus: health,
  });

  it('budgets round(1 % of desired), at least one', () => {
    expect(replacementBudget(3)).toBe(1);
    expect(replacementBudget(149)).toBe(1);
    expect(replacementBudget(150)).toBe(2);
    expect(replacementBudget(1000)).toBe(10);
  });

  it('replaces one wrong-market instance at a time in a stable group', () => {
    const group = {
      desiredCapacity: 3,
      instances: [inst('i-1', 'on-demand'), inst('i-2', 'on-demand'), inst('i-3', 'spot')],
    };
    expect(planReplacements(group, 'spot', false)).toEqual({ kind: 'replace', instanceIds: ['i-1'] });
    expect(planReplacements(group, 'on-demand', false)).toEqual({ kind: 'replace', instanceIds: ['i-3'] });
  });

  it("keeps a spot group's on-demand base capacity (AWS relaunches it on-demand: never wrong)", () => {
    const group = {
      desiredCapacity: 3,
      onDemandBase: 1,
      instances: [inst('i-1', 'on-demand'), inst('i-2', 'on-demand'), inst('i-3', 'spot')],
    };
    expect(planReplacements(group, 'spot', false)).toEqual({ kind: 'replace', instanceIds: ['i-2'] });
    const settled = {
      ...group,
      instances: [inst('i-1', 'on-demand'), inst('i-2', 'spot'), inst('i-3', 'spot')],
    };
    expect(planReplacements(settled, 'spot', false)).toEqual({ kind: 'done' });
  });

  it('waits while the group is unstable', () => {
    const short = { desiredCapacity: 3, instances: [inst('i-1', 'on-demand'), inst('i-2', 'spot')] };
    expect(planReplacements(short, 'spot', false)).toMatchObject({
      kind: 'wait',
      reason: expect.stringContaining('2 of 3'),
    });
    const pending = {
      desiredCapacity: 2,
      instances: [inst('i-1', 'on-demand'), inst('i-2', 'spot', 'Pending')],
    };
    expect(instabilityOf(pending)).toContain('not InService');
    const sick = {
      desiredCapacity: 2,
      instances: [inst('i-1', 'on-demand'), inst('i-2', 'spot', 'InService', 'Unhealthy')],
    };
    expect(planReplacements(sick, 'spot', false).kind).toBe('wait');
  });

  it('never replaces in not-terminate groups, and is done when every instance is in the market', () => {
    const group = { desiredCapacity: 2, instances: [inst('i-1', 'on-demand'), inst('i-2', 'spot')] };
    expect(planReplacements(group, 'spot', true)).toMatchObject({
      kind: 'wait',
      reason: expect.stringContaining('not-terminate'),
    });
    expect(planReplacements({ desiredCapacity: 1, instances: [inst('i-2', 'spot')] }, 'spot', false)).toEqual(
      { kind: 'done' },
    );
  });
});

describe('switching', () => {
  const base: ScalingGroup = {
    name: 'g',
    minSize: 0,
    maxSize: 3,
    desiredCapacity: 1,
    availabilityZones: ['a'],
    subnetIds: [],
    instances: [],
    tags: {},
    tagList: [],
    suspendedProcesses: [],
  };

  it('reads the mechanism and the configured market', () => {
    const mixed: ScalingGroup = {
      ...base,
      mixedInstancesPolicy: {
        launchTemplate: { id: 'lt-1', version: '1' },
        overrides: [{ instanceType: 'm5.large' }],
        instancesDistribution: { onDemandPercentageAboveBaseCapacity: 0 },
      },
    };
    expect(mechanismOf(mixed)).toBe('mixed-instances');
    expect(configuredMarket(mixed, undefined)).toBe('spot');
    expect(primaryInstanceType(mixed, 'c5.large')).toBe('m5.large');
    const lt: ScalingGroup = { ...base, launchTemplate: { id: 'lt-1' } };
    expect(mechanismOf(lt)).toBe('launch-template');
    expect(configuredMarket(lt, 'spot')).toBe('spot');
    expect(configuredMarket(lt, undefined)).toBe('on-demand');
    expect(mechanismOf({ ...base, launchConfigurationName: 'lc' })).toBe('launch-configuration');
  });

  it('sets the on-demand percentage and price-capacity-optimized, keeping base and overrides', () => {
    const policy = {
      launchTemplate: { id: 'lt-1', version: '3' },
      overrides: [{ instanceType: 'm5.large' }, { instanceType: 'm6i.large' }],
      instancesDistribution: { onDemandBaseCapacity: 1, onDemandPercentageAboveBaseCapacity: 100 },
    };
    const spot = mixedPolicyFor(policy, 'spot');
    expect(spot.instancesDistribution).toEqual({
      onDemandBaseCapacity: 1,
      onDemandPercentageAboveBaseCapacity: 0,
      spotAllocationStrategy: 'price-capacity-optimized',
    });
    expect(spot.overrides).toEqual(policy.overrides);
    expect(mixedPolicyFor(spot, 'on-demand').instancesDistribution?.onDemandPercentageAboveBaseCapacity).toBe(
      100,
    );
  });

  it('adds and removes the spot market options of template data', () => {
    const data: Record<string, unknown> = { ImageId: 'ami-1', InstanceType: 'm5.large' };
    const spot = templateDataFor(data, 'spot');
    expect(spot).toMatchObject({ ImageId: 'ami-1', InstanceMarketOptions: { MarketType: 'spot' } });
    expect(templateDataFor(spot, 'on-demand')).toEqual({ ImageId: 'ami-1', InstanceType: 'm5.large' });
  });
});
