// lifecycle-manager's pure decisions and message parsing.
import { describe, expect, it } from '@jest/globals';
import { parseMessage, TERMINATING, type ParsedMessage } from '../src/message';
import {
  afterDrainFailure,
  decideMessage,
  drainTimeoutMs,
  escalationGraceSeconds,
  failureVerdict,
  heartbeatIntervalMs,
  receiveBatch,
  rejectHideSeconds,
  type MessageFacts,
} from '../src/plan';

const fields = {
  LifecycleHookName: 'lifecycle-manager',
  AccountId: '123456789012',
  RequestId: 'r-1',
  LifecycleTransition: TERMINATING,
  AutoScalingGroupName: 'ng-1',
  EC2InstanceId: 'i-0123',
  LifecycleActionToken: 'tok-1',
  Time: '2026-12-06T10:00:00.000Z',
  Service: 'AWS Auto Scaling',
};

describe('parseMessage', () => {
  it('reads the raw Auto Scaling notification', () => {
    expect(parseMessage(JSON.stringify(fields))).toEqual({ kind: 'lifecycle', format: 'asg', event: fields });
  });
  it('reads the SNS-wrapped notification', () => {
    const p = parseMessage(JSON.stringify({ Type: 'Notification', Message: JSON.stringify(fields) }));
    expect(p).toMatchObject({ kind: 'lifecycle', format: 'sns', event: { EC2InstanceId: 'i-0123' } });
  });
  it('reads the EventBridge "EC2 Instance-terminate Lifecycle Action" event', () => {
    const { AccountId: _a, RequestId: _r, Time: _t, Service: _s, ...detail } = fields;
    const p = parseMessage(
      JSON.stringify({
        source: 'aws.autoscaling',
        'detail-type': 'EC2 Instance-terminate Lifecycle Action',
        account: '111122223333',
        time: 't',
        detail,
      }),
    );
    expect(p).toMatchObject({
      kind: 'lifecycle',
      format: 'eventbridge',
      event: { ...detail, AccountId: '111122223333' },
    });
  });
  it('recognises the TEST_NOTIFICATION', () => {
    expect(
      parseMessage(JSON.stringify({ Event: 'autoscaling:TEST_NOTIFICATION', AutoScalingGroupName: 'x' })),
    ).toEqual({ kind: 'test-notification' });
  });
  it('names what is wrong with a bad message, never throws', () => {
    expect(parseMessage('not json')).toEqual({ kind: 'invalid', detail: 'body is not JSON' });
    expect(parseMessage('[1]')).toMatchObject({ kind: 'invalid' });
    const { EC2InstanceId: _i, ...missing } = fields;
    expect(parseMessage(JSON.stringify(missing))).toEqual({
      kind: 'invalid',
      detail: 'asg lifecycle notification: missing EC2InstanceId',
    });
    expect(
      parseMessage(JSON.stringify({ ...fields, LifecycleTransition: 'autoscaling:EC2_INSTANCE_RESIZING' })),
    ).toMatchObject({ kind: 'unsupported' });
    expect(
      parseMessage(
        JSON.stringify({
          source: 'aws.ec2',
          'detail-type': 'EC2 Fleet Error',
          detail: {},
        }),
      ),
    ).toMatchObject({ kind: 'unsupported' });
  });
});

describe('decideMessage', () => {
  const lifecycle = parseMessage(JSON.stringify(fields)) as ParsedMessage;
  const facts = (over: Partial<MessageFacts> = {}): MessageFacts => ({
    parsed: lifecycle,
    inProgress: false,
    groupFound: true,
    instanceState: 'Terminating:Wait',
    nodeExists: true,
    ageMs: 1_000,
    receiveCount: 1,
    maxTimeToProcessMs: 3_600_000,
    pollingIntervalSeconds: 10,
    ...over,
  });
  it('processes a waiting instance with a node', () => {
    expect(decideMessage(facts())).toEqual({ do: 'process' });
  });
  it('deletes a test notification and a message whose action is over', () => {
    expect(decideMessage(facts({ parsed: { kind: 'test-notification' } }))).toMatchObject({ do: 'delete' });
    expect(decideMessage(facts({ instanceState: undefined }))).toMatchObject({
      do: 'delete',
      why: expect.stringContaining('no longer in its group'),
    });
    expect(decideMessage(facts({ instanceState: 'Terminating:Proceed' }))).toMatchObject({ do: 'delete' });
  });
  it('processes a warm-pool instance waiting on its hook (Warmed:Terminating:Wait)', () => {
    expect(decideMessage(facts({ instanceState: 'Warmed:Terminating:Wait' }))).toEqual({ do: 'process' });
    expect(decideMessage(facts({ instanceState: 'Warmed:Terminated' }))).toMatchObject({ do: 'delete' });
  });
  it('keeps the message of an instance not yet shown waiting (InService, Terminating), deleting it only past --max-time-to-process', () => {
    for (const state of ['InService', 'Terminating', 'Pending:Wait'])
      expect(decideMessage(facts({ instanceState: state }))).toEqual({
        do: 'wait',
        why: `instance is ${state}, not yet Terminating:Wait`,
        hideSeconds: 10,
      });
    expect(decideMessage(facts({ instanceState: 'InService', ageMs: 3_600_000 }))).toMatchObject({
      do: 'delete',
      why: expect.stringContaining('still InService'),
    });
  });
  it('keeps a message whose node is not known yet, then completes it past --max-time-to-process (upstream #282)', () => {
    expect(decideMessage(facts({ nodeExists: false }))).toEqual({
      do: 'wait',
      why: 'no node for the instance yet',
      hideSeconds: 10,
    });
    expect(decideMessage(facts({ nodeExists: false, ageMs: 3_600_000 }))).toMatchObject({
      do: 'complete-without-node',
    });
  });
  it('attaches a duplicate delivery to the work in progress', () => {
    expect(decideMessage(facts({ inProgress: true, instanceState: undefined }))).toEqual({ do: 'attach' });
  });
  it('rejects, never deletes, a message for a group this account and region does not have (a shared queue)', () => {
    expect(decideMessage(facts({ groupFound: false, instanceState: undefined }))).toMatchObject({
      do: 'reject',
      why: expect.stringContaining('not found in this account and region'),
    });
  });
  it('rejects bad messages with a growing, bounded delay', () => {
    expect(decideMessage(facts({ parsed: { kind: 'invalid', detail: 'x' }, receiveCount: 3 }))).toEqual({
      do: 'reject',
      why: 'x',
      hideSeconds: 90,
    });
    expect(rejectHideSeconds(1000)).toBe(900);
  });
});

describe('drain and failure decisions', () => {
  it('heartbeats every HeartbeatTimeout/2', () => {
    expect(heartbeatIntervalMs(300)).toBe(150_000);
    expect(heartbeatIntervalMs(1)).toBe(1_000);
  });
  it('uses --drain-timeout-unknown for a node whose kubelet stopped reporting', () => {
    const o = { drainTimeoutMs: 300_000, drainTimeoutUnknownMs: 30_000 };
    expect(drainTimeoutMs('Unknown', o)).toBe(30_000);
    expect(drainTimeoutMs('True', o)).toBe(300_000);
  });
  it('retries, escalates once, then gives up', () => {
    expect(afterDrainFailure(1, 3, false)).toEqual({ do: 'retry', attempt: 2 });
    expect(afterDrainFailure(3, 3, false)).toEqual({ do: 'escalate' });
    expect(afterDrainFailure(3, 3, true)).toEqual({ do: 'give-up' });
    expect(escalationGraceSeconds(3600, 900)).toBe(900);
    expect(escalationGraceSeconds(undefined, 900)).toBe(30);
  });
  it('abandons only on a definitive failure, not on an API outage (upstream #189)', () => {
    expect(failureVerdict('api', 1_000, 3_600_000)).toEqual({ do: 'retry-later' });
    expect(failureVerdict('api', 3_600_000, 3_600_000)).toEqual({ do: 'abandon' });
    expect(failureVerdict('drain', 0, 3_600_000)).toEqual({ do: 'abandon' });
  });
  it('receives no more than --max-drain-concurrency allows', () => {
    expect(receiveBatch(0, 32)).toBe(10);
    expect(receiveBatch(30, 32)).toBe(2);
    expect(receiveBatch(32, 32)).toBe(0);
  });
});
