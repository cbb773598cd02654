// RollingUpgrade (upgrademgr.keikoproj.io/v1alpha1): rotate the instances of one auto scaling group,
// draining each node before terminating it. Field-compatible with keikoproj/upgrade-manager.
import { DEFAULT_DRAIN_TIMEOUT_SECONDS, parseBudget, type DisruptionBudget } from './budget';
import { Type } from '@sinclair/typebox';
import type { Static } from '@sinclair/typebox';
import { defineKind, kindInfo } from './crd';
import {
  canonicalEnumValue,
  celRule,
  Conditions,
  DateTime,
  Int32,
  IntOrString,
  ObjectMetaSchema,
  StringEnum,
  StringEnumIgnoreCase,
  StringMap,
} from './schema';
import type { IntOrStringValue } from './schema';
import { applyDefaults, validateKind } from './validate';
import type { FieldProblem } from './validate';

export const UPGRADE_STRATEGY_TYPES = ['randomUpdate', 'uniformAcrossAzUpdate'] as const;
export type UpgradeStrategyType = (typeof UPGRADE_STRATEGY_TYPES)[number];
export const UPGRADE_STRATEGY_MODES = ['lazy', 'eager'] as const;
export type UpgradeStrategyMode = (typeof UPGRADE_STRATEGY_MODES)[number];

/** Values of status.currentStatus, as the original controller wrote them. */
export const RollingUpgradeStatusValues = ['init', 'running', 'completed', 'error'] as const;
export type RollingUpgradeCurrentStatus = (typeof RollingUpgradeStatusValues)[number];

/** The steps one node goes through, in order; status records the step each node is at. */
export const RollingUpgradeSteps = [
  'kickoff',
  'desired_node_ready',
  'predrain_script',
  'drain',
  'postdrain_script',
  'post_wait',
  'terminate',
  'post_terminate',
  'completed',
] as const;
export type RollingUpgradeStep = (typeof RollingUpgradeSteps)[number];
/** Statistics also carry the whole-node total. */
export const RollingUpgradeStatisticSteps = [...RollingUpgradeSteps, 'total'] as const;

/** Condition types the controller sets. Complete mirrors the original; the others are Keiko's. */
export const RollingUpgradeConditionTypes = {
  Complete: 'Complete',
  SpecValid: 'SpecValid',
  Progressing: 'Progressing',
} as const;

const maxUnavailableRule = celRule<IntOrStringValue>(
  {
    rule: "type(self) == int ? self >= 0 : self.matches('^(100|[1-9][0-9]?)%?$')",
    message: 'maxUnavailable must be a non-negative number of nodes or a percentage from 1% to 100%',
  },
  (self) => (typeof self === 'number' ? self >= 0 : /^(100|[1-9][0-9]?)%?$/.test(self)),
);

export const UpdateStrategySchema = Type.Object(
  {
    type: Type.Optional(
      StringEnumIgnoreCase(UPGRADE_STRATEGY_TYPES, {
        default: 'randomUpdate',
        description:
          'How nodes are picked: randomUpdate takes drifted nodes from all zones as one pool; uniformAcrossAzUpdate spreads each batch over the zones (round robin, fullest zone first). maxUnavailable caps the batch either way.',
      }),
    ),
    mode: Type.Optional(
      StringEnumIgnoreCase(UPGRADE_STRATEGY_MODES, {
        default: 'lazy',
        description:
          'lazy terminates a drained node and lets the scaling group replace it; eager first waits for a replacement node to be Ready (and drains only then).',
      }),
    ),
    maxUnavailable: Type.Optional(
      IntOrString({
        default: 1,
        maxLength: 8,
        description:
          'How many nodes may be down at once, nodes already unavailable included: a number of nodes, or a percentage of the group\'s desired capacity such as "20%" (rounded down, at least 1). 0 is read as 1, as the original controller did.',
        'x-kubernetes-validations': [maxUnavailableRule],
      }),
    ),
    drainTimeout: Type.Optional(
      Type.Integer({
        minimum: -1,
        description:
          'Seconds a drain may take; past it the drain fails: the node is uncordoned and kept, the upgrade goes on with the others and retries it once at the end (ignoreDrainFailures: true terminates it anyway). Absent or 0: 900 seconds (a PodDisruptionBudget that never allows an eviction must not hold a node cordoned forever). -1 waits without limit.',
      }),
    ),
  },
  { default: {}, description: 'How the rotation proceeds.' },
);

export const RollingUpgradeSpecSchema = Type.Object(
  {
    asgName: Type.String({
      minLength: 1,
      description: 'Name of the AWS auto scaling group whose instances are rotated.',
    }),
    region: Type.Optional(
      Type.String({
        description:
          "AWS region of the scaling group; the controller's own region when empty. Set in the Keiko talk's example.",
      }),
    ),
    postDrainDelaySeconds: Type.Optional(
      Type.Integer({ minimum: 0, description: 'Seconds to wait after a drain before terminating the node.' }),
    ),
    nodeIntervalSeconds: Type.Optional(
      Type.Integer({
        minimum: 0,
        description:
          'Seconds to wait after a batch has completed (its replacements Ready) before the next batch starts.',
      }),
    ),
    preDrain: Type.Optional(
      Type.Object(
        {
          script: Type.Optional(
            Type.String({
              description:
                'Shell script run (/bin/sh -c, as a Job) before the node is drained, with INSTANCE_ID, INSTANCE_NAME (the node) and ASG_NAME set. Needs scripts enabled in upgrade-manager (chart value scripts.enabled) or spec.ignoreScripts.',
            }),
          ),
        },
        { description: 'Actions taken before draining a node.' },
      ),
    ),
    postDrain: Type.Optional(
      Type.Object(
        {
          script: Type.Optional(
            Type.String({
              description: 'Shell script run (as a Job, like preDrain.script) after the node is drained.',
            }),
          ),
          waitSeconds: Type.Optional(
            Type.Integer({
              format: 'int64',
              minimum: 0,
              description:
                'Seconds to wait after the post-drain script, added to postDrainDelaySeconds, before postWaitScript and the terminate.',
            }),
          ),
          postWaitScript: Type.Optional(
            Type.String({
              description:
                'Shell script run (as a Job) after waitSeconds, before the instance is terminated.',
            }),
          ),
        },
        { description: 'Actions taken after draining a node.' },
      ),
    ),
    postTerminate: Type.Optional(
      Type.Object(
        {
          script: Type.Optional(
            Type.String({
              description:
                'Shell script run (as a Job) after the instance is terminated, before the node counts as replaced.',
            }),
          ),
        },
        { description: 'Actions taken after terminating a node.' },
      ),
    ),
    strategy: Type.Optional(UpdateStrategySchema),
    ignoreScripts: Type.Optional(
      Type.Boolean({
        description:
          "Never run preDrain, postDrain and postTerminate scripts, and proceed without them. Without it, an upgrade that sets scripts waits while upgrade-manager's scripts are disabled.",
      }),
    ),
    ignoreDrainFailures: Type.Optional(
      Type.Boolean({
        description: 'Terminate the node even when its drain fails, instead of stopping the upgrade.',
      }),
    ),
    forceRefresh: Type.Optional(
      Type.Boolean({
        description:
          'Rotate every node, even those already running the current launch configuration or template.',
      }),
    ),
    readinessGates: Type.Optional(
      Type.Array(
        Type.Object({
          matchLabels: Type.Optional(
            StringMap({ description: 'Labels a new node must carry before it counts as ready.' }),
          ),
        }),
        { description: 'Label selectors a replacement node must match before it is considered ready.' },
      ),
    ),
    dryRun: Type.Optional(
      Type.Boolean({
        default: false,
        description:
          'Plan and record which nodes would be rotated, in status, without cordoning, draining or terminating anything.',
      }),
    ),
  },
  { description: 'RollingUpgradeSpec defines the desired state of RollingUpgrade.' },
);

export const NodeInProcessingSchema = Type.Object(
  {
    nodeName: Type.Optional(Type.String({ description: 'Kubernetes node name.' })),
    instanceID: Type.Optional(Type.String({ description: 'EC2 instance ID behind the node.' })),
    stepName: Type.Optional(
      StringEnum(RollingUpgradeSteps, { description: 'The step the node has reached.' }),
    ),
    upgradeStartTime: Type.Optional(DateTime({ description: 'When rotation of this node started.' })),
    stepStartTime: Type.Optional(DateTime({ description: 'When the current step started.' })),
    stepEndTime: Type.Optional(DateTime({ description: 'When the previous step ended.' })),
  },
  {
    description:
      'Progress of one node being rotated; recorded before every step so a restart resumes, never repeats.',
  },
);

export const RollingUpgradeStatusSchema = Type.Object(
  {
    currentStatus: Type.Optional(
      StringEnum(RollingUpgradeStatusValues, {
        description: 'Overall state: init, running, completed or error.',
      }),
    ),
    startTime: Type.Optional(Type.String({ description: 'When the upgrade started (RFC 3339).' })),
    endTime: Type.Optional(Type.String({ description: 'When the upgrade finished (RFC 3339).' })),
    totalProcessingTime: Type.Optional(
      Type.String({ description: 'Wall time the upgrade took, e.g. 12m30s.' }),
    ),
    nodesProcessed: Type.Optional(Type.Integer({ minimum: 0, description: 'Nodes rotated so far.' })),
    totalNodes: Type.Optional(
      Type.Integer({ minimum: 0, description: 'Nodes in the group that need rotating.' }),
    ),
    completePercentage: Type.Optional(
      Type.String({ description: 'nodesProcessed as a percentage of totalNodes, e.g. "40%".' }),
    ),
    conditions: Type.Optional(Conditions()),
    lastTerminationTime: Type.Optional(
      DateTime({ description: 'When the controller last terminated an instance.' }),
    ),
    lastDrainTime: Type.Optional(DateTime({ description: 'When the controller last drained a node.' })),
    statistics: Type.Optional(
      Type.Array(
        Type.Object({
          stepName: Type.Optional(
            StringEnum(RollingUpgradeStatisticSteps, { description: 'The step measured.' }),
          ),
          durationSum: Type.Optional(
            Type.String({ description: 'Total time spent in the step across nodes, as a Go duration.' }),
          ),
          durationCount: Type.Optional(Int32({ minimum: 0, description: 'How many times the step ran.' })),
        }),
        { description: 'Time spent per step, summed over all nodes.' },
      ),
    ),
    lastBatchNodes: Type.Optional(
      Type.Array(Type.String(), { description: 'Nodes of the most recent batch.' }),
    ),
    inProcessingNodes: Type.Optional(
      Type.Record(Type.String(), NodeInProcessingSchema, {
        description:
          'Nodes currently being rotated, by node name: the per-node record the controller resumes from.',
      }),
    ),
    nodeInProcessing: Type.Optional(
      Type.Record(Type.String(), NodeInProcessingSchema, {
        description:
          'The same per-node record under the name later upgrade-manager releases used; read when inProcessingNodes is absent.',
      }),
    ),
    lastBatchEndTime: Type.Optional(
      DateTime({
        description:
          'When the most recent batch finished (its replacements Ready); nodeIntervalSeconds count from here.',
      }),
    ),
    surge: Type.Optional(
      Type.Object(
        {
          baseDesired: Type.Integer({
            minimum: 0,
            description: 'Desired capacity of the scaling group before the surge was added.',
          }),
          added: Type.Integer({
            minimum: 0,
            description:
              'Instances added on top of baseDesired for the current batch (capped by the group maxSize).',
          }),
        },
        {
          description:
            'eager mode: the extra capacity launched for the current batch, recorded before desired capacity is raised so a restart never adds it twice.',
        },
      ),
    ),
    drainFailures: Type.Optional(
      Type.Array(
        Type.Object({
          nodeName: Type.Optional(Type.String({ description: 'Kubernetes node name.' })),
          instanceID: Type.Optional(Type.String({ description: 'EC2 instance ID behind the node.' })),
          reason: Type.Optional(
            Type.String({
              description:
                'Why the drain failed: DisruptionBudget, Refused, EvictionFailed, NotTerminated, Timeout...',
            }),
          ),
          message: Type.Optional(
            Type.String({
              description: 'The drain error, naming each pod that blocked it and the PodDisruptionBudget.',
            }),
          ),
          pods: Type.Optional(
            Type.Array(Type.String(), {
              description: 'Pods (namespace/name) that kept the drain from completing.',
            }),
          ),
          podDisruptionBudgets: Type.Optional(
            Type.Array(Type.String(), {
              description: 'PodDisruptionBudgets (namespace/name) that refused evictions.',
            }),
          ),
          attempts: Type.Optional(Int32({ minimum: 0, description: 'Failed drains of this node so far.' })),
          lastFailureTime: Type.Optional(
            DateTime({ description: 'When the latest drain of this node failed.' }),
          ),
        }),
        {
          description:
            'Nodes whose drain failed (without ignoreDrainFailures): each was uncordoned and left in service, and is retried once after every other node; a second failure ends the upgrade in error.',
        },
      ),
    ),
    plan: Type.Optional(
      Type.Array(
        Type.Object({
          batch: Int32({ minimum: 1, description: 'Batch number, from 1.' }),
          nodes: Type.Array(Type.String(), {
            description:
              'Nodes (or instance IDs, for instances without a node) rotated together in this batch.',
          }),
        }),
        {
          description:
            'Dry run (spec.dryRun or the --dry-run flag): the batches the upgrade would rotate, in order. Nothing is cordoned, drained or terminated.',
        },
      ),
    ),
  },
  { description: 'RollingUpgradeStatus defines the observed state of RollingUpgrade.' },
);

export const RollingUpgradeSchema = Type.Object(
  {
    apiVersion: Type.Literal('upgrademgr.keikoproj.io/v1alpha1'),
    kind: Type.Literal('RollingUpgrade'),
    metadata: ObjectMetaSchema,
    spec: RollingUpgradeSpecSchema,
    status: Type.Optional(RollingUpgradeStatusSchema),
  },
  {
    description:
      'RollingUpgrade rotates the instances of an auto scaling group, draining each node before it is terminated.',
  },
);

export type RollingUpgrade = Static<typeof RollingUpgradeSchema>;
export type RollingUpgradeSpec = Static<typeof RollingUpgradeSpecSchema>;
export type RollingUpgradeStatus = Static<typeof RollingUpgradeStatusSchema>;
export type UpdateStrategy = Static<typeof UpdateStrategySchema>;
export type NodeInProcessing = Static<typeof NodeInProcessingSchema>;

export const RollingUpgradeDefinition = defineKind({
  group: 'upgrademgr.keikoproj.io',
  version: 'v1alpha1',
  kind: 'RollingUpgrade',
  plural: 'rollingupgrades',
  singular: 'rollingupgrade',
  shortNames: ['ru'],
  namespaced: true,
  chart: 'upgrade-manager',
  description: RollingUpgradeSchema.description ?? '',
  schema: RollingUpgradeSchema,
  printerColumns: [
    {
      name: 'Status',
      type: 'string',
      jsonPath: '.status.currentStatus',
      description: 'current status of the rolling upgrade',
    },
    {
      name: 'TotalNodes',
      type: 'string',
      jsonPath: '.status.totalNodes',
      description: 'total nodes involved in the rolling upgrade',
    },
    {
      name: 'NodesProcessed',
      type: 'string',
      jsonPath: '.status.nodesProcessed',
      description: 'nodes processed so far',
    },
    {
      name: 'Complete',
      type: 'string',
      jsonPath: '.status.completePercentage',
      description: 'percentage of nodes processed',
    },
    { name: 'Age', type: 'date', jsonPath: '.metadata.creationTimestamp' },
  ],
});
export const RollingUpgradeKind = kindInfo(RollingUpgradeDefinition);

/** The RollingUpgrade with every schema default applied (strategy randomUpdate/lazy, maxUnavailable 1...). */
export function withRollingUpgradeDefaults(ru: unknown): RollingUpgrade {
  return applyDefaults(RollingUpgradeSchema, ru);
}

export function validateRollingUpgrade(ru: unknown): FieldProblem[] {
  return validateKind(RollingUpgradeDefinition, ru);
}

/** The strategy in canonical spelling with every default resolved, and the original's 0 values mapped. */
export interface ResolvedUpdateStrategy {
  type: UpgradeStrategyType;
  mode: UpgradeStrategyMode;
  maxUnavailable: DisruptionBudget;
  /** Seconds a node's drain may take, or undefined for no limit (only when asked for: a negative value). */
  drainTimeoutSeconds: number | undefined;
}

/**
 * The one place RollingUpgrade's strategy defaults live. maxUnavailable: absent is 1 node, and an
 * integer 0 reads as one node at a time (the original's meaning). drainTimeout: absent or 0 is
 * DEFAULT_DRAIN_TIMEOUT_SECONDS — a PodDisruptionBudget that never allows an eviction must not hold a
 * node cordoned forever — and a negative value (the original's -1) asks for no limit.
 */
export function resolveUpdateStrategy(spec: RollingUpgradeSpec): ResolvedUpdateStrategy {
  const s = spec.strategy ?? {};
  const budget = parseBudget(s.maxUnavailable, 'spec.strategy.maxUnavailable', 'percent') ?? { nodes: 1 };
  const drainTimeout = s.drainTimeout ?? 0;
  return {
    type: canonicalEnumValue(UPGRADE_STRATEGY_TYPES, s.type) ?? 'randomUpdate',
    mode: canonicalEnumValue(UPGRADE_STRATEGY_MODES, s.mode) ?? 'lazy',
    maxUnavailable: 'nodes' in budget && budget.nodes === 0 ? { nodes: 1 } : budget,
    drainTimeoutSeconds:
      drainTimeout < 0 ? undefined : drainTimeout === 0 ? DEFAULT_DRAIN_TIMEOUT_SECONDS : drainTimeout,
  };
}

/** Everything the upgrade's plan reads from the spec, every default resolved: plans never read the raw spec. */
export interface ResolvedRollingUpgrade {
  strategy: ResolvedUpdateStrategy;
  /** postDrainDelaySeconds + postDrain.waitSeconds: how long after a drain before the terminate. */
  postDrainWaitSeconds: number;
  /** The pause between batches. */
  nodeIntervalSeconds: number;
  readinessGates: NonNullable<RollingUpgradeSpec['readinessGates']>;
  /** Terminate a node whose drain failed anyway. */
  ignoreDrainFailures: boolean;
  /** spec.dryRun: plan only (honoured until the upgrade starts). */
  dryRun: boolean;
  /** The scripts to run for each node, by phase; none when spec.ignoreScripts is set. */
  scripts: RollingUpgradeScripts;
}

/** The phases a RollingUpgrade runs a script in, in the order a node meets them. */
export const RollingUpgradeScriptPhases = ['preDrain', 'postDrain', 'postWait', 'postTerminate'] as const;
export type RollingUpgradeScriptPhase = (typeof RollingUpgradeScriptPhases)[number];
export type RollingUpgradeScripts = Partial<Record<RollingUpgradeScriptPhase, string>>;

/** The spec field of each script phase, for messages. */
export const RollingUpgradeScriptFields: Record<RollingUpgradeScriptPhase, string> = {
  preDrain: 'spec.preDrain.script',
  postDrain: 'spec.postDrain.script',
  postWait: 'spec.postDrain.postWaitScript',
  postTerminate: 'spec.postTerminate.script',
};

/** The scripts the spec sets (empty strings are none), whatever ignoreScripts says. */
export function configuredScripts(spec: RollingUpgradeSpec): RollingUpgradeScripts {
  const all: RollingUpgradeScripts = {
    preDrain: spec.preDrain?.script,
    postDrain: spec.postDrain?.script,
    postWait: spec.postDrain?.postWaitScript,
    postTerminate: spec.postTerminate?.script,
  };
  return Object.fromEntries(Object.entries(all).filter(([, v]) => v && v.trim() !== ''));
}

/** The one resolve step of a RollingUpgrade's spec. */
export function resolveRollingUpgrade(spec: RollingUpgradeSpec): ResolvedRollingUpgrade {
  return {
    strategy: resolveUpdateStrategy(spec),
    postDrainWaitSeconds: Math.max(0, (spec.postDrainDelaySeconds ?? 0) + (spec.postDrain?.waitSeconds ?? 0)),
    nodeIntervalSeconds: Math.max(0, spec.nodeIntervalSeconds ?? 0),
    readinessGates: spec.readinessGates ?? [],
    ignoreDrainFailures: spec.ignoreDrainFailures === true,
    dryRun: spec.dryRun === true,
    scripts: spec.ignoreScripts === true ? {} : configuredScripts(spec),
  };
}

/** The per-node progress map, whichever of its two names the status uses. */
export function nodesInProcessing(
  status: RollingUpgradeStatus | undefined,
): Record<string, NodeInProcessing> {
  return status?.inProcessingNodes ?? status?.nodeInProcessing ?? {};
}
