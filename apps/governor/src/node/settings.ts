// The node reaper's settings, resolved from flags once (config.ts): plans and controllers read only these.

/** A `--reap-tainted` entry: `key=value:effect`, `key:effect` or `key` (any value, any effect). */
export interface TaintMatcher {
  key: string;
  value?: string;
  effect?: string;
}

/** A `--reap-conditions` entry: node condition `type` at `status` for at least `forMs` (node-problem-detector style). */
export interface ConditionRule {
  type: string;
  status: string;
  forMs: number;
}

export interface NodeReaperSettings {
  dryRun: boolean;
  reapAfterMs: number;
  softReap: boolean;
  reapUnknown: boolean;
  reapUnready: boolean;
  reapGhost: boolean;
  reapFlappy: boolean;
  flapCount: number;
  /** Transitions of Ready count only within this long (upstream counts every NodeReady event until its TTL). */
  flapWindowMs: number;
  reapUnjoined: boolean;
  unjoinedThresholdMs: number;
  unjoinedTag?: { key: string; value: string };
  reapOld: boolean;
  oldThresholdMs: number;
  reapTainted: TaintMatcher[];
  reapConditions: ConditionRule[];
  asgValidation: boolean;
  maxKillNodes: number;
  /** Kills counted against --max-kill-nodes within this long (the controller's window; --once: one run). */
  killWindowMs: number;
  reapThrottleMs: number;
  reapOldThrottleMs: number;
  reconsiderUnreapableAfterMs: number;
  drainTimeoutMs: number;
  ignoreFailure: boolean;
  /** Breaker: no reaping while more than this percentage of nodes (cluster or group) is unhealthy. */
  breakerThresholdPercent: number;
  /** The node governor runs on: never reaped. */
  selfNode?: string;
  /** Only nodes matching this label selector are looked at (all when empty). */
  nodeSelector: string;
}

export const NODE_REAPER_DEFAULTS: NodeReaperSettings = {
  dryRun: false,
  reapAfterMs: 10 * 60_000,
  softReap: true,
  reapUnknown: true,
  reapUnready: true,
  reapGhost: true,
  reapFlappy: true,
  flapCount: 5,
  flapWindowMs: 60 * 60_000,
  reapUnjoined: false,
  unjoinedThresholdMs: 15 * 60_000,
  reapOld: false,
  oldThresholdMs: 43_200 * 60_000,
  reapTainted: [],
  reapConditions: [],
  asgValidation: true,
  maxKillNodes: 1,
  killWindowMs: 10 * 60_000,
  reapThrottleMs: 300_000,
  reapOldThrottleMs: 1_800_000,
  reconsiderUnreapableAfterMs: 45 * 60_000,
  drainTimeoutMs: 600_000,
  ignoreFailure: false,
  breakerThresholdPercent: 20,
  nodeSelector: '',
};

const TAINT_EFFECTS = new Set(['NoSchedule', 'PreferNoSchedule', 'NoExecute']);
const QUALIFIED_NAME = /^([a-z0-9]([-a-z0-9.]*[a-z0-9])?\/)?[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?$/;

/** Parses one `--reap-tainted` entry, or throws naming the flag and what is wrong. */
export function parseTaintMatcher(spec: string): TaintMatcher {
  const bad = (why: string) => new Error(`--reap-tainted: invalid taint "${spec}": ${why}`);
  const [keyValue = '', effect, extra] = spec.trim().split(':');
  if (extra !== undefined) throw bad('expected key=value:effect, key:effect or key');
  const eq = keyValue.indexOf('=');
  const key = eq < 0 ? keyValue : keyValue.slice(0, eq);
  const value = eq < 0 ? undefined : keyValue.slice(eq + 1);
  if (!QUALIFIED_NAME.test(key) || key.length > 317) throw bad(`"${key}" is not a valid taint key`);
  if (value !== undefined && !/^([A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?)?$/.test(value))
    throw bad(`"${value}" is not a valid taint value`);
  if (effect !== undefined && !TAINT_EFFECTS.has(effect))
    throw bad(`effect must be one of NoSchedule, PreferNoSchedule, NoExecute, got "${effect}"`);
  return { key, ...(value !== undefined ? { value } : {}), ...(effect !== undefined ? { effect } : {}) };
}

/** Parses a duration like `5m`, `30s`, `1h`, `1h30m` into milliseconds, or undefined when it is not one. */
export function parseDuration(text: string): number | undefined {
  const re = /(\d+(?:\.\d+)?)(ms|s|m|h)/g;
  const unit: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000 };
  let total = 0;
  let consumed = 0;
  for (const m of text.matchAll(re)) {
    if (m.index !== consumed) return undefined;
    total += Number(m[1]) * (unit[m[2] ?? ''] ?? 0);
    consumed += m[0].length;
  }
  return consumed === text.length && consumed > 0 ? total : undefined;
}

/** Parses one `--reap-conditions` entry `Type=Status:duration` (e.g. `KernelDeadlock=True:5m`). */
export function parseConditionRule(spec: string): ConditionRule {
  const m = /^([A-Za-z][A-Za-z0-9.-]*)=(True|False|Unknown):(.+)$/.exec(spec.trim());
  const forMs = m ? parseDuration(m[3] ?? '') : undefined;
  if (!m || forMs === undefined)
    throw new Error(
      `--reap-conditions: invalid rule "${spec}": expected Type=True|False|Unknown:duration, e.g. KernelDeadlock=True:5m`,
    );
  if (m[1] === 'Ready')
    throw new Error(`--reap-conditions: "${spec}": Ready is governed by --reap-unready/--reap-unknown`);
  return { type: m[1] ?? '', status: m[2] ?? '', forMs };
}
