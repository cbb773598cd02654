// The one way every Keiko tool terminates an instance of an Auto Scaling group. The caller records its
// intent first (in its status, or on the node); this confirms each instance against a describe made
// just now, so a restart between the record and the call — or after the call — never terminates an
// instance twice: an instance that is not InService in its group is never terminated.
import type { AutoScalingPort, ScalingGroup } from './autoscaling';
import { isTerminatingState } from './drift';
import { AwsOperationError, hasAwsErrorCode } from './errors';

export type TerminateVerdict =
  /** InService in the group: terminate it (the only case that calls AWS). */
  | { kind: 'terminate' }
  /** Not in the group any more, or already on its way out: never call terminate again. */
  | { kind: 'gone'; detail: string }
  /** In the group but not InService (Standby, Pending...): do not terminate; look again later. */
  | { kind: 'wait'; detail: string };

/** Whether TerminateInstanceInAutoScalingGroup may be called for the instance, from a fresh describe. */
export function terminateVerdict(group: ScalingGroup | undefined, instanceId: string): TerminateVerdict {
  const instance = group?.instances.find((i) => i.id === instanceId);
  if (!group) return { kind: 'gone', detail: 'the scaling group no longer exists' };
  if (!instance)
    return { kind: 'gone', detail: `instance ${instanceId} is no longer in group ${group.name}` };
  if (isTerminatingState(instance.lifecycleState))
    return { kind: 'gone', detail: `instance ${instanceId} is already ${instance.lifecycleState}` };
  if (instance.lifecycleState !== 'InService')
    return { kind: 'wait', detail: `instance ${instanceId} is ${instance.lifecycleState}, not InService` };
  return { kind: 'terminate' };
}

export interface TerminateRequest {
  instanceId: string;
  /** false: the group launches a replacement. */
  decrementDesired: boolean;
}

export type TerminateOutcome = TerminateRequest &
  ({ outcome: 'terminated' } | { outcome: 'gone' | 'wait'; detail: string });

export interface TerminateResult {
  /** One per request handled, in order (those after a failure are absent). */
  outcomes: TerminateOutcome[];
  /** The call that failed, if one did: the requests after it were not attempted. */
  error?: unknown;
}

/** The instance left between the describe and the call: the outcome wanted, without a second terminate. */
function isGoneError(err: unknown): boolean {
  return (
    err instanceof AwsOperationError &&
    hasAwsErrorCode(err, 'ValidationError') &&
    /not found|not part of|no instance/i.test(err.message)
  );
}

/**
 * Terminates instances of one group, each only if one describe made now shows it InService. One call
 * after another: AWS would take them concurrently, but the emulator's group bookkeeping is not
 * thread-safe. Stops at the first failure and returns what was done with it, so the caller records
 * every terminate that happened.
 */
export async function terminateConfirmed(
  port: AutoScalingPort,
  groupName: string,
  requests: readonly TerminateRequest[],
): Promise<TerminateResult> {
  if (requests.length === 0) return { outcomes: [] };
  port.invalidate(groupName);
  const live = await port.describeGroup(groupName);
  const outcomes: TerminateOutcome[] = [];
  for (const req of requests) {
    const verdict = terminateVerdict(live, req.instanceId);
    if (verdict.kind !== 'terminate') {
      outcomes.push({ ...req, outcome: verdict.kind, detail: verdict.detail });
      continue;
    }
    try {
      await port.terminateInstanceInGroup(req.instanceId, { decrementDesired: req.decrementDesired });
      outcomes.push({ ...req, outcome: 'terminated' });
    } catch (err) {
      if (!isGoneError(err)) return { outcomes, error: err };
      outcomes.push({ ...req, outcome: 'gone', detail: err instanceof Error ? err.message : String(err) });
    }
  }
  return { outcomes };
}
