// Cluster-wide defaults and boundaries for InstanceGroups, from a ConfigMap the platform team owns
// (instance-manager/instance-manager by default), as the original instance-manager has them:
//
//   data:
//     defaults: |              # a partial InstanceGroup
//       spec:
//         eks:
//           configuration:
//             clusterName: prod-1
//             tags: [{key: team-billing, value: platform}]
//     boundaries: |
//       restricted:            # forced to the default; a tenant's own value is replaced
//         - spec.eks.configuration.clusterName
//       shared:
//         replace:             # the tenant's value if set, else the default
//           - spec.eks.configuration.image
//         merge:               # lists/maps combined; the default wins on a clash
//           - spec.eks.configuration.tags
//         mergeOverride:       # combined; the tenant wins on a clash
//           - spec.eks.configuration.labels
//
// Only the listed paths are touched. Namespaces annotated instancemgr.keikoproj.io/config-excluded=true
// are left alone. Pure.
import { loadYaml } from '@kubernetes/client-node';
import { md5 } from '../names';

export interface Boundaries {
  restricted: string[];
  shared: { replace: string[]; merge: string[]; mergeOverride: string[] };
}

export interface ManagedConfig {
  defaults: Record<string, unknown>;
  boundaries: Boundaries;
  /** Hash of the ConfigMap's data: status.configMD5 of the groups it was applied to. */
  hash: string;
}

export class ManagedConfigError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ManagedConfigError';
  }
}

/** Lists of objects merged by a key field rather than by whole-item equality. */
const MERGE_KEYS: Record<string, string> = {
  tags: 'key',
  volumes: 'name',
  lifecycleHooks: 'name',
  taints: 'key',
};

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function stringList(v: unknown, what: string): string[] {
  if (v === undefined || v === null) return [];
  if (Array.isArray(v) && v.every((x) => typeof x === 'string')) return v;
  throw new ManagedConfigError(`${what} must be a list of field paths`);
}

/** Parses the ConfigMap's data; undefined when there is no ConfigMap (no managed configuration). */
export function parseManagedConfig(data: Record<string, string> | undefined): ManagedConfig | undefined {
  if (!data) return undefined;
  let defaults: unknown = {};
  let boundaries: unknown = {};
  try {
    defaults = data.defaults ? loadYaml<unknown>(data.defaults) : {};
  } catch (err) {
    throw new ManagedConfigError(
      `data.defaults is not valid YAML: ${err instanceof Error ? err.message.split('\n')[0] : String(err)}`,
    );
  }
  try {
    boundaries = data.boundaries ? loadYaml<unknown>(data.boundaries) : {};
  } catch (err) {
    throw new ManagedConfigError(
      `data.boundaries is not valid YAML: ${err instanceof Error ? err.message.split('\n')[0] : String(err)}`,
    );
  }
  if (defaults === null || defaults === undefined) defaults = {};
  if (boundaries === null || boundaries === undefined) boundaries = {};
  if (!isObject(defaults))
    throw new ManagedConfigError('data.defaults must be a mapping (a partial InstanceGroup)');
  if (!isObject(boundaries)) throw new ManagedConfigError('data.boundaries must be a mapping');
  const shared = boundaries.shared ?? {};
  if (!isObject(shared)) throw new ManagedConfigError('data.boundaries.shared must be a mapping');
  const keys = Object.keys(data).sort();
  return {
    defaults,
    boundaries: {
      restricted: stringList(boundaries.restricted, 'data.boundaries.restricted'),
      shared: {
        replace: stringList(shared.replace, 'data.boundaries.shared.replace'),
        merge: stringList(shared.merge, 'data.boundaries.shared.merge'),
        mergeOverride: stringList(shared.mergeOverride, 'data.boundaries.shared.mergeOverride'),
      },
    },
    hash: md5(keys.map((k) => `${k}\n${data[k] ?? ''}`).join('\n')),
  };
}

function getPath(obj: unknown, path: string[]): unknown {
  let cur: unknown = obj;
  for (const seg of path) {
    if (!isObject(cur)) return undefined;
    cur = cur[seg];
  }
  return cur;
}

function setPath(obj: Record<string, unknown>, path: string[], value: unknown): void {
  let cur = obj;
  for (const seg of path.slice(0, -1)) {
    const next = cur[seg];
    if (!isObject(next)) cur[seg] = {};
    cur = cur[seg] as Record<string, unknown>;
  }
  const last = path[path.length - 1];
  if (last !== undefined) cur[last] = value;
}

const splitPath = (p: string) => p.split('.').filter(Boolean);

/** Combines a default and a tenant value; `tenantWins` decides clashes. */
export function mergeValues(
  defaultValue: unknown,
  tenantValue: unknown,
  lastSegment: string,
  tenantWins: boolean,
): unknown {
  if (Array.isArray(defaultValue) && Array.isArray(tenantValue)) {
    const key = MERGE_KEYS[lastSegment];
    if (key) {
      const keyOf = (item: unknown) => (isObject(item) ? String(item[key] ?? '') : JSON.stringify(item));
      const out: unknown[] = [];
      const seen = new Map<string, number>();
      for (const item of tenantValue) {
        seen.set(keyOf(item), out.length);
        out.push(item);
      }
      for (const item of defaultValue) {
        const i = seen.get(keyOf(item));
        if (i === undefined) out.push(item);
        else if (!tenantWins) out[i] = item;
      }
      return out;
    }
    const out = [...tenantValue];
    for (const item of defaultValue)
      if (!out.some((x) => JSON.stringify(x) === JSON.stringify(item))) out.push(item);
    return out;
  }
  if (isObject(defaultValue) && isObject(tenantValue)) {
    return tenantWins ? { ...defaultValue, ...tenantValue } : { ...tenantValue, ...defaultValue };
  }
  return tenantWins ? tenantValue : defaultValue;
}

export interface AppliedConfig<T> {
  object: T;
  /** Restricted paths where the tenant had set a different value (replaced by the default). */
  overridden: string[];
}

/** Applies defaults and boundaries to a copy of `object` (an InstanceGroup). */
export function applyManagedConfig<T>(object: T, config: ManagedConfig): AppliedConfig<T> {
  const out = structuredClone(object) as T & Record<string, unknown>;
  const overridden: string[] = [];
  const { shared, restricted } = config.boundaries;
  const sharedOp = (paths: string[], combine: (d: unknown, t: unknown, last: string) => unknown) => {
    for (const p of paths) {
      const path = splitPath(p);
      const d = getPath(config.defaults, path);
      if (d === undefined) continue;
      const t = getPath(out, path);
      setPath(out, path, structuredClone(t === undefined ? d : combine(d, t, path[path.length - 1] ?? '')));
    }
  };
  sharedOp(shared.replace, (_d, t) => t);
  sharedOp(shared.merge, (d, t, last) => mergeValues(d, t, last, false));
  sharedOp(shared.mergeOverride, (d, t, last) => mergeValues(d, t, last, true));
  for (const p of restricted) {
    const path = splitPath(p);
    const d = getPath(config.defaults, path);
    if (d === undefined) continue;
    const t = getPath(out, path);
    if (t !== undefined && JSON.stringify(t) !== JSON.stringify(d)) overridden.push(p);
    setPath(out, path, structuredClone(d));
  }
  return { object: out, overridden };
}
