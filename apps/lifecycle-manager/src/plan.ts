// lifecycle-manager's decisions, as pure functions of what was read (the message, the instance's Auto
// Scaling state, the node, the clock). processor.ts does the I/O around them.
import type { ParsedMessage } from './message';

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
  if (p.kind !== 'lifecycle')
    return { do: 'reject', why: p.detail, hideSeconds: rejectHideSeconds(f.receiveCount) };
  if (f.inProgress) return { do: 'attach' };
  if (!f.groupFound)
    return {
      do: 'reject',
      why: `Auto Scaling group ${p.event.AutoScalingGroupName} not found in this account and region`,
      hideSeconds: rejectHideSeconds(f.receiveCount),
    };
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
