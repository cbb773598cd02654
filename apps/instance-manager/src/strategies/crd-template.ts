// The crd strategy's resource: strategy.crd.spec is a YAML template with Go-template fields of the
// InstanceGroup, as the original wrote them ({{ .InstanceGroup.Status.ActiveScalingGroupName }}). Go
// names map to the JSON fields (ObjectMeta -> metadata, EKSSpec -> eks, case-insensitive otherwise).
// Pure.
import { load as loadYaml } from 'js-yaml';
import type { CRDUpgradeStrategy, InstanceGroup } from '@keiko/api';
import type { ResourceType } from '@keiko/kube-runtime';
import { md5 } from '../names';

export const MANAGED_BY_ANNOTATION = 'app.kubernetes.io/managed-by';
export const MANAGED_BY_VALUE = 'instance-manager';
export const SCOPE_ANNOTATION = 'instancemgr.keikoproj.io/upgrade-scope';
export const DEFAULT_UPGRADE_NAMESPACE = 'default';

/** Go field names of the original API whose JSON names differ by more than case. */
const GO_ALIASES: Record<string, string> = {
  objectmeta: 'metadata',
  eksspec: 'eks',
  ekscfspec: 'eks-cf',
  eksmanagedspec: 'eks-managed',
  eksfargatespec: 'eks-fargate',
  eksconfiguration: 'configuration',
  ekscfconfiguration: 'configuration',
  eksmanagedconfiguration: 'configuration',
  awsupgradestrategy: 'strategy',
  crdtype: 'crd',
  rollingupdatetype: 'rollingUpdate',
};
/** Fields Go promotes from the embedded ObjectMeta. */
const PROMOTED_META = new Set(['name', 'namespace', 'labels', 'annotations', 'uid', 'generation']);

export class CrdTemplateError extends Error {
  constructor(message: string) {
    super(`spec.strategy.crd.spec: ${message}`);
    this.name = 'CrdTemplateError';
  }
}

function lookup(root: Record<string, unknown>, path: string): string {
  const segments = path.split('.').filter(Boolean);
  if (segments[0] !== 'InstanceGroup')
    throw new CrdTemplateError(`template field .${path} must start with .InstanceGroup`);
  let cur: unknown = root.InstanceGroup;
  for (let i = 1; i < segments.length; i++) {
    const seg = segments[i] ?? '';
    if (typeof cur !== 'object' || cur === null) return '';
    const obj = cur as Record<string, unknown>;
    const lower = seg.toLowerCase();
    let key = GO_ALIASES[lower] ?? Object.keys(obj).find((k) => k.toLowerCase() === lower);
    if (key === undefined && i === 1 && PROMOTED_META.has(lower)) {
      cur = (obj.metadata as Record<string, unknown> | undefined)?.[lower];
      continue;
    }
    key ??= seg;
    cur = obj[key];
  }
  if (cur === undefined || cur === null) return '';
  return typeof cur === 'object' ? JSON.stringify(cur) : String(cur);
}

/** Substitutes {{ .InstanceGroup.x.y }} fields (with Go's {{- -}} whitespace trimming). */
export function renderGoTemplate(template: string, ig: InstanceGroup): string {
  const root = { InstanceGroup: ig as unknown as Record<string, unknown> };
  return template.replace(
    /(\s*)\{\{(-?)\s*([^}]*?)\s*(-?)\}\}(\s*)/g,
    (_m, before: string, trimLeft: string, expr: string, trimRight: string, after: string) => {
      const e = expr.trim();
      if (!/^\.[A-Za-z0-9_.-]+$/.test(e))
        throw new CrdTemplateError(
          `unsupported template expression {{ ${e} }} (only fields such as {{ .InstanceGroup.Status.ActiveScalingGroupName }})`,
        );
      return `${trimLeft ? '' : before}${lookup(root, e.slice(1))}${trimRight ? '' : after}`;
    },
  );
}

export interface StrategyResource {
  object: Record<string, unknown> & { apiVersion: string; kind: string; metadata: Record<string, unknown> };
  resourceType: ResourceType;
  name: string;
  namespace: string;
}

/**
 * The resource to submit for one upgrade of the group to `launchVersion` (the launch template version it
 * rolls to): the rendered template, named `<name>-<id>` where id is unique per group and version (so a
 * retry after a restart finds the same resource, and two groups sharing a template never collide).
 */
export function renderStrategyResource(
  ig: InstanceGroup,
  strategy: CRDUpgradeStrategy,
  scope: { scalingGroupName: string; launchVersion: string },
): StrategyResource {
  let parsed: unknown;
  try {
    parsed = loadYaml(renderGoTemplate(strategy.spec, ig));
  } catch (err) {
    if (err instanceof CrdTemplateError) throw err;
    throw new CrdTemplateError(
      `not valid YAML after rendering (${err instanceof Error ? err.message.split('\n')[0] : String(err)})`,
    );
  }
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed))
    throw new CrdTemplateError('must render to one object');
  const obj = parsed as Record<string, unknown>;
  if (typeof obj.apiVersion !== 'string' || typeof obj.kind !== 'string')
    throw new CrdTemplateError('the rendered resource needs apiVersion and kind');
  const meta = (
    typeof obj.metadata === 'object' && obj.metadata !== null
      ? { ...(obj.metadata as Record<string, unknown>) }
      : {}
  ) as Record<string, unknown>;
  const base =
    typeof meta.name === 'string' && meta.name
      ? meta.name
      : typeof meta.generateName === 'string'
        ? meta.generateName.replace(/-$/, '')
        : '';
  if (!base) throw new CrdTemplateError('the rendered resource needs metadata.name or metadata.generateName');
  const id =
    `${md5(`${ig.metadata.namespace}/${ig.metadata.name}`).slice(0, 6)}-${scope.launchVersion}`.toLowerCase();
  let name = `${base}-${id}`;
  if (name.length > 63) name = `instancemgr-${id}`;
  delete meta.generateName;
  meta.name = name;
  const namespace =
    typeof meta.namespace === 'string' && meta.namespace ? meta.namespace : DEFAULT_UPGRADE_NAMESPACE;
  meta.namespace = namespace;
  meta.annotations = {
    ...((meta.annotations as Record<string, string> | undefined) ?? {}),
    [MANAGED_BY_ANNOTATION]: MANAGED_BY_VALUE,
    [SCOPE_ANNOTATION]: scope.scalingGroupName,
  };
  const [group, version] = obj.apiVersion.includes('/') ? obj.apiVersion.split('/') : ['', obj.apiVersion];
  return {
    object: { ...obj, apiVersion: obj.apiVersion, kind: obj.kind, metadata: meta },
    resourceType: {
      group: group ?? '',
      version: version ?? '',
      plural: strategy.crdName,
      kind: obj.kind,
      namespaced: true,
    },
    name,
    namespace,
  };
}

/** The string at a JSONPath like `.status.currentStatus` ('' when absent). */
export function valueAtPath(obj: unknown, jsonPath: string): string {
  let cur: unknown = obj;
  for (const seg of jsonPath
    .replace(/^\$?\.?/, '')
    .replace(/^\{|\}$/g, '')
    .split('.')
    .filter(Boolean)) {
    if (typeof cur !== 'object' || cur === null) return '';
    cur = (cur as Record<string, unknown>)[seg];
  }
  return cur === undefined || cur === null ? '' : String(cur);
}

export type StrategyResourceOutcome = 'succeeded' | 'failed' | 'running';

export function strategyResourceOutcome(obj: unknown, strategy: CRDUpgradeStrategy): StrategyResourceOutcome {
  const v = valueAtPath(obj, strategy.statusJSONPath).toLowerCase();
  if (v === strategy.statusSuccessString.toLowerCase()) return 'succeeded';
  if (v === strategy.statusFailureString.toLowerCase()) return 'failed';
  return 'running';
}

/** What to do with a failed resource: resubmit (counting the retry) or give up. */
export function retryDecision(
  retryCount: number,
  maxRetries: number | undefined,
): { retry: boolean; nextCount: number } {
  const max = maxRetries ?? 3;
  if (max === -1) return { retry: true, nextCount: retryCount + 1 };
  return retryCount < max
    ? { retry: true, nextCount: retryCount + 1 }
    : { retry: false, nextCount: retryCount };
}
