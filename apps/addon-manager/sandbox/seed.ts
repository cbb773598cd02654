// Sandbox seed for the addon-manager. The sandbox's test cluster runs Argo's real workflow-controller
// (packages/testenv, with its CRDs); this grants the ServiceAccount the examples' workflows name
// (addon-manager-workflow-installer-sa, what the chart's workflowServiceAccount creates) in the
// examples' namespace. The grant is cluster-admin: a local throwaway cluster whose example add-ons
// create namespaces and cluster RBAC; the chart's default is far narrower.
import { applyManifests, grantWorkflowServiceAccount, kubeConfigFromEnv, requireArgo } from '@keiko/testenv';
import type * as k8s from '@kubernetes/client-node';

const NAMESPACE = 'addon-manager-system';
const WORKFLOW_SA = 'addon-manager-workflow-installer-sa';

export async function seed(log: (line: string) => void): Promise<void> {
  requireArgo();
  const kc = kubeConfigFromEnv();
  await applyManifests(kc, [
    { apiVersion: 'v1', kind: 'Namespace', metadata: { name: NAMESPACE } } as k8s.KubernetesObject,
  ]);
  await grantWorkflowServiceAccount(kc, NAMESPACE, {
    serviceAccount: WORKFLOW_SA,
    clusterRole: 'cluster-admin',
  });
  log(
    `Argo's workflow-controller runs the add-ons' workflows; ${NAMESPACE}/${WORKFLOW_SA} may do what the examples' workflows do`,
  );
}
