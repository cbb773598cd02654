// A failed drain, recorded on the node itself: the node outlives the process that drained it, so a
// restarted controller or a new leader knows the node was tried (and how often) without memory of its
// own. The record names its owner and the owner's round (e.g. the resource's generation), so another
// tool's record, or one from an earlier rotation, does not count.
import type { KubeClient } from '@keiko/kube-runtime';
import { ResourceTypes } from '@keiko/kube-runtime';
import type { V1Node } from '@kubernetes/client-node';

export const DRAIN_FAILURE_ANNOTATION = 'keiko.io/drain-failure';

export interface DrainFailureRecord {
  /** Who drained (the cordoned-by owner, e.g. instance-manager/<ns>/<name>). */
  owner: string;
  /** The owner's round: a record of another round is ignored. */
  round: string;
  attempts: number;
  /** Why the last drain failed (names the pod and the PodDisruptionBudget). */
  message: string;
}

/** The node's record for this owner and round, if any. */
export function readDrainFailure(
  node: V1Node,
  owner: string,
  round: string,
): { attempts: number; message: string } | undefined {
  const raw = node.metadata?.annotations?.[DRAIN_FAILURE_ANNOTATION];
  if (!raw) return undefined;
  try {
    const r = JSON.parse(raw) as Partial<DrainFailureRecord>;
    if (r.owner !== owner || r.round !== round || typeof r.attempts !== 'number') return undefined;
    return { attempts: r.attempts, message: String(r.message ?? '') };
  } catch {
    return undefined;
  }
}

/** Writes the record (a merge patch of one annotation). */
export async function recordDrainFailure(
  client: KubeClient,
  nodeName: string,
  record: DrainFailureRecord,
): Promise<void> {
  await client.patch(ResourceTypes.Node, undefined, nodeName, {
    metadata: { annotations: { [DRAIN_FAILURE_ANNOTATION]: JSON.stringify(record) } },
  });
}
