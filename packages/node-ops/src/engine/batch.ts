// The engine's batch selection: which nodes a tool takes next, within its disruption budget. Pure.
// Tools differ in which nodes are candidates (drifted, unhealthy, interrupted...) and in their order;
// the budget arithmetic is the same for all of them.

/** Drains of one node per operation: the first, and one retry after every other node. */
export const MAX_DRAIN_ATTEMPTS = 2;

export interface Candidate {
  /** The instance id (stable across restarts; a node name may be absent). */
  id: string;
  zone: string;
  /** Already unavailable (no node, node NotReady, cordoned by someone else): taking it costs no budget. */
  unavailable: boolean;
  /** Failed drains so far: candidates with fewer go first; a node that failed is retried last. */
  failedDrains: number;
  /** Epoch ms the instance launched: oldestFirst. */
  launchedAt?: number;
  /** Lower goes first: priority (e.g. a tool's own ranking); ties in random order. */
  priority?: number;
}

/**
 * - random: a deterministic shuffle, seeded, so every pass and every restart picks the same batch;
 * - uniformAcrossAz: round robin over the zones, starting with the zone that has the most left (then
 *   by name), each zone shuffled — a batch takes from as many zones as it can and zones finish together;
 * - oldestFirst: by launch time (unknown last), ties shuffled;
 * - priority: by the candidate's priority (unset last), ties shuffled.
 */
export type CandidateOrder = 'random' | 'uniformAcrossAz' | 'oldestFirst' | 'priority';

export interface BatchInput {
  candidates: readonly Candidate[];
  order: CandidateOrder;
  /** Makes random orders reproducible: the owning resource's uid. */
  seed: string;
  /** At most this many candidates in the batch, available or not. */
  maxBatch: number;
  /**
   * How many AVAILABLE nodes the batch may take: the budget (e.g. maxUnavailable) minus the nodes of
   * the group already unavailable for other reasons (NotReady, cordoned by someone else, missing).
   */
  budget: number;
}

/** FNV-1a, 32 bits: a stable pseudo-random rank. */
function rank(seed: string, id: string): number {
  let h = 0x811c9dc5;
  const s = `${seed}/${id}`;
  for (let i = 0; i < s.length; i++) {
    h ^= s.charCodeAt(i);
    h = Math.imul(h, 0x01000193) >>> 0;
  }
  return h;
}

function shuffled<T extends { id: string }>(items: readonly T[], seed: string): T[] {
  return [...items].sort((a, b) => rank(seed, a.id) - rank(seed, b.id) || a.id.localeCompare(b.id));
}

function acrossZones<T extends { id: string; zone: string }>(candidates: readonly T[], seed: string): T[] {
  const byZone = new Map<string, T[]>();
  for (const c of candidates) byZone.set(c.zone, [...(byZone.get(c.zone) ?? []), c]);
  const zones = [...byZone.entries()]
    .map(([zone, items]) => ({ zone, items: shuffled(items, seed) }))
    .sort((a, b) => b.items.length - a.items.length || a.zone.localeCompare(b.zone));
  const out: T[] = [];
  for (let round = 0; out.length < candidates.length; round++) {
    for (const z of zones) {
      const item = z.items[round];
      if (item) out.push(item);
    }
  }
  return out;
}

function byKey<T extends { id: string }>(
  items: readonly T[],
  seed: string,
  key: (t: T) => number | undefined,
): T[] {
  const k = (t: T) => key(t) ?? Number.POSITIVE_INFINITY;
  const tie = new Map(shuffled(items, seed).map((t, i) => [t.id, i]));
  return [...items].sort((a, b) => k(a) - k(b) || (tie.get(a.id) ?? 0) - (tie.get(b.id) ?? 0));
}

/** The candidates in the order a strategy takes them. */
export function orderCandidates<T extends Omit<Candidate, 'unavailable' | 'failedDrains'>>(
  candidates: readonly T[],
  order: CandidateOrder,
  seed: string,
): T[] {
  switch (order) {
    case 'uniformAcrossAz':
      return acrossZones(candidates, seed);
    case 'oldestFirst':
      return byKey(candidates, seed, (c) => c.launchedAt);
    case 'priority':
      return byKey(candidates, seed, (c) => c.priority);
    case 'random':
      return shuffled(candidates, seed);
  }
}

/**
 * The next batch. Never more than maxBatch candidates and never more available nodes than the budget
 * (a global cap, whatever the order). A candidate that is itself already unavailable costs nothing and
 * goes first (replacing it can only help). Candidates whose drain failed before come after every
 * other, in the same order.
 */
export function selectBatch(input: BatchInput): Candidate[] {
  const tiers = [...new Set(input.candidates.map((c) => c.failedDrains))].sort((a, b) => a - b);
  const ordered: Candidate[] = [];
  for (const tier of tiers) {
    const inTier = orderCandidates(
      input.candidates.filter((c) => c.failedDrains === tier),
      input.order,
      input.seed,
    );
    ordered.push(...inTier.filter((c) => c.unavailable), ...inTier.filter((c) => !c.unavailable));
  }
  const batch: Candidate[] = [];
  let spent = 0;
  for (const c of ordered) {
    if (batch.length >= input.maxBatch) break;
    const cost = c.unavailable ? 0 : 1;
    // Even over budget (others already down), a candidate that is down anyway may go: it costs nothing.
    if (cost > 0 && spent + cost > input.budget) continue;
    batch.push(c);
    spent += cost;
  }
  return batch;
}

/** Every batch an operation would run, in order, assuming each batch's replacements come up healthy (dry runs). */
export function planAllBatches(input: Omit<BatchInput, 'budget'>): Candidate[][] {
  let remaining = [...input.candidates];
  const batches: Candidate[][] = [];
  while (remaining.length > 0) {
    // The rest of the group is assumed healthy: only the candidates already unavailable use budget.
    const batch = selectBatch({
      ...input,
      candidates: remaining,
      budget: input.maxBatch - remaining.filter((c) => c.unavailable).length,
    });
    const next = batch.length > 0 ? batch : remaining.slice(0, 1);
    batches.push(next);
    const taken = new Set(next.map((c) => c.id));
    remaining = remaining.filter((c) => !taken.has(c.id));
  }
  return batches;
}
