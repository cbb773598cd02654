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
//
// The ConfigMap's schema, shared by the controller and the chart that renders it (charts/instance-manager);
// instance-manager applies it (apps/instance-manager/src/config/managed-config.ts).
import { createHash } from 'node:crypto';
import { load } from 'js-yaml';

const md5 = (text: string) => createHash('md5').update(text).digest('hex');

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
    defaults = data.defaults ? load(data.defaults) : {};
  } catch (err) {
    throw new ManagedConfigError(
      `data.defaults is not valid YAML: ${err instanceof Error ? err.message.split('\n')[0] : String(err)}`,
    );
  }
  try {
    boundaries = data.boundaries ? load(data.boundaries) : {};
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
