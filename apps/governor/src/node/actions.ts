// What the node reaper does to one node, in an order a restart can resume: lock the group, count the
// kill (state ConfigMap), mark the node `draining`, drain through node-ops (PDB-aware, bounded by
// --drain-timeout), mark it `termination-issued`, terminate its instance in its group without decrement
// (or delete the Node: Karpenter nodes, ghosts). A node found `termination-issued` is never sent a
// second terminate: terminateConfirmed only terminates an InService instance.
import { errorText, ResourceTypes } from '@keiko/kube-runtime';
import { drainNode, uncordonNode } from '@keiko/node-ops';
import type { V1Node } from '@kubernetes/client-node';
import type { GovernorState } from '../state';
import {
  budgetRefusal,
  reapReason,
  STATE_ANNOTATION,
  UNREAPABLE_ANNOTATION,
  type Candidate,
  type ReapKind,
} from './plan';
import type { NodeReaperDeps } from './reaper';

export interface ReapOutcome {
  state: GovernorState;
  reaped: boolean;
  /** A drain failed: upstream stops the whole run there. */
  stopRun: boolean;
}

const CORDONED_BY = 'governor';

/** Whether the node's kubelet reports Ready now (an absent node is not). */
function isReadyNow(node: V1Node | undefined): boolean {
  return node?.status?.conditions?.some((c) => c.type === 'Ready' && c.status === 'True') ?? false;
}
const DEAD_KINDS: ReadonlySet<ReapKind> = new Set(['unready', 'unknown', 'condition']);

export class NodeActions {
  constructor(private readonly d: NodeReaperDeps) {}

  async reap(c: Candidate, node: V1Node | undefined, state: GovernorState): Promise<ReapOutcome> {
    const recorded = c.resuming ? state.kills.find((k) => k.node === c.name)?.kind : undefined;
    const kind: ReapKind = recorded && recorded !== 'unjoined' ? recorded : c.kind;
    if (this.d.settings.dryRun) {
      this.d.log.info('dry run: would reap node', { node: c.name, kind, detail: c.detail, group: c.group });
      if (node)
        await this.d.events.record(node, 'Normal', 'DryRunReap', `would reap ${kind} node: ${c.detail}`);
      return { state, reaped: false, stopRun: false };
    }
    const ref = c.group ? { region: this.d.region, name: c.group } : undefined;
    const reason = `governor reaps ${kind} node ${c.name}`;
    if (ref) {
      const lock = await this.d.locks.acquire(ref, this.d.identity, reason);
      if (!lock.held) {
        this.d.log.info('group locked by another tool; node left alone', {
          node: c.name,
          holder: lock.holder,
        });
        return { state, reaped: false, stopRun: false };
      }
    }
    // A drain may outlast the lock's lease: keep it renewed, and check it is still ours before terminating.
    const renewal = ref ? this.d.locks.keepRenewed(ref, this.d.identity, reason) : undefined;
    try {
      return await this.reapLocked(c, kind, node, state, () => renewal?.stillHeld() ?? true);
    } finally {
      renewal?.stop();
      if (ref) await this.d.locks.release(ref, this.d.identity).catch(() => undefined);
    }
  }

  private async reapLocked(
    c: Candidate,
    kind: ReapKind,
    node: V1Node | undefined,
    state: GovernorState,
    lockHeld: () => boolean,
  ): Promise<ReapOutcome> {
    const now = (this.d.now ?? Date.now)();
    if (!c.resuming) {
      // The budget and throttle again, on the state as it is now (another run — a CronJob beside the
      // controller, a manual --once — may have killed since this sweep read it): the kill is counted only
      // if it still fits.
      let refused: string | undefined;
      state = await this.d.state.update((st) => {
        refused = budgetRefusal(st, this.d.settings, now);
        if (refused) return st;
        const kill = { node: c.name, ...(c.instanceId ? { instanceId: c.instanceId } : {}), kind, at: now };
        return { ...st, kills: [...st.kills, kill] };
      });
      if (refused) {
        this.d.log.info('node not reaped: the budget was spent meanwhile', { node: c.name, why: refused });
        return { state, reaped: false, stopRun: false };
      }
    }
    if (c.resuming !== 'termination-issued') {
      await this.annotate(c.name, { [STATE_ANNOTATION]: 'draining' });
      if (node)
        await this.d.events.record(node, 'Normal', 'NodeReaping', `reaping ${kind} node: ${c.detail}`);
      // Dead = its kubelet is gone now (Ready not True), whatever the kind says: a live node's drain
      // must succeed (a node-condition rule or a resumed reap may name a node whose kubelet is alive).
      const dead = DEAD_KINDS.has(kind) && !isReadyNow(node);
      const failure = c.drain ? await this.drain(c, dead) : undefined;
      if (failure && !dead) {
        await this.drainFailed(c, node, failure);
        return { state, reaped: false, stopRun: true };
      }
      if (failure)
        this.d.log.warn('drain of a dead node failed; terminating anyway', { node: c.name, error: failure });
      if (!lockHeld()) {
        // The lease ran out during the drain and another tool took the group: resumed at the next sweep.
        this.d.log.warn('group lock lost during the drain; not terminating now', {
          node: c.name,
          group: c.group,
        });
        return { state, reaped: false, stopRun: false };
      }
      await this.annotate(c.name, { [STATE_ANNOTATION]: 'termination-issued' });
    }
    const reaped = await this.remove(c, kind, node);
    return { state, reaped, stopRun: false };
  }

  /** Drains the node; the failure's words, or undefined when it drained. */
  private async drain(c: Candidate, dead: boolean): Promise<string | undefined> {
    try {
      await drainNode(this.d.client, c.name, {
        timeoutMs: this.d.settings.drainTimeoutMs,
        cordonedBy: CORDONED_BY,
        ignoreDaemonSets: true,
        deleteEmptyDirData: true,
        force: true,
        // A dead kubelet never confirms a pod is gone: do not wait for it.
        ...(dead ? { skipWaitForDeleteTimeoutSeconds: 1 } : {}),
        ...(this.d.signal ? { signal: this.d.signal } : {}),
        logger: this.d.log,
      });
      return undefined;
    } catch (err) {
      if (this.d.signal?.aborted) throw err;
      return errorText(err);
    }
  }

  /** Upstream's drain failure: Event, age-unreapable, uncordon unless --ignore-failure; the run stops. */
  private async drainFailed(c: Candidate, node: V1Node | undefined, failure: string): Promise<void> {
    this.d.log.error('drain failed; node left in place', { node: c.name, error: failure });
    if (node) await this.d.events.record(node, 'Warning', 'NodeDrainFailed', `drain failed: ${failure}`);
    await this.annotate(c.name, {
      [STATE_ANNOTATION]: null,
      [UNREAPABLE_ANNOTATION]: new Date((this.d.now ?? Date.now)()).toISOString(),
    });
    if (!this.d.settings.ignoreFailure)
      await uncordonNode(this.d.client, c.name, { onlyIfCordonedBy: CORDONED_BY }).catch(() => undefined);
    this.d.metrics.nodeResult.set(
      { node: c.name, instanceId: c.instanceId ?? '', reason: reapReason(c, true) },
      1,
    );
  }

  /** Terminates the instance in its group (no decrement), or deletes the Node (Karpenter, ghosts). */
  private async remove(c: Candidate, kind: ReapKind, node: V1Node | undefined): Promise<boolean> {
    let what: string;
    if (c.karpenter || kind === 'ghost') {
      await this.d.client.delete(ResourceTypes.Node, undefined, c.name);
      what = `deleted node ${c.name}`;
    } else if (c.group && c.instanceId) {
      const outcome = await this.d.aws.terminateInGroup(c.group, c.instanceId);
      if (outcome.outcome === 'wait') {
        this.d.log.info('instance not InService; terminate later', { node: c.name, detail: outcome.detail });
        return false;
      }
      // Terminated by an earlier sweep: its node goes once the instance is gone; nothing to count again.
      if (outcome.outcome === 'gone' && c.resuming === 'termination-issued') {
        this.d.log.debug('instance already on its way out', { node: c.name, detail: outcome.detail });
        return false;
      }
      what =
        outcome.outcome === 'terminated'
          ? `terminated instance ${c.instanceId} in group ${c.group} (the group replaces it)`
          : `instance ${c.instanceId}: ${outcome.detail}`;
    } else {
      this.d.log.warn('node has no instance in a group; left alone', { node: c.name });
      return false;
    }
    this.d.metrics.kills.inc({ kind });
    this.d.metrics.nodeResult.set(
      { node: c.name, instanceId: c.instanceId ?? '', reason: reapReason({ ...c, kind }) },
      1,
    );
    this.d.log.info('node reaped', { node: c.name, kind, detail: c.detail, action: what });
    if (node)
      await this.d.events.record(node, 'Normal', 'NodeReaped', `${kind} node reaped (${c.detail}): ${what}`);
    return true;
  }

  private async annotate(name: string, annotations: Record<string, string | null>): Promise<void> {
    await this.d.client.patch(ResourceTypes.Node, undefined, name, { metadata: { annotations } });
  }
}
