// Names shared by the controller, its workflows and its tests: labels, the finalizer, API coordinates.
import type { ResourceType } from '@keiko/kube-runtime';

/** The original controller's finalizer, so Addons it created are finalized the same way. */
export const ADDON_FINALIZER = 'delete.addonmgr.keikoproj.io';

/** The API group of Addons; also the value of app.kubernetes.io/managed-by on everything installed. */
export const ADDON_GROUP = 'addonmgr.keikoproj.io';

/** Labels on every Workflow the controller submits: which addon, step and spec it runs for. */
export const WorkflowLabels = {
  addon: 'addonmgr.keikoproj.io/addon',
  step: 'addonmgr.keikoproj.io/step',
  checksum: 'addonmgr.keikoproj.io/checksum',
  /** The Addon's uid: a delete workflow left by an earlier Addon of the same name is not mistaken for ours. */
  addonUid: 'addonmgr.keikoproj.io/addon-uid',
} as const;

/** The default labels added to every manifest a workflow applies (app.kubernetes.io recommended labels). */
export const DefaultLabels = {
  name: 'app.kubernetes.io/name',
  partOf: 'app.kubernetes.io/part-of',
  version: 'app.kubernetes.io/version',
  managedBy: 'app.kubernetes.io/managed-by',
} as const;

/** The annotation kube2iam/kiam read; the original set it from `role` / `workflowRole`. */
export const ROLE_ANNOTATION = 'iam.amazonaws.com/role';

/** Argo Workflows' Workflow kind (shared with active-monitor); the controller checks that its CRD exists before using it. */
export { ArgoWorkflowResource } from '@keiko/kube-runtime';

/** Finished workflows are garbage-collected by Argo after this long (the original's three days). */
export const WORKFLOW_TTL_SECONDS = 259_200;

/** Kinds whose objects make up an addon's `status.resources`. */
export const WorkloadResources = {
  Deployment: { group: 'apps', version: 'v1', plural: 'deployments', kind: 'Deployment', namespaced: true },
  DaemonSet: { group: 'apps', version: 'v1', plural: 'daemonsets', kind: 'DaemonSet', namespaced: true },
  StatefulSet: {
    group: 'apps',
    version: 'v1',
    plural: 'statefulsets',
    kind: 'StatefulSet',
    namespaced: true,
  },
  Service: { group: '', version: 'v1', plural: 'services', kind: 'Service', namespaced: true },
  Job: { group: 'batch', version: 'v1', plural: 'jobs', kind: 'Job', namespaced: true },
  CronJob: { group: 'batch', version: 'v1', plural: 'cronjobs', kind: 'CronJob', namespaced: true },
} as const satisfies Record<string, ResourceType>;
