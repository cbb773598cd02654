// A chart's identity without its Deployment: the ServiceAccount and the RBAC the chart renders,
// applied to the test cluster. An e2e suite runs its controller locally with kubeConfigAs() of the
// returned ServiceAccount, so the controller can do exactly what the chart allows — a missing rule
// fails the scenario, and nothing needs a wildcard.
//
//   const rbac = await installChartRbac('upgrade-manager', { namespace: ns });
//   const mgr = new Manager('upgrade-manager', config, { kubeConfig: kubeConfigAs(rbac.serviceAccount) });
//   ...
//   await rbac.uninstall();
import fs from 'node:fs';
import path from 'node:path';
import type * as k8s from '@kubernetes/client-node';
import { applyManifests, installChartCrds, kubeConfigFromEnv, kubectl, repoRoot } from '@keiko/testenv';
import { preparedChart, renderChart, type RenderOptions } from './charts';
import type { ServiceAccountRef } from './impersonate';

/** A rule of a rendered Role or ClusterRole. */
export interface Rule {
  apiGroups?: string[];
  resources?: string[];
  resourceNames?: string[];
  verbs: string[];
}
export type RoleObject = k8s.KubernetesObject & { rules: Rule[] };
export type Binding = k8s.KubernetesObject & {
  roleRef: { kind: string; name: string };
  subjects: { kind: string; name: string; namespace?: string }[];
};

/** A role's rules one line each, `group resources[names]: verbs` (`core` for the core group), for exact comparison. */
export const ruleLines = (role: RoleObject): string[] =>
  role.rules.map(
    (r) =>
      `${r.apiGroups?.join(',') || 'core'} ${r.resources?.join(',')}${r.resourceNames ? `[${r.resourceNames.join(',')}]` : ''}: ${r.verbs.join(',')}`,
  );

const IDENTITY_KINDS = new Set([
  'ServiceAccount',
  'Role',
  'RoleBinding',
  'ClusterRole',
  'ClusterRoleBinding',
]);

export interface ChartRbac {
  serviceAccount: ServiceAccountRef;
  /** The objects applied: ServiceAccount, ClusterRole(Binding), leader-election Role(Binding). */
  objects: k8s.KubernetesObject[];
  /** The Lease name the chart's Deployment would pass in --leader-election-id (its Role allows only that one). */
  leaseName?: string;
  /** Deletes what was applied (cluster-scoped objects included). */
  uninstall(): Promise<void>;
}

export interface InstallChartRbacOptions extends Omit<RenderOptions, 'namespace'> {
  /** Where the ServiceAccount and the leader-election Role go; must exist. */
  namespace: string;
}

/**
 * Renders charts/<chart> as `helm install <release> -n <namespace>` would, and applies only its
 * ServiceAccount and RBAC. The release name defaults to a unique one, since the ClusterRole and its
 * binding are cluster-scoped and test runs share the cluster.
 */
export async function installChartRbac(chart: string, opts: InstallChartRbacOptions): Promise<ChartRbac> {
  const release = opts.release ?? `${chart.slice(0, 20)}-${Math.random().toString(36).slice(2, 8)}`;
  const rendered = await renderChart(await preparedChart(chart), { ...opts, release });
  const objects = rendered.filter((o) => IDENTITY_KINDS.has(o.kind ?? ''));
  const sa = objects.find((o) => o.kind === 'ServiceAccount');
  if (!sa?.metadata?.name) throw new Error(`installChartRbac: chart ${chart} renders no ServiceAccount`);
  const kc = kubeConfigFromEnv();
  // The chart's own CRDs (as `helm install` puts them first): its roles name their resources.
  if (fs.existsSync(path.join(repoRoot(import.meta.dirname), 'charts', chart, 'crds')))
    await installChartCrds(kc, chart);
  await applyManifests(kc, objects);
  const deployment = rendered.find((o) => o.kind === 'Deployment') as k8s.V1Deployment | undefined;
  const leaseArg = deployment?.spec?.template.spec?.containers[0]?.args?.find((a) =>
    a.startsWith('--leader-election-id='),
  );
  return {
    serviceAccount: { namespace: opts.namespace, name: sa.metadata.name },
    objects,
    leaseName: leaseArg?.split('=')[1],
    uninstall: async () => {
      await kubectl(kc, ['delete', '--ignore-not-found', '--wait=false', '-f', '-'], objects);
    },
  };
}
