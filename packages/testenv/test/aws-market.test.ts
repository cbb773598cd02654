// The emulator's market extensions (packages/testenv/moto/server.py): groups launch spot instances per their
// MixedInstancesPolicy / launch-template market options (InstanceLifecycle=spot in DescribeInstances), spot
// prices settable per AZ and type, Pricing GetProducts with list prices, injected capacity failures reported as
// Failed scaling activities. Each assertion reads the emulator through the AWS APIs, as a product would.
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import {
  AutoScalingClient,
  CreateAutoScalingGroupCommand,
  DeleteAutoScalingGroupCommand,
  DescribeAutoScalingGroupsCommand,
  DescribeScalingActivitiesCommand,
  TerminateInstanceInAutoScalingGroupCommand,
  UpdateAutoScalingGroupCommand,
  type MixedInstancesPolicy,
} from '@aws-sdk/client-auto-scaling';
import {
  CreateLaunchTemplateCommand,
  CreateSubnetCommand,
  CreateVpcCommand,
  DescribeInstancesCommand,
  DescribeSpotPriceHistoryCommand,
  EC2Client,
} from '@aws-sdk/client-ec2';
import { GetProductsCommand, PricingClient } from '@aws-sdk/client-pricing';
import {
  clearCapacityFailure,
  emulatorConfig,
  eventually,
  injectCapacityFailure,
  setOnDemandPrices,
  setSpotPrices,
} from '../src/index';

const runId = `${Date.now().toString(36)}${Math.random().toString(36).slice(2, 6)}`;
const named = (what: string) => `keiko-market-${runId}-${what}`;
let ec2: EC2Client;
let asg: AutoScalingClient;
let subnet = '';
let zone = '';
const groups: string[] = [];

beforeAll(async () => {
  ec2 = new EC2Client(emulatorConfig());
  asg = new AutoScalingClient(emulatorConfig());
  const vpc = await ec2.send(new CreateVpcCommand({ CidrBlock: '10.40.0.0/16' }));
  const sub = await ec2.send(new CreateSubnetCommand({ VpcId: vpc.Vpc?.VpcId, CidrBlock: '10.40.1.0/24' }));
  subnet = sub.Subnet?.SubnetId ?? '';
  zone = sub.Subnet?.AvailabilityZone ?? '';
});

afterAll(async () => {
  for (const name of groups) {
    await asg.send(new DeleteAutoScalingGroupCommand({ AutoScalingGroupName: name, ForceDelete: true }));
  }
  ec2.destroy();
  asg.destroy();
});

async function template(what: string, spot: boolean): Promise<string> {
  const out = await ec2.send(
    new CreateLaunchTemplateCommand({
      LaunchTemplateName: named(what),
      LaunchTemplateData: {
        ImageId: 'ami-12c6146b',
        InstanceType: 'm5.large',
        ...(spot ? { InstanceMarketOptions: { MarketType: 'spot' } } : {}),
      },
    }),
  );
  return out.LaunchTemplate?.LaunchTemplateId ?? '';
}

function mixed(templateId: string, onDemandPercent: number): MixedInstancesPolicy {
  return {
    LaunchTemplate: {
      LaunchTemplateSpecification: { LaunchTemplateId: templateId, Version: '1' },
      Overrides: [{ InstanceType: 'm5.large' }, { InstanceType: 'm6i.large' }],
    },
    InstancesDistribution: {
      OnDemandBaseCapacity: 0,
      OnDemandPercentageAboveBaseCapacity: onDemandPercent,
      SpotAllocationStrategy: 'price-capacity-optimized',
    },
  };
}

/** instance id -> 'spot' | 'on-demand', as DescribeInstances reports them. */
async function markets(group: string): Promise<Record<string, string>> {
  const out = await asg.send(new DescribeAutoScalingGroupsCommand({ AutoScalingGroupNames: [group] }));
  const ids = (out.AutoScalingGroups?.[0]?.Instances ?? []).map((i) => i.InstanceId ?? '');
  if (ids.length === 0) return {};
  const found = await ec2.send(new DescribeInstancesCommand({ InstanceIds: ids }));
  const all = (found.Reservations ?? []).flatMap((r) => r.Instances ?? []);
  return Object.fromEntries(all.map((i) => [i.InstanceId ?? '', i.InstanceLifecycle ?? 'on-demand']));
}

const count = (m: Record<string, string>, market: string) =>
  Object.values(m).filter((v) => v === market).length;

describe('spot markets of Auto Scaling groups', () => {
  it('launches a mixed group per its on-demand percentage, filling the whole desired capacity', async () => {
    const name = named('mixed');
    groups.push(name);
    await asg.send(
      new CreateAutoScalingGroupCommand({
        AutoScalingGroupName: name,
        MinSize: 0,
        MaxSize: 10,
        DesiredCapacity: 3,
        VPCZoneIdentifier: subnet,
        MixedInstancesPolicy: mixed(await template('mixed', false), 50),
      }),
    );
    // 3 above a base of 0 at 50 %: on-demand rounded up (2), spot 1.
    const m = await markets(name);
    expect(Object.keys(m)).toHaveLength(3);
    expect(count(m, 'on-demand')).toBe(2);
    expect(count(m, 'spot')).toBe(1);
  });

  it('launches a replacement in the market of the policy in force, keeping the other instances', async () => {
    const name = named('switch');
    groups.push(name);
    const lt = await template('switch', false);
    await asg.send(
      new CreateAutoScalingGroupCommand({
        AutoScalingGroupName: name,
        MinSize: 0,
        MaxSize: 10,
        DesiredCapacity: 2,
        VPCZoneIdentifier: subnet,
        MixedInstancesPolicy: mixed(lt, 100),
      }),
    );
    const before = await markets(name);
    expect(count(before, 'on-demand')).toBe(2);
    await asg.send(
      new UpdateAutoScalingGroupCommand({ AutoScalingGroupName: name, MixedInstancesPolicy: mixed(lt, 0) }),
    );
    expect(await markets(name)).toEqual(before);
    const victim = Object.keys(before)[0] ?? '';
    await asg.send(
      new TerminateInstanceInAutoScalingGroupCommand({
        InstanceId: victim,
        ShouldDecrementDesiredCapacity: false,
      }),
    );
    const after = await markets(name);
    expect(Object.keys(after)).toHaveLength(2);
    expect(after[victim]).toBeUndefined();
    expect(count(after, 'spot')).toBe(1);
  });

  it('launches spot instances from a launch template whose market type is spot', async () => {
    const name = named('lt-spot');
    groups.push(name);
    await asg.send(
      new CreateAutoScalingGroupCommand({
        AutoScalingGroupName: name,
        MinSize: 0,
        MaxSize: 10,
        DesiredCapacity: 2,
        VPCZoneIdentifier: subnet,
        LaunchTemplate: { LaunchTemplateId: await template('lt-spot', true), Version: '1' },
      }),
    );
    expect(count(await markets(name), 'spot')).toBe(2);
  });

  it('fails spot launches while a capacity failure is injected, and fills the group once it is cleared', async () => {
    const name = named('capacity');
    groups.push(name);
    const lt = await template('capacity', false);
    await injectCapacityFailure({ groupName: name });
    await asg.send(
      new CreateAutoScalingGroupCommand({
        AutoScalingGroupName: name,
        MinSize: 0,
        MaxSize: 10,
        DesiredCapacity: 2,
        VPCZoneIdentifier: subnet,
        MixedInstancesPolicy: mixed(lt, 0),
      }),
    );
    expect(await markets(name)).toEqual({});
    const activities = await asg.send(new DescribeScalingActivitiesCommand({ AutoScalingGroupName: name }));
    const failed = (activities.Activities ?? []).filter((a) => a.StatusCode === 'Failed');
    expect(failed.length).toBeGreaterThan(0);
    expect(failed[0]?.StatusMessage).toContain('InsufficientInstanceCapacity');

    await clearCapacityFailure(name);
    // Any update makes the emulator fill the group again, as AWS keeps trying on its own.
    await asg.send(new UpdateAutoScalingGroupCommand({ AutoScalingGroupName: name, MaxSize: 9 }));
    const m = await eventually('the group filled with spot instances', async () => {
      const got = await markets(name);
      return Object.keys(got).length === 2 ? got : undefined;
    });
    expect(count(m, 'spot')).toBe(2);
    const later = await asg.send(new DescribeScalingActivitiesCommand({ AutoScalingGroupName: name }));
    expect(later.Activities?.[0]?.StatusCode).toBe('Successful');
  });
});

describe('prices', () => {
  it('answers DescribeSpotPriceHistory with the price set for an AZ and type', async () => {
    await setSpotPrices([{ availabilityZone: zone, instanceType: 'c5.xlarge', price: 0.05 }]);
    await setSpotPrices([{ availabilityZone: zone, instanceType: 'c5.xlarge', price: 0.061 }]);
    const out = await ec2.send(
      new DescribeSpotPriceHistoryCommand({
        InstanceTypes: ['c5.xlarge'],
        AvailabilityZone: zone,
        StartTime: new Date(Date.now() - 3_600_000),
        ProductDescriptions: ['Linux/UNIX (Amazon VPC)'],
      }),
    );
    const history = out.SpotPriceHistory ?? [];
    expect(history.every((p) => p.AvailabilityZone === zone)).toBe(true);
    expect(history.map((p) => Number(p.SpotPrice)).sort()).toEqual(expect.arrayContaining([0.05, 0.061]));
    expect(Number(history[0]?.SpotPrice)).toBe(0.061);
  });

  it('answers Pricing GetProducts with the on-demand list price of a type', async () => {
    const pricing = new PricingClient(emulatorConfig({ region: 'us-east-1' }));
    try {
      await setOnDemandPrices([{ instanceType: 'r5.xlarge', price: 0.2525 }]);
      const out = await pricing.send(
        new GetProductsCommand({
          ServiceCode: 'AmazonEC2',
          Filters: [
            { Type: 'TERM_MATCH', Field: 'instanceType', Value: 'r5.xlarge' },
            { Type: 'TERM_MATCH', Field: 'regionCode', Value: 'us-west-2' },
            { Type: 'TERM_MATCH', Field: 'operatingSystem', Value: 'Linux' },
          ],
        }),
      );
      expect(out.PriceList).toHaveLength(1);
      const entry = JSON.parse(String(out.PriceList?.[0])) as {
        product: { attributes: Record<string, string> };
        terms: {
          OnDemand: Record<string, { priceDimensions: Record<string, { pricePerUnit: { USD: string } }> }>;
        };
      };
      expect(entry.product.attributes.regionCode).toBe('us-west-2');
      const dims = Object.values(entry.terms.OnDemand).flatMap((t) => Object.values(t.priceDimensions));
      expect(Number(dims[0]?.pricePerUnit.USD)).toBe(0.2525);
    } finally {
      pricing.destroy();
    }
  });
});
