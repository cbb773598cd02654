// One instance's EC2 event (spot interruption warning, rebalance recommendation, state change, AWS Health
// scheduled change): record it on the node, cordon or drain as instanceEventPlan says, take the node out
// of external load balancers, delete the Node when the instance is gone for good, delete the message.
// There is no lifecycle action to complete: AWS takes the instance whatever happens, so the group's
// disruption lock is not waited for.
import type { V1Node } from '@kubernetes/client-node';
import type { Logger } from '@keiko/kube-runtime';
import { AbortedError, cordonNode } from '@keiko/node-ops';
import type { InstanceEvent } from './message';
import type { LifecycleMetrics } from './metrics';
import { eventTimeMs, failureVerdict, instanceEventPlan, type InstanceEventOptions } from './plan';
import type { Job, Processor } from './processor';

const CORDONED_BY = 'lifecycle-manager';
const errorText = (err: unknown) => (err instanceof Error ? err.message : String(err));

export interface InstanceEventProcessorOptions extends InstanceEventOptions {
  log: Logger;
  metrics: LifecycleMetrics;
  client: Parameters<typeof cordonNode>[0];
  maxTimeToProcessMs: number;
  dryRun: boolean;
}

function describe(e: InstanceEvent, instanceId: string): string {
  switch (e.Kind) {
    case 'spot-interruption':
      return `spot instance ${instanceId} is interrupted (2-minute notice): draining`;
    case 'rebalance-recommendation':
      return `instance ${instanceId} has a rebalance recommendation`;
    case 'state-change':
      return `instance ${instanceId} is ${e.State ?? 'changing state'}: draining`;
    case 'scheduled-change':
      return `instance ${instanceId} has an AWS Health scheduled change: draining`;
  }
}

export class InstanceEventProcessor {
  constructor(
    private readonly p: Processor,
    private readonly o: InstanceEventProcessorOptions,
  ) {}

  /** Handles the job to its end; throws only on a transient failure (the node's record stays for a retry). */
  async run(job: Job, event: InstanceEvent, signal: AbortSignal): Promise<void> {
    const started = Date.now();
    const since = Date.now() - eventTimeMs(event.Time, job.sentAt);
    const plan = instanceEventPlan(event, this.o, since);
    const stopVisibility = this.keepHidden(job);
    this.o.metrics.terminating.inc();
    try {
      const node = await this.p.record(job, {
        reason: plan.reason,
        message: describe(event, job.instanceId),
      });
      const drained = plan.drain ? await this.p.drain(job, node, signal, plan) : await this.cordon(job);
      if (!drained)
        await this.p.nodeEvent(
          job.nodeName,
          'Warning',
          'DrainFailed',
          `gave up draining for instance ${job.instanceId}'s ${event.Kind} after the retries and escalation`,
        );
      if (plan.excludeFromLoadBalancers) await this.p.excludeFromLoadBalancers(job);
      if (plan.deleteNode) await this.p.deleteNode(job, node as V1Node);
      else await this.p.clearRecord(job.nodeName);
      await this.p.deleteMessages(job);
      this.o.metrics.count('events', drained);
      this.o.metrics.handled((Date.now() - Math.min(started, job.sentAt)) / 1000);
      this.o.log.info(`${event.Kind} handled`, {
        instance: job.instanceId,
        node: job.nodeName,
        drained: plan.drain && drained,
      });
    } catch (err) {
      if (err instanceof AbortedError || signal.aborted) throw err;
      this.o.metrics.count('events', false);
      if (failureVerdict('api', Date.now() - job.sentAt, this.o.maxTimeToProcessMs).do === 'abandon') {
        this.o.log.warn(`${event.Kind}: giving up past --max-time-to-process`, {
          instance: job.instanceId,
          error: errorText(err),
        });
        await this.p.clearRecord(job.nodeName).catch(() => undefined);
        await this.p.deleteMessages(job);
        return;
      }
      throw err;
    } finally {
      stopVisibility();
      this.o.metrics.terminating.dec();
    }
  }

  private async cordon(job: Job): Promise<boolean> {
    if (this.o.dryRun) return true;
    await cordonNode(this.o.client, job.nodeName, { by: CORDONED_BY });
    await this.p.nodeEvent(job.nodeName, 'Normal', 'NodeCordoned', `cordoned for instance ${job.instanceId}`);
    return true;
  }

  /** The message(s) stay hidden while the work goes on (no lifecycle heartbeat for an EC2 event). */
  private keepHidden(job: Job): () => void {
    const everyMs = 30_000;
    const hide = async () => {
      for (const r of job.receipts)
        await this.p.changeVisibility(job, r, Math.ceil((everyMs * 2) / 1000)).catch(() => undefined);
    };
    void hide();
    const timer = setInterval(() => void hide(), everyMs);
    return () => clearInterval(timer);
  }
}
