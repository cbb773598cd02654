// What a queue message says, from its body alone (pure). Three shapes carry a lifecycle action:
// - the raw Auto Scaling notification a hook sends to its SQS target (upstream lifecycle-manager's input);
// - the same wrapped in an SNS notification ({"Type":"Notification","Message":"<json>"});
// - the EventBridge event "EC2 Instance-terminate Lifecycle Action" (source aws.autoscaling, fields in detail).
// autoscaling:TEST_NOTIFICATION (sent when a hook is put) is recognised and ignored.

export const TERMINATING = 'autoscaling:EC2_INSTANCE_TERMINATING';
export const LAUNCHING = 'autoscaling:EC2_INSTANCE_LAUNCHING';
export const TEST_NOTIFICATION = 'autoscaling:TEST_NOTIFICATION';

/** One lifecycle action to carry out: the fields of the Auto Scaling notification. */
export interface LifecycleEvent {
  LifecycleHookName: string;
  AccountId?: string;
  RequestId?: string;
  LifecycleTransition: string;
  AutoScalingGroupName: string;
  EC2InstanceId: string;
  LifecycleActionToken: string;
  Time?: string;
  Service?: string;
  NotificationMetadata?: string;
}

export type ParsedMessage =
  | { kind: 'lifecycle'; format: 'asg' | 'sns' | 'eventbridge'; event: LifecycleEvent }
  | { kind: 'test-notification' }
  /** Well-formed, but an event kind this version does not act on (a LAUNCHING hook, a spot warning...). */
  | { kind: 'unsupported'; detail: string }
  | { kind: 'invalid'; detail: string };

type Json = Record<string, unknown>;

const isObject = (v: unknown): v is Json => typeof v === 'object' && v !== null && !Array.isArray(v);
const text = (v: unknown) => (typeof v === 'string' ? v : undefined);

const REQUIRED = [
  'LifecycleHookName',
  'LifecycleTransition',
  'AutoScalingGroupName',
  'EC2InstanceId',
  'LifecycleActionToken',
] as const;

function lifecycleEvent(fields: Json): LifecycleEvent | string {
  const missing = REQUIRED.filter((k) => !text(fields[k]));
  if (missing.length > 0) return `missing ${missing.join(', ')}`;
  const event: Record<string, string> = {};
  for (const k of [...REQUIRED, 'AccountId', 'RequestId', 'Time', 'Service', 'NotificationMetadata']) {
    const v = text(fields[k]);
    if (v !== undefined) event[k] = v;
  }
  return event as unknown as LifecycleEvent;
}

function fromFields(fields: Json, format: 'asg' | 'sns' | 'eventbridge'): ParsedMessage {
  if (fields.Event === TEST_NOTIFICATION) return { kind: 'test-notification' };
  const event = lifecycleEvent(fields);
  if (typeof event === 'string')
    return { kind: 'invalid', detail: `${format} lifecycle notification: ${event}` };
  if (event.LifecycleTransition !== TERMINATING)
    return { kind: 'unsupported', detail: `lifecycle transition ${event.LifecycleTransition}` };
  return { kind: 'lifecycle', format, event };
}

function fromEventBridge(body: Json): ParsedMessage {
  const type = text(body['detail-type']) ?? '';
  if (body.source !== 'aws.autoscaling' || !type.startsWith('EC2 Instance-'))
    return { kind: 'unsupported', detail: `event ${String(body.source)} "${type}"` };
  if (type !== 'EC2 Instance-terminate Lifecycle Action')
    return { kind: 'unsupported', detail: `event aws.autoscaling "${type}"` };
  if (!isObject(body.detail)) return { kind: 'invalid', detail: 'EventBridge event without detail' };
  return fromFields({ AccountId: body.account, Time: body.time, ...body.detail }, 'eventbridge');
}

/** Reads a message body: never throws. */
export function parseMessage(body: string): ParsedMessage {
  let parsed: unknown;
  try {
    parsed = JSON.parse(body);
  } catch {
    return { kind: 'invalid', detail: 'body is not JSON' };
  }
  if (!isObject(parsed)) return { kind: 'invalid', detail: 'body is not a JSON object' };
  if (parsed.Type === 'Notification' && typeof parsed.Message === 'string') {
    const inner = parseMessage(parsed.Message);
    return inner.kind === 'lifecycle' ? { ...inner, format: 'sns' } : inner;
  }
  if ('detail-type' in parsed) return fromEventBridge(parsed);
  return fromFields(parsed, 'asg');
}
