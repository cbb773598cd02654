// The answers every provisioner gives in the same situations, so eks, eks-cf and eks-managed say them
// alike: a spec to fix, a dry run that stops before its first change, AWS still at work. Pure.
import type { FieldProblem } from '@keiko/api';
import type { ProvisionOutcome, ReconcileState } from './types';

type Status = ProvisionOutcome['status'];

/** The spec (or what it names) has problems a person must fix: nothing is created or changed until then. */
export function invalidConfiguration(
  message: string,
  status: Status,
  problems: FieldProblem[],
): ProvisionOutcome {
  return {
    phase: 'failed',
    state: 'Error',
    message,
    status,
    problems,
    failureReason: 'InvalidConfiguration',
  };
}

/** Stopped for good on this spec: AWS refused or failed, `failureReason` says how. */
export function failed(
  message: string,
  status: Status,
  failureReason: string,
  problems?: FieldProblem[],
): ProvisionOutcome {
  return {
    phase: 'failed',
    state: 'Error',
    message,
    status,
    ...(problems ? { problems } : {}),
    failureReason,
  };
}

/** A dry run stops before the first change it would make, and says what that is. */
export function dryRunStop(state: ReconcileState, message: string, status: Status): ProvisionOutcome {
  return { phase: 'provisioning', state, message, status };
}

/** AWS is still at work (or a new resource is not visible yet): look again after `requeueAfterMs`. */
export function pollAgain(
  state: ReconcileState,
  message: string,
  status: Status,
  requeueAfterMs: number,
): ProvisionOutcome {
  return { phase: 'provisioning', state, message, status, requeueAfterMs };
}
