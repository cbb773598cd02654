// The node reaper's sweep: gather (facts.ts) -> decide (plan.ts) -> act (actions.ts), and remember the
// kills and the breaker in the state ConfigMap. One sweep per --once run; the controller sweeps on an
// interval and whenever a Node changes.
import {
  errorText,
  ResourceTypes,
  type EventRecorder,
  type KubeClient,
  type Logger,
} from '@keiko/kube-runtime';
import { instanceIdOfNode, type DisruptionLocks } from '@keiko/node-ops';
import type { V1Node } from '@kubernetes/client-node';
import type { GovernorMetrics } from '../metrics';
import { pruneKills, type BreakerRecord, type GovernorState, type StateStore } from '../state';
import { NodeActions } from './actions';
import type { NodeReaperAws } from './aws';
import { candidateFacts, nodeViews } from './facts';
import {
  breaker,
  decide,
  detect,
  isUnhealthy,
  budgetRefusal,
  unjoinedInstances,
  type BreakerState,
  type Candidate,
  type NodeView,
} from './plan';
import type { NodeReaperSettings } from './settings';

export interface NodeReaperDeps {
  client: KubeClient;
  events: EventRecorder;
  log: Logger;
  metrics: GovernorMetrics;
  aws: NodeReaperAws;
  locks: DisruptionLocks;
  state: StateStore;
  settings: NodeReaperSettings;
  /** The nodes to look at (the informer's store, or a LIST in --once mode). */
  listNodes: () => Promise<V1Node[]>;
  /** Who holds group locks: `governor`. */
  identity: string;
  region: string;
  signal?: AbortSignal;
  now?: () => number;
}

export interface SweepResult {
  nodes: number;
  unhealthy: number;
  candidates: number;
  reaped: string[];
  unjoined: string[];
  breakerOpen: boolean;
  skipped: number;
}

function breakerRecord(br: BreakerState, previous: BreakerRecord, now: number): BreakerRecord {
  const open = br.cluster.open || br.groups.size > 0;
  const scopes = [br.cluster, ...br.groups.values()]
    .filter((s) => s.open)
    .map(({ scope, total, unhealthy, allowed }) => ({ scope, total, unhealthy, allowed }));
  const since = open ? (previous.open ? previous.since : new Date(now).toISOString()) : undefined;
  return { open, ...(since ? { since } : {}), scopes };
}

export class NodeReaper {
  private readonly actions: NodeActions;
  private readonly now: () => number;

  constructor(private readonly d: NodeReaperDeps) {
    this.actions = new NodeActions(d);
    this.now = d.now ?? Date.now;
  }

  async sweep(): Promise<SweepResult> {
    const { settings: s, log } = this.d;
    const now = this.now();
    const nodes = await this.d.listNodes();
    log.debug('sweep: gathering', { nodes: nodes.length });
    const views = await nodeViews(this.d.client, this.d.aws, nodes, s, now);
    const candidates = detect(views, s, now);
    log.debug('sweep: detected', { candidates: candidates.length, tookMs: Date.now() - now });
    const br = breaker(
      views.filter((v) => !this.beingReaped(v)),
      s,
    );
    let state = await this.d.state.load();
    await this.recordBreaker(br, state, now);
    const facts = await candidateFacts(
      this.d.client,
      this.d.aws,
      this.d.locks,
      {
        identity: this.d.identity,
        region: this.d.region,
      },
      candidates,
      s,
    );
    log.debug('sweep: facts gathered', { tookMs: Date.now() - now });
    const byName = new Map(nodes.map((n) => [n.metadata?.name ?? '', n]));
    const decision = decide(candidates, byName, s, facts, state, br, now);
    for (const { candidate, why } of decision.skipped)
      this.skipped(candidate, why, byName.get(candidate.name));
    const reaped: string[] = [];
    for (const c of decision.reap) {
      const outcome = await this.actions.reap(c, byName.get(c.name), state);
      state = outcome.state;
      if (outcome.reaped) reaped.push(c.name);
      if (outcome.stopRun) break;
    }
    const unjoined = br.cluster.open ? [] : await this.reapUnjoined(views, now);
    state = await this.d.state.update((st) => ({
      ...pruneKills(st, now, Math.max(s.killWindowMs, s.reapOldThrottleMs, s.reapThrottleMs)),
      lastSweep: new Date(now).toISOString(),
    }));
    const unhealthy = views.filter((v) => isUnhealthy(v.node, s.reapConditions)).length;
    this.observe(views.length, unhealthy, candidates);
    const result = {
      nodes: views.length,
      unhealthy,
      candidates: candidates.length,
      reaped,
      unjoined,
      breakerOpen: br.cluster.open,
      skipped: decision.skipped.length,
    };
    log.info('node reaper sweep done', { ...result, dryRun: s.dryRun });
    return result;
  }

  private beingReaped(v: NodeView): boolean {
    const state = v.node.metadata?.annotations?.['governor.keikoproj.io/state'];
    return state === 'draining' || state === 'termination-issued';
  }

  private observe(total: number, unhealthy: number, candidates: readonly Candidate[]): void {
    const m = this.d.metrics;
    m.nodes.set({ state: 'total' }, total);
    m.nodes.set({ state: 'unhealthy' }, unhealthy);
    m.candidates.reset();
    for (const c of candidates) m.candidates.inc({ kind: c.kind });
  }

  private skipped(c: Candidate, why: string, node: V1Node | undefined): void {
    this.d.log.info('node not reaped', { node: c.name, kind: c.kind, detail: c.detail, why });
    if (node)
      void this.d.events.record(
        node,
        'Normal',
        'NodeReapBlocked',
        `${c.kind} (${c.detail}) not reaped: ${why}`,
      );
  }

  /** Persists the breaker and tells on a change (Event on the state ConfigMap, log, metric). */
  private async recordBreaker(br: BreakerState, state: GovernorState, now: number): Promise<void> {
    const m = this.d.metrics;
    m.breakerOpen.reset();
    m.breakerOpen.set({ scope: 'cluster' }, br.cluster.open ? 1 : 0);
    for (const g of br.groups.values()) m.breakerOpen.set({ scope: g.scope }, 1);
    const next = breakerRecord(br, state.breaker, now);
    if (
      next.open === state.breaker.open &&
      JSON.stringify(next.scopes) === JSON.stringify(state.breaker.scopes)
    )
      return;
    await this.d.state.update((st) => ({ ...st, breaker: next }));
    const words = next.scopes.map(
      (sc) => `${sc.scope}: ${sc.unhealthy}/${sc.total} unhealthy (allowed ${sc.allowed})`,
    );
    if (next.open) {
      this.d.log.warn('circuit breaker open: not reaping', { scopes: words });
      await this.d.events.record(this.d.state.object(), 'Warning', 'CircuitBreakerOpen', words.join('; '));
    } else {
      this.d.log.info('circuit breaker closed');
      await this.d.events.record(
        this.d.state.object(),
        'Normal',
        'CircuitBreakerClosed',
        'unhealthy nodes back within the threshold',
      );
    }
  }

  private async reapUnjoined(views: readonly NodeView[], now: number): Promise<string[]> {
    const s = this.d.settings;
    if (!s.reapUnjoined || !s.unjoinedTag) return [];
    // Every node's instance is joined, not only those --node-selector lets the reaper act on.
    const nodes = s.nodeSelector
      ? (await this.d.client.listAll<V1Node>(ResourceTypes.Node)).items
      : views.map((v) => v.node);
    const known = new Set(nodes.map(instanceIdOfNode).filter((id): id is string => !!id));
    const running = await this.d.aws.runningByTag(s.unjoinedTag.key, s.unjoinedTag.value);
    const ids = unjoinedInstances(running, known, s, now);
    const killed: string[] = [];
    for (const id of ids) {
      if (s.dryRun) {
        this.d.log.info('dry run: would terminate unjoined instance', { instanceId: id });
        continue;
      }
      const group = running.find((i) => i.id === id)?.group;
      const outcome = await this.killUnjoined(id, group, now).catch((err: unknown) => {
        this.d.log.error('could not terminate unjoined instance', { instanceId: id, error: errorText(err) });
        return 'failed' as const;
      });
      if (outcome === 'refused') break;
      if (outcome === 'killed') killed.push(id);
    }
    return s.dryRun ? ids : killed;
  }

  /**
   * One unjoined instance, as a node's reap is guarded: not while another tool holds its group's
   * disruption lock, and only if the kill still fits the budget and throttle on the state as written now
   * (the kill is recorded before the terminate, so a restart never spends it twice).
   */
  private async killUnjoined(
    id: string,
    group: string | undefined,
    now: number,
  ): Promise<'killed' | 'refused' | 'locked'> {
    const ref = group ? { region: this.d.region, name: group } : undefined;
    if (ref) {
      const lock = await this.d.locks.acquire(ref, this.d.identity, `governor terminates unjoined ${id}`);
      if (!lock.held) {
        this.d.log.info('unjoined instance left alone: group locked by another tool', {
          instanceId: id,
          holder: lock.holder,
        });
        return 'locked';
      }
    }
    try {
      let refused: string | undefined;
      await this.d.state.update((st) => {
        refused = budgetRefusal(st, this.d.settings, now);
        if (refused) return st;
        return {
          ...st,
          kills: [...st.kills, { node: '', instanceId: id, kind: 'unjoined' as const, at: now }],
        };
      });
      if (refused) {
        this.d.log.info('unjoined instance not terminated now', { instanceId: id, why: refused });
        return 'refused';
      }
      await this.d.aws.terminateInstance(id);
      this.d.metrics.nodeResult.set({ node: '', instanceId: id, reason: 'TerminateUnjoinedInstance' }, 1);
      this.d.log.info('terminated unjoined instance', { instanceId: id });
      return 'killed';
    } finally {
      if (ref) await this.d.locks.release(ref, this.d.identity).catch(() => undefined);
    }
  }
}
