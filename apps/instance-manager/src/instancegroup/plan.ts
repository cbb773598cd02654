// The group's decisions that do not depend on a provisioner: its state after a reconcile, its
// conditions, how its rolling update is bounded. Pure.
import {
  instanceGroupStrategyType,
  resolveRollingUpdateBudget,
  type InstanceGroup,
  type InstanceGroupStatus,
} from '@keiko/api';
import { setCondition, type Condition } from '@keiko/kube-runtime';
import { budgetNodes } from '@keiko/node-ops';
import { parseIsoDuration } from '../provisioners/common';
import type { ProvisionOutcome, ReconcileState } from '../provisioners/types';
import type { RotationPolicy } from '../strategies/rolling-update';
import type { NodesReadiness } from './fleet';
import { LOCK_UPGRADES_ANNOTATION } from '../names';

export const CONDITION_READY = 'Ready';
export const CONDITION_NODES_READY = 'NodesReady';
export const CONDITION_SPEC_VALID = 'SpecValid';

/** Re-check a converged group this often (aws-auth, drift made by someone else, node health). */
export const RESYNC_MS = 60_000;
/** A group whose cloud configuration is wrong (missing subnets...) is retried this often: they may appear. */
export const CONFIG_RETRY_MS = 60_000;

export function isUpgradeLocked(ig: InstanceGroup): boolean {
  return (ig.metadata.annotations?.[LOCK_UPGRADES_ANNOTATION] ?? '').toLowerCase() === 'true';
}

/**
 * How a rolling update is bounded. eks-cf (and any group giving minInstancesInService or maxBatchSize
 * without maxUnavailable) follows CloudFormation's AutoScalingRollingUpdate: batches of maxBatchSize
 * (default 1), never below minInstancesInService (default 0), pauseTime between batches. Otherwise
 * maxUnavailable (default 1, a number or a percentage of the group's desired size).
 */
export function rotationPolicy(ig: InstanceGroup, desiredCapacity: number): RotationPolicy {
  const r = ig.spec.strategy?.rollingUpdate ?? {};
  const pauseMs = parseIsoDuration(r.pauseTime) ?? 0;
  const cfStyle =
    r.maxUnavailable === undefined &&
    (ig.spec.provisioner === 'eks-cf' ||
      r.minInstancesInService !== undefined ||
      r.maxBatchSize !== undefined);
  if (cfStyle) {
    return {
      mode: 'minInService',
      maxUnavailable: 0,
      minInstancesInService: r.minInstancesInService ?? 0,
      maxBatchSize: Math.max(1, r.maxBatchSize ?? 1),
      pauseMs,
    };
  }
  return {
    mode: 'maxUnavailable',
    maxUnavailable: budgetNodes(resolveRollingUpdateBudget(ig.spec), desiredCapacity),
    minInstancesInService: 0,
    maxBatchSize: 0,
    pauseMs,
  };
}

export interface UpgradeStage {
  phase: 'none' | 'running' | 'waiting' | 'locked' | 'succeeded' | 'failed';
  message: string;
  requeueAfterMs?: number;
}

export interface GroupDecision {
  state: ReconcileState;
  ready: boolean;
  reason: string;
  message: string;
  requeueAfterMs?: number;
}

export function decideGroupState(
  outcome: ProvisionOutcome,
  upgrade: UpgradeStage,
  nodes: NodesReadiness | undefined,
): GroupDecision {
  if (outcome.phase === 'failed') {
    return {
      state: 'Error',
      ready: false,
      reason: outcome.failureReason ?? 'ProvisioningFailed',
      message: outcome.message,
      requeueAfterMs:
        outcome.failureReason === 'InvalidConfiguration'
          ? CONFIG_RETRY_MS
          : (outcome.requeueAfterMs ?? CONFIG_RETRY_MS),
    };
  }
  if (outcome.phase === 'provisioning')
    return {
      state: outcome.state,
      ready: false,
      reason: 'Provisioning',
      message: outcome.message,
      requeueAfterMs: outcome.requeueAfterMs ?? 10_000,
    };
  switch (upgrade.phase) {
    case 'failed':
      return {
        state: 'Error',
        ready: false,
        reason: 'UpgradeFailed',
        message: upgrade.message,
        requeueAfterMs: CONFIG_RETRY_MS,
      };
    case 'locked':
      return {
        state: 'Locked',
        ready: false,
        reason: 'UpgradeLocked',
        message: upgrade.message,
        requeueAfterMs: RESYNC_MS,
      };
    case 'running':
    case 'waiting':
      return {
        state: 'InitUpgrade',
        ready: false,
        reason: 'Upgrading',
        message: upgrade.message,
        requeueAfterMs: upgrade.requeueAfterMs ?? 10_000,
      };
    default:
      break;
  }
  if (nodes && !nodes.ready)
    return {
      state: 'ReconcileModified',
      ready: false,
      reason: nodes.reason,
      message: nodes.message,
      requeueAfterMs: 5_000,
    };
  // Ready: nothing to come back for. Node changes and aws-auth edits wake the group through watches, and the
  // periodic resync (--resync) re-checks the cloud side for changes made behind the controller's back.
  return {
    state: 'Ready',
    ready: true,
    reason: 'Ready',
    message: nodes?.message ?? outcome.message,
  };
}

/** The API's conditions (lastTransitionTime optional) as the runtime's (required). */
export function runtimeConditions(status: InstanceGroupStatus | undefined): Condition[] {
  return (status?.conditions ?? []).map((c) => ({
    type: c.type,
    status: c.status,
    ...(c.observedGeneration !== undefined ? { observedGeneration: c.observedGeneration } : {}),
    lastTransitionTime: c.lastTransitionTime ?? '',
    reason: c.reason ?? '',
    message: c.message ?? '',
  }));
}

export function findRuntimeCondition(
  status: InstanceGroupStatus | undefined,
  type: string,
): Condition | undefined {
  return runtimeConditions(status).find((c) => c.type === type);
}

export interface StatusInput {
  previous: InstanceGroupStatus | undefined;
  ig: InstanceGroup;
  decision: GroupDecision;
  fields: Partial<InstanceGroupStatus>;
  nodes?: NodesReadiness;
  specValid: { ok: boolean; message: string };
  rollingUpdate?: { status: 'True' | 'False'; reason: string; message: string };
  configHash?: string;
  now: Date;
}

/** The whole new status: provisioner fields, state, and the conditions with their transition times kept. */
export function composeStatus(input: StatusInput): InstanceGroupStatus {
  const gen = input.ig.metadata.generation;
  const g = gen !== undefined ? { observedGeneration: gen } : {};
  let conditions = runtimeConditions(input.previous);
  conditions = setCondition(
    conditions,
    {
      type: CONDITION_SPEC_VALID,
      status: input.specValid.ok ? 'True' : 'False',
      reason: input.specValid.ok ? 'Valid' : 'InvalidSpec',
      message: input.specValid.message,
      ...g,
    },
    input.now,
  );
  conditions = setCondition(
    conditions,
    {
      type: CONDITION_READY,
      status: input.decision.ready ? 'True' : 'False',
      reason: input.decision.reason,
      message: truncate(input.decision.message),
      ...g,
    },
    input.now,
  );
  if (input.nodes)
    conditions = setCondition(
      conditions,
      {
        type: CONDITION_NODES_READY,
        status: input.nodes.ready ? 'True' : 'False',
        reason: input.nodes.reason,
        message: input.nodes.message,
        ...g,
      },
      input.now,
    );
  if (input.rollingUpdate)
    conditions = setCondition(conditions, { type: 'RollingUpdate', ...input.rollingUpdate, ...g }, input.now);
  const strategy = instanceGroupStrategyType(input.ig) ?? input.ig.spec.strategy?.type;
  const status: InstanceGroupStatus = {
    ...input.previous,
    ...input.fields,
    currentState: input.decision.state,
    provisioner: input.ig.spec.provisioner,
    ...(strategy ? { strategy } : {}),
    ...(input.configHash !== undefined ? { configMD5: input.configHash } : {}),
    conditions,
  };
  if (input.configHash === undefined) delete status.configMD5;
  return status;
}

function truncate(s: string, max = 4000): string {
  return s.length <= max ? s : `${s.slice(0, max - 3)}...`;
}
