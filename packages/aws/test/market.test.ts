// The market ports against the emulator (its launcher adds Pricing GetProducts and scaling activities,
// docs/testenv.md): on-demand list prices by instance type and region, a group's capacity failure.
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import {
  AwsAutoScaling,
  AwsPricing,
  AwsScalingActivities,
  awsClientConfig,
  createAwsClients,
  createPricingClient,
  onDemandPriceOf,
  type AwsClients,
} from '../src/index';
import { CreateLaunchTemplateCommand } from '@aws-sdk/client-ec2';
import type { PricingClient } from '@aws-sdk/client-pricing';
import { injectCapacityFailure, setOnDemandPrices } from '@keiko/testenv';

let clients: AwsClients;
let pricingClient: PricingClient;
const name = `keiko-market-port-${Date.now().toString(36)}`;

beforeAll(() => {
  const config = awsClientConfig();
  clients = createAwsClients(config);
  pricingClient = createPricingClient(config);
});

afterAll(async () => {
  await new AwsAutoScaling(clients.autoScaling).deleteGroup(name, { forceDelete: true }).catch(() => false);
  clients.destroy();
  pricingClient.destroy();
});

describe('AwsPricing', () => {
  it('reads the on-demand price of each type, leaving out types without one', async () => {
    await setOnDemandPrices([{ instanceType: 'm6i.xlarge', price: 0.1921 }]);
    const prices = await new AwsPricing(pricingClient).onDemandPrices('us-west-2', ['m6i.xlarge', 'x9.nope']);
    expect([...prices]).toEqual([['m6i.xlarge', 0.1921]]);
  });

  it('parses a price-list entry and refuses what is not one', () => {
    const entry = JSON.stringify({
      product: { attributes: { instanceType: 'c5.large' } },
      terms: { OnDemand: { a: { priceDimensions: { b: { pricePerUnit: { USD: '0.0850000000' } } } } } },
    });
    expect(onDemandPriceOf(entry)).toEqual({ instanceType: 'c5.large', price: 0.085 });
    expect(onDemandPriceOf('nope')).toEqual({});
  });
});

describe('AwsScalingActivities', () => {
  it("reports the group's failed spot launch with its code", async () => {
    const lt = await clients.ec2.send(
      new CreateLaunchTemplateCommand({
        LaunchTemplateName: name,
        LaunchTemplateData: { ImageId: 'ami-12c6146b', InstanceType: 'm5.large' },
      }),
    );
    await injectCapacityFailure({ groupName: name, code: 'InsufficientInstanceCapacity' });
    await new AwsAutoScaling(clients.autoScaling).createGroup({
      name,
      minSize: 0,
      maxSize: 2,
      desiredCapacity: 1,
      availabilityZones: ['us-west-2a'],
      mixedInstancesPolicy: {
        launchTemplate: { id: lt.LaunchTemplate?.LaunchTemplateId ?? '', version: '1' },
        overrides: [{ instanceType: 'm5.large' }],
        instancesDistribution: { onDemandPercentageAboveBaseCapacity: 0 },
      },
    });
    const activities = await new AwsScalingActivities(clients.autoScaling).recentActivities(name);
    expect(activities[0]).toMatchObject({ groupName: name, statusCode: 'Failed' });
    expect(activities[0]?.statusMessage).toContain('InsufficientInstanceCapacity');
  });
});
