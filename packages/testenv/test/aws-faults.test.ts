// The emulator's fault injection (moto/server.py, /testenv-api/faults) through its client AwsFaults:
// seeded shares of throttling and HTTP 500 answers in each service's own error format (what the SDK
// classifies as throttling / transient), latency, per-operation rules, and scoping by access key so that
// every other caller sees a fault-free emulator.
import { afterAll, describe, expect, it } from '@jest/globals';
import {
  AutoScalingClient,
  DescribeAutoScalingGroupsCommand,
  DescribeAutoScalingInstancesCommand,
  TerminateInstanceInAutoScalingGroupCommand,
} from '@aws-sdk/client-auto-scaling';
import { DescribeInstancesCommand, EC2Client } from '@aws-sdk/client-ec2';
import { isServerError, isThrottlingError, isTransientError } from '@smithy/core/retry';
import { ListQueuesCommand, SQSClient } from '@aws-sdk/client-sqs';
import { AwsFaults } from '../src/aws-faults';
import { emulatorConfig } from '../src/aws-fixtures';

const faults = new AwsFaults(`test-${process.pid}`);
const faulted = {
  ...emulatorConfig(),
  credentials: { accessKeyId: faults.scope, secretAccessKey: 'testing' },
  maxAttempts: 1,
};
const asg = new AutoScalingClient(faulted);
const ec2 = new EC2Client(faulted);
const sqs = new SQSClient(faulted);
const clean = new AutoScalingClient({ ...emulatorConfig(), maxAttempts: 1 });

afterAll(async () => {
  await faults.off();
  for (const c of [asg, ec2, sqs, clean]) c.destroy();
});

type Outcome = 'ok' | string;
async function outcome(send: () => Promise<unknown>): Promise<Outcome> {
  try {
    await send();
    return 'ok';
  } catch (err) {
    // classified as the SDK's retry strategy classifies it
    const e = err as Parameters<typeof isThrottlingError>[0] & { name: string };
    const kind = isThrottlingError(e)
      ? 'throttling'
      : isTransientError(e)
        ? 'transient'
        : isServerError(e)
          ? 'server'
          : '-';
    return `${e.name}/${e.$metadata?.httpStatusCode}/${kind}`;
  }
}
const describeGroups = () => outcome(() => asg.send(new DescribeAutoScalingGroupsCommand({})));

describe('AWS emulator fault injection', () => {
  it('throttles a seeded share of one operation, reproducibly, and only for its own access key', async () => {
    await faults.on(7, [{ operations: ['DescribeAutoScalingGroups'], throttle: 0.5 }]);
    const first: Outcome[] = [];
    for (let i = 0; i < 30; i++) first.push(await describeGroups());
    const throttled = first.filter((o) => o !== 'ok');
    expect(throttled.length).toBeGreaterThan(5);
    expect(throttled.length).toBeLessThan(25);
    // Auto Scaling's own throttling answer: HTTP 400 code Throttling, which the SDK retries as throttling.
    expect(new Set(throttled)).toEqual(new Set(['Throttling/400/throttling']));
    // the same seed, the same sequence
    await faults.on(7, [{ operations: ['DescribeAutoScalingGroups'], throttle: 0.5 }]);
    const again: Outcome[] = [];
    for (let i = 0; i < 30; i++) again.push(await describeGroups());
    expect(again).toEqual(first);
    // another operation of the scope, and every other caller, are untouched
    expect(await outcome(() => ec2.send(new DescribeInstancesCommand({})))).toBe('ok');
    for (let i = 0; i < 10; i++)
      expect(await outcome(() => clean.send(new DescribeAutoScalingGroupsCommand({})))).toBe('ok');
    const summary = await faults.summary();
    expect(summary).toMatchObject({ calls: 31, throttled: throttled.length, errors: 0 });
  });

  it("answers each protocol's own errors: EC2 RequestLimitExceeded 503, JSON ThrottlingException, HTTP 500", async () => {
    await faults.on(1, [{ operations: ['DescribeInstances', 'ListQueues'], throttle: 1 }, { error: 1 }]);
    expect(await outcome(() => ec2.send(new DescribeInstancesCommand({})))).toBe(
      'RequestLimitExceeded/503/throttling',
    );
    expect(await outcome(() => sqs.send(new ListQueuesCommand({})))).toBe(
      'ThrottlingException/400/throttling',
    );
    expect(await describeGroups()).toBe('InternalFailure/500/transient');
  });

  it('adds latency, records the instances of destructive calls with their answer, and switches off', async () => {
    await faults.on(3, [{ operations: ['DescribeAutoScalingGroups'], latencyMs: 400 }]);
    const started = Date.now();
    expect(await describeGroups()).toBe('ok');
    expect(Date.now() - started).toBeGreaterThanOrEqual(400);
    const ids = ['i-0123456789abcdef0', 'i-0123456789abcdef1'];
    expect(await outcome(() => asg.send(new DescribeAutoScalingInstancesCommand({ InstanceIds: ids })))).toBe(
      'ok',
    );
    // an instance the emulator does not know: moto fails it (HTML 500), recorded as answered, not injected
    await outcome(() =>
      asg.send(
        new TerminateInstanceInAutoScalingGroupCommand({
          InstanceId: ids[0],
          ShouldDecrementDesiredCapacity: false,
        }),
      ),
    );
    const records = await faults.records();
    expect(records.find((r) => r.operation === 'DescribeAutoScalingInstances')).toMatchObject({
      instances: ids,
      status: 200,
    });
    expect(records.find((r) => r.operation === 'TerminateInstanceInAutoScalingGroup')).toMatchObject({
      instances: [ids[0]],
      status: 500,
    });
    expect(records.every((r) => r.fault === undefined)).toBe(true);
    expect([...(await faults.succeeded('DescribeAutoScalingInstances'))]).toEqual(ids.map((i) => [i, 1]));
    expect((await faults.succeeded('TerminateInstanceInAutoScalingGroup')).size).toBe(0);
    await faults.on(3, [{ throttle: 1 }]);
    expect(await describeGroups()).not.toBe('ok');
    await faults.off();
    expect(await describeGroups()).toBe('ok');
    expect(await faults.records()).toEqual([]);
  });
});
