// The emulator's TERMINATING lifecycle hooks (packages/testenv/moto/server.py adds them to moto, per the Auto
// Scaling documentation): a hook's SQS target gets a TEST_NOTIFICATION, a terminate or a scale-in holds the
// instance in Terminating:Wait and sends the notification, a heartbeat keeps it, CompleteLifecycleAction
// ends it, a passed heartbeat timeout applies the DefaultResult. Groups without hooks terminate as before.
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { CreateQueueCommand, DeleteQueueCommand, GetQueueAttributesCommand } from '@aws-sdk/client-sqs';
import { DescribeSubnetsCommand } from '@aws-sdk/client-ec2';
import { Registry } from 'prom-client';
import {
  AwsAutoScaling,
  AwsEc2,
  AwsMetrics,
  AwsOperationError,
  AwsSqs,
  awsClientConfig,
  createAwsClients,
  type AwsClients,
} from '../src/index';

const runId = `${Date.now().toString(36)}${Math.random().toString(36).slice(2, 6)}`;
const named = (what: string) => `keiko-hooks-${runId}-${what}`;
const TERMINATING = 'autoscaling:EC2_INSTANCE_TERMINATING';

let clients: AwsClients;
let asg: AwsAutoScaling;
let ec2: AwsEc2;
let sqs: AwsSqs;
let subnet = '';
let templateId = '';
const cleanups: Array<() => Promise<unknown>> = [];

async function eventually<T>(what: string, probe: () => Promise<T | undefined>, ms = 30_000): Promise<T> {
  const until = Date.now() + ms;
  for (;;) {
    const value = await probe();
    if (value !== undefined) return value;
    if (Date.now() > until) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 250));
  }
}

async function queue(name: string): Promise<{ url: string; arn: string }> {
  const out = await clients.sqs.send(new CreateQueueCommand({ QueueName: named(name) }));
  const url = out.QueueUrl ?? '';
  cleanups.push(() => clients.sqs.send(new DeleteQueueCommand({ QueueUrl: url })));
  const attrs = await clients.sqs.send(
    new GetQueueAttributesCommand({ QueueUrl: url, AttributeNames: ['QueueArn'] }),
  );
  return { url, arn: attrs.Attributes?.QueueArn ?? '' };
}

async function group(name: string, size: number): Promise<string[]> {
  await asg.createGroup({
    name,
    minSize: 0,
    maxSize: 5,
    desiredCapacity: size,
    launchTemplate: { id: templateId, version: '1' },
    subnetIds: [subnet],
  });
  cleanups.push(() => asg.deleteGroup(name, { forceDelete: true }));
  const g = await asg.describeGroup(name);
  return (g?.instances ?? []).map((i) => i.id);
}

async function messages(url: string): Promise<Array<Record<string, string>>> {
  const got = await sqs.receive(url, { waitSeconds: 1 });
  for (const m of got) await sqs.delete(url, m.receiptHandle);
  return got.map((m) => JSON.parse(m.body) as Record<string, string>);
}

/** EventBridge through its JSON API (no EventBridge SDK client in the repository; the emulator takes unsigned calls). */
async function events(target: string, body: unknown): Promise<void> {
  const res = await fetch(process.env.AWS_ENDPOINT_URL ?? '', {
    method: 'POST',
    headers: {
      'Content-Type': 'application/x-amz-json-1.1',
      'X-Amz-Target': `AWSEvents.${target}`,
      Authorization: `AWS4-HMAC-SHA256 Credential=test/20260101/${awsClientConfig().region}/events/aws4_request, SignedHeaders=host, Signature=0`,
    },
    body: JSON.stringify(body),
  });
  if (!res.ok) throw new Error(`EventBridge ${target}: ${res.status} ${await res.text()}`);
}

const stateOf = async (name: string, id: string) =>
  (await asg.describeGroup(name))?.instances.find((i) => i.id === id)?.lifecycleState;
const ec2State = async (id: string) => (await ec2.describeInstances([id]))[0]?.state;

beforeAll(async () => {
  clients = createAwsClients(awsClientConfig(), { metrics: new AwsMetrics({ registry: new Registry() }) });
  asg = new AwsAutoScaling(clients.autoScaling);
  ec2 = new AwsEc2(clients.ec2);
  sqs = new AwsSqs(clients.sqs);
  const subnets = await clients.ec2.send(
    new DescribeSubnetsCommand({ Filters: [{ Name: 'default-for-az', Values: ['true'] }] }),
  );
  subnet = subnets.Subnets?.[0]?.SubnetId ?? '';
  const template = await ec2.createLaunchTemplate({
    name: named('lt'),
    data: { ImageId: 'ami-12c6146b', InstanceType: 't3.micro' },
  });
  templateId = template.id;
  cleanups.push(() => ec2.deleteLaunchTemplate({ id: templateId }));
});

afterAll(async () => {
  for (const undo of cleanups.reverse()) await undo().catch(() => undefined);
  clients?.destroy();
});

describe('emulator lifecycle hooks (TERMINATING)', () => {
  it('holds a terminated instance in Terminating:Wait, notifies the queue, and terminates on CONTINUE', async () => {
    const name = named('asg');
    const q = await queue('q');
    const [victim, other] = await group(name, 2);
    await asg.putLifecycleHook({
      groupName: name,
      hookName: 'drain',
      transition: TERMINATING,
      heartbeatTimeoutSeconds: 300,
      defaultResult: 'CONTINUE',
      notificationTargetArn: q.arn,
      roleArn: 'arn:aws:iam::123456789012:role/hooks',
    });
    const hooks = await asg.describeLifecycleHooks(name);
    expect(hooks[0]).toMatchObject({ notificationTargetArn: q.arn, heartbeatTimeoutSeconds: 300 });
    const test = await eventually('the test notification', async () => (await messages(q.url))[0]);
    expect(test).toMatchObject({ Event: 'autoscaling:TEST_NOTIFICATION', AutoScalingGroupName: name });

    await asg.terminateInstanceInGroup(victim as string, { decrementDesired: true });
    expect(await stateOf(name, victim as string)).toBe('Terminating:Wait');
    expect(await ec2State(victim as string)).toBe('running');
    expect(await stateOf(name, other as string)).toBe('InService');
    const note = await eventually('the hook notification', async () => (await messages(q.url))[0]);
    expect(note).toMatchObject({
      LifecycleHookName: 'drain',
      LifecycleTransition: TERMINATING,
      AutoScalingGroupName: name,
      EC2InstanceId: victim,
      AccountId: expect.stringMatching(/^\d{12}$/),
      Service: 'AWS Auto Scaling',
    });
    expect(note.LifecycleActionToken).toMatch(/^[0-9a-f-]{36}$/);
    expect(note.RequestId).toBeTruthy();
    expect(Date.parse(note.Time as string)).toBeGreaterThan(0);
    // No second notification, no second terminate of an instance already on its way out.
    await expect(
      asg.terminateInstanceInGroup(victim as string, { decrementDesired: true }),
    ).rejects.toThrow();

    const ref = { groupName: name, hookName: 'drain', token: note.LifecycleActionToken as string };
    await asg.recordLifecycleActionHeartbeat(ref);
    await expect(
      asg.recordLifecycleActionHeartbeat({ ...ref, token: '00000000-0000-0000-0000-000000000000' }),
    ).rejects.toBeInstanceOf(AwsOperationError);
    await asg.completeLifecycleAction({ ...ref, result: 'CONTINUE' });
    expect(await stateOf(name, victim as string)).toBeUndefined();
    expect(await ec2State(victim as string)).toBe('terminated');
    // The action is over: completing it again is refused, as AWS does.
    await expect(asg.completeLifecycleAction({ ...ref, result: 'CONTINUE' })).rejects.toThrow(
      /No active Lifecycle Action/,
    );
    expect((await asg.describeGroup(name))?.instances.map((i) => i.id)).toEqual([other]);
  });

  it('holds an instance of a scale-in and applies the DefaultResult once the heartbeat timeout passes', async () => {
    const name = named('asg-timeout');
    const q = await queue('q-timeout');
    const ids = await group(name, 2);
    await asg.putLifecycleHook({
      groupName: name,
      hookName: 'short',
      transition: TERMINATING,
      heartbeatTimeoutSeconds: 3,
      defaultResult: 'ABANDON',
      notificationTargetArn: q.arn,
    });
    await asg.setDesiredCapacity(name, 1);
    const held = await eventually('an instance in Terminating:Wait', async () =>
      (await asg.describeGroup(name))?.instances.find((i) => i.lifecycleState === 'Terminating:Wait'),
    );
    expect(ids).toContain(held.id);
    const note = await eventually('the hook notification', async () =>
      (await messages(q.url)).find((m) => m.LifecycleTransition === TERMINATING),
    );
    expect(note.EC2InstanceId).toBe(held.id);
    await eventually('the timeout to terminate it', async () =>
      (await ec2State(held.id)) === 'terminated' ? true : undefined,
    );
    expect(await stateOf(name, held.id)).toBeUndefined();
    expect(
      (await asg.describeGroup(name))?.instances.filter((i) => i.lifecycleState === 'InService'),
    ).toHaveLength(1);
  });

  it('emits the EventBridge "EC2 Instance-terminate Lifecycle Action" event, delivered by a rule to its target', async () => {
    const name = named('asg-events');
    const hookQueue = await queue('q-hook');
    const eventQueue = await queue('q-events');
    const rule = named('rule');
    await events('PutRule', {
      Name: rule,
      EventPattern: JSON.stringify({
        source: ['aws.autoscaling'],
        'detail-type': ['EC2 Instance-terminate Lifecycle Action'],
      }),
    });
    cleanups.push(() => events('DeleteRule', { Name: rule }));
    await events('PutTargets', { Rule: rule, Targets: [{ Id: 'queue', Arn: eventQueue.arn }] });
    cleanups.push(() => events('RemoveTargets', { Rule: rule, Ids: ['queue'] }));
    const [victim] = await group(name, 1);
    await asg.putLifecycleHook({
      groupName: name,
      hookName: 'drain',
      transition: TERMINATING,
      heartbeatTimeoutSeconds: 300,
      notificationTargetArn: hookQueue.arn,
    });
    await asg.terminateInstanceInGroup(victim as string, { decrementDesired: true });
    const event = (await eventually('the EventBridge event', async () =>
      (await messages(eventQueue.url)).find((m) => m.source === 'aws.autoscaling'),
    )) as unknown as { 'detail-type': string; detail: Record<string, string> };
    expect(event['detail-type']).toBe('EC2 Instance-terminate Lifecycle Action');
    expect(event.detail).toMatchObject({
      EC2InstanceId: victim,
      AutoScalingGroupName: name,
      LifecycleHookName: 'drain',
      LifecycleTransition: TERMINATING,
    });
    expect(event.detail.LifecycleActionToken).toMatch(/^[0-9a-f-]{36}$/);
  });

  it('a force-deleted group terminates its instances without waiting on the hook', async () => {
    const name = named('asg-delete');
    const q = await queue('q-delete');
    const [held, other] = await group(name, 2);
    await asg.putLifecycleHook({
      groupName: name,
      hookName: 'drain',
      transition: TERMINATING,
      heartbeatTimeoutSeconds: 300,
      notificationTargetArn: q.arn,
    });
    await asg.terminateInstanceInGroup(held as string, { decrementDesired: true });
    expect(await stateOf(name, held as string)).toBe('Terminating:Wait');
    await asg.deleteGroup(name, { forceDelete: true });
    for (const id of [held, other]) expect(await ec2State(id as string)).toBe('terminated');
  });

  it('terminates at once in a group without hooks (unchanged behaviour)', async () => {
    const name = named('asg-plain');
    const [victim] = await group(name, 1);
    await asg.terminateInstanceInGroup(victim as string, { decrementDesired: true });
    expect(await stateOf(name, victim as string)).toBeUndefined();
    expect(await ec2State(victim as string)).toBe('terminated');
  });
});
