// Integration against the AWS emulator (moto) the jest global setup starts or reuses; AWS_ENDPOINT_URL and
// dummy credentials come from it. Every resource is named per run so tests never see each other's.
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import {
  CreateSecurityGroupCommand,
  CreateSubnetCommand,
  CreateVpcCommand,
  DeleteSecurityGroupCommand,
  DeleteSubnetCommand,
  DeleteVpcCommand,
} from '@aws-sdk/client-ec2';
import { CreateQueueCommand, DeleteQueueCommand } from '@aws-sdk/client-sqs';
import { Registry } from 'prom-client';
import {
  AwsAutoScaling,
  AwsEc2,
  AwsMetrics,
  AwsOperationError,
  AwsSqs,
  CachedAutoScaling,
  awsClientConfig,
  createAwsClients,
  driftedInstances,
  instanceDrift,
  launchTemplatesToResolve,
  type AwsClients,
  type Ec2Instance,
  type GroupInstance,
  type ScalingGroup,
} from '../src/index';

const runId = `${Date.now().toString(36)}${Math.random().toString(36).slice(2, 6)}`;
const named = (what: string) => `keiko-aws-it-${runId}-${what}`;

let clients: AwsClients;
let metrics: AwsMetrics;
let asg: AwsAutoScaling;
let ec2: AwsEc2;
let vpcId: string;
let subnetA: string;
let subnetB: string;
/** Undo steps, run newest first after all tests (best effort: the emulator is shared and long-lived). */
const cleanups: Array<() => Promise<unknown>> = [];

beforeAll(async () => {
  if (!process.env.AWS_ENDPOINT_URL)
    throw new Error('AWS_ENDPOINT_URL is not set: the jest global setup should have started the emulator');
  metrics = new AwsMetrics({ registry: new Registry() });
  clients = createAwsClients(awsClientConfig(), { metrics });
  asg = new AwsAutoScaling(clients.autoScaling);
  ec2 = new AwsEc2(clients.ec2);

  // A VPC of our own so Name tags and groups cannot clash with other tests using the default VPC.
  const vpc = await clients.ec2.send(new CreateVpcCommand({ CidrBlock: '10.77.0.0/16' }));
  vpcId = vpc.Vpc?.VpcId ?? '';
  cleanups.push(() => clients.ec2.send(new DeleteVpcCommand({ VpcId: vpcId })));
  const subnet = async (suffix: string, cidr: string, az: string) => {
    const out = await clients.ec2.send(
      new CreateSubnetCommand({
        VpcId: vpcId,
        CidrBlock: cidr,
        AvailabilityZone: az,
        TagSpecifications: [{ ResourceType: 'subnet', Tags: [{ Key: 'Name', Value: named(suffix) }] }],
      }),
    );
    const id = out.Subnet?.SubnetId ?? '';
    cleanups.push(() => clients.ec2.send(new DeleteSubnetCommand({ SubnetId: id })));
    return id;
  };
  subnetA = await subnet('subnet-a', '10.77.1.0/24', 'us-west-2a');
  subnetB = await subnet('subnet-b', '10.77.2.0/24', 'us-west-2b');
});

afterAll(async () => {
  for (const undo of cleanups.reverse()) await undo().catch(() => undefined);
  clients?.destroy();
});

/**
 * moto reports every ASG instance with the group's *current* template and that template's *default*
 * version, whatever the instance was launched from. EC2's own aws:ec2launchtemplate:* tags are per
 * instance (in moto and in AWS), so the drift scenario reads the launch version from there.
 */
function withLaunchTemplateFromEc2(
  instances: GroupInstance[],
  fromEc2: Ec2Instance[],
  templateName: string,
): GroupInstance[] {
  return instances.map((i) => {
    const lt = fromEc2.find((e) => e.id === i.id)?.launchTemplate;
    return lt
      ? {
          ...i,
          launchTemplate: { id: lt.id, name: templateName, ...(lt.version ? { version: lt.version } : {}) },
        }
      : i;
  });
}

describe('Auto Scaling and EC2 ports against the emulator', () => {
  const groupName = named('asg');
  const templateName = named('lt');
  let templateId = '';

  it('creates a launch template with two versions and an ASG of three instances', async () => {
    const template = await ec2.createLaunchTemplate({
      name: templateName,
      data: { ImageId: 'ami-12c6146b', InstanceType: 't3.micro' },
      tags: { owner: 'keiko-test' },
    });
    templateId = template.id;
    cleanups.push(() => ec2.deleteLaunchTemplate({ id: template.id }));
    expect(template).toMatchObject({
      name: templateName,
      defaultVersion: 1,
      latestVersion: 1,
      tags: { owner: 'keiko-test' },
    });
    const v2 = await ec2.createLaunchTemplateVersion(
      { id: templateId },
      { data: { ImageId: 'ami-12c6146b', InstanceType: 't3.small' } },
    );
    expect(v2).toMatchObject({ id: templateId, version: 2, isDefault: false, instanceType: 't3.small' });

    await asg.createGroup({
      name: groupName,
      minSize: 0,
      maxSize: 5,
      desiredCapacity: 3,
      launchTemplate: { id: templateId, version: '1' },
      subnetIds: [subnetA],
      tags: [{ key: 'keiko.io/test', value: runId }],
    });
    cleanups.push(() => asg.deleteGroup(groupName, { forceDelete: true }));

    const groups = await asg.describeGroups([groupName, named('no-such-group')]);
    expect(groups).toHaveLength(1);
    const group = groups[0] as ScalingGroup;
    expect(group).toMatchObject({
      name: groupName,
      desiredCapacity: 3,
      minSize: 0,
      maxSize: 5,
      subnetIds: [subnetA],
      launchTemplate: { id: templateId, name: templateName, version: '1' },
      tags: { 'keiko.io/test': runId },
    });
    expect(group.instances).toHaveLength(3);
    for (const instance of group.instances) {
      expect(instance).toMatchObject({
        lifecycleState: 'InService',
        healthStatus: 'Healthy',
        availabilityZone: 'us-west-2a',
        protectedFromScaleIn: false,
        launchTemplate: { id: templateId, name: templateName, version: '1' },
      });
    }
    expect(await asg.describeGroup(named('no-such-group'))).toBeUndefined();
    expect((await asg.listGroups({ tags: { 'keiko.io/test': runId } })).map((g) => g.name)).toEqual([
      groupName,
    ]);
  });

  it('resolves $Latest, $Default and numbers to concrete versions with their data', async () => {
    expect(await ec2.resolveLaunchTemplateVersion({ id: templateId, version: '$Latest' })).toMatchObject({
      version: 2,
      instanceType: 't3.small',
      imageId: 'ami-12c6146b',
      name: templateName,
    });
    expect(await ec2.resolveLaunchTemplateVersion({ name: templateName, version: '$Default' })).toMatchObject(
      {
        id: templateId,
        version: 1,
        isDefault: true,
        instanceType: 't3.micro',
      },
    );
    expect((await ec2.resolveLaunchTemplateVersion({ name: templateName })).version).toBe(1);
    expect((await ec2.resolveLaunchTemplateVersion({ id: templateId, version: 2 })).version).toBe(2);
    await expect(ec2.resolveLaunchTemplateVersion({ id: templateId, version: 9 })).rejects.toThrow(
      new RegExp(
        `ec2 DescribeLaunchTemplateVersions launch template ${templateId}: InvalidLaunchTemplateId.VersionNotFound`,
      ),
    );
    expect((await ec2.describeLaunchTemplateVersions({ id: templateId })).map((v) => v.version)).toEqual([
      1, 2,
    ]);
    expect(await ec2.describeLaunchTemplate({ name: templateName })).toMatchObject({
      id: templateId,
      defaultVersion: 1,
      latestVersion: 2,
    });
    expect(await ec2.describeLaunchTemplate({ name: named('no-such-template') })).toBeUndefined();
  });

  it('finds every instance drifted once the group moves to $Latest', async () => {
    const pinned = (await asg.describeGroup(groupName)) as ScalingGroup;
    expect(launchTemplatesToResolve(pinned)).toEqual([]);
    expect(driftedInstances(pinned)).toEqual([]);

    await asg.updateGroup(groupName, { launchTemplate: { id: templateId, version: '$Latest' } });

    const group = (await asg.describeGroup(groupName)) as ScalingGroup;
    expect(group.launchTemplate).toEqual({ id: templateId, name: templateName, version: '$Latest' });
    const [toResolve] = launchTemplatesToResolve(group);
    const resolved = await ec2.resolveLaunchTemplateVersion({
      id: toResolve?.id,
      version: toResolve?.version,
    });
    expect(resolved.version).toBe(2);
    expect(
      driftedInstances(group, resolved)
        .map((i) => i.id)
        .sort(),
    ).toEqual(group.instances.map((i) => i.id).sort());
    expect(instanceDrift(group, group.instances[0] as GroupInstance, resolved).detail).toContain(
      'wants version 2',
    );
  });

  it('replaces a terminated instance with one on the new version, which is not drifted', async () => {
    const before = (await asg.describeGroup(groupName)) as ScalingGroup;
    const oldIds = before.instances.map((i) => i.id);
    const victim = oldIds[0] as string;
    // moto launches replacements from the template's default version, so make v2 the default too
    // (instance-manager does exactly this when it rolls a new version out).
    await ec2.setDefaultLaunchTemplateVersion({ id: templateId }, 2);

    const result = await asg.terminateInstanceInGroup(victim, { decrementDesired: false });
    expect(result.groupName).toBe(groupName);

    const after = (await asg.describeGroup(groupName)) as ScalingGroup;
    expect(after.desiredCapacity).toBe(3);
    const currentIds = after.instances.map((i) => i.id);
    expect(currentIds).not.toContain(victim);
    const newIds = currentIds.filter((id) => !oldIds.includes(id));
    expect(newIds).toHaveLength(1);

    // The terminated instance is still described (state terminated); an id EC2 never saw is left out.
    const fromEc2 = await ec2.describeInstances([...currentIds, victim, 'i-0000000000000dead']);
    expect(fromEc2.find((i) => i.id === victim)?.state).toBe('terminated');
    expect(fromEc2.map((i) => i.id).sort()).toEqual([...currentIds, victim].sort());
    expect(fromEc2.find((i) => i.id === newIds[0])).toMatchObject({
      state: 'running',
      instanceType: 't3.small',
      subnetId: subnetA,
      launchTemplate: { id: templateId, version: '2' },
    });

    const resolved = await ec2.resolveLaunchTemplateVersion({ id: templateId, version: '$Latest' });
    const view = { ...after, instances: withLaunchTemplateFromEc2(after.instances, fromEc2, templateName) };
    const drifted = driftedInstances(view, resolved).map((i) => i.id);
    expect(drifted.sort()).toEqual(oldIds.filter((id) => id !== victim).sort());
    expect(drifted).not.toContain(newIds[0]);
  });

  it('changes capacity, protection, standby, tags and processes', async () => {
    const group = (await asg.describeGroup(groupName)) as ScalingGroup;
    const [first, second] = group.instances.map((i) => i.id) as [string, string];

    await asg.setInstanceProtection(groupName, [first], true);
    await asg.enterStandby(groupName, [second], { decrementDesired: true });
    await asg.createOrUpdateTags(groupName, [{ key: 'keiko.io/phase', value: 'rolling' }]);
    await asg.suspendProcesses(groupName, ['AZRebalance']);
    let now = (await asg.describeGroup(groupName)) as ScalingGroup;
    expect(now.instances.find((i) => i.id === first)?.protectedFromScaleIn).toBe(true);
    expect(now.instances.find((i) => i.id === second)?.lifecycleState).toBe('Standby');
    expect(now.desiredCapacity).toBe(2);
    expect(now.tags['keiko.io/phase']).toBe('rolling');
    expect(now.tagList.find((t) => t.key === 'keiko.io/phase')?.propagateAtLaunch).toBe(true);
    expect(now.suspendedProcesses).toEqual(['AZRebalance']);

    await asg.exitStandby(groupName, [second]);
    await asg.setInstanceProtection(groupName, [first], false);
    await asg.deleteTags(groupName, ['keiko.io/phase']);
    await asg.resumeProcesses(groupName, ['AZRebalance']);
    await asg.setDesiredCapacity(groupName, 3);
    now = (await asg.describeGroup(groupName)) as ScalingGroup;
    expect(now.instances.find((i) => i.id === second)?.lifecycleState).toBe('InService');
    expect(now.instances.find((i) => i.id === first)?.protectedFromScaleIn).toBe(false);
    expect(now.tags['keiko.io/phase']).toBeUndefined();
    expect(now.suspendedProcesses).toEqual([]);
    expect(now.desiredCapacity).toBe(3);
  });

  it('puts, describes and deletes lifecycle hooks; reports AWS refusing to complete an action that is not pending', async () => {
    await asg.putLifecycleHook({
      groupName,
      hookName: 'drain',
      transition: 'autoscaling:EC2_INSTANCE_TERMINATING',
      heartbeatTimeoutSeconds: 300,
      defaultResult: 'CONTINUE',
    });
    expect(await asg.describeLifecycleHooks(groupName)).toEqual([
      expect.objectContaining({
        groupName,
        hookName: 'drain',
        transition: 'autoscaling:EC2_INSTANCE_TERMINATING',
        heartbeatTimeoutSeconds: 300,
        defaultResult: 'CONTINUE',
      }),
    ]);

    const group = (await asg.describeGroup(groupName)) as ScalingGroup;
    const instanceId = group.instances[0]?.id ?? '';
    // The instance is InService: no lifecycle action is pending for it, and the emulator (as AWS) refuses with a
    // ValidationError; the port must say so, not succeed. (packages/aws/test/lifecycle-hooks.test.ts tests actions.)
    const err = await asg
      .completeLifecycleAction({ groupName, hookName: 'drain', instanceId, result: 'CONTINUE' })
      .catch((e: unknown) => e);
    expect(err).toBeInstanceOf(AwsOperationError);
    expect((err as AwsOperationError).message).toContain(
      `autoscaling CompleteLifecycleAction group ${groupName} hook drain instance ${instanceId}`,
    );
    expect((err as AwsOperationError).httpStatus).toBe(400);
    expect((err as AwsOperationError).message).toMatch(/No active Lifecycle Action found with instance ID/);
    await expect(
      asg.recordLifecycleActionHeartbeat({ groupName, hookName: 'drain', instanceId }),
    ).rejects.toThrow(/RecordLifecycleActionHeartbeat/);

    expect(await asg.deleteLifecycleHook(groupName, 'drain')).toBe(true);
    expect(await asg.describeLifecycleHooks(groupName)).toEqual([]);
  });

  it('serves concurrent reads of one group with one API call through the cache', async () => {
    const cached = new CachedAutoScaling(asg);
    const before = metrics.callCount();
    const [a, b, c] = await Promise.all([
      cached.describeGroup(groupName),
      cached.describeGroup(groupName),
      cached.describeGroups([groupName]),
    ]);
    expect(a?.name).toBe(groupName);
    expect(b).toBe(a);
    expect(c[0]).toBe(a);
    expect(metrics.callCount() - before).toBe(1);
    await cached.describeGroup(groupName);
    expect(metrics.callCount() - before).toBe(1);
  });

  it('deletes launch template versions, answering per version: never the default, not an unknown one', async () => {
    // moto 5.2 lacks the call; the emulator launcher (packages/testenv/moto/server.py) adds it as AWS documents it.
    await ec2.setDefaultLaunchTemplateVersion({ id: templateId }, 2);
    const result = await ec2.deleteLaunchTemplateVersions({ id: templateId }, [1, 2, 99]);
    expect(result.deleted).toEqual([1]);
    expect(result.failed.map((f) => `${f.version} ${f.code}`)).toEqual([
      '2 unexpectedError',
      '99 launchTemplateVersionDoesNotExist',
    ]);
    const left = await ec2.describeLaunchTemplateVersions({ id: templateId });
    expect(left.map((v) => v.version)).toEqual([2]);
    const again = await ec2.deleteLaunchTemplateVersions({ id: templateId }, [1]);
    expect(again.deleted).toEqual([]);
    expect(again.failed).toEqual([
      expect.objectContaining({ version: 1, code: 'launchTemplateVersionDoesNotExist' }),
    ]);
  });

  it('deletes the group (idempotently) and the template', async () => {
    expect(await asg.deleteGroup(groupName, { forceDelete: true })).toBe(true);
    expect(await asg.describeGroup(groupName)).toBeUndefined();
    expect(await asg.deleteGroup(groupName, { forceDelete: true })).toBe(false);
    expect(await ec2.deleteLaunchTemplate({ id: templateId })).toBe(true);
    expect(await ec2.describeLaunchTemplate({ id: templateId })).toBeUndefined();
  });
});

describe('EC2 lookups against the emulator', () => {
  it('finds subnets by id or Name tag and names the ones it cannot find', async () => {
    const found = await ec2.describeSubnets([named('subnet-a'), subnetB], { vpcId });
    expect(found.map((s) => [s.id, s.name, s.availabilityZone]).sort()).toEqual(
      [
        [subnetA, named('subnet-a'), 'us-west-2a'],
        [subnetB, named('subnet-b'), 'us-west-2b'],
      ].sort(),
    );
    await expect(
      ec2.describeSubnets([named('subnet-a'), named('subnet-x'), 'subnet-0000dead'], { vpcId }),
    ).rejects.toThrow(
      `subnets not found in ${vpcId} (by id or Name tag): subnet-0000dead, ${named('subnet-x')}`,
    );
  });

  it('finds security groups by id, group name or Name tag', async () => {
    const out = await clients.ec2.send(
      new CreateSecurityGroupCommand({
        GroupName: named('sg'),
        Description: 'keiko test',
        VpcId: vpcId,
        TagSpecifications: [
          { ResourceType: 'security-group', Tags: [{ Key: 'Name', Value: named('sg-tag') }] },
        ],
      }),
    );
    const id = out.GroupId ?? '';
    cleanups.push(() => clients.ec2.send(new DeleteSecurityGroupCommand({ GroupId: id })));
    for (const ref of [id, named('sg'), named('sg-tag')]) {
      expect((await ec2.describeSecurityGroups([ref], { vpcId })).map((g) => g.id)).toEqual([id]);
    }
    await expect(ec2.describeSecurityGroups([named('sg-missing')], { vpcId })).rejects.toThrow(
      named('sg-missing'),
    );
  });

  it('reads spot price history', async () => {
    const prices = await ec2.describeSpotPriceHistory({
      instanceTypes: ['m5.large'],
      availabilityZone: 'us-west-2a',
      maxResults: 5,
    });
    expect(prices.length).toBeGreaterThan(0);
    expect(prices.length).toBeLessThanOrEqual(5);
    expect(prices[0]).toMatchObject({ instanceType: 'm5.large', availabilityZone: 'us-west-2a' });
    expect(prices[0]?.price).toBeGreaterThan(0);
  });
});

describe('SQS port against the emulator', () => {
  it('looks up a queue, sends, long-polls and deletes', async () => {
    const queueName = named('queue');
    const created = await clients.sqs.send(new CreateQueueCommand({ QueueName: queueName }));
    cleanups.push(() => clients.sqs.send(new DeleteQueueCommand({ QueueUrl: created.QueueUrl })));
    const sqs = new AwsSqs(clients.sqs);
    const url = await sqs.queueUrl(queueName);
    expect(url).toContain(queueName);

    const id = await sqs.send(url, '{"LifecycleTransition":"autoscaling:EC2_INSTANCE_TERMINATING"}', {
      attributes: { source: 'test' },
    });
    const messages = await sqs.receive(url, { waitSeconds: 2 });
    expect(messages).toEqual([
      expect.objectContaining({
        messageId: id,
        body: '{"LifecycleTransition":"autoscaling:EC2_INSTANCE_TERMINATING"}',
        attributes: { source: 'test' },
        receiveCount: 1,
      }),
    ]);
    await sqs.delete(url, messages[0]?.receiptHandle ?? '');
    expect(await sqs.receive(url, { waitSeconds: 0 })).toEqual([]);
    await expect(sqs.queueUrl(named('no-queue'))).rejects.toThrow(/sqs GetQueueUrl queue .*no-queue/);
  });
});
