// HealthCheck (activemonitor.keikoproj.io/v1alpha1): run an Argo workflow on a schedule to probe a
// cluster capability, and a remedy workflow when it fails. Field-compatible with keikoproj/active-monitor.
import { Type } from '@sinclair/typebox';
import type { Static } from '@sinclair/typebox';
import { defineKind, kindInfo } from './crd';
import { Conditions, DateTime, ObjectMetaSchema, StringEnum } from './schema';
import { applyDefaults, validateKind } from './validate';
import type { FieldProblem } from './validate';

export const HEALTHCHECK_LEVELS = ['cluster', 'namespace'] as const;
export type HealthCheckLevel = (typeof HEALTHCHECK_LEVELS)[number];

export const HealthCheckConditionTypes = {
  Healthy: 'Healthy',
  SpecValid: 'SpecValid',
  Remediated: 'Remediated',
} as const;

export const ArtifactLocationSchema = Type.Object(
  {
    inline: Type.Optional(Type.String({ description: 'The workflow, as a YAML document.' })),
    file: Type.Optional(
      Type.Object(
        { path: Type.Optional(Type.String({ description: 'Path of the file.' })) },
        { description: 'A file in the controller filesystem.' },
      ),
    ),
    url: Type.Optional(
      Type.Object(
        {
          path: Type.Optional(Type.String({ description: 'URL of the document.' })),
          verifyCert: Type.Optional(Type.Boolean({ description: 'Verify the server certificate.' })),
        },
        { description: 'A document fetched over HTTP(S).' },
      ),
    ),
  },
  {
    // Upstream's CRD accepts an empty source; the controller reports it (Stopped, naming the field).
    description:
      'Where the workflow document comes from: inline, file (a path in the controller, e.g. a mounted ConfigMap) or url.',
  },
);

export const ResourceObjectSchema = Type.Object(
  {
    namespace: Type.String({ minLength: 1, description: 'Namespace the workflow is submitted in.' }),
    serviceAccount: Type.Optional(Type.String({ description: 'Service account the workflow runs as.' })),
    source: ArtifactLocationSchema,
  },
  { description: 'ResourceObject: the workflow resource to create.' },
);

export const PolicyRuleSchema = Type.Object(
  {
    apiGroups: Type.Optional(Type.Array(Type.String())),
    resources: Type.Optional(Type.Array(Type.String())),
    resourceNames: Type.Optional(Type.Array(Type.String())),
    nonResourceURLs: Type.Optional(Type.Array(Type.String())),
    verbs: Type.Array(Type.String()),
  },
  { description: 'An RBAC PolicyRule (rbac.authorization.k8s.io/v1).' },
);

export const WorkflowSchema = Type.Object(
  {
    rbacRules: Type.Optional(
      Type.Array(PolicyRuleSchema, {
        description:
          "Rules of the workflow's Role/ClusterRole, replacing the read-only defaults. Honoured only in the controller's privileged namespaces.",
      }),
    ),
    generateName: Type.Optional(Type.String({ description: 'Name prefix of each workflow run.' })),
    resource: Type.Optional(ResourceObjectSchema),
    workflowtimeout: Type.Optional(
      Type.Integer({ minimum: 0, description: 'Seconds a run may take before it counts as failed.' }),
    ),
  },
  { description: 'An Argo workflow to run.' },
);

export const HealthCheckSpecSchema = Type.Object(
  {
    repeatAfterSec: Type.Optional(
      Type.Integer({ minimum: 0, description: 'Run the check every this many seconds.' }),
    ),
    schedule: Type.Optional(
      Type.Object(
        {
          cron: Type.Optional(
            Type.String({
              minLength: 1,
              description: 'Cron expression (robfig/cron syntax, @every 5m allowed).',
            }),
          ),
        },
        { description: 'Run the check on a cron schedule.' },
      ),
    ),
    description: Type.Optional(Type.String({ description: 'What the check verifies.' })),
    workflow: WorkflowSchema,
    level: Type.Optional(
      StringEnum(HEALTHCHECK_LEVELS, {
        description:
          'cluster runs the workflow with cluster-wide permissions; namespace within its namespace.',
      }),
    ),
    remedyworkflow: Type.Optional({
      ...WorkflowSchema,
      description: 'The workflow run when the check fails.',
    }),
    remedyRunsLimit: Type.Optional(
      Type.Integer({
        minimum: 0,
        description: 'Remedy runs allowed within remedyResetInterval; 0 means unlimited.',
      }),
    ),
    remedyResetInterval: Type.Optional(
      Type.Integer({ minimum: 0, description: 'Seconds after which the remedy run count resets.' }),
    ),
    backoffFactor: Type.Optional(
      Type.String({
        pattern: '^[0-9]+(\\.[0-9]+)?$',
        description: 'Multiplier of the retry delay after a failed run, as a decimal string.',
      }),
    ),
    backoffMin: Type.Optional(Type.Integer({ minimum: 0, description: 'Smallest retry delay in seconds.' })),
    backoffMax: Type.Optional(Type.Integer({ minimum: 0, description: 'Largest retry delay in seconds.' })),
  },
  {
    description:
      'HealthCheckSpec defines the desired state of HealthCheck. Either repeatAfterSec (> 0) or schedule.cron must be set; with neither (upstream pauses a check with repeatAfterSec: 0) the check is Stopped.',
  },
);

export const HealthCheckStatusSchema = Type.Object(
  {
    status: Type.Optional(Type.String({ description: 'Result of the latest run: Healthy, Failed...' })),
    errorMessage: Type.Optional(Type.String({ description: 'Why the latest run failed.' })),
    startedAt: Type.Optional(DateTime({ description: 'When the latest run started.' })),
    finishedAt: Type.Optional(DateTime({ description: 'When the latest run finished.' })),
    lastFailedAt: Type.Optional(DateTime({ description: 'When a run last failed.' })),
    lastFailedWorkflow: Type.Optional(Type.String({ description: 'Name of the last failed run.' })),
    lastSuccessfulWorkflow: Type.Optional(Type.String({ description: 'Name of the last successful run.' })),
    successCount: Type.Optional(Type.Integer({ minimum: 0, description: 'Successful runs.' })),
    failedCount: Type.Optional(Type.Integer({ minimum: 0, description: 'Failed runs.' })),
    totalHealthCheckRuns: Type.Optional(Type.Integer({ minimum: 0, description: 'All runs.' })),
    remedyStatus: Type.Optional(Type.String({ description: 'Result of the latest remedy run.' })),
    remedyErrorMessage: Type.Optional(Type.String({ description: 'Why the latest remedy run failed.' })),
    remedyTriggeredAt: Type.Optional(DateTime({ description: 'When the latest remedy run started.' })),
    remedyFinishedAt: Type.Optional(DateTime({ description: 'When the latest remedy run finished.' })),
    remedyLastFailedAt: Type.Optional(DateTime({ description: 'When a remedy run last failed.' })),
    remedySuccessCount: Type.Optional(Type.Integer({ minimum: 0, description: 'Successful remedy runs.' })),
    remedyFailedCount: Type.Optional(Type.Integer({ minimum: 0, description: 'Failed remedy runs.' })),
    remedyTotalRuns: Type.Optional(
      Type.Integer({ minimum: 0, description: 'Remedy runs within the current reset interval.' }),
    ),
    nextRunAt: Type.Optional(
      DateTime({
        description:
          'Keiko: the next slot — when the next run is due (a cron fire time, or the latest completion plus repeatAfterSec). Survives restarts and failover.',
      }),
    ),
    currentWorkflow: Type.Optional(
      Type.String({ description: 'Keiko: the health-check workflow in flight, adopted by a new leader.' }),
    ),
    currentSlot: Type.Optional(
      DateTime({ description: 'Keiko: the slot the in-flight workflow runs for (one run per slot).' }),
    ),
    currentRemedyWorkflow: Type.Optional(
      Type.String({ description: 'Keiko: the remedy workflow in flight, adopted by a new leader.' }),
    ),
    lastSlot: Type.Optional(
      DateTime({ description: 'Keiko: the slot of the latest submitted run; a slot never runs twice.' }),
    ),
    missedRuns: Type.Optional(
      Type.Integer({
        minimum: 0,
        description: 'Keiko: slots that passed without a run (controller down, previous run still going).',
      }),
    ),
    lastMissedAt: Type.Optional(DateTime({ description: 'Keiko: the latest slot that was missed.' })),
    paused: Type.Optional(
      Type.Boolean({
        description: 'Keiko: the check is paused (annotation activemonitor.keikoproj.io/paused: "true").',
      }),
    ),
    conditions: Type.Optional(Conditions()),
  },
  { description: 'HealthCheckStatus defines the observed state of HealthCheck.' },
);

export const HealthCheckSchema = Type.Object(
  {
    apiVersion: Type.Literal('activemonitor.keikoproj.io/v1alpha1'),
    kind: Type.Literal('HealthCheck'),
    metadata: ObjectMetaSchema,
    spec: HealthCheckSpecSchema,
    status: Type.Optional(HealthCheckStatusSchema),
  },
  {
    description:
      'HealthCheck runs a workflow periodically to probe a cluster capability, and a remedy workflow when it fails.',
  },
);

export type HealthCheck = Static<typeof HealthCheckSchema>;
export type HealthCheckSpec = Static<typeof HealthCheckSpecSchema>;
export type HealthCheckStatus = Static<typeof HealthCheckStatusSchema>;
export type HealthCheckWorkflow = Static<typeof WorkflowSchema>;
export type PolicyRule = Static<typeof PolicyRuleSchema>;

export const HealthCheckDefinition = defineKind({
  group: 'activemonitor.keikoproj.io',
  version: 'v1alpha1',
  kind: 'HealthCheck',
  plural: 'healthchecks',
  singular: 'healthcheck',
  shortNames: ['hc', 'hcs'],
  namespaced: true,
  chart: 'active-monitor',
  description: HealthCheckSchema.description ?? '',
  schema: HealthCheckSchema,
  printerColumns: [
    {
      name: 'Status',
      type: 'string',
      jsonPath: '.status.status',
      description: 'result of the latest run (Succeeded, Failed, Stopped)',
    },
    {
      name: 'Last Run',
      type: 'date',
      jsonPath: '.status.finishedAt',
      description: 'when the latest run finished',
    },
    {
      name: 'Next Run',
      type: 'string',
      jsonPath: '.status.nextRunAt',
      description: 'when the next run is due',
    },
    { name: 'Successes', type: 'integer', jsonPath: '.status.successCount', description: 'successful runs' },
    { name: 'Failures', type: 'integer', jsonPath: '.status.failedCount', description: 'failed runs' },
    {
      name: 'Remedies',
      type: 'integer',
      jsonPath: '.status.remedySuccessCount',
      description: 'successful remedy runs',
      priority: 1,
    },
    { name: 'Age', type: 'date', jsonPath: '.metadata.creationTimestamp' },
  ],
});
export const HealthCheckKind = kindInfo(HealthCheckDefinition);

export function withHealthCheckDefaults(hc: unknown): HealthCheck {
  return applyDefaults(HealthCheckSchema, hc);
}

export function validateHealthCheck(hc: unknown): FieldProblem[] {
  return validateKind(HealthCheckDefinition, hc);
}
