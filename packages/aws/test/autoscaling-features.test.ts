// The Auto Scaling port's warm pool, group metrics and launch configuration calls: the SDK mapping (pure)
// and the adapter against the AWS emulator (moto 5.2.1), saying where moto differs from AWS.
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import {
  CreateSecurityGroupCommand,
  CreateSubnetCommand,
  CreateVpcCommand,
  DeleteSecurityGroupCommand,
  DeleteSubnetCommand,
  DeleteVpcCommand,
} from '@aws-sdk/client-ec2';
import {
  AwsAutoScaling,
  AwsOperationError,
  CachedAutoScaling,
  awsClientConfig,
  createAwsClients,
  fromSdkGroup,
  fromSdkLaunchConfiguration,
  toSdkLaunchConfiguration,
  type AwsClients,
  type LaunchConfigurationSpec,
} from '../src/index';

describe('Auto Scaling mapping of warm pools, metrics and launch configurations (pure)', () => {
  it('reads enabled metrics and the warm pool off a group', () => {
    const group = fromSdkGroup({
      AutoScalingGroupName: 'g',
      MinSize: 1,
      MaxSize: 2,
      DesiredCapacity: 1,
      DefaultCooldown: 300,
      AvailabilityZones: [],
      HealthCheckType: 'EC2',
      CreatedTime: new Date(0),
      EnabledMetrics: [
        { Metric: 'GroupMinSize', Granularity: '1Minute' },
        { Metric: 'GroupMaxSize', Granularity: '1Minute' },
      ],
      WarmPoolConfiguration: { MinSize: 1, MaxGroupPreparedCapacity: -1, PoolState: 'Stopped' },
    });
    expect(group.enabledMetrics).toEqual(['GroupMinSize', 'GroupMaxSize']);
    expect(group.warmPool).toEqual({ minSize: 1, maxGroupPreparedCapacity: -1, poolState: 'Stopped' });
    const bare = fromSdkGroup({
      AutoScalingGroupName: 'h',
      MinSize: 0,
      MaxSize: 0,
      DesiredCapacity: 0,
      DefaultCooldown: 300,
      AvailabilityZones: [],
      HealthCheckType: 'EC2',
      CreatedTime: new Date(0),
    });
    expect(bare).not.toHaveProperty('enabledMetrics');
    expect(bare).not.toHaveProperty('warmPool');
  });

  it('turns a launch configuration into the SDK request and back', () => {
    const spec: LaunchConfigurationSpec = {
      name: 'g-0123456789ab',
      imageId: 'ami-1',
      instanceType: 'm5.large',
      iamInstanceProfile: 'arn:aws:iam::1:instance-profile/p',
      securityGroups: ['sg-1'],
      userData: 'ZWNobyBoaQ==',
      keyName: 'k',
      spotPrice: '0.05',
      blockDeviceMappings: [
        { deviceName: '/dev/xvda', ebs: { volumeSize: 50, volumeType: 'gp3', deleteOnTermination: true } },
      ],
      metadataOptions: { httpTokens: 'required', httpPutResponseHopLimit: 2 },
      placementTenancy: 'dedicated',
    };
    const sdk = toSdkLaunchConfiguration(spec);
    expect(sdk).toEqual({
      LaunchConfigurationName: 'g-0123456789ab',
      ImageId: 'ami-1',
      InstanceType: 'm5.large',
      IamInstanceProfile: 'arn:aws:iam::1:instance-profile/p',
      SecurityGroups: ['sg-1'],
      UserData: 'ZWNobyBoaQ==',
      KeyName: 'k',
      SpotPrice: '0.05',
      BlockDeviceMappings: [
        { DeviceName: '/dev/xvda', Ebs: { VolumeSize: 50, VolumeType: 'gp3', DeleteOnTermination: true } },
      ],
      MetadataOptions: { HttpTokens: 'required', HttpPutResponseHopLimit: 2 },
      PlacementTenancy: 'dedicated',
    });
    expect(fromSdkLaunchConfiguration({ ...sdk, CreatedTime: new Date(0) })).toEqual({
      ...spec,
      createdTime: new Date(0),
    });
  });
});

const runId = `${Date.now().toString(36)}${Math.random().toString(36).slice(2, 6)}`;
const named = (what: string) => `keiko-asgf-${runId}-${what}`;

let clients: AwsClients;
let asg: AwsAutoScaling;
let subnetId: string;
let securityGroupId: string;
const cleanups: Array<() => Promise<unknown>> = [];

beforeAll(async () => {
  if (!process.env.AWS_ENDPOINT_URL)
    throw new Error('AWS_ENDPOINT_URL is not set: the jest global setup should have started the emulator');
  clients = createAwsClients(awsClientConfig());
  asg = new AwsAutoScaling(clients.autoScaling);
  const vpc = await clients.ec2.send(new CreateVpcCommand({ CidrBlock: '10.78.0.0/16' }));
  const vpcId = vpc.Vpc?.VpcId ?? '';
  cleanups.push(() => clients.ec2.send(new DeleteVpcCommand({ VpcId: vpcId })));
  const subnet = await clients.ec2.send(
    new CreateSubnetCommand({ VpcId: vpcId, CidrBlock: '10.78.1.0/24', AvailabilityZone: 'us-west-2a' }),
  );
  subnetId = subnet.Subnet?.SubnetId ?? '';
  cleanups.push(() => clients.ec2.send(new DeleteSubnetCommand({ SubnetId: subnetId })));
  const sg = await clients.ec2.send(
    new CreateSecurityGroupCommand({ VpcId: vpcId, GroupName: named('sg'), Description: 'test' }),
  );
  securityGroupId = sg.GroupId ?? '';
  cleanups.push(() => clients.ec2.send(new DeleteSecurityGroupCommand({ GroupId: securityGroupId })));
});

afterAll(async () => {
  for (const undo of cleanups.reverse()) await undo().catch(() => undefined);
  clients?.destroy();
});

describe('warm pools, metrics and launch configurations against the emulator', () => {
  const groupName = named('group');
  const lcName = (n: number) => `${groupName}-lc${n}`;
  const lcSpec = (n: number, instanceType: string): LaunchConfigurationSpec => ({
    name: lcName(n),
    imageId: 'ami-12c6146b',
    instanceType,
    securityGroups: [securityGroupId],
    userData: Buffer.from('#!/bin/bash\necho hi\n').toString('base64'),
    blockDeviceMappings: [
      { deviceName: '/dev/xvda', ebs: { volumeSize: 20, volumeType: 'gp3', deleteOnTermination: true } },
    ],
    metadataOptions: { httpTokens: 'required' },
  });

  it('creates launch configurations, finds them by name and by prefix, and launches a group from one', async () => {
    await asg.createLaunchConfiguration(lcSpec(1, 't3.small'));
    await asg.createLaunchConfiguration(lcSpec(2, 't3.medium'));
    cleanups.push(
      () => asg.deleteLaunchConfiguration(lcName(1)),
      () => asg.deleteLaunchConfiguration(lcName(2)),
    );
    const [one] = await asg.describeLaunchConfigurations([lcName(1), named('missing')]);
    expect(one).toMatchObject({
      name: lcName(1),
      imageId: 'ami-12c6146b',
      instanceType: 't3.small',
      securityGroups: [securityGroupId],
      metadataOptions: { httpTokens: 'required' },
    });
    expect(one?.createdTime).toBeInstanceOf(Date);
    expect(await asg.describeLaunchConfigurations([])).toEqual([]);
    expect(
      (await asg.listLaunchConfigurations({ namePrefix: `${groupName}-` })).map((lc) => lc.name).sort(),
    ).toEqual([lcName(1), lcName(2)]);

    await asg.createGroup({
      name: groupName,
      minSize: 1,
      maxSize: 2,
      desiredCapacity: 1,
      launchConfigurationName: lcName(1),
      subnetIds: [subnetId],
    });
    cleanups.push(() => asg.deleteGroup(groupName, { forceDelete: true }));
    const group = await asg.describeGroup(groupName);
    expect(group?.launchConfigurationName).toBe(lcName(1));
    expect(
      group?.instances.map((i) => [i.lifecycleState, i.launchConfigurationName, i.instanceType]),
    ).toEqual([['InService', lcName(1), 't3.small']]);
  });

  it('moves the group to another launch configuration (moto then reports every instance with it)', async () => {
    await asg.updateGroup(groupName, { launchConfigurationName: lcName(2) });
    const group = await asg.describeGroup(groupName);
    expect(group?.launchConfigurationName).toBe(lcName(2));
    // On AWS the running instance keeps lc1 (per instance); moto answers with the group's current one —
    // which is why the eks provisioner also tags instances with their configuration.
    expect(group?.instances.map((i) => i.launchConfigurationName)).toEqual([lcName(2)]);
  });

  it('enables metrics at 1Minute and the cached port sees them at once', async () => {
    const cached = new CachedAutoScaling(asg);
    expect((await cached.describeGroup(groupName))?.enabledMetrics ?? []).toEqual([]);
    await cached.enableMetricsCollection(groupName, ['GroupMinSize', 'GroupInServiceInstances']);
    expect((await cached.describeGroup(groupName))?.enabledMetrics).toEqual([
      'GroupMinSize',
      'GroupInServiceInstances',
    ]);
    // An empty list asks for nothing (no call; AWS would take it as "every metric").
    await cached.enableMetricsCollection(groupName, []);
    // moto replaces the group's metrics with each call's (AWS adds them): the eks provisioner always sends the whole list.
    await asg.enableMetricsCollection(groupName, ['GroupMaxSize']);
    expect((await asg.describeGroup(groupName))?.enabledMetrics).toEqual(['GroupMaxSize']);
  });

  it('reports the emulator lacking DisableMetricsCollection as an error, not as success', async () => {
    const err = await asg.disableMetricsCollection(groupName, ['GroupMaxSize']).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(AwsOperationError);
    expect((err as AwsOperationError).message).toContain(
      `autoscaling DisableMetricsCollection group ${groupName} metrics GroupMaxSize: HTTP 500`,
    );
  }, 30_000);

  it('puts, describes, updates and deletes a warm pool; the group description carries it', async () => {
    expect(await asg.describeWarmPool(groupName)).toBeUndefined();
    await asg.putWarmPool(groupName, { minSize: 1, maxGroupPreparedCapacity: -1 });
    expect(await asg.describeWarmPool(groupName)).toEqual({
      minSize: 1,
      maxGroupPreparedCapacity: -1,
      poolState: 'Stopped',
      instances: [],
    });
    expect((await asg.describeGroup(groupName))?.warmPool).toEqual({
      minSize: 1,
      maxGroupPreparedCapacity: -1,
      poolState: 'Stopped',
    });
    await asg.putWarmPool(groupName, { minSize: 2, maxGroupPreparedCapacity: 3 });
    expect(await asg.describeWarmPool(groupName)).toMatchObject({ minSize: 2, maxGroupPreparedCapacity: 3 });
    expect(await asg.deleteWarmPool(groupName, { forceDelete: true })).toBe(true);
    expect(await asg.describeWarmPool(groupName)).toBeUndefined();
    expect((await asg.describeGroup(groupName))?.warmPool).toBeUndefined();
  });

  it('deletes a group with a warm pool (force), then its launch configurations', async () => {
    await asg.putWarmPool(groupName, { minSize: 1 });
    expect(await asg.deleteGroup(groupName, { forceDelete: true })).toBe(true);
    expect(await asg.describeGroup(groupName)).toBeUndefined();
    expect(await asg.deleteLaunchConfiguration(lcName(1))).toBe(true);
    expect(await asg.deleteLaunchConfiguration(lcName(2))).toBe(true);
    expect(await asg.listLaunchConfigurations({ namePrefix: `${groupName}-` })).toEqual([]);
  });
});
