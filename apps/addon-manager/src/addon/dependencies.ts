// pkgDeps: which Addons satisfy a dependency, whether they have all Succeeded, and dependency cycles.
// Every dependency is checked and reported (the original stopped at the first).
import { metadataTimestamp, normalizeAddon, type Addon, type FieldProblem } from '@keiko/api';

/** What dependency resolution needs to know of an Addon. */
export interface AddonNode {
  /** namespace/name */
  key: string;
  namespace: string;
  name: string;
  pkgName: string;
  pkgVersion: string;
  deps: Record<string, string>;
  /** status.lifecycle.installed, '' when none yet */
  phase: string;
  deleting: boolean;
}

export function addonNode(addon: Addon): AddonNode {
  const spec = normalizeAddon(addon).spec;
  const namespace = addon.metadata.namespace ?? '';
  const name = addon.metadata.name ?? '';
  return {
    key: `${namespace}/${name}`,
    namespace,
    name,
    pkgName: spec.pkgName,
    pkgVersion: spec.pkgVersion,
    deps: spec.pkgDeps ?? {},
    phase: addon.status?.lifecycle?.installed ?? '',
    deleting: !!metadataTimestamp(addon, 'deletionTimestamp'),
  };
}

/**
 * The Addons a dependency `dep: version` of `from` names: those whose pkgName is `dep` (the original's
 * meaning: a package name, cluster-wide), or, when there is none, the Addon named `dep` in `from`'s
 * namespace. `version` '*' takes any version; otherwise pkgVersion must equal it.
 */
export function dependencyCandidates(from: AddonNode, dep: string, all: readonly AddonNode[]): AddonNode[] {
  const others = all.filter((n) => n.key !== from.key);
  const byPackage = others.filter((n) => n.pkgName === dep);
  if (byPackage.length > 0) return byPackage;
  return others.filter((n) => n.name === dep && n.namespace === from.namespace);
}

const versionMatches = (wanted: string, node: AddonNode) =>
  wanted.trim() === '*' || wanted.trim() === node.pkgVersion;

export interface DependencyWait {
  dep: string;
  version: string;
  /** The matching Addons and their phases. */
  addons: { key: string; phase: string }[];
}

export interface DependencyCheck {
  /** Missing dependencies, version mismatches, self-dependencies, cycles: the spec cannot work. */
  problems: FieldProblem[];
  /** Dependencies that exist but have not Succeeded yet. */
  waiting: DependencyWait[];
  /** Dependencies satisfied, with the Addon that satisfies each. */
  satisfied: { dep: string; key: string }[];
}

/** Checks every dependency of `addon` against `all` Addons (the addon itself may be among them). */
export function checkDependencies(addon: AddonNode, all: readonly AddonNode[]): DependencyCheck {
  const check: DependencyCheck = { problems: [], waiting: [], satisfied: [] };
  for (const [rawDep, rawVersion] of Object.entries(addon.deps).sort(([a], [b]) =>
    a < b ? -1 : a > b ? 1 : 0,
  )) {
    const dep = rawDep.trim();
    const version = rawVersion.trim();
    const field = `spec.pkgDeps.${dep}`;
    const candidates = dependencyCandidates(addon, dep, all);
    if (dep === addon.pkgName || (candidates.length === 0 && dep === addon.name)) {
      check.problems.push({
        field,
        message: `an addon cannot depend on itself (${addon.key}, package ${addon.pkgName})`,
      });
      continue;
    }
    if (candidates.length === 0) {
      check.problems.push({
        field,
        message: `no Addon with pkgName ${dep}, and no Addon named ${dep} in namespace ${addon.namespace}`,
      });
      continue;
    }
    const matching = candidates.filter((c) => versionMatches(version, c));
    if (matching.length === 0) {
      check.problems.push({
        field,
        message: `requires version ${version}; found ${candidates.map((c) => `${c.key} at ${c.pkgVersion}`).join(', ')}`,
      });
      continue;
    }
    const ready = matching.find((c) => c.phase === 'Succeeded' && !c.deleting);
    if (ready) check.satisfied.push({ dep, key: ready.key });
    else
      check.waiting.push({
        dep,
        version,
        addons: matching.map((c) => ({ key: c.key, phase: c.deleting ? 'Deleting' : c.phase || 'Pending' })),
      });
  }
  const cycle = findCycle(addon, all);
  if (cycle)
    check.problems.push({ field: 'spec.pkgDeps', message: `dependency cycle: ${cycle.join(' -> ')}` });
  return check;
}

/**
 * A dependency cycle through `start` (`a -> b -> a`, by namespace/name), or undefined. Only cycles
 * that come back to `start` count: an addon that merely depends on a cycle is waiting, not invalid.
 */
export function findCycle(start: AddonNode, all: readonly AddonNode[]): string[] | undefined {
  const edges = (n: AddonNode) =>
    Object.entries(n.deps).flatMap(([dep, version]) =>
      dependencyCandidates(n, dep.trim(), all).filter((c) => versionMatches(version, c)),
    );
  const path: AddonNode[] = [start];
  const done = new Set<string>();
  const visit = (n: AddonNode): string[] | undefined => {
    for (const next of edges(n)) {
      if (next.key === start.key) return [...path.map((p) => p.key), start.key];
      if (done.has(next.key) || path.some((p) => p.key === next.key)) continue;
      path.push(next);
      const found = visit(next);
      if (found) return found;
      path.pop();
      done.add(next.key);
    }
    return undefined;
  };
  return visit(start);
}

/** Addons whose dependencies name `changed` (by package or by name): to be reconciled when it changes. */
export function dependents(changed: AddonNode, all: readonly AddonNode[]): AddonNode[] {
  return all.filter(
    (n) =>
      n.key !== changed.key &&
      Object.keys(n.deps).some((d) => {
        const dep = d.trim();
        return dep === changed.pkgName || (dep === changed.name && n.namespace === changed.namespace);
      }),
  );
}

/** "core-dns (Pending), metrics (Failed)" */
export function describeWaits(waits: readonly DependencyWait[]): string {
  return waits
    .map((w) => {
      const phases = w.addons.map((a) => a.phase);
      const label = w.addons.length === 1 ? w.addons[0]!.key : w.dep;
      return `${label} (${[...new Set(phases)].join('/')})`;
    })
    .join(', ');
}
