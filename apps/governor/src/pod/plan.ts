// The pod reaper's decisions, pure: pods stuck Terminating past reap-after (force delete), and completed
// or failed pods past their age, with the namespace opt-out annotations.
import type { V1Namespace, V1Pod } from '@kubernetes/client-node';

export const DISABLE_POD_REAPER = 'governor.keikoproj.io/disable-pod-reaper';
export const DISABLE_STUCK = 'governor.keikoproj.io/disable-stuck-pod-reap';
export const DISABLE_COMPLETED = 'governor.keikoproj.io/disable-completed-pod-reap';
/** The failed-pod opt-out upstream meant to have (it reused the completed key); both are honoured. */
export const DISABLE_FAILED = 'governor.keikoproj.io/disable-failed-pod-reap';

export type PodReapReason = 'ReapStuckTerminating' | 'ReapCompleted' | 'ReapFailed';

export interface PodReaperSettings {
  dryRun: boolean;
  reapAfterMs: number;
  softReap: boolean;
  reapCompleted: boolean;
  reapCompletedAfterMs: number;
  reapFailed: boolean;
  reapFailedAfterMs: number;
}

export interface PodVerdict {
  namespace: string;
  name: string;
  uid?: string;
  reason: PodReapReason;
  detail: string;
}

const time = (t: Date | string | undefined) => (t ? new Date(t).getTime() : NaN);

/** When deletion was asked for: deletionTimestamp minus the grace the deletion gave the pod. */
export function deletionRequestedAt(pod: V1Pod): number {
  return time(pod.metadata?.deletionTimestamp) - (pod.metadata?.deletionGracePeriodSeconds ?? 0) * 1000;
}

/** When the pod finished: its last container's finishedAt, else its start, else its creation. */
export function finishedAt(pod: V1Pod): number {
  const ends = [...(pod.status?.containerStatuses ?? []), ...(pod.status?.initContainerStatuses ?? [])]
    .map((c) => time(c.state?.terminated?.finishedAt))
    .filter(Number.isFinite);
  if (ends.length) return Math.max(...ends);
  const start = time(pod.status?.startTime);
  return Number.isFinite(start) ? start : time(pod.metadata?.creationTimestamp);
}

const runningContainers = (pod: V1Pod) =>
  (pod.status?.containerStatuses ?? []).filter((c) => c.state?.running).length;
const on = (ns: V1Namespace | undefined, key: string) => ns?.metadata?.annotations?.[key] === 'true';
const minutes = (ms: number) => `${Math.round(ms / 6000) / 10}m`;

function stuck(
  pod: V1Pod,
  s: PodReaperSettings,
  ns: V1Namespace | undefined,
  now: number,
): string | undefined {
  if (!pod.metadata?.deletionTimestamp || on(ns, DISABLE_STUCK)) return undefined;
  const waited = now - deletionRequestedAt(pod);
  if (!(waited >= s.reapAfterMs)) return undefined;
  if (s.softReap && runningContainers(pod) > 0) return undefined;
  return `Terminating for ${minutes(waited)} (deletion asked ${new Date(deletionRequestedAt(pod)).toISOString()})`;
}

/** What to do with one pod, if anything. */
export function podVerdict(
  pod: V1Pod,
  s: PodReaperSettings,
  ns: V1Namespace | undefined,
  now: number,
): PodVerdict | undefined {
  if (on(ns, DISABLE_POD_REAPER)) return undefined;
  const id = {
    namespace: pod.metadata?.namespace ?? '',
    name: pod.metadata?.name ?? '',
    ...(pod.metadata?.uid ? { uid: pod.metadata.uid } : {}),
  };
  const stuckFor = stuck(pod, s, ns, now);
  if (stuckFor) return { ...id, reason: 'ReapStuckTerminating', detail: stuckFor };
  if (pod.metadata?.deletionTimestamp) return undefined;
  const phase = pod.status?.phase;
  const age = now - finishedAt(pod);
  if (phase === 'Succeeded' && s.reapCompleted && !on(ns, DISABLE_COMPLETED) && age >= s.reapCompletedAfterMs)
    return { ...id, reason: 'ReapCompleted', detail: `completed ${minutes(age)} ago` };
  const failedOptOut = on(ns, DISABLE_FAILED) || on(ns, DISABLE_COMPLETED);
  if (phase === 'Failed' && s.reapFailed && !failedOptOut && age >= s.reapFailedAfterMs)
    return { ...id, reason: 'ReapFailed', detail: `failed ${minutes(age)} ago` };
  return undefined;
}

export function planPodReaping(
  pods: readonly V1Pod[],
  namespaces: ReadonlyMap<string, V1Namespace>,
  s: PodReaperSettings,
  now: number,
): PodVerdict[] {
  return pods
    .map((p) => podVerdict(p, s, namespaces.get(p.metadata?.namespace ?? ''), now))
    .filter((v): v is PodVerdict => !!v);
}
