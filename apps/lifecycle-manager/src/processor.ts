// One instance's graceful termination: heartbeat, record on the node, disruption lock, cordon + drain
// through node-ops (retries, then escalation), exclude from load balancers, CompleteLifecycleAction, delete
// the Node, delete the message(s). The record on the node (the in-progress annotation holding the message)
// is what a restarted process or a new leader resumes from.
import type { V1Node } from '@kubernetes/client-node';
import type { AutoScalingPort, SqsPort } from '@keiko/aws';
import { AwsOperationError, hasAwsErrorCode } from '@keiko/aws';
import {
  isNotFound,
  ResourceTypes,
  type EventRecorder,
  type KubeClient,
  type Logger,
} from '@keiko/kube-runtime';
import type { DisruptionLocks, LockRenewal } from '@keiko/node-ops';
import { AbortedError, drainNode, listPodsOnNode, planDrain } from '@keiko/node-ops';
import type { InstanceEvent, LifecycleEvent } from './message';
import type { LifecycleMetrics } from './metrics';
import { InstanceEventProcessor } from './instance-events';
import {
  afterDrainFailure,
  drainTimeoutMs,
  escalationGraceSeconds,
  failureVerdict,
  heartbeatIntervalMs,
} from './plan';

export const IN_PROGRESS_ANNOTATION = 'lifecycle-manager.keikoproj.io/in-progress';
export const QUEUE_NAME_ANNOTATION = 'lifecycle-manager.keikoproj.io/queue-name';
export const EXCLUDE_LB_LABEL = 'node.kubernetes.io/exclude-from-external-load-balancers';
export const CORDONED_BY = 'lifecycle-manager';
const DRAIN_POLICY = { deleteEmptyDirData: true, ignoreDaemonSets: true, force: true } as const;

export interface ProcessorOptions {
  client: KubeClient;
  events: EventRecorder;
  log: Logger;
  autoScaling: AutoScalingPort;
  sqs: SqsPort;
  locks: DisruptionLocks;
  metrics: LifecycleMetrics;
  region: string;
  drainTimeoutMs: number;
  drainTimeoutUnknownMs: number;
  drainRetries: number;
  maxTerminationGraceSeconds: number;
  maxTimeToProcessMs: number;
  lockWaitMs: number;
  rebalanceDraining: boolean;
  dryRun: boolean;
}

/**
 * One instance being handled: its lifecycle action (`event`) or EC2 event (`instanceEvent`), and every
 * received copy of its message to delete at the end.
 */
export interface Job {
  instanceId: string;
  event?: LifecycleEvent;
  instanceEvent?: InstanceEvent;
  nodeName: string;
  queueName: string;
  queueUrl: string;
  receipts: string[];
  sentAt: number;
  /** A message naming several instances (an AWS Health event): the last of its jobs deletes it. */
  shared?: { left: number };
}

/** The lifecycle action of a hook job. */
function hookOf(job: Job): LifecycleEvent {
  if (!job.event) throw new Error(`instance ${job.instanceId}: no lifecycle action in this job`);
  return job.event;
}

export class AbandonError extends Error {}

const errorText = (err: unknown) => (err instanceof Error ? err.message : String(err));

/** The lifecycle action is over already (completed by an earlier run, timed out, instance gone). */
export function isActionOver(err: unknown): boolean {
  return (
    err instanceof AwsOperationError &&
    hasAwsErrorCode(err, 'ValidationError') &&
    /no active lifecycle action/i.test(err.message)
  );
}

export class Processor {
  private readonly groupUsers = new Map<string, number>();
  /** Per group: the renewal keeping this process's lock, and the chain its lock operations run on. */
  private readonly lockRenewals = new Map<string, LockRenewal>();
  private readonly lockOps = new Map<string, Promise<unknown>>();

  private readonly instanceEvents: InstanceEventProcessor;

  constructor(private readonly o: ProcessorOptions) {
    this.instanceEvents = new InstanceEventProcessor(this, o);
  }

  /** Handles the job to its end; throws only on a transient failure (the node's record stays for a retry). */
  async run(job: Job, signal: AbortSignal): Promise<void> {
    if (job.instanceEvent) return this.instanceEvents.run(job, job.instanceEvent, signal);
    const started = Date.now();
    const event = hookOf(job);
    const ref = {
      groupName: event.AutoScalingGroupName,
      hookName: event.LifecycleHookName,
      token: event.LifecycleActionToken,
    };
    const stopBeat = await this.startHeartbeat(job, signal);
    this.o.metrics.terminating.inc();
    try {
      const node = await this.record(job);
      await this.withGroupLock(job, signal, async () => {
        const ok = await this.drain(job, node, signal);
        if (!ok)
          throw new AbandonError(`drain of node ${job.nodeName} failed after its retries and escalation`);
        await this.excludeFromLoadBalancers(job);
        await this.complete(job, ref, 'CONTINUE');
        await this.deleteNode(job, node);
      });
      await this.deleteMessages(job);
      this.o.metrics.count('events', true);
      this.o.metrics.handled((Date.now() - Math.min(started, job.sentAt)) / 1000);
    } catch (err) {
      if (err instanceof AbortedError || signal.aborted) throw err;
      await this.fail(job, ref, err);
    } finally {
      stopBeat();
      this.o.metrics.terminating.dec();
    }
  }

  /** A failure: ABANDON when definitive, else keep the record (and the message) for a retry. */
  private async fail(
    job: Job,
    ref: { groupName: string; hookName: string; token: string },
    err: unknown,
  ): Promise<void> {
    const verdict = failureVerdict(
      err instanceof AbandonError ? 'drain' : 'api',
      Date.now() - job.sentAt,
      this.o.maxTimeToProcessMs,
    );
    this.o.metrics.count('events', false);
    if (verdict.do === 'retry-later') {
      this.o.log.warn('termination step failed; will retry from the node record', {
        node: job.nodeName,
        error: errorText(err),
      });
      throw err;
    }
    await this.nodeEvent(
      job.nodeName,
      'Warning',
      'LifecycleActionAbandoned',
      `abandoning the lifecycle action: ${errorText(err)}`,
    );
    await this.complete(job, ref, 'ABANDON');
    await this.clearRecord(job.nodeName);
    await this.deleteMessages(job);
  }

  /** RecordLifecycleActionHeartbeat now and every HeartbeatTimeout/2; the messages stay hidden meanwhile. */
  private async startHeartbeat(job: Job, signal: AbortSignal): Promise<() => void> {
    const e = hookOf(job);
    const hooks = await this.o.autoScaling.describeLifecycleHooks(e.AutoScalingGroupName, [
      e.LifecycleHookName,
    ]);
    const everyMs = heartbeatIntervalMs(hooks[0]?.heartbeatTimeoutSeconds);
    const beat = async () => {
      if (signal.aborted) return;
      const ref = {
        groupName: e.AutoScalingGroupName,
        hookName: e.LifecycleHookName,
        token: e.LifecycleActionToken,
      };
      if (!this.o.dryRun)
        await this.o.autoScaling.recordLifecycleActionHeartbeat(ref).catch((err: unknown) => {
          if (!isActionOver(err))
            this.o.log.warn('heartbeat failed', { instance: e.EC2InstanceId, error: errorText(err) });
        });
      const hide = Math.ceil((everyMs * 2) / 1000) + 30;
      for (const r of job.receipts)
        await this.o.sqs.changeVisibility(job.queueUrl, r, hide).catch(() => undefined);
    };
    await beat();
    const timer = setInterval(() => void beat(), everyMs);
    return () => clearInterval(timer);
  }

  /** The record a restart resumes from: the message on the node, and the queue it came from. */
  async record(job: Job, announce?: { reason: string; message: string }): Promise<V1Node> {
    const node = await this.o.client.get<V1Node>(ResourceTypes.Node, undefined, job.nodeName);
    if (!node) throw new Error(`node ${job.nodeName} is gone`);
    if (node.metadata?.annotations?.[IN_PROGRESS_ANNOTATION]) return node;
    const annotations = {
      [IN_PROGRESS_ANNOTATION]: JSON.stringify(job.event ?? job.instanceEvent),
      [QUEUE_NAME_ANNOTATION]: job.queueName,
    };
    if (this.o.dryRun) return node;
    const patched = await this.o.client.patch<V1Node>(ResourceTypes.Node, undefined, job.nodeName, {
      metadata: { annotations },
    });
    const e = job.event;
    await this.nodeEvent(
      job.nodeName,
      'Normal',
      announce?.reason ?? 'LifecycleHookReceived',
      announce?.message ??
        `instance ${job.instanceId} is terminating (hook ${e?.LifecycleHookName} of ${e?.AutoScalingGroupName}): draining`,
    );
    return patched;
  }

  async clearRecord(nodeName: string): Promise<void> {
    if (this.o.dryRun) return;
    const patch = {
      metadata: { annotations: { [IN_PROGRESS_ANNOTATION]: null, [QUEUE_NAME_ANNOTATION]: null } },
    };
    await this.o.client.patch(ResourceTypes.Node, undefined, nodeName, patch).catch((err: unknown) => {
      if (!isNotFound(err)) throw err;
    });
  }

  /**
   * Holds the group's disruption lock (shared by this process's instances of the group) around `work`,
   * renewed while any of them works (a drain may outlast the lease). Acquire and release of one group run
   * one at a time, and a release happens only while no instance of the group is at work — so one job
   * ending never releases the lock another has just renewed.
   */
  private async withGroupLock(job: Job, signal: AbortSignal, work: () => Promise<void>): Promise<void> {
    const group = { region: this.o.region, name: hookOf(job).AutoScalingGroupName };
    const reason = `lifecycle hook: instance ${job.instanceId} terminating`;
    this.groupUsers.set(group.name, (this.groupUsers.get(group.name) ?? 0) + 1);
    try {
      await this.takeGroupLock(job, group, reason, signal);
      await work();
    } finally {
      const left = (this.groupUsers.get(group.name) ?? 1) - 1;
      if (left > 0) this.groupUsers.set(group.name, left);
      else this.groupUsers.delete(group.name);
      if (left === 0)
        await this.serialLockOp(group.name, async () => {
          if ((this.groupUsers.get(group.name) ?? 0) > 0) return;
          this.lockRenewals.get(group.name)?.stop();
          this.lockRenewals.delete(group.name);
          await this.o.locks.release(group, CORDONED_BY).catch(() => undefined);
        });
    }
  }

  /** Waits (bounded by --lock-wait-timeout) for the group's lock; past the wait it goes on without it. */
  private async takeGroupLock(
    job: Job,
    group: { region: string; name: string },
    reason: string,
    signal: AbortSignal,
  ): Promise<void> {
    const until = Date.now() + this.o.lockWaitMs;
    for (;;) {
      const outcome = await this.serialLockOp(group.name, () =>
        this.o.locks.acquire(group, CORDONED_BY, reason),
      );
      if (outcome.held) {
        if (!this.lockRenewals.has(group.name))
          this.lockRenewals.set(group.name, this.o.locks.keepRenewed(group, CORDONED_BY, reason));
        return;
      }
      if (Date.now() >= until) {
        // AWS terminates the instance whatever happens: a drain now is better than none.
        await this.nodeEvent(
          job.nodeName,
          'Warning',
          'DisruptionLockBusy',
          `group ${group.name} is locked by ${outcome.holder} (${outcome.reason}); draining anyway, the instance is leaving`,
        );
        return;
      }
      await new Promise((r) => setTimeout(r, 2_000));
      if (signal.aborted) throw new AbortedError('waiting for the disruption lock: aborted');
    }
  }

  /** Runs lock operations of one group one after the other. */
  private serialLockOp<T>(groupName: string, op: () => Promise<T>): Promise<T> {
    const next = (this.lockOps.get(groupName) ?? Promise.resolve()).then(op, op);
    this.lockOps.set(
      groupName,
      next.catch(() => undefined),
    );
    return next;
  }

  /** Cordon + PDB-aware drain through node-ops, retried, then escalated; false when it could not finish. */
  async drain(
    job: Job,
    node: V1Node,
    signal: AbortSignal,
    bounds: { timeoutMs?: number; retries?: number; maxGraceSeconds?: number } = {},
  ): Promise<boolean> {
    if (this.o.dryRun) return true;
    const ready = node.status?.conditions?.find((c) => c.type === 'Ready')?.status;
    const timeoutMs = Math.min(drainTimeoutMs(ready, this.o), bounds.timeoutMs ?? Infinity);
    const retries = bounds.retries ?? this.o.drainRetries;
    this.o.metrics.draining.inc();
    try {
      for (let attempt = 1, escalated = false; ;) {
        try {
          await drainNode(this.o.client, job.nodeName, {
            ...DRAIN_POLICY,
            timeoutMs,
            cordonedBy: CORDONED_BY,
            signal,
            logger: this.o.log,
          });
          this.o.metrics.count('node_drain', true);
          await this.nodeEvent(
            job.nodeName,
            'Normal',
            'NodeDrained',
            `drained for instance ${job.instanceId}'s ${job.instanceEvent ? job.instanceEvent.Kind : 'termination'}`,
          );
          return true;
        } catch (err) {
          if (err instanceof AbortedError || signal.aborted) throw err;
          this.o.metrics.count('node_drain', false);
          const next = afterDrainFailure(attempt, retries, escalated);
          await this.nodeEvent(
            job.nodeName,
            'Warning',
            'DrainFailed',
            `drain attempt ${attempt}: ${errorText(err)} (next: ${next.do})`,
          );
          if (next.do === 'give-up') return false;
          if (next.do === 'retry') attempt = next.attempt;
          else {
            escalated = true;
            await this.escalate(job.nodeName, signal, bounds.maxGraceSeconds);
          }
        }
      }
    } finally {
      this.o.metrics.draining.dec();
    }
  }

  /** Upstream's escalation: delete what the drain left (bypassing PDBs), grace capped. */
  private async escalate(nodeName: string, signal: AbortSignal, maxGraceSeconds?: number): Promise<void> {
    const pods = await listPodsOnNode(this.o.client, nodeName, { signal });
    const plan = planDrain(pods, nodeName, DRAIN_POLICY);
    for (const pod of plan.evict) {
      const grace = escalationGraceSeconds(
        pod.spec?.terminationGracePeriodSeconds,
        maxGraceSeconds ?? this.o.maxTerminationGraceSeconds,
      );
      await this.o.client
        .delete(ResourceTypes.Pod, pod.metadata?.namespace, pod.metadata?.name ?? '', {
          gracePeriodSeconds: grace,
          signal,
        })
        .catch((err: unknown) => {
          if (!isNotFound(err)) throw err;
        });
    }
    await this.nodeEvent(
      nodeName,
      'Warning',
      'DrainEscalated',
      `deleted ${plan.evict.length} pod(s) bypassing PodDisruptionBudgets`,
    );
  }

  async excludeFromLoadBalancers(job: Job): Promise<void> {
    if (this.o.dryRun) return;
    await this.o.client.patch(ResourceTypes.Node, undefined, job.nodeName, {
      metadata: { labels: { [EXCLUDE_LB_LABEL]: 'true' } },
    });
  }

  private async complete(
    job: Job,
    ref: { groupName: string; hookName: string; token: string },
    result: 'CONTINUE' | 'ABANDON',
  ): Promise<void> {
    if (this.o.dryRun) {
      this.o.log.info('dry-run: would complete the lifecycle action', {
        instance: job.instanceId,
        result,
      });
      return;
    }
    try {
      await this.o.autoScaling.completeLifecycleAction({ ...ref, result });
      this.o.log.info('lifecycle action completed', {
        instance: job.instanceId,
        node: job.nodeName,
        result,
      });
    } catch (err) {
      if (!isActionOver(err)) throw err;
      this.o.log.info('lifecycle action already over', { instance: job.instanceId });
    }
  }

  async deleteNode(job: Job, node: V1Node): Promise<void> {
    if (this.o.dryRun) return;
    try {
      await this.o.client.delete(ResourceTypes.Node, undefined, job.nodeName, {
        preconditions: { uid: node.metadata?.uid },
      });
      this.o.metrics.count('node_delete', true);
      this.o.log.info('node deleted', { node: job.nodeName, instance: job.instanceId });
    } catch (err) {
      if (isNotFound(err)) return;
      this.o.metrics.count('node_delete', false);
      throw err;
    }
  }

  async changeVisibility(job: Job, receipt: string, seconds: number): Promise<void> {
    await this.o.sqs.changeVisibility(job.queueUrl, receipt, seconds);
  }

  async deleteMessages(job: Job): Promise<void> {
    if (this.o.dryRun) return;
    if (job.shared && --job.shared.left > 0) return;
    for (const r of job.receipts) await this.o.sqs.delete(job.queueUrl, r);
  }

  async nodeEvent(
    nodeName: string,
    type: 'Normal' | 'Warning',
    reason: string,
    message: string,
  ): Promise<void> {
    const regarding = { apiVersion: 'v1', kind: 'Node', metadata: { name: nodeName } };
    await this.o.events.record(regarding, type, reason, message).catch(() => undefined);
  }
}
