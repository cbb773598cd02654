// Names shared by the controller, its workflows, its RBAC and its tests.

export const GROUP = 'activemonitor.keikoproj.io';

/** Removed once the check's RBAC is cleaned up. */
export const FINALIZER = 'activemonitor.keikoproj.io/cleanup';

/** `"true"` pauses a check: nothing new is submitted; a run in flight is still recorded. */
export const PAUSED_ANNOTATION = 'activemonitor.keikoproj.io/paused';

/** Upstream's default Argo controller instanceID for health-check workflows. */
export const DEFAULT_INSTANCE_ID = 'activemonitor-workflows';

/** Labels on every Workflow submitted: which check, which of its workflows. */
export const WorkflowLabels = {
  healthCheck: 'activemonitor.keikoproj.io/healthcheck',
  healthCheckNamespace: 'activemonitor.keikoproj.io/healthcheck-namespace',
  /** healthCheck | remedy (upstream's metric label values). */
  workflow: 'activemonitor.keikoproj.io/workflow',
} as const;

/** The slot a Workflow runs for (ISO time); with the name derived from it, one run per slot. */
export const SLOT_ANNOTATION = 'activemonitor.keikoproj.io/slot';

/** Upstream's label on the RBAC it creates. */
export const RBAC_MANAGED_BY = { 'workflows.argoproj.io/managed-by': 'active-monitor' } as const;

export type RunKind = 'healthCheck' | 'remedy';
