// PodCheckpoint (forensics.keikoproj.io/v1alpha1): capture the state of a running pod's containers for
// security analysis and upload it to S3. Field-compatible with keikoproj/kube-forensics.
import { Type } from '@sinclair/typebox';
import type { Static } from '@sinclair/typebox';
import { defineKind, kindInfo } from './crd';
import { ConditionSchema, DateTime, Int32, ObjectMetaSchema } from './schema';
import type { KubeSchemaOptions } from './schema';
import { applyDefaults, validateKind } from './validate';
import type { FieldProblem } from './validate';

/** Condition types, as the original's PodCheckpointConditionType. */
export const PodCheckpointConditionTypes = {
  Complete: 'Complete',
  Failed: 'Failed',
  SpecValid: 'SpecValid',
} as const;

export const PodCheckpointSpecSchema = Type.Object(
  {
    pod: Type.String({ minLength: 1, description: 'Name of the pod to checkpoint.' }),
    namespace: Type.String({ minLength: 1, description: 'Namespace of the pod.' }),
    destination: Type.Optional(
      Type.String({
        pattern: '^s3://[a-z0-9][a-z0-9.-]{1,61}[a-z0-9](/.*)?$',
        description:
          'S3 location the checkpoint is uploaded to, e.g. s3://my-bucket (a valid bucket name, optionally a key prefix: s3://my-bucket/team-a).',
      }),
    ),
    subpath: Type.Optional(
      Type.String({
        default: 'forensics',
        description:
          'Key prefix inside the destination bucket; each capture goes under <subpath>/<epoch>_<namespace>_<pod>/.',
      }),
    ),
    checkpointRequired: Type.Optional(
      Type.Boolean({
        default: false,
        description:
          'Fail the capture when a container cannot be checkpointed (kubelet feature gate off, runtime without checkpoint support, nodes/checkpoint not granted). Default false: logs and context are captured and the checkpoint is reported unavailable.',
      }),
    ),
  },
  { description: 'PodCheckpointSpec defines the desired state of PodCheckpoint.' },
);

/** metav1.Condition plus lastProbeTime, which the original's conditions carried. */
export const PodCheckpointConditionSchema = Type.Object(
  {
    ...ConditionSchema.properties,
    lastProbeTime: Type.Optional(DateTime({ description: 'When the condition was last checked.' })),
  },
  { description: 'PodCheckpointCondition: the state of the checkpoint job.' },
);

/** Outcome of one captured item (a checkpoint, a log). */
export const PodCheckpointItemStates = [
  'Pending',
  'Requested',
  'Collecting',
  'Captured',
  'Unavailable',
  'Failed',
] as const;

const ItemStatusSchema = Type.Object(
  {
    state: Type.Union(
      PodCheckpointItemStates.map((s) => Type.Literal(s)),
      {
        description:
          'Pending, Requested (asked of the kubelet), Collecting (collector Job running), Captured, Unavailable or Failed.',
      },
    ),
    uri: Type.Optional(Type.String({ description: 'The S3 URI of the object, once captured.' })),
    size: Type.Optional(Type.Integer({ minimum: 0, description: 'Bytes uploaded.' })),
    sha256: Type.Optional(Type.String({ description: 'SHA-256 of the object, hex.' })),
    archive: Type.Optional(Type.String({ description: "The checkpoint archive's path on the node." })),
    job: Type.Optional(Type.String({ description: 'The collector Job that uploads the archive.' })),
    message: Type.Optional(Type.String({ description: 'Why it is Unavailable or Failed.' })),
  },
  { description: 'One captured item.' },
);

export const PodCheckpointContainerStatusSchema = Type.Object(
  {
    name: Type.String({ description: 'Container name.' }),
    type: Type.Union([Type.Literal('container'), Type.Literal('init'), Type.Literal('ephemeral')], {
      description: 'container, init or ephemeral.',
    }),
    checkpoint: Type.Optional(ItemStatusSchema),
    logs: Type.Optional(ItemStatusSchema),
    previousLogs: Type.Optional(ItemStatusSchema),
  },
  { description: 'What was captured of one container.' },
);

export const PodCheckpointStatusSchema = Type.Object(
  {
    conditions: Type.Optional(
      Type.Array(PodCheckpointConditionSchema, {
        description: 'Complete or Failed once the checkpoint job has finished.',
        'x-kubernetes-list-type': 'map',
        'x-kubernetes-list-map-keys': ['type'],
      } satisfies KubeSchemaOptions),
    ),
    startTime: Type.Optional(DateTime({ description: 'When the checkpoint job was acknowledged.' })),
    completionTime: Type.Optional(DateTime({ description: 'When the checkpoint job completed.' })),
    active: Type.Optional(Int32({ minimum: 0, description: 'Checkpoint jobs running.' })),
    succeeded: Type.Optional(Int32({ minimum: 0, description: 'Checkpoint jobs that succeeded.' })),
    failed: Type.Optional(Int32({ minimum: 0, description: 'Checkpoint jobs that failed.' })),
    phase: Type.Optional(
      Type.String({
        description:
          'Where the capture is: Started, Context, Logs, Checkpoints, Collecting, Manifest, Done. Recorded before each step, so a restarted controller resumes and never repeats one.',
      }),
    ),
    node: Type.Optional(Type.String({ description: 'The node the pod ran on.' })),
    location: Type.Optional(
      Type.String({
        description: 'The S3 prefix of this capture: s3://<bucket>/<subpath>/<epoch>_<ns>_<pod>/.',
      }),
    ),
    manifest: Type.Optional(Type.String({ description: 'The S3 URI of manifest.json, once written.' })),
    checkpoint: Type.Optional(
      Type.String({
        description: 'captured, or unavailable (<reason>) when no container could be checkpointed.',
      }),
    ),
    containers: Type.Optional(
      Type.Array(PodCheckpointContainerStatusSchema, {
        description: 'Per-container results: checkpoint, current and previous logs.',
      }),
    ),
    bytesUploaded: Type.Optional(
      Type.Integer({ minimum: 0, description: 'Bytes uploaded to S3 by this capture.' }),
    ),
  },
  { description: 'PodCheckpointStatus defines the observed state of PodCheckpoint.' },
);

export const PodCheckpointSchema = Type.Object(
  {
    apiVersion: Type.Literal('forensics.keikoproj.io/v1alpha1'),
    kind: Type.Literal('PodCheckpoint'),
    metadata: ObjectMetaSchema,
    spec: PodCheckpointSpecSchema,
    status: Type.Optional(PodCheckpointStatusSchema),
  },
  {
    description:
      "PodCheckpoint captures a running pod's container state for forensic analysis and uploads it to S3.",
  },
);

export type PodCheckpoint = Static<typeof PodCheckpointSchema>;
export type PodCheckpointSpec = Static<typeof PodCheckpointSpecSchema>;
export type PodCheckpointStatus = Static<typeof PodCheckpointStatusSchema>;
export type PodCheckpointCondition = Static<typeof PodCheckpointConditionSchema>;
export type PodCheckpointContainerStatus = Static<typeof PodCheckpointContainerStatusSchema>;
export type PodCheckpointItemStatus = Static<typeof ItemStatusSchema>;
export type PodCheckpointItemState = (typeof PodCheckpointItemStates)[number];

export const PodCheckpointDefinition = defineKind({
  group: 'forensics.keikoproj.io',
  version: 'v1alpha1',
  kind: 'PodCheckpoint',
  plural: 'podcheckpoints',
  singular: 'podcheckpoint',
  shortNames: ['pcp'],
  namespaced: true,
  chart: 'kube-forensics',
  description: PodCheckpointSchema.description ?? '',
  schema: PodCheckpointSchema,
  printerColumns: [
    { name: 'Pod', type: 'string', jsonPath: '.spec.pod', description: 'pod checkpointed' },
    {
      name: 'Pod Namespace',
      type: 'string',
      jsonPath: '.spec.namespace',
      description: 'namespace of the pod',
    },
    {
      name: 'Destination',
      type: 'string',
      jsonPath: '.spec.destination',
      description: 'where the checkpoint is uploaded',
    },
    {
      name: 'Complete',
      type: 'string',
      jsonPath: '.status.conditions[?(@.type=="Complete")].status',
      description: 'checkpoint finished',
    },
    { name: 'Age', type: 'date', jsonPath: '.metadata.creationTimestamp' },
  ],
});
export const PodCheckpointKind = kindInfo(PodCheckpointDefinition);

export function withPodCheckpointDefaults(pcp: unknown): PodCheckpoint {
  return applyDefaults(PodCheckpointSchema, pcp);
}

export function validatePodCheckpoint(pcp: unknown): FieldProblem[] {
  return validateKind(PodCheckpointDefinition, pcp);
}
