// A settled group at rest costs nothing: the periodic resync of a Ready group whose spec, annotations,
// managed defaults and nodes are as they were at its last full pass skips the pass (no AWS call, no
// Kubernetes request) until --drift-check-interval has passed since that pass. What changes in Kubernetes
// wakes the group at once (the spec, the managed-defaults ConfigMap, aws-auth, a node of the group joining,
// leaving, turning NotReady or being cordoned — and an instance AWS terminates takes its node with it);
// what someone changes in AWS alone (the scaling group's sizes, its launch template) is found by the next
// full pass, at most one drift-check interval later (docs/instance-manager.md, "Cost at rest").
import type { V1Node } from '@kubernetes/client-node';

/** What the last full pass of a group saw, and when it ended. */
export interface RestMark {
  fingerprint: string;
  at: number;
}

interface GroupLike {
  metadata: { generation?: number; annotations?: Record<string, string> };
}

/** The inputs a full pass depends on that Kubernetes tells us about: spec, annotations, defaults, nodes. */
export function restFingerprint(ig: GroupLike, configHash: string | undefined, nodes: V1Node[]): string {
  const annotations = Object.entries(ig.metadata.annotations ?? {}).sort(([a], [b]) => a.localeCompare(b));
  const nodeStates = nodes
    .map((n) => {
      const ready = n.status?.conditions?.find((c) => c.type === 'Ready')?.status ?? 'Unknown';
      return `${n.metadata?.name ?? ''}:${ready}:${n.spec?.unschedulable ? 'cordoned' : ''}`;
    })
    .sort();
  return JSON.stringify([ig.metadata.generation ?? 0, annotations, configHash ?? '', nodeStates]);
}

/**
 * Whether this pass may be skipped: the group is Ready, its last full pass ended Ready with the same
 * fingerprint, less than `driftCheckMs` ago. Then `requeueAfterMs` brings the next full pass.
 */
export function restDecision(input: {
  mark: RestMark | undefined;
  fingerprint: string;
  state: string | undefined;
  deleting: boolean;
  now: number;
  driftCheckMs: number;
}): { skip: true; requeueAfterMs: number } | { skip: false } {
  const { mark, fingerprint, state, deleting, now, driftCheckMs } = input;
  if (!mark || deleting || state !== 'Ready' || driftCheckMs <= 0) return { skip: false };
  if (mark.fingerprint !== fingerprint) return { skip: false };
  const left = mark.at + driftCheckMs - now;
  return left > 0 ? { skip: true, requeueAfterMs: left } : { skip: false };
}
