// The single pane view as a dependency tree: every addon under the addons it depends on, with its
// package, version, phase and reason. Pure; src/cli.ts prints it.
import { dependencyCandidates, type AddonNode } from './dependencies';

export interface TreeRow {
  /** Tree prefix + namespace/name */
  name: string;
  pkg: string;
  version: string;
  status: string;
  reason: string;
}

export interface AddonInfo extends AddonNode {
  reason?: string;
}

/**
 * Rows of the tree: roots are addons with no dependency present in the cluster (and one row per
 * missing dependency, marked, with what waits for it); each addon's dependents are nested under it.
 * An addon reached a second time is marked "(see above)"; addons only reachable through a cycle are
 * listed at the end, marked.
 */
export function addonTree(addons: readonly AddonInfo[]): TreeRow[] {
  const parents = new Map<string, string[]>(); // key -> keys it depends on (present ones)
  const children = new Map<string, AddonInfo[]>(); // key -> dependents
  const missing = new Map<string, AddonInfo[]>(); // missing dependency -> dependents
  const waitingOnMissing = new Set<string>();
  for (const a of addons) {
    const ps: string[] = [];
    for (const dep of Object.keys(a.deps).map((d) => d.trim())) {
      const found = dependencyCandidates(a, dep, addons);
      if (found.length === 0) {
        missing.set(dep, [...(missing.get(dep) ?? []), a]);
        waitingOnMissing.add(a.key);
        continue;
      }
      for (const f of found) {
        ps.push(f.key);
        children.set(f.key, [...(children.get(f.key) ?? []), a]);
      }
    }
    parents.set(a.key, ps);
  }
  const rows: TreeRow[] = [];
  const printed = new Set<string>();
  const row = (prefix: string, a: AddonInfo, note = ''): TreeRow => ({
    name: `${prefix}${a.key}${note}`,
    pkg: a.pkgName,
    version: a.pkgVersion,
    status:
      a.deleting && !a.phase.startsWith('Delet') ? `${a.phase || 'Pending'} (deleting)` : a.phase || '<none>',
    reason: a.reason ?? '',
  });
  const walk = (a: AddonInfo, indent: string, branch: string, path: Set<string>) => {
    if (path.has(a.key)) {
      rows.push(row(indent + branch, a, ' (cycle)'));
      return;
    }
    if (printed.has(a.key)) {
      rows.push(row(indent + branch, a, ' (see above)'));
      return;
    }
    printed.add(a.key);
    rows.push(row(indent + branch, a));
    const kids = sortNodes(children.get(a.key) ?? []);
    const nextIndent = indent + (branch === '' ? '' : branch === '└── ' ? '    ' : '│   ');
    kids.forEach((k, i) =>
      walk(k, nextIndent, i === kids.length - 1 ? '└── ' : '├── ', new Set([...path, a.key])),
    );
  };
  const roots = sortNodes(
    addons.filter((a) => (parents.get(a.key) ?? []).length === 0 && !waitingOnMissing.has(a.key)),
  );
  for (const r of roots) walk(r, '', '', new Set());
  for (const [dep, waiting] of [...missing].sort(([a], [b]) => a.localeCompare(b))) {
    rows.push({
      name: `${dep} (missing)`,
      pkg: dep,
      version: '',
      status: 'Missing',
      reason: `no Addon with pkgName or name ${dep}`,
    });
    const kids = sortNodes(waiting);
    kids.forEach((k, i) => walk(k, '', i === kids.length - 1 ? '└── ' : '├── ', new Set()));
  }
  for (const a of sortNodes(addons)) if (!printed.has(a.key)) walk(a, '', '', new Set());
  return rows;
}

function sortNodes<T extends AddonNode>(nodes: readonly T[]): T[] {
  return [...nodes].sort((a, b) => a.key.localeCompare(b.key));
}

/** The rows as aligned text, kubectl style, with a header. Reasons longer than `reasonWidth` are cut. */
export function formatTree(rows: readonly TreeRow[], reasonWidth = 100): string {
  const header: TreeRow = {
    name: 'ADDON',
    pkg: 'PACKAGE',
    version: 'VERSION',
    status: 'STATUS',
    reason: 'REASON',
  };
  const all = [header, ...rows];
  const width = (f: keyof TreeRow) => Math.max(...all.map((r) => [...r[f]].length));
  const w = { name: width('name'), pkg: width('pkg'), version: width('version'), status: width('status') };
  const pad = (s: string, n: number) => s + ' '.repeat(Math.max(0, n - [...s].length));
  const cut = (s: string) => (s.length > reasonWidth ? `${s.slice(0, reasonWidth - 3)}...` : s);
  return all
    .map((r) =>
      `${pad(r.name, w.name)}   ${pad(r.pkg, w.pkg)}   ${pad(r.version, w.version)}   ${pad(r.status, w.status)}   ${cut(r.reason)}`.trimEnd(),
    )
    .join('\n');
}
