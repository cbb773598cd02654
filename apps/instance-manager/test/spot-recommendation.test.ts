// Spot recommendations from minion-manager (upstream's contract): the latest SpotRecommendationGiven Event
// about a group's scaling group sets its spot price. Pure parts first, then the eks provisioner in-process
// against the test cluster and the AWS emulator: the group's launch template gets (and loses) spot market
// options as the recommendations say.
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { eventually } from '@keiko/testenv';
import { InstanceGroupKind, type InstanceGroup } from '@keiko/api';
import { ResourceTypes } from '@keiko/kube-runtime';
import { latestRecommendation, withRecommendation } from '../src/provisioners/eks/spot-recommendation';
import { example } from './support/fixtures';
import { startWorld, type World } from './support/world';

const rec = (message: string, at: string, reason = 'SpotRecommendationGiven') => ({
  reason,
  message,
  lastTimestamp: new Date(at),
});

function eksGroup(name: string): InstanceGroup {
  const ig = structuredClone(example('instance-manager/eks-rolling-update.yaml'));
  ig.metadata = { name };
  delete ig.status;
  const eks = ig.spec.eks;
  if (!eks) throw new Error('example changed');
  eks.minSize = 1;
  eks.maxSize = 2;
  delete eks.configuration.mixedInstancesPolicy;
  eks.configuration.lifecycleHooks = [];
  eks.configuration.instanceType = 't3.small';
  ig.spec.strategy = { type: 'rollingUpdate', rollingUpdate: { maxUnavailable: 1 } };
  return ig;
}

describe('reading recommendations', () => {
  it('takes the newest readable SpotRecommendationGiven', () => {
    const got = latestRecommendation([
      rec('{"apiVersion":"v1alpha1","spotPrice":"0.01","useSpot":true}', '2026-12-07T10:00:00Z'),
      rec('{"apiVersion":"v1alpha1","spotPrice":"0.02", "useSpot": false}', '2026-12-07T11:00:00Z'),
      rec('not json', '2026-12-07T12:00:00Z'),
      rec('{"apiVersion":"v2","useSpot":true}', '2026-12-07T12:30:00Z'),
      rec('{"apiVersion":"v1alpha1","spotPrice":"0.03","useSpot":true}', '2026-12-07T13:00:00Z', 'Other'),
    ]);
    expect(got).toMatchObject({ useSpot: false, spotPrice: '0.02' });
    expect(latestRecommendation([])).toBeUndefined();
  });

  it('sets or clears the spot price, and leaves mixed-instances groups alone', () => {
    const ig = eksGroup('g');
    const spot = withRecommendation(ig, { useSpot: true, spotPrice: '0.0416', at: 1 });
    expect(spot?.spec.eks?.configuration.spotPrice).toBe('0.0416');
    const onDemand = withRecommendation(spot!, { useSpot: false, spotPrice: '0.0416', at: 2 });
    expect(onDemand?.spec.eks?.configuration.spotPrice).toBeUndefined();
    expect(withRecommendation(ig, undefined)).toBeUndefined();
    const mixed = example('instance-manager/eks-rolling-update.yaml');
    expect(withRecommendation(mixed, { useSpot: true, spotPrice: '1', at: 1 })).toBeUndefined();
  });
});

describe('the eks provisioner follows the recommendations', () => {
  let world: World;

  beforeAll(async () => {
    world = await startWorld({ prefix: 'im-spotrec' });
  }, 60_000);

  afterAll(async () => {
    await world?.stop();
  }, 180_000);

  async function recommend(group: string, message: string, at: Date): Promise<void> {
    await world.client.create(ResourceTypes.Event, {
      apiVersion: 'v1',
      kind: 'Event',
      metadata: { generateName: 'spot-recommendation-', namespace: world.namespace },
      involvedObject: { kind: 'SpotPriceInfo', name: group, namespace: world.namespace },
      reason: 'SpotRecommendationGiven',
      message,
      type: 'Normal',
      lastTimestamp: at.toISOString(),
      source: { component: 'minion-manager' },
    } as never);
  }

  /** The market options of the launch template version the group launches from now. */
  async function marketOptions(group: string) {
    const g = await world.aws.autoScaling.describeGroup(group);
    const version = g?.launchTemplate?.version ?? '$Default';
    const [v] = await world.aws.ec2.describeLaunchTemplateVersions({ name: group }, [version]);
    return v?.data.InstanceMarketOptions;
  }

  /** A spec change makes the controller reconcile now. */
  async function touch(name: string, maxSize: number): Promise<void> {
    await eventually(`${name} touched`, async () => {
      const ig = await world.get(name);
      if (!ig?.spec.eks) return false;
      ig.spec.eks.maxSize = maxSize;
      await world.client.replace(InstanceGroupKind, ig);
      return true;
    });
  }

  it('buys spot at the recommended price, then on-demand again', async () => {
    await world.apply(eksGroup('spotrec'));
    const ready = await world.waitFor(
      'spotrec',
      'Ready',
      (ig) => ig.status?.currentState === 'Ready',
      120_000,
    );
    const group = ready.status?.activeScalingGroupName ?? '';
    expect(await marketOptions(group)).toBeUndefined();

    await recommend(
      group,
      '{"apiVersion":"v1alpha1","spotPrice":"0.0416","useSpot":true}',
      new Date(Date.now() - 60_000),
    );
    await touch('spotrec', 3);
    const options = await eventually(
      'spot market options',
      async () => (await marketOptions(group)) ?? undefined,
      120_000,
      500,
    );
    expect(options).toMatchObject({ MarketType: 'spot', SpotOptions: { MaxPrice: '0.0416' } });
    const spotIg = await world.waitFor(
      'spotrec',
      'using the recommendation',
      (ig) => ig.status?.usingSpotRecommendation === true,
      60_000,
    );
    expect(spotIg.status?.lifecycle).toBe('spot');

    await recommend(group, '{"apiVersion":"v1alpha1","spotPrice":"0.0416","useSpot":false}', new Date());
    await touch('spotrec', 4);
    await eventually(
      'on-demand again',
      async () => ((await marketOptions(group)) === undefined ? true : undefined),
      120_000,
      500,
    );
  });
});
