// LAUNCHING hooks: CONTINUE once the launched instance's node is Ready, bounded.
import { describe, expect, it } from '@jest/globals';
import { LAUNCHING, parseMessage } from '../src/message';
import { decideMessage, type MessageFacts } from '../src/plan';

const fields = {
  LifecycleHookName: 'launch',
  LifecycleTransition: LAUNCHING,
  AutoScalingGroupName: 'ng-1',
  EC2InstanceId: 'i-0123',
  LifecycleActionToken: 'tok-1',
};

const facts = (over: Partial<MessageFacts> = {}): MessageFacts => ({
  parsed: parseMessage(JSON.stringify(fields)),
  inProgress: false,
  groupFound: true,
  instanceState: 'Pending:Wait',
  nodeExists: true,
  nodeReady: true,
  ageMs: 1_000,
  receiveCount: 1,
  maxTimeToProcessMs: 3_600_000,
  pollingIntervalSeconds: 5,
  ...over,
});

describe('LAUNCHING hooks', () => {
  it('reads the raw notification and the EventBridge launch event', () => {
    expect(parseMessage(JSON.stringify(fields))).toMatchObject({ kind: 'lifecycle', event: fields });
    const event = {
      'detail-type': 'EC2 Instance-launch Lifecycle Action',
      source: 'aws.autoscaling',
      detail: fields,
    };
    expect(parseMessage(JSON.stringify(event))).toMatchObject({ kind: 'lifecycle', format: 'eventbridge' });
  });

  it('completes once the node is Ready, waits while it is not (or not registered)', () => {
    expect(decideMessage(facts())).toMatchObject({ do: 'complete-launch' });
    expect(decideMessage(facts({ nodeReady: false }))).toEqual({
      do: 'wait',
      why: 'waiting for the node to be Ready',
      hideSeconds: 5,
    });
    expect(decideMessage(facts({ nodeExists: false, nodeReady: false }))).toMatchObject({ do: 'wait' });
    expect(decideMessage(facts({ instanceState: 'Pending', nodeReady: true }))).toMatchObject({
      do: 'wait',
    });
  });

  it('is bounded: past --max-time-to-process the message goes (the hook DefaultResult applies)', () => {
    expect(decideMessage(facts({ nodeReady: false, ageMs: 3_600_000 }))).toMatchObject({ do: 'delete' });
  });

  it('deletes the message once the action is over, rejects one of an unknown group', () => {
    expect(decideMessage(facts({ instanceState: 'InService' }))).toMatchObject({ do: 'delete' });
    expect(decideMessage(facts({ instanceState: undefined }))).toMatchObject({ do: 'delete' });
    expect(decideMessage(facts({ groupFound: false }))).toMatchObject({ do: 'reject' });
  });
});
