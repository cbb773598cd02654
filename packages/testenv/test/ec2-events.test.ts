// The emulator's EC2 event endpoint (packages/testenv/moto/server.py, POST /moto-api/testenv/ec2-events):
// the events AWS sends about instances reach an SQS queue through an EventBridge rule, in AWS's shapes; a
// spot interruption terminates the instance itself at the end of its notice, followed by its state-change
// events; bad requests are refused with the reason.
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { DescribeInstancesCommand, EC2Client, RunInstancesCommand } from '@aws-sdk/client-ec2';
import {
  CreateQueueCommand,
  DeleteMessageCommand,
  DeleteQueueCommand,
  GetQueueAttributesCommand,
  ReceiveMessageCommand,
  SQSClient,
} from '@aws-sdk/client-sqs';
import { emitEc2Event, routeEc2EventsToQueue } from '../src/ec2-events';
import { emulatorConfig } from '../src/aws-fixtures';
import { uniqueName } from '../src/namespaces';

const ec2 = new EC2Client(emulatorConfig());
const sqs = new SQSClient(emulatorConfig());
let queueUrl = '';
let removeRule: () => Promise<void> = async () => undefined;

interface Delivered {
  source: string;
  'detail-type': string;
  time: string;
  resources: string[];
  detail: Record<string, unknown>;
}

/** The events about `ids` (the default bus is shared: other suites' events may reach the rule too). */
async function drain(ids: string[], count: number, ms = 20_000): Promise<Delivered[]> {
  const got: Delivered[] = [];
  const until = Date.now() + ms;
  while (got.length < count && Date.now() < until) {
    const out = await sqs.send(
      new ReceiveMessageCommand({ QueueUrl: queueUrl, MaxNumberOfMessages: 10, WaitTimeSeconds: 1 }),
    );
    for (const m of out.Messages ?? []) {
      const event = JSON.parse(m.Body ?? '{}') as Delivered;
      if (JSON.stringify(event.detail).match(new RegExp(ids.join('|')))) got.push(event);
      await sqs.send(new DeleteMessageCommand({ QueueUrl: queueUrl, ReceiptHandle: m.ReceiptHandle }));
    }
  }
  return got;
}

async function instance(): Promise<string> {
  const out = await ec2.send(
    new RunInstancesCommand({ ImageId: 'ami-12c6146b', MinCount: 1, MaxCount: 1, InstanceType: 't3.micro' }),
  );
  return out.Instances?.[0]?.InstanceId ?? '';
}

async function ec2State(id: string): Promise<string | undefined> {
  const out = await ec2.send(new DescribeInstancesCommand({ InstanceIds: [id] }));
  return out.Reservations?.[0]?.Instances?.[0]?.State?.Name;
}

beforeAll(async () => {
  const name = uniqueName('ec2-events');
  queueUrl = (await sqs.send(new CreateQueueCommand({ QueueName: name }))).QueueUrl ?? '';
  const attrs = await sqs.send(
    new GetQueueAttributesCommand({ QueueUrl: queueUrl, AttributeNames: ['QueueArn'] }),
  );
  removeRule = await routeEc2EventsToQueue(name, attrs.Attributes?.QueueArn ?? '');
});

afterAll(async () => {
  await removeRule();
  await sqs.send(new DeleteQueueCommand({ QueueUrl: queueUrl })).catch(() => undefined);
  ec2.destroy();
  sqs.destroy();
});

describe('emulator EC2 events', () => {
  it('a spot interruption warning, then the instance terminated at the end of its notice', async () => {
    const id = await instance();
    const answer = await emitEc2Event({ kind: 'spot-interruption', instanceIds: [id], noticeSeconds: 3 });
    expect(answer.terminateAt).toBeGreaterThan(Date.now() / 1000);
    const [warning] = await drain([id], 1);
    expect(warning).toMatchObject({
      source: 'aws.ec2',
      'detail-type': 'EC2 Spot Instance Interruption Warning',
      detail: { 'instance-id': id, 'instance-action': 'terminate' },
    });
    expect(warning?.resources).toEqual([expect.stringMatching(new RegExp(`:instance/${id}$`))]);
    expect(Number.isNaN(Date.parse(warning?.time ?? ''))).toBe(false);
    // Still running during the notice.
    expect(await ec2State(id)).toBe('running');
    const after = await drain([id], 2, 30_000);
    expect(after.map((e) => [e['detail-type'], e.detail.state])).toEqual([
      ['EC2 Instance State-change Notification', 'shutting-down'],
      ['EC2 Instance State-change Notification', 'terminated'],
    ]);
    expect(await ec2State(id)).toBe('terminated');
    expect(Date.now() / 1000).toBeGreaterThanOrEqual(answer.terminateAt ?? Infinity);
  }, 60_000);

  it('rebalance, state-change and AWS Health scheduled-change events in AWS shapes', async () => {
    const a = await instance();
    const b = await instance();
    await emitEc2Event({ kind: 'rebalance-recommendation', instanceIds: [a] });
    await emitEc2Event({ kind: 'state-change', instanceIds: [a], state: 'stopping' });
    await emitEc2Event({ kind: 'scheduled-change', instanceIds: [a, b] });
    const got = await drain([a, b], 3);
    const byType = new Map(got.map((e) => [e['detail-type'], e]));
    expect(byType.get('EC2 Instance Rebalance Recommendation')).toMatchObject({
      source: 'aws.ec2',
      detail: { 'instance-id': a },
    });
    expect(byType.get('EC2 Instance State-change Notification')?.detail).toEqual({
      'instance-id': a,
      state: 'stopping',
    });
    expect(byType.get('AWS Health Event')).toMatchObject({
      source: 'aws.health',
      detail: {
        service: 'EC2',
        eventTypeCategory: 'scheduledChange',
        affectedEntities: [{ entityValue: a }, { entityValue: b }],
      },
    });
    // The event alone: the instance's state is left as it is.
    expect(await ec2State(a)).toBe('running');
  }, 60_000);

  it('refuses an unknown kind, an unknown instance and a state EC2 does not have', async () => {
    const id = await instance();
    await expect(emitEc2Event({ kind: 'bogus', instanceIds: [id] } as never)).rejects.toThrow(/kind 'bogus'/);
    await expect(
      emitEc2Event({ kind: 'rebalance-recommendation', instanceIds: ['i-0000000000doesnotexist'] }),
    ).rejects.toThrow(/not found/);
    await expect(
      emitEc2Event({ kind: 'state-change', instanceIds: [id], state: 'exploded' as never }),
    ).rejects.toThrow(/not an EC2 instance state/);
  });
});
