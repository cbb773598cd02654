// Bottlerocket user data: TOML settings (no shell; Bottlerocket has none). The controller renders
// [settings.kubernetes] (cluster-name, api-server, cluster-certificate, max-pods) and the node-labels and
// node-taints tables; the group's userData stages are TOML fragments placed verbatim around them,
// PreBootstrap before and PostBootstrap after, as the original instance-manager did. Pure.
//
// TOML allows a table once, and keys after a [table] header belong to that table until the next header.
// So a stage may not declare the tables rendered here (or set keys in them by dotted keys), and every
// fragment but the document's first must open with a [table] header — otherwise its keys would land in
// whatever table precedes it (after the rendered settings: the node-labels or node-taints table).
import type { ClusterAccess, KubeletRegistration, NodeTaint, RenderedStage } from './types';

export interface BottlerocketInput extends ClusterAccess {
  labels: Readonly<Record<string, string>>;
  taints: readonly NodeTaint[];
  maxPods?: number;
  pre: readonly RenderedStage[];
  post: readonly RenderedStage[];
}

const KUBERNETES = ['settings', 'kubernetes'];
const LABELS = 'settings.kubernetes.node-labels';
const TAINTS = 'settings.kubernetes.node-taints';
/** The tables this renderer declares. */
export const RENDERED_TABLES = ['settings.kubernetes', LABELS, TAINTS];

/** A TOML basic string. JSON's escapes are TOML's; DEL is the one control character JSON leaves raw. */
export function tomlString(s: string): string {
  return JSON.stringify(s).replace(/\u007f/g, '\\u007F');
}

function comment(s: string): string {
  return s.replace(/\s+/g, ' ').trim();
}

export function renderBottlerocketUserData(input: BottlerocketInput): string {
  const out: string[] = [];
  for (const s of input.pre) out.push(`# stage ${comment(s.name)} (PreBootstrap)`, s.data.trim(), '');
  out.push('[settings.kubernetes]', `cluster-name = ${tomlString(input.clusterName)}`);
  if (input.apiServerEndpoint) out.push(`api-server = ${tomlString(input.apiServerEndpoint)}`);
  if (input.certificateAuthorityData)
    out.push(`cluster-certificate = ${tomlString(input.certificateAuthorityData)}`);
  if (input.maxPods !== undefined && input.maxPods > 0) out.push(`max-pods = ${input.maxPods}`);
  out.push('', `[${LABELS}]`);
  for (const [k, v] of Object.entries(input.labels).sort(([a], [b]) => a.localeCompare(b)))
    out.push(`${tomlString(k)} = ${tomlString(v)}`);
  if (input.taints.length > 0) {
    // One key may carry several taints (different effects): Bottlerocket takes a list for it.
    const byKey = new Map<string, string[]>();
    for (const t of input.taints)
      byKey.set(t.key, [...(byKey.get(t.key) ?? []), `${t.value ?? ''}:${t.effect}`]);
    out.push('', `[${TAINTS}]`);
    for (const [k, values] of [...byKey].sort(([a], [b]) => a.localeCompare(b))) {
      const sorted = [...values].sort();
      out.push(
        `${tomlString(k)} = ${sorted.length === 1 ? tomlString(sorted[0] ?? '') : `[${sorted.map(tomlString).join(', ')}]`}`,
      );
    }
  }
  for (const s of input.post) out.push('', `# stage ${comment(s.name)} (PostBootstrap)`, s.data.trim());
  return `${out.join('\n')}\n`;
}

// --- Reading TOML back, as far as the checks and the node simulator need (line based). -------------

export type TomlLine =
  | { kind: 'table'; path: string[]; array: boolean }
  | { kind: 'key'; table: string[]; key: string[]; value: string }
  /** A line that is none of the above (nor a comment, nor inside a multi-line value): not TOML. */
  | { kind: 'other'; text: string };

/** A dotted key (bare, "basic" or 'literal' parts) at the start of s, and what follows it. */
function parseKeyPath(s: string): { path: string[]; rest: string } | undefined {
  const path: string[] = [];
  let i = 0;
  for (;;) {
    while (s[i] === ' ' || s[i] === '\t') i++;
    const ch = s[i];
    if (ch === '"') {
      const m = /^"((?:[^"\\]|\\.)*)"/.exec(s.slice(i));
      if (!m) return undefined;
      path.push(unescapeBasic(m[1] ?? ''));
      i += m[0].length;
    } else if (ch === "'") {
      const end = s.indexOf("'", i + 1);
      if (end < 0) return undefined;
      path.push(s.slice(i + 1, end));
      i = end + 1;
    } else {
      const m = /^[A-Za-z0-9_-]+/.exec(s.slice(i));
      if (!m) return undefined;
      path.push(m[0]);
      i += m[0].length;
    }
    while (s[i] === ' ' || s[i] === '\t') i++;
    if (s[i] !== '.') return { path, rest: s.slice(i) };
    i++;
  }
}

function unescapeBasic(body: string): string {
  try {
    return JSON.parse(`"${body}"`) as string;
  } catch {
    return body;
  }
}

/** How many arrays or inline tables a value (or a line of one) opens and leaves open. */
function openBrackets(value: string): number {
  let depth = 0;
  for (const ch of value.replace(/"(?:[^"\\]|\\.)*"|'[^']*'/g, '').replace(/#.*$/, '')) {
    if (ch === '[' || ch === '{') depth++;
    else if (ch === ']' || ch === '}') depth--;
  }
  return depth;
}

/** Table headers and key lines, in order (comments, blank lines and multi-line values skipped). */
export function scanToml(text: string): TomlLine[] {
  const out: TomlLine[] = [];
  let table: string[] = [];
  let inMultiline: string | undefined;
  let depth = 0;
  for (const raw of text.split(/\r?\n/)) {
    const line = raw.trim();
    if (inMultiline) {
      if (line.includes(inMultiline)) inMultiline = undefined;
      continue;
    }
    if (depth > 0) {
      depth += openBrackets(line);
      continue;
    }
    if (line === '' || line.startsWith('#')) continue;
    if (line.startsWith('[')) {
      const array = line.startsWith('[[');
      const header = parseKeyPath(line.slice(array ? 2 : 1));
      if (header && /^(\]\]|\])\s*(#.*)?$/.test(header.rest) && header.rest.startsWith(array ? ']]' : ']')) {
        table = header.path;
        out.push({ kind: 'table', path: table, array });
      } else out.push({ kind: 'other', text: line });
      continue;
    }
    const key = parseKeyPath(line);
    if (!key || !key.rest.startsWith('=')) {
      out.push({ kind: 'other', text: line });
      continue;
    }
    const value = key.rest.slice(1).trim();
    for (const q of ['"""', "'''"]) if (value.startsWith(q) && !value.slice(3).includes(q)) inMultiline = q;
    if (!inMultiline) depth = Math.max(0, openBrackets(value));
    out.push({ kind: 'key', table, key: key.path, value });
  }
  return out;
}

/** The strings of a TOML value: one string, or an array of strings (on one line). */
function tomlStrings(value: string): string[] {
  const out: string[] = [];
  for (const m of value.matchAll(/"((?:[^"\\]|\\.)*)"|'([^']*)'/g))
    out.push(m[1] !== undefined ? unescapeBasic(m[1]) : (m[2] ?? ''));
  return out;
}

const startsWith = (path: readonly string[], prefix: readonly string[]) =>
  prefix.every((p, i) => path[i] === p);

/**
 * What is wrong with a stage's data as a fragment of Bottlerocket user data, or undefined. `opensDocument`:
 * the fragment is the first thing in the user data (the first PreBootstrap stage), so keys before its first
 * table header are top-level keys rather than keys of the table before it.
 */
export function bottlerocketStageProblem(data: string, opensDocument: boolean): string | undefined {
  const first =
    data
      .split(/\r?\n/)
      .find((l) => l.trim() !== '')
      ?.trim() ?? '';
  if (first.startsWith('#!'))
    return 'is a script, but Bottlerocket user data is TOML settings (run commands from a bootstrap container, [settings.bootstrap-containers.<name>])';
  const lines = scanToml(data);
  const junk = lines.find((l) => l.kind === 'other');
  if (junk?.kind === 'other')
    return `is not TOML settings ([table] headers and key = value lines): ${JSON.stringify(junk.text.slice(0, 60))}`;
  for (const l of lines) {
    if (l.kind === 'table' && RENDERED_TABLES.includes(l.path.join('.')))
      return `declares [${l.path.join('.')}], which instance-manager renders (cluster, max-pods from bootstrapOptions.maxPods, node labels and taints from labels and taints); TOML allows a table once`;
    if (l.kind === 'key') {
      const full = [...l.table, ...l.key];
      const inSubtable =
        l.table.length > KUBERNETES.length &&
        startsWith(l.table, KUBERNETES) &&
        !RENDERED_TABLES.includes(l.table.join('.'));
      if (startsWith(full, KUBERNETES) && !inSubtable)
        return `sets ${full.join('.')}, in a table instance-manager renders ([settings.kubernetes] and its node-labels and node-taints); set labels, taints and bootstrapOptions.maxPods instead, or use a subtable such as [settings.kubernetes.eviction-hard]`;
    }
  }
  if (!opensDocument && lines[0]?.kind === 'key')
    return `sets ${lines[0].key.join('.')} before any [table] header, so it would belong to the table rendered before this stage; open the stage with a table header such as [settings.kernel]`;
  return undefined;
}

/** Tables declared twice across the user data (TOML refuses the whole document then). */
export function duplicateTables(text: string): string[] {
  const seen = new Set<string>();
  const dup = new Set<string>();
  for (const l of scanToml(text)) {
    if (l.kind !== 'table' || l.array) continue;
    const name = l.path.join('.');
    if (seen.has(name)) dup.add(name);
    seen.add(name);
  }
  return [...dup];
}

/** Whether user data reads as Bottlerocket settings (it declares [settings.kubernetes] or sets keys in it). */
export function isBottlerocketUserData(text: string): boolean {
  return scanToml(text).some((l) =>
    l.kind === 'table'
      ? startsWith(l.path, KUBERNETES)
      : l.kind === 'key' && startsWith([...l.table, ...l.key], KUBERNETES),
  );
}

/** The labels and taints a Bottlerocket node registers with: its node-labels and node-taints settings. */
export function bottlerocketRegistration(text: string): KubeletRegistration {
  const labels: Record<string, string> = {};
  const taints: KubeletRegistration['taints'] = [];
  for (const l of scanToml(text)) {
    if (l.kind !== 'key') continue;
    const full = [...l.table, ...l.key];
    if (full.length !== 4) continue;
    const table = full.slice(0, 3).join('.');
    const key = full[3] ?? '';
    if (table === LABELS) labels[key] = tomlStrings(l.value)[0] ?? '';
    else if (table === TAINTS)
      for (const v of tomlStrings(l.value)) {
        const i = v.lastIndexOf(':');
        if (i < 0) continue;
        const value = v.slice(0, i);
        taints.push({ key, ...(value ? { value } : {}), effect: v.slice(i + 1) });
      }
  }
  return { labels, taints };
}
