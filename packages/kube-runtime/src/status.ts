import type * as k8s from '@kubernetes/client-node';
import type { KubeClient, ResourceType } from './client';

/** metav1.Condition. */
export interface Condition {
  type: string;
  status: 'True' | 'False' | 'Unknown';
  observedGeneration?: number;
  lastTransitionTime: string;
  reason: string;
  message: string;
}

export type ConditionInput = Omit<Condition, 'lastTransitionTime' | 'observedGeneration'> & {
  observedGeneration?: number;
};

/**
 * Sets a condition in `conditions` (a new array is returned). lastTransitionTime moves only when the
 * status flips, so re-asserting a condition with the same status changes nothing but reason/message.
 */
export function setCondition(
  conditions: readonly Condition[] | undefined,
  input: ConditionInput,
  now: Date = new Date(),
): Condition[] {
  const list = [...(conditions ?? [])];
  const i = list.findIndex((c) => c.type === input.type);
  const existing = i >= 0 ? list[i] : undefined;
  const next: Condition = {
    type: input.type,
    status: input.status,
    ...(input.observedGeneration !== undefined ? { observedGeneration: input.observedGeneration } : {}),
    lastTransitionTime:
      existing && existing.status === input.status
        ? existing.lastTransitionTime
        : now.toISOString().replace(/\.\d+Z$/, 'Z'),
    reason: input.reason,
    message: input.message,
  };
  if (i >= 0) list[i] = next;
  else list.push(next);
  return list;
}

export function findCondition(
  conditions: readonly Condition[] | undefined,
  type: string,
): Condition | undefined {
  return conditions?.find((c) => c.type === type);
}

export function isConditionTrue(conditions: readonly Condition[] | undefined, type: string): boolean {
  return findCondition(conditions, type)?.status === 'True';
}

/** Deep equality of JSON values (key order ignored) — decides whether a status write is needed. */
export function jsonEqual(a: unknown, b: unknown): boolean {
  if (a === b) return true;
  if (typeof a !== typeof b || a === null || b === null || typeof a !== 'object') return false;
  if (Array.isArray(a) !== Array.isArray(b)) return false;
  if (Array.isArray(a)) {
    const bb = b as unknown[];
    return a.length === bb.length && a.every((v, i) => jsonEqual(v, bb[i]));
  }
  const ao = a as Record<string, unknown>;
  const bo = b as Record<string, unknown>;
  const ak = Object.keys(ao).filter((k) => ao[k] !== undefined);
  const bk = Object.keys(bo).filter((k) => bo[k] !== undefined);
  return ak.length === bk.length && ak.every((k) => jsonEqual(ao[k], bo[k]));
}

type WithStatus<S> = k8s.KubernetesObject & { status?: S };

/**
 * Writes `status` through the status subresource only (spec and metadata cannot change), as a merge
 * patch guarded by the object's resourceVersion so a write based on a stale read fails with a
 * conflict instead of overwriting newer progress. Writes nothing when the status is unchanged and
 * returns undefined in that case.
 */
export async function patchStatus<S>(
  client: KubeClient,
  rt: ResourceType,
  obj: WithStatus<S>,
  status: S,
  opts: { fieldManager?: string } = {},
): Promise<WithStatus<S> | undefined> {
  if (jsonEqual(obj.status ?? {}, status)) return undefined;
  return client.patch<WithStatus<S>>(
    rt,
    obj.metadata?.namespace,
    obj.metadata?.name ?? '',
    // `status: null` first clears keys the new status no longer has (merge patch would keep them).
    {
      metadata: { resourceVersion: obj.metadata?.resourceVersion },
      status: replaceValue(obj.status, status),
    },
    { type: 'merge', subresource: 'status', fieldManager: opts.fieldManager },
  );
}

/** A merge-patch value that turns `from` into `to`: keys absent from `to` become null (deleted). */
function replaceValue(from: unknown, to: unknown): unknown {
  if (!isPlainObject(from) || !isPlainObject(to)) return to;
  const out: Record<string, unknown> = {};
  for (const k of Object.keys(from)) if (!(k in to) || to[k] === undefined) out[k] = null;
  for (const [k, v] of Object.entries(to)) if (v !== undefined) out[k] = replaceValue(from[k], v);
  return out;
}

function isPlainObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}
