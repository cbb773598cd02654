// The emulator's LAUNCHING lifecycle hooks (packages/testenv/moto/server.py, per the Auto Scaling
// documentation): an instance the group launches while it has a LAUNCHING hook waits in Pending:Wait,
// counted toward the desired capacity, and its notification reaches the hook's SQS target;
// CompleteLifecycleAction CONTINUE puts it InService, ABANDON terminates it; the DefaultResult applies
// when the heartbeat timeout passes.
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import {
  AutoScalingClient,
  CompleteLifecycleActionCommand,
  CreateAutoScalingGroupCommand,
  DeleteAutoScalingGroupCommand,
  DescribeAutoScalingGroupsCommand,
  PutLifecycleHookCommand,
  SetDesiredCapacityCommand,
} from '@aws-sdk/client-auto-scaling';
import { CreateLaunchTemplateCommand, DescribeInstancesCommand, EC2Client } from '@aws-sdk/client-ec2';
import {
  CreateQueueCommand,
  DeleteQueueCommand,
  GetQueueAttributesCommand,
  ReceiveMessageCommand,
  SQSClient,
} from '@aws-sdk/client-sqs';
import { emulatorConfig } from '../src/aws-fixtures';
import { eventually } from '../src/eventually';
import { uniqueName } from '../src/namespaces';

const LAUNCHING = 'autoscaling:EC2_INSTANCE_LAUNCHING';
const asg = new AutoScalingClient(emulatorConfig());
const ec2 = new EC2Client(emulatorConfig());
const sqs = new SQSClient(emulatorConfig());
let queueUrl = '';
let queueArn = '';
let templateId = '';
const groups: string[] = [];

async function group(heartbeat: number, defaultResult: 'CONTINUE' | 'ABANDON'): Promise<string> {
  const name = uniqueName('launch-hook');
  groups.push(name);
  await asg.send(
    new CreateAutoScalingGroupCommand({
      AutoScalingGroupName: name,
      MinSize: 0,
      MaxSize: 3,
      DesiredCapacity: 0,
      LaunchTemplate: { LaunchTemplateId: templateId, Version: '$Latest' },
      AvailabilityZones: ['us-west-2a'],
    }),
  );
  await asg.send(
    new PutLifecycleHookCommand({
      AutoScalingGroupName: name,
      LifecycleHookName: 'launch',
      LifecycleTransition: LAUNCHING,
      HeartbeatTimeout: heartbeat,
      DefaultResult: defaultResult,
      NotificationTargetARN: queueArn,
      RoleARN: 'arn:aws:iam::123456789012:role/hooks',
    }),
  );
  await asg.send(new SetDesiredCapacityCommand({ AutoScalingGroupName: name, DesiredCapacity: 1 }));
  return name;
}

async function instances(name: string) {
  const out = await asg.send(new DescribeAutoScalingGroupsCommand({ AutoScalingGroupNames: [name] }));
  return out.AutoScalingGroups?.[0]?.Instances ?? [];
}

async function notification(name: string): Promise<Record<string, string>> {
  return eventually(`the launch notification of ${name}`, async () => {
    const out = await sqs.send(
      new ReceiveMessageCommand({ QueueUrl: queueUrl, MaxNumberOfMessages: 10, WaitTimeSeconds: 1 }),
    );
    const bodies = (out.Messages ?? []).map((m) => JSON.parse(m.Body ?? '{}') as Record<string, string>);
    return bodies.find((b) => b.AutoScalingGroupName === name && b.LifecycleTransition === LAUNCHING);
  });
}

beforeAll(async () => {
  queueUrl =
    (await sqs.send(new CreateQueueCommand({ QueueName: uniqueName('launch-hooks') }))).QueueUrl ?? '';
  const attrs = await sqs.send(
    new GetQueueAttributesCommand({ QueueUrl: queueUrl, AttributeNames: ['QueueArn'] }),
  );
  queueArn = attrs.Attributes?.QueueArn ?? '';
  const lt = await ec2.send(
    new CreateLaunchTemplateCommand({
      LaunchTemplateName: uniqueName('launch-hooks'),
      LaunchTemplateData: { ImageId: 'ami-12c6146b', InstanceType: 't3.micro' },
    }),
  );
  templateId = lt.LaunchTemplate?.LaunchTemplateId ?? '';
});

afterAll(async () => {
  for (const g of groups)
    await asg
      .send(new DeleteAutoScalingGroupCommand({ AutoScalingGroupName: g, ForceDelete: true }))
      .catch(() => undefined);
  await sqs.send(new DeleteQueueCommand({ QueueUrl: queueUrl })).catch(() => undefined);
  asg.destroy();
  ec2.destroy();
  sqs.destroy();
});

describe('emulator LAUNCHING lifecycle hooks', () => {
  it('holds a launched instance in Pending:Wait until CONTINUE, counted toward the desired capacity', async () => {
    const name = await group(300, 'ABANDON');
    const [first] = await instances(name);
    expect(first?.LifecycleState).toBe('Pending:Wait');
    const note = await notification(name);
    expect(note).toMatchObject({ EC2InstanceId: first?.InstanceId, LifecycleHookName: 'launch' });
    // Another desired-capacity call does not launch a second instance for the one waiting.
    await asg.send(new SetDesiredCapacityCommand({ AutoScalingGroupName: name, DesiredCapacity: 1 }));
    expect(await instances(name)).toHaveLength(1);
    await asg.send(
      new CompleteLifecycleActionCommand({
        AutoScalingGroupName: name,
        LifecycleHookName: 'launch',
        LifecycleActionToken: note.LifecycleActionToken,
        LifecycleActionResult: 'CONTINUE',
      }),
    );
    expect((await instances(name)).map((i) => i.LifecycleState)).toEqual(['InService']);
  }, 60_000);

  it('applies the DefaultResult when the heartbeat timeout passes: ABANDON terminates the instance', async () => {
    const name = await group(2, 'ABANDON');
    const [first] = await instances(name);
    expect(first?.LifecycleState).toBe('Pending:Wait');
    await eventually('the instance gone from its group', async () =>
      (await instances(name)).length === 0 ? true : undefined,
    );
    const out = await ec2.send(new DescribeInstancesCommand({ InstanceIds: [first?.InstanceId ?? ''] }));
    expect(out.Reservations?.[0]?.Instances?.[0]?.State?.Name).toBe('terminated');
  }, 60_000);
});
