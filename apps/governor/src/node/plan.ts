// The node reaper's decisions, as pure functions: which nodes are reapable and why (detect), whether the
// circuit breaker is open (breaker), and which of the candidates may go now (decide) given the budget,
// throttles, group stability, locks and soft reap. No I/O: the controller gathers the facts.
import type { V1Node } from '@kubernetes/client-node';
import type { ConditionRule, NodeReaperSettings, TaintMatcher } from './settings';

export const LABEL_PREFIX = 'governor.keikoproj.io';
export const REAPER_DISABLED_LABEL = `${LABEL_PREFIX}/node-reaper-disabled`;
export const STATE_ANNOTATION = `${LABEL_PREFIX}/state`;
export const UNREAPABLE_ANNOTATION = `${LABEL_PREFIX}/age-unreapable`;
export const KARPENTER_REGISTERED_LABEL = 'karpenter.sh/registered';

export type ReapKind = 'unready' | 'unknown' | 'condition' | 'flappy' | 'ghost' | 'tainted' | 'old';
/** Upstream's metric reasons, per kind. */
export type ReapReason = 'TerminateUnhealthyNode' | 'TerminateAgeExpiredNode' | 'DrainFailedAgeExpiredNode';

/** What the reaper knows of one node: the Node plus what EC2 and Events said of it. */
export interface NodeView {
  node: V1Node;
  name: string;
  instanceId?: string;
  /** The Auto Scaling group (instance tag aws:autoscaling:groupName), if any. */
  group?: string;
  /** The EC2 state of the providerID's instance ('absent' when EC2 does not know it). */
  instanceState?: string;
  /** A running instance other than the providerID's has this node's name as its private DNS name. */
  runningTwin?: string;
  /** Ready transitions within the flap window (from Node events). */
  flapTransitions: number;
}

export interface Candidate {
  name: string;
  kind: ReapKind;
  /** Human words for Events and logs: `Ready Unknown for 12m`. */
  detail: string;
  /** For ordering: how long the node has been in its state (ms), or its age for `old`. */
  sinceMs: number;
  instanceId?: string;
  group?: string;
  karpenter: boolean;
  /** Whether the kind drains before the node goes (upstream: ghost, flappy, tainted, old). */
  drain: boolean;
  /** Whether a failed drain stops the kill (healthy kinds); dead nodes go anyway. */
  drainMustSucceed: boolean;
  /** Whether the group must be stable first (every kind but unjoined, which has no node). */
  asgCheck: boolean;
  resuming?: 'draining' | 'termination-issued';
}

const label = (n: V1Node, key: string) => n.metadata?.labels?.[key] === 'true';
const disabled = (n: V1Node, kind: string) =>
  label(n, REAPER_DISABLED_LABEL) || label(n, `${LABEL_PREFIX}/reap-${kind}-disabled`);

export function condition(n: V1Node, type: string) {
  return n.status?.conditions?.find((c) => c.type === type);
}

function since(transition: Date | string | undefined, now: number): number {
  const t = transition ? new Date(transition).getTime() : NaN;
  return Number.isFinite(t) ? Math.max(0, now - t) : 0;
}

export function formatMinutes(ms: number): string {
  const m = ms / 60_000;
  return m >= 100 ? `${Math.round(m / 60)}h` : m >= 1 ? `${Math.round(m)}m` : `${Math.round(ms / 1000)}s`;
}

/** Ready is not True: what the breaker counts, whatever the duration. */
export function isUnhealthy(n: V1Node, rules: readonly ConditionRule[]): boolean {
  if (condition(n, 'Ready')?.status !== 'True') return true;
  return rules.some((r) => condition(n, r.type)?.status === r.status);
}

export function taintMatches(m: TaintMatcher, t: { key: string; value?: string; effect: string }): boolean {
  return (
    t.key === m.key &&
    (m.value === undefined || (t.value ?? '') === m.value) &&
    (!m.effect || t.effect === m.effect)
  );
}

function base(v: NodeView, kind: ReapKind, detail: string, sinceMs: number): Candidate {
  const healthyKind = kind === 'flappy' || kind === 'ghost' || kind === 'tainted' || kind === 'old';
  const state = v.node.metadata?.annotations?.[STATE_ANNOTATION];
  return {
    name: v.name,
    kind,
    detail,
    sinceMs,
    instanceId: v.instanceId,
    group: v.group,
    karpenter: label(v.node, KARPENTER_REGISTERED_LABEL),
    drain: true,
    drainMustSucceed: healthyKind,
    asgCheck: true,
    ...(state === 'draining' || state === 'termination-issued' ? { resuming: state } : {}),
  };
}

/** Ready False/Unknown past reap-after, or a configured condition past its duration. */
function unhealthyKind(v: NodeView, s: NodeReaperSettings, now: number): Candidate | undefined {
  const ready = condition(v.node, 'Ready');
  const status = ready?.status ?? 'Unknown';
  const forMs = since(ready?.lastTransitionTime, now);
  const kind = status === 'Unknown' ? 'unknown' : status === 'False' ? 'unready' : undefined;
  const on = kind === 'unknown' ? s.reapUnknown : s.reapUnready;
  if (kind && on && forMs >= s.reapAfterMs && !disabled(v.node, kind))
    return base(v, kind, `Ready ${status} for ${formatMinutes(forMs)}`, forMs);
  for (const rule of s.reapConditions) {
    const c = condition(v.node, rule.type);
    const cFor = since(c?.lastTransitionTime, now);
    if (c?.status === rule.status && cFor >= rule.forMs && !disabled(v.node, 'unready'))
      return base(v, 'condition', `${rule.type} ${rule.status} for ${formatMinutes(cFor)}`, cFor);
  }
  return undefined;
}

function otherKind(
  v: NodeView,
  s: NodeReaperSettings,
  now: number,
  allReady: boolean,
): Candidate | undefined {
  const n = v.node;
  if (s.reapGhost && v.runningTwin && (v.instanceState === 'terminated' || v.instanceState === 'absent'))
    return base(
      v,
      'ghost',
      `instance ${v.instanceId} is ${v.instanceState}; ${v.runningTwin} runs as ${v.name}`,
      0,
    );
  if (s.reapFlappy && v.flapTransitions >= s.flapCount && !disabled(n, 'flappy'))
    return base(v, 'flappy', `${v.flapTransitions} Ready transitions in ${formatMinutes(s.flapWindowMs)}`, 0);
  const taint = (n.spec?.taints ?? []).find((t) => s.reapTainted.some((m) => taintMatches(m, t)));
  if (taint)
    return base(
      v,
      'tainted',
      `tainted ${taint.key}${taint.value ? `=${taint.value}` : ''}:${taint.effect}`,
      0,
    );
  const age = since(n.metadata?.creationTimestamp, now);
  if (
    s.reapOld &&
    allReady &&
    age >= s.oldThresholdMs &&
    !disabled(n, 'old') &&
    n.metadata?.name !== s.selfNode
  )
    return base(v, 'old', `age ${formatMinutes(age)}`, age);
  return undefined;
}

/**
 * Every node that is reapable, one kind each (unhealthy kinds first), most urgent first: unhealthy ones
 * longest in their state, then the others, old ones oldest first. Nodes already on their way out (the
 * state annotation) come back as resuming candidates whatever their state now.
 */
export function detect(views: readonly NodeView[], s: NodeReaperSettings, now: number): Candidate[] {
  const allReady = views.every((v) => condition(v.node, 'Ready')?.status === 'True');
  const out: Candidate[] = [];
  for (const v of views) {
    const c = unhealthyKind(v, s, now) ?? otherKind(v, s, now, allReady);
    if (c) out.push(c);
    else {
      const state = v.node.metadata?.annotations?.[STATE_ANNOTATION];
      if (state === 'draining' || state === 'termination-issued')
        out.push(base(v, 'unready', `resuming (${state})`, 0));
    }
  }
  const rank = (c: Candidate) => (c.resuming ? 0 : c.kind === 'old' ? 2 : 1);
  return out.sort((a, b) => rank(a) - rank(b) || b.sinceMs - a.sinceMs || a.name.localeCompare(b.name));
}

export interface BreakerScope {
  scope: string;
  total: number;
  unhealthy: number;
  /** Unhealthy nodes tolerated: ceil(threshold% of total). */
  allowed: number;
  open: boolean;
}

export interface BreakerState {
  cluster: BreakerScope;
  /** Groups whose own breaker is open, by name. */
  groups: Map<string, BreakerScope>;
}

function scope(name: string, total: number, unhealthy: number, percent: number): BreakerScope {
  const allowed = Math.ceil((percent * total) / 100);
  return { scope: name, total, unhealthy, allowed, open: unhealthy > allowed };
}

/**
 * The circuit breaker: open while more nodes are unhealthy than threshold% of the cluster's (or of a
 * group's) nodes, rounded up — a zone outage or a partition must never make governor take half the
 * cluster down. Nodes already being reaped do not count as unhealthy.
 */
export function breaker(views: readonly NodeView[], s: NodeReaperSettings): BreakerState {
  const byGroup = new Map<string, { total: number; unhealthy: number }>();
  let unhealthy = 0;
  for (const v of views) {
    const bad = isUnhealthy(v.node, s.reapConditions) ? 1 : 0;
    unhealthy += bad;
    if (!v.group) continue;
    const g = byGroup.get(v.group) ?? { total: 0, unhealthy: 0 };
    g.total++;
    g.unhealthy += bad;
    byGroup.set(v.group, g);
  }
  const groups = new Map<string, BreakerScope>();
  for (const [name, g] of byGroup) {
    const sc = scope(`group/${name}`, g.total, g.unhealthy, s.breakerThresholdPercent);
    if (sc.open) groups.set(name, sc);
  }
  return { cluster: scope('cluster', views.length, unhealthy, s.breakerThresholdPercent), groups };
}

/** What the reaper remembers across runs (the state ConfigMap). */
export interface KillRecord {
  node: string;
  instanceId?: string;
  /** 'unjoined': an instance that never joined (no node), terminated from the same budget. */
  kind: ReapKind | 'unjoined';
  at: number;
}

export interface ReaperMemory {
  kills: KillRecord[];
}

/** Facts gathered for the candidates only (pods, groups, locks). */
export interface CandidateFacts {
  /** Pods on the node that are Ready (NodeLost ones left out). */
  readyPods: Map<string, number>;
  /** Groups whose DesiredCapacity equals their healthy InService count. */
  stableGroups: Set<string>;
  /** Groups locked by another tool, with the holder. */
  lockedGroups: Map<string, string>;
}

export interface Decision {
  reap: Candidate[];
  skipped: Array<{ candidate: Candidate; why: string }>;
}

/** When the next kill may happen: after the last kill's throttle (old kills throttle longer). */
export function nextKillAt(memory: ReaperMemory, s: NodeReaperSettings): number {
  const last = memory.kills.reduce<KillRecord | undefined>((a, k) => (!a || k.at > a.at ? k : a), undefined);
  if (!last) return 0;
  return last.at + (last.kind === 'old' ? s.reapOldThrottleMs : s.reapThrottleMs);
}

export function killsInWindow(memory: ReaperMemory, s: NodeReaperSettings, now: number): number {
  return memory.kills.filter((k) => now - k.at < s.killWindowMs).length;
}

/**
 * Why one more kill does not fit the memory (--max-kill-nodes in the window, the last kill's throttle), or
 * undefined when it fits. Every kill — a node's or an unjoined instance's — spends the one budget.
 */
export function budgetRefusal(memory: ReaperMemory, s: NodeReaperSettings, now: number): string | undefined {
  if (killsInWindow(memory, s, now) >= s.maxKillNodes) return `--max-kill-nodes ${s.maxKillNodes} reached`;
  const next = nextKillAt(memory, s);
  return now < next ? `throttled until ${new Date(next).toISOString()}` : undefined;
}

function unreapableRecently(c: Candidate, node: V1Node | undefined, s: NodeReaperSettings, now: number) {
  const at = Date.parse(node?.metadata?.annotations?.[UNREAPABLE_ANNOTATION] ?? '');
  return Number.isFinite(at) && now - at < s.reconsiderUnreapableAfterMs && !c.resuming;
}

/** Why a new (not resuming) candidate may not go now, or undefined when it may. */
function blocker(
  c: Candidate,
  s: NodeReaperSettings,
  f: CandidateFacts,
  br: BreakerState,
): string | undefined {
  if (c.name === s.selfNode) return 'governor runs on it';
  if (!c.group && !c.karpenter && c.kind !== 'ghost')
    return 'its instance is in no Auto Scaling group (nothing would replace it)';
  if (c.group && br.groups.has(c.group)) {
    const g = br.groups.get(c.group);
    return `circuit breaker open for group ${c.group}: ${g?.unhealthy}/${g?.total} nodes unhealthy`;
  }
  if (c.group && f.lockedGroups.has(c.group))
    return `group ${c.group} is being disrupted by ${f.lockedGroups.get(c.group)}`;
  if (s.asgValidation && c.asgCheck && c.group && !f.stableGroups.has(c.group))
    return `group ${c.group} is not stable (desired != healthy InService)`;
  const soft = c.kind === 'unready' || c.kind === 'unknown' || c.kind === 'condition';
  if (s.softReap && soft && (f.readyPods.get(c.name) ?? 0) > 0)
    return `soft reap: ${f.readyPods.get(c.name)} pod(s) on it still Ready`;
  return undefined;
}

/**
 * Which candidates go now. Resuming ones always continue (their kill is already counted). New ones only
 * while the cluster breaker is closed, within --max-kill-nodes per window, after the throttle of the
 * last kill, and when nothing blocks them (their group's breaker, lock, stability, soft reap).
 */
export function decide(
  candidates: readonly Candidate[],
  nodes: ReadonlyMap<string, V1Node>,
  s: NodeReaperSettings,
  facts: CandidateFacts,
  memory: ReaperMemory,
  br: BreakerState,
  now: number,
): Decision {
  const out: Decision = { reap: [], skipped: [] };
  let budget = Math.max(0, s.maxKillNodes - killsInWindow(memory, s, now));
  let throttledUntil = nextKillAt(memory, s);
  for (const c of candidates) {
    const skip = (why: string) => out.skipped.push({ candidate: c, why });
    if (c.resuming) {
      out.reap.push(c);
      continue;
    }
    if (br.cluster.open) {
      skip(
        `circuit breaker open: ${br.cluster.unhealthy}/${br.cluster.total} nodes unhealthy (> ${s.breakerThresholdPercent}%)`,
      );
      continue;
    }
    if (unreapableRecently(c, nodes.get(c.name), s, now)) {
      skip(`marked ${UNREAPABLE_ANNOTATION} less than ${formatMinutes(s.reconsiderUnreapableAfterMs)} ago`);
      continue;
    }
    const why = blocker(c, s, facts, br);
    if (why) skip(why);
    else if (budget <= 0) skip(`--max-kill-nodes ${s.maxKillNodes} reached in the current window`);
    else if (now < throttledUntil) skip(`throttled until ${new Date(throttledUntil).toISOString()}`);
    else {
      out.reap.push(c);
      budget--;
      throttledUntil = now + (c.kind === 'old' ? s.reapOldThrottleMs : s.reapThrottleMs);
    }
  }
  return out;
}

/** Upstream's metric reason for a reaped node. */
export function reapReason(c: Candidate, drainFailed = false): ReapReason {
  if (drainFailed) return 'DrainFailedAgeExpiredNode';
  return c.kind === 'old' ? 'TerminateAgeExpiredNode' : 'TerminateUnhealthyNode';
}

/** Unjoined instances: running, tagged, older than the threshold, and in no node's providerID. */
export function unjoinedInstances(
  instances: ReadonlyArray<{ id: string; launchTime?: Date; state: string }>,
  knownInstanceIds: ReadonlySet<string>,
  s: NodeReaperSettings,
  now: number,
): string[] {
  return instances
    .filter((i) => i.state === 'running' && !knownInstanceIds.has(i.id))
    .filter((i) => i.launchTime && now - i.launchTime.getTime() >= s.unjoinedThresholdMs)
    .map((i) => i.id)
    .sort();
}

/**
 * Ready transitions of a node within the window, from its Events (reason NodeReady / NodeNotReady): an
 * Event wholly inside the window counts `count` times, one that began before it counts once (at least
 * its last occurrence was inside) — a lower bound, never more than happened.
 */
export function flapTransitions(
  events: ReadonlyArray<{
    reason?: string;
    count?: number;
    firstTimestamp?: Date | string;
    lastTimestamp?: Date | string;
    eventTime?: Date | string;
  }>,
  windowMs: number,
  now: number,
): number {
  let n = 0;
  for (const e of events) {
    if (e.reason !== 'NodeReady' && e.reason !== 'NodeNotReady') continue;
    const last = new Date(e.lastTimestamp ?? e.eventTime ?? 0).getTime();
    if (!(now - last < windowMs)) continue;
    const first = new Date(e.firstTimestamp ?? e.lastTimestamp ?? e.eventTime ?? 0).getTime();
    n += now - first < windowMs ? Math.max(1, e.count ?? 1) : 1;
  }
  return n;
}
