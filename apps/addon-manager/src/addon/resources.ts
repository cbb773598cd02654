// status.resources: the workloads an addon owns and whether each is ready. Pure: the controller hands
// in the objects from its caches.
import type { KubernetesObject } from '@kubernetes/client-node';
import type { AddonStatus, LabelSelector } from '@keiko/api';
import { resourcePath, type ResourceType } from '@keiko/kube-runtime';
import { DefaultLabels } from './constants';

export type ObjectStatus = NonNullable<AddonStatus['resources']>[number];

/** A workload object with the type it was read as. */
export interface ObservedObject {
  rt: ResourceType;
  obj: KubernetesObject & { spec?: Record<string, unknown>; status?: Record<string, unknown> };
}

/** metav1.LabelSelector semantics: matchLabels and every matchExpression must hold. */
export function selectorMatches(selector: LabelSelector, labels: Record<string, string>): boolean {
  for (const [k, v] of Object.entries(selector.matchLabels ?? {})) if (labels[k] !== v) return false;
  for (const e of selector.matchExpressions ?? []) {
    const has = Object.prototype.hasOwnProperty.call(labels, e.key);
    const values = e.values ?? [];
    switch (e.operator) {
      case 'In':
        if (!has || !values.includes(labels[e.key] ?? '')) return false;
        break;
      case 'NotIn':
        if (has && values.includes(labels[e.key] ?? '')) return false;
        break;
      case 'Exists':
        if (!has) return false;
        break;
      case 'DoesNotExist':
        if (has) return false;
        break;
    }
  }
  return true;
}

const isEmptySelector = (s: LabelSelector | undefined) =>
  !s || (Object.keys(s.matchLabels ?? {}).length === 0 && (s.matchExpressions ?? []).length === 0);

/**
 * Whether `obj` belongs to the addon: it lives in the addon's install namespace (`params.namespace`)
 * or the Addon's own namespace, and matches `spec.selector` — or, without a selector, carries
 * app.kubernetes.io/part-of=<addon name>, the label every manifest of its workflows gets.
 */
export function belongsToAddon(
  addon: { name: string; namespace: string; installNamespace?: string; selector?: LabelSelector },
  obj: KubernetesObject,
): boolean {
  const ns = obj.metadata?.namespace ?? '';
  if (ns !== addon.namespace && ns !== (addon.installNamespace ?? '')) return false;
  const labels = obj.metadata?.labels ?? {};
  if (!isEmptySelector(addon.selector)) return selectorMatches(addon.selector!, labels);
  return labels[DefaultLabels.partOf] === addon.name;
}

const num = (v: unknown, fallback = 0) => (typeof v === 'number' ? v : fallback);

/** Ready, InProgress or Unknown, by each kind's own rollout rules (kubectl rollout status). */
export function readiness(o: ObservedObject): 'Ready' | 'InProgress' | 'Unknown' {
  const spec = o.obj.spec ?? {};
  const status = o.obj.status ?? {};
  const generation = o.obj.metadata?.generation ?? 0;
  const observed = num(status.observedGeneration, -1);
  switch (o.rt.kind) {
    case 'Deployment': {
      const want = num(spec.replicas, 1);
      if (observed < generation) return 'InProgress';
      return num(status.updatedReplicas) >= want && num(status.availableReplicas) >= want
        ? 'Ready'
        : 'InProgress';
    }
    case 'StatefulSet': {
      const want = num(spec.replicas, 1);
      if (observed < generation) return 'InProgress';
      return num(status.readyReplicas) >= want ? 'Ready' : 'InProgress';
    }
    case 'DaemonSet': {
      if (observed < generation) return 'InProgress';
      const want = num(status.desiredNumberScheduled);
      return num(status.numberReady) >= want && num(status.updatedNumberScheduled) >= want
        ? 'Ready'
        : 'InProgress';
    }
    case 'Job': {
      const conditions = (status.conditions as { type?: string; status?: string }[] | undefined) ?? [];
      if (conditions.some((c) => c.type === 'Complete' && c.status === 'True')) return 'Ready';
      if (conditions.some((c) => c.type === 'Failed' && c.status === 'True')) return 'Unknown';
      return 'InProgress';
    }
    case 'Service': {
      if (spec.type !== 'LoadBalancer') return 'Ready';
      const ingress = ((status.loadBalancer as { ingress?: unknown[] } | undefined)?.ingress ?? []).length;
      return ingress > 0 ? 'Ready' : 'InProgress';
    }
    case 'CronJob':
      return 'Ready';
    default:
      return 'Unknown';
  }
}

/** The status.resources entries, sorted by kind then namespace/name so an unchanged set writes nothing. */
export function objectStatuses(objects: readonly ObservedObject[]): ObjectStatus[] {
  return objects
    .map((o) => ({
      kind: o.rt.kind,
      group: o.rt.group,
      name: o.obj.metadata?.name ?? '',
      link: resourcePath(o.rt, o.obj.metadata?.namespace, o.obj.metadata?.name),
      status: readiness(o),
    }))
    .sort((a, b) => a.kind.localeCompare(b.kind) || a.link.localeCompare(b.link));
}
