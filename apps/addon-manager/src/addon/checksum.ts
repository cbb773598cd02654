// The spec checksum: names an addon's workflows and tells a changed spec from an unchanged one.
import type { AddonSpec, LifecycleStep } from '@keiko/api';

/** JSON with object keys sorted at every level and undefined dropped: equal specs, equal text. */
export function canonicalJson(value: unknown): string {
  if (value === null || typeof value !== 'object') return JSON.stringify(value) ?? 'null';
  if (Array.isArray(value))
    return `[${value.map((v) => (v === undefined ? 'null' : canonicalJson(v))).join(',')}]`;
  const entries = Object.entries(value as Record<string, unknown>)
    .filter(([, v]) => v !== undefined)
    .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
  return `{${entries.map(([k, v]) => `${JSON.stringify(k)}:${canonicalJson(v)}`).join(',')}}`;
}

/** Adler-32, the original's checksum algorithm (hash/adler32). */
export function adler32(text: string): number {
  const MOD = 65_521;
  let a = 1;
  let b = 0;
  for (const byte of new TextEncoder().encode(text)) {
    a = (a + byte) % MOD;
    b = (b + a) % MOD;
  }
  return ((b << 16) | a) >>> 0;
}

/**
 * The checksum of a normalized spec (normalizeAddon: defaults applied, the talk's top-level fields
 * folded in), 8 hex digits. The original hashed Go's `%+v` rendering; Keiko hashes canonical JSON,
 * so key order and formatting never change it.
 */
export function addonChecksum(spec: AddonSpec): string {
  return adler32(canonicalJson(spec)).toString(16).padStart(8, '0');
}

/**
 * The workflow of one lifecycle step for one spec: `<addon>[-<namePrefix>]-<step>-<checksum>-wf`, as
 * the original named them. With the 31-character limit on addon names it stays a valid label value.
 */
export function workflowName(
  addonName: string,
  step: LifecycleStep,
  checksum: string,
  namePrefix?: string,
): string {
  const prefix = namePrefix ? `${addonName}-${namePrefix}` : addonName;
  return `${prefix}-${step}-${checksum}-wf`;
}
