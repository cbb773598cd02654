// Carries out a rolling-update plan: cordon (the record that a node is in flight), drain in the
// background (a drain can take minutes; the reconcile polls it), terminate once drained — each terminate
// confirmed against a live read of the group first, so an instance is never terminated twice.
import type { AutoScalingPort } from '@keiko/aws';
import type { KubeClient, Logger } from '@keiko/kube-runtime';
import { cordonNode, drainNode, recordDrainFailure, uncordonNode } from '@keiko/node-ops';
import type { DrainState, RotationPlan } from './rolling-update';

export interface DrainSettings {
  timeoutMs: number;
  gracePeriodSeconds?: number;
}

/** Drains running in this process, by node name. Gone after a restart: cordoned nodes say what was in flight. */
export class DrainTracker {
  private readonly drains = new Map<string, DrainState>();

  snapshot(): Map<string, DrainState> {
    return new Map(this.drains);
  }

  get(node: string): DrainState | undefined {
    return this.drains.get(node);
  }

  /** Starts `drain` unless one is running for the node. */
  start(node: string, drain: () => Promise<void>, onDone?: (state: DrainState) => void): void {
    if (this.drains.get(node)?.state === 'running') return;
    const startedAt = Date.now();
    this.drains.set(node, { state: 'running', startedAt });
    void drain().then(
      () => {
        const done: DrainState = { state: 'succeeded', finishedAt: Date.now() };
        this.drains.set(node, done);
        onDone?.(done);
      },
      (err: unknown) => {
        const done: DrainState = {
          state: 'failed',
          finishedAt: Date.now(),
          error: err instanceof Error ? err.message : String(err),
        };
        this.drains.set(node, done);
        onDone?.(done);
      },
    );
  }

  forget(node: string): void {
    this.drains.delete(node);
  }
}

export interface RotationDeps {
  kube: KubeClient;
  autoScaling: AutoScalingPort;
  drains: DrainTracker;
  settings: DrainSettings;
  owner: string;
  /** The rotation's round (the group's generation), recorded with a failed drain. */
  round: string;
  groupName: string;
  log: Logger;
  dryRun: boolean;
  signal?: AbortSignal;
  event(type: 'Normal' | 'Warning', reason: string, message: string): void;
  /** Instance id -> node name, for forgetting drains once terminated. */
  nodeOfInstance: ReadonlyMap<string, string>;
  onDrained?(state: DrainState, startedAt: number): void;
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
    deps.drains.forget(f.node);
    deps.event(
      'Warning',
      'NodeReturned',
      `drain of node ${f.node} failed (attempt ${f.attempts}): ${f.error}; the node is uncordoned and stays in service`,
    );
  }
}

export async function executeRotation(plan: RotationPlan, deps: RotationDeps): Promise<void> {
  if (deps.dryRun) {
    for (const n of plan.drain) deps.event('Normal', 'DryRun', `would drain node ${n} of ${deps.groupName}`);
    for (const i of plan.terminate)
      deps.event('Normal', 'DryRun', `would terminate instance ${i} of ${deps.groupName}`);
    return;
  }
  for (const node of plan.uncordon) {
    await uncordonNode(deps.kube, node, { onlyIfCordonedBy: deps.owner });
    deps.drains.forget(node);
    deps.event('Normal', 'NodeUncordoned', `node ${node} runs the current launch template again; uncordoned`);
  }
  await giveBackFailedDrains(plan, deps);
  for (const node of plan.drain) {
    // The cordon, marked as ours, is the record that this node is being replaced.
    await cordonNode(deps.kube, node, { by: deps.owner });
    const startedAt = Date.now();
    deps.drains.start(
      node,
      async () => {
        await drainNode(deps.kube, node, {
          timeoutMs: deps.settings.timeoutMs,
          ignoreDaemonSets: true,
          deleteEmptyDirData: true,
          force: true,
          cordonedBy: deps.owner,
          ...(deps.settings.gracePeriodSeconds !== undefined
            ? { gracePeriodSeconds: deps.settings.gracePeriodSeconds }
            : {}),
          logger: deps.log,
          ...(deps.signal ? { signal: deps.signal } : {}),
        });
      },
      (state) => {
        deps.onDrained?.(state, startedAt);
        if (state.state === 'failed')
          deps.event('Warning', 'DrainFailed', `drain of node ${node} failed: ${state.error}`);
        else deps.event('Normal', 'NodeDrained', `drained node ${node}`);
      },
    );
    deps.event(
      'Normal',
      'NodeDraining',
      `draining node ${node} of ${deps.groupName} before replacing its instance`,
    );
  }
  if (plan.terminate.length === 0) return;
  // One-time destructive step: confirm against a fresh read that each instance is still in service here.
  deps.autoScaling.invalidate(deps.groupName);
  const group = await deps.autoScaling.describeGroup(deps.groupName);
  for (const id of plan.terminate) {
    const instance = group?.instances.find((i) => i.id === id);
    if (!instance || instance.lifecycleState !== 'InService') {
      deps.log.info('instance no longer in service; not terminating', {
        instance: id,
        state: instance?.lifecycleState ?? 'gone',
      });
      continue;
    }
    await deps.autoScaling.terminateInstanceInGroup(id, { decrementDesired: false });
    const node = deps.nodeOfInstance.get(id);
    if (node) deps.drains.forget(node);
    deps.onTerminated?.(id);
    deps.event(
      'Normal',
      'InstanceTerminated',
      `terminated instance ${id}${node ? ` (node ${node}, drained)` : ''}; the group launches its replacement`,
    );
  }
}
