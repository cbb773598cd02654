// What a node's kubelet registers with, read from the instance's user data — the kubelet stand-in's
// half of the AsgNodeSimulator. Written from the public documentation of each bootstrap, and only from
// it (never from a Keiko provisioner: the point is to judge what the product renders, not to echo it):
//
// - kubelet flags (kubernetes.io/docs/reference/command-line-tools-reference/kubelet): `--node-labels`
//   "labels to add when registering the node: a list of key=value pairs" and `--register-with-taints`
//   "register the node with the given list of taints (comma separated <key>=<value>:<effect>)"; both are
//   map/list flags, so repeated flags add up.
// - Amazon Linux 2, EKS bootstrap.sh: `/etc/eks/bootstrap.sh <cluster> --kubelet-extra-args '<flags>'`.
// - Amazon Linux 2023, nodeadm: a MIME multi-part document whose `application/node.eks.aws` part is a
//   NodeConfig (apiVersion node.eks.aws/v1alpha1) with `spec.kubelet.flags`, a list of kubelet flags; a
//   bare NodeConfig document is read the same way.
// - Windows, Start-EKSBootstrap.ps1 in a <powershell> block: `-KubeletExtraArgs '<flags>'`; the node
//   is a Windows node.
// - Bottlerocket, TOML settings: `[settings.kubernetes.node-labels]` (key = "value") and
//   `[settings.kubernetes.node-taints]` (key = ["value:Effect", ...], or one "value:Effect" string).
import { loadAll } from 'js-yaml';

export type TaintEffect = 'NoSchedule' | 'PreferNoSchedule' | 'NoExecute';

export interface RegisteredTaint {
  key: string;
  value?: string;
  effect: TaintEffect;
}

export interface KubeletRegistration {
  labels: Record<string, string>;
  taints: RegisteredTaint[];
  os: 'linux' | 'windows';
  /** Which bootstrap the user data was read as. */
  bootstrap: 'bootstrap.sh' | 'nodeadm' | 'windows' | 'bottlerocket' | 'none';
}

const EFFECTS = new Set<string>(['NoSchedule', 'PreferNoSchedule', 'NoExecute']);

/**
 * The labels and taints a kubelet started by this user data registers its node with. Throws what the
 * kubelet would exit with when its flags are invalid (a malformed label or taint, a label the kubelet
 * may not set).
 */
export function kubeletRegistration(userData: string): KubeletRegistration {
  const found = readUserData(userData);
  checkKubeletLabels(found.labels);
  return found;
}

function readUserData(userData: string): KubeletRegistration {
  const text = userData.replace(/\r\n/g, '\n');
  const parts = mimeParts(text);
  if (parts) return fromMime(parts);
  if (/<powershell>/i.test(text))
    return { ...fromFlags(powershellKubeletArgs(text)), os: 'windows', bootstrap: 'windows' };
  if (/^\s*\[settings(\.|\])/m.test(text))
    return { ...bottlerocket(text), os: 'linux', bootstrap: 'bottlerocket' };
  const nodeConfig = nodeConfigFlags(text);
  if (nodeConfig) return { ...fromFlags(nodeConfig), os: 'linux', bootstrap: 'nodeadm' };
  const args = bootstrapShKubeletArgs(text);
  if (args.length > 0) return { ...fromFlags(args), os: 'linux', bootstrap: 'bootstrap.sh' };
  return { labels: {}, taints: [], os: 'linux', bootstrap: 'none' };
}

function fromMime(parts: MimePart[]): KubeletRegistration {
  const nodeadm = parts.filter((p) => p.contentType === 'application/node.eks.aws');
  if (nodeadm.length > 0)
    return {
      ...fromFlags(nodeadm.flatMap((p) => nodeConfigFlags(p.body) ?? [])),
      os: 'linux',
      bootstrap: 'nodeadm',
    };
  // A shell part may run bootstrap.sh (Amazon Linux 2 with MIME user data, as EKS managed node groups use).
  const args = parts.flatMap((p) => bootstrapShKubeletArgs(p.body));
  return { ...fromFlags(args), os: 'linux', bootstrap: args.length > 0 ? 'bootstrap.sh' : 'none' };
}

/** Labels and taints from a list of kubelet flags (`--flag=value` or `--flag value`). */
export function fromFlags(flags: string[]): Pick<KubeletRegistration, 'labels' | 'taints'> {
  const labels: Record<string, string> = {};
  const taints: RegisteredTaint[] = [];
  for (let i = 0; i < flags.length; i++) {
    const m = /^--(node-labels|register-with-taints)(?:=(.*))?$/.exec(flags[i] ?? '');
    if (!m) continue;
    const value = m[2] ?? flags[++i] ?? '';
    if (m[1] === 'node-labels') Object.assign(labels, parseLabels(value));
    else taints.push(...parseTaints(value));
  }
  return { labels, taints };
}

/** `k=v,k2=v2` (kubelet's mapStringString flag). */
export function parseLabels(value: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const pair of value.split(',')) {
    if (!pair.trim()) continue;
    const eq = pair.indexOf('=');
    if (eq <= 0) throw new Error(`kubelet: --node-labels: "${pair}" is not key=value`);
    out[pair.slice(0, eq).trim()] = pair.slice(eq + 1).trim();
  }
  return out;
}

/** `key=value:Effect` or `key:Effect`, comma separated (kubelet's --register-with-taints). */
export function parseTaints(value: string): RegisteredTaint[] {
  return value
    .split(',')
    .filter((t) => t.trim())
    .map((spec) => {
      const colon = spec.lastIndexOf(':');
      const effect = spec.slice(colon + 1).trim();
      if (colon < 0 || !EFFECTS.has(effect))
        throw new Error(`kubelet: --register-with-taints: "${spec}" has no valid effect`);
      const [key = '', taintValue] = spec.slice(0, colon).trim().split('=', 2);
      return { key, ...(taintValue ? { value: taintValue } : {}), effect: effect as TaintEffect };
    });
}

/**
 * The kubelet's own rule (`--node-labels` help): labels in the kubernetes.io and k8s.io namespaces must
 * begin with an allowed prefix (kubelet.kubernetes.io, node.kubernetes.io) or be in the allowed set;
 * with any other, the kubelet refuses to start.
 */
const KUBELET_ALLOWED_LABELS = new Set([
  'beta.kubernetes.io/arch',
  'beta.kubernetes.io/instance-type',
  'beta.kubernetes.io/os',
  'failure-domain.beta.kubernetes.io/region',
  'failure-domain.beta.kubernetes.io/zone',
  'kubernetes.io/arch',
  'kubernetes.io/hostname',
  'kubernetes.io/os',
  'node.kubernetes.io/instance-type',
  'topology.kubernetes.io/region',
  'topology.kubernetes.io/zone',
]);

export function checkKubeletLabels(labels: Record<string, string>): void {
  const refused = Object.keys(labels).filter((key) => {
    const prefix = key.includes('/') ? key.slice(0, key.indexOf('/')) : '';
    const restricted = /(^|\.)(kubernetes\.io|k8s\.io)$/.test(prefix);
    const allowed = /(^|\.)(kubelet|node)\.kubernetes\.io$/.test(prefix) || KUBELET_ALLOWED_LABELS.has(key);
    return restricted && !allowed;
  });
  if (refused.length > 0)
    throw new Error(
      `kubelet: unknown 'kubernetes.io' or 'k8s.io' labels specified with --node-labels: ${refused.join(', ')}`,
    );
}

// ---- shell and PowerShell ----

/** Splits a command line as a POSIX shell would (quotes, backslashes, line continuations). */
export function shellWords(line: string): string[] {
  const words: string[] = [];
  let word: string | undefined;
  for (let i = 0; i < line.length; i++) {
    const c = line[i] as string;
    if (c === "'") {
      const end = line.indexOf("'", i + 1);
      word = (word ?? '') + line.slice(i + 1, end < 0 ? undefined : end);
      i = end < 0 ? line.length : end;
    } else if (c === '"') {
      let s = '';
      for (i++; i < line.length && line[i] !== '"'; i++)
        s += line[i] === '\\' && /["\\$`]/.test(line[i + 1] ?? '') ? line[++i] : line[i];
      word = (word ?? '') + s;
    } else if (c === '\\') {
      if (line[i + 1] !== '\n') word = (word ?? '') + (line[i + 1] ?? '');
      i++;
    } else if (/\s/.test(c)) {
      if (word !== undefined) words.push(word);
      word = undefined;
    } else word = (word ?? '') + c;
  }
  if (word !== undefined) words.push(word);
  return words;
}

/** The kubelet flags in every bootstrap.sh call's --kubelet-extra-args. */
function bootstrapShKubeletArgs(script: string): string[] {
  const joined = script.replace(/\\\n/g, ' ');
  const flags: string[] = [];
  for (const line of joined.split('\n')) {
    if (/^\s*#/.test(line) || !/bootstrap\.sh\b/.test(line)) continue;
    const words = shellWords(line);
    for (let i = 0; i < words.length; i++) {
      const m = /^--kubelet-extra-args(?:=(.*))?$/.exec(words[i] ?? '');
      if (m) flags.push(...shellWords(m[1] ?? words[++i] ?? ''));
    }
  }
  return flags;
}

/** The kubelet flags of Start-EKSBootstrap.ps1's -KubeletExtraArgs ('...' with '' for a quote, or "..."). */
function powershellKubeletArgs(script: string): string[] {
  const m = /-KubeletExtraArgs\s+(?:'((?:[^']|'')*)'|"([^"]*)"|(\S+))/i.exec(script);
  if (!m) return [];
  const value = m[1] !== undefined ? m[1].replace(/''/g, "'") : (m[2] ?? m[3] ?? '');
  return shellWords(value);
}

// ---- nodeadm ----

/** spec.kubelet.flags of the NodeConfig documents in a YAML text; undefined when it holds none. */
function nodeConfigFlags(text: string): string[] | undefined {
  if (!/kind:\s*NodeConfig/.test(text)) return undefined;
  const flags: string[] = [];
  for (const doc of loadAll(text) as Array<Record<string, unknown> | null>) {
    if (doc?.kind !== 'NodeConfig' || !String(doc.apiVersion ?? '').startsWith('node.eks.aws/')) continue;
    const spec = doc.spec as { kubelet?: { flags?: unknown } } | undefined;
    const list = spec?.kubelet?.flags;
    if (Array.isArray(list)) flags.push(...list.map(String));
  }
  return flags;
}

// ---- MIME multi-part (RFC 2046) ----

interface MimePart {
  contentType: string;
  body: string;
}

function mimeParts(text: string): MimePart[] | undefined {
  const header = /^content-type:\s*multipart\/[\w-]+(?:;[^\n]*)?;\s*boundary="?([^";\n]+)"?/im.exec(
    text.slice(0, text.indexOf('\n\n') < 0 ? undefined : text.indexOf('\n\n')),
  );
  if (!header) return undefined;
  const boundary = `--${header[1]}`;
  const chunks = text.split(new RegExp(`^${escapeRegExp(boundary)}(?:--)?[ \\t]*$`, 'm')).slice(1);
  return chunks.flatMap((chunk) => {
    const body = chunk.replace(/^\n/, '');
    const split = body.indexOf('\n\n');
    if (split < 0) return [];
    const headers = body.slice(0, split);
    let content = body.slice(split + 2);
    const type = /^content-type:\s*([^;\s]+)/im.exec(headers)?.[1]?.toLowerCase() ?? 'text/plain';
    if (/^content-transfer-encoding:\s*base64/im.test(headers))
      content = Buffer.from(content.replace(/\s/g, ''), 'base64').toString('utf8');
    return [{ contentType: type, body: content }];
  });
}

function escapeRegExp(s: string): string {
  return s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}

// ---- Bottlerocket TOML (the subset its two node tables use) ----

function bottlerocket(text: string): Pick<KubeletRegistration, 'labels' | 'taints'> {
  const labels: Record<string, string> = {};
  const taints: RegisteredTaint[] = [];
  let table = '';
  for (const raw of text.split('\n')) {
    const line = stripComment(raw).trim();
    if (!line) continue;
    const header = /^\[([^\]]+)\]$/.exec(line);
    if (header) {
      table = tomlKeyPath(header[1] ?? '').join('.');
      continue;
    }
    const eq = keyEnd(line);
    if (eq < 0) continue;
    const path = [...tomlKeyPath(table), ...tomlKeyPath(line.slice(0, eq))];
    const [key, owner] = [path.pop() ?? '', path.join('.')];
    // Only the two node tables are read: other settings hold numbers, booleans and tables.
    if (owner === 'settings.kubernetes.node-labels')
      labels[key] = String(tomlValue(line.slice(eq + 1).trim()));
    if (owner === 'settings.kubernetes.node-taints') {
      const value = tomlValue(line.slice(eq + 1).trim());
      for (const v of Array.isArray(value) ? value : [value]) taints.push(...parseTaints(`${key}=${v}`));
    }
  }
  return { labels, taints };
}

/** `a."b.c".d` -> ['a', 'b.c', 'd']. */
function tomlKeyPath(keys: string): string[] {
  const out: string[] = [];
  const re = /\s*(?:"((?:[^"\\]|\\.)*)"|'([^']*)'|([A-Za-z0-9_-]+))\s*(?:\.|$)/gy;
  for (let m = re.exec(keys); m && m[0]; m = re.exec(keys))
    out.push(m[1] !== undefined ? unescapeBasic(m[1]) : (m[2] ?? m[3] ?? ''));
  return out;
}

/** Index of the `=` that ends a key (outside quotes), or -1. */
function keyEnd(line: string): number {
  let quote = '';
  for (let i = 0; i < line.length; i++) {
    const c = line[i];
    if (quote) {
      if (c === quote) quote = '';
    } else if (c === '"' || c === "'") quote = c;
    else if (c === '=') return i;
  }
  return -1;
}

function stripComment(line: string): string {
  let quote = '';
  for (let i = 0; i < line.length; i++) {
    const c = line[i];
    if (quote) {
      if (c === '\\' && quote === '"') i++;
      else if (c === quote) quote = '';
    } else if (c === '"' || c === "'") quote = c;
    else if (c === '#') return line.slice(0, i);
  }
  return line;
}

/** A TOML string or array of strings. */
function tomlValue(v: string): string | string[] {
  if (v.startsWith('[')) {
    const items: string[] = [];
    const re = /"((?:[^"\\]|\\.)*)"|'([^']*)'/g;
    for (const m of v.matchAll(re)) items.push(m[1] !== undefined ? unescapeBasic(m[1]) : (m[2] ?? ''));
    return items;
  }
  const m = /^"((?:[^"\\]|\\.)*)"$|^'([^']*)'$/.exec(v);
  if (!m) throw new Error(`bottlerocket settings: ${v} is not a string`);
  return m[1] !== undefined ? unescapeBasic(m[1]) : (m[2] ?? '');
}

function unescapeBasic(s: string): string {
  return JSON.parse(
    `"${s.replace(/\\U([0-9a-fA-F]{8})/g, (_, h: string) => String.fromCodePoint(parseInt(h, 16)))}"`,
  ) as string;
}
