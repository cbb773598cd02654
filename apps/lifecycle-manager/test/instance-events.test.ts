// The EC2 events lifecycle-manager acts on: parsing (AWS's EventBridge shapes), the message decision, the
// per-event plan, and the node record a restart resumes from.
import { describe, expect, it } from '@jest/globals';
import { readRecord } from '../src/consumer';
import { parseMessage, type InstanceEvent } from '../src/message';
import {
  decideInstanceMessage,
  eventTimeMs,
  instanceEventPlan,
  SPOT_NOTICE_MS,
  type InstanceMessageFacts,
} from '../src/plan';

const ec2Event = (type: string, detail: object, source = 'aws.ec2') =>
  JSON.stringify({
    version: '0',
    id: 'ev-1',
    'detail-type': type,
    source,
    account: '123456789012',
    time: '2026-12-07T02:00:00Z',
    region: 'us-west-2',
    resources: ['arn:aws:ec2:us-west-2:123456789012:instance/i-0abc'],
    detail,
  });

describe('parseMessage: EC2 events', () => {
  it('reads a spot interruption warning', () => {
    expect(
      parseMessage(
        ec2Event('EC2 Spot Instance Interruption Warning', {
          'instance-id': 'i-0abc',
          'instance-action': 'terminate',
        }),
      ),
    ).toEqual({
      kind: 'instance-event',
      event: {
        Kind: 'spot-interruption',
        EC2InstanceIds: ['i-0abc'],
        Time: '2026-12-07T02:00:00Z',
        EventId: 'ev-1',
      },
    });
  });

  it('reads a rebalance recommendation and the state changes acted on; ignores the others', () => {
    const rebalance = parseMessage(
      ec2Event('EC2 Instance Rebalance Recommendation', { 'instance-id': 'i-0abc' }),
    );
    expect(rebalance).toMatchObject({ kind: 'instance-event', event: { Kind: 'rebalance-recommendation' } });
    for (const state of ['stopping', 'stopped', 'shutting-down', 'terminated'])
      expect(
        parseMessage(ec2Event('EC2 Instance State-change Notification', { 'instance-id': 'i-0abc', state })),
      ).toMatchObject({ kind: 'instance-event', event: { Kind: 'state-change', State: state } });
    expect(
      parseMessage(
        ec2Event('EC2 Instance State-change Notification', { 'instance-id': 'i-0abc', state: 'running' }),
      ),
    ).toEqual({ kind: 'ignored', detail: 'instance i-0abc is running' });
  });

  it('reads an AWS Health EC2 scheduled change, naming each affected instance', () => {
    const parsed = parseMessage(
      ec2Event(
        'AWS Health Event',
        {
          service: 'EC2',
          eventTypeCategory: 'scheduledChange',
          eventTypeCode: 'AWS_EC2_PERSISTENT_INSTANCE_RETIREMENT_SCHEDULED',
          affectedEntities: [{ entityValue: 'i-0abc' }, { entityValue: 'i-0def' }, { entityValue: 'vol-1' }],
        },
        'aws.health',
      ),
    );
    expect(parsed).toMatchObject({
      kind: 'instance-event',
      event: { Kind: 'scheduled-change', EC2InstanceIds: ['i-0abc', 'i-0def'] },
    });
    expect(
      parseMessage(
        ec2Event('AWS Health Event', { service: 'RDS', eventTypeCategory: 'issue' }, 'aws.health'),
      ),
    ).toMatchObject({ kind: 'ignored' });
  });

  it('calls an EC2 event without its instance invalid, and an unknown aws.ec2 kind unsupported', () => {
    expect(parseMessage(ec2Event('EC2 Spot Instance Interruption Warning', {}))).toEqual({
      kind: 'invalid',
      detail: 'spot-interruption event without detail.instance-id',
    });
    expect(
      parseMessage(ec2Event('EC2 Instance State-change Notification', { 'instance-id': 'i-0abc' })),
    ).toMatchObject({ kind: 'invalid' });
    expect(parseMessage(ec2Event('EBS Volume Notification', {}))).toMatchObject({ kind: 'unsupported' });
  });
});

const spot: InstanceEvent = { Kind: 'spot-interruption', EC2InstanceIds: ['i-1'] };
const facts = (over: Partial<InstanceMessageFacts> = {}): InstanceMessageFacts => ({
  event: spot,
  withNode: ['i-1'],
  active: [],
  ageMs: 1_000,
  receiveCount: 1,
  maxTimeToProcessMs: 3_600_000,
  deleteIfNoNode: false,
  ...over,
});

describe('decideInstanceMessage', () => {
  it('processes the instances that have a node and are not handled yet', () => {
    const health: InstanceEvent = { Kind: 'scheduled-change', EC2InstanceIds: ['i-1', 'i-2', 'i-3'] };
    expect(
      decideInstanceMessage(facts({ event: health, withNode: ['i-1', 'i-2'], active: ['i-1'] })),
    ).toEqual({ do: 'process', instanceIds: ['i-2'] });
    expect(decideInstanceMessage(facts({ active: ['i-1'] }))).toEqual({ do: 'attach', instanceId: 'i-1' });
  });

  it('puts back a message naming no node here with a growing delay, and deletes it once moot', () => {
    expect(decideInstanceMessage(facts({ withNode: [], receiveCount: 3 }))).toEqual({
      do: 'wait',
      why: 'no node of this cluster for instance(s) i-1',
      hideSeconds: 90,
    });
    // A spot warning is moot once the notice is over; other events after --max-time-to-process.
    expect(decideInstanceMessage(facts({ withNode: [], ageMs: SPOT_NOTICE_MS }))).toMatchObject({
      do: 'delete',
    });
    const rebalance: InstanceEvent = { Kind: 'rebalance-recommendation', EC2InstanceIds: ['i-1'] };
    expect(
      decideInstanceMessage(facts({ event: rebalance, withNode: [], ageMs: SPOT_NOTICE_MS })),
    ).toMatchObject({ do: 'wait' });
    expect(decideInstanceMessage(facts({ withNode: [], deleteIfNoNode: true }))).toMatchObject({
      do: 'delete',
    });
  });
});

describe('instanceEventPlan', () => {
  const o = {
    drainTimeoutMs: 300_000,
    drainTimeoutUnknownMs: 30_000,
    drainRetries: 3,
    maxTerminationGraceSeconds: 900,
    rebalanceDraining: false,
  };

  it('fits a spot drain and its escalation into what is left of the 2-minute notice', () => {
    const plan = instanceEventPlan(spot, o, 20_000);
    expect(plan).toMatchObject({
      drain: true,
      drainRetries: 1,
      deleteNode: false,
      reason: 'SpotInterruption',
    });
    expect(plan.drainTimeoutMs).toBe(90_000);
    expect(plan.maxGraceSeconds).toBe(90);
    expect(instanceEventPlan(spot, o, 200_000).drainTimeoutMs).toBe(5_000);
  });

  it('cordons on a rebalance recommendation unless rebalance draining is on', () => {
    const rebalance: InstanceEvent = { Kind: 'rebalance-recommendation', EC2InstanceIds: ['i-1'] };
    expect(instanceEventPlan(rebalance, o, 0)).toMatchObject({
      drain: false,
      excludeFromLoadBalancers: false,
    });
    expect(instanceEventPlan(rebalance, { ...o, rebalanceDraining: true }, 0)).toMatchObject({ drain: true });
  });

  it('drains on a state change, and deletes the Node of an instance going away for good', () => {
    const state = (s: string): InstanceEvent => ({ Kind: 'state-change', EC2InstanceIds: ['i-1'], State: s });
    expect(instanceEventPlan(state('stopping'), o, 0)).toMatchObject({
      drain: true,
      deleteNode: false,
      drainTimeoutMs: 300_000,
    });
    expect(instanceEventPlan(state('terminated'), o, 0)).toMatchObject({
      drain: true,
      deleteNode: true,
      drainTimeoutMs: 30_000,
    });
    const health: InstanceEvent = { Kind: 'scheduled-change', EC2InstanceIds: ['i-1'] };
    expect(instanceEventPlan(health, o, 0)).toMatchObject({ drain: true, reason: 'ScheduledChange' });
  });
});

describe('eventTimeMs and readRecord', () => {
  it('reads ISO text or epoch seconds, never later than the message', () => {
    const sent = Date.parse('2026-12-07T02:00:10Z');
    expect(eventTimeMs('2026-12-07T02:00:00Z', sent)).toBe(sent - 10_000);
    expect(eventTimeMs(String((sent - 5_000) / 1000), sent)).toBe(sent - 5_000);
    expect(eventTimeMs('2027-01-01T00:00:00Z', sent)).toBe(sent);
    expect(eventTimeMs('garbage', sent)).toBe(sent);
  });

  it('resumes a lifecycle notification record (upstream format) and an EC2 event record', () => {
    const hook = { EC2InstanceId: 'i-1', LifecycleActionToken: 't', AutoScalingGroupName: 'g' };
    expect(readRecord(JSON.stringify(hook), 'i-1')).toMatchObject({ instanceId: 'i-1', event: hook });
    expect(readRecord(JSON.stringify({ Kind: 'spot-interruption', EC2InstanceIds: ['i-2'] }), 'i-2')).toEqual(
      {
        instanceId: 'i-2',
        instanceEvent: { Kind: 'spot-interruption', EC2InstanceIds: ['i-2'] },
      },
    );
    expect(readRecord('{not json', 'i-1')).toBeUndefined();
    expect(readRecord('{"something":"else"}', 'i-1')).toBeUndefined();
  });
});
