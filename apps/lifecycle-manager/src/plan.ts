// lifecycle-manager's decisions, as pure functions of what was read (the message, the instance's Auto
// Scaling state, the node, the clock). processor.ts does the I/O around them.
import { LAUNCHING, type InstanceEvent, type ParsedMessage } from './message';

export type MessageDecision =
  /** Delete it: nothing to do, ever (a TEST_NOTIFICATION, or an instance whose action is already over). */
  | { do: 'delete'; why: string }
  /** Not ours to act on (malformed, unsupported kind): counted, and left for the queue's redrive policy. */
  | { do: 'reject'; why: string; hideSeconds: number }
  /** The same instance is already being handled here: this copy is deleted when that work ends. */
  | { do: 'attach' }
  /**
   * Keep the message and look again later: the instance waits but its node has not registered (yet), or
   * Auto Scaling does not show it in Terminating:Wait yet.
   */
  | { do: 'wait'; why: string; hideSeconds: number }
  /** The node never came within --max-time-to-process: let the instance go (CONTINUE), delete the message. */
  | { do: 'complete-without-node'; why: string }
  /** A LAUNCHING hook whose node is Ready: CONTINUE, delete the message. */
  | { do: 'complete-launch'; why: string }
  | { do: 'process' };

export interface MessageFacts {
  parsed: ParsedMessage;
  /** Whether this process already handles the message's instance. */
  inProgress: boolean;
  /** Whether the message's Auto Scaling group exists in this account and region. */
  groupFound: boolean;
  /** The instance's Auto Scaling lifecycle state, undefined when it is no longer in its group. */
  instanceState: string | undefined;
  nodeExists: boolean;
  /** Whether the node's Ready condition is True (LAUNCHING hooks). */
  nodeReady?: boolean;
  /** How long ago SQS accepted the message. */
  ageMs: number;
  receiveCount: number;
  maxTimeToProcessMs: number;
  /** The poll interval (SQS long-poll wait), seconds: how soon a waiting message is looked at again. */
  pollingIntervalSeconds: number;
}

/** A rejected message comes back later each time (30 s, 60 s, ... up to 15 min), never in a tight loop. */
export function rejectHideSeconds(receiveCount: number): number {
  return Math.min(900, 30 * Math.max(1, receiveCount));
}

/** An instance waiting on its TERMINATING hook (a warm pool's instances wait as Warmed:Terminating:Wait). */
export function isWaiting(state: string | undefined): boolean {
  return state === 'Terminating:Wait' || state === 'Warmed:Terminating:Wait';
}

/** States after the TERMINATING hook's wait: nothing is left to do for the message. */
const ACTION_OVER: ReadonlySet<string> = new Set([
  'Terminating:Proceed',
  'Terminated',
  'Warmed:Terminating:Proceed',
  'Warmed:Terminated',
]);

/**
 * The instance is not (yet) in Terminating:Wait — Auto Scaling's describe may lag the notification: keep
 * the message and look again, until --max-time-to-process says the wait will not come.
 */
function notWaitingYet(f: MessageFacts, state: string): MessageDecision {
  if (f.ageMs >= f.maxTimeToProcessMs)
    return { do: 'delete', why: `instance still ${state} past --max-time-to-process: no action to complete` };
  return { do: 'wait', why: `instance is ${state}, not yet Terminating:Wait`, hideSeconds: hide(f) };
}

const hide = (f: MessageFacts) => Math.max(1, f.pollingIntervalSeconds);

/** What to do with a received message. */
export function decideMessage(f: MessageFacts): MessageDecision {
  const p = f.parsed;
  if (p.kind === 'test-notification') return { do: 'delete', why: 'test notification' };
  if (p.kind === 'ignored') return { do: 'delete', why: `nothing to do: ${p.detail}` };
  if (p.kind === 'instance-event')
    return { do: 'reject', why: 'an EC2 event is decided by decideInstanceMessage', hideSeconds: 30 };
  if (p.kind !== 'lifecycle')
    return { do: 'reject', why: p.detail, hideSeconds: rejectHideSeconds(f.receiveCount) };
  if (f.inProgress) return { do: 'attach' };
  if (!f.groupFound)
    return {
      do: 'reject',
      why: `Auto Scaling group ${p.event.AutoScalingGroupName} not found in this account and region`,
      hideSeconds: rejectHideSeconds(f.receiveCount),
    };
  if (p.event.LifecycleTransition === LAUNCHING) return decideLaunch(f);
  if (f.instanceState === undefined || ACTION_OVER.has(f.instanceState))
    return {
      do: 'delete',
      why: f.instanceState
        ? `instance is ${f.instanceState}: its lifecycle action is over`
        : 'instance is no longer in its group: its lifecycle action is over',
    };
  if (!isWaiting(f.instanceState)) return notWaitingYet(f, f.instanceState);
  if (f.nodeExists) return { do: 'process' };
  if (f.ageMs >= f.maxTimeToProcessMs)
    return {
      do: 'complete-without-node',
      why: `no node registered for the instance within --max-time-to-process (${Math.round(f.maxTimeToProcessMs / 1000)}s)`,
    };
  return { do: 'wait', why: 'no node for the instance yet', hideSeconds: hide(f) };
}

/** RecordLifecycleActionHeartbeat period: half the hook's heartbeat timeout (upstream), at least 1 s. */
export function heartbeatIntervalMs(heartbeatTimeoutSeconds: number | undefined): number {
  return Math.max(1_000, ((heartbeatTimeoutSeconds ?? 3600) * 1000) / 2);
}

/** The drain timeout: --drain-timeout-unknown for a node whose Ready condition is Unknown (its kubelet is gone). */
export function drainTimeoutMs(
  readyStatus: string | undefined,
  opts: { drainTimeoutMs: number; drainTimeoutUnknownMs: number },
): number {
  return readyStatus === 'Unknown' ? opts.drainTimeoutUnknownMs : opts.drainTimeoutMs;
}

export type DrainNext = { do: 'retry'; attempt: number } | { do: 'escalate' } | { do: 'give-up' };

/**
 * After a failed drain attempt (1-based): retry up to --drain-retries attempts, then escalate once (delete
 * the pods that are left, bypassing PodDisruptionBudgets, grace capped at --max-termination-grace-period),
 * as upstream does; after the escalation, give up.
 */
export function afterDrainFailure(attempt: number, retries: number, escalated: boolean): DrainNext {
  if (attempt < Math.max(1, retries)) return { do: 'retry', attempt: attempt + 1 };
  if (!escalated) return { do: 'escalate' };
  return { do: 'give-up' };
}

/** A pod's grace period during the escalation: its own, capped at --max-termination-grace-period. */
export function escalationGraceSeconds(podGrace: number | undefined, maxGraceSeconds: number): number {
  return Math.min(podGrace ?? 30, maxGraceSeconds);
}

export type FailureVerdict =
  /** Definitive (the drain cannot finish): ABANDON the action, as upstream does, and delete the message. */
  | { do: 'abandon' }
  /** Transient (an AWS or apiserver outage, throttling): keep the record and the message; try again later. */
  | { do: 'retry-later' };

/**
 * What a failure means. Upstream ABANDONs on any error (#189: an API outage abandons every instance at once);
 * here only a failed drain past its retries and escalation, or a message older than --max-time-to-process,
 * abandons — everything else is retried from the node's record.
 */
export function failureVerdict(
  kind: 'drain' | 'api',
  ageMs: number,
  maxTimeToProcessMs: number,
): FailureVerdict {
  if (kind === 'drain' || ageMs >= maxTimeToProcessMs) return { do: 'abandon' };
  return { do: 'retry-later' };
}

/** How many more messages may be taken now, within --max-drain-concurrency (1..10 per receive, 0: none). */
export function receiveBatch(active: number, maxConcurrency: number): number {
  return Math.max(0, Math.min(10, maxConcurrency - active));
}

// ---- EC2 events (spot interruption, rebalance, state change, AWS Health scheduled change) ----

/** A spot instance is taken back 2 minutes after its warning. */
export const SPOT_NOTICE_MS = 120_000;

export type InstanceMessageDecision =
  /** Act on these instances (each has a node here and is not being handled yet). */
  | { do: 'process'; instanceIds: string[] }
  /** Every instance with a node is being handled already: this copy is deleted when that work ends. */
  | { do: 'attach'; instanceId: string }
  /** Nothing left to do for this event (moot). */
  | { do: 'delete'; why: string }
  /** No node here (yet) for its instances: look again later, after a growing delay, until moot. */
  | { do: 'wait'; why: string; hideSeconds: number };

export interface InstanceMessageFacts {
  event: InstanceEvent;
  /** Of the event's instances, those that have a node in this cluster. */
  withNode: string[];
  /** Of the event's instances, those this process handles now. */
  active: string[];
  ageMs: number;
  receiveCount: number;
  maxTimeToProcessMs: number;
  /** --delete-message-if-node-not-found: a message naming no node of this cluster is deleted at once. */
  deleteIfNoNode: boolean;
}

/**
 * How long an EC2 event may still concern a node that registers late: a spot warning until the notice is
 * over (the instance is gone then), anything else --max-time-to-process.
 */
export function eventHorizonMs(event: InstanceEvent, maxTimeToProcessMs: number): number {
  return event.Kind === 'spot-interruption' ? SPOT_NOTICE_MS : maxTimeToProcessMs;
}

/**
 * What to do with an EC2 event. Instances without a node in this cluster are someone else's (a queue
 * shared by clusters of one account) or not registered yet: the message is put back with a growing delay
 * (30 s x receive count) — never a tight loop — and deleted once moot (past its horizon), or at once with
 * --delete-message-if-node-not-found.
 */
export function decideInstanceMessage(f: InstanceMessageFacts): InstanceMessageDecision {
  const ids = f.event.EC2InstanceIds;
  const todo = f.withNode.filter((id) => !f.active.includes(id));
  if (todo.length > 0) return { do: 'process', instanceIds: todo };
  const busy = ids.find((id) => f.active.includes(id));
  if (busy) return { do: 'attach', instanceId: busy };
  const names = ids.join(', ');
  if (f.deleteIfNoNode) return { do: 'delete', why: `no node of this cluster for instance(s) ${names}` };
  const horizon = eventHorizonMs(f.event, f.maxTimeToProcessMs);
  if (f.ageMs >= horizon)
    return {
      do: 'delete',
      why: `no node of this cluster for instance(s) ${names} within ${Math.round(horizon / 1000)}s: nothing to drain`,
    };
  return {
    do: 'wait',
    why: `no node of this cluster for instance(s) ${names}`,
    hideSeconds: rejectHideSeconds(f.receiveCount),
  };
}

export interface InstanceEventPlan {
  /** Drain (else cordon only). */
  drain: boolean;
  drainTimeoutMs: number;
  drainRetries: number;
  /** Grace cap of the escalation, seconds. */
  maxGraceSeconds: number;
  excludeFromLoadBalancers: boolean;
  /** Delete the Node at the end (the instance is gone for good). */
  deleteNode: boolean;
  /** The reason of the Node Event announcing it. */
  reason: string;
}

export interface InstanceEventOptions {
  drainTimeoutMs: number;
  drainTimeoutUnknownMs: number;
  drainRetries: number;
  maxTerminationGraceSeconds: number;
  /** --enable-rebalance-draining: drain on a rebalance recommendation (else cordon only). */
  rebalanceDraining: boolean;
}

/**
 * What an EC2 event asks of its instance's node. A spot warning: one drain attempt bounded by what is left
 * of the 2-minute notice (less a 10 s margin), then the escalation with grace periods capped to fit the
 * notice. A rebalance recommendation: cordon, or drain with --enable-rebalance-draining. stopping/stopped:
 * drain (the node stays cordoned; it comes back when the instance starts). shutting-down/terminated: drain
 * with --drain-timeout-unknown (its kubelet is going) and delete the Node. AWS Health scheduled change:
 * drain.
 */
export function instanceEventPlan(
  event: InstanceEvent,
  o: InstanceEventOptions,
  msSinceEvent: number,
): InstanceEventPlan {
  const base = {
    drain: true,
    drainTimeoutMs: o.drainTimeoutMs,
    drainRetries: o.drainRetries,
    maxGraceSeconds: o.maxTerminationGraceSeconds,
    excludeFromLoadBalancers: true,
    deleteNode: false,
  };
  switch (event.Kind) {
    case 'spot-interruption': {
      const leftMs = Math.max(0, SPOT_NOTICE_MS - msSinceEvent - 10_000);
      return {
        ...base,
        drainTimeoutMs: Math.max(5_000, Math.min(o.drainTimeoutMs, leftMs)),
        drainRetries: 1,
        maxGraceSeconds: Math.min(o.maxTerminationGraceSeconds, Math.floor(leftMs / 1000)),
        reason: 'SpotInterruption',
      };
    }
    case 'rebalance-recommendation':
      return {
        ...base,
        drain: o.rebalanceDraining,
        excludeFromLoadBalancers: o.rebalanceDraining,
        reason: 'RebalanceRecommendation',
      };
    case 'state-change': {
      const gone = event.State === 'shutting-down' || event.State === 'terminated';
      return {
        ...base,
        drainTimeoutMs: gone ? o.drainTimeoutUnknownMs : o.drainTimeoutMs,
        deleteNode: gone,
        reason: 'InstanceStateChange',
      };
    }
    case 'scheduled-change':
      return { ...base, reason: 'ScheduledChange' };
  }
}

/** An event's time (ISO text or epoch seconds), else when SQS accepted its message. */
export function eventTimeMs(time: string | undefined, sentAtMs: number): number {
  if (!time) return sentAtMs;
  const parsed = /^\d+(\.\d+)?$/.test(time) ? Number(time) * 1000 : Date.parse(time);
  return Number.isFinite(parsed) ? Math.min(parsed, sentAtMs) : sentAtMs;
}

/**
 * A LAUNCHING hook: CONTINUE once the instance's node is Ready, so a scale-out waits for real capacity.
 * Bounded: the hook's own heartbeat timeout applies its DefaultResult (no heartbeat is sent while waiting),
 * and past --max-time-to-process the message is deleted. Any state but Pending / Pending:Wait: the action
 * is over (message deleted).
 */
function decideLaunch(f: MessageFacts): MessageDecision {
  const state = f.instanceState;
  if (state !== 'Pending' && state !== 'Pending:Wait')
    return {
      do: 'delete',
      why: state ? `instance is ${state}: its launch action is over` : 'instance is no longer in its group',
    };
  if (state === 'Pending:Wait' && f.nodeReady)
    return { do: 'complete-launch', why: 'the node of the launched instance is Ready' };
  if (f.ageMs >= f.maxTimeToProcessMs)
    return {
      do: 'delete',
      why: "no Ready node within --max-time-to-process: the hook's DefaultResult applies at its timeout",
    };
  return {
    do: 'wait',
    why:
      state === 'Pending' ? 'instance is Pending, not yet Pending:Wait' : 'waiting for the node to be Ready',
    hideSeconds: hide(f),
  };
}
