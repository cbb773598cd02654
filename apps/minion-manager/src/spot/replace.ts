// Replaces a group's wrong-market instances, one budget at a time, the way every Keiko node tool takes
// nodes away (node-ops): hold the group's disruption lock (kept renewed through the drain), drain the
// instance's node (PDB-aware eviction), check the lock is still ours, then terminate the instance in its
// group without decrement (terminateConfirmed: only an InService instance, so a restart never sends a
// second terminate) — the group launches the replacement in the market it is configured for. At most one
// replacement job per group runs at a time; the refresh after it sees the new instance and the group's
// stability before the next.
import { terminateConfirmed, type AutoScalingPort } from '@keiko/aws';
import {
  errorText,
  ResourceTypes,
  type EventRecorder,
  type KubeClient,
  type Logger,
} from '@keiko/kube-runtime';
import {
  drainNode,
  isNodeReady,
  nodesByInstanceId,
  uncordonNode,
  type DisruptionLocks,
} from '@keiko/node-ops';
import type { V1Node } from '@kubernetes/client-node';
import type { MinionMetrics } from '../metrics';

export const CORDONED_BY = 'minion-manager';

export interface ReplacerDeps {
  client: KubeClient;
  autoScaling: AutoScalingPort;
  locks: DisruptionLocks;
  events: EventRecorder;
  log: Logger;
  metrics: MinionMetrics;
  identity: string;
  region: string;
  drainTimeoutMs: number;
  signal?: AbortSignal;
}

export class Replacer {
  private readonly running = new Map<string, Promise<void>>();

  constructor(private readonly d: ReplacerDeps) {}

  /** Whether a replacement job of the group is still running. */
  busy(group: string): boolean {
    return this.running.has(group);
  }

  /** Starts replacing the instances in the background (nothing when the group already has a job). */
  start(group: string, instanceIds: readonly string[], why: string): void {
    if (this.running.has(group) || instanceIds.length === 0) return;
    const job = this.replace(group, instanceIds, why)
      .catch((err: unknown) => this.d.log.error('replacement failed', { group, error: errorText(err) }))
      .finally(() => this.running.delete(group));
    this.running.set(group, job);
  }

  /** Waits for every running job (shutdown, tests). */
  async idle(): Promise<void> {
    await Promise.allSettled([...this.running.values()]);
  }

  private async replace(group: string, instanceIds: readonly string[], why: string): Promise<void> {
    const ref = { region: this.d.region, name: group };
    const reason = `minion-manager replaces ${instanceIds.join(', ')}: ${why}`;
    const lock = await this.d.locks.acquire(ref, this.d.identity, reason);
    if (!lock.held) {
      this.d.log.info('group locked by another tool; replacement later', {
        group,
        holder: lock.holder,
        reason: lock.reason,
      });
      return;
    }
    const renewal = this.d.locks.keepRenewed(ref, this.d.identity, reason);
    try {
      const nodes = nodesByInstanceId((await this.d.client.listAll<V1Node>(ResourceTypes.Node)).items);
      for (const id of instanceIds) {
        if (!(await this.replaceOne(group, id, nodes.get(id), () => renewal.stillHeld()))) break;
      }
    } finally {
      renewal.stop();
      await this.d.locks.release(ref, this.d.identity).catch(() => undefined);
    }
  }

  /** Drain then terminate one instance; false when the job must stop (drain failed, lock lost). */
  private async replaceOne(
    group: string,
    instanceId: string,
    node: V1Node | undefined,
    lockHeld: () => boolean,
  ): Promise<boolean> {
    const nodeName = node?.metadata?.name;
    if (node && nodeName) {
      await this.d.events.record(
        node,
        'Normal',
        'SpotReplacing',
        `draining: instance ${instanceId} of group ${group} runs in the wrong market`,
      );
      try {
        await drainNode(this.d.client, nodeName, {
          timeoutMs: this.d.drainTimeoutMs,
          cordonedBy: CORDONED_BY,
          ignoreDaemonSets: true,
          deleteEmptyDirData: true,
          force: true,
          ...(this.d.signal ? { signal: this.d.signal } : {}),
          logger: this.d.log,
        });
      } catch (err) {
        if (this.d.signal?.aborted) throw err;
        await this.drainFailed(group, node, errorText(err));
        return false;
      }
    }
    if (!lockHeld()) {
      this.d.log.warn('group lock lost during the drain; not terminating now', {
        group,
        instance: instanceId,
      });
      return false;
    }
    const result = await terminateConfirmed(this.d.autoScaling, group, [
      { instanceId, decrementDesired: false },
    ]);
    if (result.error) throw result.error;
    const outcome = result.outcomes[0];
    this.d.metrics.replacements.inc({ group, result: outcome?.outcome ?? 'unknown' });
    this.d.log.info('wrong-market instance replaced', {
      group,
      instance: instanceId,
      node: nodeName,
      outcome: outcome?.outcome,
    });
    if (node)
      await this.d.events.record(
        node,
        'Normal',
        'SpotReplaced',
        `instance ${instanceId} terminated; group ${group} launches its replacement`,
      );
    return outcome?.outcome === 'terminated';
  }

  private async drainFailed(group: string, node: V1Node, failure: string): Promise<void> {
    const name = node.metadata?.name ?? '';
    this.d.metrics.replacements.inc({ group, result: 'drain-failed' });
    this.d.log.error('drain failed; instance left in place', { group, node: name, error: failure });
    await this.d.events.record(
      node,
      'Warning',
      'SpotReplaceDrainFailed',
      `drain failed, instance kept: ${failure}`,
    );
    await uncordonNode(this.d.client, name, { onlyIfCordonedBy: CORDONED_BY }).catch(() => undefined);
  }
}

/** The group's InService instances whose node exists but is not Ready (none when no instance has a node). */
export function instancesWithUnreadyNodes(
  instanceIds: readonly string[],
  nodes: ReadonlyMap<string, V1Node>,
): string[] {
  if (!instanceIds.some((id) => nodes.has(id))) return [];
  return instanceIds.filter((id) => {
    const node = nodes.get(id);
    return !node || !isNodeReady(node);
  });
}
