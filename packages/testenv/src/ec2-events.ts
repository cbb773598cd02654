// The EventBridge events AWS itself sends about EC2 instances (spot interruption warnings, rebalance
// recommendations, state changes, AWS Health scheduled changes), emitted by the emulator's test endpoint
// POST /moto-api/testenv/ec2-events (packages/testenv/moto/server.py): real AWS refuses aws.* sources in
// PutEvents, so a test cannot put them itself. A spot interruption also makes the emulator terminate the
// instance at notice + 120 s, as EC2 does. routeEc2EventsToQueue puts the EventBridge rule (default bus)
// that delivers them, and Auto Scaling's lifecycle-action events, to an SQS queue.
import {
  DeleteRuleCommand,
  EventBridgeClient,
  PutRuleCommand,
  PutTargetsCommand,
  RemoveTargetsCommand,
} from '@aws-sdk/client-eventbridge';
import { emulatorConfig } from './aws-fixtures';

export type Ec2EventRequest =
  | { kind: 'spot-interruption'; instanceIds: string[]; noticeSeconds?: number }
  | { kind: 'rebalance-recommendation'; instanceIds: string[] }
  | {
      kind: 'state-change';
      instanceIds: string[];
      state: 'pending' | 'running' | 'stopping' | 'stopped' | 'shutting-down' | 'terminated';
    }
  | { kind: 'scheduled-change'; instanceIds: string[]; eventTypeCode?: string; startInSeconds?: number };

export interface Ec2EventAnswer {
  events: { 'detail-type': string; detail: Record<string, unknown> }[];
  /** Spot interruption: when (epoch seconds) the emulator terminates the instances. */
  terminateAt?: number;
}

/** Asks the emulator to emit the event(s) as AWS would; throws with the emulator's reason when refused. */
export async function emitEc2Event(
  request: Ec2EventRequest,
  endpoint = process.env.AWS_ENDPOINT_URL ?? '',
): Promise<Ec2EventAnswer> {
  if (!endpoint) throw new Error('emitEc2Event: AWS_ENDPOINT_URL is not set (no emulator)');
  const res = await fetch(`${endpoint.replace(/\/$/, '')}/moto-api/testenv/ec2-events`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify(request),
  });
  const body = (await res.json()) as Ec2EventAnswer & { error?: string };
  if (!res.ok) throw new Error(`emulator refused the ${request.kind} event: ${body.error ?? res.status}`);
  return body;
}

/** The event pattern of the rule lifecycle-manager's docs give (docs/lifecycle-manager.md, "Enroll"). */
export const EC2_EVENTS_PATTERN = {
  source: ['aws.autoscaling', 'aws.ec2', 'aws.health'],
  'detail-type': [
    'EC2 Instance-launch Lifecycle Action',
    'EC2 Instance-terminate Lifecycle Action',
    'EC2 Spot Instance Interruption Warning',
    'EC2 Instance Rebalance Recommendation',
    'EC2 Instance State-change Notification',
    'AWS Health Event',
  ],
};

/** Puts an EventBridge rule on the default bus sending those events to the queue; returns its remover. */
export async function routeEc2EventsToQueue(
  ruleName: string,
  queueArn: string,
  pattern: object = EC2_EVENTS_PATTERN,
): Promise<() => Promise<void>> {
  const events = new EventBridgeClient(emulatorConfig());
  await events.send(new PutRuleCommand({ Name: ruleName, EventPattern: JSON.stringify(pattern) }));
  await events.send(new PutTargetsCommand({ Rule: ruleName, Targets: [{ Id: 'queue', Arn: queueArn }] }));
  return async () => {
    await events.send(new RemoveTargetsCommand({ Rule: ruleName, Ids: ['queue'] })).catch(() => undefined);
    await events.send(new DeleteRuleCommand({ Name: ruleName })).catch(() => undefined);
    events.destroy();
  };
}
