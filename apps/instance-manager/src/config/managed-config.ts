// Applying the cluster-wide defaults and boundaries of the managed ConfigMap to InstanceGroups. The
// ConfigMap's schema and its parser live in packages/api (managed-config.ts), shared with the chart tests.
// Only the listed paths are touched. Namespaces annotated instancemgr.keikoproj.io/config-excluded=true
// are left alone. Pure.
import { ManagedConfigError, parseManagedConfig, type Boundaries, type ManagedConfig } from '@keiko/api';

export { ManagedConfigError, parseManagedConfig, type Boundaries, type ManagedConfig };

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
