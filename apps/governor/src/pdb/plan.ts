// The PDB reaper's decisions, pure: which PodDisruptionBudgets block every eviction and why
// (misconfigured, crashlooping or long-not-ready pods, overlapping budgets), and which saved budgets
// may be restored because their cause cleared.
import type { V1Pod, V1PodDisruptionBudget } from '@kubernetes/client-node';

export type PdbReason = 'Misconfigured' | 'Crashloop' | 'NotReady' | 'Multiple';

export interface PdbReaperSettings {
  dryRun: boolean;
  /** Keiko: report only unless --reap (upstream always deleted). */
  reap: boolean;
  reapMisconfigured: boolean;
  reapMultiple: boolean;
  reapCrashloop: boolean;
  allCrashloop: boolean;
  crashloopRestartCount: number;
  reapNotReady: boolean;
  notReadyThresholdMs: number;
  allNotReady: boolean;
  excludedNamespaces: string[];
}

export interface PdbFinding {
  namespace: string;
  name: string;
  reason: PdbReason;
  detail: string;
}

const key = (o: { metadata?: { namespace?: string; name?: string } }) =>
  `${o.metadata?.namespace}/${o.metadata?.name}`;

/** An int or a percentage of `total`, rounded up as the disruption controller does. */
export function resolveIntOrPercent(v: number | string | undefined, total: number): number | undefined {
  if (v === undefined) return undefined;
  if (typeof v === 'number') return v;
  const m = /^(\d+)%$/.exec(v);
  return m ? Math.ceil((Number(m[1]) * total) / 100) : Number(v);
}

export function isBlocking(pdb: V1PodDisruptionBudget): boolean {
  return (pdb.status?.disruptionsAllowed ?? 0) === 0 && (pdb.status?.expectedPods ?? 0) !== 0;
}

/** Pods a budget selects (matchLabels and matchExpressions In/NotIn/Exists/DoesNotExist). */
export function selects(pdb: V1PodDisruptionBudget, pod: V1Pod): boolean {
  if (pod.metadata?.namespace !== pdb.metadata?.namespace) return false;
  const sel = pdb.spec?.selector;
  if (!sel) return false;
  const labels = pod.metadata?.labels ?? {};
  const byLabels = Object.entries(sel.matchLabels ?? {}).every(([k, v]) => labels[k] === v);
  const byExpr = (sel.matchExpressions ?? []).every((e) => {
    const has = e.key in labels;
    const val = labels[e.key] ?? '';
    if (e.operator === 'In') return has && (e.values ?? []).includes(val);
    if (e.operator === 'NotIn') return !has || !(e.values ?? []).includes(val);
    if (e.operator === 'Exists') return has;
    if (e.operator === 'DoesNotExist') return !has;
    return false;
  });
  return (
    byLabels &&
    byExpr &&
    (Object.keys(sel.matchLabels ?? {}).length > 0 || (sel.matchExpressions ?? []).length > 0)
  );
}

export function isCrashlooping(pod: V1Pod, restarts: number): boolean {
  return (pod.status?.containerStatuses ?? []).some(
    (c) => c.state?.waiting?.reason === 'CrashLoopBackOff' && c.restartCount >= restarts,
  );
}

export function notReadyFor(pod: V1Pod, now: number): number {
  const c = pod.status?.conditions?.find((x) => x.type === 'ContainersReady');
  if (!c || c.status !== 'False' || !c.lastTransitionTime) return 0;
  return now - new Date(c.lastTransitionTime).getTime();
}

function misconfigured(pdb: V1PodDisruptionBudget): string | undefined {
  const expected = pdb.status?.expectedPods ?? 0;
  const maxU = resolveIntOrPercent(pdb.spec?.maxUnavailable, expected);
  if (maxU === 0) return 'maxUnavailable allows no pod to go';
  const minA = resolveIntOrPercent(pdb.spec?.minAvailable, expected);
  if (minA !== undefined && minA >= expected)
    return `minAvailable ${String(pdb.spec?.minAvailable)} equals the ${expected} expected pods`;
  return undefined;
}

function podsCause(
  pdb: V1PodDisruptionBudget,
  pods: readonly V1Pod[],
  s: PdbReaperSettings,
  now: number,
): PdbFinding | undefined {
  const mine = pods.filter((p) => selects(pdb, p));
  if (mine.length === 0) return undefined;
  const id = { namespace: pdb.metadata?.namespace ?? '', name: pdb.metadata?.name ?? '' };
  const crashing = mine.filter((p) => isCrashlooping(p, s.crashloopRestartCount));
  if (s.reapCrashloop && crashing.length > 0 && (!s.allCrashloop || crashing.length === mine.length))
    return {
      ...id,
      reason: 'Crashloop',
      detail: `${crashing.length}/${mine.length} selected pods crashlooping`,
    };
  const stuck = mine.filter((p) => notReadyFor(p, now) >= s.notReadyThresholdMs);
  if (s.reapNotReady && stuck.length > 0 && (!s.allNotReady || stuck.length === mine.length))
    return {
      ...id,
      reason: 'NotReady',
      detail: `${stuck.length}/${mine.length} selected pods not ready for ${Math.round(s.notReadyThresholdMs / 1000)}s or more`,
    };
  return undefined;
}

/** Budgets of one namespace selecting a common pod: every one of them, by key. */
function overlapping(pdbs: readonly V1PodDisruptionBudget[], pods: readonly V1Pod[]): Set<string> {
  const out = new Set<string>();
  for (const pod of pods) {
    const hits = pdbs.filter((b) => selects(b, pod));
    if (hits.length > 1) for (const b of hits) out.add(key(b));
  }
  return out;
}

/** Blocking budgets and why; one finding per budget (the first reason in upstream's order). */
export function findBlockingPdbs(
  pdbs: readonly V1PodDisruptionBudget[],
  pods: readonly V1Pod[],
  s: PdbReaperSettings,
  now: number,
): PdbFinding[] {
  const considered = pdbs.filter((b) => !s.excludedNamespaces.includes(b.metadata?.namespace ?? ''));
  const multi = s.reapMultiple ? overlapping(considered, pods) : new Set<string>();
  const out: PdbFinding[] = [];
  for (const pdb of considered.filter(isBlocking)) {
    const id = { namespace: pdb.metadata?.namespace ?? '', name: pdb.metadata?.name ?? '' };
    const bad = s.reapMisconfigured ? misconfigured(pdb) : undefined;
    if (bad) out.push({ ...id, reason: 'Misconfigured', detail: bad });
    else if (multi.has(key(pdb)))
      out.push({
        ...id,
        reason: 'Multiple',
        detail: 'selects pods another budget of the namespace selects too',
      });
    else {
      const cause = podsCause(pdb, pods, s, now);
      if (cause) out.push(cause);
    }
  }
  return out.sort((a, b) => key({ metadata: a }).localeCompare(key({ metadata: b })));
}

/**
 * A saved budget (deleted for crashlooping or not-ready pods) may come back once no selected pod is
 * crashlooping or long not ready any more, and no budget of that name exists again (its owner re-created
 * it). Budgets deleted as misconfigured or overlapping are not restored: the budget itself was the cause.
 */
export function restorable(
  saved: V1PodDisruptionBudget & { reason?: PdbReason },
  reason: PdbReason,
  existing: ReadonlySet<string>,
  pods: readonly V1Pod[],
  s: PdbReaperSettings,
  now: number,
): boolean {
  if (reason !== 'Crashloop' && reason !== 'NotReady') return false;
  if (existing.has(key(saved))) return false;
  const mine = pods.filter((p) => selects(saved, p));
  return mine.every(
    (p) => !isCrashlooping(p, s.crashloopRestartCount) && notReadyFor(p, now) < s.notReadyThresholdMs,
  );
}
