// Carries out a rolling-update plan with the engine (node-ops DrainRunner, aws terminateConfirmed):
// cordon (marked as ours: the record that the node is in flight), drain in the background (the
// reconcile polls it), terminate once drained — each terminate confirmed against a
// live read of the group first, so an instance is never terminated twice.
import { terminateConfirmed, type AutoScalingPort, type TerminateOutcome } from '@keiko/aws';
import type { KubeClient, Logger } from '@keiko/kube-runtime';
import { cordonNode, recordDrainFailure, uncordonNode, type DrainRunner } from '@keiko/node-ops';
import type { RotationPlan } from './rolling-update';

export interface DrainSettings {
  timeoutMs: number;
  gracePeriodSeconds?: number;
}

export interface RotationDeps {
  kube: KubeClient;
  autoScaling: AutoScalingPort;
  drains: DrainRunner;
  settings: DrainSettings;
  /** The keiko.io/cordoned-by value: instance-manager/<namespace>/<name>. */
  owner: string;
  /** The group's queue key (namespace/name): the drains' owner in the runner. */
  key: string;
  /** The rotation's round (the group's generation), recorded with a failed drain. */
  round: string;
  groupName: string;
  log: Logger;
  dryRun: boolean;
  event(type: 'Normal' | 'Warning', reason: string, message: string): void;
  /** Instance id -> node name, for forgetting drains once terminated. */
  nodeOfInstance: ReadonlyMap<string, string>;
  onTerminated?(instanceId: string): void;
}

/**
 * A failed drain: record it on the node first (a restart then knows it was tried), then give the node
 * back — uncordoned, in service — so a blocked drain never leaves capacity cordoned.
 */
async function giveBackFailedDrains(plan: RotationPlan, deps: RotationDeps): Promise<void> {
  for (const f of plan.drainFailures) {
    await recordDrainFailure(deps.kube, f.node, {
      owner: deps.owner,
      round: deps.round,
      attempts: f.attempts,
      message: f.error,
    });
    await uncordonNode(deps.kube, f.node, { onlyIfCordonedBy: deps.owner });
    deps.drains.forget(deps.key, f.node);
    deps.event('Warning', 'DrainFailed', `drain of node ${f.node} failed: ${f.error}`);
    deps.event(
      'Warning',
      'NodeReturned',
      `drain of node ${f.node} failed (attempt ${f.attempts}): ${f.error}; the node is uncordoned and stays in service`,
    );
  }
}

/**
 * The cordon, marked as ours, is made before the drain starts and before the reconcile returns: it is
 * the record that this node is in flight, so the next plan counts it against the budget.
 */
async function startDrains(plan: RotationPlan, deps: RotationDeps): Promise<void> {
  for (const node of plan.drain) {
    await cordonNode(deps.kube, node, { by: deps.owner });
    deps.drains.start({
      owner: deps.key,
      key: node,
      nodeName: node,
      cordonedBy: deps.owner,
      timeoutMs: deps.settings.timeoutMs,
      ...(deps.settings.gracePeriodSeconds !== undefined
        ? { gracePeriodSeconds: deps.settings.gracePeriodSeconds }
        : {}),
    });
    deps.event(
      'Normal',
      'NodeDraining',
      `draining node ${node} of ${deps.groupName} before replacing its instance`,
    );
  }
}

function reportTerminate(o: TerminateOutcome, deps: RotationDeps): void {
  const node = deps.nodeOfInstance.get(o.instanceId);
  if (o.outcome === 'wait') return;
  if (node) deps.drains.forget(deps.key, node);
  if (o.outcome === 'gone') {
    deps.log.info('instance no longer in service; not terminating', {
      instance: o.instanceId,
      why: o.detail,
    });
    return;
  }
  deps.onTerminated?.(o.instanceId);
  deps.event(
    'Normal',
    'InstanceTerminated',
    `terminated instance ${o.instanceId}${node ? ` (node ${node}, drained)` : ''}; the group launches its replacement`,
  );
}

export async function executeRotation(plan: RotationPlan, deps: RotationDeps): Promise<void> {
  if (deps.dryRun) {
    for (const n of plan.drain) deps.event('Normal', 'DryRun', `would drain node ${n} of ${deps.groupName}`);
    for (const i of plan.terminate)
      deps.event('Normal', 'DryRun', `would terminate instance ${i} of ${deps.groupName}`);
    return;
  }
  for (const node of plan.uncordon) {
    await deps.drains.abort(deps.key, node, 'the node runs the current launch template again');
    await uncordonNode(deps.kube, node, { onlyIfCordonedBy: deps.owner });
    deps.event('Normal', 'NodeUncordoned', `node ${node} runs the current launch template again; uncordoned`);
  }
  await giveBackFailedDrains(plan, deps);
  await startDrains(plan, deps);
  const drains = deps.drains.states(deps.key);
  for (const id of plan.terminate) {
    const node = deps.nodeOfInstance.get(id);
    const d = node ? drains.get(node) : undefined;
    if (d?.state === 'succeeded')
      deps.event('Normal', 'NodeDrained', `drained node ${node}: ${d.evicted} pod(s) evicted`);
  }
  const requests = plan.terminate.map((instanceId) => ({ instanceId, decrementDesired: false }));
  const { outcomes, error } = await terminateConfirmed(deps.autoScaling, deps.groupName, requests);
  for (const o of outcomes) reportTerminate(o, deps);
  if (error) throw error;
}
