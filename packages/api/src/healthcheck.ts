// HealthCheck (activemonitor.keikoproj.io/v1alpha1): run an Argo workflow on a schedule to probe a
// cluster capability, and a remedy workflow when it fails. Field-compatible with keikoproj/active-monitor.
import { Type } from '@sinclair/typebox';
import type { Static } from '@sinclair/typebox';
import { defineKind, kindInfo } from './crd';
import { celRule, Conditions, DateTime, ObjectMetaSchema, StringEnum } from './schema';
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
    description: 'Where the workflow document comes from: inline, file or url.',
    'x-kubernetes-validations': [
      celRule<{ inline?: string; file?: unknown; url?: unknown }>(
        {
          rule: 'has(self.inline) || has(self.file) || has(self.url)',
          message: 'one of inline, file or url is required',
        },
        (self) => self.inline !== undefined || self.file !== undefined || self.url !== undefined,
      ),
    ],
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

export const WorkflowSchema = Type.Object(
  {
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
      'HealthCheckSpec defines the desired state of HealthCheck. Either repeatAfterSec or schedule must be set.',
    'x-kubernetes-validations': [
      celRule<{ repeatAfterSec?: number; schedule?: { cron?: string } }>(
        {
          rule: '(has(self.repeatAfterSec) && self.repeatAfterSec > 0) || (has(self.schedule) && has(self.schedule.cron))',
          message: 'either repeatAfterSec (greater than 0) or schedule.cron must be set',
          fieldPath: '.repeatAfterSec',
        },
        (self) => (self.repeatAfterSec ?? 0) > 0 || self.schedule?.cron !== undefined,
      ),
      celRule<{ backoffMin?: number; backoffMax?: number }>(
        {
          rule: '!has(self.backoffMin) || !has(self.backoffMax) || self.backoffMin <= self.backoffMax',
          message: 'backoffMin must be less than or equal to backoffMax',
          fieldPath: '.backoffMin',
        },
        (self) =>
          self.backoffMin === undefined ||
          self.backoffMax === undefined ||
          self.backoffMin <= self.backoffMax,
      ),
    ],
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
      name: 'Latest Status',
      type: 'string',
      jsonPath: '.status.status',
      description: 'result of the latest run',
    },
    {
      name: 'Success Cnt',
      type: 'integer',
      jsonPath: '.status.successCount',
      description: 'successful runs',
    },
    { name: 'Fail Cnt', type: 'integer', jsonPath: '.status.failedCount', description: 'failed runs' },
    {
      name: 'Remedy Success Cnt',
      type: 'integer',
      jsonPath: '.status.remedySuccessCount',
      description: 'successful remedy runs',
    },
    {
      name: 'Remedy Fail Cnt',
      type: 'integer',
      jsonPath: '.status.remedyFailedCount',
      description: 'failed remedy runs',
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
