import type { V1Node } from '@kubernetes/client-node';
import { isConflict, ResourceTypes, type KubeClient } from '@keiko/kube-runtime';
import { assertNodeName } from './objects';

/**
 * Marks who cordoned a node, e.g. `upgrade-manager/<namespace>/<rollingupgrade>`. A tool uncordons
 * only nodes carrying its own mark, so it never undoes an operator's `kubectl cordon`.
 */
export const CORDONED_BY_ANNOTATION = 'keiko.io/cordoned-by';

export class NodeNotFoundError extends Error {
  constructor(
    readonly nodeName: string,
    what: string,
  ) {
    super(`${what}: node ${nodeName} not found`);
    this.name = 'NodeNotFoundError';
  }
}

export interface CordonResult {
  /** The node as it is after the call. */
  node: V1Node;
  /** Whether this call changed spec.unschedulable. */
  changed: boolean;
}

export function isCordoned(node: V1Node): boolean {
  return node.spec?.unschedulable === true;
}

/** Who cordoned the node, from the keiko.io/cordoned-by annotation; undefined when unmarked. */
export function cordonedBy(node: V1Node): string | undefined {
  return node.metadata?.annotations?.[CORDONED_BY_ANNOTATION] || undefined;
}

// Conflicts only come from writers racing us on the same node; a handful of re-reads settles them.
const MAX_CONFLICT_RETRIES = 5;

async function readNode(client: KubeClient, name: string, what: string): Promise<V1Node> {
  const node = await client.get<V1Node>(ResourceTypes.Node, undefined, name);
  if (!node) throw new NodeNotFoundError(name, what);
  return node;
}

/**
 * Sends a merge patch guarded by the node's resourceVersion, re-reading and re-deciding on a
 * conflict, so the decision is always made on the node as it is when the write lands.
 */
async function patchNodeWithRetry(
  client: KubeClient,
  name: string,
  what: string,
  decide: (node: V1Node) => { patch: Record<string, unknown>; changed: boolean } | undefined,
): Promise<CordonResult> {
  for (let attempt = 0; ; attempt++) {
    const node = await readNode(client, name, what);
    const decision = decide(node);
    if (!decision) return { node, changed: false };
    const patch = {
      ...decision.patch,
      metadata: {
        ...((decision.patch.metadata as Record<string, unknown> | undefined) ?? {}),
        resourceVersion: node.metadata?.resourceVersion,
      },
    };
    try {
      const updated = await client.patch<V1Node>(ResourceTypes.Node, undefined, name, patch);
      return { node: updated, changed: decision.changed };
    } catch (err) {
      if (isConflict(err) && attempt < MAX_CONFLICT_RETRIES) continue;
      throw new Error(`${what}: ${err instanceof Error ? err.message : String(err)}`, { cause: err });
    }
  }
}

/**
 * Marks the node unschedulable (idempotent). With `by`, the node also gets the cordoned-by
 * annotation — but only when this call is what cordons it: a node someone else already cordoned is
 * left as it is and not claimed, so our later uncordon will not undo their cordon.
 */
export async function cordonNode(
  client: KubeClient,
  name: string,
  opts: { by?: string } = {},
): Promise<CordonResult> {
  const what = `cordon node ${name}`;
  assertNodeName(name, what);
  return patchNodeWithRetry(client, name, what, (node) => {
    if (isCordoned(node)) return undefined;
    // A leftover mark on a schedulable node is stale; replace or drop it so nobody mistakes
    // this cordon for theirs.
    const annotation = opts.by ? opts.by : cordonedBy(node) !== undefined ? null : undefined;
    return {
      patch: {
        ...(annotation !== undefined
          ? { metadata: { annotations: { [CORDONED_BY_ANNOTATION]: annotation } } }
          : {}),
        spec: { unschedulable: true },
      },
      changed: true,
    };
  });
}

/**
 * Makes the node schedulable again (idempotent) and removes the cordoned-by annotation. With
 * `onlyIfCordonedBy`, a node cordoned by anyone else (or by hand, unmarked) is left cordoned.
 */
export async function uncordonNode(
  client: KubeClient,
  name: string,
  opts: { onlyIfCordonedBy?: string } = {},
): Promise<CordonResult> {
  const what = `uncordon node ${name}`;
  assertNodeName(name, what);
  return patchNodeWithRetry(client, name, what, (node) => {
    const owner = cordonedBy(node);
    const ours = opts.onlyIfCordonedBy === undefined || owner === opts.onlyIfCordonedBy;
    if (!ours) return undefined;
    if (!isCordoned(node)) {
      // Someone uncordoned it already; only tidy up our stale mark.
      if (owner === undefined) return undefined;
      return { patch: { metadata: { annotations: { [CORDONED_BY_ANNOTATION]: null } } }, changed: false };
    }
    return {
      patch: {
        ...(owner !== undefined ? { metadata: { annotations: { [CORDONED_BY_ANNOTATION]: null } } } : {}),
        spec: { unschedulable: null },
      },
      changed: true,
    };
  });
}
