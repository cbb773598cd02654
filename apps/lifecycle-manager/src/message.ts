// What a queue message says, from its body alone (pure). Three shapes carry a lifecycle action:
// - the raw Auto Scaling notification a hook sends to its SQS target (upstream lifecycle-manager's input);
// - the same wrapped in an SNS notification ({"Type":"Notification","Message":"<json>"});
// - the EventBridge event "EC2 Instance-terminate Lifecycle Action" (source aws.autoscaling, fields in detail).
// autoscaling:TEST_NOTIFICATION (sent when a hook is put) is recognised and ignored.
// Besides, the EventBridge events AWS sends about EC2 instances: spot interruption warnings, rebalance
// recommendations, state changes (stopping, stopped, shutting-down, terminated) and AWS Health scheduled
// changes for EC2 (each affected instance).

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

/** The EventBridge events AWS sends about EC2 instances that lifecycle-manager acts on. */
export type InstanceEventKind =
  'spot-interruption' | 'rebalance-recommendation' | 'state-change' | 'scheduled-change';

/** An EC2 event about one or more instances (no lifecycle action to complete). */
export interface InstanceEvent {
  Kind: InstanceEventKind;
  /** The instances it names (one, except an AWS Health event's affectedEntities). */
  EC2InstanceIds: string[];
  /** The event's time (ISO-8601), when it says. */
  Time?: string;
  /** state-change: the EC2 state (stopping, stopped, shutting-down, terminated). */
  State?: string;
  /** The EventBridge event id. */
  EventId?: string;
}

/** EC2 states a state-change event is acted on for: the instance is going away. */
export const ACTED_STATES: ReadonlySet<string> = new Set([
  'stopping',
  'stopped',
  'shutting-down',
  'terminated',
]);

export type ParsedMessage =
  | { kind: 'lifecycle'; format: 'asg' | 'sns' | 'eventbridge'; event: LifecycleEvent }
  | { kind: 'instance-event'; event: InstanceEvent }
  /** Well-formed, of a kind this tool knows, with nothing to do ever (a state change to running...). */
  | { kind: 'ignored'; detail: string }
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
  if (event.LifecycleTransition !== TERMINATING && event.LifecycleTransition !== LAUNCHING)
    return { kind: 'unsupported', detail: `lifecycle transition ${event.LifecycleTransition}` };
  return { kind: 'lifecycle', format, event };
}

const EC2_EVENT_KINDS: Record<string, InstanceEventKind> = {
  'EC2 Spot Instance Interruption Warning': 'spot-interruption',
  'EC2 Instance Rebalance Recommendation': 'rebalance-recommendation',
  'EC2 Instance State-change Notification': 'state-change',
};

/** aws.ec2 events: detail["instance-id"] (and detail.state for a state change). */
function fromEc2Event(body: Json, kind: InstanceEventKind): ParsedMessage {
  const detail = isObject(body.detail) ? body.detail : undefined;
  const id = text(detail?.['instance-id']);
  if (!id) return { kind: 'invalid', detail: `${kind} event without detail.instance-id` };
  const state = text(detail?.state);
  if (kind === 'state-change') {
    if (!state) return { kind: 'invalid', detail: 'state-change event without detail.state' };
    if (!ACTED_STATES.has(state)) return { kind: 'ignored', detail: `instance ${id} is ${state}` };
  }
  const event: InstanceEvent = { Kind: kind, EC2InstanceIds: [id] };
  const time = text(body.time);
  if (time) event.Time = time;
  if (state) event.State = state;
  const eventId = text(body.id);
  if (eventId) event.EventId = eventId;
  return { kind: 'instance-event', event };
}

/** aws.health "AWS Health Event": EC2 scheduled changes name their instances in affectedEntities. */
function fromHealthEvent(body: Json): ParsedMessage {
  const detail = isObject(body.detail) ? body.detail : undefined;
  if (!detail) return { kind: 'invalid', detail: 'AWS Health event without detail' };
  if (detail.service !== 'EC2' || detail.eventTypeCategory !== 'scheduledChange')
    return {
      kind: 'ignored',
      detail: `AWS Health event ${String(detail.service)} ${String(detail.eventTypeCategory)}`,
    };
  const entities = Array.isArray(detail.affectedEntities) ? detail.affectedEntities : [];
  const ids = entities
    .map((e) => (isObject(e) ? text(e.entityValue) : undefined))
    .filter((v): v is string => v !== undefined && /^i-[0-9a-z]+$/.test(v));
  if (ids.length === 0) return { kind: 'ignored', detail: 'AWS Health event naming no EC2 instance' };
  const event: InstanceEvent = { Kind: 'scheduled-change', EC2InstanceIds: ids };
  const time = text(body.time);
  if (time) event.Time = time;
  const eventId = text(body.id);
  if (eventId) event.EventId = eventId;
  return { kind: 'instance-event', event };
}

function fromEventBridge(body: Json): ParsedMessage {
  const type = text(body['detail-type']) ?? '';
  if (body.source === 'aws.ec2' && EC2_EVENT_KINDS[type]) return fromEc2Event(body, EC2_EVENT_KINDS[type]);
  if (body.source === 'aws.health' && type === 'AWS Health Event') return fromHealthEvent(body);
  if (body.source !== 'aws.autoscaling' || !type.startsWith('EC2 Instance-'))
    return { kind: 'unsupported', detail: `event ${String(body.source)} "${type}"` };
  if (type !== 'EC2 Instance-terminate Lifecycle Action' && type !== 'EC2 Instance-launch Lifecycle Action')
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
