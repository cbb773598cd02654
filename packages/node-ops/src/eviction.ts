import type { V1APIResourceList, V1Pod, V1Status, V1StatusCause } from '@kubernetes/client-node';
import { ApiError, isNotFound, resourcePath, ResourceTypes, type KubeClient } from '@keiko/kube-runtime';
import { AbortedError } from './abort';
import { objectKey } from './objects';

/** The Eviction kinds a cluster may serve on pods/eviction; v1beta1 only on clusters older than 1.22. */
export type EvictionApiVersion = 'policy/v1' | 'policy/v1beta1';

/**
 * What one eviction request came to:
 * - Evicted: the apiserver accepted it; the pod is terminating.
 * - Gone: the pod (that uid) no longer exists, so there is nothing left to evict.
 * - Blocked: a PodDisruptionBudget does not allow the disruption now (429, or the 500 the apiserver
 *   answers when several PDBs select the pod); try again later.
 * - Retry: a transient failure (apiserver 5xx, network, namespace terminating, a conflict).
 * - Unsupported: the server does not take this Eviction version; try the other one.
 * - Failed: a permanent error (forbidden, invalid) — retrying will not help.
 */
export type EvictionOutcome =
  | { kind: 'Evicted' }
  | { kind: 'Gone' }
  | { kind: 'Blocked'; message: string; budgetCause?: string; multipleBudgets: boolean }
  | { kind: 'Retry'; message: string }
  | { kind: 'Unsupported'; message: string }
  | { kind: 'Failed'; message: string };

const discoveredVersions = new WeakMap<KubeClient, EvictionApiVersion>();

/**
 * Which Eviction version the cluster serves, as kubectl finds it: the `pods/eviction` entry of the
 * core v1 resource list carries the group and version. Cached per client. Undefined when discovery
 * fails or says nothing, in which case callers start with policy/v1 and fall back on rejection.
 */
export async function discoverEvictionApiVersion(
  client: KubeClient,
  signal?: AbortSignal,
): Promise<EvictionApiVersion | undefined> {
  const cached = discoveredVersions.get(client);
  if (cached) return cached;
  try {
    const list = await client.request<V1APIResourceList>('GET', '/api/v1', { signal, timeoutMs: 10_000 });
    const eviction = list.resources.find((r) => r.name === 'pods/eviction' && r.kind === 'Eviction');
    if (eviction?.group === 'policy' && (eviction.version === 'v1' || eviction.version === 'v1beta1')) {
      const version: EvictionApiVersion = `policy/${eviction.version}`;
      discoveredVersions.set(client, version);
      return version;
    }
  } catch (err) {
    if (signal?.aborted) throw err;
  }
  return undefined;
}

export interface EvictPodOptions {
  version: EvictionApiVersion;
  /** Overrides the pod's terminationGracePeriodSeconds; undefined keeps the pod's own. */
  gracePeriodSeconds?: number;
  signal?: AbortSignal;
  timeoutMs?: number;
}

/** The Eviction for exactly this pod: the uid precondition keeps a same-named replacement safe. */
export function evictionBody(
  pod: V1Pod,
  version: EvictionApiVersion,
  gracePeriodSeconds?: number,
): Record<string, unknown> {
  return {
    apiVersion: version,
    kind: 'Eviction',
    metadata: { name: pod.metadata?.name, namespace: pod.metadata?.namespace },
    deleteOptions: {
      ...(gracePeriodSeconds !== undefined && gracePeriodSeconds >= 0 ? { gracePeriodSeconds } : {}),
      ...(pod.metadata?.uid ? { preconditions: { uid: pod.metadata.uid } } : {}),
    },
  };
}

// metav1.StatusCause's `Type` is serialized as "reason".
function causes(status: V1Status | undefined): V1StatusCause[] {
  return status?.details?.causes ?? [];
}

/** Whether the pod we mean (same uid) still exists; a different uid under that name is not it. */
async function podStillExists(
  client: KubeClient,
  pod: V1Pod,
  signal: AbortSignal | undefined,
): Promise<boolean> {
  try {
    const path = resourcePath(ResourceTypes.Pod, pod.metadata?.namespace, pod.metadata?.name ?? '');
    const current = await client.request<V1Pod>('GET', path, { signal });
    return current.metadata?.uid === pod.metadata?.uid;
  } catch (err) {
    if (isNotFound(err)) return false;
    throw err;
  }
}

/** POSTs one Eviction for the pod and sorts the answer into an EvictionOutcome; never throws except on abort. */
export async function evictPod(
  client: KubeClient,
  pod: V1Pod,
  opts: EvictPodOptions,
): Promise<EvictionOutcome> {
  const namespace = pod.metadata?.namespace ?? '';
  const name = pod.metadata?.name ?? '';
  const path = resourcePath(ResourceTypes.Pod, namespace, name, 'eviction');
  try {
    await client.request('POST', path, {
      body: evictionBody(pod, opts.version, opts.gracePeriodSeconds),
      signal: opts.signal,
      timeoutMs: opts.timeoutMs,
    });
    return { kind: 'Evicted' };
  } catch (err) {
    if (opts.signal?.aborted)
      throw new AbortedError(`evict pod ${objectKey(pod.metadata)}: aborted`, { cause: opts.signal.reason });
    if (!(err instanceof ApiError)) {
      return { kind: 'Retry', message: err instanceof Error ? err.message : String(err) };
    }
    return classifyEvictionError(client, pod, opts, err);
  }
}

async function classifyEvictionError(
  client: KubeClient,
  pod: V1Pod,
  opts: EvictPodOptions,
  err: ApiError,
): Promise<EvictionOutcome> {
  const message = err.status?.message ?? err.message;
  switch (err.statusCode) {
    case 429: {
      const budgetCause = causes(err.status).find((c) => c.reason === 'DisruptionBudget')?.message;
      return { kind: 'Blocked', message, budgetCause, multipleBudgets: false };
    }
    case 404:
    case 409: {
      // 404: the pod is gone — or, on a server without this Eviction version, the endpoint is.
      // 409: our uid precondition failed (the name now belongs to a replacement) — or a racing write.
      // Only a fresh read tells them apart.
      let exists: boolean;
      try {
        exists = await podStillExists(client, pod, opts.signal);
      } catch (readErr) {
        return { kind: 'Retry', message: `${message}; then reading the pod failed: ${String(readErr)}` };
      }
      if (!exists) return { kind: 'Gone' };
      return err.statusCode === 404 ? { kind: 'Unsupported', message } : { kind: 'Retry', message };
    }
    case 400:
    case 415:
      return opts.version === 'policy/v1' ? { kind: 'Unsupported', message } : { kind: 'Failed', message };
    case 403: {
      if (causes(err.status).some((c) => c.reason === 'NamespaceTerminating')) {
        // Evictions are refused in a terminating namespace. A pod already being deleted will go
        // anyway; any other pod will get its deletionTimestamp from the namespace controller soon.
        return pod.metadata?.deletionTimestamp ? { kind: 'Evicted' } : { kind: 'Retry', message };
      }
      const kind = err.status?.details?.kind ?? '';
      if (kind.startsWith('poddisruptionbudget')) {
        // "disruptions allowed is negative" / "DisruptedPods map too big": the budget is over-spent
        // until the workload recovers; as much a PDB block as a 429.
        return { kind: 'Blocked', message, multipleBudgets: false };
      }
      return { kind: 'Failed', message };
    }
    case 500:
      if (/more than one PodDisruptionBudget/i.test(message))
        return { kind: 'Blocked', message, multipleBudgets: true };
      return { kind: 'Retry', message };
    default:
      if (err.statusCode >= 500 || err.statusCode === 408) return { kind: 'Retry', message };
      return { kind: 'Failed', message };
  }
}
