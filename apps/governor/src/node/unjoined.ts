// Unjoined instances (running, tagged as expected to join, in no node's providerID, older than the
// threshold) are terminated under the same rules as nodes: each kill is counted against --max-kill-nodes
// and the throttles on the state ConfigMap as it is when the kill is written, and an instance in an
// Auto Scaling group is terminated only while governor holds that group's disruption lock.
import { errorText, ResourceTypes } from '@keiko/kube-runtime';
import { instanceIdOfNode } from '@keiko/node-ops';
import type { V1Node } from '@kubernetes/client-node';
import { budgetRefusal } from './actions';
import type { FoundInstance } from './aws';
import { unjoinedInstances, type NodeView } from './plan';
import type { NodeReaperDeps } from './reaper';

type Outcome = 'terminated' | 'skipped' | 'stop';

export class UnjoinedReaper {
  constructor(private readonly d: NodeReaperDeps) {}

  /** The unjoined instances found (terminated unless --dry-run, as far as budget and locks allow). */
  async sweep(views: readonly NodeView[], now: number): Promise<string[]> {
    const s = this.d.settings;
    if (!s.reapUnjoined || !s.unjoinedTag) return [];
    // Every node's instance is joined, not only those --node-selector lets the reaper act on.
    const nodes = s.nodeSelector
      ? (await this.d.client.listAll<V1Node>(ResourceTypes.Node)).items
      : views.map((v) => v.node);
    const known = new Set(nodes.map(instanceIdOfNode).filter((id): id is string => !!id));
    const running = await this.d.aws.runningByTag(s.unjoinedTag.key, s.unjoinedTag.value);
    const ids = unjoinedInstances(running, known, s, now);
    const byId = new Map(running.map((i) => [i.id, i]));
    for (const id of ids) {
      const instance = byId.get(id) ?? { id, state: 'running' };
      if ((await this.reap(instance, now)) === 'stop') break;
    }
    return ids;
  }

  private async reap(instance: FoundInstance, now: number): Promise<Outcome> {
    const { log } = this.d;
    if (this.d.settings.dryRun) {
      log.info('dry run: would terminate unjoined instance', { instanceId: instance.id });
      return 'skipped';
    }
    const ref = instance.group ? { region: this.d.region, name: instance.group } : undefined;
    if (ref) {
      const lock = await this.d.locks.acquire(ref, this.d.identity, `governor reaps unjoined ${instance.id}`);
      if (!lock.held) {
        log.info('group locked by another tool; unjoined instance left alone', {
          instanceId: instance.id,
          holder: lock.holder,
        });
        return 'skipped';
      }
    }
    try {
      return await this.countAndTerminate(instance, now);
    } finally {
      if (ref) await this.d.locks.release(ref, this.d.identity).catch(() => undefined);
    }
  }

  private async countAndTerminate(instance: FoundInstance, now: number): Promise<Outcome> {
    let refused: string | undefined;
    await this.d.state.update((st) => {
      refused = budgetRefusal(st, this.d.settings, now);
      if (refused) return st;
      return {
        ...st,
        kills: [...st.kills, { node: '', instanceId: instance.id, kind: 'unjoined', at: now }],
      };
    });
    if (refused) {
      this.d.log.info('unjoined instance not terminated', { instanceId: instance.id, why: refused });
      return 'stop';
    }
    try {
      await this.d.aws.terminateInstance(instance.id);
    } catch (err) {
      this.d.log.error('could not terminate unjoined instance', {
        instanceId: instance.id,
        error: errorText(err),
      });
      return 'skipped';
    }
    this.d.metrics.kills.inc({ kind: 'unjoined' });
    this.d.metrics.nodeResult.set(
      { node: '', instanceId: instance.id, reason: 'TerminateUnjoinedInstance' },
      1,
    );
    this.d.log.info('terminated unjoined instance', { instanceId: instance.id, group: instance.group });
    return 'terminated';
  }
}
