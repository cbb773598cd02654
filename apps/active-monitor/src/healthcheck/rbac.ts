// The RBAC a check's workflows run with, upstream's way: a ServiceAccount in resource.namespace and, by
// level, Role `<sa>-ns-role` + RoleBinding or ClusterRole `<sa>-cluster-role` + ClusterRoleBinding, all
// labelled workflows.argoproj.io/managed-by=active-monitor. Default rules are read-only (plus what
// Argo's executor needs: workflowtaskresults create/patch); custom rbacRules and cluster level (and
// workflows in another namespace) only in the privileged namespaces. Rendering and policy are pure.
import type { HealthCheck, HealthCheckWorkflow, PolicyRule } from '@keiko/api';
import { RBAC_MANAGED_BY } from './constants';

const READ = ['get', 'list', 'watch'];

/** Read-only on workloads, plus the executor's minimum. What a check needs to look, never to change. */
export const NAMESPACE_RULES: PolicyRule[] = [
  {
    apiGroups: [''],
    resources: [
      'pods',
      'pods/log',
      'services',
      'endpoints',
      'configmaps',
      'events',
      'persistentvolumeclaims',
    ],
    verbs: READ,
  },
  {
    apiGroups: ['apps'],
    resources: ['deployments', 'daemonsets', 'statefulsets', 'replicasets'],
    verbs: READ,
  },
  { apiGroups: ['batch'], resources: ['jobs', 'cronjobs'], verbs: READ },
  { apiGroups: ['argoproj.io'], resources: ['workflowtaskresults'], verbs: ['create', 'patch'] },
];

export const CLUSTER_RULES: PolicyRule[] = [
  ...NAMESPACE_RULES,
  { apiGroups: [''], resources: ['nodes', 'namespaces', 'persistentvolumes'], verbs: READ },
];

export interface RbacPlan {
  namespace: string;
  serviceAccount: string;
  level: 'cluster' | 'namespace';
  roleName: string;
  bindingName: string;
  rules: PolicyRule[];
}

/** The RBAC one of a check's workflows needs, or undefined when it names no service account. */
export function rbacFor(hc: HealthCheck, wf: HealthCheckWorkflow | undefined): RbacPlan | undefined {
  const sa = wf?.resource?.serviceAccount;
  if (!sa || !wf?.resource) return undefined;
  const level = hc.spec.level === 'cluster' ? 'cluster' : 'namespace';
  const roleName = level === 'cluster' ? `${sa}-cluster-role` : `${sa}-ns-role`;
  return {
    namespace: wf.resource.namespace,
    serviceAccount: sa,
    level,
    roleName,
    bindingName: `${roleName}-binding`,
    rules: wf.rbacRules?.length ? wf.rbacRules : level === 'cluster' ? CLUSTER_RULES : NAMESPACE_RULES,
  };
}

/**
 * Why a check may not run as asked, or undefined. Whoever may create a HealthCheck could otherwise mint
 * RBAC through the controller: custom rules, cluster level and workflows in another namespace are
 * allowed only for checks in `privileged` namespaces (`*`: all). An empty list allows cluster level with
 * the read-only defaults everywhere and custom rules nowhere.
 */
export function rbacPolicyProblem(hc: HealthCheck, privileged: string[]): string | undefined {
  const ns = hc.metadata.namespace ?? '';
  const allowed = privileged.includes('*') || privileged.includes(ns);
  for (const [field, wf] of [
    ['spec.workflow', hc.spec.workflow],
    ['spec.remedyworkflow', hc.spec.remedyworkflow],
  ] as const) {
    if (!wf) continue;
    if (!wf.resource) return `${field}.resource is required`;
    const src = wf.resource.source;
    if (!src || (src.inline === undefined && !src.url?.path && !src.file?.path))
      return `${field}.resource.source: one of inline, url.path or file.path is required`;
    if (allowed) continue;
    if (wf.rbacRules?.length)
      return `${field}.rbacRules: custom rules are allowed only in the controller's privileged namespaces (--privileged-namespaces); ${ns} is not one`;
    if (wf.resource.namespace !== ns)
      return `${field}.resource.namespace: workflows in another namespace (${wf.resource.namespace}) are allowed only for checks in the privileged namespaces (--privileged-namespaces)`;
  }
  if (!allowed && hc.spec.level === 'cluster' && privileged.length > 0)
    return `spec.level: cluster is allowed only in the controller's privileged namespaces (--privileged-namespaces: ${privileged.join(',')})`;
  const min = hc.spec.backoffMin;
  const max = hc.spec.backoffMax;
  if (min !== undefined && max !== undefined && min > max)
    return `spec.backoffMin (${min}) must be less than or equal to spec.backoffMax (${max})`;
  return undefined;
}

type Manifest = { apiVersion: string; kind: string; metadata: Record<string, unknown>; [k: string]: unknown };

/** The ServiceAccount, role and binding to apply. */
export function rbacObjects(p: RbacPlan): { serviceAccount: Manifest; role: Manifest; binding: Manifest } {
  const labels = { ...RBAC_MANAGED_BY };
  const cluster = p.level === 'cluster';
  const api = 'rbac.authorization.k8s.io/v1';
  return {
    serviceAccount: {
      apiVersion: 'v1',
      kind: 'ServiceAccount',
      metadata: { name: p.serviceAccount, namespace: p.namespace, labels },
    },
    role: {
      apiVersion: api,
      kind: cluster ? 'ClusterRole' : 'Role',
      metadata: { name: p.roleName, ...(cluster ? {} : { namespace: p.namespace }), labels },
      rules: p.rules,
    },
    binding: {
      apiVersion: api,
      kind: cluster ? 'ClusterRoleBinding' : 'RoleBinding',
      metadata: { name: p.bindingName, ...(cluster ? {} : { namespace: p.namespace }), labels },
      roleRef: {
        apiGroup: 'rbac.authorization.k8s.io',
        kind: cluster ? 'ClusterRole' : 'Role',
        name: p.roleName,
      },
      subjects: [{ kind: 'ServiceAccount', name: p.serviceAccount, namespace: p.namespace }],
    },
  };
}

/** Same RBAC identity (a check shares its SA's role and binding with other checks using that SA). */
export function sameRbac(a: RbacPlan, b: RbacPlan): boolean {
  return a.namespace === b.namespace && a.serviceAccount === b.serviceAccount && a.level === b.level;
}
