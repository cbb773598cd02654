import type { V1Pod } from '@kubernetes/client-node';
import type { KubeClient, Logger } from '@keiko/kube-runtime';
import { AbortedError, sleep } from './abort';
import { objectKey, timestampMs } from './objects';
import { listPodsOnNode } from './pods';

/**
 * Gone: no pod with that uid is on the node any more (deleted, or its name reused by a replacement).
 * DeletionTimedOut: still there, but deleting for longer than skipWaitForDeleteTimeoutSeconds.
 * TimedOut: still there at the deadline.
 */
export type PodDeletionOutcome = 'Gone' | 'DeletionTimedOut' | 'TimedOut';

interface Waiter {
  pod: V1Pod;
  settle: (outcome: PodDeletionOutcome) => void;
}

/**
 * Waits for evicted pods to leave a node. One LIST of the node's pods per interval answers for
 * every pod being waited on, instead of a GET per pod per interval as kubectl does.
 */
export class PodDeletionTracker {
  private readonly waiters = new Map<string, Waiter>();
  private polling = false;

  constructor(
    private readonly client: KubeClient,
    private readonly nodeName: string,
    private readonly opts: {
      pollIntervalMs: number;
      signal: AbortSignal;
      skipWaitForDeleteTimeoutSeconds?: number;
      logger: Logger;
    },
  ) {}

  /** Resolves when the pod is gone (or given up on per skipWaitForDeleteTimeoutSeconds), or at `deadline`. */
  waitGone(pod: V1Pod, deadline: number): Promise<PodDeletionOutcome> {
    const uid = pod.metadata?.uid ?? objectKey(pod.metadata);
    const { signal } = this.opts;
    return new Promise<PodDeletionOutcome>((resolve, reject) => {
      if (signal.aborted) {
        reject(
          new AbortedError(`wait for pod ${objectKey(pod.metadata)} to terminate: aborted`, {
            cause: signal.reason,
          }),
        );
        return;
      }
      let timer: ReturnType<typeof setTimeout> | undefined;
      const cleanup = (): void => {
        this.waiters.delete(uid);
        if (timer) clearTimeout(timer);
        signal.removeEventListener('abort', onAbort);
      };
      const onAbort = (): void => {
        cleanup();
        reject(
          new AbortedError(`wait for pod ${objectKey(pod.metadata)} to terminate: aborted`, {
            cause: signal.reason,
          }),
        );
      };
      const settle = (outcome: PodDeletionOutcome): void => {
        cleanup();
        resolve(outcome);
      };
      if (Number.isFinite(deadline)) {
        timer = setTimeout(
          () => settle('TimedOut'),
          Math.min(Math.max(0, deadline - Date.now()), 2_147_483_647),
        );
      }
      signal.addEventListener('abort', onAbort, { once: true });
      this.waiters.set(uid, { pod, settle });
      if (!this.polling) void this.poll();
    });
  }

  private async poll(): Promise<void> {
    this.polling = true;
    try {
      while (this.waiters.size > 0) {
        await sleep(this.opts.pollIntervalMs, this.opts.signal, 'wait for pods to terminate');
        let pods: V1Pod[];
        try {
          pods = await listPodsOnNode(this.client, this.nodeName, {
            signal: this.opts.signal,
            timeoutMs: 30_000,
          });
        } catch (err) {
          if (this.opts.signal.aborted) return;
          // A failed LIST says nothing about the pods; ask again next interval.
          this.opts.logger.debug('listing pods on node failed, retrying', {
            node: this.nodeName,
            error: String(err),
          });
          continue;
        }
        this.settleFrom(pods);
      }
    } catch {
      // Only the abort ends the loop early; each waiter has already been rejected by its listener.
    } finally {
      this.polling = false;
    }
  }

  private settleFrom(pods: V1Pod[]): void {
    const byUid = new Map(pods.map((p) => [p.metadata?.uid ?? objectKey(p.metadata), p]));
    const skipAfterMs = (this.opts.skipWaitForDeleteTimeoutSeconds ?? 0) * 1000;
    const now = Date.now();
    for (const [uid, waiter] of [...this.waiters]) {
      const current = byUid.get(uid);
      if (!current) {
        waiter.settle('Gone');
        continue;
      }
      const deletingSince = timestampMs(current.metadata?.deletionTimestamp);
      if (skipAfterMs > 0 && deletingSince !== undefined && now - deletingSince > skipAfterMs) {
        waiter.settle('DeletionTimedOut');
      }
    }
  }
}
