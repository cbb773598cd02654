// Reading a stack's event history: what the operation in progress is doing, and why one failed. Pure.
import { describeStackEvent, type StackEvent } from '@keiko/aws';

/**
 * The events of the stack's latest operation, oldest first: everything after the last stack-level
 * `*_IN_PROGRESS` event that a user (the controller) started.
 */
export function currentOperation(eventsNewestFirst: readonly StackEvent[], stackName: string): StackEvent[] {
  const out: StackEvent[] = [];
  for (const e of eventsNewestFirst) {
    out.push(e);
    const stackLevel = e.logicalResourceId === stackName && e.resourceType === 'AWS::CloudFormation::Stack';
    if (
      stackLevel &&
      e.resourceStatus.endsWith('_IN_PROGRESS') &&
      /user initiated/i.test(e.resourceStatusReason ?? '')
    )
      break;
  }
  return out.reverse();
}

/**
 * Why the operation failed: the first resource that failed for a reason of its own (CloudFormation
 * cancels the others, "Resource creation cancelled", which says nothing).
 */
export function failureReason(operation: readonly StackEvent[], stackName: string): string | undefined {
  const failed = operation.filter((e) => e.resourceStatus.endsWith('_FAILED'));
  const own = failed.find(
    (e) => e.logicalResourceId !== stackName && !/cancell?ed/i.test(e.resourceStatusReason ?? ''),
  );
  const pick = own ?? failed.find((e) => e.logicalResourceId !== stackName) ?? failed[0];
  return pick ? describeStackEvent(pick) : undefined;
}

/** Events newer than `since` (ms), oldest first: what has not been reported yet. */
export function eventsSince(eventsNewestFirst: readonly StackEvent[], since: number): StackEvent[] {
  return eventsNewestFirst.filter((e) => e.timestamp.getTime() > since).reverse();
}

/** The latest event, for a progress message while an operation runs. */
export function latestProgress(eventsNewestFirst: readonly StackEvent[]): string | undefined {
  const e = eventsNewestFirst[0];
  return e ? describeStackEvent(e) : undefined;
}
