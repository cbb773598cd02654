import type { V1Node, V1NodeCondition } from '@kubernetes/client-node';
import { isNotFound, resourcePath, ResourceTypes, type KubeClient } from '@keiko/kube-runtime';
import { AbortedError, sleep, throwIfAborted } from './abort';
import { formatDuration } from './duration';
import { assertNodeName } from './objects';

/** upgrade-manager's `readinessGates` entry: the node must carry every one of these labels. */
export interface NodeReadinessGate {
  matchLabels?: Record<string, string>;
}

function readyCondition(node: V1Node): V1NodeCondition | undefined {
  return node.status?.conditions?.find((c) => c.type === 'Ready');
}

/** The kubelet reports the node Ready (condition Ready=True). */
export function isNodeReady(node: V1Node): boolean {
  return readyCondition(node)?.status === 'True';
}

/** The labels of the gates the node does not carry yet, as `key=value`; empty when all pass. */
export function unmetReadinessGates(node: V1Node, gates: readonly NodeReadinessGate[] = []): string[] {
  const labels = node.metadata?.labels ?? {};
  const missing: string[] = [];
  for (const gate of gates) {
    for (const [key, value] of Object.entries(gate.matchLabels ?? {})) {
      if (labels[key] !== value) missing.push(`${key}=${value}`);
    }
  }
  return missing;
}

/** Every label of every gate is on the node. No gates: passes. */
export function nodeMatchesReadinessGates(node: V1Node, gates: readonly NodeReadinessGate[] = []): boolean {
  return unmetReadinessGates(node, gates).length === 0;
}

/** Why a node is not yet usable, for timeout messages; undefined when it is Ready and passes its gates. */
export function nodeNotReadyReason(
  node: V1Node | undefined,
  gates: readonly NodeReadinessGate[] = [],
): string | undefined {
  if (!node) return 'node does not exist';
  if (!isNodeReady(node)) {
    const cond = readyCondition(node);
    if (!cond) return 'no Ready condition reported';
    const detail = [cond.reason, cond.message].filter(Boolean).join(': ');
    return `Ready=${cond.status}${detail ? ` (${detail})` : ''}`;
  }
  const missing = unmetReadinessGates(node, gates);
  return missing.length ? `missing readiness gate labels ${missing.join(', ')}` : undefined;
}

export interface WaitForNodeReadyOptions {
  timeoutMs: number;
  gates?: readonly NodeReadinessGate[];
  signal?: AbortSignal;
  /** How often to look (default 1s). */
  pollIntervalMs?: number;
}

/**
 * Waits until the node exists, is Ready and passes every readiness gate; returns it. A node that does
 * not exist yet is waited for (a new instance registers its node some time after it boots). Throws
 * with the last reason on timeout, AbortedError when the signal fires.
 */
export async function waitForNodeReady(
  client: KubeClient,
  name: string,
  opts: WaitForNodeReadyOptions,
): Promise<V1Node> {
  const what = `wait for node ${name} to be ready`;
  assertNodeName(name, what);
  const interval = opts.pollIntervalMs ?? 1000;
  const deadline = Date.now() + opts.timeoutMs;
  let lastReason = 'not checked yet';
  for (;;) {
    throwIfAborted(opts.signal, what);
    try {
      const node = await client
        .request<V1Node>('GET', resourcePath(ResourceTypes.Node, undefined, name), { signal: opts.signal })
        .catch((err: unknown) => {
          if (isNotFound(err)) return undefined;
          throw err;
        });
      const reason = nodeNotReadyReason(node, opts.gates);
      if (reason === undefined && node) return node;
      lastReason = reason ?? lastReason;
    } catch (err) {
      if (opts.signal?.aborted) throw new AbortedError(`${what}: aborted`, { cause: opts.signal.reason });
      // A failed read is not a verdict on the node; keep trying until the deadline.
      lastReason = `cannot read node: ${err instanceof Error ? err.message : String(err)}`;
    }
    const remaining = deadline - Date.now();
    if (remaining <= 0)
      throw new Error(`node ${name} not ready after ${formatDuration(opts.timeoutMs)}: ${lastReason}`);
    await sleep(Math.min(interval, remaining), opts.signal, what);
  }
}
